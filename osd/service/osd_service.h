// cairn-osd: serves the PGs placement gives this OSD, on one executor.
//
// Threading: all PG state, the map and the messenger live on the io_context
// thread. Object-store calls (RocksDB, fsync) run on store_pool_ through
// net::run_blocking so that many writes group-commit while the io thread
// keeps serving.
//
// Split by concern:
//   osd_service.cc  boot, map handling, heartbeats, reports, dispatch
//   osd_ops.cc      client ops on the primary, replica ops
//   osd_peering.cc  peering and recovery (pull from the newest copy, push to stale ones)
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "client/mon_client.h"
#include "common/cluster_map.h"
#include "common/messages.h"
#include "common/metrics.h"
#include "common/net/connection.h"
#include "common/net/notifier.h"
#include "common/placement.h"
#include "osd/core/log_chain.h"
#include "osd/core/past_intervals.h"
#include "osd/core/scrub_schedule.h"
#include "osd/store/object_store.h"

namespace cairn::osd {

struct OsdOptions {
  OsdId id = kNoOsd;
  std::string data_dir;
  std::string addr;
  std::string http_addr;
  std::string host;
  std::string key;
  std::vector<std::string> mon_addrs;
  int store_threads = 8;           // blocking store calls in flight (group commit width)
  // Recovery/backfill batches (up to 64 objects / 8 MiB each) in flight on
  // this OSD across all PGs (Ceph: osd_recovery_max_active).
  int recovery_max_active = 2;
  // Pause between recovery batches while client ops are in flight, so that
  // healing takes the spare capacity, not the clients' (Ceph: osd_recovery_sleep).
  int recovery_sleep_ms = 20;
  // The same pause when no client op is in flight: caps recovery bandwidth
  // even on an idle cluster (Ceph: osd_recovery_sleep). 0 = full speed.
  int recovery_sleep_idle_ms = 0;
  int heartbeat_ms = 1000;
  int report_ms = 2000;
  size_t max_log_entries = 1000;   // PG log length kept for dedup and inspection
  // Refuse writes (ENOSPC) when the data filesystem has less than this free
  // (room for RocksDB to flush and compact what it already took)...
  // Must exceed what RocksDB writes in one go (a 64 MiB data memtable flush
  // plus the metadata memtables): it aborts on a real ENOSPC.
  uint64_t full_reserve_bytes = 192ull << 20;
  // ...or is fuller than this fraction (Ceph: mon_osd_full_ratio).
  double full_ratio = 0.95;
  // Scheduled scrubs of the PGs this OSD leads (Ceph: osd_scrub_min_interval,
  // osd_deep_scrub_interval, osd_scrub_interval_randomize_ratio); 0 = off.
  uint64_t scrub_interval_s = 24 * 3600;
  uint64_t deep_scrub_interval_s = 7 * 24 * 3600;
  double scrub_randomize_ratio = 0.5;
};

enum class PgState { kPeering, kActive, kReplica, kStray };

// The "heard" PG meta value.
std::string encode_heard_histories(const std::map<OsdId, PgHistory>& heard);
Result<std::map<OsdId, PgHistory>> decode_heard_histories(std::string_view bytes);

struct Pg {
  explicit Pg(boost::asio::any_io_executor ex) : state_changed(ex) {}
  PgId id;
  CollectionId cid;
  std::vector<OsdId> up;        // current up set, primary first
  std::vector<Epoch> up_from;   // each member's last boot epoch (a restart is a new interval)
  Epoch interval_start = 0;     // map epoch at which `up` last changed
  PgState state = PgState::kStray;
  bool recovering = false;      // foreground: the primary itself is catching up
  // Up members still being brought up to date in the background. Writes skip
  // them (they get the final state at cut-over) and do not count as copies.
  std::set<OsdId> backfill_targets;
  bool paused = false;          // cut-over or scrub in progress: new writes wait
  uint64_t inconsistent_objects = 0;  // found by the last scrub and not repaired
  ScrubStamps scrub_stamps;     // persisted under meta "scrub"
  double scrub_jitter = 0;      // where in its randomized window the next scrub falls
  uint64_t scrub_retry_ms = 0;  // wall clock: a failed scheduled scrub waits until then
  size_t inflight_writes = 0;   // writes between version assignment and ack
  uint64_t peering_gen = 0;     // bumped per interval: stale peering aborts
  // Intervals this OSD observed since the PG was last clean (meta "history").
  PgHistory history;
  bool history_fresh = true;    // no map seen for it since this process started
  // Peering cannot finish: an interval that may have acked writes has no
  // reachable member. The PG is "down" until one of these OSDs is back.
  std::set<OsdId> blocked_by;
  // Histories other members sent this primary (until the PG is clean): they
  // keep counting when those members go down, and across our restarts
  // (meta "heard").
  std::map<OsdId, PgHistory> heard_histories;
  std::vector<OsdId> acting;    // active primary: up members holding every acked write
  uint64_t last_update = 0;     // newest PG log version applied here
  LogChain chain;               // how far the log is complete here (no gaps)
  std::deque<LogEntry> log;     // recent entries (persisted under meta "log/")
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> dedup;  // (client, tid) -> version
  // Writes this primary logged in interval `unacked_gen` (peering_gen) but
  // did not ack: they may exist only here, so a resend must not be answered
  // from `dedup` until peering has decided whether they are part of the
  // authoritative log.
  std::set<uint64_t> unacked;
  uint64_t unacked_gen = 0;
  uint64_t objects = 0;
  int64_t bytes = 0;
  // Woken on every state change: waiters re-check.
  net::Notifier state_changed;
  // Ops on one object run one at a time, in arrival order.
  std::map<std::string, std::deque<std::shared_ptr<boost::asio::steady_timer>>> object_queues;

