#include "client/mon_client.h"
#include "common/net/sleep.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cairn::client {

namespace asio = boost::asio;
using net::sleep_for;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr Millis kMonTimeout{2000};

}  // namespace

MonClient::MonClient(asio::any_io_executor ex, std::string key, std::vector<std::string> mon_addrs)
    : ex_(ex),
      key_(key),
      mon_addrs_(std::move(mon_addrs)),
      pool_(ex, key, [](net::ConnectionPtr, net::Frame) -> awaitable<void> { co_return; }),
      map_arrived_(ex),
      retry_timer_(ex) {}

MonClient::~MonClient() { stop(); }

void MonClient::start(std::function<void(const ClusterMap&)> on_map) {
  on_map_ = std::move(on_map);
  if (started_) return;
  started_ = true;
  asio::co_spawn(ex_, subscribe_loop(), asio::detached);
}

void MonClient::stop() {
  if (stopped_) return;
  stopped_ = true;
  retry_timer_.cancel();
  map_arrived_.notify_all();
  if (sub_conn_) sub_conn_->close();
  pool_.close_all();
}

void MonClient::refresh() {
  // Resubscribing makes the monitor send what we miss; cheap and rare.
  if (sub_conn_) sub_conn_->close();
}

std::vector<std::string> MonClient::candidates() const {
  std::vector<std::string> c;
  if (!leader_.empty()) c.push_back(leader_);
  for (size_t i = 0; i < mon_addrs_.size(); ++i) {
    const auto& a = mon_addrs_[(next_mon_ + i) % mon_addrs_.size()];
    if (a != leader_) c.push_back(a);
  }
  // Monitors added after our config was written are in the map.
  for (const auto& [id, mon] : map_.mons) {
    if (!mon.addr.empty() && std::find(c.begin(), c.end(), mon.addr) == c.end()) c.push_back(mon.addr);
  }
  return c;
}

void MonClient::learn_leader(const std::string& hint) {
  if (!hint.empty()) leader_ = hint;
}

Status MonClient::apply_update(const MapUpdate& u) {
  if (u.full) {
    auto m = ClusterMap::decode(u.map);
    if (!m.ok()) return m.status();
    if (m->epoch < map_.epoch) return Status::Ok();  // a lagging monitor; keep ours
    map_ = std::move(*m);
    return Status::Ok();
  }
  if (u.first_epoch != map_.epoch + 1) {
    return Status::InvalidArgument("incremental update does not follow our epoch");
  }
  ClusterMap next = map_;
  for (const auto& bytes : u.commands) {
    auto cmd = MapCommand::decode(bytes);
    if (!cmd.ok()) return cmd.status();
    CAIRN_RETURN_IF_ERROR(apply_command(next, *cmd));
  }
  map_ = std::move(next);
  return Status::Ok();
}

awaitable<void> MonClient::subscribe_loop() {
  int failures = 0;
  while (!stopped_) {
    const std::string addr = mon_addrs_[next_mon_ % mon_addrs_.size()];
    auto conn = co_await net::Connection::connect(addr, key_, kMonTimeout);
    // stop() may have run while we connected: it could not close this
    // connection, and waiting on it below would keep the executor busy forever.
    if (stopped_) {
      if (conn.ok()) (*conn)->close();
      break;
    }
    if (!conn.ok()) {
      next_mon_++;
      if (++failures % static_cast<int>(mon_addrs_.size()) == 0) {
        co_await sleep_for(Millis(std::min(2000, 100 * failures)));
      }
      continue;
    }
    sub_conn_ = *conn;
    bool got_initial = false;
    // Pushed updates arrive as one-way frames on this connection.
    sub_conn_->start([this](net::ConnectionPtr c, net::Frame f) -> awaitable<void> {
      if (f.header.type != static_cast<uint16_t>(MsgType::kMapUpdate)) co_return;
      auto u = MapUpdate::decode(f.payload);
      Epoch before = map_.epoch;
      if (!u.ok() || !apply_update(*u).ok()) {
        c->close();  // resubscribe from scratch
        co_return;
      }
      if (map_.epoch > before) {
        map_arrived_.notify_all();
        if (on_map_) on_map_(map_);
      }
    });
    SubscribeRequest req{map_.epoch};
    auto reply = co_await sub_conn_->call(static_cast<uint16_t>(MsgType::kMonSubscribe),
                                          req.encode(), kMonTimeout);
    if (reply.ok()) {
      auto u = MapUpdate::decode(reply->payload);
      Epoch before = map_.epoch;
      if (u.ok() && apply_update(*u).ok()) {
        got_initial = true;
        if (map_.epoch > before) {
          map_arrived_.notify_all();
          if (on_map_) on_map_(map_);
        }
      } else if (u.ok() && !u->full) {
        map_ = ClusterMap{};  // gap: ask for a full map next time
      }
    }
    if (stopped_) {
      sub_conn_->close();
      sub_conn_.reset();
      break;
    }
    if (got_initial && map_.epoch > 0) {
      failures = 0;
      // Wait for the connection to end; the handler above applies pushes.
      asio::steady_timer closed(ex_, asio::steady_timer::time_point::max());
      net::Connection* raw = sub_conn_.get();
      sub_conn_->on_close([&closed] { closed.cancel(); });
      if (sub_conn_->is_open()) co_await closed.async_wait(kNoThrow);
      (void)raw;
    } else {
      sub_conn_->close();
      ++failures;
      co_await sleep_for(Millis(std::min(1000, 100 * failures)));
    }
    sub_conn_.reset();
    next_mon_++;
  }
}

