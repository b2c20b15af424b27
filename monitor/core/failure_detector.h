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
  // Peers' failure reports: an OSD that still heartbeats the monitors but
  // that this many up OSDs have not reached for peer_grace_ms is marked down
  // (Ceph: mon_osd_min_down_reporters = 2). Two, so that one isolated OSD
  // reporting everyone else takes nobody down. Reports count while fresh.
  uint32_t min_reporters = 2;
  uint64_t peer_grace_ms = 6000;
  uint64_t report_ttl_ms = 3000;
};

class FailureDetector {
 public:
  explicit FailureDetector(FailureDetectorOptions opts) : opts_(opts) {}

  // A new leader knows nothing about who was heartbeating before: every OSD
  // gets a fresh grace period from now.
  void reset(uint64_t now_ms);
  void heartbeat(OsdId osd, uint64_t now_ms);
  // `reporter` has not reached `target` for failed_for_ms.
  void report(OsdId target, OsdId reporter, uint64_t failed_for_ms, uint64_t now_ms);
  // `osd` booted (its boot committed): reports of a silence that began
  // before are about its previous life, and are dropped.
  void booted(OsdId osd, uint64_t now_ms);
  // The up OSDs whose fresh reports say `target` has been unreachable for
  // at least peer_grace_ms.
  std::vector<OsdId> reporters(const ClusterMap& map, OsdId target, uint64_t now_ms) const;
  // Enough of them: `target` is down even if it heartbeats (and may not
  // boot again while they keep reporting).
  bool unreachable(const ClusterMap& map, OsdId target, uint64_t now_ms) const;
  // Commands (kOsdDown / kOsdOut) that the map needs now.
  std::vector<MapCommand> tick(const ClusterMap& map, uint64_t now_ms);

 private:
  FailureDetectorOptions opts_;
  uint64_t epoch_start_ms_ = 0;
  std::map<OsdId, uint64_t> last_seen_ms_;
  std::map<OsdId, uint64_t> down_since_ms_;
  std::map<OsdId, uint64_t> proposed_ms_;
  struct Report {
    uint64_t at_ms = 0;
    uint64_t failed_for_ms = 0;
  };
  std::map<OsdId, std::map<OsdId, Report>> reports_;  // target -> reporter -> latest
  std::map<OsdId, uint64_t> booted_ms_;
};

}  // namespace cairn::mon
