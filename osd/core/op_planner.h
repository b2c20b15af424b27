// Turns a client's op list into what the PG applies: the primary resolves
// compares, creates and appends against the object's current state, so the
// mutations it replicates are plain and replicas apply them blindly. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/messages.h"
#include "common/status.h"

namespace cairn::osd {

struct ObjectState {
  bool exists = false;
  uint64_t size = 0;
  // Only the xattrs that kCmpXattr ops name need to be present.
  std::map<std::string, std::string> xattrs;
};

struct WritePlan {
  Status status;                      // the first failing op's error; nothing applies then
  std::vector<ObjectOp> mutations;    // write-class ops to replicate
  std::vector<OpResult> results;      // one per input op
  bool deletes_object = false;        // object ends absent (log entry is a delete)
};

// True if any op needs the object's xattrs loaded (kCmpXattr).
bool needs_xattrs(const std::vector<ObjectOp>& ops);
// True if ops contain a write-class op.
bool has_writes(const std::vector<ObjectOp>& ops);

// REQUIRES: has_writes(ops). Reads other than kCmpXattr may not be mixed with
// writes (InvalidArgument): a reply carries no data for a write.
WritePlan plan_write(const ObjectState& state, const std::vector<ObjectOp>& ops,
                     uint64_t max_object_size);

}  // namespace cairn::osd