  void notify() { state_changed.notify_all(); }
};

// The PG's "info" record: last_update, objects, bytes, log-complete bound.
std::string encode_pg_info(const Pg& pg);

class OsdService {
 public:
  OsdService(boost::asio::io_context& io, OsdOptions opts, Metrics* metrics);
  ~OsdService();

  Status start();
  // Tells the monitors we are going down (fast failover), then stops.
  net::awaitable<void> shutdown();
  void stop();

  // Thread-safe (for /healthz): booted and marked up in the map.
  bool healthy() const { return healthy_.load(); }

 private:
  using PgPtr = std::shared_ptr<Pg>;

  // osd_service.cc
  net::awaitable<void> handle(net::ConnectionPtr conn, net::Frame frame);
  net::awaitable<void> boot_loop();
  net::awaitable<void> heartbeat_loop();
  // Pings every OSD that is up or still "in", and reports the ones that stay
  // silent to the monitors: an OSD that reaches the monitors but not its
  // peers must still be marked down (its PGs would stall otherwise).
  net::awaitable<void> peer_ping_loop();
  net::awaitable<void> ping_peer(OsdId id, std::string addr);
  net::awaitable<void> report_loop();
  void on_map(const ClusterMap& map);
  Status load_pgs();
  PgPtr get_pg(PgId id, bool create);
  void set_state(Pg& pg, PgState s);
  std::string pg_state_name(const Pg& pg, const PoolInfo& pool) const;
  StatusReply stale(const std::string& why) const;

