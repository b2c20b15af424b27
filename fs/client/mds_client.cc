#include "fs/client/mds_client.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_future.hpp>

#include "common/net/connection.h"
#include "common/net/daemon.h"
#include "common/net/sleep.h"
#include "fs/core/locks.h"
#include "fs/mds/mds.h"
#include "client/async.h"
#include "common/lease.h"

namespace cairn::fs {

namespace asio = boost::asio;
using asio::awaitable;
using std::chrono::milliseconds;

// Touched only on the cluster client's io thread, except `opens` (mutex).
struct MdsClient::State {
  client::Client* cluster = nullptr;
  std::string fs_name;
  std::string name;
  std::string key;
  NotifyFn on_notify;
  std::unique_ptr<net::ConnectionPool> pool;
  std::string addr;          // the active MDS we talk to
  net::Connection* session_conn = nullptr;  // the connection our session is bound to
  uint64_t session = 0;
  std::atomic<uint64_t> session_copy{0};  // for other threads
  // Bumped on every (re)connection: invalidations may have been missed.
  std::atomic<uint64_t> connections{0};
  bool opening = false;  // a coroutine is opening the session: others wait
  std::atomic<bool> stopping{false};  // unmounting: no more reconnects
  // Request ids; clock-seeded so a successor resuming our session (a
  // takeover) never reuses one the MDS remembers.
  std::atomic<uint64_t> next_tid{net::wall_ns()};
  std::mutex mu;
  std::map<Ino, int> opens;
  // The locks the MDS granted us (owner.session unused), reclaimed from a
  // new MDS after a failover.
  LockTable held_locks;
  // Mutations answered early (unsafe), by tid: resent, in order, to a new
  // MDS (or over a new connection) until an MdsSafe confirms them.
  std::map<uint64_t, MdsRequest> unsafe;
  // Safe notices that overtook the handling of their reply.
  std::set<uint64_t> safe_early;
  std::condition_variable safe_cv;
};

namespace {
// The MDS remembers a session's last 512 journaled replies for resends:
// a client keeps fewer unsafe requests than that.
constexpr size_t kMaxUnsafe = 256;

bool creates_inode(MdsOp op) {
  return op == MdsOp::kCreate || op == MdsOp::kMknod || op == MdsOp::kSymlink;
}

// Called on the io thread when a reply arrives.
void track_reply(MdsClient::State& s, const MdsRequest& req, const MdsReply& rep) {
  std::lock_guard lock(s.mu);
  if (!rep.unsafe) {
    if (s.unsafe.erase(req.tid) > 0) s.safe_cv.notify_all();
    return;
  }
  if (s.safe_early.erase(req.tid) > 0 || s.unsafe.contains(req.tid)) return;
  MdsRequest keep = req;
  keep.replay = true;
  if (creates_inode(req.op)) keep.ino2 = rep.inode.ino;  // the same number on replay
  s.unsafe.emplace(req.tid, std::move(keep));
}

// Keeps held_locks in step with what the MDS granted and released.
void track_locks(MdsClient::State& s, const MdsRequest& req, const MdsReply& rep) {
  if (rep.err != 0 || (req.op != MdsOp::kSetlk && req.op != MdsOp::kRelease)) return;
  std::lock_guard lock(s.mu);
  if (req.op == MdsOp::kSetlk) {
    LockRange r{{0, req.offset}, req.lock_type, req.size, req.length, req.lock_pid, req.lock_flock};
    s.held_locks.set(req.ino, r);
  } else if (req.op == MdsOp::kRelease) {
    s.held_locks.release_owner(req.ino, LockOwner{0, req.offset}, true);
  }
}

void mark_safe(MdsClient::State& s, const MdsSafe& safe) {
  std::lock_guard lock(s.mu);
  for (uint64_t tid : safe.tids) {
    if (s.unsafe.erase(tid) == 0) {
      s.safe_early.insert(tid);
      if (s.safe_early.size() > 4096) s.safe_early.erase(s.safe_early.begin());
    }
  }
  s.safe_cv.notify_all();
}
}  // namespace

namespace {

awaitable<Result<std::string>> find_active(MdsClient* /*unused*/, client::Client& cluster,
                                           std::string fs_name) {
  auto pool = cluster.pool_id(meta_pool_name(fs_name));
  if (!pool.ok()) co_return pool.status();
  ObjectOp get;
  get.code = OpCode::kGetXattr;
  get.key = kLockXattr;
  auto r = co_await cluster.async_execute(*pool, kMdsLockObject, client::ops(std::move(get)));
  Status st = client::op_status(r);
  if (!st.ok()) co_return Status::Unavailable("no active MDS for " + fs_name + " (" + st.to_string() + ")");
  auto holder = decode_lock(r->results[0].data);
  if (!holder) co_return Status::Unavailable("no active MDS for " + fs_name);
  std::string addr = addr_from_owner(holder->owner);
  if (addr.empty()) co_return Status::Unavailable("malformed MDS lease holder " + holder->owner);
  co_return addr;
}

awaitable<Result<MdsReply>> call_on(net::Connection& conn, const MdsRequest& req,
                                    milliseconds timeout) {
  std::string payload = req.encode();
  auto f = co_await conn.call(kMsgMdsRequest, std::move(payload), timeout);
  if (!f.ok()) co_return f.status();
  co_return MdsReply::decode(f->payload);
}

awaitable<Result<MdsReply>> call_loop(std::shared_ptr<MdsClient::State> s, MdsRequest req,
                                      milliseconds timeout);

awaitable<void> reconnect(std::shared_ptr<MdsClient::State> s, MdsRequest ping) {
  auto r = co_await call_loop(s, std::move(ping), milliseconds(60000));
  if (!r.ok() && !s->stopping) spdlog::warn("cannot reach an MDS: {}", r.status().to_string());
}

awaitable<void> on_notify_frame(std::weak_ptr<MdsClient::State> weak, net::Frame f) {
  auto s = weak.lock();
  if (!s) co_return;
  if (f.header.type == kMsgMdsSafe) {
    auto safe = MdsSafe::decode(f.payload);
    if (safe.ok()) mark_safe(*s, *safe);
    co_return;
  }
  if (f.header.type != kMsgMdsNotify) co_return;
  auto n = MdsNotify::decode(f.payload);
  if (n.ok() && s->on_notify) s->on_notify(*n);
}

}  // namespace

MdsClient::MdsClient(client::Client& cluster, std::string fs_name, std::string client_name,
                     std::string key, NotifyFn on_notify)
    : state_(std::make_shared<State>()), cluster_(cluster) {
  state_->cluster = &cluster;
  state_->fs_name = std::move(fs_name);
  state_->name = std::move(client_name);
  state_->key = std::move(key);
  state_->on_notify = std::move(on_notify);
  std::weak_ptr<State> weak = state_;
  net::RequestHandler handler = [weak](net::ConnectionPtr, net::Frame f) {
    return on_notify_frame(weak, std::move(f));
  };
  state_->pool = std::make_unique<net::ConnectionPool>(cluster.executor(), state_->key, handler);
}

MdsClient::~MdsClient() {
  state_->stopping = true;
  auto s = state_;
  client::block_on(cluster_, [](std::shared_ptr<State> st) -> awaitable<bool> {
    st->pool->close_all();
    co_return true;
  }(s));
}

namespace {

// After a failover, before the new MDS serves anyone else: takes back the
// locks we held. False when the MDS could not be reached (the caller
// reconnects and tries again); a lock someone else got meanwhile (only
// possible once the MDS stopped waiting for us) is dropped with a warning.
awaitable<bool> reclaim_locks(MdsClient::State& s, net::Connection& c, Status* last) {
  std::vector<std::pair<Ino, LockRange>> locks;
  {
    std::lock_guard lock(s.mu);
    locks = s.held_locks.all();
  }
  size_t lost = 0;
  for (const auto& [ino, l] : locks) {
    MdsRequest q;
    q.op = MdsOp::kSetlk;
    q.session = s.session;
    q.tid = s.next_tid++;
    q.replay = true;  // part of the reconnect: not held back for replays
    q.ino = ino;
    q.offset = l.owner.owner;
    q.lock_type = l.type;
    q.size = l.start;
    q.length = l.end;
    q.lock_pid = l.pid;
    q.lock_flock = l.flock;
    auto r = co_await call_on(c, q, milliseconds(10000));
    if (!r.ok()) {
      *last = r.status();
      co_return false;
    }
    if (r->err != 0) {
      ++lost;
      spdlog::warn("lost a {} lock on inode {:x} over an MDS failover: {}", l.flock ? "flock" : "POSIX",
                   ino, strerror(r->err));
      std::lock_guard lock(s.mu);
      s.held_locks.release_owner(ino, l.owner, l.flock);
    }
  }
  if (!locks.empty()) {
    spdlog::info("reclaimed {} of {} locks from the new MDS", locks.size() - lost, locks.size());
  }
  co_return true;
}

awaitable<Result<MdsReply>> call_loop(std::shared_ptr<MdsClient::State> s, MdsRequest req,
                                      milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Status last = Status::Unavailable("no MDS reached");
  for (int attempt = 0; std::chrono::steady_clock::now() < deadline; ++attempt) {
    if (attempt > 0) co_await net::sleep_for(milliseconds(std::min(100 * attempt, 1000)));
    if (s->stopping) co_return Status::Shutdown("the MDS client is stopping");
    if (s->addr.empty()) {
      auto a = co_await find_active(nullptr, *s->cluster, s->fs_name);
      if (!a.ok()) {
        last = a.status();
        continue;
      }
      s->addr = *a;
    }
    auto conn = co_await s->pool->get(s->addr, milliseconds(3000));
    if (!conn.ok()) {
      last = conn.status();
      s->addr.clear();
      continue;
    }
    net::Connection& c = **conn;
    while (s->opening) co_await net::sleep_for(milliseconds(5));
    if (s->session_conn != &c) {
      s->opening = true;
      struct Done {
        MdsClient::State* s;
        ~Done() { s->opening = false; }
      } done{s.get()};
      MdsRequest open;
      open.op = MdsOp::kSessionOpen;
      open.name = s->name;
      open.offset = s->session;
      auto r = co_await call_on(c, open, milliseconds(10000));
      if (!r.ok()) {
        last = r.status();
        s->pool->close(s->addr);
        s->addr.clear();
        continue;
      }
      bool resumed = r->more;  // the MDS still had our opens and locks
      s->session = r->offset;
      s->session_copy = r->offset;
      s->session_conn = &c;
      // When the MDS goes away, reconnect at once, not at our next request:
      // a successor waits only so long for its clients to reclaim their
      // locks and opens and resend their unsafe changes.
      std::weak_ptr<MdsClient::State> weak = s;
      c.on_close([weak] {
        auto st = weak.lock();
        if (!st || st->stopping) return;
        MdsRequest ping;
        ping.op = MdsOp::kGetattr;
        ping.ino = kRootIno;
        asio::co_spawn(st->cluster->executor(), reconnect(st, std::move(ping)), asio::detached);
      });
      ++s->connections;
      if (!resumed) {
        // A new session (MDS failover): tell it which files we hold open so
        // unlinked-but-open files survive.
        std::map<Ino, int> opens;
        {
          std::lock_guard lock(s->mu);
          opens = s->opens;
        }
        for (const auto& [ino, n] : opens) {
          for (int k = 0; k < n; ++k) {
            MdsRequest reopen;
            reopen.op = MdsOp::kOpen;
            reopen.ino = ino;
            reopen.replay = true;  // part of the reconnect: not held back for replays
            auto rr = co_await call_on(c, reopen, milliseconds(10000));
            (void)rr;
          }
        }
        if (!opens.empty()) spdlog::info("re-registered {} open files with the MDS", opens.size());
      }
      // Resend, in order, what was answered early but may not be durable:
      // a new MDS applies what the old one had not journaled (and answers
      // the rest from its journal) before it serves anyone else.
      std::vector<MdsRequest> resend;
      {
        std::lock_guard lock(s->mu);
        for (const auto& [tid, q] : s->unsafe) resend.push_back(q);
      }
      bool replayed = true;
      for (MdsRequest& q : resend) {
        q.session = s->session;
        auto rr = co_await call_on(c, q, milliseconds(30000));
        if (!rr.ok()) {
          last = rr.status();
          replayed = false;
          break;
        }
        if (rr->err != 0) {
          spdlog::warn("a change resent after an MDS failover failed ({}): op {} on inode {:x} {}",
                       strerror(rr->err), static_cast<int>(q.op), q.ino, q.name);
          rr->unsafe = false;  // nothing left to resend
        }
        track_reply(*s, q, *rr);
      }
      if (replayed && !resumed) replayed = co_await reclaim_locks(*s, c, &last);
      if (replayed) {
        MdsRequest done_req;
        done_req.op = MdsOp::kReplayDone;
        auto rd = co_await call_on(c, done_req, milliseconds(10000));
        if (!rd.ok()) {
          last = rd.status();
          replayed = false;
        } else if (!resend.empty()) {
          spdlog::info("resent {} unsafe requests to the MDS", resend.size());
        }
      }
      if (!replayed) {
        s->session_conn = nullptr;
        s->pool->close(s->addr);
        s->addr.clear();
        continue;
      }
    }
    req.session = s->session;
    auto r = co_await call_on(c, req, milliseconds(30000));
    if (!r.ok()) {
      last = r.status();
      s->pool->close(s->addr);
      s->addr.clear();
      s->session_conn = nullptr;
      continue;
    }
    if (r->err == ESTALE) {  // the MDS forgot our session: open a new one
      s->session_conn = nullptr;
      last = Status::Unavailable("MDS session expired");
      continue;
    }
    if (req.tid != 0) track_reply(*s, req, *r);
    track_locks(*s, req, *r);
    co_return std::move(*r);
  }
  co_return Status::TimedOut("MDS request: " + last.to_string());
}

}  // namespace

Result<MdsReply> MdsClient::call(MdsRequest req, std::chrono::milliseconds timeout) {
  if (req.op != MdsOp::kSessionOpen) req.tid = state_->next_tid++;
  auto r = client::block_on(cluster_, call_loop(state_, std::move(req), timeout));
  if (unsafe_count() > kMaxUnsafe) wait_safe(timeout);
  return r;
}

size_t MdsClient::unsafe_count() const {
  std::lock_guard lock(state_->mu);
  return state_->unsafe.size();
}

bool MdsClient::wait_safe(std::chrono::milliseconds timeout) {
  uint64_t upto = state_->next_tid - 1;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto done = [&] { return state_->unsafe.empty() || state_->unsafe.begin()->first > upto; };
  bool pending = false;
  {
    std::lock_guard lock(state_->mu);
    pending = !done();
  }
  if (pending) {
    // The MDS gathers journal entries nobody waits for into larger
    // appends: say that we wait. (Its MdsSafe precedes the answer.)
    MdsRequest sync;
    sync.op = MdsOp::kSync;
    sync.tid = state_->next_tid++;
    auto r = client::block_on(cluster_, call_loop(state_, std::move(sync), timeout));
    (void)r;
  }
  for (;;) {
    {
      std::unique_lock lock(state_->mu);
      if (state_->safe_cv.wait_for(lock, std::chrono::milliseconds(500), done)) return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // Still unsafe: the MDS may have failed. Any call reconnects and resends.
    MdsRequest ping;
    ping.op = MdsOp::kReplayDone;
    ping.tid = state_->next_tid++;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto r = client::block_on(cluster_, call_loop(state_, std::move(ping), left));
    (void)r;
  }
}

void MdsClient::track_open(Ino ino, int delta) {
  std::lock_guard lock(state_->mu);
  int& n = state_->opens[ino];
  n += delta;
  if (n <= 0) state_->opens.erase(ino);
}

void MdsClient::close_session() {
  if (!wait_safe(std::chrono::seconds(60))) {
    spdlog::warn("closing the MDS session with {} changes not yet confirmed durable",
                 unsafe_count());
  }
  MdsRequest req;
  req.op = MdsOp::kSessionClose;
  auto r = call(std::move(req), std::chrono::seconds(5));
  (void)r;
}

}  // namespace cairn::fs

namespace cairn::fs {

uint64_t MdsClient::session() const { return state_->session_copy; }

uint64_t MdsClient::connections() const { return state_->connections; }

void MdsClient::resume(uint64_t session) {
  state_->session = session;
  state_->session_copy = session;
}

}  // namespace cairn::fs
