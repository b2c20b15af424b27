#include "osd/service/osd_service.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <random>

#include "common/net/blocking.h"
#include "common/net/sleep.h"
#include "common/net/daemon.h"

namespace cairn::osd {

namespace asio = boost::asio;
using net::awaitable;
using net::Millis;

using net::sleep_for;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);


std::string encode_reply(const StatusReply& r) {
  std::string out;
  Encoder e(&out);
  r.encode(e);
  return out;
}
}  // namespace

OsdService::OsdService(asio::io_context& io, OsdOptions opts, Metrics* metrics)
    : io_(io), opts_(std::move(opts)), metrics_(metrics), store_pool_(opts_.store_threads) {
  ops_counter_ = &metrics_->counter("cairn_osd_ops_total", "Client object operations served");
  write_bytes_ = &metrics_->counter("cairn_osd_write_bytes_total", "Client bytes written");
  read_bytes_ = &metrics_->counter("cairn_osd_read_bytes_total", "Client bytes read");
  repops_counter_ = &metrics_->counter("cairn_osd_replica_ops_total", "Replica writes applied");
  recovered_objects_ =
      &metrics_->counter("cairn_osd_recovered_objects_total", "Objects copied by recovery");
  recovered_bytes_ =
      &metrics_->counter("cairn_osd_recovered_bytes_total", "Object bytes copied by recovery");
  op_latency_ = &metrics_->histogram("cairn_osd_op_latency_seconds", "Client op latency",
                                     kLatencyBoundsSeconds);
}

OsdService::~OsdService() {
  store_pool_.join();
}

Status OsdService::start() {
  std::error_code ec;
  std::filesystem::create_directories(opts_.data_dir, ec);
  if (ec) return Status::IoError("cannot create " + opts_.data_dir + ": " + ec.message());
  Options so;
  so.dir = opts_.data_dir;
  auto store = ObjectStore::open(so);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  auto who = store_->get_superblock("osd_id");
  if (who.ok() && *who != std::to_string(opts_.id)) {
    return Status::InvalidArgument("data directory " + opts_.data_dir + " belongs to osd." + *who);
  }
  if (!who.ok()) CAIRN_RETURN_IF_ERROR(store_->put_superblock("osd_id", std::to_string(opts_.id)));
  CAIRN_RETURN_IF_ERROR(load_pgs());

  boot_nonce_ = (uint64_t(std::random_device{}()) << 32) | std::random_device{}();
  auto ex = io_.get_executor();
  recovery_slots_ = std::make_unique<net::Notifier>(ex);
  stop_wake_ = std::make_unique<net::Notifier>(ex);
  history_saved_ = std::make_unique<net::Notifier>(ex);
  peers_ = std::make_unique<net::ConnectionPool>(ex, opts_.key);
  server_ = std::make_unique<net::Server>(
      ex, opts_.key, [this](net::ConnectionPtr c, net::Frame f) { return handle(c, std::move(f)); });
  auto bound = server_->listen(opts_.addr);
  if (!bound.ok()) return bound.status();
  bound_addr_ = *bound;
  spdlog::info("osd.{} listening on {} ({} PGs on disk)", opts_.id, bound_addr_, pgs_.size());

  mon_ = std::make_unique<client::MonClient>(ex, opts_.key, opts_.mon_addrs);
  mon_->start([this](const ClusterMap& m) { on_map(m); });
  asio::co_spawn(ex, boot_loop(), asio::detached);
  asio::co_spawn(ex, heartbeat_loop(), asio::detached);
  asio::co_spawn(ex, peer_ping_loop(), asio::detached);
  asio::co_spawn(ex, report_loop(), asio::detached);
  asio::co_spawn(ex, scrub_loop(), asio::detached);
  return Status::Ok();
}

awaitable<void> OsdService::shutdown() {
  shutting_down_ = true;
  if (mon_ && healthy_) {
    MapCommand down{.op = MapOp::kOsdDown, .ids = {opts_.id}};
    auto r = co_await mon_->command(down, Millis(3000));
    if (r.head.status.ok()) spdlog::info("osd.{} marked itself down for shutdown", opts_.id);
  }
  stop();
}

