// Client ops on the primary and replica ops.
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cinttypes>
#include <cstdio>

#include "common/net/blocking.h"
#include "common/net/sleep.h"
#include "common/net/daemon.h"
#include "osd/core/op_planner.h"
#include "osd/service/osd_service.h"

namespace cairn::osd {

namespace asio = boost::asio;
using net::awaitable;
using net::Millis;

using net::sleep_for;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr Millis kActiveWait{10000};
constexpr Millis kRepOpTimeout{10000};
constexpr Millis kRepOpGiveUp{60000};


std::string log_key(uint64_t version) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "log/%016" PRIx64, version);
  return buf;
}

// Consumes m's payload (moved into the transaction: no copy of the data).
void apply_mutation(Transaction& txn, CollectionId cid, const std::string& name, ObjectOp& m) {
  switch (m.code) {
    case OpCode::kWriteFull: txn.write_full(cid, name, std::move(m.data)); break;
    case OpCode::kWrite: txn.write(cid, name, m.offset, std::move(m.data)); break;
    case OpCode::kTruncate: txn.truncate(cid, name, m.offset); break;
    case OpCode::kRemove: txn.remove(cid, name); break;
    case OpCode::kTouch: txn.touch(cid, name); break;
    case OpCode::kSetXattr: txn.setxattr(cid, name, m.key, m.value); break;
    case OpCode::kRmXattr: txn.rmxattr(cid, name, m.key); break;
    case OpCode::kOmapSet: txn.omap_set(cid, name, m.kvs); break;
    case OpCode::kOmapRm: txn.omap_rm(cid, name, m.keys); break;
    case OpCode::kOmapClear: txn.omap_clear(cid, name); break;
    default: break;  // reads never reach here (the planner rejects them)
  }
}

// Counts down outstanding sub-operations; wait() returns when all are done.
struct Latch {
  explicit Latch(asio::any_io_executor ex, size_t n)
      : count(n), timer(ex, asio::steady_timer::time_point::max()) {}
  void done() {
    if (--count == 0) timer.cancel();
  }
  awaitable<void> wait() {
    if (count > 0) co_await timer.async_wait(kNoThrow);
  }
  size_t count;
  asio::steady_timer timer;
};
}  // namespace

awaitable<void> OsdService::lock_object(PgPtr pg, std::string name) {
  auto& q = pg->object_queues[name];
  auto t = std::make_shared<asio::steady_timer>(io_.get_executor(),
                                                asio::steady_timer::time_point::max());
  q.push_back(t);
  if (q.size() > 1) co_await t->async_wait(kNoThrow);
}

void OsdService::unlock_object(Pg& pg, const std::string& name) {
  auto it = pg.object_queues.find(name);
  if (it == pg.object_queues.end()) return;
  it->second.pop_front();
  if (it->second.empty()) {
    pg.object_queues.erase(it);
  } else {
    it->second.front()->cancel();
  }
}

void OsdService::record_entry(Pg& pg, const LogEntry& entry, Transaction& txn) {
  pg.last_update = std::max(pg.last_update, entry.version);
  pg.log.push_back(entry);
  if (entry.client_id != 0) pg.dedup[{entry.client_id, entry.tid}] = entry.version;
  std::string e;
  Encoder enc(&e);
  entry.encode(enc);
  txn.meta_put(pg.cid, log_key(entry.version), std::move(e));
  while (pg.log.size() > opts_.max_log_entries) {
    const LogEntry& old = pg.log.front();
    txn.meta_rm(pg.cid, log_key(old.version));
    pg.dedup.erase({old.client_id, old.tid});
    pg.log.pop_front();
  }
  txn.meta_put(pg.cid, "info", encode_pg_info(pg));
}

std::string encode_pg_info(const Pg& pg) {
  std::string info;
  Encoder ie(&info);
  ie.u64(pg.last_update);
  ie.u64(pg.objects);
  ie.i64(pg.bytes);
  // A lower bound (entries in flight commit later): at start-up the log
  // entries after it rebuild the chain.
  ie.u64(pg.chain.complete());
  return info;
}

