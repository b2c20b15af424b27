// Message types and payload codecs for every daemon and client.
// The frame format is in common/net/frame.h; docs/architecture.md lists them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/cluster_map.h"
#include "common/codec.h"
#include "common/status.h"

namespace cairn {

enum class MsgType : uint16_t {
  // monitor
  kRaft = 1,            // mon <-> mon, one-way: raft::Message
  kMonCommand = 2,      // MapCommand -> CommandReply (leader only)
  kMonSubscribe = 3,    // SubscribeRequest -> MapUpdate now, more pushed later
  kMapUpdate = 4,       // mon -> subscriber, one-way
  kOsdHeartbeat = 5,    // OsdHeartbeat -> HeartbeatReply (leader only)
  kMonStatus = 6,       // (empty) -> MonStatus
  kOsdReport = 7,       // OSD -> mon leader, one-way: PG stats for `status`
  kMonGetReports = 8,   // (empty) -> all OSD reports
  kOsdFailure = 9,      // OSD -> mon leader, one-way: OsdFailure (a peer it cannot reach)
  // osd
  kOsdOp = 20,          // OsdOpRequest -> OsdOpReply (client -> primary)
  kRepOp = 21,          // RepOpRequest -> StatusReply (primary -> replica)
  kPgInfo = 22,         // PgRef -> PgInfoReply (peering)
  kPgListObjects = 23,  // PgListRequest -> PgListReply
  kPgPull = 24,         // PgObjectRef -> PgObjectData (recovery)
  kPgPush = 25,         // PgPushRequest -> StatusReply (recovery)
  kPgScrubMap = 26,     // ScrubMapRequest -> ScrubMapReply (one member's inventory)
  kPgScrub = 27,        // ScrubRequest -> ScrubReply (client -> primary)
  kPgActivate = 28,     // PgActivate -> StatusReply (primary -> up members, before serving)
  kOsdPing = 29,        // (empty) -> StatusReply (OSD -> OSD: are you reachable?)
};

// Every reply starts with a status; a non-ok status may carry a hint
// (leader address, newer epoch) so the caller knows where to retry.
struct StatusReply {
  Status status;
  std::string leader_hint;
  Epoch epoch = 0;
  void encode(Encoder& e) const;
  static Result<StatusReply> decode(Decoder& d);
};
void encode_status(Encoder& e, const Status& s);
Status decode_status(Decoder& d);

struct CommandReply {
  StatusReply head;
  Epoch applied_epoch = 0;  // map epoch after the command applied
  std::string data;         // command-specific result (e.g. allocated osd id)
  std::string encode() const;
  static Result<CommandReply> decode(std::string_view b);
};

struct SubscribeRequest {
  Epoch have_epoch = 0;
  std::string encode() const;
  static Result<SubscribeRequest> decode(std::string_view b);
};

// Either a full map or the commands from have_epoch+1 up to the newest.
struct MapUpdate {
  bool full = true;
  std::string map;                    // encoded ClusterMap when full
  Epoch first_epoch = 0;              // epoch the first command produces
  std::vector<std::string> commands;  // encoded MapCommands when incremental
  std::string encode() const;
  static Result<MapUpdate> decode(std::string_view b);
};

struct OsdHeartbeat {
  OsdId osd = kNoOsd;
  uint64_t boot_nonce = 0;
  Epoch map_epoch = 0;
  std::string encode() const;
  static Result<OsdHeartbeat> decode(std::string_view b);
};

// `reporter` has not reached `target` (pings unanswered) for failed_for_ms.
struct OsdFailure {
  OsdId reporter = kNoOsd;
  OsdId target = kNoOsd;
  uint64_t failed_for_ms = 0;
  std::string encode() const;
  static Result<OsdFailure> decode(std::string_view b);
};

struct MonStatus {
  MonId id = 0;
  std::string role;  // leader | follower | candidate
  uint64_t term = 0;
  MonId leader = -1;
  std::string leader_addr;
  Epoch map_epoch = 0;
  uint64_t commit_index = 0;
  std::vector<MonId> voters;
  std::vector<MonId> reachable;  // leader only: voters it heard from recently
  std::string encode() const;
  static Result<MonStatus> decode(std::string_view b);
};

// Per-PG state an OSD reports for the PGs it is primary of.
struct PgStat {
  PoolId pool = 0;
  uint32_t pg = 0;
  std::string state;  // "active+clean", "peering", "active+degraded", ...
  uint64_t objects = 0;
  uint64_t bytes = 0;
  uint64_t degraded_objects = 0;
  std::vector<OsdId> blocked_by;  // "down": peering waits for one of these OSDs
  uint64_t last_scrub_ms = 0;       // wall clock, ms since the epoch; 0 = never
  uint64_t last_deep_scrub_ms = 0;
};

struct OsdReport {
  OsdId osd = kNoOsd;
  Epoch map_epoch = 0;
  uint64_t used_bytes = 0;
  uint64_t total_bytes = 0;
  uint64_t avail_bytes = 0;
  uint64_t ops = 0;  // client ops served since start
  std::vector<PgStat> pgs;
  // Recovery and backfill this OSD drives (as primary): objects still to
  // copy in the passes under way, and the rates since its previous report.
  uint64_t recovery_objects_left = 0;
  double recovery_objects_per_sec = 0;
  double recovery_bytes_per_sec = 0;
  // The OSD refuses client writes: its filesystem is fuller than its full
  // ratio or has less than its reserve free.
  bool full = false;
  uint64_t received_ms = 0;  // set by the monitor (its own clock)
  void encode(Encoder& e) const;
  static OsdReport decode(Decoder& d);
  std::string encode() const;
};

// ---- object operations ------------------------------------------------------

enum class OpCode : uint8_t {
  // reads
  kRead = 1,        // offset, length (0 = to end)
  kStat = 2,        //
  kGetXattr = 3,    // key
  kGetXattrs = 4,   //
  kOmapGet = 5,     // keys
  kOmapList = 6,    // key = after, value = prefix, length = max
  kCmpXattr = 7,    // key, value: the op list fails with Conflict unless equal
                    // (value "" matches an absent xattr)
  // writes
  kWriteFull = 20,  // data
  kWrite = 21,      // offset, data
  kAppend = 22,     // data
  kTruncate = 23,   // offset = new size
  kRemove = 24,     //
  kCreate = 25,     // exclusive: AlreadyExists if present
  kSetXattr = 26,   // key, value
  kRmXattr = 27,    // key
  kOmapSet = 28,    // kvs
  kOmapRm = 29,     // keys
  kOmapClear = 30,  //
  kTouch = 31,      // create if absent
};

bool op_is_write(OpCode op);

struct ObjectOp {
  OpCode code = OpCode::kRead;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::string data;
  std::string key;
  std::string value;
  std::map<std::string, std::string> kvs;
  std::vector<std::string> keys;
  void encode(Encoder& e) const;
  static ObjectOp decode(Decoder& d);
};

struct OpResult {
  Status status;
  std::string data;                        // read bytes, xattr value
  uint64_t size = 0;                       // stat
  uint64_t version = 0;                    // stat
  uint64_t mtime_ns = 0;                   // stat
  std::map<std::string, std::string> kvs;  // xattrs, omap
  bool more = false;                       // omap list truncated
  void encode(Encoder& e) const;
  static OpResult decode(Decoder& d);
};

struct OsdOpRequest {
  PoolId pool = 0;
  uint32_t pg = 0;
  std::string object;
  Epoch map_epoch = 0;
  // Identifies the request across resends so a replayed write applies once.
  uint64_t client_id = 0;
  uint64_t tid = 0;
  std::vector<ObjectOp> ops;
  std::string encode() const;
  static Result<OsdOpRequest> decode(std::string_view b);
};

struct OsdOpReply {
  StatusReply head;
  uint64_t version = 0;  // PG log version of the write
  std::vector<OpResult> results;
  std::string encode() const;
  static Result<OsdOpReply> decode(std::string_view b);
};

// What a replica applies: the primary already resolved appends, compares and
// creates into plain mutations, so replicas apply blindly and in order.
struct LogEntry {
  uint64_t version = 0;
  std::string object;
  bool is_delete = false;
  uint64_t client_id = 0;
  uint64_t tid = 0;
  uint64_t prior = 0;  // the entry before this one in the primary's log
  void encode(Encoder& e) const;
  static LogEntry decode(Decoder& d);
};

struct RepOpRequest {
  PoolId pool = 0;
  uint32_t pg = 0;
  Epoch map_epoch = 0;
  LogEntry entry;
  uint64_t mtime_ns = 0;
  std::vector<ObjectOp> mutations;  // write-class ops only, already resolved
  // The PG's object count and bytes after this write, as the primary counts
  // them, so a replica that becomes primary reports the same figures.
  uint64_t pg_objects = 0;
  int64_t pg_bytes = 0;
  std::string encode() const;
  static Result<RepOpRequest> decode(std::string_view b);
};

struct PgRef {
  PoolId pool = 0;
  uint32_t pg = 0;
  Epoch map_epoch = 0;
  std::string encode() const;
  static Result<PgRef> decode(std::string_view b);
};

struct PgInfoReply {
  StatusReply head;
  uint64_t last_update = 0;    // newest entry applied here
  uint64_t last_complete = 0;  // newest entry with no gap before it (osd::LogChain)
  uint64_t objects = 0;
  std::string history;  // encoded osd::PgHistory: the intervals this OSD observed
  // The member's recent PG log (its dedup table). has_log is false from OSDs
  // that predate it.
  bool has_log = false;
  std::vector<LogEntry> log;
  std::string encode() const;
  static Result<PgInfoReply> decode(std::string_view b);
};

struct PgListRequest {
  PoolId pool = 0;
  uint32_t pg = 0;
  std::string after;
  uint32_t max = 1000;
  std::string encode() const;
  static Result<PgListRequest> decode(std::string_view b);
};

struct PgListReply {
  StatusReply head;
  std::vector<std::pair<std::string, uint64_t>> objects;  // name, version
  bool more = false;
  std::string encode() const;
  static Result<PgListReply> decode(std::string_view b);
};

// A whole object, as recovery moves it.
struct ObjectData {
  std::string name;
  bool exists = false;
  uint64_t version = 0;
  uint64_t mtime_ns = 0;
  std::string data;
  std::map<std::string, std::string> xattrs;
  std::map<std::string, std::string> omap;
  void encode(Encoder& e) const;
  static ObjectData decode(Decoder& d);
};

struct PgObjectRef {
  PoolId pool = 0;
  uint32_t pg = 0;
  std::string object;
  std::string encode() const;
  static Result<PgObjectRef> decode(std::string_view b);
};

struct PgObjectReply {
  StatusReply head;
  ObjectData object;
  std::string encode() const;
  static Result<PgObjectReply> decode(std::string_view b);
};

// The primary activates the PG in the interval with up set `up`: members
// record it (and `acting`, the members holding every acked write) durably
// before answering, so later peering knows this interval may have acked
// writes and whom to ask. Sent again when backfill grows the acting set or
// the PG becomes clean (last_epoch_clean > 0 lets members prune history).
struct PgActivate {
  PoolId pool = 0;
  uint32_t pg = 0;
  Epoch map_epoch = 0;
  std::vector<OsdId> up;
  std::vector<OsdId> acting;
  Epoch last_epoch_clean = 0;
  std::string encode() const;
  static Result<PgActivate> decode(std::string_view b);
};

struct PgPushRequest {
  PoolId pool = 0;
  uint32_t pg = 0;
  std::vector<ObjectData> objects;  // exists=false: remove it
  uint64_t last_update = 0;         // set the replica's PG to this when non-zero
  // Replace the replica's PG log with this one (the authoritative log).
  bool replace_log = false;
  std::vector<LogEntry> log;
  std::string encode() const;
  static Result<PgPushRequest> decode(std::string_view b);
};

// ---- scrub ------------------------------------------------------------------

struct ScrubMapRequest {
  PoolId pool = 0;
  uint32_t pg = 0;
  bool deep = false;  // read every byte and checksum it
  // When the primary started the scrub (wall clock ms): members record it
  // as the PG's last (deep) scrub, so a new primary keeps the schedule.
  uint64_t started_ms = 0;
  std::string encode() const;
  static Result<ScrubMapRequest> decode(std::string_view b);
};

struct ScrubEntry {
  uint64_t version = 0;
  uint64_t size = 0;
  uint32_t crc = 0;       // deep scrub: crc32c of the data
  bool read_error = false;  // deep scrub: the store found a bad block checksum
};

struct ScrubMapReply {
  StatusReply head;
  std::map<std::string, ScrubEntry> objects;
  std::string encode() const;
  static Result<ScrubMapReply> decode(std::string_view b);
};

struct ScrubRequest {
  PoolId pool = 0;
  uint32_t pg = 0;
  bool deep = false;
  bool repair = false;
  std::string encode() const;
  static Result<ScrubRequest> decode(std::string_view b);
};

struct Inconsistency {
  std::string object;
  OsdId osd = kNoOsd;
  std::string reason;  // "missing", "extra", "version", "size", "data checksum", "read error"
};

struct ScrubReply {
  StatusReply head;
  uint64_t objects = 0;
  std::vector<Inconsistency> inconsistent;
  uint64_t repaired = 0;
  std::string encode() const;
  static Result<ScrubReply> decode(std::string_view b);
};

}  // namespace cairn
