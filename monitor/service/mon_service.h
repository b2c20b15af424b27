// cairn-mon: the Boost.Asio shell around the Raft core and the cluster map.
//
// Everything here runs on one io_context thread: Raft, the map, subscribers
// and the failure detector share no state with other threads except the
// atomics the HTTP thread reads for /healthz and /metrics.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/cluster_map.h"
#include "common/messages.h"
#include "common/metrics.h"
#include "common/net/connection.h"
#include "monitor/core/failure_detector.h"
#include "monitor/core/raft.h"

namespace cairn::mon {

class RaftLogStore;

struct MonOptions {
  MonId id = 0;
  std::string data_dir;
  std::string addr;       // messenger endpoint
  std::string http_addr;  // /metrics, /healthz
  std::string key;        // cluster key
  std::string fsid;       // set on the map when this monitor bootstraps it
  std::map<MonId, std::string> peers;  // founding members (incl. self); with join: any members
  // Joining an existing quorum (after `cairnctl mon add`): do not bootstrap,
  // learn the configuration and the map from the leader.
  bool join = false;
  int tick_ms = 100;
  int election_ticks = 10;
  // Take a Raft snapshot (the encoded map) and drop the log every this many entries.
  uint64_t snapshot_every = 500;
  FailureDetectorOptions failure;
};

class MonService {
 public:
  MonService(boost::asio::io_context& io, MonOptions opts, Metrics* metrics);
  ~MonService();

  Status start();
  void stop();

  // Thread-safe: true while this monitor knows a quorum leader.
  bool healthy() const { return leader_known_.load(); }
  uint64_t epoch() const { return map_epoch_.load(); }

 private:
  struct Waiter;
  struct Subscriber {
    std::weak_ptr<net::Connection> conn;
    Epoch epoch = 0;
  };

  net::awaitable<void> handle(net::ConnectionPtr conn, net::Frame frame);
  net::awaitable<void> handle_command(net::ConnectionPtr conn, net::Frame frame);
  net::awaitable<void> ticker();

  // Proposes cmd and waits until it applies (or fails / times out).
  net::awaitable<CommandReply> propose_and_wait(MapCommand cmd);
  void process_ready();
  void apply_entry(const raft::Entry& e);
  void apply_map_command(const MapCommand& cmd, raft::Index index, raft::Term term);
  void on_map_changed();
  void push_to_subscribers();
  MapUpdate update_since(Epoch have) const;
  void send_raft(const raft::Message& m);
  void maybe_snapshot();
  StatusReply not_leader() const;
  std::string leader_addr() const;
  MonStatus status() const;
  void update_gauges();
  // Leader: flags pools whose reported usage reached their quota (max_bytes)
  // so OSDs refuse writes to them with ENOSPC, and clears the flag again.
  void check_pool_quotas();
  // Mirrors the OSDs' reported full state into the map (osd_full_key).
  void check_osd_full();
  void register_founders();

  boost::asio::io_context& io_;
  MonOptions opts_;
  Metrics* metrics_;
  std::unique_ptr<RaftLogStore> store_;
  std::unique_ptr<raft::Node> node_;
  std::unique_ptr<net::Server> server_;
  std::unique_ptr<net::ConnectionPool> peers_pool_;
  std::map<MonId, std::string> peer_addrs_;
  boost::asio::steady_timer tick_timer_;
  bool stopped_ = false;
  bool was_leader_ = false;

  ClusterMap map_;
  // Recent commands by the epoch they produced, for incremental updates.
  std::deque<std::pair<Epoch, std::string>> recent_;
  static constexpr size_t kRecentEpochs = 200;
  std::map<net::Connection*, Subscriber> subscribers_;
  std::map<raft::Index, std::shared_ptr<Waiter>> waiters_;
  // True if this boot comes from the same OSD process the map knows (marked
  // down while alive); a new process's boot clears its peers' old reports.
  bool booting_again(const MapCommand& boot);
  FailureDetector detector_;
  std::map<OsdId, OsdReport> reports_;
  std::map<MonId, uint64_t> peer_last_heard_ms_;
  raft::Index applied_since_snapshot_ = 0;
  std::set<MonId> bootstrap_pending_;  // leader: registrations in flight (-1: the map itself)

  std::atomic<bool> leader_known_{false};
  std::atomic<uint64_t> map_epoch_{0};
  Gauge* is_leader_gauge_ = nullptr;
  Gauge* term_gauge_ = nullptr;
  Gauge* epoch_gauge_ = nullptr;
  Counter* commands_counter_ = nullptr;
  Counter* elections_counter_ = nullptr;
};

}  // namespace cairn::mon