void OsdService::replace_log(Pg& pg, const std::vector<LogEntry>& log, Transaction& txn) {
  std::set<uint64_t> keep, have;
  for (const auto& e : log) keep.insert(e.version);
  for (const auto& e : pg.log) {
    have.insert(e.version);
    if (!keep.count(e.version)) txn.meta_rm(pg.cid, log_key(e.version));
  }
  for (const auto& e : log) {
    if (have.count(e.version)) continue;
    std::string enc;
    Encoder ee(&enc);
    e.encode(ee);
    txn.meta_put(pg.cid, log_key(e.version), std::move(enc));
  }
  pg.log.assign(log.begin(), log.end());
  pg.dedup.clear();
  for (const auto& e : pg.log) {
    if (e.client_id != 0) pg.dedup[{e.client_id, e.tid}] = e.version;
  }
  pg.unacked.clear();
}

awaitable<OsdOpReply> OsdService::do_op(OsdOpRequest req) {
  OsdOpReply reply;
  ops_counter_->inc();
  if (req.map_epoch > map_.epoch) {
    // The client has seen a newer map: we must not act on an older one.
    (void)co_await mon_->wait_for_map(req.map_epoch, Millis(2000));
    if (req.map_epoch > map_.epoch) {
      mon_->refresh();
      reply.head = stale("osd." + std::to_string(opts_.id) + " has not seen map epoch " +
                         std::to_string(req.map_epoch) + " yet");
      co_return reply;
    }
  }
  const PoolInfo* pool = map_.find_pool(req.pool);
  if (!pool) {
    reply.head.status = Status::NotFound("pool " + std::to_string(req.pool) + " does not exist");
    co_return reply;
  }
  if (Status st = validate_object_name(req.object); !st.ok()) {
    reply.head.status = st;
    co_return reply;
  }
  PgId id = object_to_pg(*pool, req.object);
  if (id.seed != req.pg) {
    reply.head = stale("object maps to PG " + id.to_string() + " in epoch " + std::to_string(map_.epoch));
    co_return reply;
  }
  PgPtr pg = get_pg(id, false);
  if (!pg || pg->up.empty() || pg->up[0] != opts_.id || pg->state == PgState::kStray) {
    reply.head = stale("osd." + std::to_string(opts_.id) + " is not the primary of PG " + id.to_string());
    co_return reply;
  }
  if (pg->up.size() < pool->min_size) {
    reply.head = stale("PG " + id.to_string() + " has " + std::to_string(pg->up.size()) +
                       " copies up, fewer than min_size " + std::to_string(pool->min_size));
    co_return reply;
  }
  auto deadline = std::chrono::steady_clock::now() + kActiveWait;
  uint64_t gen = pg->peering_gen;
  while ((pg->state == PgState::kPeering || (pg->paused && has_writes(req.ops))) &&
         gen == pg->peering_gen && pg->blocked_by.empty()) {
    if (std::chrono::steady_clock::now() >= deadline) break;
    co_await pg->state_changed.wait_until(deadline);
  }
  if (!pg->blocked_by.empty()) {
    std::string who;
    for (OsdId o : pg->blocked_by) who += (who.empty() ? "osd." : ", osd.") + std::to_string(o);
    reply.head = stale("PG " + id.to_string() + " is down: waiting for " + who +
                       ", which may hold acknowledged writes");
    co_return reply;
  }
  if (pg->state != PgState::kActive || gen != pg->peering_gen) {
    reply.head = stale("PG " + id.to_string() + " is not active yet (peering)");
    co_return reply;
  }
  if (pg->paused && has_writes(req.ops)) {
    reply.head = stale("PG " + id.to_string() + " is admitting a backfilled member");
    co_return reply;
  }
  // Maps that arrived while we waited replaced map_, and `pool` with it:
  // look it up again (a dangling pool here once sent a write to another
  // pool's PG on the replicas).
  pool = map_.find_pool(req.pool);
  if (!pool) {
    reply.head.status = Status::NotFound("pool " + std::to_string(req.pool) + " was deleted");
    co_return reply;
  }
  if (has_writes(req.ops)) co_return co_await do_write(pg, *pool, std::move(req));
  co_return co_await do_read(pg, std::move(req));
}

