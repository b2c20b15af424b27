// cairnctl bench write|seq|rand: rados-bench-like load from one process.
//
// Every op runs as a coroutine on the client's executor (`--threads` of them
// in flight, not OS threads); the executor's one thread also prints progress,
// so the state below needs no locks. Objects hold make_pattern() content so
// seq/rand verify what they read without any stored checksum.
#include <fmt/format.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>

#include "tools/cairnctl.h"
#include "tools/ctl/bench_core.h"
#include "tools/ctl/util.h"

namespace cairn::ctl {

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

enum class BenchOp { kWrite, kSeq, kRand };

struct BenchArgs {
  std::string mode;
  std::string pool;
  double seconds = 10;
  std::string size = "4M";
  uint32_t threads = 16;
  uint64_t max_objects = 0;  // write: stop after this many (0 = only --seconds)
  bool no_cleanup = false;
  std::string prefix = "cairnctl";
};

// Shared by the workers, the progress printer and the driver; touched only
// on the client's executor.
struct BenchState {
  client::Client* client = nullptr;
  PoolId pool = 0;
  BenchOp op = BenchOp::kWrite;
  std::string op_name;
  std::string prefix;
  uint64_t size = 0;
  uint64_t count = 0;  // reads: objects the last write left
  uint64_t max_objects = 0;  // write: stop after this many (0 = no limit)
  uint32_t threads = 0;
  Clock::time_point start;
  Clock::time_point deadline;

  uint64_t next = 0;  // next object index (write, seq)
  uint64_t started = 0;
  uint64_t finished = 0;
  uint64_t in_flight = 0;
  uint64_t bytes = 0;
  double lat_sum = 0;
  std::optional<double> last_lat;
  std::vector<double> lats;
  Status error;
  bool stop = false;
  std::mt19937_64 rng{std::random_device{}()};

