// Test-only harnesses for the Raft core (header-only; included by raft_test.cc).
//
// - MemDisk: what a node persisted through ready() (the fake RaftLogStore).
// - Cluster: a tiny lossless in-memory network for scripted unit tests.
// - Sim: a seeded randomized simulation with loss, duplication, reordering,
//   delays, partitions, crashes/restarts, compaction and membership changes,
//   checking Raft's safety properties after every step.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/codec.h"
#include "monitor/core/raft.h"

namespace cairn::raft::testing {

inline uint64_t mix_hash(uint64_t h, const Entry& e) {
  // FNV-1a over (term, type, data): cheap and good enough to compare states.
  auto step = [&h](uint8_t b) { h = (h ^ b) * 1099511628211ull; };
  for (int i = 0; i < 8; ++i) step(static_cast<uint8_t>(e.term >> (8 * i)));
  step(static_cast<uint8_t>(e.type));
  for (char c : e.data) step(static_cast<uint8_t>(c));
  return h;
}

// Persisted state of one node: only what went through ready() survives a crash.
struct MemDisk {
  HardState hs;
  std::optional<Snapshot> snapshot;
  std::vector<Entry> entries;

  // Same contract as RaftLogStore::save.
  void save(const Ready& rd) {
    if (rd.snapshot) {
      snapshot = *rd.snapshot;
      entries.clear();
    }
    if (!rd.entries.empty()) {
      Index first = rd.entries.front().index;
      while (!entries.empty() && entries.back().index >= first) entries.pop_back();
      Index expect =
          entries.empty() ? (snapshot ? snapshot->index : 0) + 1 : entries.back().index + 1;
      if (first != expect) throw std::runtime_error("ready entries leave a gap in storage");
      entries.insert(entries.end(), rd.entries.begin(), rd.entries.end());
    }
    if (rd.hard_state) hs = *rd.hard_state;
  }
  void compact(const Snapshot& s) {
    snapshot = s;
    std::erase_if(entries, [&](const Entry& e) { return e.index <= s.index; });
  }
  PersistentState restore(std::vector<NodeId> initial_voters) const {
    return PersistentState{hs, snapshot, entries, std::move(initial_voters)};
  }
};

// The replicated app: a hash chain over applied entries.
struct App {
  Index applied = 0;
  uint64_t hash = 14695981039346656037ull;
  std::vector<std::string> applied_data;  // only kept by Cluster for assertions

  std::string snapshot_data() const {
    std::string out;
    Encoder enc(&out);
    enc.u64(applied);
    enc.u64(hash);
    return out;
  }
  void load(const Snapshot& s) {
    Decoder dec(s.data);
    applied = dec.u64();
    hash = dec.u64();
    if (!dec.done() || applied != s.index) throw std::runtime_error("bad snapshot data");
  }
};

inline Options test_options(NodeId id, uint64_t seed = 1) {
  Options o;
  o.id = id;
  o.seed = seed;
  return o;
}

// A lossless, in-order network of nodes for scripted tests. Links can be cut.
class Cluster {
 public:
  struct Member {
    std::unique_ptr<Node> node;
    MemDisk disk;
    App app;
    std::vector<Entry> committed;  // every committed entry applied, in order
  };

  // Founding members `ids` (bootstrap), each with a distinct seed.
  explicit Cluster(std::vector<NodeId> ids, Options base = Options{}) : base_(base) {
    for (NodeId id : ids) add_member(id, ids);
  }
  // A brand-new member with no log that will learn the config from the leader.
  void add_member(NodeId id, std::vector<NodeId> initial_voters = {}) {
    Options o = base_;
    o.id = id;
    o.seed = 1000 + static_cast<uint64_t>(id);
    members_[id].node = std::make_unique<Node>(o, PersistentState{{}, {}, {}, initial_voters});
  }
  void restart(NodeId id) {
    Member& m = members_.at(id);
    Options o = base_;
    o.id = id;
    o.seed = 2000 + static_cast<uint64_t>(id);
    m.node = std::make_unique<Node>(o, m.disk.restore({}));
    m.app = App{};
    if (m.disk.snapshot) m.app.load(*m.disk.snapshot);
  }