awaitable<OsdOpReply> OsdService::do_read(PgPtr pg, OsdOpRequest req) {
  CollectionId cid = pg->cid;
  OsdOpReply reply = co_await net::run_blocking(store_pool_, [&] {
    OsdOpReply r;
    for (const auto& op : req.ops) {
      OpResult res;
      switch (op.code) {
        case OpCode::kRead: {
          auto data = store_->read(cid, req.object, op.offset, op.length);
          if (data.ok()) res.data = std::move(*data);
          else res.status = data.status();
          break;
        }
        case OpCode::kStat: {
          auto st = store_->stat(cid, req.object);
          if (st.ok()) {
            res.size = st->size;
            res.version = st->version;
            res.mtime_ns = st->mtime_ns;
          } else {
            res.status = st.status();
          }
          break;
        }
        case OpCode::kGetXattr: {
          auto v = store_->getxattr(cid, req.object, op.key);
          if (v.ok()) res.data = std::move(*v);
          else res.status = v.status();
          break;
        }
        case OpCode::kGetXattrs: {
          auto v = store_->getxattrs(cid, req.object);
          if (v.ok()) res.kvs = std::move(*v);
          else res.status = v.status();
          break;
        }
        case OpCode::kOmapGet: {
          auto v = store_->omap_get(cid, req.object, op.keys);
          if (v.ok()) res.kvs = std::move(*v);
          else res.status = v.status();
          break;
        }
        case OpCode::kOmapList: {
          size_t max = op.length == 0 || op.length > 10000 ? 10000 : op.length;
          bool more = false;
          auto v = store_->omap_list(cid, req.object, op.key, op.value, max, &more);
          if (v.ok()) {
            for (auto& [k, val] : *v) res.kvs.emplace(std::move(k), std::move(val));
            res.more = more;
          } else {
            res.status = v.status();
          }
          break;
        }
        case OpCode::kCmpXattr: {
          auto v = store_->getxattr(cid, req.object, op.key);
          bool match = v.ok() ? *v == op.value : op.value.empty();
          if (!match) res.status = Status::Conflict("xattr '" + op.key + "' does not match");
          break;
        }
        default:
          res.status = Status::InvalidArgument("unknown op");
      }
      if (r.head.status.ok() && !res.status.ok()) r.head.status = res.status;
      r.results.push_back(std::move(res));
    }
    return r;
  });
  for (const auto& r : reply.results) read_bytes_->inc(r.data.size());
  co_return reply;
}

