// Raft consensus as a pure, deterministic state machine (etcd-raft style).
//
// No clock, no threads, no I/O: the shell feeds it logical time (tick()),
// network input (step()) and client proposals, and drains its output through
// ready()/advance(). Randomness (election timeouts) comes from a
// std::mt19937_64 seeded from Options::seed, so a run replays exactly.
//
// The shell loop, in this order:
//   while (node.has_ready()) {
//     Ready rd = node.ready();
//     store.save(rd);                 // hard state, snapshot, entries: durable (fsync)
//     if (rd.snapshot) app.load(rd.snapshot->data);
//     send(rd.messages);              // only after save() returned
//     apply(rd.committed);            // in order, after save()
//     node.advance();
//   }
// step()/tick()/propose() may be called between ready() and advance() (e.g.
// while the fsync is in flight), but ready() must not be called again before
// advance().
//
// Semantics chosen:
// - Membership: single-server changes. A conf change takes effect when it is
//   COMMITTED (the core applies it to voters() as its commit index passes the
//   entry, on every node), like etcd. A leader accepts a new conf change only
//   once every earlier one is committed, and not before the no-op of its own
//   term is committed (this avoids the single-server-change bug of leader
//   changes mid-reconfiguration). A leader whose removal commits steps down
//   (handing leadership to the most up-to-date voter with kTimeoutNow).
// - Bootstrap: a node restored with no snapshot, no entries and non-empty
//   initial_voters writes one kConfChange(kAddNode) entry per voter at term 1,
//   indexes 1..n, already committed; every founding member must be given the
//   same initial_voters (in the same order). A node joining later starts with
//   empty initial_voters and no log and learns the configuration from the
//   leader (entries or a snapshot). Nodes outside voters() never campaign.
// - Check-quorum is always on: a leader that has not heard from a quorum for
//   election_ticks steps down; followers that heard from a leader within
//   election_ticks ignore (pre-)vote requests, so a rejoining partitioned
//   node cannot depose a healthy leader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/codec.h"
#include "common/status.h"

namespace cairn::raft {

using NodeId = int32_t;  // ids are >= 0
using Term = uint64_t;
using Index = uint64_t;

inline constexpr NodeId kNoNode = -1;

enum class EntryType : uint8_t { kNormal = 0, kConfChange = 1, kNoop = 2 };

struct Entry {
  Term term = 0;
  Index index = 0;
  EntryType type = EntryType::kNormal;
  std::string data;

  void encode(Encoder& enc) const;
  // Reads one entry; on malformed input returns false and leaves dec failed.
  static bool decode(Decoder& dec, Entry* out);
  bool operator==(const Entry&) const = default;
};

enum class ConfChangeType : uint8_t { kAddNode = 0, kRemoveNode = 1 };

struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddNode;
  NodeId node = kNoNode;
  std::string context;  // app data carried along, e.g. the node's address

  std::string encode() const;
  static Result<ConfChange> decode(std::string_view in);
};

struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;

  void encode(Encoder& enc) const;
  static Result<HardState> decode(std::string_view in);
  bool operator==(const HardState&) const = default;
};

struct Snapshot {
  Index index = 0;             // last entry covered by the snapshot
  Term term = 0;               // term of that entry
  std::vector<NodeId> voters;  // configuration as of `index`
  std::string data;            // the app's serialized state

  void encode(Encoder& enc) const;
  static bool decode(Decoder& dec, Snapshot* out);
  bool operator==(const Snapshot&) const = default;
};

enum class MsgType : uint8_t {
  kVote = 0,
  kVoteResp,
  kPreVote,
  kPreVoteResp,
  kAppend,
  kAppendResp,
  kSnapshot,
  kHeartbeat,
  kHeartbeatResp,
  kTimeoutNow,
};
inline constexpr uint8_t kMaxMsgType = static_cast<uint8_t>(MsgType::kTimeoutNow);

std::string_view msg_type_name(MsgType t);

struct Message {
  MsgType type = MsgType::kHeartbeat;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term = 0;
  // kAppend: index/term of the entry preceding `entries`.
  // kAppendResp: highest matching index (accept) or the rejected probe index.
  // kVote/kPreVote: the candidate's last log index/term.
  // kAppendResp reject: term of the entry at reject_hint.
  Index log_index = 0;
  Term log_term = 0;
  std::vector<Entry> entries;
  Index commit = 0;
  bool reject = false;
  Index reject_hint = 0;  // kAppendResp reject: follower's guess of the last matching index
  std::optional<Snapshot> snapshot;
  // kVote from a leadership transfer: bypasses the receivers' leader lease.
  bool transfer = false;

