// Peering and recovery.
//
// When a PG's up set changes, its primary asks every up member for its PG
// log head (last_update) and how far its log is complete (no gap: writes to
// one PG commit out of order; see osd/core/log_chain.h). The member with the
// longest complete log is authoritative: every acked write reached every up
// replica, so that log holds them all. If that is not the primary, the
// primary first pulls the differences from it; then it pushes the
// differences to every member that is behind (whose log is shorter, or runs
// past a gap).
// Differences are found by comparing object lists with versions, so a member
// that missed deletes, or holds unacked writes from an old interval, ends up
// identical to the authoritative copy, and it takes the authoritative log
// too: its dedup table must not answer a resent write it alone had applied
// (recovery has just overwritten it). Only then does the PG go active.
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/net/blocking.h"
#include "common/net/sleep.h"
#include "osd/service/osd_service.h"

namespace cairn::osd {

namespace asio = boost::asio;
using net::awaitable;
using net::Millis;

using net::sleep_for;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr Millis kPeerTimeout{10000};
constexpr size_t kPushBatchBytes = 8u << 20;
constexpr size_t kPushBatchObjects = 64;
constexpr int kMaxBulkPasses = 4;
// Keys below this in a prior-set input are histories remembered from earlier
// rounds, not OSDs heard from now.
constexpr OsdId kRememberedHistory = -1000000;

}  // namespace

awaitable<void> OsdService::acquire_recovery_slot() {
  while (recovery_active_ >= opts_.recovery_max_active && !stopped_) {
    co_await recovery_slots_->wait_for(Millis(200));
  }
  ++recovery_active_;
}

void OsdService::release_recovery_slot() {
  --recovery_active_;
  recovery_slots_->notify_all();
}

