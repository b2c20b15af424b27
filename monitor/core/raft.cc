#include "monitor/core/raft.h"

#include <algorithm>

namespace cairn::raft {

namespace {

void insert_sorted(std::vector<NodeId>* v, NodeId n) {
  auto it = std::lower_bound(v->begin(), v->end(), n);
  if (it == v->end() || *it != n) v->insert(it, n);
}

void erase_sorted(std::vector<NodeId>* v, NodeId n) {
  auto it = std::lower_bound(v->begin(), v->end(), n);
  if (it != v->end() && *it == n) v->erase(it);
}

std::vector<NodeId> sorted_unique(std::vector<NodeId> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// Applies one conf change entry to a sorted voter set; false if undecodable.
bool apply_conf_entry(const Entry& e, std::vector<NodeId>* voters) {
  auto cc = ConfChange::decode(e.data);
  if (!cc.ok()) return false;
  if (cc->type == ConfChangeType::kAddNode) {
    insert_sorted(voters, cc->node);
  } else {
    erase_sorted(voters, cc->node);
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// Construction and restart.

Node::Node(Options opts, PersistentState restored)
    : opts_(std::move(opts)), id_(opts_.id), rng_(opts_.seed) {
  CAIRN_CHECK(id_ >= 0);
  CAIRN_CHECK(opts_.heartbeat_ticks > 0 && opts_.heartbeat_ticks < opts_.election_ticks);
  CAIRN_CHECK(opts_.max_entries_per_msg > 0 && opts_.max_inflight_msgs > 0);

  term_ = restored.hard_state.term;
  vote_ = restored.hard_state.vote;
  if (restored.snapshot) {
    snapshot_ = std::move(restored.snapshot);
    snapshot_->voters = sorted_unique(std::move(snapshot_->voters));
    snap_index_ = snapshot_->index;
    snap_term_ = snapshot_->term;
  }
  for (Entry& e : restored.entries) {
    if (e.index <= snap_index_) continue;
    CAIRN_CHECK(e.index == last_index() + 1);
    log_.push_back(std::move(e));
  }
  persisted_hs_ = restored.hard_state;

  if (!snapshot_ && log_.empty() && !restored.initial_voters.empty()) {
    // Bootstrap: identical committed conf entries on every founding member.
    term_ = std::max<Term>(term_, 1);
    for (NodeId v : sorted_unique(restored.initial_voters)) {
      CAIRN_CHECK(v >= 0);
      ConfChange cc{ConfChangeType::kAddNode, v, {}};
      log_.push_back(Entry{1, last_index() + 1, EntryType::kConfChange, cc.encode()});
    }
    commit_ = last_index();
    stable_index_ = 0;
  } else {
    commit_ = std::clamp(restored.hard_state.commit, snap_index_, last_index());
    stable_index_ = last_index();
  }

  if (snapshot_) voters_ = snapshot_->voters;
  conf_applied_ = snap_index_;
  apply_conf_changes();
  applied_ = handed_out_ = snap_index_;
  become_follower(term_, kNoNode);
}

// ---------------------------------------------------------------------------
// Log helpers.

std::optional<Term> Node::term_at(Index i) const {
  if (i == snap_index_) return snap_term_;
  if (i < snap_index_ || i > last_index()) return std::nullopt;
  return at(i).term;
}

std::vector<Entry> Node::entries(Index lo, Index hi) const {
  std::vector<Entry> out;
  lo = std::max(lo, first_index());
  hi = std::min(hi, last_index());
  for (Index i = lo; i <= hi; ++i) out.push_back(at(i));
  return out;
}

std::vector<Node::PeerProgress> Node::progress() const {
  std::vector<PeerProgress> out;
  for (const auto& [peer, pr] : progress_) {
    std::string_view state = pr.state == ProgressState::kProbe       ? "probe"
                             : pr.state == ProgressState::kReplicate ? "replicate"
                                                                     : "snapshot";
    out.push_back({peer, pr.match, pr.next, state, pr.inflight.size(), pr.recent_active});
  }
  return out;
}

Term Node::last_term() const { return *term_at(last_index()); }

bool Node::is_voter(NodeId n) const {
  return std::binary_search(voters_.begin(), voters_.end(), n);
}

bool Node::up_to_date(Index last_idx, Term lterm) const {
  Term mine = last_term();
  return lterm > mine || (lterm == mine && last_idx >= last_index());
}

// The largest index <= `index` whose term is <= `term` (or the first
// unavailable one): where the follower's and the leader's logs may agree.
Index Node::find_conflict_by_term(Index index, Term term) const {
  index = std::min(index, last_index());
  while (index > snap_index_) {
    auto t = term_at(index);
    if (!t || *t <= term) break;
    --index;
  }
  return index;
}

void Node::truncate_from(Index i) {
  CAIRN_CHECK(i > commit_ && i > snap_index_);
  while (last_index() >= i) log_.pop_back();
  stable_index_ = std::min(stable_index_, i - 1);
}

void Node::commit_to(Index c) {
  if (c <= commit_) return;
  CAIRN_CHECK(c <= last_index());
  commit_ = c;
  apply_conf_changes();
}

std::vector<NodeId> Node::voters_at(Index index) const {
  std::vector<NodeId> v = snapshot_ ? snapshot_->voters : std::vector<NodeId>{};
  for (Index i = snap_index_ + 1; i <= index; ++i) {
    if (at(i).type == EntryType::kConfChange) apply_conf_entry(at(i), &v);
  }
  return v;
}

void Node::apply_conf_changes() {
  bool changed = false;
  while (conf_applied_ < commit_) {
    ++conf_applied_;
    const Entry& e = at(conf_applied_);
    if (e.type == EntryType::kConfChange) changed |= apply_conf_entry(e, &voters_);
  }
  if (!changed || role_ != Role::kLeader) return;
  if (!is_voter(id_)) {
    // Our removal committed: tell followers, hand over to the most
    // caught-up voter so the cluster need not wait an election timeout.
    bcast_append();
    NodeId best = kNoNode;
    for (auto& [peer, pr] : progress_) {
      if (is_voter(peer) && pr.match == last_index()) best = peer;
    }
    if (best != kNoNode) {
      send(make_msg(MsgType::kTimeoutNow, best, term_));
    }
    become_follower(term_, kNoNode);
    return;
  }
  sync_progress_with_voters();
  // A smaller quorum may commit more right away.
  if (maybe_commit() && role_ == Role::kLeader) bcast_append();
}

// ---------------------------------------------------------------------------
// Roles.

void Node::reset_election_timer() {
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  randomized_timeout_ =
      opts_.election_ticks + static_cast<int>(rng_() % static_cast<uint64_t>(opts_.election_ticks));
}

void Node::become_follower(Term term, NodeId leader) {
  if (term != term_) {
    CAIRN_CHECK(term > term_);
    term_ = term;
    vote_ = kNoNode;
  }
  role_ = Role::kFollower;
  leader_ = leader;
  progress_.clear();
  votes_.clear();
  transferee_ = kNoNode;
  reset_election_timer();
}

void Node::become_pre_candidate() {
  role_ = Role::kPreCandidate;
  leader_ = kNoNode;
  votes_.clear();
  progress_.clear();
  reset_election_timer();
}

void Node::become_candidate() {
  role_ = Role::kCandidate;
  term_ += 1;
  vote_ = id_;
  leader_ = kNoNode;
  votes_.clear();
  progress_.clear();
  reset_election_timer();
}

void Node::become_leader() {
  role_ = Role::kLeader;
  leader_ = id_;
  transferee_ = kNoNode;
  reset_election_timer();
  progress_.clear();
  sync_progress_with_voters();
  append_entry(EntryType::kNoop, {});
  // No conf change until everything up to our no-op is committed.
  pending_conf_index_ = last_index();
  bcast_append();
  if (maybe_commit() && role_ == Role::kLeader) bcast_append();
}

void Node::sync_progress_with_voters() {
  for (auto it = progress_.begin(); it != progress_.end();) {
    if (is_voter(it->first)) {
      ++it;
      continue;
    }
    // A parting empty append anchored at our commit index lets a removed
    // follower that holds its removal entry learn it committed, so it stops
    // campaigning. (It rejects harmlessly if it lacks that entry.)
    Message m = make_msg(MsgType::kAppend, it->first, term_);
    m.log_index = commit_;
    m.log_term = *term_at(commit_);
    m.commit = commit_;
    send(std::move(m));
    it = progress_.erase(it);
  }
  if (transferee_ != kNoNode && !is_voter(transferee_)) transferee_ = kNoNode;
  for (NodeId v : voters_) {
    if (v == id_ || progress_.count(v)) continue;
    Progress pr;
    pr.next = last_index() + 1;
    pr.recent_active = true;  // give new members one check-quorum period
    progress_.emplace(v, std::move(pr));
    if (role_ == Role::kLeader && !log_.empty() && log_.back().term == term_) {
      send_append(v, true);
    }
  }
}

void Node::campaign() {
  if (role_ == Role::kLeader) return;
  start_campaign(opts_.pre_vote ? CampaignKind::kPreVote : CampaignKind::kVote);
}

void Node::start_campaign(CampaignKind kind) {
  if (!is_voter(id_)) return;
  MsgType type;
  Term vote_term;
  if (kind == CampaignKind::kPreVote) {
    become_pre_candidate();
    type = MsgType::kPreVote;
    vote_term = term_ + 1;
  } else {
    become_candidate();
    type = MsgType::kVote;
    vote_term = term_;
  }
  tally_vote(id_, true);
  if (role_ != Role::kPreCandidate && role_ != Role::kCandidate) return;  // won alone
  if (kind == CampaignKind::kPreVote && role_ == Role::kCandidate) return;
  for (NodeId v : voters_) {
    if (v == id_) continue;
    Message m = make_msg(type, v, vote_term);
    m.log_index = last_index();
    m.log_term = last_term();
    m.transfer = kind == CampaignKind::kTransfer;
    send(std::move(m));
  }
}

void Node::tally_vote(NodeId from, bool granted) {
  if (!is_voter(from)) return;
  votes_.emplace(from, granted);
  size_t yes = 0, no = 0;
  for (auto& [n, g] : votes_) (g ? yes : no)++;
  if (yes >= quorum()) {
    if (role_ == Role::kPreCandidate) {
      start_campaign(CampaignKind::kVote);
    } else {
      become_leader();
    }
  } else if (voters_.size() - no < quorum()) {
    become_follower(term_, kNoNode);
  }
}

// ---------------------------------------------------------------------------
// Time.

void Node::tick() {
  if (role_ != Role::kLeader) {
    // Saturate: a non-voter may tick forever without campaigning.
    election_elapsed_ = std::min(election_elapsed_ + 1, 1 << 30);
    if (election_elapsed_ >= randomized_timeout_ && is_voter(id_)) {
      start_campaign(opts_.pre_vote ? CampaignKind::kPreVote : CampaignKind::kVote);
    }
    return;
  }
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (transferee_ != kNoNode && ++transfer_elapsed_ >= opts_.election_ticks) {
    transferee_ = kNoNode;  // the target did not take over: resume
  }
  if (election_elapsed_ >= opts_.election_ticks) {
    election_elapsed_ = 0;
    // Check-quorum: a leader cut off from a majority steps down so clients
    // go looking for the real one.
    size_t active = is_voter(id_) ? 1 : 0;
    for (auto& [peer, pr] : progress_) {
      if (pr.recent_active && is_voter(peer)) ++active;
      pr.recent_active = false;
    }
    if (active < quorum()) {
      become_follower(term_, kNoNode);
      return;
    }
  }
  for (auto& [peer, pr] : progress_) {
    // A lost snapshot would otherwise stall this follower forever.
    if (pr.state == ProgressState::kSnapshot && ++pr.snapshot_ticks >= opts_.election_ticks) {
      pr.state = ProgressState::kProbe;
      pr.next = pr.match + 1;
      pr.probe_sent = false;
      pr.pending_snapshot = 0;
    }
  }
  if (heartbeat_elapsed_ >= opts_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    bcast_heartbeat();
  }
}

// ---------------------------------------------------------------------------
// Message dispatch.

void Node::step(const Message& m) {
  if (m.to != id_ || m.from == id_ || m.from < 0 || m.term == 0) return;
  if (static_cast<uint8_t>(m.type) > kMaxMsgType) return;

  if (m.term > term_) {
    if (m.type == MsgType::kVote || m.type == MsgType::kPreVote) {
      // Leader lease: we heard from a live leader recently, so this
      // candidate is most likely a disruptive, partitioned or removed node.
      bool in_lease = leader_ != kNoNode && election_elapsed_ < opts_.election_ticks;
      if (in_lease && !m.transfer) return;
    }
    if (m.type == MsgType::kPreVote) {
      // A pre-vote never changes our term.
    } else if (m.type == MsgType::kPreVoteResp && !m.reject) {
      // Granted for our future term; we bump it once a quorum agrees.
    } else if (m.type == MsgType::kAppend || m.type == MsgType::kHeartbeat ||
               m.type == MsgType::kSnapshot) {
      become_follower(m.term, m.from);
    } else {
      become_follower(m.term, kNoNode);
    }
  } else if (m.term < term_) {
    if (m.type == MsgType::kAppend || m.type == MsgType::kHeartbeat) {
      // A stale leader (e.g. back from a partition, whose pre-votes would be
      // ignored): our higher term makes it step down.
      send(make_msg(MsgType::kAppendResp, m.from, term_));
    } else if (m.type == MsgType::kPreVote) {
      Message resp = make_msg(MsgType::kPreVoteResp, m.from, term_);
      resp.reject = true;
      send(std::move(resp));
    }
    return;
  }

  if (m.type == MsgType::kVote || m.type == MsgType::kPreVote) {
    handle_vote_request(m);
    return;
  }
  switch (role_) {
    case Role::kLeader:
      step_leader(m);
      break;
    case Role::kPreCandidate:
    case Role::kCandidate:
      step_candidate(m);
      break;
    case Role::kFollower:
      step_follower(m);
      break;
  }
}

void Node::handle_vote_request(const Message& m) {
  bool pre = m.type == MsgType::kPreVote;
  MsgType resp = pre ? MsgType::kPreVoteResp : MsgType::kVoteResp;
  bool can_vote =
      vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) || (pre && m.term > term_);
  if (can_vote && up_to_date(m.log_index, m.log_term)) {
    // A pre-vote grant carries the candidate's future term so it can count it.
    send(make_msg(resp, m.from, m.term));
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    Message r = make_msg(resp, m.from, term_);
    r.reject = true;
    send(std::move(r));
  }
}

void Node::step_follower(const Message& m) {
  switch (m.type) {
    case MsgType::kAppend:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_append(m);
      break;
    case MsgType::kHeartbeat:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_heartbeat(m);
      break;
    case MsgType::kSnapshot:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_snapshot(m);
      break;
    case MsgType::kTimeoutNow:
      if (m.from == leader_) start_campaign(CampaignKind::kTransfer);
      break;
    default:
      break;  // stale responses
  }
}

void Node::step_candidate(const Message& m) {
  switch (m.type) {
    case MsgType::kAppend:
    case MsgType::kHeartbeat:
    case MsgType::kSnapshot:
      // Someone already won this term.
      become_follower(term_, m.from);
      step_follower(m);
      break;
    case MsgType::kPreVoteResp:
      if (role_ != Role::kPreCandidate) break;
      if (m.reject ? m.term == term_ : m.term == term_ + 1) tally_vote(m.from, !m.reject);
      break;
    case MsgType::kVoteResp:
      if (role_ == Role::kCandidate) tally_vote(m.from, !m.reject);
      break;
    default:
      break;
  }
}

void Node::step_leader(const Message& m) {
  if (m.type != MsgType::kAppendResp && m.type != MsgType::kHeartbeatResp) return;
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  it->second.recent_active = true;
  if (m.type == MsgType::kAppendResp) {
    handle_append_resp(m, it->second);
  } else {
    handle_heartbeat_resp(m, it->second);
  }
}

// ---------------------------------------------------------------------------
// Follower side of replication.

void Node::handle_append(const Message& m) {
  Message resp = make_msg(MsgType::kAppendResp, m.from, term_);
  if (m.log_index < commit_) {
    resp.log_index = commit_;  // everything up to commit_ already matches
    send(std::move(resp));
    return;
  }
  // Entries must be contiguous, with non-decreasing terms no newer than the
  // leader's; anything else is garbage and ignored.
  Term prev_term = m.log_term;
  for (size_t i = 0; i < m.entries.size(); ++i) {
    const Entry& e = m.entries[i];
    if (e.index != m.log_index + 1 + i || e.term < prev_term || e.term > m.term ||
        static_cast<uint8_t>(e.type) > static_cast<uint8_t>(EntryType::kNoop)) {
      return;
    }
    prev_term = e.term;
  }
  auto t = term_at(m.log_index);
  if (!t || *t != m.log_term) {
    Index hint = find_conflict_by_term(std::min(m.log_index, last_index()), m.log_term);
    resp.reject = true;
    resp.log_index = m.log_index;
    resp.reject_hint = hint;
    resp.log_term = term_at(hint).value_or(0);
    send(std::move(resp));
    return;
  }
  // Skip entries we already have; truncate at the first conflict.
  size_t k = 0;
  for (; k < m.entries.size(); ++k) {
    const Entry& e = m.entries[k];
    if (e.index > last_index()) break;
    if (at(e.index).term != e.term) {
      if (e.index <= commit_) return;  // would rewrite committed history: garbage
      truncate_from(e.index);
      break;
    }
  }
  for (; k < m.entries.size(); ++k) log_.push_back(m.entries[k]);
  Index last_new = m.log_index + m.entries.size();
  commit_to(std::min(m.commit, last_new));
  resp.log_index = last_new;
  send(std::move(resp));
}

void Node::handle_heartbeat(const Message& m) {
  // The leader sends min(match, commit), which our log is known to hold.
  commit_to(std::min(m.commit, last_index()));
  send(make_msg(MsgType::kHeartbeatResp, m.from, term_));
}

void Node::handle_snapshot(const Message& m) {
  if (!m.snapshot) return;
  const Snapshot& s = *m.snapshot;
  if (s.index == 0 || s.term == 0 || s.term > m.term || s.voters.empty()) return;
  Message resp = make_msg(MsgType::kAppendResp, m.from, term_);
  if (s.index <= commit_) {
    resp.log_index = commit_;
    send(std::move(resp));
    return;
  }
  auto t = term_at(s.index);
  if (t && *t == s.term) {
    // We already have its last entry, hence (log matching) all it covers.
    commit_to(s.index);
    resp.log_index = commit_;
    send(std::move(resp));
    return;
  }
  snapshot_ = s;
  snapshot_->voters = sorted_unique(snapshot_->voters);
  snap_index_ = s.index;
  snap_term_ = s.term;
  log_.clear();
  commit_ = s.index;
  stable_index_ = s.index;
  voters_ = snapshot_->voters;
  conf_applied_ = s.index;
  snapshot_unpersisted_ = true;
  resp.log_index = s.index;
  send(std::move(resp));
}

// ---------------------------------------------------------------------------
// Leader side of replication.

Message Node::make_msg(MsgType type, NodeId to, Term term) const {
  Message m;
  m.type = type;
  m.from = id_;
  m.to = to;
  m.term = term;
  return m;
}

void Node::send(Message m) {
  m.from = id_;
  msgs_.push_back(std::move(m));
}

bool Node::paused(const Progress& pr) const {
  switch (pr.state) {
    case ProgressState::kProbe:
      return pr.probe_sent;
    case ProgressState::kReplicate:
      return pr.inflight.size() >= opts_.max_inflight_msgs;
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

void Node::become_probe(Progress& pr) {
  pr.state = ProgressState::kProbe;
  pr.next = pr.match + 1;
  pr.probe_sent = false;
  pr.pending_snapshot = 0;
  pr.inflight.clear();
}

void Node::become_replicate(Progress& pr) {
  pr.state = ProgressState::kReplicate;
  pr.next = pr.match + 1;
  pr.probe_sent = false;
  pr.pending_snapshot = 0;
  pr.inflight.clear();
}

bool Node::send_append(NodeId to, bool allow_empty) {
  auto it = progress_.find(to);
  if (it == progress_.end()) return false;
  Progress& pr = it->second;
  if (paused(pr)) return false;
  pr.next = std::min(pr.next, last_index() + 1);
  if (pr.next < first_index()) {
    send_snapshot(to, pr);
    return false;
  }
  Message m = make_msg(MsgType::kAppend, to, term_);
  m.log_index = pr.next - 1;
  m.log_term = *term_at(pr.next - 1);
  m.commit = commit_;
  size_t bytes = 0;
  for (Index i = pr.next; i <= last_index(); ++i) {
    const Entry& e = at(i);
    if (!m.entries.empty() && (m.entries.size() >= opts_.max_entries_per_msg ||
                               bytes + e.data.size() > opts_.max_bytes_per_msg)) {
      break;
    }
    bytes += e.data.size();
    m.entries.push_back(e);
  }
  if (m.entries.empty() && !allow_empty) return false;
  if (pr.state == ProgressState::kReplicate) {
    if (!m.entries.empty()) {
      // Pipelining: assume delivery; a reject or heartbeat brings us back.
      pr.next = m.entries.back().index + 1;
      pr.inflight.push_back(m.entries.back().index);
    }
  } else {
    pr.probe_sent = true;
  }
  send(std::move(m));
  return true;
}

void Node::send_snapshot(NodeId to, Progress& pr) {
  if (!snapshot_) return;  // unreachable: a compacted log always has one
  pr.state = ProgressState::kSnapshot;
  pr.pending_snapshot = snap_index_;
  pr.snapshot_ticks = 0;
  pr.inflight.clear();
  Message m = make_msg(MsgType::kSnapshot, to, term_);
  m.snapshot = *snapshot_;
  send(std::move(m));
}

void Node::bcast_append() {
  for (auto& [peer, pr] : progress_) send_append(peer, true);
}

void Node::bcast_heartbeat() {
  for (auto& [peer, pr] : progress_) {
    Message m = make_msg(MsgType::kHeartbeat, peer, term_);
    m.commit = std::min(pr.match, commit_);
    send(std::move(m));
  }
}

bool Node::maybe_commit() {
  std::vector<Index> match;
  match.reserve(voters_.size());
  for (NodeId v : voters_) {
    if (v == id_) {
      match.push_back(last_index());
    } else {
      auto it = progress_.find(v);
      match.push_back(it == progress_.end() ? 0 : it->second.match);
    }
  }
  if (match.empty()) return false;
  std::sort(match.begin(), match.end(), std::greater<>());
  Index q = match[quorum() - 1];
  // §5.4.2: only entries of our own term are committed by counting replicas.
  if (q <= commit_ || term_at(q) != term_) return false;
  commit_to(q);
  return true;
}

void Node::append_entry(EntryType type, std::string data) {
  log_.push_back(Entry{term_, last_index() + 1, type, std::move(data)});
}

void Node::handle_append_resp(const Message& m, Progress& pr) {
  if (m.reject) {
    if (pr.state == ProgressState::kSnapshot) return;
    Index hint = m.reject_hint;
    if (m.log_term > 0) hint = find_conflict_by_term(hint, m.log_term);
    if (pr.state == ProgressState::kReplicate) {
      if (m.log_index <= pr.match) return;  // stale
      become_probe(pr);
    } else {
      if (pr.next - 1 != m.log_index) return;  // answer to an older probe
      pr.next = std::max(std::min(m.log_index, hint + 1), pr.match + 1);
      pr.probe_sent = false;
    }
    send_append(m.from, true);
    return;
  }
  if (m.log_index > last_index()) return;  // garbage
  bool updated = m.log_index > pr.match;
  if (updated) pr.match = m.log_index;
  pr.next = std::max(pr.next, m.log_index + 1);
  while (!pr.inflight.empty() && pr.inflight.front() <= pr.match) pr.inflight.pop_front();
  switch (pr.state) {
    case ProgressState::kProbe:
      pr.probe_sent = false;
      if (updated) become_replicate(pr);
      break;
    case ProgressState::kSnapshot:
      if (pr.match >= pr.pending_snapshot) become_replicate(pr);
      break;
    case ProgressState::kReplicate:
      break;
  }
  if (updated && maybe_commit()) {
    if (role_ != Role::kLeader) return;  // our own removal committed
    bcast_append();
  } else {
    while (send_append(m.from, false)) {
    }
  }
  if (m.from == transferee_ && pr.match == last_index()) {
    send(make_msg(MsgType::kTimeoutNow, m.from, term_));
  }
}

void Node::handle_heartbeat_resp(const Message& m, Progress& pr) {
  if (pr.state == ProgressState::kProbe) pr.probe_sent = false;
  if (pr.state == ProgressState::kReplicate && pr.inflight.size() >= opts_.max_inflight_msgs) {
    pr.inflight.pop_front();  // assume lost; an empty append probes the gap
  }
  if (pr.match < last_index()) send_append(m.from, true);
}

// ---------------------------------------------------------------------------
// Client API.

Result<Index> Node::propose(std::string data) {
  if (role_ != Role::kLeader) return Status::Unavailable("not the raft leader");
  if (transferee_ != kNoNode) return Status::Unavailable("raft leadership transfer in progress");
  append_entry(EntryType::kNormal, std::move(data));
  Index index = last_index();
  for (auto& [peer, pr] : progress_) send_append(peer, false);
  if (maybe_commit() && role_ == Role::kLeader) bcast_append();
  return index;
}

Result<Index> Node::propose_conf_change(const ConfChange& cc) {
  if (role_ != Role::kLeader) return Status::Unavailable("not the raft leader");
  if (transferee_ != kNoNode) return Status::Unavailable("raft leadership transfer in progress");
  if (pending_conf_index_ > commit_) {
    return Status::Unavailable("a raft configuration change is still pending");
  }
  if (cc.node < 0) return Status::InvalidArgument("bad node id");
  bool present = is_voter(cc.node);
  if (cc.type == ConfChangeType::kAddNode && present) {
    return Status::InvalidArgument("node is already a voter");
  }
  if (cc.type == ConfChangeType::kRemoveNode) {
    if (!present) return Status::InvalidArgument("node is not a voter");
    if (voters_.size() == 1) return Status::InvalidArgument("cannot remove the last voter");
  }
  append_entry(EntryType::kConfChange, cc.encode());
  Index index = last_index();
  pending_conf_index_ = index;
  for (auto& [peer, pr] : progress_) send_append(peer, false);
  if (maybe_commit() && role_ == Role::kLeader) bcast_append();
  return index;
}

void Node::transfer_leadership(NodeId to) {
  if (role_ != Role::kLeader || to == id_ || !is_voter(to)) return;
  auto it = progress_.find(to);
  if (it == progress_.end() || transferee_ == to) return;
  transferee_ = to;
  transfer_elapsed_ = 0;
  if (it->second.match == last_index()) {
    send(make_msg(MsgType::kTimeoutNow, to, term_));
  } else {
    send_append(to, true);
  }
}

Status Node::compact(Index index, std::string data) {
  if (index <= snap_index_) return Status::InvalidArgument("raft log already compacted there");
  if (index > applied_) return Status::InvalidArgument("cannot compact past the applied index");
  Snapshot s{index, *term_at(index), voters_at(index), std::move(data)};
  log_.erase(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(index - snap_index_));
  snap_index_ = index;
  snap_term_ = s.term;
  snapshot_ = std::move(s);
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Ready / advance.

bool Node::has_ready() const {
  if (ready_outstanding_) return false;
  HardState hs{term_, vote_, commit_};
  Index committed_from = snapshot_unpersisted_ ? snap_index_ : handed_out_;
  return hs != persisted_hs_ || snapshot_unpersisted_ || last_index() > stable_index_ ||
         !msgs_.empty() || commit_ > committed_from;
}

Ready Node::ready() {
  CAIRN_CHECK(!ready_outstanding_);
  Ready rd;
  HardState hs{term_, vote_, commit_};
  if (hs != persisted_hs_) {
    rd.hard_state = hs;
    persisted_hs_ = hs;
  }
  if (snapshot_unpersisted_) {
    rd.snapshot = *snapshot_;
    snapshot_unpersisted_ = false;
    handed_out_ = snap_index_;
  }
  for (Index i = std::max(stable_index_, snap_index_) + 1; i <= last_index(); ++i) {
    rd.entries.push_back(at(i));
  }
  stable_index_ = last_index();
  rd.messages = std::move(msgs_);
  msgs_.clear();
  CAIRN_CHECK(handed_out_ >= snap_index_);
  for (Index i = handed_out_ + 1; i <= commit_; ++i) rd.committed.push_back(at(i));
  handed_out_ = std::max(handed_out_, commit_);
  ready_outstanding_ = true;
  outstanding_applied_ = handed_out_;
  return rd;
}

void Node::advance() {
  CAIRN_CHECK(ready_outstanding_);
  ready_outstanding_ = false;
  applied_ = std::max(applied_, outstanding_applied_);
}

}  // namespace cairn::raft
