#include "client/client.h"
#include "common/net/sleep.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <mutex>
#include <random>

#include "client/mon_client.h"
#include "common/config_file.h"
#include "common/net/daemon.h"
#include "common/placement.h"

namespace cairn::client {

namespace asio = boost::asio;
using net::awaitable;
using net::sleep_for;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);


std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// The first failing op's status is the request's status.
Status first_error(const OsdOpReply& r) {
  if (!r.head.status.ok()) return r.head.status;
  for (const auto& res : r.results) {
    if (!res.status.ok()) return res.status;
  }
  return Status::Ok();
}
}  // namespace

Result<ClientOptions> load_config(const std::string& path_in) {
  std::string path = path_in;
  if (path.empty()) {
    const char* env = std::getenv("CAIRN_CONF");
    if (!env || !*env) {
      return Status::InvalidArgument("no cluster config: pass -c DIR/cairn.conf or set CAIRN_CONF");
    }
    path = env;
  }
  auto conf = read_config_file(path);
  if (!conf.ok()) return conf.status();
  ClientOptions opts;
  auto it = conf->find("mon_addrs");
  if (it == conf->end()) return Status::InvalidArgument(path + ": no mon_addrs");
  opts.mon_addrs = split_commas(it->second);
  if (opts.mon_addrs.empty()) return Status::InvalidArgument(path + ": mon_addrs is empty");
  it = conf->find("key_file");
  if (it == conf->end()) return Status::InvalidArgument(path + ": no key_file");
  auto key = net::read_key_file(it->second);
  if (!key.ok()) return key.status();
  opts.key = *key;
  return opts;
}

struct Client::Impl {
  explicit Impl(const ClientOptions& o)
      : opts(o),
        work(asio::make_work_guard(io)),
        mon(io.get_executor(), o.key, o.mon_addrs),
        osds(io.get_executor(), o.key),
        client_id(std::random_device{}() | (uint64_t(std::random_device{}()) << 32)) {}

  ClientOptions opts;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  MonClient mon;
  net::ConnectionPool osds;
  uint64_t client_id;
  uint64_t next_tid = 1;
  std::thread thread;
  // A copy of the map for callers on other threads.
  mutable std::mutex map_mu;
  ClusterMap map_copy;
  // Placement inputs, rebuilt once per epoch (on the io thread).
  Epoch topo_epoch = 0;
  PlacementTopology topo;

  // Runs a on the io thread and blocks until it finishes. (The optional is
  // because use_future needs a default-constructible value; Result is not.)
  template <typename T>
  T run(awaitable<T> a) {
    auto wrapped = [](awaitable<T> inner) -> awaitable<std::optional<T>> {
      co_return co_await std::move(inner);
    };
    return std::move(*asio::co_spawn(io, wrapped(std::move(a)), asio::use_future).get());
  }

  const PlacementTopology& topology() {
    if (topo_epoch != mon.map().epoch) {
      topo = build_topology(mon.map());
      topo_epoch = mon.map().epoch;
    }
    return topo;
  }