awaitable<Status> MonClient::wait_for_map(Epoch epoch, Millis timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (map_.epoch == 0 || map_.epoch < epoch) {
    if (stopped_) co_return Status::Shutdown("monitor client stopped");
    if (std::chrono::steady_clock::now() >= deadline) {
      co_return Status::TimedOut(map_.epoch == 0 ? "no cluster map from the monitors (are they up?)"
                                                 : "cluster map did not reach epoch " +
                                                       std::to_string(epoch));
    }
    co_await map_arrived_.wait_until(std::min(deadline, std::chrono::steady_clock::now() + Millis(200)));
  }
  co_return Status::Ok();
}

awaitable<Result<net::Frame>> MonClient::call_leader(MsgType type, std::string payload,
                                                     Millis timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Status last = Status::Unavailable("no monitor reachable");
  int round = 0;
  while (std::chrono::steady_clock::now() < deadline && !stopped_) {
    for (const auto& addr : candidates()) {
      auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      auto reply = co_await pool_.call(addr, static_cast<uint16_t>(type), payload,
                                       std::min(left, Millis(5000)));
      if (!reply.ok()) {
        last = reply.status();
        if (addr == leader_) leader_.clear();
        // Try the others first next time: behind a partition that drops
        // packets silently, this monitor would take a short call's (a
        // heartbeat's) whole budget every time, and the OSD would be marked
        // down although the quorum is reachable.
        if (!mon_addrs_.empty() && addr == mon_addrs_[next_mon_ % mon_addrs_.size()]) ++next_mon_;
        continue;
      }
      Decoder d(reply->payload);
      auto head = StatusReply::decode(d);
      if (head.ok() && head->status.is(Code::kUnavailable)) {
        last = head->status;
        if (!head->leader_hint.empty() && head->leader_hint != addr) {
          learn_leader(head->leader_hint);
          break;  // try the leader first
        }
        continue;
      }
      leader_ = addr;
      co_return std::move(*reply);
    }
    co_await sleep_for(Millis(std::min(500, 50 * ++round)));
  }
  co_return last;
}

awaitable<void> MonClient::send_leader(MsgType type, std::string payload) {
  std::string addr = leader_.empty() ? mon_addrs_[next_mon_ % mon_addrs_.size()] : leader_;
  auto conn = co_await pool_.get(addr, kMonTimeout);
  if (conn.ok()) (*conn)->send(static_cast<uint16_t>(type), std::move(payload));
}

awaitable<CommandReply> MonClient::command(MapCommand cmd, Millis timeout) {
  auto frame = co_await call_leader(MsgType::kMonCommand, cmd.encode_to_string(), timeout);
  CommandReply reply;
  if (!frame.ok()) {
    reply.head.status = frame.status();
    co_return reply;
  }
  auto r = CommandReply::decode(frame->payload);
  if (!r.ok()) {
    reply.head.status = r.status();
    co_return reply;
  }
  co_return std::move(*r);
}

awaitable<std::vector<std::pair<std::string, Result<MonStatus>>>> MonClient::all_status(
    Millis timeout) {
  std::vector<std::pair<std::string, Result<MonStatus>>> out;
  std::vector<std::string> addrs = mon_addrs_;
  for (const auto& [id, mon] : map_.mons) {
    if (!mon.addr.empty() && std::find(addrs.begin(), addrs.end(), mon.addr) == addrs.end()) {
      addrs.push_back(mon.addr);
    }
  }
  for (const auto& addr : addrs) {
    auto reply = co_await pool_.call(addr, static_cast<uint16_t>(MsgType::kMonStatus), "", timeout);
    if (!reply.ok()) {
      out.emplace_back(addr, reply.status());
      continue;
    }
    out.emplace_back(addr, MonStatus::decode(reply->payload));
  }
  co_return out;
}

}  // namespace cairn::client
