#include "monitor/service/mon_service.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <random>

#include "common/net/daemon.h"
#include "monitor/store/raft_log_store.h"

namespace cairn::mon {

namespace {
std::string describe_osds(const std::vector<OsdId>& ids) {
  std::string s;
  for (OsdId id : ids) s += (s.empty() ? "osd." : ", osd.") + std::to_string(id);
  return s.empty() ? "no OSD" : s;
}
}  // namespace


namespace asio = boost::asio;
using net::awaitable;
using net::Millis;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr Millis kProposeTimeout{5000};
constexpr Millis kPeerTimeout{1000};
}  // namespace

struct MonService::Waiter {
  explicit Waiter(asio::any_io_executor ex) : timer(ex) {}
  asio::steady_timer timer;
  raft::Term term = 0;
  std::optional<CommandReply> reply;
};

MonService::MonService(asio::io_context& io, MonOptions opts, Metrics* metrics)
    : io_(io),
      opts_(std::move(opts)),
      metrics_(metrics),
      tick_timer_(io),
      detector_(opts_.failure) {
  is_leader_gauge_ = &metrics_->gauge("cairn_mon_is_leader", "1 if this monitor leads the quorum");
  term_gauge_ = &metrics_->gauge("cairn_mon_term", "Current Raft term");
  epoch_gauge_ = &metrics_->gauge("cairn_mon_map_epoch", "Cluster map epoch applied here");
  commands_counter_ = &metrics_->counter("cairn_mon_commands_total", "Map commands applied");
  elections_counter_ =
      &metrics_->counter("cairn_mon_leader_changes_total", "Times this monitor became leader");
}

MonService::~MonService() = default;

Status MonService::start() {
  std::error_code ec;
  std::filesystem::create_directories(opts_.data_dir, ec);
  if (ec) return Status::IoError("cannot create " + opts_.data_dir + ": " + ec.message());
  auto store = RaftLogStore::open(opts_.data_dir + "/raft");
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  auto state = store_->load();
  if (!state.ok()) return state.status();

  peer_addrs_ = opts_.peers;
  bool fresh = !state->snapshot && state->entries.empty() && state->hard_state.term == 0;
  if (fresh && opts_.join) {
    spdlog::info("joining the existing monitor quorum; waiting for the leader to add monitor {}",
                 opts_.id);
  } else if (fresh) {
    for (const auto& [id, addr] : opts_.peers) state->initial_voters.push_back(id);
    spdlog::info("bootstrapping a new monitor quorum of {} members", state->initial_voters.size());
  }
  if (state->snapshot) {
    auto m = ClusterMap::decode(state->snapshot->data);
    if (!m.ok()) return Status::Corruption("monitor snapshot: " + m.status().to_string());
    map_ = std::move(*m);
    for (const auto& [id, mon] : map_.mons) peer_addrs_[id] = mon.addr;
    spdlog::info("loaded cluster map epoch {} from the snapshot at index {}", map_.epoch,
                 state->snapshot->index);
  }
  map_epoch_ = map_.epoch;

  raft::Options ro;
  ro.id = opts_.id;
  ro.election_ticks = opts_.election_ticks;
  ro.heartbeat_ticks = 1;
  ro.seed = std::random_device{}();
  node_ = std::make_unique<raft::Node>(ro, std::move(*state));

  auto ex = io_.get_executor();
  peers_pool_ = std::make_unique<net::ConnectionPool>(ex, opts_.key);
  server_ = std::make_unique<net::Server>(
      ex, opts_.key, [this](net::ConnectionPtr c, net::Frame f) { return handle(c, std::move(f)); });
  auto bound = server_->listen(opts_.addr);
  if (!bound.ok()) return bound.status();
  spdlog::info("monitor {} listening on {}", opts_.id, *bound);
  process_ready();
  asio::co_spawn(ex, ticker(), asio::detached);
  return Status::Ok();
}