awaitable<OsdOpReply> OsdService::do_write(PgPtr pg, const PoolInfo& pool_ref, OsdOpRequest req) {
  OsdOpReply reply;
  PoolInfo pool = pool_ref;  // the map may change while we wait
  uint64_t gen = pg->peering_gen;
  co_await lock_object(pg, req.object);
  struct Unlock {
    OsdService* self;
    PgPtr pg;
    std::string name;
    ~Unlock() { self->unlock_object(*pg, name); }
  } unlock{this, pg, req.object};

  if (gen != pg->peering_gen || pg->state != PgState::kActive) {
    reply.head = stale("PG " + pg->id.to_string() + " changed while the op waited");
    co_return reply;
  }
  if (pg->unacked_gen != gen) {
    pg->unacked.clear();
    pg->unacked_gen = gen;
  }
  // A resent request that already applied: answer as the first time did.
  auto dup = pg->dedup.find({req.client_id, req.tid});
  if (req.client_id != 0 && dup != pg->dedup.end()) {
    if (pg->unacked.count(dup->second)) {
      // Acking now would claim copies the first attempt never made.
      reply.head = stale("PG " + pg->id.to_string() + ": an earlier attempt of this write did " +
                         "not reach enough copies; it is decided when the PG peers again");
      co_return reply;
    }
    reply.version = dup->second;
    reply.results.resize(req.ops.size());
    co_return reply;
  }

  bool want_xattrs = needs_xattrs(req.ops);
  CollectionId cid = pg->cid;
  std::string name = req.object;
  auto state = co_await net::run_blocking(store_pool_, [&]() -> Result<ObjectState> {
    ObjectState s;
    auto st = store_->stat(cid, name);
    if (st.ok()) {
      s.exists = true;
      s.size = st->size;
    } else if (!st.status().is(Code::kNotFound)) {
      return st.status();
    }
    if (s.exists && want_xattrs) {
      auto x = store_->getxattrs(cid, name);
      if (!x.ok()) return x.status();
      s.xattrs = std::move(*x);
    }
    return s;
  });
  if (!state.ok()) {
    reply.head.status = state.status();
    co_return reply;
  }
  WritePlan plan = plan_write(*state, req.ops, kMaxObjectSize);
  if (!plan.status.ok()) {
    reply.head.status = plan.status;
    reply.results = std::move(plan.results);
    co_return reply;
  }
  bool frees_space = plan.deletes_object;
  if (!frees_space && map_.services.count(pool_full_key(pool.id))) {
    reply.head.status = Status::NoSpace("pool '" + pool.name + "' is full (quota " +
                                        std::to_string(pool.max_bytes) + " bytes)");
    co_return reply;
  }
  if (!frees_space && disk_full()) {
    reply.head.status = Status::NoSpace("osd." + std::to_string(opts_.id) + " is full");
    co_return reply;
  }
  // A full replica would fail the write after we applied it; the monitor
  // flags full OSDs in the map (from their reports).
  for (OsdId m : pg->up) {
    if (!frees_space && m != opts_.id && map_.services.count(osd_full_key(m))) {
      reply.head.status = Status::NoSpace("osd." + std::to_string(m) + " is full");
      co_return reply;
    }
  }
  if (gen != pg->peering_gen || pg->state != PgState::kActive) {
    reply.head = stale("PG " + pg->id.to_string() + " changed while the op ran");
    co_return reply;
  }
  // A backfill cut-over started while we read the object: it copies what
  // it lists once the writes in flight are done, and this one would skip
  // the target and miss that list. The client resends.
  if (pg->paused) {
    reply.head = stale("PG " + pg->id.to_string() + " is admitting a backfilled member");
    co_return reply;
  }

  // Order it: the next version in this PG's log.
  uint64_t base = map_.epoch << 32;
  uint64_t version = std::max(pg->last_update + 1, base + 1);
  LogEntry entry{version, req.object, plan.deletes_object, req.client_id, req.tid, pg->last_update};
  uint64_t mtime = net::wall_ns();
  uint64_t new_size = 0;
  for (const auto& m : plan.mutations) {
    if (m.code == OpCode::kWriteFull) new_size = m.data.size();
    else if (m.code == OpCode::kWrite) new_size = std::max(new_size, m.offset + m.data.size());
    write_bytes_->inc(m.data.size());
    note_disk_write(m.data.size());
  }
  if (plan.deletes_object) ++removed_since_reclaim_;
  if (!state->exists && !plan.deletes_object) pg->objects++;
  if (state->exists && plan.deletes_object && pg->objects > 0) pg->objects--;
  pg->bytes += plan.deletes_object ? -static_cast<int64_t>(state->size)
                                   : static_cast<int64_t>(std::max(new_size, state->size)) -
                                         static_cast<int64_t>(state->size);

  // Encode the replica op first: the transaction then takes the payloads
  // without copying them.
  RepOpRequest rep{pg->id.pool, pg->id.seed, map_.epoch, entry, mtime, std::move(plan.mutations),
                   pg->objects, pg->bytes};
  std::string payload = rep.encode();
  Transaction txn;
  for (auto& m : rep.mutations) apply_mutation(txn, cid, req.object, m);
  if (!plan.deletes_object) txn.set_version(cid, req.object, version, mtime);
  record_entry(*pg, entry, txn);
  std::vector<OsdId> replicas;
  for (size_t i = 1; i < pg->up.size(); ++i) {
    if (!pg->backfill_targets.count(pg->up[i])) replicas.push_back(pg->up[i]);
  }
  ++pg->inflight_writes;
  struct InflightGuard {
    PgPtr pg;
    ~InflightGuard() {
      if (--pg->inflight_writes == 0) pg->notify();
    }
  } inflight_guard{pg};

  // Local apply and replica sends run in parallel; ack when all are done.
  auto latch = std::make_shared<Latch>(io_.get_executor(), replicas.size() + 1);
  auto local = std::make_shared<Status>();
  auto acks = std::make_shared<size_t>(0);
  auto interval_changed = std::make_shared<bool>(false);
  auto replica_failed = std::make_shared<Status>();
  asio::co_spawn(
      io_,
      [](OsdService* self, Transaction t, std::shared_ptr<Status> out,
         std::shared_ptr<Latch> l) -> awaitable<void> {
        *out = co_await net::run_blocking(self->store_pool_, [&]() {
          return self->store_->submit(std::move(t));
        });
        l->done();
      }(this, std::move(txn), local, latch),
      asio::detached);
  for (OsdId r : replicas) {
    asio::co_spawn(
        io_,
        [](OsdService* self, PgPtr pg, OsdId r, std::string payload, uint64_t gen,
           std::shared_ptr<size_t> acks, std::shared_ptr<bool> changed,
           std::shared_ptr<Status> failed, std::shared_ptr<Latch> l) -> awaitable<void> {
          Status st = co_await self->send_repop(pg, r, std::move(payload), gen);
          // Not an ack: a new interval (Unavailable), or a replica whose own
          // write failed (it would lack an acked write until the next peering).
          // A replica the map marks down (NotFound) is fine: peering catches
          // it up when it returns.
          if (st.ok()) ++*acks;
          else if (st.is(Code::kUnavailable)) *changed = true;
          else if (!st.is(Code::kNotFound) && failed->ok()) *failed = st;
          l->done();
        }(this, pg, r, payload, gen, acks, interval_changed, replica_failed, latch),
        asio::detached);
  }
  co_await latch->wait();
  if (local->ok()) pg->chain.committed(entry.version, entry.prior);

  if (!local->ok()) {
    spdlog::error("PG {}: local write of {} failed: {}", pg->id.to_string(), req.object,
                  local->to_string());
    if (gen == pg->peering_gen) pg->unacked.insert(version);
    reply.head.status = *local;
    co_return reply;
  }
  size_t copies = *acks + 1;
  if (!replica_failed->ok()) {
    // An up replica that failed its write would lack an acked write until
    // the PG peers again: the write is not acked (ENOSPC stays ENOSPC).
    if (gen == pg->peering_gen) pg->unacked.insert(version);
    if (replica_failed->is(Code::kNoSpace)) {
      reply.head.status = *replica_failed;
    } else {
      reply.head.status = Status::Unavailable("PG " + pg->id.to_string() +
                                              ": a replica failed the write: " + replica_failed->to_string());
    }
    co_return reply;
  }
  // The interval changed while the write was applied: the new primary may
  // already have gathered the logs without it. Do not ack; the client
  // resends to the new primary (which answers from its dedup table if the
  // write reached it).
  if (gen != pg->peering_gen) *interval_changed = true;
  if (*interval_changed || copies < pool.min_size) {
    if (gen == pg->peering_gen) pg->unacked.insert(version);
    reply.head = stale("PG " + pg->id.to_string() + " changed before the write reached min_size (" +
                       std::to_string(copies) + " of " + std::to_string(pool.min_size) + ")");
    co_return reply;
  }
  reply.version = version;
  reply.results = std::move(plan.results);
  co_return reply;
}