  // osd_ops.cc
  net::awaitable<OsdOpReply> do_op(OsdOpRequest req);
  net::awaitable<OsdOpReply> do_write(PgPtr pg, const PoolInfo& pool, OsdOpRequest req);
  net::awaitable<OsdOpReply> do_read(PgPtr pg, OsdOpRequest req);
  net::awaitable<StatusReply> do_repop(RepOpRequest req);
  net::awaitable<Status> send_repop(PgPtr pg, OsdId to, std::string payload, uint64_t gen);
  // Appends the log bookkeeping for entry to txn and to pg's in-memory log.
  void record_entry(Pg& pg, const LogEntry& entry, Transaction& txn);
  // Makes `log` (the authoritative member's) pg's log and dedup table, so that
  // entries only this OSD had (writes that were never acked, which recovery
  // just overwrote) no longer answer resent requests.
  void replace_log(Pg& pg, const std::vector<LogEntry>& log, Transaction& txn);
  net::awaitable<void> lock_object(PgPtr pg, std::string name);
  void unlock_object(Pg& pg, const std::string& name);
  net::awaitable<PgListReply> do_list(PgListRequest req);

  // osd_peering.cc
  net::awaitable<void> acquire_recovery_slot();
  void release_recovery_slot();
  net::awaitable<void> peer(PgPtr pg, uint64_t gen);
  // Makes our copy of pg identical to `from`'s, whose log is auth_log (null:
  // unknown, ours is kept).
  net::awaitable<Status> pull_all(PgPtr pg, OsdId from, uint64_t auth_version, uint64_t gen,
                                  const std::vector<LogEntry>* auth_log);
  // Copies to `to` every object that differs from ours. With
  // kSetHead the target also takes our log head: only valid while no write
  // is in flight (peering, or a paused cut-over), otherwise the head would
  // claim writes the pass did not copy.
  enum class PushHead { kKeep, kSetHead };
  // `sent`, if set, receives how many objects and removals the pass found to copy.
  net::awaitable<Status> push_all(PgPtr pg, OsdId to, uint64_t gen, PushHead head,
                                  size_t* sent = nullptr);
  // Brings each backfill target up to date while the PG serves I/O, then
  // pauses writes briefly for a final catch-up and admits it to the acting set.
  net::awaitable<void> backfill(PgPtr pg, uint64_t gen);
  net::awaitable<Result<std::map<std::string, uint64_t>>> list_remote(PgPtr pg, OsdId osd);
  net::awaitable<Result<std::map<std::string, uint64_t>>> list_local(PgPtr pg);
  Result<ObjectData> read_object(CollectionId cid, const std::string& name);
  void write_object(Transaction& txn, CollectionId cid, const ObjectData& obj);
  net::awaitable<PgObjectReply> do_pull(PgObjectRef ref);
  net::awaitable<StatusReply> do_push(PgPushRequest req);
  net::awaitable<PgInfoReply> do_pg_info(PgRef ref);
  net::awaitable<StatusReply> do_activate(PgActivate req);
  // Tells every up member (and `extra` OSDs, best effort) that the PG is
  // active in this interval with pg->acting; with `wait`, fails unless every
  // up member recorded it durably.
  net::awaitable<Status> send_activate(PgPtr pg, Epoch last_epoch_clean, std::set<OsdId> extra,
                                       bool wait);
  // Writes pg's history in the background (in order with earlier writes).
  void history_changed(const Pg& pg);
  // Returns once pg's history as of now is on disk.
  net::awaitable<Status> save_history(PgPtr pg);
  net::awaitable<void> history_writer();

  // osd_scrub.cc
  net::awaitable<ScrubMapReply> do_scrub_map(ScrubMapRequest req);
  net::awaitable<ScrubReply> do_scrub(ScrubRequest req);
  // Starts the scrubs that are due, one at a time (scrub_schedule.h).
  net::awaitable<void> scrub_loop();
  // Records that pg was (deep-)scrubbed at now_ms, in memory and on disk.
  void scrub_done(const PgPtr& pg, bool deep, uint64_t now_ms);
  void save_scrub_stamps(const PgPtr& pg);
  // A PG never scrubbed (new, or from before scheduled scrubs) counts as
  // scrubbed at now_ms: the primary calls this when it first reports it.
  void start_scrub_schedule(const PgPtr& pg, uint64_t now_ms);
  double draw_scrub_jitter() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