void MonService::stop() {
  if (stopped_) return;
  stopped_ = true;
  tick_timer_.cancel();
  if (server_) server_->stop();
  if (peers_pool_) peers_pool_->close_all();
  for (auto& [c, sub] : subscribers_) {
    if (auto conn = sub.conn.lock()) conn->close();
  }
  subscribers_.clear();
  for (auto& [i, w] : waiters_) w->timer.cancel();
}

awaitable<void> MonService::ticker() {
  while (!stopped_) {
    tick_timer_.expires_after(Millis(opts_.tick_ms));
    co_await tick_timer_.async_wait(kNoThrow);
    if (stopped_) break;
    node_->tick();
    process_ready();
    bool leader = node_->role() == raft::Role::kLeader;
    if (leader && !was_leader_) {
      elections_counter_->inc();
      spdlog::info("monitor {} is now the leader (term {})", opts_.id, node_->term());
      detector_.reset(net::now_ms());
      reports_.clear();
    } else if (!leader && was_leader_) {
      spdlog::info("monitor {} is no longer the leader (term {}, leader {})", opts_.id,
                   node_->term(), node_->leader());
    }
    was_leader_ = leader;
    if (leader && map_.epoch > 0) {
      check_pool_quotas();
      check_osd_full();
      uint64_t now = net::now_ms();
      for (auto& cmd : detector_.tick(map_, now)) {
        spdlog::info("failure detector: {}", cmd.describe());
        for (OsdId id : cmd.ids) {
          if (cmd.op == MapOp::kOsdDown && detector_.unreachable(map_, id, now)) {
            spdlog::warn("osd.{} still reaches the monitors, but {} cannot reach it: marking it down",
                         id, describe_osds(detector_.reporters(map_, id, now)));
          }
        }
        asio::co_spawn(io_, propose_and_wait(std::move(cmd)), asio::detached);
      }
    }
    update_gauges();
  }
}

void MonService::check_pool_quotas() {
  uint64_t now = net::now_ms();
  std::map<PoolId, uint64_t> used;
  for (const auto& [osd, rep] : reports_) {
    if (now - rep.received_ms > 30000) continue;
    for (const auto& pg : rep.pgs) used[pg.pool] += pg.bytes;
  }
  for (const auto& [id, pool] : map_.pools) {
    std::string key = pool_full_key(id);
    bool flagged = map_.services.count(key) > 0;
    bool full = pool.max_bytes > 0 && used[id] >= pool.max_bytes;
    if (full == flagged) continue;
    MapCommand cmd{.op = MapOp::kServiceSet, .key = key, .value = full ? "1" : ""};
    spdlog::info("pool '{}' {} its quota ({} of {} bytes used)", pool.name,
                 full ? "reached" : "is back under", used[id], pool.max_bytes);
    asio::co_spawn(io_, propose_and_wait(std::move(cmd)), asio::detached);
  }
}

void MonService::check_osd_full() {
  uint64_t now = net::now_ms();
  for (const auto& [id, osd] : map_.osds) {
    std::string key = osd_full_key(id);
    bool flagged = map_.services.count(key) > 0;
    // A silent OSD's last word no longer holds: it is down, and writes go
    // on without it.
    auto rep = reports_.find(id);
    bool full = rep != reports_.end() && now - rep->second.received_ms <= 30000 && rep->second.full;
    if (full == flagged) continue;
    MapCommand cmd{.op = MapOp::kServiceSet, .key = key, .value = full ? "1" : ""};
    spdlog::info("osd.{} {}", id, full ? "is full: writes to its PGs are refused" : "is no longer full");
    asio::co_spawn(io_, propose_and_wait(std::move(cmd)), asio::detached);
  }
}

void MonService::update_gauges() {
  bool leader = node_->role() == raft::Role::kLeader;
  leader_known_ = node_->leader() != raft::kNoNode && map_.epoch > 0;
  is_leader_gauge_->set(leader ? 1 : 0);
  term_gauge_->set(static_cast<double>(node_->term()));
  epoch_gauge_->set(static_cast<double>(map_.epoch));
}