  awaitable<Result<OsdOpReply>> execute(PoolId pool_id, std::string name, std::vector<ObjectOp> ops);
  awaitable<Result<std::vector<std::string>>> list(PoolId pool_id);
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() {
  asio::post(impl_->io, [impl = impl_.get()] {
    impl->mon.stop();
    impl->osds.close_all();
    impl->work.reset();
  });
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<std::unique_ptr<Client>> Client::connect(const ClientOptions& opts) {
  if (opts.mon_addrs.empty()) return Status::InvalidArgument("no monitor addresses");
  auto impl = std::make_unique<Impl>(opts);
  Impl* raw = impl.get();
  raw->thread = std::thread([raw] { raw->io.run(); });
  std::unique_ptr<Client> client(new Client(std::move(impl)));
  Status st = raw->run([](Impl* i) -> awaitable<Status> {
    i->mon.start([i](const ClusterMap& m) {
      std::lock_guard lock(i->map_mu);
      i->map_copy = m;
    });
    co_return co_await i->mon.wait_for_map(0, i->opts.connect_timeout);
  }(raw));
  if (!st.ok()) return st;
  return client;
}

ClusterMap Client::map() const {
  std::lock_guard lock(impl_->map_mu);
  return impl_->map_copy;
}

Status Client::wait_for_epoch(Epoch epoch, std::chrono::milliseconds timeout) {
  return impl_->run([](Impl* i, Epoch e, Millis t) -> awaitable<Status> {
    co_return co_await i->mon.wait_for_map(e, t);
  }(impl_.get(), epoch, timeout));
}

Result<CommandReply> Client::command(const MapCommand& cmd) {
  CommandReply r = impl_->run([](Impl* i, MapCommand c) -> awaitable<CommandReply> {
    co_return co_await i->mon.command(std::move(c));
  }(impl_.get(), cmd));
  if (!r.head.status.ok()) return r.head.status;
  // Later calls on this client should see the change.
  (void)wait_for_epoch(r.applied_epoch, Millis(5000));
  return r;
}

Result<std::vector<std::pair<std::string, Result<MonStatus>>>> Client::mon_status() {
  return impl_->run([](Impl* i) -> awaitable<std::vector<std::pair<std::string, Result<MonStatus>>>> {
    co_return co_await i->mon.all_status(Millis(2000));
  }(impl_.get()));
}

Result<std::vector<OsdReport>> Client::osd_reports() {
  return impl_->run([](Impl* i) -> awaitable<Result<std::vector<OsdReport>>> {
    auto frame = co_await i->mon.call_leader(MsgType::kMonGetReports, "", Millis(10000));
    if (!frame.ok()) co_return frame.status();
    Decoder d(frame->payload);
    auto head = StatusReply::decode(d);
    if (!head.ok()) co_return head.status();
    if (!head->status.ok()) co_return head->status;
    uint64_t now = d.u64();
    std::vector<OsdReport> reps;
    uint32_t n = d.count();
    for (uint32_t k = 0; k < n && d.ok(); ++k) {
      OsdReport r = OsdReport::decode(d);
      // Express age relative to the monitor's clock: received_ms becomes "ms ago".
      r.received_ms = now >= r.received_ms ? now - r.received_ms : 0;
      reps.push_back(std::move(r));
    }
    if (!d.ok()) co_return Status::Corruption("cannot decode OSD reports");
    co_return reps;
  }(impl_.get()));
}

Result<PoolId> Client::pool_id(const std::string& pool) const {
  std::lock_guard lock(impl_->map_mu);
  const PoolInfo* p = impl_->map_copy.find_pool(pool);
  if (!p) return Status::NotFound("pool '" + pool + "' does not exist");
  return p->id;
}

Result<Placement> Client::locate(const std::string& pool, const std::string& name) const {
  ClusterMap m = map();
  const PoolInfo* p = m.find_pool(pool);
  if (!p) return Status::NotFound("pool '" + pool + "' does not exist");
  CAIRN_RETURN_IF_ERROR(validate_object_name(name));
  PgId pg = object_to_pg(*p, name);
  Placement pl;
  pl.pg = pg.to_string();
  pl.raw = pg_to_raw_osds(m, *p, pg);
  pl.up = pg_to_up_osds(m, *p, pg);
  return pl;
}

Result<ObjectData> Client::read_from_osd(const std::string& pool, const std::string& name,
                                         OsdId osd) {
  ClusterMap m = map();
  const PoolInfo* p = m.find_pool(pool);
  if (!p) return Status::NotFound("pool '" + pool + "' does not exist");
  const OsdInfo* o = m.find_osd(osd);
  if (!o || o->addr.empty()) return Status::NotFound("osd." + std::to_string(osd) + " is not in the map");
  PgObjectRef ref{p->id, object_to_pg(*p, name).seed, name};
  return impl_->run([](Impl* i, std::string addr, std::string payload) -> awaitable<Result<ObjectData>> {
    auto frame = co_await i->osds.call(addr, static_cast<uint16_t>(MsgType::kPgPull), payload,
                                       Millis(10000));
    if (!frame.ok()) co_return frame.status();
    auto reply = PgObjectReply::decode(frame->payload);
    if (!reply.ok()) co_return reply.status();
    if (!reply->head.status.ok()) co_return reply->head.status;
    if (!reply->object.exists) co_return Status::NotFound("no copy on that OSD");
    co_return std::move(reply->object);
  }(impl_.get(), o->addr, ref.encode()));
}

Result<ScrubReply> Client::scrub(const std::string& pgid, bool deep, bool repair) {
  auto id = PgId::parse(pgid);
  if (!id.ok()) return id.status();
  return impl_->run([](Impl* i, PgId id, bool deep, bool repair) -> awaitable<Result<ScrubReply>> {
    Status last = Status::TimedOut("scrub timed out");
    for (int attempt = 0; attempt < 20; ++attempt) {
      if (attempt > 0) co_await sleep_for(Millis(500));
      const ClusterMap& m = i->mon.map();
      const PoolInfo* pool = m.find_pool(id.pool);
      if (!pool) co_return Status::NotFound("pool " + std::to_string(id.pool) + " does not exist");
      if (id.seed >= pool->pg_num) co_return Status::NotFound("PG " + id.to_string() + " does not exist");
      auto up = pg_to_up_osds(i->topology(), *pool, id);
      if (up.empty()) {
        last = Status::Unavailable("PG " + id.to_string() + " has no OSD up");
        continue;
      }
      ScrubRequest req{id.pool, id.seed, deep, repair};
      auto frame = co_await i->osds.call(m.find_osd(up[0])->addr, static_cast<uint16_t>(MsgType::kPgScrub),
                                         req.encode(), Millis(300000));
      if (!frame.ok()) {
        last = frame.status();
        continue;
      }
      auto reply = ScrubReply::decode(frame->payload);
      if (!reply.ok()) co_return reply.status();
      if (reply->head.status.is(Code::kUnavailable)) {
        last = reply->head.status;
        continue;
      }
      if (!reply->head.status.ok()) co_return reply->head.status;
      co_return std::move(*reply);
    }
    co_return last;
  }(impl_.get(), *id, deep, repair));
}

asio::any_io_executor Client::executor() { return impl_->io.get_executor(); }

awaitable<Result<OsdOpReply>> Client::async_execute(PoolId pool, std::string name,
                                                    std::vector<ObjectOp> ops) {
  return impl_->execute(pool, std::move(name), std::move(ops));
}

awaitable<Result<OsdOpReply>> Client::Impl::execute(PoolId pool_id, std::string name,
                                                    std::vector<ObjectOp> ops) {
  if (Status st = validate_object_name(name); !st.ok()) co_return st;
  OsdOpRequest req;
  req.pool = pool_id;
  req.object = std::move(name);
  req.client_id = client_id;
  req.tid = next_tid++;
  req.ops = std::move(ops);
  auto deadline = std::chrono::steady_clock::now() + opts.op_timeout;
  Status last = Status::TimedOut("operation timed out");
  int attempt = 0;
  std::string payload;
  Epoch encoded_epoch = UINT64_MAX;
  while (std::chrono::steady_clock::now() < deadline) {
    if (attempt > 0) co_await sleep_for(Millis(std::min(1000, 20 << std::min(attempt, 6))));
    ++attempt;
    Status ms = co_await mon.wait_for_map(0, opts.connect_timeout);
    if (ms.is(Code::kShutdown)) co_return ms;
    if (!ms.ok()) {
      last = ms;
      continue;
    }
    const ClusterMap& m = mon.map();
    const PoolInfo* pool = m.find_pool(pool_id);
    if (!pool) co_return Status::NotFound("pool " + std::to_string(pool_id) + " does not exist");
    PgId pg = object_to_pg(*pool, req.object);
    auto up = pg_to_up_osds(topology(), *pool, pg);
    if (up.size() < pool->min_size) {
      last = Status::Unavailable("PG " + pg.to_string() + " has " + std::to_string(up.size()) +
                                 " OSDs up, fewer than min_size " + std::to_string(pool->min_size));
      continue;
    }
    const OsdInfo* primary = m.find_osd(up[0]);
    if (!primary || primary->addr.empty()) continue;
    if (encoded_epoch != m.epoch) {
      req.pg = pg.seed;
      req.map_epoch = m.epoch;
      payload = req.encode();
      encoded_epoch = m.epoch;
    }
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    Millis wait = std::clamp(left, Millis(1), Millis(30000));
    auto frame = co_await osds.call(primary->addr, static_cast<uint16_t>(MsgType::kOsdOp), payload,
                                    wait);
    if (frame.status().is(Code::kShutdown)) co_return frame.status();
    if (!frame.ok()) {
      last = Status::Unavailable("osd." + std::to_string(up[0]) + ": " + frame.status().message());
      continue;
    }
    auto reply = OsdOpReply::decode(frame->payload);
    if (!reply.ok()) co_return reply.status();
    if (reply->head.status.is(Code::kUnavailable)) {
      last = reply->head.status;
      if (reply->head.epoch > mon.map().epoch) {
        (void)co_await mon.wait_for_map(reply->head.epoch, Millis(2000));
        if (mon.map().epoch < reply->head.epoch) mon.refresh();
      }
      continue;
    }
    co_return std::move(*reply);
  }
  co_return last;
}

awaitable<Result<std::vector<std::string>>> Client::Impl::list(PoolId pool_id) {
  std::vector<std::string> names;
  Status ms = co_await mon.wait_for_map(0, opts.connect_timeout);
  if (!ms.ok()) co_return ms;
  const PoolInfo* pool = mon.map().find_pool(pool_id);
  if (!pool) co_return Status::NotFound("pool does not exist");
  uint32_t pg_num = pool->pg_num;
  for (uint32_t seed = 0; seed < pg_num; ++seed) {
    std::string after;
    bool more = true;
    int attempts = 0;
    while (more) {
      const ClusterMap& m = mon.map();
      const PoolInfo* p = m.find_pool(pool_id);
      if (!p) co_return Status::NotFound("pool was removed while listing");
      auto up = pg_to_up_osds(topology(), *p, PgId{pool_id, seed});
      Status err = Status::Unavailable("PG " + PgId{pool_id, seed}.to_string() + " has no OSD up");
      if (!up.empty()) {
        PgListRequest req{pool_id, seed, after, 1000};
        auto frame = co_await osds.call(m.find_osd(up[0])->addr,
                                        static_cast<uint16_t>(MsgType::kPgListObjects),
                                        req.encode(), Millis(10000));
        if (frame.ok()) {
          auto reply = PgListReply::decode(frame->payload);
          if (!reply.ok()) co_return reply.status();
          if (reply->head.status.ok()) {
            for (auto& [n, v] : reply->objects) names.push_back(n);
            more = reply->more;
            if (!reply->objects.empty()) after = reply->objects.back().first;
            attempts = 0;
            continue;
          }
          err = reply->head.status;
        } else {
          err = frame.status();
        }
      }
      if (++attempts > 100) co_return err;
      co_await sleep_for(Millis(200));
    }
  }
  co_return names;
}

// ---- sync wrappers ----------------------------------------------------------

Result<OsdOpReply> Client::execute(const std::string& pool, const std::string& name,
                                   std::vector<ObjectOp> ops) {
  auto id = pool_id(pool);
  if (!id.ok()) return id.status();
  return impl_->run(impl_->execute(*id, name, std::move(ops)));
}

namespace {
Result<OpResult> single(Result<OsdOpReply> r) {
  if (!r.ok()) return r.status();
  Status st = first_error(*r);
  if (!st.ok()) return st;
  if (r->results.empty()) return OpResult{};
  return std::move(r->results[0]);
}
}  // namespace

Status Client::put(const std::string& pool, const std::string& name, std::string data) {
  return single(execute(pool, name, {ObjectOp{.code = OpCode::kWriteFull, .data = std::move(data)}}))
      .status();
}

Result<std::string> Client::get(const std::string& pool, const std::string& name, uint64_t offset,
                                uint64_t length) {
  auto r = single(execute(pool, name, {ObjectOp{.code = OpCode::kRead, .offset = offset, .length = length}}));
  if (!r.ok()) return r.status();
  return std::move(r->data);
}

Status Client::write(const std::string& pool, const std::string& name, uint64_t offset,
                     std::string data) {
  return single(execute(pool, name,
                        {ObjectOp{.code = OpCode::kWrite, .offset = offset, .data = std::move(data)}}))
      .status();
}

Status Client::append(const std::string& pool, const std::string& name, std::string data) {
  return single(execute(pool, name, {ObjectOp{.code = OpCode::kAppend, .data = std::move(data)}}))
      .status();
}

Status Client::truncate(const std::string& pool, const std::string& name, uint64_t size) {
  return single(execute(pool, name, {ObjectOp{.code = OpCode::kTruncate, .offset = size}})).status();
}

Result<ObjectInfo> Client::stat(const std::string& pool, const std::string& name) {
  auto r = single(execute(pool, name, {ObjectOp{.code = OpCode::kStat}}));
  if (!r.ok()) return r.status();
  return ObjectInfo{r->size, r->version, r->mtime_ns};
}

Status Client::remove(const std::string& pool, const std::string& name) {
  return single(execute(pool, name, {ObjectOp{.code = OpCode::kRemove}})).status();
}

Status Client::setxattr(const std::string& pool, const std::string& name, const std::string& key,
                        std::string value) {
  return single(execute(pool, name,
                        {ObjectOp{.code = OpCode::kSetXattr, .key = key, .value = std::move(value)}}))
      .status();
}

Result<std::string> Client::getxattr(const std::string& pool, const std::string& name,
                                     const std::string& key) {
  auto r = single(execute(pool, name, {ObjectOp{.code = OpCode::kGetXattr, .key = key}}));
  if (!r.ok()) return r.status();
  return std::move(r->data);
}

Result<std::map<std::string, std::string>> Client::getxattrs(const std::string& pool,
                                                             const std::string& name) {
  auto r = single(execute(pool, name, {ObjectOp{.code = OpCode::kGetXattrs}}));
  if (!r.ok()) return r.status();
  return std::move(r->kvs);
}

Status Client::omap_set(const std::string& pool, const std::string& name,
                        std::map<std::string, std::string> kvs) {
  return single(execute(pool, name, {ObjectOp{.code = OpCode::kOmapSet, .kvs = std::move(kvs)}}))
      .status();
}

Result<std::map<std::string, std::string>> Client::omap_get(const std::string& pool,
                                                            const std::string& name,
                                                            std::vector<std::string> keys) {
  auto r = single(execute(pool, name, {ObjectOp{.code = OpCode::kOmapGet, .keys = std::move(keys)}}));
  if (!r.ok()) return r.status();
  return std::move(r->kvs);
}

Result<std::map<std::string, std::string>> Client::omap_list(const std::string& pool,
                                                             const std::string& name,
                                                             const std::string& after, uint32_t max,
                                                             bool* more) {
  auto r = single(
      execute(pool, name, {ObjectOp{.code = OpCode::kOmapList, .length = max, .key = after}}));
  if (!r.ok()) return r.status();
  if (more) *more = r->more;
  return std::move(r->kvs);
}

Status Client::omap_rm(const std::string& pool, const std::string& name,
                       std::vector<std::string> keys) {
  return single(execute(pool, name, {ObjectOp{.code = OpCode::kOmapRm, .keys = std::move(keys)}}))
      .status();
}

Result<std::vector<std::string>> Client::list(const std::string& pool) {
  auto id = pool_id(pool);
  if (!id.ok()) return id.status();
  return impl_->run(impl_->list(*id));
}

}  // namespace cairn::client
