// Decides when the monitor leader marks OSDs down and out. Pure: time comes
// in as a millisecond argument, commands to propose come out.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "common/cluster_map.h"

namespace cairn::mon {

struct FailureDetectorOptions {
  // An up OSD silent for this long is marked down (Ceph: osd_heartbeat_grace, 20 s).
  uint64_t down_grace_ms = 6000;
  // A down OSD stays "in" (its PGs degraded, not remapped) this long before it
  // is marked out and its data re-replicated elsewhere (Ceph: 600 s).
  uint64_t out_interval_ms = 600000;
  // Do not re-propose the same change more often than this while it commits.
  uint64_t repropose_ms = 2000;
};

class FailureDetector {
 public:
  explicit FailureDetector(FailureDetectorOptions opts) : opts_(opts) {}

  // A new leader knows nothing about who was heartbeating before: every OSD
  // gets a fresh grace period from now.
  void reset(uint64_t now_ms);
  void heartbeat(OsdId osd, uint64_t now_ms);
  // Commands (kOsdDown / kOsdOut) that the map needs now.
  std::vector<MapCommand> tick(const ClusterMap& map, uint64_t now_ms);

 private:
  FailureDetectorOptions opts_;
  uint64_t epoch_start_ms_ = 0;
  std::map<OsdId, uint64_t> last_seen_ms_;
  std::map<OsdId, uint64_t> down_since_ms_;
  std::map<OsdId, uint64_t> proposed_ms_;
};

}  // namespace cairn::mon