  Node& node(NodeId id) { return *members_.at(id).node; }
  Member& member(NodeId id) { return members_.at(id); }

  void cut(NodeId a, NodeId b) {
    cut_.insert({a, b});
    cut_.insert({b, a});
  }
  void isolate(NodeId a) {
    for (auto& [id, m] : members_) {
      if (id != a) cut(a, id);
    }
  }
  void heal() { cut_.clear(); }

  // Processes readies and delivers messages until quiet. Returns the number
  // of messages delivered.
  size_t drain(size_t max_rounds = 10000) {
    size_t delivered = 0;
    for (size_t round = 0; round < max_rounds; ++round) {
      collect();
      if (queue_.empty()) return delivered;
      std::vector<Message> batch;
      batch.swap(queue_);
      for (Message& msg : batch) {
        if (cut_.count({msg.from, msg.to}) || !members_.count(msg.to)) continue;
        if (filter_ && !filter_(msg)) continue;
        members_.at(msg.to).node->step(msg);
        ++delivered;
      }
    }
    throw std::runtime_error("cluster did not quiesce");
  }
  void tick_all(int n = 1) {
    for (int i = 0; i < n; ++i) {
      for (auto& [id, m] : members_) m.node->tick();
      drain();
    }
  }
  // Ticks until someone is leader (of the highest term); kNoNode on timeout.
  NodeId wait_leader(int max_ticks = 500) {
    for (int i = 0; i < max_ticks; ++i) {
      NodeId l = leader();
      if (l != kNoNode) return l;
      tick_all();
    }
    return kNoNode;
  }
  NodeId leader() const {
    NodeId best = kNoNode;
    Term term = 0;
    for (auto& [id, m] : members_) {
      if (m.node->role() == Role::kLeader && m.node->term() >= term) {
        best = id;
        term = m.node->term();
      }
    }
    return best;
  }
  // Drop messages for which filter returns false (nullptr: deliver all).
  void set_filter(std::function<bool(const Message&)> f) { filter_ = std::move(f); }
  std::vector<Message>& queue() { return queue_; }

  // Processes every member's ready once, queueing its messages.
  void collect() {
    for (auto& [id, m] : members_) {
      while (m.node->has_ready()) {
        Ready rd = m.node->ready();
        m.disk.save(rd);
        if (rd.snapshot) m.app.load(*rd.snapshot);
        for (Message& msg : rd.messages) queue_.push_back(std::move(msg));
        for (const Entry& e : rd.committed) {
          if (e.index != m.app.applied + 1) throw std::runtime_error("applied out of order");
          m.app.applied = e.index;
          m.app.hash = mix_hash(m.app.hash, e);
          m.committed.push_back(e);
        }
        m.node->advance();
      }
    }
  }

 private:
  Options base_;
  std::map<NodeId, Member> members_;
  std::vector<Message> queue_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::function<bool(const Message&)> filter_;
};

// ---------------------------------------------------------------------------
// Randomized simulation.

struct SimConfig {
  int nodes = 3;   // founding voters 1..nodes
  int spares = 0;  // extra ids nodes+1..nodes+spares, join via conf changes
  bool conf_changes = false;
  bool compaction = false;
  int chaos_steps = 600;    // ticks with faults
  int settle_steps = 2000;  // max ticks to recover after healing (slow flow control needs it)
  double loss = 0.05;
  double dup = 0.03;
  int max_delay = 3;      // ticks; messages take 1..max_delay
  double crash = 0.004;   // per tick
  double restart = 0.05;  // per tick, for a down node
  double partition = 0.01;
  double heal = 0.05;
  double propose = 0.3;
  double conf = 0.02;
  bool codec = true;  // round-trip every message through encode/decode
};

class Sim {
 public:
  struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
  };