void OsdService::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (store_) {
    Status st = store_->quiesce();  // flush memtables: a restart replays no WAL
    if (!st.ok()) spdlog::warn("flushing the object store at shutdown: {}", st.to_string());
  }
  healthy_ = false;
  if (server_) server_->stop();
  if (peers_) peers_->close_all();
  if (mon_) mon_->stop();
  for (auto& [id, pg] : pgs_) pg->notify();
  if (stop_wake_) stop_wake_->notify_all();  // the periodic loops end now
}

Status OsdService::load_pgs() {
  auto colls = store_->list_collections();
  if (!colls.ok()) return colls.status();
  for (const auto& cid : *colls) {
    auto pg = std::make_shared<Pg>(io_.get_executor());
    pg->id = PgId{cid.pool, cid.pg};
    pg->cid = cid;
    auto info = store_->meta_get(cid, "info");
    if (info.ok()) {
      Decoder d(*info);
      pg->last_update = d.u64();
      pg->objects = d.u64();
      pg->bytes = d.i64();
      uint64_t complete = d.u64();
      pg->chain.reset(d.ok() ? complete : 0);
    }
    auto history = store_->meta_get(cid, "history");
    if (history.ok()) {
      auto h = PgHistory::decode(*history);
      // Unreadable history would let peering skip intervals that acked writes.
      if (!h.ok()) return Status::Corruption("PG " + pg->id.to_string() + ": " + h.status().message());
      pg->history = std::move(*h);
    }
    auto heard = store_->meta_get(cid, "heard");
    if (heard.ok()) {
      auto h = decode_heard_histories(*heard);
      // Forgetting them could let peering go active without acked writes.
      if (!h.ok()) return Status::Corruption("PG " + pg->id.to_string() + ": " + h.status().message());
      pg->heard_histories = std::move(*h);
    }
    auto scrub = store_->meta_get(cid, "scrub");
    if (scrub.ok() && !pg->scrub_stamps.decode(*scrub)) {
      spdlog::warn("PG {}: unreadable scrub stamps; scheduling it as never scrubbed", pg->id.to_string());
    }
    pg->scrub_jitter = draw_scrub_jitter();
    auto log = store_->meta_list(cid, "log/");
    if (log.ok()) {
      for (const auto& [k, v] : *log) {
        Decoder d(v);
        LogEntry e = LogEntry::decode(d);
        if (!d.ok()) continue;
        pg->dedup[{e.client_id, e.tid}] = e.version;
        pg->chain.committed(e.version, e.prior);  // keys sort by version
        pg->log.push_back(std::move(e));
      }
    }
    pgs_[pg->id] = pg;
  }
  return Status::Ok();
}

OsdService::PgPtr OsdService::get_pg(PgId id, bool create) {
  auto it = pgs_.find(id);
  if (it != pgs_.end()) return it->second;
  if (!create) return nullptr;
  auto pg = std::make_shared<Pg>(io_.get_executor());
  pg->id = id;
  pg->cid = CollectionId{id.pool, id.seed};
  pg->scrub_jitter = draw_scrub_jitter();
  pgs_[id] = pg;
  return pg;
}

void OsdService::set_state(Pg& pg, PgState s) {
  pg.state = s;
  pg.notify();
}

StatusReply OsdService::stale(const std::string& why) const {
  StatusReply r;
  r.status = Status::Unavailable(why);
  r.epoch = map_.epoch;
  return r;
}