awaitable<void> OsdService::peer(PgPtr pg, uint64_t gen) {
  int attempt = 0;
  auto started = std::chrono::steady_clock::now();
  while (!stopped_ && gen == pg->peering_gen) {
    if (attempt++ > 0) co_await sleep_for(Millis(std::min(2000, 200 * attempt)));
    if (gen != pg->peering_gen) co_return;
    // A copy: the map (and its pools) is replaced while we wait below.
    const PoolInfo* found = map_.find_pool(pg->id.pool);
    if (!found) co_return;
    const PoolInfo pool = *found;
    const std::vector<OsdId> members = pg->up;
    const Interval* current = pg->history.current();
    const Epoch current_first = current ? current->first : map_.epoch;
    // 1. Gather log heads and histories: from the up set first, then from
    // whoever the past intervals say may hold acked writes.
    std::map<OsdId, uint64_t> heads;      // newest entry applied
    std::map<OsdId, uint64_t> completes;  // newest entry with no gap before it
    std::map<OsdId, PgHistory> histories;
    std::map<OsdId, std::vector<LogEntry>> logs;  // from members that sent theirs
    heads[opts_.id] = pg->last_update;
    completes[opts_.id] = pg->chain.complete();
    histories[opts_.id] = pg->history;
    std::set<OsdId> ask(members.begin(), members.end());
    ask.erase(opts_.id);
    PriorSet prior;
    bool ok = true;
    for (size_t round = 0; ok; ++round) {
      for (OsdId m : ask) {
        const OsdInfo* osd = map_.find_osd(m);
        if (!osd) {
          ok = false;
          break;
        }
        PgRef ref{pg->id.pool, pg->id.seed, map_.epoch};
        auto r = co_await peers_->call(osd->addr, static_cast<uint16_t>(MsgType::kPgInfo),
                                       ref.encode(), kPeerTimeout);
        if (!r.ok()) {
          ok = false;
          break;
        }
        auto info = PgInfoReply::decode(r->payload);
        if (!info.ok() || !info->head.status.ok()) {
          ok = false;
          break;
        }
        auto h = PgHistory::decode(info->history);
        if (!h.ok()) {
          spdlog::warn("PG {}: osd.{} sent an unreadable history: {}", pg->id.to_string(), m,
                       h.status().to_string());
          ok = false;
          break;
        }
        heads[m] = info->last_update;
        completes[m] = info->last_complete;
        histories[m] = std::move(*h);
        if (info->has_log) logs[m] = std::move(info->log);
      }
      if (!ok || gen != pg->peering_gen) break;
      std::set<OsdId> up_osds, exists;
      for (const auto& [id, osd] : map_.osds) {
        exists.insert(id);
        if (osd.up) up_osds.insert(id);
      }
      // What members told us in earlier rounds still counts after they go
      // down: a new primary that heard osd.N held acked writes, and then lost
      // it mid-pull, must wait for osd.N, not go active with what it has.
      // (Keyed apart from the OSDs heard now: being remembered is not being
      // heard.)
      bool heard_new = false;
      for (const auto& [m, h] : histories) {
        if (m == opts_.id) continue;
        auto [it, added] = pg->heard_histories.try_emplace(m, h);
        if (added || !(it->second == h)) {
          it->second = h;
          heard_new = true;
        }
      }
      // Kept on disk too, so that a restart of ours does not forget them.
      if (heard_new) history_changed(*pg);
      std::map<OsdId, PgHistory> for_prior = histories;
      for (const auto& [m, h] : pg->heard_histories) {
        if (!histories.count(m)) for_prior[kRememberedHistory - m] = h;
      }
      prior = build_prior_set(for_prior, current_first, up_osds, exists);
      ask = prior.probe;
      if (ask.empty() || round >= map_.osds.size()) break;  // each round hears someone new
    }
    if (!ok || gen != pg->peering_gen) continue;
    if (!ask.empty() || prior.blocked()) {
      // Going active now could serve stale copies and lose acked writes.
      if (pg->blocked_by != prior.blocked_by) {
        std::string why;
        for (const auto& r : prior.reasons) why += (why.empty() ? "" : "; ") + r;
        spdlog::warn("PG {} is down: {}", pg->id.to_string(), why);
        pg->blocked_by = prior.blocked_by;
        pg->notify();
      }
      continue;
    }
    if (!pg->blocked_by.empty()) {
      spdlog::info("PG {} is no longer down: heard from osd.{}", pg->id.to_string(),
                   *pg->blocked_by.begin());
      pg->blocked_by.clear();
    }
    // The authority has the longest complete log: a member's entries past a
    // gap were never acked by an interval it served in (an ack needs every
    // acting member), and the rest of its log is in every complete one.
    OsdId auth = opts_.id;
    for (auto [m, complete] : completes) {
      if (std::pair(complete, heads[m]) > std::pair(completes[auth], heads[auth])) auth = m;
    }
    uint64_t auth_head = heads[auth];
    // In sync: the authority's complete log and nothing past it. (We become
    // the authority in step 2.)
    auto synced = [&](OsdId m) {
      return m == opts_.id || (completes[m] == auth_head && heads[m] == auth_head);
    };
    size_t behind = std::count_if(members.begin(), members.end(), [&](OsdId m) { return !synced(m); });
    if (behind > 0 || auth != opts_.id) {
      pg->recovering = true;
      spdlog::info("PG {} peering: osd.{} has the newest log ({:x}); recovering {} member(s)",
                   pg->id.to_string(), auth, auth_head, behind + (auth != opts_.id ? 1 : 0));
    }
    // 2. Make ourselves authoritative (the newest copy may be on an OSD that
    // is no longer in the up set).
    if (auth != opts_.id) {
      auto auth_log = logs.find(auth);
      Status st = co_await pull_all(pg, auth, auth_head, gen,
                                    auth_log == logs.end() ? nullptr : &auth_log->second);
      if (!st.ok()) {
        spdlog::warn("PG {}: pulling from osd.{} failed: {}", pg->id.to_string(), auth, st.to_string());
        continue;
      }
    } else {
      pg->chain.reset(pg->last_update);  // what we hold is the PG's state from here on
    }
    // 3. Members that are behind: if enough are in sync to serve writes
    // (min_size), go active now and catch the others up in the background;
    // otherwise catch them up first.
    std::set<OsdId> behind_set;
    for (OsdId m : members) {
      if (m != opts_.id && !synced(m)) behind_set.insert(m);
    }
    size_t in_sync = members.size() - behind_set.size();
    if (in_sync < pool.min_size) {
      for (OsdId m : behind_set) {
        Status st = co_await push_all(pg, m, gen, PushHead::kSetHead);
        if (!st.ok()) {
          ok = false;
          spdlog::warn("PG {}: pushing to osd.{} failed: {}", pg->id.to_string(), m, st.to_string());
          break;
        }
      }
      if (!ok || gen != pg->peering_gen) continue;
      behind_set.clear();
    }
    // 4. Activate: every up member records durably that this interval went
    // active and who holds every acked write, before any I/O is served.
    std::vector<OsdId> acting;
    for (OsdId m : members) {
      if (!behind_set.count(m)) acting.push_back(m);
    }
    std::sort(acting.begin(), acting.end());
    pg->acting = acting;
    bool clean = behind_set.empty() && members.size() >= pool.size;
    Epoch les = clean ? current_first : 0;
    if (!pg->history.activate(members, acting)) {
      spdlog::warn("PG {}: history does not match the up set; peering again", pg->id.to_string());
      continue;
    }
    if (clean) {
      pg->history.mark_clean(les);
      pg->heard_histories.clear();
    }
    Status st = co_await save_history(pg);
    if (st.ok() && gen == pg->peering_gen) {
      std::set<OsdId> strays;  // they prune their history once the PG is clean
      if (clean) {
        for (const auto& [m, head] : heads) {
          if (std::find(members.begin(), members.end(), m) == members.end()) strays.insert(m);
        }
      }
      st = co_await send_activate(pg, les, std::move(strays), true);
    }
    if (gen != pg->peering_gen) co_return;
    if (!st.ok()) {
      if (!stopped_) spdlog::warn("PG {}: activation failed: {}", pg->id.to_string(), st.to_string());
      continue;
    }
    if (pg->recovering) {
      auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      spdlog::info("PG {} active after {:.1f}s of peering{}", pg->id.to_string(), secs,
                   behind_set.empty() ? "" : "; backfilling the rest in the background");
    }
    pg->recovering = false;
    pg->backfill_targets = behind_set;
    pg->paused = false;
    set_state(*pg, PgState::kActive);
    if (!behind_set.empty()) asio::co_spawn(io_, backfill(pg, gen), asio::detached);
    co_return;
  }
}