awaitable<Status> OsdService::send_repop(PgPtr pg, OsdId to, std::string payload, uint64_t gen) {
  auto give_up = std::chrono::steady_clock::now() + kRepOpGiveUp;
  int attempt = 0;
  while (!stopped_) {
    if (gen != pg->peering_gen) co_return Status::Unavailable("interval changed");
    // A replica the map has marked down is no longer waited for: the write
    // proceeds degraded and recovery brings it back when it returns.
    if (!map_.osd_is_up(to)) co_return Status::NotFound("replica is down");
    if (std::chrono::steady_clock::now() > give_up) co_return Status::Unavailable("replica timed out");
    const OsdInfo* osd = map_.find_osd(to);
    auto r = co_await peers_->call(osd->addr, static_cast<uint16_t>(MsgType::kRepOp), payload,
                                   kRepOpTimeout);
    if (r.ok()) {
      Decoder d(r->payload);
      auto head = StatusReply::decode(d);
      if (head.ok() && head->status.ok()) co_return Status::Ok();
      if (head.ok() && head->status.is(Code::kUnavailable) && head->epoch > map_.epoch) {
        // The replica refused us from a newer map: our interval is over even
        // if the monitors cannot tell us (a primary cut off from them).
        // Fail now, so that the client goes to the new primary instead of
        // waiting for us.
        mon_->refresh();
        co_return Status::Unavailable("osd." + std::to_string(to) + " has a newer map (epoch " +
                                      std::to_string(head->epoch) + ")");
      }
      if (head.ok() && !head->status.is(Code::kUnavailable)) {
        spdlog::error("PG {}: osd.{} failed a replica write: {}", pg->id.to_string(), to,
                      head->status.to_string());
        co_return head->status;
      }
    }
    if (++attempt == 3) {
      spdlog::warn("PG {}: waiting for osd.{} to acknowledge a write ({})", pg->id.to_string(), to,
                   r.ok() ? "replica not ready" : r.status().message());
    }
    co_await sleep_for(Millis(std::min(500, 50 * attempt)));
  }
  co_return Status::Shutdown("stopping");
}