awaitable<void> OsdService::boot_loop() {
  if (booting_) co_return;
  booting_ = true;
  while (!stopped_) {
    MapCommand boot{.op = MapOp::kOsdBoot};
    boot.osd.id = opts_.id;
    boot.osd.addr = bound_addr_;
    boot.osd.http_addr = opts_.http_addr;
    boot.osd.host = opts_.host;
    boot.osd.boot_nonce = boot_nonce_;
    auto r = co_await mon_->command(boot, Millis(10000));
    if (r.head.status.is(Code::kNotFound)) {
      MapCommand create{.op = MapOp::kOsdCreate};
      create.osd.id = opts_.id;
      create.osd.host = opts_.host;
      auto c = co_await mon_->command(create, Millis(10000));
      if (c.head.status.ok()) spdlog::info("registered osd.{} on host {}", opts_.id, opts_.host);
      continue;
    }
    if (r.head.status.ok()) {
      spdlog::info("osd.{} booted (map epoch {})", opts_.id, r.applied_epoch);
      break;
    }
    spdlog::warn("boot failed: {}; retrying", r.head.status.to_string());
    co_await sleep_for(Millis(1000));
  }
  booting_ = false;
}

awaitable<void> OsdService::heartbeat_loop() {
  while (!stopped_) {
    co_await stop_wake_->wait_for(Millis(opts_.heartbeat_ms));
    if (stopped_) break;
    OsdHeartbeat hb{opts_.id, boot_nonce_, map_.epoch};
    auto r = co_await mon_->call_leader(MsgType::kOsdHeartbeat, hb.encode(),
                                        Millis(opts_.heartbeat_ms * 2));
    if (r.ok()) {
      Decoder d(r->payload);
      auto head = StatusReply::decode(d);
      if (head.ok() && head->epoch > map_.epoch + 1) mon_->refresh();
    }
  }
}

awaitable<void> OsdService::peer_ping_loop() {
  while (!stopped_) {
    co_await stop_wake_->wait_for(Millis(opts_.heartbeat_ms));
    if (stopped_) break;
    if (!healthy_) {  // only an up OSD's view counts
      peer_silent_since_ms_.clear();
      continue;
    }
    std::vector<std::pair<OsdId, std::string>> peers;
    for (const auto& [id, osd] : map_.osds) {
      // Up again (booted): its silence, if any, is counted afresh.
      bool was_up = peer_seen_up_.count(id) != 0;
      if (osd.up && !was_up) peer_silent_since_ms_.erase(id);
      if (osd.up) {
        peer_seen_up_.insert(id);
      } else {
        peer_seen_up_.erase(id);
      }
      // A down OSD that is still "in" is pinged too: while its peers cannot
      // reach it, their reports keep it from booting back (and flapping).
      if (id != opts_.id && !osd.addr.empty() && (osd.up || osd.in)) peers.emplace_back(id, osd.addr);
    }
    for (auto& [id, addr] : peers) asio::co_spawn(io_, ping_peer(id, std::move(addr)), asio::detached);
  }
}

awaitable<void> OsdService::ping_peer(OsdId id, std::string addr) {
  if (!pinging_.insert(id).second) co_return;  // the last ping still waits
  uint64_t sent = net::now_ms();
  auto r = co_await peers_->call(addr, static_cast<uint16_t>(MsgType::kOsdPing), std::string(),
                                 Millis(opts_.heartbeat_ms * 2));
  pinging_.erase(id);
  if (stopped_) co_return;
  if (r.ok()) {
    if (peer_silent_since_ms_.erase(id)) {
      spdlog::info("osd.{} answers pings again", id);
      OsdFailure back{opts_.id, id, 0};  // withdraws this OSD's report at once
      co_await mon_->send_leader(MsgType::kOsdFailure, back.encode());
    }
    co_return;
  }
  auto [it, first] = peer_silent_since_ms_.try_emplace(id, sent);
  if (first) spdlog::warn("osd.{} at {} does not answer pings: {}", id, addr, r.status().to_string());
  OsdFailure f{opts_.id, id, net::now_ms() - it->second};
  co_await mon_->send_leader(MsgType::kOsdFailure, f.encode());
}