void MonService::process_ready() {
  while (node_->has_ready()) {
    raft::Ready rd = node_->ready();
    Status st = store_->save(rd);
    if (!st.ok()) {
      // Acking Raft messages without durable state would break safety.
      spdlog::critical("cannot persist raft state: {}; stopping", st.to_string());
      std::abort();
    }
    if (rd.snapshot) {
      auto m = ClusterMap::decode(rd.snapshot->data);
      if (!m.ok()) {
        spdlog::critical("leader sent an undecodable map snapshot: {}", m.status().to_string());
        std::abort();
      }
      map_ = std::move(*m);
      recent_.clear();
      for (const auto& [id, mon] : map_.mons) peer_addrs_[id] = mon.addr;
      spdlog::info("installed map snapshot at epoch {}", map_.epoch);
      on_map_changed();
    }
    for (const auto& m : rd.messages) send_raft(m);
    for (const auto& e : rd.committed) apply_entry(e);
    node_->advance();
  }
  maybe_snapshot();
  register_founders();
}

void MonService::register_founders() {
  // A fresh quorum's first leader creates the map, then every voter the map
  // lacks is registered with its address, each as an ordinary log entry so
  // that every monitor (including ones that join later and replay the log)
  // builds the same map. A new leader finishes what a lost one started.
  if (node_->role() != raft::Role::kLeader || node_->applied_index() == 0) return;
  if (map_.epoch == 0) {
    if (bootstrap_pending_.count(-1)) return;
    bootstrap_pending_.insert(-1);
    MapCommand create{.op = MapOp::kCreateMap, .str = opts_.fsid};
    asio::co_spawn(io_, [](MonService* self, MapCommand cmd) -> awaitable<void> {
      co_await self->propose_and_wait(std::move(cmd));
      self->bootstrap_pending_.erase(-1);
    }(this, std::move(create)), asio::detached);
    return;
  }
  for (MonId id : node_->voters()) {
    auto addr = peer_addrs_.find(id);
    if (map_.mons.count(id) || addr == peer_addrs_.end() || bootstrap_pending_.count(id)) continue;
    bootstrap_pending_.insert(id);
    MapCommand set{.op = MapOp::kMonSet};
    set.mon.id = id;
    set.mon.addr = addr->second;
    asio::co_spawn(io_, [](MonService* self, MapCommand cmd) -> awaitable<void> {
      MonId id = cmd.mon.id;
      co_await self->propose_and_wait(std::move(cmd));
      self->bootstrap_pending_.erase(id);
    }(this, std::move(set)), asio::detached);
  }
}

void MonService::maybe_snapshot() {
  if (applied_since_snapshot_ < opts_.snapshot_every) return;
  raft::Index idx = node_->applied_index();
  Status st = node_->compact(idx, map_.encode_to_string());
  if (st.ok() && node_->snapshot()) st = store_->compact(*node_->snapshot());
  if (!st.ok()) {
    spdlog::warn("log compaction at index {} failed: {}", idx, st.to_string());
    return;
  }
  applied_since_snapshot_ = 0;
  spdlog::debug("compacted the raft log through index {}", idx);
}

