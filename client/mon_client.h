// MonClient: how OSDs and clients talk to the monitor quorum.
//
// Keeps a subscription open to one monitor (any member; the map it pushes is
// what that member has applied), follows leader hints for commands, and
// fails over to another monitor when the connection drops.
// Owned by, and used only from, one executor.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "common/cluster_map.h"
#include "common/messages.h"
#include "common/net/connection.h"
#include "common/net/notifier.h"

namespace cairn::client {

using net::awaitable;
using net::Millis;

class MonClient {
 public:
  MonClient(boost::asio::any_io_executor ex, std::string key, std::vector<std::string> mon_addrs);
  ~MonClient();

  // Starts the subscription loop; on_map runs (on this executor) after each
  // new map epoch is applied.
  void start(std::function<void(const ClusterMap&)> on_map);
  void stop();

  const ClusterMap& map() const { return map_; }
  // Waits until a map of at least `epoch` (or any map, for 0) has arrived.
  awaitable<Status> wait_for_map(Epoch epoch, Millis timeout);
  // Asks for a newer map now (after an OSD said ours is stale).
  void refresh();

  // Sends cmd to the quorum leader, following hints and retrying while there
  // is no leader, for up to `timeout`.
  awaitable<CommandReply> command(MapCommand cmd, Millis timeout = Millis(30000));
  // A request for the leader (heartbeats, reports): the raw reply frame.
  awaitable<Result<net::Frame>> call_leader(MsgType type, std::string payload, Millis timeout);
  // A one-way message to the leader (best effort).
  awaitable<void> send_leader(MsgType type, std::string payload);
  // Status of every monitor that answers within timeout (in mon_addrs order).
  awaitable<std::vector<std::pair<std::string, Result<MonStatus>>>> all_status(Millis timeout);

  const std::vector<std::string>& mon_addrs() const { return mon_addrs_; }

 private:
  awaitable<void> subscribe_loop();
  Status apply_update(const MapUpdate& u);
  void learn_leader(const std::string& hint);
  std::vector<std::string> candidates() const;

  boost::asio::any_io_executor ex_;
  std::string key_;
  std::vector<std::string> mon_addrs_;
  net::ConnectionPool pool_;
  ClusterMap map_;
  std::function<void(const ClusterMap&)> on_map_;
  std::string leader_;  // best guess
  size_t next_mon_ = 0;
  bool stopped_ = false;
  bool started_ = false;
  net::ConnectionPtr sub_conn_;
  net::Notifier map_arrived_;  // notified whenever the map advances
  boost::asio::steady_timer retry_timer_;
};

}  // namespace cairn::client