std::string OsdService::pg_state_name(const Pg& pg, const PoolInfo& pool) const {
  if (!pg.blocked_by.empty()) return "down";  // peering waits for an OSD that may hold acked writes
  if (pg.up.size() < pool.min_size) return "undersized+peered";  // refuses I/O
  std::string s;
  switch (pg.state) {
    case PgState::kPeering: s = "peering"; break;
    case PgState::kActive: s = "active"; break;
    default: s = "stray"; break;
  }
  if (pg.state == PgState::kActive) {
    bool backfilling = !pg.backfill_targets.empty();
    if (pg.recovering) s += "+recovering";
    if (backfilling) s += "+backfilling";
    if (pg.up.size() < pool.size) s += "+undersized";
    if (pg.up.size() < pool.size || backfilling) s += "+degraded";
    if (pg.inconsistent_objects > 0) s += "+inconsistent";
    if (!pg.recovering && !backfilling && pg.up.size() >= pool.size &&
        pg.inconsistent_objects == 0) {
      s += "+clean";
    }
  }
  return s;
}

bool OsdService::disk_full() const {
  if (fs_avail_bytes_ < opts_.full_reserve_bytes) return true;
  if (fs_total_bytes_ == 0) return false;
  uint64_t used = fs_total_bytes_ - std::min(fs_avail_bytes_, fs_total_bytes_);
  return static_cast<double>(used) > opts_.full_ratio * static_cast<double>(fs_total_bytes_);
}

void OsdService::note_disk_write(uint64_t bytes) {
  // Written to the WAL now and once more when the memtable is flushed.
  uint64_t cost = 2 * bytes;
  fs_avail_bytes_ = fs_avail_bytes_ > cost ? fs_avail_bytes_ - cost : 0;
}

awaitable<void> OsdService::reclaim_space() {
  uint64_t removed = removed_since_reclaim_;
  removed_since_reclaim_ = 0;
  uint64_t before = fs_avail_bytes_;
  spdlog::info("osd.{} is full and {} objects were removed: compacting to free their space",
               opts_.id, removed);
  Status st = co_await net::run_blocking(store_pool_, [this] { return store_->reclaim_space(); });
  auto stats = co_await net::run_blocking(store_pool_, [this] { return store_->stats(); });
  if (stats.ok()) {
    fs_avail_bytes_ = stats->fs_avail_bytes;
    fs_total_bytes_ = stats->fs_total_bytes;
  }
  if (st.ok()) {
    spdlog::info("osd.{}: compaction done, {} MiB free (was {} MiB)", opts_.id,
                 fs_avail_bytes_ >> 20, before >> 20);
  } else {
    spdlog::warn("osd.{}: compacting to free space failed: {}", opts_.id, st.to_string());
  }
  reclaiming_ = false;
}

awaitable<void> OsdService::report_loop() {
  auto last_at = std::chrono::steady_clock::now();
  uint64_t last_objects = recovered_objects_->value(), last_bytes = recovered_bytes_->value();
  while (!stopped_) {
    co_await stop_wake_->wait_for(Millis(opts_.report_ms));
    if (stopped_) break;
    auto stats = co_await net::run_blocking(store_pool_, [this] { return store_->stats(); });
    OsdReport rep;
    rep.osd = opts_.id;
    rep.map_epoch = map_.epoch;
    rep.ops = ops_counter_->value();
    auto now = std::chrono::steady_clock::now();
    double secs = std::chrono::duration<double>(now - last_at).count();
    uint64_t objects = recovered_objects_->value(), bytes = recovered_bytes_->value();
    if (secs > 0) {
      rep.recovery_objects_per_sec = static_cast<double>(objects - last_objects) / secs;
      rep.recovery_bytes_per_sec = static_cast<double>(bytes - last_bytes) / secs;
    }
    last_at = now;
    last_objects = objects;
    last_bytes = bytes;
    rep.recovery_objects_left = recovery_objects_left_;
    if (stats.ok()) {
      rep.used_bytes = stats->used_bytes;
      rep.total_bytes = stats->fs_total_bytes;
      rep.avail_bytes = stats->fs_avail_bytes;
      bool was_full = disk_full();
      fs_avail_bytes_ = stats->fs_avail_bytes;
      fs_total_bytes_ = stats->fs_total_bytes;
      if (disk_full() != was_full) {
        if (disk_full()) {
          spdlog::warn("osd.{} is full ({} MiB free of {} MiB): refusing writes until space is freed",
                       opts_.id, fs_avail_bytes_ >> 20, fs_total_bytes_ >> 20);
        } else {
          spdlog::info("osd.{} has space again ({} MiB free): accepting writes", opts_.id,
                       fs_avail_bytes_ >> 20);
        }
      }
    }
    rep.full = disk_full();
    if (rep.full && removed_since_reclaim_ > 0 && !reclaiming_) {
      reclaiming_ = true;
      asio::co_spawn(io_, reclaim_space(), asio::detached);
    }
    for (const auto& [id, pg] : pgs_) {
      if (pg->up.empty() || pg->up[0] != opts_.id) continue;
      const PoolInfo* pool = map_.find_pool(id.pool);
      if (!pool) continue;
      PgStat s;
      s.pool = id.pool;
      s.pg = id.seed;
      s.state = pg_state_name(*pg, *pool);
      s.objects = pg->objects;
      s.bytes = pg->bytes > 0 ? static_cast<uint64_t>(pg->bytes) : 0;
      s.blocked_by.assign(pg->blocked_by.begin(), pg->blocked_by.end());
      if (pg->state == PgState::kActive) start_scrub_schedule(pg, net::wall_ns() / 1'000'000);
      s.last_scrub_ms = pg->scrub_stamps.last_scrub_ms;
      s.last_deep_scrub_ms = pg->scrub_stamps.last_deep_scrub_ms;
      if (pg->up.size() < pool->size) s.degraded_objects = pg->objects * (pool->size - pg->up.size());
      rep.pgs.push_back(std::move(s));
    }
    co_await mon_->send_leader(MsgType::kOsdReport, rep.encode());
  }
}