  Sim(SimConfig cfg, uint64_t seed) : cfg_(cfg), seed_(seed), rng_(seed) {
    for (int i = 1; i <= cfg_.nodes; ++i) founders_.push_back(i);
    for (int i = 1; i <= cfg_.nodes + cfg_.spares; ++i) {
      SimNode& n = nodes_[i];
      n.id = i;
      n.initial_voters = i <= cfg_.nodes ? founders_ : std::vector<NodeId>{};
      start(n);
    }
  }

  // Runs chaos then heals and requires progress. Throws Failure.
  void run() {
    for (int s = 0; s < cfg_.chaos_steps; ++s) {
      chaos();
      step();
    }
    // Heal: everything up, one partition, a reliable network.
    for (auto& [id, n] : nodes_) {
      if (!n.up) start(n);
      n.group = 0;
    }
    reliable_ = true;
    settle();
  }

  struct Stats {
    uint64_t messages = 0, restarts = 0, snapshots_installed = 0, conf_changes = 0, elections = 0,
             max_commit = 0;
  };
  Stats stats() const {
    Stats st = stats_;
    st.elections = leaders_.size();
    st.max_commit = committed_.empty() ? 0 : committed_.rbegin()->first;
    return st;
  }

 private:
  struct SimNode {
    NodeId id = 0;
    std::unique_ptr<Node> node;
    MemDisk disk;
    App app;
    bool up = false;
    int group = 0;
    Index applied_before_crash = 0;
    bool check_restart = false;
    std::optional<Ready> outstanding;  // taken by ready(), not yet persisted
    std::optional<Term> outstanding_prev_term;
    std::vector<NodeId> initial_voters;
  };
  struct InFlight {
    uint64_t at;
    Message m;
  };

  [[noreturn]] void fail(const std::string& what) {
    throw Failure("t=" + std::to_string(now_) + ": " + what);
  }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  uint64_t pick(uint64_t n) { return rng_() % n; }

  void start(SimNode& n) {
    Options o;
    o.id = n.id;
    o.seed = rng_();
    o.election_ticks = 10;
    o.heartbeat_ticks = 1 + static_cast<int>(pick(2));
    o.max_entries_per_msg = 1 + pick(8);
    o.max_inflight_msgs = 1 + pick(16);
    n.node = std::make_unique<Node>(o, n.disk.restore(n.initial_voters));
    n.app = App{};
    if (n.disk.snapshot) load_snapshot(n, *n.disk.snapshot);
    n.up = true;
    n.check_restart = true;
  }
  void crash(SimNode& n) {
    n.up = false;
    n.node.reset();
    n.outstanding.reset();  // crashed before its fsync completed: lost
    n.applied_before_crash = n.app.applied;
  }

  void chaos() {
    std::vector<SimNode*> up, down;
    for (auto& [id, n] : nodes_) (n.up ? up : down).push_back(&n);
    if (!up.empty() && chance(cfg_.crash)) crash(*up[pick(up.size())]);
    if (!down.empty() && chance(cfg_.restart)) {
      start(*down[pick(down.size())]);
      ++stats_.restarts;
    }
    if (chance(cfg_.partition)) {
      for (auto& [id, n] : nodes_) n.group = static_cast<int>(pick(2));
    } else if (chance(cfg_.heal)) {
      for (auto& [id, n] : nodes_) n.group = 0;
    }
    if (chance(cfg_.propose)) {
      for (auto& [id, n] : nodes_) {
        if (n.up && n.node->role() == Role::kLeader) {
          (void)n.node->propose("p" + std::to_string(++proposals_));
        }
      }
    }
    if (cfg_.conf_changes && chance(cfg_.conf)) {
      for (auto& [id, n] : nodes_) {
        if (!n.up || n.node->role() != Role::kLeader) continue;
        const auto& voters = n.node->voters();
        ConfChange cc;
        std::vector<NodeId> others;
        for (auto& [oid, o] : nodes_) {
          if (!std::binary_search(voters.begin(), voters.end(), oid)) others.push_back(oid);
        }
        if (voters.size() > 3 && (others.empty() || chance(0.5))) {
          cc.type = ConfChangeType::kRemoveNode;
          cc.node = voters[pick(voters.size())];
        } else if (!others.empty()) {
          cc.type = ConfChangeType::kAddNode;
          cc.node = others[pick(others.size())];
          cc.context = "addr-" + std::to_string(cc.node);
        } else {
          continue;
        }
        (void)n.node->propose_conf_change(cc);
      }
    }
    if (chance(0.002)) {
      for (auto& [id, n] : nodes_) {
        if (n.up && n.node->role() == Role::kLeader) {
          const auto& v = n.node->voters();
          n.node->transfer_leadership(v[pick(v.size())]);
        }
      }
    }
  }