awaitable<Status> OsdService::send_activate(PgPtr pg, Epoch last_epoch_clean,
                                            std::set<OsdId> extra, bool wait) {
  PgActivate req;
  req.pool = pg->id.pool;
  req.pg = pg->id.seed;
  req.map_epoch = map_.epoch;
  req.up = pg->up;
  req.acting = pg->acting;
  req.last_epoch_clean = last_epoch_clean;
  const std::string payload = req.encode();
  std::set<OsdId> to = std::move(extra);
  to.insert(req.up.begin(), req.up.end());
  to.erase(opts_.id);
  for (OsdId m : to) {
    bool required = wait && std::find(req.up.begin(), req.up.end(), m) != req.up.end();
    const OsdInfo* osd = map_.find_osd(m);
    Status st;
    if (!osd || !osd->up) {
      st = Status::Unavailable("osd." + std::to_string(m) + " is down");
    } else {
      auto r = co_await peers_->call(osd->addr, static_cast<uint16_t>(MsgType::kPgActivate),
                                     payload, kPeerTimeout);
      if (!r.ok()) {
        st = r.status();
      } else {
        Decoder d(r->payload);
        auto head = StatusReply::decode(d);
        st = head.ok() ? head->status : head.status();
      }
    }
    if (!st.ok() && required) co_return Status::Unavailable("osd." + std::to_string(m) + ": " + st.to_string());
  }
  co_return Status::Ok();
}

awaitable<StatusReply> OsdService::do_activate(PgActivate req) {
  if (req.map_epoch > map_.epoch) (void)co_await mon_->wait_for_map(req.map_epoch, Millis(2000));
  StatusReply reply;
  reply.epoch = map_.epoch;
  PgPtr pg = get_pg(PgId{req.pool, req.pg}, map_.find_pool(req.pool) != nullptr);
  if (!pg) {
    reply.status = Status::NotFound("no such pool");
    co_return reply;
  }
  bool member = std::find(req.up.begin(), req.up.end(), opts_.id) != req.up.end();
  if (!pg->history.activate(req.up, req.acting) && member) {
    co_return stale("PG " + pg->id.to_string() + ": activation for another interval");
  }
  if (req.last_epoch_clean > 0) pg->history.mark_clean(req.last_epoch_clean);
  reply.status = co_await save_history(pg);
  co_return reply;
}