void OsdService::on_map(const ClusterMap& map) {
  if (stopped_) return;
  Epoch old_epoch = map_.epoch;
  map_ = map;
  topo_ = build_topology(map_);
  const OsdInfo* me = map_.find_osd(opts_.id);
  bool up_in_map = me && me->up && me->boot_nonce == boot_nonce_;
  healthy_ = up_in_map;
  // Marked down while alive (a missed heartbeat, a partition): boot again.
  if (me && !up_in_map && old_epoch > 0 && !booting_ && !shutting_down_ &&
      me->boot_nonce == boot_nonce_) {
    spdlog::warn("map epoch {} marks osd.{} down, but it is alive: booting again", map_.epoch,
                 opts_.id);
    asio::co_spawn(io_, boot_loop(), asio::detached);
  }

  std::set<PgId> seen;
  for (const auto& [pool_id, pool] : map_.pools) {
    for (uint32_t seed = 0; seed < pool.pg_num; ++seed) {
      PgId id{pool_id, seed};
      auto up = pg_to_up_osds(topo_, pool, id);
      bool mine = std::find(up.begin(), up.end(), opts_.id) != up.end() && up_in_map;
      PgPtr pg = get_pg(id, mine);
      if (!pg) continue;
      seen.insert(id);
      // Every PG held here, member or not, records what it sees: peering
      // elsewhere may need to know who could have acked writes meanwhile.
      if (pg->history.observe(map_.epoch, up, pool.min_size, pg->history_fresh)) {
        history_changed(*pg);
      }
      pg->history_fresh = false;
      // A member that restarted lost its in-flight replica ops and must be
      // peered with again, as in Ceph: a new interval even if `up` is equal.
      std::vector<Epoch> up_from;
      for (OsdId o : up) {
        const OsdInfo* info = map_.find_osd(o);
        up_from.push_back(info ? info->up_from : 0);
      }
      bool same_interval = up == pg->up && up_from == pg->up_from;
      if (!same_interval) pg->blocked_by.clear();  // a new interval: peering decides again
      pg->up_from = up_from;
      if (!mine) {
        if (pg->state != PgState::kStray) {
          pg->up = up;
          pg->interval_start = map_.epoch;
          ++pg->peering_gen;
          set_state(*pg, PgState::kStray);
        }
        continue;
      }
      if (same_interval && pg->state != PgState::kStray) continue;
      pg->up = up;
      pg->interval_start = map_.epoch;
      uint64_t gen = ++pg->peering_gen;
      if (up[0] == opts_.id) {
        set_state(*pg, PgState::kPeering);
        asio::co_spawn(io_, peer(pg, gen), asio::detached);
      } else {
        set_state(*pg, PgState::kReplica);
      }
    }
  }
  // PGs of deleted pools: their data goes too.
  for (auto it = pgs_.begin(); it != pgs_.end();) {
    if (!map_.find_pool(it->first.pool)) {
      CollectionId cid = it->second->cid;
      ++it->second->peering_gen;
      set_state(*it->second, PgState::kStray);
      it = pgs_.erase(it);
      asio::co_spawn(
          io_,
          [](OsdService* self, CollectionId cid) -> awaitable<void> {
            Transaction t;
            t.remove_collection(cid);
            auto st = co_await net::run_blocking(self->store_pool_,
                                                 [&]() {
                                                   return self->store_->submit(std::move(t));
                                                 });
            if (!st.ok()) spdlog::warn("removing PG data of a deleted pool: {}", st.to_string());
          }(this, cid),
          asio::detached);
      continue;
    }
    ++it;
  }
}