  // One tick: deliver due messages, tick, process readies, check.
  void step() {
    ++now_;
    std::vector<Message> due;
    for (size_t i = 0; i < net_.size();) {
      if (net_[i].at <= now_) {
        due.push_back(std::move(net_[i].m));
        net_[i] = std::move(net_.back());
        net_.pop_back();
      } else {
        ++i;
      }
    }
    std::shuffle(due.begin(), due.end(), rng_);  // reordering
    for (Message& m : due) {
      auto it = nodes_.find(m.to);
      if (it == nodes_.end()) continue;
      SimNode& dst = it->second;
      SimNode& src = nodes_.at(m.from);
      if (!dst.up || dst.group != src.group) continue;
      if (cfg_.codec) {
        std::string wire;
        Encoder enc(&wire);
        m.encode(enc);
        auto decoded = Message::decode(wire);
        if (!decoded.ok()) fail("message does not round-trip: " + decoded.status().to_string());
        dst.node->step(*decoded);
      } else {
        dst.node->step(m);
      }
      ++stats_.messages;
      if (trace_from_ && now_ >= trace_from_) {
        std::fprintf(
            stderr,
            "t=%llu %d->%d %s term=%llu idx=%llu lterm=%llu n=%zu commit=%llu%s hint=%llu\n",
            (unsigned long long)now_, m.from, m.to, std::string(msg_type_name(m.type)).c_str(),
            (unsigned long long)m.term, (unsigned long long)m.log_index,
            (unsigned long long)m.log_term, m.entries.size(), (unsigned long long)m.commit,
            m.reject ? " REJECT" : "", (unsigned long long)m.reject_hint);
      }
      if (!dst.outstanding && dst.node->has_ready() && chance(0.25)) {
        begin_ready(dst);  // the next message or tick arrives mid-persist
      } else {
        process(dst);
      }
    }
    for (auto& [id, n] : nodes_) {
      if (!n.up) continue;
      n.node->tick();
      process(n);
    }
    check();
  }

  // Processes readies until none is left (finishing an outstanding one first).
  void process(SimNode& n) {
    finish_ready(n);
    while (n.node->has_ready()) {
      begin_ready(n);
      finish_ready(n);
    }
  }

  // Takes a ready; until finish_ready() it is "being persisted" and the node
  // may receive messages and ticks meanwhile, as in a real shell.
  void begin_ready(SimNode& n) {
    Ready rd = n.node->ready();
    n.outstanding_prev_term.reset();
    if (!rd.entries.empty()) n.outstanding_prev_term = n.node->term_at(rd.entries[0].index - 1);
    n.outstanding = std::move(rd);
  }

