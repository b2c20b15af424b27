// The MDS journal record format. Every metadata change is one entry of
// idempotent Updates; an entry is durable once its record is appended to a
// journal segment object. Pure: no I/O.
//
//   record = u32 payload length | u32 crc32c(payload) | payload
//   payload = u64 seq | u32 count | Update... | u64 session | u64 tid | reply
// (session, tid, reply): the client request that made the entry and what it
// was answered, so a request resent after an MDS failover is answered again
// instead of applied twice.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fs/core/inode.h"

namespace cairn::fs {

// Segments roll over past this size so trimming can delete whole objects.
inline constexpr uint64_t kJournalSegmentBytes = 8ull << 20;

// Session lifecycle entries (session set, tid 0, no updates) carry one of
// these in `reply`: a new MDS waits for the sessions still open to
// reconnect and resend their unsafe requests before it serves others.
inline constexpr const char* kSessionOpenMark = "session-open";
inline constexpr const char* kSessionEndMark = "session-end";

struct JournalEntry {
  uint64_t seq = 0;
  std::vector<Update> updates;
  uint64_t session = 0;  // 0: not from a client request
  uint64_t tid = 0;
  std::string reply;  // the encoded MdsReply
};

void append_record(const JournalEntry& entry, std::string* out);

// Decodes the records of one segment in order. Stops at the end or at the
// first incomplete or corrupt record (a torn tail), reporting in *clean
// whether the whole segment decoded.
std::vector<JournalEntry> decode_records(std::string_view segment, bool* clean);

}  // namespace cairn::fs