awaitable<void> OsdService::handle(net::ConnectionPtr conn, net::Frame frame) {
  auto type = static_cast<MsgType>(frame.header.type);
  uint64_t req = frame.header.req_id;
  uint16_t t = frame.header.type;
  switch (type) {
    case MsgType::kOsdOp: {
      auto r = OsdOpRequest::decode(frame.payload);
      if (!r.ok()) break;
      auto start = std::chrono::steady_clock::now();
      ++client_ops_inflight_;
      OsdOpReply reply = co_await do_op(std::move(*r));
      --client_ops_inflight_;
      last_client_op_ = std::chrono::steady_clock::now();
      op_latency_->observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      conn->reply(req, t, reply.encode());
      co_return;
    }
    case MsgType::kOsdPing: {
      StatusReply pong;
      pong.epoch = map_.epoch;
      conn->reply(req, t, encode_reply(pong));
      co_return;
    }
    case MsgType::kRepOp: {
      auto r = RepOpRequest::decode(frame.payload);
      if (!r.ok()) break;
      conn->reply(req, t, encode_reply(co_await do_repop(std::move(*r))));
      co_return;
    }
    case MsgType::kPgInfo: {
      auto r = PgRef::decode(frame.payload);
      if (!r.ok()) break;
      conn->reply(req, t, (co_await do_pg_info(*r)).encode());
      co_return;
    }
    case MsgType::kPgListObjects: {
      auto r = PgListRequest::decode(frame.payload);
      if (!r.ok()) break;
      conn->reply(req, t, (co_await do_list(std::move(*r))).encode());
      co_return;
    }
    case MsgType::kPgPull: {
      auto r = PgObjectRef::decode(frame.payload);
      if (!r.ok()) break;
      conn->reply(req, t, (co_await do_pull(std::move(*r))).encode());
      co_return;
    }
    case MsgType::kPgScrubMap: {
      auto r = ScrubMapRequest::decode(frame.payload);
      if (!r.ok()) break;
      conn->reply(req, t, (co_await do_scrub_map(*r)).encode());
      co_return;
    }
    case MsgType::kPgScrub: {
      auto r = ScrubRequest::decode(frame.payload);
      if (!r.ok()) break;
      conn->reply(req, t, (co_await do_scrub(*r)).encode());
      co_return;
    }
    case MsgType::kPgActivate: {
      auto r = PgActivate::decode(frame.payload);
      if (!r.ok()) break;
      conn->reply(req, t, encode_reply(co_await do_activate(std::move(*r))));
      co_return;
    }
    case MsgType::kPgPush: {
      auto r = PgPushRequest::decode(frame.payload);
      if (!r.ok()) break;
      conn->reply(req, t, encode_reply(co_await do_push(std::move(*r))));
      co_return;
    }
    default:
      break;
  }
  spdlog::warn("malformed or unexpected message (type {}) from {}; closing", t, conn->peer());
  conn->close();
}

}  // namespace cairn::osd
