// Peering and recovery.
//
// When a PG's up set changes, its primary asks every up member for its PG
// log head (last_update). The member with the newest head is authoritative:
// every acked write reached every up replica, so the newest head holds them
// all. If that is not the primary, the primary first pulls the differences
// from it; then it pushes the differences to every member that is behind.
// Differences are found by comparing object lists with versions, so a member
// that missed deletes, or holds unacked writes from an old interval, ends up
// identical to the authoritative copy. Only then does the PG go active.
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


std::string encode_info(uint64_t last_update, uint64_t objects, int64_t bytes) {
  std::string info;
  Encoder e(&info);
  e.u64(last_update);
  e.u64(objects);
  e.i64(bytes);
  return info;
}
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
    std::vector<OsdId> members = pg->up;
    // 1. Gather every member's log head.
    std::map<OsdId, uint64_t> heads;
    heads[opts_.id] = pg->last_update;
    bool ok = true;
    for (OsdId m : members) {
      if (m == opts_.id) continue;
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
      heads[m] = info->last_update;
    }
    if (!ok || gen != pg->peering_gen) continue;
    OsdId auth = opts_.id;
    for (auto [m, head] : heads) {
      if (head > heads[auth]) auth = m;
    }
    uint64_t auth_head = heads[auth];
    bool behind = false;
    for (auto [m, head] : heads) behind |= head != auth_head;
    if (behind) {
      pg->recovering = true;
      spdlog::info("PG {} peering: osd.{} has the newest log ({:x}); recovering {} member(s)",
                   pg->id.to_string(), auth, auth_head,
                   std::count_if(heads.begin(), heads.end(),
                                 [&](auto& kv) { return kv.second != auth_head; }));
    }
    // 2. Make ourselves authoritative.
    if (auth != opts_.id) {
      Status st = co_await pull_all(pg, auth, auth_head, gen);
      if (!st.ok()) {
        spdlog::warn("PG {}: pulling from osd.{} failed: {}", pg->id.to_string(), auth, st.to_string());
        continue;
      }
    }
    // 3. Members that are behind: if enough are in sync to serve writes
    // (min_size), go active now and catch the others up in the background;
    // otherwise catch them up first.
    const PoolInfo* pool = map_.find_pool(pg->id.pool);
    if (!pool) co_return;
    std::set<OsdId> behind_set;
    for (auto [m, head] : heads) {
      if (m != opts_.id && head != pg->last_update) behind_set.insert(m);
    }
    size_t in_sync = heads.size() - behind_set.size();
    if (in_sync < pool->min_size) {
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

awaitable<void> OsdService::backfill(PgPtr pg, uint64_t gen) {
  int attempt = 0;
  while (!stopped_ && gen == pg->peering_gen && !pg->backfill_targets.empty()) {
    OsdId target = *pg->backfill_targets.begin();
    // Bulk pass while writes continue: the target's log head stays behind,
    // so if we fail before the cut-over, the next peering still sees it as
    // behind and copies again.
    Status st = co_await push_all(pg, target, gen, PushHead::kKeep);
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

awaitable<Status> OsdService::pull_all(PgPtr pg, OsdId from, uint64_t auth_version, uint64_t gen) {
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
    Status st = co_await net::run_blocking(store_pool_, [&]() {
      return store_->submit(std::move(txn));
    });
    if (!st.ok()) co_return st;
    recovered_objects_->inc();
  }
  Transaction txn;
  for (const auto& name : drop) txn.remove(pg->cid, name);
  recovered_objects_->inc(drop.size());  // removals count as recovered objects, as in push_all
  pg->last_update = auth_version;
  pg->objects = remote->size();
  txn.meta_put(pg->cid, "info", encode_info(pg->last_update, pg->objects, pg->bytes));
  Status st = co_await net::run_blocking(store_pool_, [&]() {
    return store_->submit(std::move(txn));
  });
  if (st.ok() && (!fetch.empty() || !drop.empty())) {
    spdlog::info("PG {}: pulled {} object(s) and removed {} stale one(s) from osd.{}",
                 pg->id.to_string(), fetch.size(), drop.size(), from);
  }
  co_return st;
}

awaitable<Status> OsdService::push_all(PgPtr pg, OsdId to, uint64_t gen, PushHead head) {
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
  size_t i = 0;
  bool final_sent = false;
  while (!final_sent) {
    if (gen != pg->peering_gen) co_return Status::Unavailable("interval changed");
    if (client_ops_inflight_ > 0 && opts_.recovery_sleep_ms > 0) {
      co_await sleep_for(Millis(opts_.recovery_sleep_ms));
    }
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
      if (head == PushHead::kSetHead) push.last_update = pg->last_update;
      final_sent = true;
    }
    const OsdInfo* osd = map_.find_osd(to);
    if (!osd) co_return Status::Unavailable("target left the map");
    auto r = co_await peers_->call(osd->addr, static_cast<uint16_t>(MsgType::kPgPush), push.encode(),
                                   kPeerTimeout);
    if (!r.ok()) co_return r.status();
    Decoder d(r->payload);
    auto head = StatusReply::decode(d);
    if (!head.ok()) co_return head.status();
    if (!head->status.ok()) co_return head->status;
    recovered_objects_->inc(push.objects.size());
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
  for (const auto& obj : req.objects) write_object(txn, pg->cid, obj);
  if (req.last_update != 0) {
    pg->last_update = req.last_update;
    txn.meta_put(pg->cid, "info", encode_info(pg->last_update, pg->objects, pg->bytes));
  }
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
  reply.objects = pg->objects;
  co_return reply;
}

}  // namespace cairn::osd