  void encode(Encoder& enc) const;
  // Validates enum ranges and bounds every count; never crashes on garbage.
  static Result<Message> decode(std::string_view in);
};

struct Ready {
  // Changed hard state to persist (with the entries, atomically).
  std::optional<HardState> hard_state;
  // Entries to append durably. entries[0].index may be <= the last stored
  // index: storage must first drop every stored entry >= entries[0].index.
  std::vector<Entry> entries;
  // Snapshot received from the leader: persist it (dropping every stored
  // entry), then the app must load its data before applying `committed`.
  std::optional<Snapshot> snapshot;
  // Send only after everything above is durable.
  std::vector<Message> messages;
  // Committed entries to apply in order (after the snapshot, if any). They
  // include kConfChange entries (already applied to voters() by the core)
  // and kNoop entries, which the app skips.
  std::vector<Entry> committed;

  bool empty() const {
    return !hard_state && entries.empty() && !snapshot && messages.empty() && committed.empty();
  }
};

struct Options {
  NodeId id = kNoNode;
  // Followers campaign after a random timeout in [election_ticks, 2*election_ticks).
  int election_ticks = 10;
  // The leader sends heartbeats every heartbeat_ticks. Must be < election_ticks.
  int heartbeat_ticks = 1;
  uint64_t seed = 1;
  // Bounds on one kAppend (at least one entry is always sent).
  size_t max_entries_per_msg = 64;
  size_t max_bytes_per_msg = 1 << 20;
  // Bound on unacknowledged kAppend messages per follower while pipelining.
  size_t max_inflight_msgs = 256;
  // Pre-vote (Raft thesis §9.6): a node only bumps its term after learning
  // it could win, so a node rejoining from a partition does not disrupt.
  bool pre_vote = true;
};

struct PersistentState {
  HardState hard_state;
  std::optional<Snapshot> snapshot;
  std::vector<Entry> entries;  // contiguous, starting right after the snapshot (or at 1)
  // Used only to bootstrap a brand-new cluster: see the top of this file.
  std::vector<NodeId> initial_voters;
};

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
std::string_view role_name(Role r);

class Node {
 public:
  // REQUIRES: opts.id >= 0, 0 < heartbeat_ticks < election_ticks; `restored`
  // is what the shell persisted (validated by the store), contiguous.
  Node(Options opts, PersistentState restored);

  // One unit of logical time.
  void tick();
  // Feeds one message from the network. Messages for other nodes, with stale
  // terms or inconsistent fields are ignored; no wire input can crash us.
  void step(const Message& m);
  // Appends `data` to the log. Returns the index it will have if it commits
  // (it may still be lost if leadership changes). Unavailable if not leader
  // or a leadership transfer is in progress.
  Result<Index> propose(std::string data);
  // Proposes a membership change. Unavailable if not leader or another conf
  // change (or this leader's no-op) is not committed yet; InvalidArgument if
  // it adds an existing voter, removes a non-voter or the last voter.
  Result<Index> propose_conf_change(const ConfChange& cc);

  // Whether ready() has anything to hand out. False between ready() and
  // advance(); anything produced meanwhile shows up after advance().
  bool has_ready() const;
  // REQUIRES: the previous ready() was followed by advance().
  Ready ready();
  // Acknowledges that the last ready() was persisted, sent and applied.
  void advance();

  // The app has applied everything up to `index` (REQUIRES: index <=
  // applied index, i.e. handed out by an advanced ready()) and serialized
  // its state into `data`. Keeps that as the snapshot (see snapshot()) and
  // drops log entries <= index; the shell then persists snapshot() with
  // RaftLogStore::compact(). Followers whose next index falls below the
  // first log index are sent the snapshot.
  // InvalidArgument if index is not applied or not above the current snapshot.
  Status compact(Index index, std::string data);

  // Campaigns now (pre-vote first if enabled). No-op for leaders and non-voters.
  void campaign();
  // Asks `to` (a voter) to take over once it is caught up; proposals are
  // refused meanwhile. Aborted after an election timeout.
  void transfer_leadership(NodeId to);