void MonService::apply_entry(const raft::Entry& e) {
  ++applied_since_snapshot_;
  switch (e.type) {
    case raft::EntryType::kNoop:
      break;
    case raft::EntryType::kConfChange: {
      auto cc = raft::ConfChange::decode(e.data);
      if (!cc.ok()) break;
      MapCommand cmd;
      if (cc->type == raft::ConfChangeType::kAddNode) {
        cmd.op = MapOp::kMonSet;
        cmd.mon.id = cc->node;
        // context: "addr" or "addr|http"
        auto bar = cc->context.find('|');
        cmd.mon.addr = cc->context.substr(0, bar);
        if (bar != std::string::npos) cmd.mon.http_addr = cc->context.substr(bar + 1);
        if (cmd.mon.addr.empty() && opts_.peers.count(cc->node)) cmd.mon.addr = opts_.peers[cc->node];
        if (!cmd.mon.addr.empty()) peer_addrs_[cc->node] = cmd.mon.addr;
      } else {
        cmd.op = MapOp::kMonRemove;
        cmd.mon.id = cc->node;
      }
      // The bootstrap conf changes come before the map exists; the founders
      // are registered when the map is created.
      if (map_.epoch > 0) apply_map_command(cmd, e.index, e.term);
      break;
    }
    case raft::EntryType::kNormal: {
      auto cmd = MapCommand::decode(e.data);
      if (!cmd.ok()) {
        spdlog::error("skipping undecodable map command at index {}", e.index);
        break;
      }
      apply_map_command(*cmd, e.index, e.term);
      break;
    }
  }
}

void MonService::apply_map_command(const MapCommand& cmd, raft::Index index, raft::Term term) {
  bool changed = false;
  Status st = apply_command(map_, cmd, &changed);
  CommandReply reply;
  reply.head.status = st;
  reply.applied_epoch = map_.epoch;
  if (st.ok()) {
    commands_counter_->inc();
    if (cmd.op == MapOp::kOsdCreate) {
      reply.data = std::to_string(cmd.osd.id >= 0 ? cmd.osd.id : map_.next_osd_id - 1);
    } else if (cmd.op == MapOp::kPoolCreate) {
      reply.data = std::to_string(map_.next_pool_id - 1);
    }
    // A boot reached the leader: the OSD is alive now even if its last
    // heartbeats were lost, so it gets a fresh grace instead of being marked
    // down again at once.
    if (cmd.op == MapOp::kOsdBoot) {
      detector_.heartbeat(cmd.osd.id, net::now_ms());
      detector_.booted(cmd.osd.id, net::now_ms());
    }
    if (changed) {
      spdlog::info("map epoch {}: {}", map_.epoch, cmd.describe());
      recent_.emplace_back(map_.epoch, cmd.encode_to_string());
      while (recent_.size() > kRecentEpochs) recent_.pop_front();
      on_map_changed();
    }
  }
  auto it = waiters_.find(index);
  if (it != waiters_.end()) {
    if (it->second->term != term) {
      reply = CommandReply{};
      reply.head.status = Status::Unavailable("leadership changed before the command committed");
    }
    it->second->reply = std::move(reply);
    it->second->timer.cancel();
  }
}

void MonService::on_map_changed() {
  map_epoch_ = map_.epoch;
  push_to_subscribers();
}

MapUpdate MonService::update_since(Epoch have) const {
  MapUpdate u;
  if (have > 0 && have < map_.epoch && !recent_.empty() && recent_.front().first <= have + 1 &&
      recent_.back().first == map_.epoch) {
    u.full = false;
    u.first_epoch = have + 1;
    for (const auto& [epoch, cmd] : recent_) {
      if (epoch > have) u.commands.push_back(cmd);
    }
    // Only contiguous runs are usable: one command per epoch.
    if (u.commands.size() == map_.epoch - have) return u;
  }
  u = MapUpdate{};
  u.full = true;
  u.map = map_.encode_to_string();
  return u;
}

void MonService::push_to_subscribers() {
  for (auto it = subscribers_.begin(); it != subscribers_.end();) {
    auto conn = it->second.conn.lock();
    if (!conn || !conn->is_open()) {
      it = subscribers_.erase(it);
      continue;
    }
    if (it->second.epoch < map_.epoch) {
      conn->send(static_cast<uint16_t>(MsgType::kMapUpdate), update_since(it->second.epoch).encode());
      it->second.epoch = map_.epoch;
    }
    ++it;
  }
}

