// cairn-mds: the metadata server. One MDS is active per filesystem, holding
// a lease on the fs.mds.lock object; the others wait as standbys and take
// over when the lease lapses, replaying the journal first.
//
// Everything runs on the cluster client's io thread: the namespace and lock
// table are touched only there, and object I/O is awaited, not blocked on.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "client/client.h"
#include "common/metrics.h"
#include "common/net/connection.h"
#include "common/net/notifier.h"
#include "fs/core/journal.h"
#include "fs/core/locks.h"
#include "fs/core/namespace.h"
#include "fs/core/proto.h"

namespace cairn::fs {

struct MdsOptions {
  std::string name = "mds.0";
  std::string addr = "127.0.0.1:0";  // where clients connect
  std::string fs_name = "cairnfs";    // pools <fs>.meta and <fs>.data
  std::string key;                    // the cluster key (messenger auth)
  uint64_t lease_ms = 10000;
  // How long a disconnected client's opens and locks are kept for it.
  uint64_t session_timeout_ms = 30000;
  uint64_t checkpoint_interval_ms = 2000;
  // After a takeover, how long requests wait for the previous MDS's clients
  // to reconnect and resend the requests it had answered early.
  uint64_t reconnect_timeout_ms = 10000;
  // How long a journal entry may wait for others to share its append when
  // nobody waits for it to be durable (its caller was answered early).
  // Fewer, larger appends: less OSD work per change.
  uint64_t journal_batch_ms = 5;
};

std::string meta_pool_name(const std::string& fs);
std::string data_pool_name(const std::string& fs);
// The active MDS's address from the lock holder ("mds.0@127.0.0.1:6800").
std::string addr_from_owner(const std::string& owner);

class Mds {
 public:
  Mds(client::Client& cluster, MdsOptions opts, Metrics* metrics);
  ~Mds();
  // Waits to become active, loads the namespace, then serves until stop().
  // Returns an error if the lease is lost (the caller exits: a fenced MDS
  // must not serve again).
  boost::asio::awaitable<Status> run();
  boost::asio::awaitable<void> stop();
  const std::string& state() const { return state_; }

 private:
  struct Session {
    uint64_t id = 0;
    std::string name;
    std::weak_ptr<net::Connection> conn;
    std::map<Ino, uint32_t> opens;
    uint64_t disconnected_ms = 0;  // 0 while connected
    uint64_t notify_acked = 0;  // the newest invalidation it has applied
    int waiting_acks = 0;       // its requests waiting for others' acks
  };
  // (session, MdsNotify.seq) a change's answer waits for.
  using NotifyTargets = std::vector<std::pair<uint64_t, uint64_t>>;
  struct Dirty {
    std::map<Ino, std::optional<Inode>> inodes;  // nullopt: removed
    std::map<Ino, std::map<std::string, std::optional<Dentry>>> dentries;
    Ino max_ino = 0;
  };