std::string encode_heard_histories(const std::map<OsdId, PgHistory>& heard) {
  std::string out;
  Encoder e(&out);
  e.u32(static_cast<uint32_t>(heard.size()));
  for (const auto& [osd, h] : heard) {
    e.i32(osd);
    e.bytes(h.encode());
  }
  return out;
}

Result<std::map<OsdId, PgHistory>> decode_heard_histories(std::string_view bytes) {
  std::map<OsdId, PgHistory> heard;
  Decoder d(bytes);
  uint32_t n = d.count();
  for (uint32_t k = 0; k < n && d.ok(); ++k) {
    OsdId osd = d.i32();
    auto h = PgHistory::decode(d.bytes_view());
    if (!h.ok()) return h.status();
    heard[osd] = std::move(*h);
  }
  if (!d.ok()) return Status::Corruption("truncated list of heard PG histories");
  return heard;
}

void OsdService::history_changed(const Pg& pg) {
  history_dirty_.insert(pg.id);
  ++history_seq_;
  if (history_writing_) return;
  history_writing_ = true;
  asio::co_spawn(io_, history_writer(), asio::detached);
}

awaitable<void> OsdService::history_writer() {
  while (!history_dirty_.empty() && !stopped_) {
    uint64_t upto = history_seq_;
    Transaction txn;
    for (PgId id : history_dirty_) {
      auto it = pgs_.find(id);
      if (it == pgs_.end()) continue;
      const Pg& pg = *it->second;
      txn.meta_put(pg.cid, "history", pg.history.encode());
      if (pg.heard_histories.empty()) {
        txn.meta_rm(pg.cid, "heard");
      } else {
        txn.meta_put(pg.cid, "heard", encode_heard_histories(pg.heard_histories));
      }
    }
    history_dirty_.clear();
    Status st = co_await net::run_blocking(store_pool_, [&]() {
      return store_->submit(std::move(txn));
    });
    if (!st.ok()) spdlog::error("writing PG histories: {}", st.to_string());
    history_error_ = st;
    history_saved_seq_ = upto;
    history_saved_->notify_all();
  }
  history_writing_ = false;
  history_saved_->notify_all();
}

awaitable<Status> OsdService::save_history(PgPtr pg) {
  history_changed(*pg);
  uint64_t want = history_seq_;
  while (history_saved_seq_ < want && !stopped_) co_await history_saved_->wait_for(Millis(200));
  if (history_saved_seq_ < want) co_return Status::Shutdown("stopping");
  co_return history_error_;
}

awaitable<void> OsdService::backfill(PgPtr pg, uint64_t gen) {
  int attempt = 0;
  while (!stopped_ && gen == pg->peering_gen && !pg->backfill_targets.empty()) {
    OsdId target = *pg->backfill_targets.begin();
    // Bulk pass while writes continue: the target's log head stays behind,
    // so if we fail before the cut-over, the next peering still sees it as
    // behind and copies again.
    // Writes go on meanwhile; repeat while a pass still finds much to copy,
    // so that the cut-over (writes paused) has little left.
    size_t sent = 0;
    Status st = co_await push_all(pg, target, gen, PushHead::kKeep, &sent);
    for (int pass = 1; st.ok() && sent > kPushBatchObjects && pass < kMaxBulkPasses; ++pass) {
      st = co_await push_all(pg, target, gen, PushHead::kKeep, &sent);
    }
    if (st.ok() && gen == pg->peering_gen) {
      // Cut-over: stop new writes, let the ones in flight finish, copy what
      // changed meanwhile, then the target is a full member again.
      pg->paused = true;
      while (pg->inflight_writes > 0 && gen == pg->peering_gen && !stopped_) {
        co_await pg->state_changed.wait_for(Millis(100));
      }
      if (gen == pg->peering_gen) st = co_await push_all(pg, target, gen, PushHead::kSetHead);
      if (gen != pg->peering_gen) co_return;
      pg->paused = false;
      if (st.ok()) {
        pg->backfill_targets.erase(target);
        spdlog::info("PG {}: osd.{} is up to date", pg->id.to_string(), target);
        attempt = 0;
      }
      pg->notify();
      if (st.ok()) {
        // It now holds every acked write: members record the bigger acting
        // set, and once nobody is behind, that the PG is clean (so that
        // history before this interval can go). Best effort: a member that
        // misses this only keeps a more conservative record.
        auto pos = std::lower_bound(pg->acting.begin(), pg->acting.end(), target);
        if (pos == pg->acting.end() || *pos != target) pg->acting.insert(pos, target);
        const PoolInfo* pool = map_.find_pool(pg->id.pool);
        const Interval* current = pg->history.current();
        bool clean = pg->backfill_targets.empty() && pool && pg->up.size() >= pool->size;
        Epoch les = clean && current ? current->first : 0;
        if (pg->history.activate(pg->up, pg->acting)) {
          if (les > 0) pg->history.mark_clean(les);
          history_changed(*pg);
          std::set<OsdId> none;
          Status sent = co_await send_activate(pg, les, std::move(none), false);
          (void)sent;
        }
      }
    }
    if (!st.ok()) {
      spdlog::warn("PG {}: backfill of osd.{} failed ({}); retrying", pg->id.to_string(), target,
                   st.to_string());
      co_await sleep_for(Millis(std::min(5000, 500 * ++attempt)));
    }
  }
}