awaitable<StatusReply> OsdService::do_repop(RepOpRequest req) {
  StatusReply reply;
  PgId id{req.pool, req.pg};
  if (req.map_epoch > map_.epoch) (void)co_await mon_->wait_for_map(req.map_epoch, Millis(2000));
  PgPtr pg = get_pg(id, map_.find_pool(req.pool) != nullptr);
  if (!pg) co_return stale("no such pool");
  // A primary from an older interval must not write behind the new one's back.
  if (req.map_epoch < pg->interval_start) co_return stale("replica op from an older interval");
  co_await lock_object(pg, req.entry.object);
  pg->objects = req.pg_objects;
  pg->bytes = req.pg_bytes;
  Transaction txn;
  for (const auto& m : req.mutations) {
    write_bytes_->inc(m.data.size());
    note_disk_write(m.data.size());
  }
  for (auto& m : req.mutations) apply_mutation(txn, pg->cid, req.entry.object, m);
  if (!req.entry.is_delete) txn.set_version(pg->cid, req.entry.object, req.entry.version, req.mtime_ns);
  else ++removed_since_reclaim_;
  record_entry(*pg, req.entry, txn);
  Status st = co_await net::run_blocking(store_pool_, [&]() {
    return store_->submit(std::move(txn));
  });
  unlock_object(*pg, req.entry.object);
  if (st.ok()) pg->chain.committed(req.entry.version, req.entry.prior);
  repops_counter_->inc();
  reply.status = st;
  reply.epoch = map_.epoch;
  co_return reply;
}

awaitable<PgListReply> OsdService::do_list(PgListRequest req) {
  PgListReply reply;
  PgPtr pg = get_pg(PgId{req.pool, req.pg}, false);
  if (!pg) {
    // Nothing stored here for that PG (yet): an empty list is the truth.
    reply.head.epoch = map_.epoch;
    co_return reply;
  }
  CollectionId cid = pg->cid;
  size_t max = std::clamp<size_t>(req.max, 1, 10000);
  bool more = false;
  auto list = co_await net::run_blocking(store_pool_, [&] {
    return store_->list_objects(cid, req.after, max, &more);
  });
  if (!list.ok()) {
    reply.head.status = list.status();
    co_return reply;
  }
  for (auto& [name, st] : *list) reply.objects.emplace_back(std::move(name), st.version);
  reply.more = more;
  reply.head.epoch = map_.epoch;
  co_return reply;
}

}  // namespace cairn::osd
