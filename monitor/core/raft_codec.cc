// Wire and on-disk encodings of the Raft types (little-endian, see common/codec.h).
#include <algorithm>

#include "monitor/core/raft.h"

namespace cairn::raft {

namespace {

constexpr uint8_t kWireVersion = 1;
constexpr uint8_t kMaxEntryType = static_cast<uint8_t>(EntryType::kNoop);
constexpr uint8_t kMaxConfChangeType = static_cast<uint8_t>(ConfChangeType::kRemoveNode);

}  // namespace

std::string_view msg_type_name(MsgType t) {
  switch (t) {
    case MsgType::kVote:
      return "Vote";
    case MsgType::kVoteResp:
      return "VoteResp";
    case MsgType::kPreVote:
      return "PreVote";
    case MsgType::kPreVoteResp:
      return "PreVoteResp";
    case MsgType::kAppend:
      return "Append";
    case MsgType::kAppendResp:
      return "AppendResp";
    case MsgType::kSnapshot:
      return "Snapshot";
    case MsgType::kHeartbeat:
      return "Heartbeat";
    case MsgType::kHeartbeatResp:
      return "HeartbeatResp";
    case MsgType::kTimeoutNow:
      return "TimeoutNow";
  }
  return "?";
}

std::string_view role_name(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

void Entry::encode(Encoder& enc) const {
  enc.u64(term);
  enc.u64(index);
  enc.u8(static_cast<uint8_t>(type));
  enc.bytes(data);
}

bool Entry::decode(Decoder& dec, Entry* out) {
  out->term = dec.u64();
  out->index = dec.u64();
  uint8_t type = dec.u8();
  out->data = dec.bytes();
  if (type > kMaxEntryType) dec.fail();
  out->type = static_cast<EntryType>(type);
  return dec.ok();
}

std::string ConfChange::encode() const {
  std::string out;
  Encoder enc(&out);
  enc.u8(static_cast<uint8_t>(type));
  enc.i32(node);
  enc.bytes(context);
  return out;
}

Result<ConfChange> ConfChange::decode(std::string_view in) {
  Decoder dec(in);
  ConfChange cc;
  uint8_t type = dec.u8();
  cc.node = dec.i32();
  cc.context = dec.bytes();
  if (type > kMaxConfChangeType || cc.node < 0) dec.fail();
  if (!dec.done()) return Status::Corruption("cannot decode raft conf change");
  cc.type = static_cast<ConfChangeType>(type);
  return cc;
}

void HardState::encode(Encoder& enc) const {
  enc.u64(term);
  enc.i32(vote);
  enc.u64(commit);
}

Result<HardState> HardState::decode(std::string_view in) {
  Decoder dec(in);
  HardState hs;
  hs.term = dec.u64();
  hs.vote = dec.i32();
  hs.commit = dec.u64();
  if (!dec.done() || hs.vote < kNoNode) return Status::Corruption("cannot decode raft hard state");
  return hs;
}

void Snapshot::encode(Encoder& enc) const {
  enc.u64(index);
  enc.u64(term);
  enc.u32(static_cast<uint32_t>(voters.size()));
  for (NodeId v : voters) enc.i32(v);
  enc.bytes(data);
}

bool Snapshot::decode(Decoder& dec, Snapshot* out) {
  out->index = dec.u64();
  out->term = dec.u64();
  uint32_t n = dec.count();
  out->voters.clear();
  out->voters.reserve(n);
  for (uint32_t i = 0; i < n && dec.ok(); ++i) {
    NodeId v = dec.i32();
    if (v < 0) dec.fail();
    out->voters.push_back(v);
  }
  out->data = dec.bytes();
  return dec.ok();
}

void Message::encode(Encoder& enc) const {
  enc.u8(kWireVersion);
  enc.u8(static_cast<uint8_t>(type));
  enc.i32(from);
  enc.i32(to);
  enc.u64(term);
  enc.u64(log_index);
  enc.u64(log_term);
  enc.u32(static_cast<uint32_t>(entries.size()));
  for (const Entry& e : entries) e.encode(enc);
  enc.u64(commit);
  enc.boolean(reject);
  enc.u64(reject_hint);
  enc.boolean(snapshot.has_value());
  if (snapshot) snapshot->encode(enc);
  enc.boolean(transfer);
}

Result<Message> Message::decode(std::string_view in) {
  Decoder dec(in);
  Message m;
  if (dec.u8() != kWireVersion) return Status::Corruption("unknown raft message version");
  uint8_t type = dec.u8();
  if (type > kMaxMsgType) return Status::Corruption("unknown raft message type");
  m.type = static_cast<MsgType>(type);
  m.from = dec.i32();
  m.to = dec.i32();
  m.term = dec.u64();
  m.log_index = dec.u64();
  m.log_term = dec.u64();
  uint32_t n = dec.count();
  for (uint32_t i = 0; i < n && dec.ok(); ++i) {
    Entry e;
    if (Entry::decode(dec, &e)) m.entries.push_back(std::move(e));
  }
  m.commit = dec.u64();
  m.reject = dec.boolean();
  m.reject_hint = dec.u64();
  if (dec.boolean()) {
    m.snapshot.emplace();
    Snapshot::decode(dec, &*m.snapshot);
  }
  m.transfer = dec.boolean();
  if (!dec.done()) return Status::Corruption("cannot decode raft message");
  return m;
}

}  // namespace cairn::raft