awaitable<Result<std::map<std::string, uint64_t>>> OsdService::list_remote(PgPtr pg, OsdId osd_id) {
  std::map<std::string, uint64_t> out;
  std::string after;
  while (true) {
    const OsdInfo* osd = map_.find_osd(osd_id);
    if (!osd) co_return Status::Unavailable("osd." + std::to_string(osd_id) + " left the map");
    PgListRequest req{pg->id.pool, pg->id.seed, after, 5000};
    auto r = co_await peers_->call(osd->addr, static_cast<uint16_t>(MsgType::kPgListObjects),
                                   req.encode(), kPeerTimeout);
    if (!r.ok()) co_return r.status();
    auto reply = PgListReply::decode(r->payload);
    if (!reply.ok()) co_return reply.status();
    if (!reply->head.status.ok()) co_return reply->head.status;
    for (auto& [name, v] : reply->objects) out[name] = v;
    if (!reply->more || reply->objects.empty()) break;
    after = reply->objects.back().first;
  }
  co_return out;
}

awaitable<Result<std::map<std::string, uint64_t>>> OsdService::list_local(PgPtr pg) {
  CollectionId cid = pg->cid;
  co_return co_await net::run_blocking(store_pool_, [&]() -> Result<std::map<std::string, uint64_t>> {
    std::map<std::string, uint64_t> out;
    std::string after;
    while (true) {
      bool more = false;
      auto l = store_->list_objects(cid, after, 5000, &more);
      if (!l.ok()) return l.status();
      for (auto& [name, st] : *l) out[name] = st.version;
      if (!more || l->empty()) break;
      after = l->back().first;
    }
    return out;
  });
}

Result<ObjectData> OsdService::read_object(CollectionId cid, const std::string& name) {
  ObjectData o;
  o.name = name;
  auto st = store_->stat(cid, name);
  if (!st.ok()) {
    if (st.status().is(Code::kNotFound)) return o;  // exists = false
    return st.status();
  }
  o.exists = true;
  o.version = st->version;
  o.mtime_ns = st->mtime_ns;
  auto data = store_->read(cid, name, 0, 0);
  if (!data.ok()) return data.status();
  o.data = std::move(*data);
  auto x = store_->getxattrs(cid, name);
  if (!x.ok()) return x.status();
  o.xattrs = std::move(*x);
  std::string after;
  while (true) {
    bool more = false;
    auto kv = store_->omap_list(cid, name, after, "", 10000, &more);
    if (!kv.ok()) return kv.status();
    for (auto& [k, v] : *kv) o.omap[k] = std::move(v);
    if (!more || kv->empty()) break;
    after = kv->back().first;
  }
  return o;
}

void OsdService::write_object(Transaction& txn, CollectionId cid, const ObjectData& obj) {
  txn.remove(cid, obj.name);
  if (!obj.exists) return;
  txn.write_full(cid, obj.name, obj.data);
  for (const auto& [k, v] : obj.xattrs) txn.setxattr(cid, obj.name, k, v);
  if (!obj.omap.empty()) txn.omap_set(cid, obj.name, obj.omap);
  txn.set_version(cid, obj.name, obj.version, obj.mtime_ns);
}

