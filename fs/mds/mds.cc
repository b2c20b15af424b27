#include "fs/mds/mds.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "common/net/daemon.h"
#include "common/net/sleep.h"
#include "client/async.h"
#include "common/lease.h"

namespace cairn::fs {

namespace asio = boost::asio;
using asio::awaitable;
using std::chrono::milliseconds;

namespace {

constexpr const char* kOwnerXattr = "mds";  // on journal segments: who may append
constexpr const char* kTailXattr = "tail";
constexpr const char* kSegXattr = "seg";
constexpr const char* kSessionsXattr = "sessions";  // open sessions at the checkpoint
constexpr size_t kMaxBatchEntries = 4096;
constexpr size_t kDirPage = 1024;

ObjectOp op(OpCode code) {
  ObjectOp o;
  o.code = code;
  return o;
}
ObjectOp xattr_op(OpCode code, std::string key, std::string value = {}) {
  ObjectOp o = op(code);
  o.key = std::move(key);
  o.value = std::move(value);
  return o;
}
ObjectOp data_op(OpCode code, std::string data) {
  ObjectOp o = op(code);
  o.data = std::move(data);
  return o;
}
ObjectOp list_op(std::string after, uint32_t max) {
  ObjectOp o = op(OpCode::kOmapList);
  o.key = std::move(after);
  o.length = max;
  return o;
}

uint64_t wall_ms() { return net::wall_ns() / 1000000; }

}  // namespace

std::string meta_pool_name(const std::string& fs) { return fs + ".meta"; }
std::string data_pool_name(const std::string& fs) { return fs + ".data"; }
std::string addr_from_owner(const std::string& owner) {
  size_t at = owner.find('@');
  return at == std::string::npos ? std::string() : owner.substr(at + 1);
}

Mds::Mds(client::Client& cluster, MdsOptions opts, Metrics* metrics)
    : cluster_(cluster), opts_(std::move(opts)), metrics_(metrics) {
  std::random_device rd;
  next_session_ = (static_cast<uint64_t>(rd()) << 32) | 1;
  next_notify_ = net::wall_ns();
  ops_total_ = &metrics_->counter("cairn_mds_requests_total", "Client requests served");
  journal_bytes_ = &metrics_->counter("cairn_mds_journal_bytes_total", "Bytes appended to the journal");
  journal_appends_ = &metrics_->counter("cairn_mds_journal_appends_total",
                                        "Journal appends (each carries a batch of entries)");
  metrics_->gauge_fn("cairn_mds_active", "1 while this MDS is the active one",
                     [this] { return state_ == "active" ? 1.0 : 0.0; });
}

Mds::~Mds() = default;

// ---- the lease ----

awaitable<Status> Mds::acquire_lease() {
  auto current = co_await cluster_.async_execute(
      meta_, kMdsLockObject, client::ops(xattr_op(OpCode::kGetXattr, kLockXattr)));
  std::string old;
  if (current.ok() && current->head.status.ok() && !current->results.empty() &&
      current->results[0].status.ok()) {
    old = current->results[0].data;
  } else if (!current.ok()) {
    co_return current.status();
  }
  auto holder = decode_lock(old);
  uint64_t now = wall_ms();
  auto decision = decide_lock(holder, owner_, now);
  if (decision == LockDecision::kBusy) {
    co_return Status::Unavailable("held by " + holder->owner);
  }
  std::string next = encode_lock(LockHolder{owner_, now + opts_.lease_ms});
  std::vector<ObjectOp> cas = client::ops(xattr_op(OpCode::kCmpXattr, kLockXattr, old),
                                       xattr_op(OpCode::kSetXattr, kLockXattr, next));
  auto r = co_await cluster_.async_execute(meta_, kMdsLockObject, std::move(cas));
  Status st = client::op_status(r);
  if (st.ok()) lease_expires_ms_ = now + opts_.lease_ms;
  co_return st;
}

awaitable<Status> Mds::renew_lease() { co_return co_await acquire_lease(); }

awaitable<void> Mds::lease_loop() {
  ++loops_running_;
  while (!stopping_) {
    co_await net::sleep_for(milliseconds(opts_.lease_ms / 4));
    if (stopping_) break;
    Status st = co_await renew_lease();
    if (st.ok()) continue;
    spdlog::warn("renewing the MDS lease failed: {}", st.to_string());
    // Stop before the lease can lapse: a standby may take over at expiry.
    if (wall_ms() + opts_.lease_ms / 4 >= lease_expires_ms_) {
      fatal_ = Status::Unavailable("lost the MDS lease (" + st.to_string() +
                                   "); stopping so that a standby can take over");
      spdlog::error("{}", fatal_.message());
      stopping_ = true;
      if (server_) server_->stop();
      durable_->notify_all();
      break;
    }
  }
  --loops_running_;
  loops_done_->notify_all();
}

// ---- loading and replay ----

awaitable<Result<std::map<std::string, std::string>>> Mds::read_omap(std::string obj) {
  std::map<std::string, std::string> all;
  std::string after;
  for (;;) {
    auto r = co_await cluster_.async_execute(meta_, obj, client::ops(list_op(after, kDirPage)));
    Status st = client::op_status(r);
    if (st.is(Code::kNotFound)) break;  // never written: empty
    if (!st.ok()) co_return st;
    OpResult& res = r->results[0];
    if (res.kvs.empty()) break;
    after = res.kvs.rbegin()->first;
    bool more = res.more;
    all.merge(res.kvs);
    if (!more) break;
  }
  co_return all;
}

awaitable<Status> Mds::load() {
  // Inode table, shard by shard, then every directory's entries.
  std::vector<Ino> dirs;
  for (int shard = 0; shard < kInodeShards; ++shard) {
    std::string obj = inode_shard_object(static_cast<Ino>(shard));
    auto kvs = co_await read_omap(obj);
    if (!kvs.ok()) co_return kvs.status();
    for (const auto& [k, v] : *kvs) {
      auto i = Inode::decode(v);
      if (!i.ok()) co_return Status::Corruption("inode " + k + " in " + obj);
      if (i->is_dir()) dirs.push_back(i->ino);
      ns_.apply(Update::put_inode(*i));
    }
  }
  for (Ino dir : dirs) {
    std::string obj = dir_object(dir);
    auto kvs = co_await read_omap(obj);
    if (!kvs.ok()) co_return kvs.status();
    for (const auto& [name, v] : *kvs) {
      auto de = Dentry::decode(v);
      if (!de.ok()) co_return Status::Corruption("dentry " + name + " in " + obj);
      ns_.apply(Update::put_dentry(dir, name, de->ino, de->type));
    }
  }
  // Journal head: the checkpointed sequence and the first live segment.
  auto head = co_await cluster_.async_execute(meta_, kJournalHead,
                                              client::ops(op(OpCode::kGetXattrs)));
  Status hst = client::op_status(head);
  if (hst.ok()) {
    const auto& kv = head->results[0].kvs;
    if (auto it = kv.find(kTailXattr); it != kv.end()) tail_seq_ = std::stoull(it->second);
    if (auto it = kv.find(kSegXattr); it != kv.end()) first_segment_ = std::stoull(it->second);
    if (auto it = kv.find("max_ino"); it != kv.end())
      ns_.apply(Update::max_ino(std::stoull(it->second)));
    if (auto it = kv.find(kSessionsXattr); it != kv.end()) {
      std::istringstream in(it->second);
      for (uint64_t id; in >> id;) known_sessions_.insert(id);
    }
  } else if (!hst.is(Code::kNotFound)) {
    co_return hst;
  }
  co_return co_await replay_journal();
}

awaitable<Status> Mds::replay_journal() {
  uint64_t seg = first_segment_;
  size_t replayed = 0;
  for (;;) {
    std::string obj = journal_object(seg);
    auto stat = co_await cluster_.async_execute(meta_, obj, client::ops(op(OpCode::kStat)));
    Status fst = client::op_status(stat);
    if (fst.is(Code::kNotFound)) {
      // Claim the next segment; if an old MDS got there first, replay it too.
      std::vector<ObjectOp> create = client::ops(op(OpCode::kCreate),
                                              xattr_op(OpCode::kSetXattr, kOwnerXattr, owner_));
      auto c = co_await cluster_.async_execute(meta_, obj, std::move(create));
      Status cst = client::op_status(c);
      if (cst.is(Code::kAlreadyExists)) continue;
      if (!cst.ok()) co_return cst;
      segment_ = seg;
      segment_bytes_ = 0;
      break;
    }
    if (!fst.ok()) co_return fst;
    // Fence first, then read: a previous MDS that still thinks it is active
    // can no longer append what we would not see.
    std::vector<ObjectOp> fence = client::ops(xattr_op(OpCode::kSetXattr, kOwnerXattr, owner_));
    auto f = co_await cluster_.async_execute(meta_, obj, std::move(fence));
    fst = client::op_status(f);
    if (!fst.ok()) co_return fst;
    auto r = co_await cluster_.async_execute(meta_, obj, client::ops(op(OpCode::kRead)));
    Status rst = client::op_status(r);
    if (!rst.ok()) co_return rst;
    bool clean = false;
    auto entries = decode_records(r->results[0].data, &clean);
    if (!clean) spdlog::warn("journal segment {} ends in a torn record; ignoring its tail", seg);
    for (const JournalEntry& e : entries) {
      segment_last_seq_[seg] = e.seq;
      next_seq_ = std::max(next_seq_, e.seq + 1);
      remember_reply(e.session, e.tid, e.seq, e.reply);
      if (e.session != 0) {
        if (e.tid == 0 && e.reply == kSessionEndMark) known_sessions_.erase(e.session);
        else known_sessions_.insert(e.session);
      }
      if (e.seq <= tail_seq_) continue;
      for (const Update& u : e.updates) ns_.apply(u);
      // Replayed entries still have to reach the objects.
      for (const Update& u : e.updates) track_dirty(u);
      ++replayed;
    }
    ++seg;
  }
  next_seq_ = std::max(next_seq_, tail_seq_ + 1);
  durable_seq_ = next_seq_ - 1;
  spdlog::info("replayed {} journal entries (checkpoint at {}, next entry {})", replayed,
               tail_seq_, next_seq_);
  co_return Status::Ok();
}

// ---- journal ----

void Mds::track_dirty(const Update& u) {
  switch (u.kind) {
    case Update::kPutInode: dirty_.inodes[u.inode.ino] = u.inode; break;
    case Update::kRmInode: dirty_.inodes[u.ino] = std::nullopt; break;
    case Update::kPutDentry: dirty_.dentries[u.dir][u.name] = Dentry{u.ino, u.type}; break;
    case Update::kRmDentry: dirty_.dentries[u.dir][u.name] = std::nullopt; break;
    case Update::kMaxIno: dirty_.max_ino = std::max(dirty_.max_ino, u.ino); break;
  }
}

void Mds::remember_reply(uint64_t session, uint64_t tid, uint64_t seq, std::string reply) {
  if (session == 0 || tid == 0) return;
  auto& done = completed_[session];
  done[tid] = {seq, std::move(reply)};
  // A client resends only what is in flight: a short window suffices.
  while (done.size() > 512) done.erase(done.begin());
}

uint64_t Mds::submit(Txn txn, uint64_t session, uint64_t tid, std::string reply) {
  uint64_t seq = next_seq_++;
  remember_reply(session, tid, seq, reply);
  in_flight_[seq] = session;
  if (pending_.empty()) pending_since_ = std::chrono::steady_clock::now();
  pending_.push_back(JournalEntry{seq, std::move(txn), session, tid, std::move(reply)});
  if (pending_.size() == 1 || pending_.size() >= kMaxBatchEntries) wake_journal_->notify_all();
  return seq;
}

awaitable<Status> Mds::wait_durable(uint64_t seq) {
  if (durable_seq_ >= seq) co_return Status::Ok();
  // Someone waits: the journal stops gathering a batch and appends.
  ++durable_waiters_;
  wake_journal_->notify_all();
  Status st = Status::Ok();
  while (durable_seq_ < seq) {
    if (stopping_) {
      st = fatal_.ok() ? Status::Shutdown("MDS stopping") : fatal_;
      break;
    }
    co_await durable_->wait_for(milliseconds(1000));
  }
  --durable_waiters_;
  co_return st;
}

uint64_t Mds::foreign_in_flight(uint64_t session, uint64_t below) const {
  for (auto it = std::make_reverse_iterator(in_flight_.lower_bound(below)); it != in_flight_.rend();
       ++it) {
    if (it->second != session || session == 0) return it->first;
  }
  return 0;
}

void Mds::send_safe(uint64_t upto) {
  std::map<uint64_t, MdsSafe> per_session;
  auto end = unsafe_.upper_bound(upto);
  for (auto it = unsafe_.begin(); it != end; ++it) {
    per_session[it->second.first].tids.push_back(it->second.second);
  }
  unsafe_.erase(unsafe_.begin(), end);
  for (auto& [id, safe] : per_session) {
    auto s = sessions_.find(id);
    if (s == sessions_.end()) continue;
    // A client that missed this resends on reconnect and is answered from
    // the journal.
    auto conn = s->second.conn.lock();
    if (conn && conn->is_open()) conn->send(kMsgMdsSafe, safe.encode());
  }
}

awaitable<void> Mds::wait_gate() {
  while (replay_gate_ && !stopping_) {
    uint64_t now = net::now_ms();
    if (now >= gate_deadline_ms_) {
      std::string missing;
      for (uint64_t id : awaiting_replay_) missing += (missing.empty() ? "" : " ") + std::to_string(id);
      // Their clients are gone (or too slow): what they had not resent is
      // lost, as when a client node fails together with the MDS.
      for (uint64_t id : awaiting_replay_) {
        known_sessions_.erase(id);
        if (!sessions_.contains(id)) submit(Txn{}, id, 0, kSessionEndMark);
      }
      open_gate("sessions " + missing + " did not reconnect within " +
                std::to_string(opts_.reconnect_timeout_ms) + " ms");
      break;
    }
    co_await gate_open_->wait_for(milliseconds(std::min<uint64_t>(gate_deadline_ms_ - now, 500)));
  }
}

void Mds::open_gate(const std::string& why) {
  if (!replay_gate_) return;
  replay_gate_ = false;
  awaiting_replay_.clear();
  spdlog::info("serving all requests: {}", why);
  gate_open_->notify_all();
}

awaitable<void> Mds::journal_loop() {
  ++loops_running_;
  while (!stopping_) {
    if (pending_.empty()) {
      co_await wake_journal_->wait_for(milliseconds(500));
      continue;
    }
    // Entries whose callers were answered early can wait a few ms for more
    // to share their append; one somebody waits for (fsync, another
    // client's request, a resend) cannot.
    auto batch_until = pending_since_ + milliseconds(opts_.journal_batch_ms);
    if (durable_waiters_ == 0 && pending_.size() < kMaxBatchEntries &&
        std::chrono::steady_clock::now() < batch_until) {
      co_await wake_journal_->wait_until(batch_until);
      continue;
    }
    size_t n = std::min(pending_.size(), kMaxBatchEntries);
    std::vector<JournalEntry> batch(std::make_move_iterator(pending_.begin()),
                                    std::make_move_iterator(pending_.begin() + n));
    pending_.erase(pending_.begin(), pending_.begin() + n);
    std::string bytes;
    for (const JournalEntry& e : batch) append_record(e, &bytes);

    if (segment_bytes_ > 0 && segment_bytes_ + bytes.size() > kJournalSegmentBytes) {
      std::string next = journal_object(segment_ + 1);
      std::vector<ObjectOp> create = client::ops(op(OpCode::kCreate),
                                              xattr_op(OpCode::kSetXattr, kOwnerXattr, owner_));
      auto c = co_await cluster_.async_execute(meta_, next, std::move(create));
      Status cst = client::op_status(c);
      if (!cst.ok()) {
        fatal_ = Status::Conflict("cannot start journal segment " + next + ": " +
                                  cst.to_string() + " (another MDS took over?)");
        break;
      }
      ++segment_;
      segment_bytes_ = 0;
    }
    size_t len = bytes.size();
    std::vector<ObjectOp> append = client::ops(xattr_op(OpCode::kCmpXattr, kOwnerXattr, owner_),
                                            data_op(OpCode::kAppend, std::move(bytes)));
    Status st;
    for (int attempt = 0;; ++attempt) {
      std::vector<ObjectOp> attempt_ops = append;
      auto r = co_await cluster_.async_execute(meta_, journal_object(segment_),
                                               std::move(attempt_ops));
      st = client::op_status(r);
      // Timeouts are retried (the op carries its id, so it applies once);
      // a fence or anything else ends this MDS.
      if (st.ok() || st.is(Code::kConflict) || attempt >= 3 || stopping_) break;
      spdlog::warn("journal append failed: {}; retrying", st.to_string());
    }
    if (!st.ok()) {
      fatal_ = Status::Conflict("journal append failed: " + st.to_string() +
                                (st.is(Code::kConflict) ? " (fenced: another MDS took over)" : ""));
      break;
    }
    segment_bytes_ += len;
    journal_bytes_->inc(len);
    journal_appends_->inc(1);
    for (const JournalEntry& e : batch) {
      segment_last_seq_[segment_] = e.seq;
      for (const Update& u : e.updates) track_dirty(u);
    }
    durable_seq_ = batch.back().seq;
    in_flight_.erase(in_flight_.begin(), in_flight_.upper_bound(durable_seq_));
    send_safe(durable_seq_);
    durable_->notify_all();
    wake_purge_->notify_all();
  }
  if (!fatal_.ok()) {
    spdlog::error("{}; stopping", fatal_.message());
    stopping_ = true;
    if (server_) server_->stop();
  }
  durable_->notify_all();
  --loops_running_;
  loops_done_->notify_all();
}

// ---- checkpoint: write durable changes into the objects, trim the journal ----

awaitable<Status> Mds::checkpoint() {
  if (dirty_.inodes.empty() && dirty_.dentries.empty() && dirty_.max_ino == 0) co_return Status::Ok();
  uint64_t upto = durable_seq_;
  Dirty d = std::move(dirty_);
  dirty_ = Dirty{};
  std::map<std::string, std::pair<std::map<std::string, std::string>, std::vector<std::string>>>
      per_object;
  for (auto& [ino, v] : d.inodes) {
    auto& slot = per_object[inode_shard_object(ino)];
    if (v) slot.first[inode_key(ino)] = v->encode();
    else slot.second.push_back(inode_key(ino));
  }
  std::vector<Ino> removed_dirs;
  for (auto& [ino, v] : d.inodes) {
    if (!v) removed_dirs.push_back(ino);
  }
  for (auto& [dir, names] : d.dentries) {
    auto& slot = per_object[dir_object(dir)];
    for (auto& [name, de] : names) {
      if (de) slot.first[name] = de->encode();
      else slot.second.push_back(name);
    }
  }
  std::vector<asio::awaitable<Status>> writes;
  for (auto& [obj, kv] : per_object) {
    // Touch first: removing keys from an object never written is no error.
    std::vector<ObjectOp> ops;
    ops.push_back(op(OpCode::kTouch));
    if (!kv.second.empty()) {
      ObjectOp rm = op(OpCode::kOmapRm);
      rm.keys = std::move(kv.second);
      ops.push_back(std::move(rm));
    }
    if (!kv.first.empty()) {
      ObjectOp set = op(OpCode::kOmapSet);
      set.kvs = std::move(kv.first);
      ops.push_back(std::move(set));
    }
    std::string name = obj;
    writes.push_back([](client::Client& c, PoolId pool, std::string n,
                        std::vector<ObjectOp> o) -> awaitable<Status> {
      std::string what = n;
      auto r = co_await c.async_execute(pool, std::move(n), std::move(o));
      Status st = client::op_status(r);
      co_return st.ok() ? st : Status(st.code(), what + ": " + st.message());
    }(cluster_, meta_, std::move(name), std::move(ops)));
  }
  auto results = co_await client::when_all_bounded(std::move(writes), 16);
  for (const Status& st : results) {
    if (!st.ok()) {
      // Put the changes back so the next checkpoint retries them (newer
      // changes made meanwhile win).
      for (auto& [ino, v] : d.inodes) dirty_.inodes.try_emplace(ino, std::move(v));
      for (auto& [dir, names] : d.dentries)
        for (auto& [n, de] : names) dirty_.dentries[dir].try_emplace(n, std::move(de));
      dirty_.max_ino = std::max(dirty_.max_ino, d.max_ino);
      co_return st;
    }
  }
  // Removed directories' objects go once their entries are gone.
  for (Ino dir : removed_dirs) {
    if (ns_.find(dir) != nullptr) continue;
    auto r = co_await cluster_.async_execute(meta_, dir_object(dir), client::ops(op(OpCode::kRemove)));
    (void)r;  // absent for files; a leftover directory object is harmless
  }
  // Segments whose entries are all checkpointed can go.
  uint64_t first = first_segment_;
  while (first < segment_) {
    auto it = segment_last_seq_.find(first);
    if (it != segment_last_seq_.end() && it->second > upto) break;
    ++first;
  }
  std::map<std::string, std::string> head;
  head[kTailXattr] = std::to_string(upto);
  head[kSegXattr] = std::to_string(first);
  ObjectOp touch = op(OpCode::kTouch);
  std::vector<ObjectOp> hops = client::ops(std::move(touch),
                                        xattr_op(OpCode::kSetXattr, kTailXattr, head[kTailXattr]),
                                        xattr_op(OpCode::kSetXattr, kSegXattr, head[kSegXattr]));
  if (d.max_ino != 0) hops.push_back(xattr_op(OpCode::kSetXattr, "max_ino", std::to_string(d.max_ino)));
  std::string open_sessions;
  for (uint64_t id : known_sessions_) open_sessions += std::to_string(id) + " ";
  hops.push_back(xattr_op(OpCode::kSetXattr, kSessionsXattr, open_sessions));
  auto hr = co_await cluster_.async_execute(meta_, kJournalHead, std::move(hops));
  Status hst = client::op_status(hr);
  if (!hst.ok()) co_return hst;
  tail_seq_ = upto;
  for (uint64_t s = first_segment_; s < first; ++s) {
    auto r = co_await cluster_.async_execute(meta_, journal_object(s), client::ops(op(OpCode::kRemove)));
    (void)r;
    segment_last_seq_.erase(s);
  }
  first_segment_ = first;
  co_return Status::Ok();
}

awaitable<void> Mds::checkpoint_loop() {
  ++loops_running_;
  while (!stopping_) {
    co_await net::sleep_for(milliseconds(opts_.checkpoint_interval_ms));
    if (stopping_) break;
    Status st = co_await checkpoint();
    if (!st.ok()) spdlog::warn("checkpoint failed (will retry): {}", st.to_string());
  }
  --loops_running_;
  loops_done_->notify_all();
}

// ---- purging deleted data ----

awaitable<Status> Mds::purge(const Purge& p) {
  if (p.to <= p.from) co_return Status::Ok();
  uint64_t first = p.from / kObjectSize;
  uint64_t last = (p.to - 1) / kObjectSize;
  std::vector<asio::awaitable<Status>> tasks;
  for (uint64_t objno = first; objno <= last; ++objno) {
    std::vector<ObjectOp> ops;
    uint64_t start = objno * kObjectSize;
    if (p.from > start) {
      ObjectOp t = op(OpCode::kTruncate);
      t.offset = p.from - start;
      ops.push_back(std::move(t));
    } else {
      ops.push_back(op(OpCode::kRemove));
    }
    tasks.push_back([](client::Client& c, PoolId pool, std::string n,
                       std::vector<ObjectOp> o) -> awaitable<Status> {
      auto r = co_await c.async_execute(pool, std::move(n), std::move(o));
      Status st = client::op_status(r);
      co_return st.is(Code::kNotFound) ? Status::Ok() : st;  // sparse: never written
    }(cluster_, data_, data_object(p.ino, objno), std::move(ops)));
  }
  auto results = co_await client::when_all_bounded(std::move(tasks), 16);
  for (const Status& st : results) {
    if (!st.ok()) co_return st;
  }
  co_return Status::Ok();
}

awaitable<void> Mds::purge_loop() {
  ++loops_running_;
  while (!stopping_) {
    if (purges_.empty()) {
      co_await wake_purge_->wait_for(milliseconds(1000));
      continue;
    }
    std::vector<Purge> work = std::move(purges_);
    purges_.clear();
    for (const Purge& p : work) {
      Status st = co_await purge(p);
      if (!st.ok()) {
        spdlog::warn("purging data of inode {:x}: {}; will retry", p.ino, st.to_string());
        purges_.push_back(p);
      }
    }
    if (!purges_.empty()) co_await net::sleep_for(milliseconds(1000));
  }
  --loops_running_;
  loops_done_->notify_all();
}

// ---- sessions ----

void Mds::end_session(Session& s) {
  Txn txn;
  for (auto& [ino, n] : s.opens) {
    for (uint32_t k = 0; k < n; ++k) ns_.close_ref(ino, &txn);
  }
  locks_.release_session(s.id);
  completed_.erase(s.id);
  for (Purge& p : ns_.take_purges()) purges_.push_back(p);
  if (!txn.empty()) submit(std::move(txn));
  known_sessions_.erase(s.id);
  submit(Txn{}, s.id, 0, kSessionEndMark);
  if (awaiting_replay_.erase(s.id) > 0 && awaiting_replay_.empty()) {
    open_gate("every client of the previous MDS has replayed");
  }
  spdlog::info("client session {} ({}) ended", s.id, s.name);
}

awaitable<void> Mds::session_loop() {
  ++loops_running_;
  // Files unlinked while open survive a failover until their clients had
  // the chance to reconnect and reclaim their opens.
  bool orphans_collected = false;
  uint64_t started = net::now_ms();
  while (!stopping_) {
    co_await net::sleep_for(milliseconds(1000));
    uint64_t now = net::now_ms();
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      Session& s = it->second;
      if (s.disconnected_ms != 0 && now - s.disconnected_ms > opts_.session_timeout_ms) {
        end_session(s);
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
    if (!orphans_collected && now - started > opts_.session_timeout_ms) {
      orphans_collected = true;
      Txn txn;
      ns_.collect_orphans(&txn);
      for (Purge& p : ns_.take_purges()) purges_.push_back(p);
      if (!txn.empty()) submit(std::move(txn));
    }
  }
  --loops_running_;
  loops_done_->notify_all();
}

// ---- requests ----

Mds::NotifyTargets Mds::notify_others(const Txn& txn, uint64_t origin) {
  NotifyTargets targets;
  std::vector<MdsNotify> msgs;
  std::set<Ino> inodes;
  for (const Update& u : txn) {
    MdsNotify n;
    if (u.kind == Update::kPutDentry || u.kind == Update::kRmDentry) {
      n.kind = MdsNotify::kInvalEntry;
      n.ino = u.dir;
      n.name = u.name;
      msgs.push_back(std::move(n));
    } else if (u.kind == Update::kPutInode && inodes.insert(u.inode.ino).second) {
      n.kind = MdsNotify::kInvalInode;
      n.ino = u.inode.ino;
      msgs.push_back(std::move(n));
    }
  }
  if (msgs.empty()) return targets;
  for (MdsNotify& m : msgs) m.seq = ++next_notify_;
  std::vector<std::string> encoded;
  for (const MdsNotify& m : msgs) encoded.push_back(m.encode());
  for (auto& [id, s] : sessions_) {
    if (id == origin) continue;
    auto conn = s.conn.lock();
    if (!conn || !conn->is_open()) continue;
    for (const std::string& m : encoded) conn->send(kMsgMdsNotify, m);
    targets.emplace_back(id, msgs.back().seq);
  }
  return targets;
}

// Answers no longer precede other clients' invalidations by a journal
// append, so they wait for them: another node must not see a name this
// change removed once the change's caller has been answered. Not for a
// client that itself waits here (its invalidation may be stuck behind its
// own request holding the directory lock in its kernel: a cycle), nor
// longer than 1 s (the kernel's own cache bound).
awaitable<void> Mds::wait_acks(uint64_t origin, NotifyTargets targets) {
  if (targets.empty()) co_return;
  auto deadline = std::chrono::steady_clock::now() + milliseconds(1000);
  if (auto o = sessions_.find(origin); o != sessions_.end()) ++o->second.waiting_acks;
  acked_->notify_all();  // others waiting on us stop
  while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
    bool pending = false;
    for (const auto& [id, seq] : targets) {
      auto it = sessions_.find(id);
      if (it == sessions_.end()) continue;
      const Session& s = it->second;
      auto conn = s.conn.lock();
      if (s.notify_acked >= seq || s.waiting_acks > 0 || !conn || !conn->is_open()) continue;
      pending = true;
    }
    if (!pending) break;
    co_await acked_->wait_until(deadline);
  }
  if (auto o = sessions_.find(origin); o != sessions_.end()) --o->second.waiting_acks;
}

void Mds::dispatch(const MdsRequest& req, const Caller& c, Session* s, MdsReply* rep, Txn* txn) {
  Inode& out = rep->inode;
  int& e = rep->err;
  switch (req.op) {
    case MdsOp::kLookup: e = ns_.lookup(req.ino, req.name, &out); break;
    case MdsOp::kGetattr: e = ns_.getattr(req.ino, &out); break;
    case MdsOp::kMknod: e = ns_.mknod(c, req.ino, req.name, req.mode, req.rdev, &out, txn); break;
    case MdsOp::kCreate:
      e = ns_.mknod(c, req.ino, req.name, req.mode, req.rdev, &out, txn);
      if (e == 0) {
        ns_.open_ref(out.ino);
        ++s->opens[out.ino];
      }
      break;
    case MdsOp::kSymlink: e = ns_.symlink(c, req.ino, req.name, req.name2, &out, txn); break;
    case MdsOp::kLink: e = ns_.link(c, req.ino, req.ino2, req.name, &out, txn); break;
    case MdsOp::kUnlink: e = ns_.unlink(c, req.ino, req.name, txn); break;
    case MdsOp::kRmdir: e = ns_.rmdir(c, req.ino, req.name, txn); break;
    case MdsOp::kRename:
      e = ns_.rename(c, req.ino, req.name, req.ino2, req.name2, req.flags, txn);
      break;
    case MdsOp::kSetattr: e = ns_.setattr(c, req.ino, req.attr, &out, txn); break;
    case MdsOp::kExtend: e = ns_.extend(c, req.ino, req.size, req.attr.mtime_ns, &out, txn); break;
    case MdsOp::kWriteInline:
      e = ns_.write_inline(c, req.ino, req.offset, req.value, req.attr.mtime_ns, &out, txn);
      out.inline_data.clear();  // keeps replies (and their journal copy) small
      break;
    case MdsOp::kUninline: e = ns_.uninline(c, req.ino, req.size, &out, txn); break;
    case MdsOp::kReserveAppend:
      e = ns_.reserve_append(c, req.ino, req.length, &rep->offset, &out, txn);
      break;
    case MdsOp::kSetxattr: e = ns_.setxattr(c, req.ino, req.name, req.value, req.flags, txn); break;
    case MdsOp::kGetxattr: e = ns_.getxattr(req.ino, req.name, &rep->value); break;
    case MdsOp::kListxattr: {
      std::vector<std::string> names;
      e = ns_.listxattr(req.ino, &names);
      for (auto& n : names) rep->entries.push_back(DirEntry{std::move(n), 0, 0});
      break;
    }
    case MdsOp::kRemovexattr: e = ns_.removexattr(c, req.ino, req.name, txn); break;
    case MdsOp::kReaddir: {
      size_t max = req.length == 0 || req.length > 4096 ? 4096 : req.length;
      e = ns_.readdir(req.ino, req.name, max, &rep->entries, &rep->more);
      if (e == 0 && (req.flags & kReaddirPlus)) {  // attributes too (readdirplus)
        for (const DirEntry& de : rep->entries) {
          const Inode* i = ns_.find(de.ino);
          rep->inodes.push_back(i != nullptr ? *i : Inode{});
          rep->inodes.back().inline_data.clear();  // a listing does not carry file contents
        }
      }
      break;
    }
    case MdsOp::kOpen:
      e = ns_.getattr(req.ino, &out);
      if (e == 0) {
        ns_.open_ref(req.ino);
        ++s->opens[req.ino];
      }
      break;
    case MdsOp::kRelease: {
      locks_.release_owner(req.ino, LockOwner{s->id, req.offset}, true);
      auto it = s->opens.find(req.ino);
      if (it != s->opens.end()) {
        if (--it->second == 0) s->opens.erase(it);
        ns_.close_ref(req.ino, txn);
      }
      break;
    }
    case MdsOp::kStatfs:
      rep->statfs.files = ns_.inode_count();
      rep->statfs.total_bytes = 0;  // filled by the caller from the cluster
      break;
    case MdsOp::kGetlk: {
      LockRange want{{s->id, req.offset}, req.lock_type, req.size, req.length, req.lock_pid,
                     req.lock_flock};
      LockRange conflict;
      if (locks_.test(req.ino, want, &conflict)) {
        rep->lock_type = conflict.type;
        rep->lock_start = conflict.start;
        rep->lock_end = conflict.end;
        rep->lock_pid = conflict.pid;
      } else {
        rep->lock_type = LockType::kUnlock;
      }
      break;
    }
    case MdsOp::kSetlk: {
      if (ns_.find(req.ino) == nullptr) {
        e = ENOENT;
        break;
      }
      LockRange want{{s->id, req.offset}, req.lock_type, req.size, req.length, req.lock_pid,
                     req.lock_flock};
      e = locks_.set(req.ino, want);
      break;
    }
    case MdsOp::kResolve: e = ns_.resolve(req.name, &out); break;
    case MdsOp::kSubvolCreate:
      e = ns_.subvolume_create(c, req.name, req.size, req.length, &out, txn);
      break;
    case MdsOp::kSubvolResize:
      e = ns_.subvolume_resize(c, req.name, req.size, req.length, &out, txn);
      break;
    case MdsOp::kSubvolRemove: e = ns_.subvolume_remove(c, req.name, txn); break;
    case MdsOp::kSubvolList: e = ns_.subvolume_list(&rep->inodes); break;
    case MdsOp::kStatus: rep->value = status_json(); break;
    case MdsOp::kSync:  // handle() waits for the journal
    case MdsOp::kSessionOpen:
    case MdsOp::kSessionClose:
      break;  // handled by handle()
    default:
      e = EOPNOTSUPP;
  }
}

awaitable<void> Mds::handle(net::ConnectionPtr conn, net::Frame frame) {
  if (frame.header.type != kMsgMdsRequest) co_return;
  auto req = MdsRequest::decode(frame.payload);
  MdsReply rep;
  if (!req.ok()) {
    rep.err = EINVAL;
    conn->reply(frame.header.req_id, kMsgMdsRequest, rep.encode());
    co_return;
  }
  ops_total_->inc();
  if (req->op == MdsOp::kSessionOpen) {
    uint64_t id = req->offset;
    auto it = sessions_.find(id);
    rep.more = it != sessions_.end();  // resumed with its opens and locks
    uint64_t journaled = 0;
    if (it == sessions_.end()) {
      // A session the journal knows (a failover) keeps its id, so resent
      // requests are recognised; its opens are re-registered by the client.
      if (id == 0 || !known_sessions_.contains(id)) {
        id = next_session_++;
        // Journaled so that a successor waits for this client's replays.
        known_sessions_.insert(id);
        journaled = submit(Txn{}, id, 0, kSessionOpenMark);
      }
      it = sessions_.emplace(id, Session{}).first;
      it->second.id = id;
      spdlog::info("client {} opened session {}", req->name, id);
    } else {
      spdlog::info("client {} resumed session {}", req->name, id);
    }
    it->second.name = req->name;
    it->second.conn = conn;
    it->second.disconnected_ms = 0;
    conn->tag = id;
    net::Connection* raw = conn.get();
    conn->on_close([this, id, raw] {
      auto s = sessions_.find(id);
      if (s == sessions_.end()) return;
      auto current = s->second.conn.lock();
      if (current == nullptr || current.get() == raw) s->second.disconnected_ms = net::now_ms();
    });
    rep.offset = id;
    if (journaled != 0) {
      Status st = co_await wait_durable(journaled);
      if (!st.ok()) rep.err = EIO;
    }
    conn->reply(frame.header.req_id, kMsgMdsRequest, rep.encode());
    co_return;
  }
  // While the previous MDS's clients resend what it answered early, others
  // wait: nobody may act on a namespace that is still missing those changes.
  if (replay_gate_ && !req->replay && req->op != MdsOp::kReplayDone &&
      req->op != MdsOp::kSessionClose && req->op != MdsOp::kNotifyAck) {
    co_await wait_gate();
  }
  auto sit = sessions_.find(conn->tag);
  if (sit == sessions_.end()) {
    rep.err = ESTALE;  // no session: the client must open one first
    conn->reply(frame.header.req_id, kMsgMdsRequest, rep.encode());
    co_return;
  }
  Session& session = sit->second;
  if (req->op == MdsOp::kSessionClose) {
    end_session(session);
    sessions_.erase(sit);
    conn->reply(frame.header.req_id, kMsgMdsRequest, rep.encode());
    co_return;
  }
  uint64_t session_id = session.id;
  if (req->op == MdsOp::kNotifyAck) {
    session.notify_acked = std::max(session.notify_acked, req->offset);
    acked_->notify_all();
    conn->reply(frame.header.req_id, kMsgMdsRequest, rep.encode());
    co_return;
  }
  if (req->op == MdsOp::kReplayDone) {
    if (awaiting_replay_.erase(session_id) > 0 && awaiting_replay_.empty()) {
      open_gate("every client of the previous MDS has replayed");
    }
    conn->reply(frame.header.req_id, kMsgMdsRequest, rep.encode());
    co_return;
  }
  // A resend of a request that already changed the namespace (its reply was
  // lost with a connection or an MDS): answer as the first time.
  if (req->tid != 0) {
    if (auto cs = completed_.find(session_id); cs != completed_.end()) {
      if (auto done = cs->second.find(req->tid); done != cs->second.end()) {
        uint64_t seq = done->second.first;
        std::string reply = done->second.second;
        Status st = co_await wait_durable(seq);
        if (!st.ok()) {
          rep.err = EIO;
          reply = rep.encode();
        }
        conn->reply(frame.header.req_id, kMsgMdsRequest, std::move(reply));
        co_return;
      }
    }
  }
  Caller caller{req->uid, req->gid, static_cast<int64_t>(net::wall_ns())};
  Txn txn;
  bool creates = req->op == MdsOp::kCreate || req->op == MdsOp::kMknod || req->op == MdsOp::kSymlink;
  if (req->replay && creates) ns_.prefer_ino(req->ino2);
  dispatch(*req, caller, &session, &rep, &txn);
  ns_.prefer_ino(0);
  if (rep.err == 0) {
    // The directories a namespace change touched, as they are now: the
    // client answers the kernel's next getattr of them itself.
    Ino dirs[2] = {0, 0};
    switch (req->op) {
      case MdsOp::kCreate: case MdsOp::kMknod: case MdsOp::kSymlink: case MdsOp::kUnlink:
      case MdsOp::kRmdir: dirs[0] = req->ino; break;
      case MdsOp::kLink: dirs[0] = req->ino2; break;
      case MdsOp::kRename: dirs[0] = req->ino; dirs[1] = req->ino2 != req->ino ? req->ino2 : 0; break;
      default: break;
    }
    for (Ino d : dirs) {
      if (const Inode* i = d != 0 ? ns_.find(d) : nullptr) rep.inodes.push_back(*i);
    }
  }
  for (Purge& p : ns_.take_purges()) {
    // A truncate's cut must be gone before the caller writes again (so wait
    // for it); deleted files' data goes in the background.
    if (req->op != MdsOp::kSetattr || ns_.find(p.ino) == nullptr) {
      purges_.push_back(p);
      continue;
    }
    Purge now = p;
    if (!txn.empty()) {
      Txn copy = txn;
      uint64_t seq = submit(std::move(txn));
      txn.clear();
      NotifyTargets targets = notify_others(copy, session_id);
      if (Status st = co_await wait_durable(seq); !st.ok()) rep.err = EIO;
      co_await wait_acks(session_id, std::move(targets));
    }
    if (Status st = co_await purge(now); !st.ok()) rep.err = EIO;
  }
  // A client is answered once every change it may have seen from others is
  // durable: its answer then depends only on durable state and its own
  // changes, which it resends in order should this MDS fail. Its own
  // mutations are answered early (unsafe) and confirmed by an MdsSafe.
  uint64_t seq = 0;
  NotifyTargets targets;
  if (!txn.empty()) {
    Txn copy = txn;
    seq = submit(std::move(txn), session_id, req->tid, rep.encode());  // resends get the safe reply
    targets = notify_others(copy, session_id);
  }
  uint64_t wait_for = 0;
  if (seq != 0 || (req->op != MdsOp::kRelease && req->op != MdsOp::kSetlk)) {
    wait_for = foreign_in_flight(session_id, seq != 0 ? seq : next_seq_);
  }
  if (req->op == MdsOp::kSync) wait_for = next_seq_ - 1;  // this client's own changes too
  Status st = co_await wait_durable(wait_for);
  co_await wait_acks(session_id, std::move(targets));
  if (st.ok() && seq != 0 && durable_seq_ < seq) {
    if (req->tid != 0) {
      rep.unsafe = true;
      unsafe_[seq] = {session_id, req->tid};
    } else {
      st = co_await wait_durable(seq);
    }
  }
  if (!st.ok()) rep.err = EIO;
  if (req->op == MdsOp::kStatfs) {
    rep.statfs.total_bytes = ns_.total_bytes();
  }
  conn->reply(frame.header.req_id, kMsgMdsRequest, rep.encode());
}

std::string Mds::status_json() const {
  nlohmann::json j;
  j["name"] = opts_.name;
  j["state"] = state_;
  j["addr"] = server_ ? opts_.addr : "";
  j["fs"] = opts_.fs_name;
  j["inodes"] = ns_.inode_count();
  j["directories"] = ns_.dir_count();
  j["bytes"] = ns_.total_bytes();
  j["locks"] = locks_.count();
  j["journal"] = {{"durable_seq", durable_seq_}, {"checkpoint_seq", tail_seq_},
                  {"segments", segment_ - first_segment_ + 1}};
  nlohmann::json sessions = nlohmann::json::array();
  for (const auto& [id, s] : sessions_) {
    size_t opens = 0;
    for (const auto& [ino, n] : s.opens) opens += n;
    sessions.push_back({{"id", id},
                        {"client", s.name},
                        {"open_files", opens},
                        {"connected", s.disconnected_ms == 0}});
  }
  j["sessions"] = sessions;
  return j.dump();
}

// ---- lifecycle ----

awaitable<Status> Mds::run() {
  auto ex = co_await asio::this_coro::executor;
  wake_journal_ = std::make_unique<net::Notifier>(ex);
  durable_ = std::make_unique<net::Notifier>(ex);
  wake_purge_ = std::make_unique<net::Notifier>(ex);
  gate_open_ = std::make_unique<net::Notifier>(ex);
  acked_ = std::make_unique<net::Notifier>(ex);
  loops_done_ = std::make_unique<net::Notifier>(ex);

  // Pools come from `cairnctl fs new` (cairn up runs it); wait for them.
  for (;;) {
    auto m = cluster_.pool_id(meta_pool_name(opts_.fs_name));
    auto d = cluster_.pool_id(data_pool_name(opts_.fs_name));
    if (m.ok() && d.ok()) {
      meta_ = *m;
      data_ = *d;
      break;
    }
    if (stopping_) co_return Status::Shutdown("stopped");
    spdlog::info("waiting for pools {} and {} (create them with `cairnctl fs new {}`)",
                 meta_pool_name(opts_.fs_name), data_pool_name(opts_.fs_name), opts_.fs_name);
    co_await net::sleep_for(milliseconds(2000));
  }

  server_ = std::make_unique<net::Server>(ex, opts_.key,
                                          [this](net::ConnectionPtr c, net::Frame f) {
                                            return handle(std::move(c), std::move(f));
                                          });
  // Bind first so the lock can name a real address; requests wait for load.
  auto bound = server_->listen(opts_.addr);
  if (!bound.ok()) co_return bound.status();
  server_->stop();
  opts_.addr = *bound;
  owner_ = opts_.name + "@" + opts_.addr;

  spdlog::info("{} is standby for filesystem {}; waiting for the MDS lease", opts_.name,
               opts_.fs_name);
  std::string last_holder;
  for (;;) {
    if (stopping_) co_return Status::Shutdown("stopped");
    Status st = co_await acquire_lease();
    if (st.ok()) break;
    if (st.message() != last_holder) {
      spdlog::info("lease not available: {}", st.to_string());
      last_holder = st.message();
    }
    co_await net::sleep_for(milliseconds(std::max<uint64_t>(opts_.lease_ms / 5, 100)));
  }
  state_ = "replay";
  spdlog::info("{} holds the MDS lease; loading the namespace", opts_.name);
  asio::co_spawn(ex, lease_loop(), asio::detached);
  Status st = co_await load();
  if (!st.ok()) {
    spdlog::error("loading the namespace failed: {}", st.to_string());
    co_return st;
  }
  if (ns_.find(kRootIno) == nullptr) {
    spdlog::info("new filesystem {}: creating the root directory", opts_.fs_name);
    Txn txn = Namespace::format(Caller{0, 0, static_cast<int64_t>(net::wall_ns())});
    for (const Update& u : txn) ns_.apply(u);
    uint64_t seq = submit(std::move(txn));
    asio::co_spawn(ex, journal_loop(), asio::detached);
    st = co_await wait_durable(seq);
    if (!st.ok()) co_return st;
  } else {
    asio::co_spawn(ex, journal_loop(), asio::detached);
  }
  if (!known_sessions_.empty()) {
    awaiting_replay_ = known_sessions_;
    replay_gate_ = true;
    gate_deadline_ms_ = net::now_ms() + opts_.reconnect_timeout_ms;
    spdlog::info("waiting up to {} ms for {} client sessions to reconnect and resend unsafe requests",
                 opts_.reconnect_timeout_ms, awaiting_replay_.size());
  }
  asio::co_spawn(ex, checkpoint_loop(), asio::detached);
  asio::co_spawn(ex, session_loop(), asio::detached);
  asio::co_spawn(ex, purge_loop(), asio::detached);

  server_ = std::make_unique<net::Server>(ex, opts_.key,
                                          [this](net::ConnectionPtr c, net::Frame f) {
                                            return handle(std::move(c), std::move(f));
                                          });
  bound = server_->listen(opts_.addr);
  if (!bound.ok()) co_return bound.status();
  state_ = "active";
  spdlog::info("{} is active for filesystem {} on {}: {} inodes, {} directories", opts_.name,
               opts_.fs_name, opts_.addr, ns_.inode_count(), ns_.dir_count());
  while (!stopping_) co_await loops_done_->wait_for(milliseconds(1000));
  co_return fatal_;
}

awaitable<void> Mds::stop() {
  if (stopping_ && loops_running_ == 0) co_return;
  stopping_ = true;
  if (server_) server_->stop();
  if (wake_journal_) wake_journal_->notify_all();
  if (wake_purge_) wake_purge_->notify_all();
  if (durable_) durable_->notify_all();
  while (loops_running_ > 0) co_await loops_done_->wait_for(milliseconds(200));
  // Leave the objects current so the next MDS replays little.
  if (state_ == "active" && fatal_.ok()) {
    Status st = co_await checkpoint();
    if (!st.ok()) spdlog::warn("final checkpoint: {}", st.to_string());
    // Hand the lease back at once rather than making a standby wait it out.
    std::string mine = encode_lock(LockHolder{owner_, lease_expires_ms_});
    std::vector<ObjectOp> release = client::ops(xattr_op(OpCode::kCmpXattr, kLockXattr, mine),
                                             xattr_op(OpCode::kRmXattr, kLockXattr));
    auto r = co_await cluster_.async_execute(meta_, kMdsLockObject, std::move(release));
    (void)r;
  }
  state_ = "stopped";
}

}  // namespace cairn::fs