  boost::asio::io_context& io_;
  OsdOptions opts_;
  Metrics* metrics_;
  std::unique_ptr<ObjectStore> store_;
  boost::asio::thread_pool store_pool_;
  std::unique_ptr<client::MonClient> mon_;
  std::unique_ptr<net::Server> server_;
  std::unique_ptr<net::ConnectionPool> peers_;
  std::string bound_addr_;
  uint64_t boot_nonce_ = 0;
  bool stopped_ = false;
  bool shutting_down_ = false;  // marked itself down: must not boot again
  bool booting_ = false;
  std::map<OsdId, uint64_t> peer_silent_since_ms_;  // peers whose pings fail, since when
  std::set<OsdId> pinging_;                         // a ping to it is in flight
  std::set<OsdId> peer_seen_up_;                    // up in the map at the last round

  ClusterMap map_;
  PlacementTopology topo_;
  std::map<PgId, PgPtr> pgs_;
  // The data filesystem as last measured (every report), less what was
  // written since: a fast writer must not outrun the measurement.
  uint64_t fs_avail_bytes_ = UINT64_MAX;
  uint64_t fs_total_bytes_ = 0;
  // True when client writes must be refused for lack of space here.
  bool disk_full() const;
  // Accounts for `bytes` of object data just written (WAL and data file).
  void note_disk_write(uint64_t bytes);
  // Removals since the last reclaim: a full OSD that has some compacts to
  // give their space back (RocksDB frees it only then).
  uint64_t removed_since_reclaim_ = 0;
  bool reclaiming_ = false;
  net::awaitable<void> reclaim_space();
  size_t client_ops_inflight_ = 0;
  std::chrono::steady_clock::time_point last_client_op_{};
  // Clients count as active for a while after their last op: with a few ops
  // in flight over many OSDs, each OSD is often between two of them.
  bool clients_active() const {
    return client_ops_inflight_ > 0 ||
           std::chrono::steady_clock::now() - last_client_op_ < std::chrono::seconds(1);
  }
  int scrubs_running_ = 0;  // manual and scheduled
  std::mt19937_64 rng_{std::random_device{}()};
  int recovery_active_ = 0;
  std::unique_ptr<net::Notifier> recovery_slots_;
  std::unique_ptr<net::Notifier> stop_wake_;  // wakes the periodic loops at stop()
  // PG histories waiting to be written, by one writer so writes stay in order.
  std::set<PgId> history_dirty_;
  uint64_t history_seq_ = 0;        // bumped per change
  uint64_t history_saved_seq_ = 0;  // every change up to it is on disk
  Status history_error_;            // the last failed history write
  bool history_writing_ = false;
  std::unique_ptr<net::Notifier> history_saved_;

  std::atomic<bool> healthy_{false};
  Counter* ops_counter_ = nullptr;
  Counter* write_bytes_ = nullptr;
  Counter* read_bytes_ = nullptr;
  Counter* repops_counter_ = nullptr;
  Counter* recovered_objects_ = nullptr;
  Counter* recovered_bytes_ = nullptr;
  uint64_t recovery_objects_left_ = 0;  // in the recovery passes under way
  // Adds n objects to recovery_objects_left_ until destroyed or done().
  struct RecoveryLeft {
    RecoveryLeft(uint64_t* total, uint64_t n) : total_(total), left_(n) { *total_ += n; }
    ~RecoveryLeft() { *total_ -= left_; }
    void done(uint64_t n) {
      n = std::min(n, left_);
      left_ -= n;
      *total_ -= n;
    }
    RecoveryLeft(const RecoveryLeft&) = delete;
    RecoveryLeft& operator=(const RecoveryLeft&) = delete;

   private:
    uint64_t* total_;
    uint64_t left_;
  };
  Histogram* op_latency_ = nullptr;
};

}  // namespace cairn::osd