void MonService::send_raft(const raft::Message& m) {
  auto it = peer_addrs_.find(m.to);
  if (it == peer_addrs_.end()) return;
  std::string payload;
  Encoder e(&payload);
  m.encode(e);
  asio::co_spawn(
      io_,
      [](net::ConnectionPool* pool, std::string addr, std::string payload) -> awaitable<void> {
        auto conn = co_await pool->get(addr, kPeerTimeout);
        if (conn.ok()) (*conn)->send(static_cast<uint16_t>(MsgType::kRaft), std::move(payload));
      }(peers_pool_.get(), it->second, std::move(payload)),
      asio::detached);
}

std::string MonService::leader_addr() const {
  auto leader = node_->leader();
  if (leader == raft::kNoNode) return "";
  auto it = peer_addrs_.find(leader);
  return it == peer_addrs_.end() ? "" : it->second;
}

StatusReply MonService::not_leader() const {
  StatusReply r;
  std::string hint = leader_addr();
  r.status = Status::Unavailable(hint.empty() ? "no monitor quorum leader yet"
                                              : "not the leader; the leader is " + hint);
  r.leader_hint = hint;
  r.epoch = map_.epoch;
  return r;
}

awaitable<CommandReply> MonService::propose_and_wait(MapCommand cmd) {
  CommandReply reply;
  if (node_->role() != raft::Role::kLeader) {
    reply.head = not_leader();
    co_return reply;
  }
  auto index = node_->propose(cmd.encode_to_string());
  if (!index.ok()) {
    reply.head = not_leader();
    co_return reply;
  }
  auto waiter = std::make_shared<Waiter>(io_.get_executor());
  waiter->term = node_->term();
  waiter->timer.expires_after(kProposeTimeout);
  waiters_[*index] = waiter;
  process_ready();
  if (!waiter->reply) co_await waiter->timer.async_wait(kNoThrow);
  waiters_.erase(*index);
  if (waiter->reply) co_return std::move(*waiter->reply);
  reply.head.status = Status::TimedOut("command did not commit in time (is a quorum of monitors up?)");
  co_return reply;
}

MonStatus MonService::status() const {
  MonStatus s;
  s.id = opts_.id;
  s.role = std::string(raft::role_name(node_->role()));
  s.term = node_->term();
  s.leader = node_->leader();
  s.leader_addr = leader_addr();
  s.map_epoch = map_.epoch;
  s.commit_index = node_->commit_index();
  s.voters = node_->voters();
  return s;
}

awaitable<void> MonService::handle(net::ConnectionPtr conn, net::Frame frame) {
  auto type = static_cast<MsgType>(frame.header.type);
  uint64_t req = frame.header.req_id;
  switch (type) {
    case MsgType::kRaft: {
      auto m = raft::Message::decode(frame.payload);
      if (!m.ok()) {
        spdlog::warn("dropping undecodable raft message from {}", conn->peer());
        co_return;
      }
      node_->step(*m);
      process_ready();
      co_return;
    }
    case MsgType::kMonCommand:
      co_await handle_command(conn, std::move(frame));
      co_return;
    case MsgType::kMonSubscribe: {
      auto sub = SubscribeRequest::decode(frame.payload);
      if (!sub.ok()) {
        conn->close();
        co_return;
      }
      subscribers_[conn.get()] = Subscriber{conn, map_.epoch};
      net::Connection* raw = conn.get();
      conn->on_close([this, raw] { subscribers_.erase(raw); });
      conn->reply(req, frame.header.type, update_since(sub->have_epoch).encode());
      co_return;
    }
    case MsgType::kOsdHeartbeat: {
      auto hb = OsdHeartbeat::decode(frame.payload);
      if (!hb.ok()) {
        conn->close();
        co_return;
      }
      StatusReply r;
      if (node_->role() != raft::Role::kLeader) {
        r = not_leader();
      } else {
        detector_.heartbeat(hb->osd, net::now_ms());
        r.epoch = map_.epoch;
      }
      std::string out;
      Encoder e(&out);
      r.encode(e);
      conn->reply(req, frame.header.type, std::move(out));
      co_return;
    }
    case MsgType::kOsdFailure: {
      auto f = OsdFailure::decode(frame.payload);
      if (!f.ok()) {
        conn->close();
        co_return;
      }
      if (node_->role() == raft::Role::kLeader) {
        detector_.report(f->target, f->reporter, f->failed_for_ms, net::now_ms());
      }
      co_return;
    }
    case MsgType::kOsdReport: {
      Decoder d(frame.payload);
      OsdReport rep = OsdReport::decode(d);
      if (!d.done()) {
        conn->close();
        co_return;
      }
      rep.received_ms = net::now_ms();
      reports_[rep.osd] = std::move(rep);
      co_return;
    }
    case MsgType::kMonGetReports: {
      std::string out;
      Encoder e(&out);
      StatusReply r;
      if (node_->role() != raft::Role::kLeader) r = not_leader();
      r.epoch = map_.epoch;
      r.encode(e);
      e.u64(net::now_ms());
      e.u32(static_cast<uint32_t>(reports_.size()));
      for (const auto& [id, rep] : reports_) rep.encode(e);
      conn->reply(req, frame.header.type, std::move(out));
      co_return;
    }
    case MsgType::kMonStatus:
      conn->reply(req, frame.header.type, status().encode());
      co_return;
    default:
      spdlog::warn("unexpected message type {} from {}; closing", frame.header.type, conn->peer());
      conn->close();
      co_return;
  }
}