  uint32_t workers_left = 0;
  std::unique_ptr<asio::steady_timer> all_done;  // cancelled by the last worker
  bool timed_done = false;                       // the printer stops at this
  std::unique_ptr<asio::steady_timer> tick;      // the printer's; cancelled at the end
  uint64_t rows_printed = 0;
};

// The first failing op's status is the request's.
Status reply_status(const Result<OsdOpReply>& r) {
  if (!r.ok()) return r.status();
  if (!r->head.status.ok()) return r->head.status;
  for (const auto& res : r->results) {
    if (!res.status.ok()) return res.status;
  }
  return Status::Ok();
}

// One op of `code` (built outside co_await: g++ 12 miscompiles braced lists
// in coroutine call arguments).
std::vector<ObjectOp> single_op(OpCode code, std::string data = {}) {
  std::vector<ObjectOp> ops(1);
  ops[0].code = code;
  ops[0].data = std::move(data);
  return ops;
}

void fail(BenchState& s, Status st) {
  if (s.error.ok()) s.error = std::move(st);
  s.stop = true;
}

asio::awaitable<void> bench_worker(std::shared_ptr<BenchState> s) {
  while (!s->stop && Clock::now() < s->deadline) {
    uint64_t idx = 0;
    if (s->op == BenchOp::kRand) {
      idx = s->rng() % s->count;
    } else {
      if (s->op == BenchOp::kSeq && s->next >= s->count) break;
      if (s->op == BenchOp::kWrite && s->max_objects && s->next >= s->max_objects) break;
      idx = s->next++;
    }
    std::string name = bench_object_name(s->prefix, idx);
    std::vector<ObjectOp> ops = s->op == BenchOp::kWrite
                                    ? single_op(OpCode::kWriteFull, make_pattern(name, s->size))
                                    : single_op(OpCode::kRead);
    ++s->started;
    ++s->in_flight;
    auto t0 = Clock::now();
    auto reply = co_await s->client->async_execute(s->pool, name, std::move(ops));
    double lat = std::chrono::duration<double>(Clock::now() - t0).count();
    --s->in_flight;
    if (Status st = reply_status(reply); !st.ok()) {
      fail(*s, annotate(name, st));
      break;
    }
    if (s->op != BenchOp::kWrite) {
      const std::string& data = reply->results.empty() ? std::string() : reply->results[0].data;
      if (data.size() != s->size) {
        fail(*s, Status::Corruption(
                     fmt::format("{}: read {} bytes, expected {}", name, data.size(), s->size)));
        break;
      }
      if (auto bad = verify_pattern(name, data)) {
        fail(*s, Status::Corruption(fmt::format(
                     "{}: data differs from what bench wrote at offset {}", name, *bad)));
        break;
      }
    }
    ++s->finished;
    s->bytes += s->size;
    s->lat_sum += lat;
    s->last_lat = lat;
    s->lats.push_back(lat);
  }
  if (--s->workers_left == 0) s->all_done->cancel();
}

// Removes objects [0, count) and the meta object, `threads` at a time.
asio::awaitable<void> cleanup_worker(std::shared_ptr<BenchState> s, uint64_t count) {
  while (s->next < count) {
    std::string name = bench_object_name(s->prefix, s->next++);
    auto r = co_await s->client->async_execute(s->pool, name, single_op(OpCode::kRemove));
    Status st = reply_status(r);
    if (!st.ok() && !st.is(Code::kNotFound) && s->error.ok()) {
      s->error = annotate("cleanup " + name, st);
    }
  }
  if (--s->workers_left == 0) s->all_done->cancel();
}

void print_err(const std::string& line) { std::fwrite(line.data(), 1, line.size(), stderr); }

asio::awaitable<void> progress_printer(std::shared_ptr<BenchState> s, bool tty) {
  uint64_t prev_bytes = 0;
  auto next_tick = s->start;
  for (uint64_t sec = 1;; ++sec) {
    next_tick += std::chrono::seconds(1);
    s->tick->expires_at(next_tick);
    co_await s->tick->async_wait(kNoThrow);
    if (s->timed_done) break;
    double elapsed = std::chrono::duration<double>(Clock::now() - s->start).count();
    ProgressRow row{sec,
                    s->in_flight,
                    s->started,
                    s->finished,
                    elapsed > 0 ? s->bytes / 1048576.0 / elapsed : 0,
                    (s->bytes - prev_bytes) / 1048576.0,
                    s->last_lat,
                    s->finished ? s->lat_sum / s->finished : 0};
    prev_bytes = s->bytes;
    print_err((tty ? "\r  " : "  ") + format_progress_row(row) + (tty ? "" : "\n"));
    ++s->rows_printed;
  }
}

enum class WorkerKind { kBench, kCleanup };

// Starts n workers and waits until every one has finished. (No closure
// parameters here: g++ 12 copies closure-typed coroutine parameters bitwise,
// see common/net/blocking.h.)
asio::awaitable<void> run_workers(std::shared_ptr<BenchState> s, uint32_t n, WorkerKind kind,
                                  uint64_t cleanup_count) {
  auto ex = co_await asio::this_coro::executor;
  s->all_done = std::make_unique<asio::steady_timer>(ex, Clock::time_point::max());
  s->workers_left = n;
  for (uint32_t i = 0; i < n; ++i) {
    if (kind == WorkerKind::kBench) {
      asio::co_spawn(ex, bench_worker(s), asio::detached);
    } else {
      asio::co_spawn(ex, cleanup_worker(s, cleanup_count), asio::detached);
    }
  }
  if (s->workers_left > 0) co_await s->all_done->async_wait(kNoThrow);
}

struct BenchOutcome {
  Status status;
  BenchResult result;
};

asio::awaitable<BenchOutcome> run_bench(std::shared_ptr<BenchState> s, bool cleanup) {
  auto ex = co_await asio::this_coro::executor;
  // Ctrl-C ends the timed phase early; cleanup still runs.
  asio::signal_set signals(ex, SIGINT, SIGTERM);
  signals.async_wait([s](const boost::system::error_code& ec, int) {
    if (!ec) {
      s->stop = true;
      s->deadline = Clock::now();
    }
  });

  s->start = Clock::now();
  uint32_t workers = s->threads;
  if (s->op == BenchOp::kSeq)
    workers = static_cast<uint32_t>(std::min<uint64_t>(workers, s->count));
  bool tty = ::isatty(STDERR_FILENO);
  print_err("  " + format_progress_header() + "\n");
  s->tick = std::make_unique<asio::steady_timer>(ex);
  asio::co_spawn(ex, progress_printer(s, tty), asio::detached);
  co_await run_workers(s, workers, WorkerKind::kBench, 0);
  double seconds = std::chrono::duration<double>(Clock::now() - s->start).count();
  s->timed_done = true;
  s->tick->cancel();
  if (tty && s->rows_printed > 0) print_err("\n");

  BenchOutcome out;
  out.result = BenchResult{s->op_name,
                           s->finished,
                           s->bytes,
                           seconds,
                           s->size,
                           s->threads,
                           summarize_latencies(std::move(s->lats))};
  out.status = s->error;

  if (s->op == BenchOp::kWrite) {
    uint64_t written = s->next;  // every started index, finished or not
    std::string meta_name = bench_meta_name(s->prefix);
    if (cleanup) {
      std::fprintf(stderr, "  cleaning up %llu objects\n",
                   static_cast<unsigned long long>(written));
      s->next = 0;
      s->error = Status::Ok();
      co_await run_workers(s, std::max<uint32_t>(1, s->threads), WorkerKind::kCleanup, written);
      auto r = co_await s->client->async_execute(s->pool, meta_name, single_op(OpCode::kRemove));
      Status st = reply_status(r);
      if (!st.ok() && !st.is(Code::kNotFound) && s->error.ok()) s->error = st;
      if (out.status.ok()) out.status = s->error;
    } else if (out.status.ok()) {
      auto r = co_await s->client->async_execute(
          s->pool, meta_name,
          single_op(OpCode::kWriteFull, encode_bench_meta(BenchMeta{written, s->size})));
      out.status = annotate("write " + meta_name, reply_status(r));
    }
  }
  boost::system::error_code ignored;
  signals.cancel(ignored);
  co_return out;
}

Status run_bench_cmd(Context* ctx, const BenchArgs& a) {
  std::string what = fmt::format("bench {} {}", a.mode, a.pool);
  auto s = std::make_shared<BenchState>();
  s->op = a.mode == "write" ? BenchOp::kWrite : a.mode == "seq" ? BenchOp::kSeq : BenchOp::kRand;
  s->op_name = a.mode;
  s->prefix = a.prefix;
  s->threads = a.threads;
  s->max_objects = a.max_objects;
  if (!(a.seconds > 0)) return Status::InvalidArgument(what + ": --seconds must be > 0");
  auto size = parse_size(a.size);
  if (!size.ok()) return annotate(what, size.status());
  if (*size == 0 || *size > kMaxObjectSize) {
    return Status::InvalidArgument(
        fmt::format("{}: --size must be 1 .. {} bytes", what, kMaxObjectSize));
  }
  CAIRN_RETURN_IF_ERROR(annotate(what, validate_object_name(bench_meta_name(a.prefix))));

  auto c = ctx->client();
  if (!c.ok()) return annotate(what, c.status());
  s->client = *c;
  auto pool = (*c)->pool_id(a.pool);
  if (!pool.ok()) return annotate(what, pool.status());
  s->pool = *pool;

  if (s->op == BenchOp::kWrite) {
    s->size = *size;
  } else {
    // --size is ignored for reads: the objects are what the last write left.
    auto meta = (*c)->get(a.pool, bench_meta_name(a.prefix));
    if (!meta.ok() && meta.status().is(Code::kNotFound)) {
      return Status::NotFound(fmt::format(
          "{}: no bench objects with prefix '{}': run `cairnctl bench write {} --no-cleanup "
          "--prefix {}` first",
          what, a.prefix, a.pool, a.prefix));
    }
    if (!meta.ok()) return annotate(what, meta.status());
    auto m = decode_bench_meta(*meta);
    if (!m.ok()) return annotate(what, m.status());
    if (m->count == 0) {
      return Status::NotFound(what + ": the last bench write left no objects");
    }
    s->count = m->count;
    s->size = m->size;
  }
  s->deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(a.seconds));