  NodeId id() const { return id_; }
  NodeId leader() const { return leader_; }  // kNoNode if unknown
  Role role() const { return role_; }
  Term term() const { return term_; }
  Index commit_index() const { return commit_; }
  Index applied_index() const { return applied_; }
  Index first_index() const { return snap_index_ + 1; }
  Index last_index() const { return snap_index_ + log_.size(); }
  const std::vector<NodeId>& voters() const { return voters_; }
  bool is_voter(NodeId n) const;
  // The latest snapshot (from compact() or installed from the leader).
  const std::optional<Snapshot>& snapshot() const { return snapshot_; }
  // Leader only: replication state of each follower (for status and metrics).
  struct PeerProgress {
    NodeId id = kNoNode;
    Index match = 0;         // highest index known replicated there
    Index next = 0;          // next index to send
    std::string_view state;  // "probe", "replicate" or "snapshot"
    size_t inflight = 0;
    bool recent_active = false;
  };
  std::vector<PeerProgress> progress() const;
  // Term of entry `i`, if still in the log (or the snapshot's last entry).
  std::optional<Term> term_at(Index i) const;
  // Entries [lo, hi] still in the log (clamped), e.g. for inspection in tests.
  std::vector<Entry> entries(Index lo, Index hi) const;

 private:
  enum class ProgressState { kProbe, kReplicate, kSnapshot };
  // Leader's view of one follower.
  struct Progress {
    Index match = 0;
    Index next = 1;
    ProgressState state = ProgressState::kProbe;
    bool probe_sent = false;     // kProbe: one append in flight until answered
    bool recent_active = false;  // heard from it since the last check-quorum
    Index pending_snapshot = 0;  // kSnapshot: index of the snapshot sent
    int snapshot_ticks = 0;      // kSnapshot: retry after an election timeout
    std::deque<Index> inflight;  // kReplicate: last index of each unacked append
  };
  enum class CampaignKind { kPreVote, kVote, kTransfer };

  // Roles.
  void become_follower(Term term, NodeId leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void start_campaign(CampaignKind kind);
  void reset_election_timer();
  size_t quorum() const { return voters_.size() / 2 + 1; }

  // Step by role / type.
  void step_leader(const Message& m);
  void step_candidate(const Message& m);
  void step_follower(const Message& m);
  void handle_vote_request(const Message& m);
  void handle_append(const Message& m);
  void handle_heartbeat(const Message& m);
  void handle_snapshot(const Message& m);
  void handle_append_resp(const Message& m, Progress& pr);
  void handle_heartbeat_resp(const Message& m, Progress& pr);
  void tally_vote(NodeId from, bool granted);

  // Replication (leader).
  Message make_msg(MsgType type, NodeId to, Term term) const;
  void send(Message m);
  void bcast_append();
  void bcast_heartbeat();
  // Sends entries (or the snapshot) to `to` unless its flow is paused.
  // With allow_empty an append carrying only the commit index may be sent.
  bool send_append(NodeId to, bool allow_empty);
  void send_snapshot(NodeId to, Progress& pr);
  bool maybe_commit();
  void append_entry(EntryType type, std::string data);
  void become_probe(Progress& pr);
  void become_replicate(Progress& pr);
  bool paused(const Progress& pr) const;
  void sync_progress_with_voters();

  // Log.
  bool up_to_date(Index last_idx, Term last_term) const;
  Term last_term() const;
  Index find_conflict_by_term(Index index, Term term) const;
  void truncate_from(Index i);
  void commit_to(Index c);
  void apply_conf_changes();
  std::vector<NodeId> voters_at(Index index) const;
  const Entry& at(Index i) const { return log_[i - snap_index_ - 1]; }

  Options opts_;
  NodeId id_;
  std::mt19937_64 rng_;

  // Persistent state (as of the last ready() handed out / in memory).
  Term term_ = 0;
  NodeId vote_ = kNoNode;
  Index commit_ = 0;
  std::optional<Snapshot> snapshot_;
  Index snap_index_ = 0;  // 0 if no snapshot
  Term snap_term_ = 0;
  std::deque<Entry> log_;  // entries snap_index_+1 .. last_index()

  // Volatile.
  Role role_ = Role::kFollower;
  NodeId leader_ = kNoNode;
  std::vector<NodeId> voters_;  // sorted; configuration as of conf_applied_
  Index conf_applied_ = 0;
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_timeout_ = 0;
  std::map<NodeId, bool> votes_;
  std::map<NodeId, Progress> progress_;  // leader only; followers (not self)
  Index pending_conf_index_ = 0;         // leader: last conf change (or its no-op)
  NodeId transferee_ = kNoNode;
  int transfer_elapsed_ = 0;

  // Ready bookkeeping.
  HardState persisted_hs_;  // as handed out by the last ready()
  Index stable_index_ = 0;  // entries <= this were handed out by ready() for storage
  bool snapshot_unpersisted_ = false;
  Index applied_ = 0;  // committed entries handed out by an advanced ready()
  std::vector<Message> msgs_;
  Index handed_out_ = 0;  // last committed index handed out by ready()
  bool ready_outstanding_ = false;
  Index outstanding_applied_ = 0;  // what advance() sets applied_ to
};

}  // namespace cairn::raft