  boost::asio::awaitable<Status> acquire_lease();
  boost::asio::awaitable<Status> renew_lease();
  boost::asio::awaitable<Status> load();
  // Every key of an omap object (empty if it was never written).
  boost::asio::awaitable<Result<std::map<std::string, std::string>>> read_omap(std::string obj);
  // Records a durable update for the next checkpoint.
  void track_dirty(const Update& u);
  boost::asio::awaitable<Status> replay_journal();
  boost::asio::awaitable<void> journal_loop();
  boost::asio::awaitable<void> checkpoint_loop();
  boost::asio::awaitable<Status> checkpoint();
  boost::asio::awaitable<void> lease_loop();
  boost::asio::awaitable<void> session_loop();
  boost::asio::awaitable<void> purge_loop();
  boost::asio::awaitable<Status> purge(const Purge& p);
  boost::asio::awaitable<void> handle(net::ConnectionPtr conn, net::Frame frame);
  // Runs one request against the namespace; fills the reply and the txn.
  void dispatch(const MdsRequest& req, const Caller& c, Session* s, MdsReply* rep, Txn* txn);
  // Queues a txn for the journal; returns its sequence number.
  uint64_t submit(Txn txn, uint64_t session = 0, uint64_t tid = 0, std::string reply = {});
  // Remembers a journaled request's reply for resends (a bounded window).
  void remember_reply(uint64_t session, uint64_t tid, uint64_t seq, std::string reply);
  boost::asio::awaitable<Status> wait_durable(uint64_t seq);
  // The newest entry below `below` not yet durable that another session (or
  // the MDS itself) made; 0 if none.
  uint64_t foreign_in_flight(uint64_t session, uint64_t below) const;
  // Tells clients which of their early-answered requests are now durable.
  void send_safe(uint64_t upto);
  // Holds a request back while the previous MDS's clients replay.
  boost::asio::awaitable<void> wait_gate();
  void open_gate(const std::string& why);
  NotifyTargets notify_others(const Txn& txn, uint64_t origin_session);
  // Until the other clients have dropped what a change made stale from
  // their kernel caches (bounded: see mds.cc).
  boost::asio::awaitable<void> wait_acks(uint64_t origin, NotifyTargets targets);
  void end_session(Session& s);
  std::string status_json() const;

  client::Client& cluster_;
  MdsOptions opts_;
  Metrics* metrics_;
  std::string owner_;
  std::string state_ = "standby";
  PoolId meta_ = 0;
  PoolId data_ = 0;
  bool stopping_ = false;
  Status fatal_;

  Namespace ns_;
  LockTable locks_;
  std::map<uint64_t, Session> sessions_;
  // session -> tid -> (journal seq, encoded reply) of recent mutations.
  std::map<uint64_t, std::map<uint64_t, std::pair<uint64_t, std::string>>> completed_;
  uint64_t next_session_;

  // Journal: entries applied in memory, queued, then appended in batches.
  uint64_t next_seq_ = 1;
  uint64_t durable_seq_ = 0;
  uint64_t tail_seq_ = 0;       // everything up to here is in the objects
  uint64_t segment_ = 0;        // the segment being appended to
  uint64_t first_segment_ = 0;  // the oldest segment still needed
  uint64_t segment_bytes_ = 0;
  std::map<uint64_t, uint64_t> segment_last_seq_;  // segment -> its newest seq
  std::vector<JournalEntry> pending_;
  std::chrono::steady_clock::time_point pending_since_;  // when pending_ last became non-empty
  size_t durable_waiters_ = 0;  // in wait_durable: append at once
  Dirty dirty_;  // durable changes not yet written to the objects
  std::vector<Purge> purges_;
  // Entries not yet durable: seq -> the session that made it (0: the MDS).
  std::map<uint64_t, uint64_t> in_flight_;
  // Requests answered early: seq -> (session, tid), until durable.
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> unsafe_;
  // Sessions open as far as the journal and the checkpoint know.
  std::set<uint64_t> known_sessions_;
  // After a takeover: sessions that have not reconnected and replayed yet.
  std::set<uint64_t> awaiting_replay_;
  bool replay_gate_ = false;
  uint64_t gate_deadline_ms_ = 0;
  std::unique_ptr<net::Notifier> gate_open_;
  std::unique_ptr<net::Notifier> acked_;
  uint64_t next_notify_;  // clock-seeded: acks meant for a predecessor are older

  std::unique_ptr<net::Notifier> wake_journal_;
  std::unique_ptr<net::Notifier> durable_;
  std::unique_ptr<net::Notifier> wake_purge_;
  std::unique_ptr<net::Server> server_;
  uint64_t lease_expires_ms_ = 0;
  int loops_running_ = 0;
  std::unique_ptr<net::Notifier> loops_done_;

  Counter* ops_total_ = nullptr;
  Counter* journal_bytes_ = nullptr;
  Counter* journal_appends_ = nullptr;
};

}  // namespace cairn::fs