awaitable<Status> OsdService::pull_all(PgPtr pg, OsdId from, uint64_t auth_version, uint64_t gen,
                                      const std::vector<LogEntry>* auth_log) {
  auto remote = co_await list_remote(pg, from);
  if (!remote.ok()) co_return remote.status();
  auto local = co_await list_local(pg);
  if (!local.ok()) co_return local.status();
  std::vector<std::string> fetch, drop;
  for (const auto& [name, v] : *remote) {
    auto it = local->find(name);
    if (it == local->end() || it->second != v) fetch.push_back(name);
  }
  for (const auto& [name, v] : *local) {
    if (!remote->count(name)) drop.push_back(name);
  }
  RecoveryLeft left(&recovery_objects_left_, fetch.size() + drop.size());
  for (const auto& name : fetch) {
    if (gen != pg->peering_gen) co_return Status::Unavailable("interval changed");
    const OsdInfo* osd = map_.find_osd(from);
    if (!osd) co_return Status::Unavailable("source left the map");
    PgObjectRef ref{pg->id.pool, pg->id.seed, name};
    auto r = co_await peers_->call(osd->addr, static_cast<uint16_t>(MsgType::kPgPull), ref.encode(),
                                   kPeerTimeout);
    if (!r.ok()) co_return r.status();
    auto reply = PgObjectReply::decode(r->payload);
    if (!reply.ok()) co_return reply.status();
    if (!reply->head.status.ok()) co_return reply->head.status;
    Transaction txn;
    write_object(txn, pg->cid, reply->object);
    uint64_t size = reply->object.data.size();
    Status st = co_await net::run_blocking(store_pool_, [&]() {
      return store_->submit(std::move(txn));
    });
    if (!st.ok()) co_return st;
    recovered_objects_->inc();
    recovered_bytes_->inc(size);
    left.done(1);
  }
  Transaction txn;
  for (const auto& name : drop) txn.remove(pg->cid, name);
  recovered_objects_->inc(drop.size());  // removals count as recovered objects, as in push_all
  // Identical to the source now: everything up to its newest entry is here.
  pg->last_update = auth_version;
  pg->chain.reset(auth_version);
  pg->objects = remote->size();
  txn.meta_put(pg->cid, "info", encode_pg_info(*pg));
  // In the same transaction as the head: a crash must not leave the new head
  // with the old log's entries.
  if (auth_log) replace_log(*pg, *auth_log, txn);
  Status st = co_await net::run_blocking(store_pool_, [&]() {
    return store_->submit(std::move(txn));
  });
  if (st.ok()) left.done(drop.size());
  if (st.ok() && (!fetch.empty() || !drop.empty())) {
    spdlog::info("PG {}: pulled {} object(s) and removed {} stale one(s) from osd.{}",
                 pg->id.to_string(), fetch.size(), drop.size(), from);
  }
  co_return st;
}