bool MonService::booting_again(const MapCommand& boot) {
  // A restarted process (a new nonce): its peers have not tried it yet.
  const OsdInfo* cur = map_.find_osd(boot.osd.id);
  return cur != nullptr && cur->boot_nonce == boot.osd.boot_nonce;
}

awaitable<void> MonService::handle_command(net::ConnectionPtr conn, net::Frame frame) {
  CommandReply reply;
  auto cmd = MapCommand::decode(frame.payload);
  if (!cmd.ok()) {
    reply.head.status = Status::InvalidArgument("undecodable command");
  } else if (cmd->op == MapOp::kMonSet || cmd->op == MapOp::kMonRemove) {
    // Membership goes through Raft's configuration change, not the map alone.
    if (node_->role() != raft::Role::kLeader) {
      reply.head = not_leader();
    } else {
      raft::ConfChange cc;
      cc.type = cmd->op == MapOp::kMonSet ? raft::ConfChangeType::kAddNode
                                          : raft::ConfChangeType::kRemoveNode;
      cc.node = cmd->mon.id;
      cc.context = cmd->mon.addr + "|" + cmd->mon.http_addr;
      if (!cmd->mon.addr.empty()) peer_addrs_[cmd->mon.id] = cmd->mon.addr;
      auto idx = node_->propose_conf_change(cc);
      if (!idx.ok()) {
        reply.head.status = idx.status();
      } else {
        auto waiter = std::make_shared<Waiter>(io_.get_executor());
        waiter->term = node_->term();
        waiter->timer.expires_after(kProposeTimeout);
        waiters_[*idx] = waiter;
        process_ready();
        if (!waiter->reply) co_await waiter->timer.async_wait(kNoThrow);
        waiters_.erase(*idx);
        if (waiter->reply) {
          reply = std::move(*waiter->reply);
        } else {
          reply.head.status = Status::TimedOut("membership change did not commit in time");
        }
      }
    }
  } else if (cmd->op == MapOp::kOsdBoot && node_->role() == raft::Role::kLeader &&
             booting_again(*cmd) && detector_.unreachable(map_, cmd->osd.id, net::now_ms())) {
    // Up again would stall its PGs again: it stays down while its peers
    // cannot reach it (no flapping).
    reply.head.status = Status::Unavailable(
        "osd." + std::to_string(cmd->osd.id) + " stays down: " +
        describe_osds(detector_.reporters(map_, cmd->osd.id, net::now_ms())) +
        " cannot reach it");
  } else {
    reply = co_await propose_and_wait(std::move(*cmd));
  }
  conn->reply(frame.header.req_id, frame.header.type, reply.encode());
}

}  // namespace cairn::mon