  auto future = asio::co_spawn((*c)->executor(), run_bench(s, !a.no_cleanup), asio::use_future);
  BenchOutcome out = future.get();

  if (ctx->json()) {
    ctx->print_json(bench_result_to_json(out.result));
  } else {
    std::string text = format_bench_result(out.result);
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  return annotate(what, out.status);
}

}  // namespace

void add_bench_commands(CLI::App& app, Context& ctx, Action* action) {
  auto args = std::make_shared<BenchArgs>();
  auto* bench = app.add_subcommand(
      "bench", "Benchmark: write objects, then read them back in order (seq) or at random");
  bench->add_option("MODE", args->mode, "write | seq | rand")
      ->required()
      ->check(CLI::IsMember({"write", "seq", "rand"}));
  bench->add_option("POOL", args->pool, "Pool to use")->required();
  bench->add_option("--seconds", args->seconds, "How long to run (default 10)")
      ->check(CLI::Range(0.001, 1e6));
  bench->add_option("--size,-b", args->size, "Object size for write, e.g. 4M (default 4M)");
  bench->add_option("--threads,-t", args->threads, "Ops in flight (default 16)")
      ->check(CLI::Range(1u, 1024u));
  bench->add_option("--max-objects", args->max_objects,
                    "write: stop after writing this many objects (a fill of known size)");
  bench->add_flag("--no-cleanup", args->no_cleanup,
                  "write: keep the objects (and a metadata object) for seq/rand");
  bench->add_option("--prefix", args->prefix,
                    "Objects are bench_<prefix>_<n> (default 'cairnctl')");
  add_format_option(bench, ctx);
  bench->callback(
      [&ctx, action, args] { *action = [&ctx, args] { return run_bench_cmd(&ctx, *args); }; });
}

}  // namespace cairn::ctl