awaitable<Status> OsdService::push_all(PgPtr pg, OsdId to, uint64_t gen, PushHead head,
                                       size_t* sent) {
  auto remote = co_await list_remote(pg, to);
  if (!remote.ok()) co_return remote.status();
  auto local = co_await list_local(pg);
  if (!local.ok()) co_return local.status();
  std::vector<std::string> send;
  for (const auto& [name, v] : *local) {
    auto it = remote->find(name);
    if (it == remote->end() || it->second != v) send.push_back(name);
  }
  std::vector<std::string> drop;
  for (const auto& [name, v] : *remote) {
    if (!local->count(name)) drop.push_back(name);
  }
  RecoveryLeft left(&recovery_objects_left_, send.size() + drop.size());
  if (sent) *sent = send.size() + drop.size();
  size_t i = 0;
  bool final_sent = false;
  while (!final_sent) {
    if (gen != pg->peering_gen) co_return Status::Unavailable("interval changed");
    // No throttle while setting the head: client I/O waits for this pass.
    int pause_ms = clients_active() ? opts_.recovery_sleep_ms : opts_.recovery_sleep_idle_ms;
    if (pause_ms > 0 && head == PushHead::kKeep) co_await sleep_for(Millis(pause_ms));
    co_await acquire_recovery_slot();
    struct Slot {
      OsdService* self;
      ~Slot() { self->release_recovery_slot(); }
    } slot{this};
    PgPushRequest push{pg->id.pool, pg->id.seed, {}, 0};
    size_t bytes = 0;
    CollectionId cid = pg->cid;
    while (i < send.size() && push.objects.size() < kPushBatchObjects && bytes < kPushBatchBytes) {
      std::string name = send[i++];
      auto obj = co_await net::run_blocking(store_pool_, [&] { return read_object(cid, name); });
      if (!obj.ok()) co_return obj.status();
      bytes += obj->data.size();
      push.objects.push_back(std::move(*obj));
    }
    if (i >= send.size()) {
      for (const auto& name : drop) push.objects.push_back(ObjectData{.name = name, .exists = false});
      if (head == PushHead::kSetHead) {
        push.last_update = pg->last_update;
        push.replace_log = true;
        push.log.assign(pg->log.begin(), pg->log.end());
      }
      final_sent = true;
    }
    const OsdInfo* osd = map_.find_osd(to);
    if (!osd) co_return Status::Unavailable("target left the map");
    auto r = co_await peers_->call(osd->addr, static_cast<uint16_t>(MsgType::kPgPush), push.encode(),
                                   kPeerTimeout);
    if (!r.ok()) co_return r.status();
    Decoder d(r->payload);
    auto ack = StatusReply::decode(d);
    if (!ack.ok()) co_return ack.status();
    if (!ack->status.ok()) co_return ack->status;
    recovered_objects_->inc(push.objects.size());
    recovered_bytes_->inc(bytes);
    left.done(push.objects.size());
  }
  if (!send.empty() || !drop.empty()) {
    spdlog::info("PG {}: pushed {} object(s) and {} removal(s) to osd.{}", pg->id.to_string(),
                 send.size(), drop.size(), to);
  }
  co_return Status::Ok();
}

awaitable<PgObjectReply> OsdService::do_pull(PgObjectRef ref) {
  PgObjectReply reply;
  PgPtr pg = get_pg(PgId{ref.pool, ref.pg}, false);
  CollectionId cid{ref.pool, ref.pg};
  if (!pg) {
    reply.object.name = ref.object;
    co_return reply;
  }
  auto obj = co_await net::run_blocking(store_pool_, [&] {
    return read_object(cid, ref.object);
  });
  if (!obj.ok()) reply.head.status = obj.status();
  else reply.object = std::move(*obj);
  co_return reply;
}

awaitable<StatusReply> OsdService::do_push(PgPushRequest req) {
  StatusReply reply;
  reply.epoch = map_.epoch;
  PgPtr pg = get_pg(PgId{req.pool, req.pg}, map_.find_pool(req.pool) != nullptr);
  if (!pg) {
    reply.status = Status::NotFound("no such pool");
    co_return reply;
  }
  Transaction txn;
  for (const auto& obj : req.objects) {
    write_object(txn, pg->cid, obj);
    note_disk_write(obj.data.size());
  }
  if (req.last_update != 0) {
    pg->last_update = req.last_update;
    pg->chain.reset(req.last_update);
    txn.meta_put(pg->cid, "info", encode_pg_info(*pg));
  }
  if (req.replace_log) replace_log(*pg, req.log, txn);
  reply.status = co_await net::run_blocking(store_pool_, [&]() {
    return store_->submit(std::move(txn));
  });
  co_return reply;
}

awaitable<PgInfoReply> OsdService::do_pg_info(PgRef ref) {
  PgInfoReply reply;
  reply.head.epoch = map_.epoch;
  if (ref.map_epoch > map_.epoch) (void)co_await mon_->wait_for_map(ref.map_epoch, Millis(2000));
  PgPtr pg = get_pg(PgId{ref.pool, ref.pg}, map_.find_pool(ref.pool) != nullptr);
  if (!pg) {
    reply.head.status = Status::NotFound("no such pool");
    co_return reply;
  }
  reply.last_update = pg->last_update;
  reply.last_complete = pg->chain.complete();
  reply.history = pg->history.encode();
  reply.objects = pg->objects;
  reply.has_log = true;
  reply.log.assign(pg->log.begin(), pg->log.end());
  co_return reply;
}

}  // namespace cairn::osd