  void finish_ready(SimNode& n) {
    if (!n.outstanding) return;
    Ready rd = std::move(*n.outstanding);
    n.outstanding.reset();
    {
      n.disk.save(rd);
      check_log_matching(n, rd, n.outstanding_prev_term);
      if (rd.snapshot) {
        load_snapshot(n, *rd.snapshot);
        ++stats_.snapshots_installed;
      }
      for (Message& m : rd.messages) {
        if (m.from != n.id) fail("message with wrong from");
        if (!reliable_ && chance(cfg_.loss)) continue;
        if (!reliable_ && chance(cfg_.dup)) {
          net_.push_back({now_ + 1 + pick(cfg_.max_delay), m});
        }
        net_.push_back({now_ + 1 + (reliable_ ? 0 : pick(cfg_.max_delay)), std::move(m)});
      }
      for (const Entry& e : rd.committed) apply(n, e);
      n.node->advance();
      if (n.check_restart) {
        // Everything applied before the crash is back (from snapshot + log).
        n.check_restart = false;
        if (n.app.applied < n.applied_before_crash) {
          fail("node " + std::to_string(n.id) + " lost applied entries across restart: " +
               std::to_string(n.app.applied) + " < " + std::to_string(n.applied_before_crash));
        }
      }
      if (cfg_.compaction && n.app.applied >= n.node->first_index() + 8 && chance(0.3)) {
        Index at = n.app.applied - pick(4);
        if (at >= n.node->first_index()) {
          // Snapshot of the state as of `at`: recompute from our own history.
          App past = n.app;
          if (at != n.app.applied) {
            auto it = state_at_.find(at);
            if (it == state_at_.end()) fail("no state recorded at " + std::to_string(at));
            past.applied = at;
            past.hash = it->second;
          }
          Status st = n.node->compact(at, past.snapshot_data());
          if (!st.ok()) fail("compact failed: " + st.to_string());
          n.disk.compact(*n.node->snapshot());
        }
      }
    }
  }

  void load_snapshot(SimNode& n, const Snapshot& s) {
    n.app.load(s);
    auto it = state_at_.find(s.index);
    if (it != state_at_.end() && it->second != n.app.hash) {
      fail("snapshot state at " + std::to_string(s.index) + " differs from applied state");
    }
  }

  void apply(SimNode& n, const Entry& e) {
    if (e.index != n.app.applied + 1) {
      fail("node " + std::to_string(n.id) + " applied " + std::to_string(e.index) + " after " +
           std::to_string(n.app.applied));
    }
    n.app.applied = e.index;
    n.app.hash = mix_hash(n.app.hash, e);
    // State machine safety: one entry per index, one state per index.
    auto [it, fresh] = committed_.emplace(e.index, e);
    if (fresh && e.type == EntryType::kConfChange && e.term > 1) ++stats_.conf_changes;
    if (!fresh && !(it->second == e)) {
      fail("state machine safety: node " + std::to_string(n.id) + " applied a different entry at " +
           std::to_string(e.index));
    }
    auto [st, fresh_state] = state_at_.emplace(e.index, n.app.hash);
    if (!fresh_state && st->second != n.app.hash) {
      fail("state machine safety: diverged state at " + std::to_string(e.index));
    }
  }

  // Log matching: an (index, term) pair identifies one entry and its predecessor's term.
  // `prev0`: term of the entry before rd.entries[0] when the ready was taken.
  void check_log_matching(SimNode& n, const Ready& rd, std::optional<Term> prev0) {
    for (size_t i = 0; i < rd.entries.size(); ++i) {
      const Entry& e = rd.entries[i];
      Term prev = 0;
      if (i > 0) {
        prev = rd.entries[i - 1].term;
      } else if (prev0) {
        prev = *prev0;
      } else {
        continue;
      }
      auto key = std::make_pair(e.index, e.term);
      auto [it, fresh] = entries_.emplace(key, std::make_pair(mix_hash(0, e), prev));
      if (!fresh && it->second != std::make_pair(mix_hash(0, e), prev)) {
        fail("log matching: node " + std::to_string(n.id) + " has a different entry at index " +
             std::to_string(e.index) + " term " + std::to_string(e.term));
      }
    }
  }

  void check() {
    for (auto& [id, n] : nodes_) {
      if (!n.up || n.node->role() != Role::kLeader) continue;
      Term t = n.node->term();
      auto [it, fresh] = leaders_.emplace(t, id);
      if (!fresh && it->second != id) {
        fail("election safety: nodes " + std::to_string(it->second) + " and " + std::to_string(id) +
             " both lead term " + std::to_string(t));
      }
      if (fresh) check_leader_completeness(n);
    }
  }

  // Every committed entry is in the log of every later leader.
  void check_leader_completeness(SimNode& n) {
    const Node& node = *n.node;
    for (auto& [index, e] : committed_) {
      if (index > node.last_index()) {
        fail("leader completeness: leader " + std::to_string(n.id) + " of term " +
             std::to_string(node.term()) + " lacks committed index " + std::to_string(index));
      }
      if (index < node.first_index()) continue;  // in its snapshot
      if (node.term_at(index) != e.term) {
        fail("leader completeness: leader " + std::to_string(n.id) + " has a different entry at " +
             std::to_string(index));
      }
    }
  }

  // After healing, a leader must emerge and a new proposal must reach every voter.
  void settle() {
    std::string tag = "final";
    Index target = 0;
    NodeId proposer = kNoNode;
    Term proposer_term = 0;
    for (int s = 0; s < cfg_.settle_steps; ++s) {
      step();
      NodeId leader = kNoNode;
      for (auto& [id, n] : nodes_) {
        if (n.node->role() == Role::kLeader) leader = id;
      }
      if (leader == kNoNode) continue;
      Node& l = *nodes_.at(leader).node;
      if (proposer != leader || proposer_term != l.term()) {
        auto r = l.propose(tag);
        if (!r.ok()) continue;
        target = *r;
        proposer = leader;
        proposer_term = l.term();
      }
      bool all = true;
      for (NodeId v : l.voters()) {
        const SimNode& sn = nodes_.at(v);
        if (sn.app.applied < target) all = false;
      }
      if (all && committed_.count(target) && committed_.at(target).data == tag) return;
    }
    fail("liveness: no progress " + std::to_string(cfg_.settle_steps) +
         " ticks after healing; nodes: " + describe());
  }

  std::string describe() const {
    std::string out;
    for (auto& [id, n] : nodes_) {
      if (!n.up) {
        out += "\n  " + std::to_string(id) + ": down";
        continue;
      }
      const Node& x = *n.node;
      out += "\n  " + std::to_string(id) + ": " + std::string(role_name(x.role())) +
             " term=" + std::to_string(x.term()) + " leader=" + std::to_string(x.leader()) +
             " commit=" + std::to_string(x.commit_index()) +
             " last=" + std::to_string(x.last_index()) + "/" +
             std::to_string(x.term_at(x.last_index()).value_or(0)) + " voters=";
      for (NodeId v : x.voters()) out += std::to_string(v) + ",";
      for (const auto& p : x.progress()) {
        out += "\n     peer " + std::to_string(p.id) + " match=" + std::to_string(p.match) +
               " next=" + std::to_string(p.next) + " " + std::string(p.state) +
               " inflight=" + std::to_string(p.inflight);
      }
    }
    return out;
  }

  SimConfig cfg_;
  uint64_t trace_from_ =
      std::getenv("RAFT_TRACE") ? std::strtoull(std::getenv("RAFT_TRACE"), nullptr, 10) : 0;
  uint64_t seed_;
  std::mt19937_64 rng_;
  std::vector<NodeId> founders_;
  std::map<NodeId, SimNode> nodes_;
  std::vector<InFlight> net_;
  bool reliable_ = false;
  uint64_t now_ = 0;
  uint64_t proposals_ = 0;
  Stats stats_;
  std::map<Term, NodeId> leaders_;
  std::map<Index, Entry> committed_;
  std::unordered_map<Index, uint64_t> state_at_;
  std::map<std::pair<Index, Term>, std::pair<uint64_t, Term>> entries_;
};

}  // namespace cairn::raft::testing
