// When each PG is scrubbed without an operator asking (Ceph: osd_scrub_min_interval,
// osd_deep_scrub_interval, osd_scrub_interval_randomize_ratio). Pure: the
// OSD passes the clock and the per-PG random draws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/placement.h"

namespace cairn::osd {

// When a PG's copies were last compared (wall clock, ms since the epoch;
// 0 = never). A deep scrub is a scrub too.
struct ScrubStamps {
  uint64_t last_scrub_ms = 0;
  uint64_t last_deep_scrub_ms = 0;

  std::string encode() const;
  // False on malformed bytes (the stamps are then left as they were).
  bool decode(std::string_view bytes);
};

struct ScrubPolicy {
  uint64_t scrub_interval_ms = 24ull * 3600 * 1000;            // 0 = no scheduled scrubs
  uint64_t deep_scrub_interval_ms = 7ull * 24 * 3600 * 1000;  // 0 = no scheduled deep scrubs
  // A PG is due between interval and interval * (1 + ratio) after its last
  // scrub, at a point its jitter draw picks: PGs created together spread out.
  double randomize_ratio = 0.5;
};

struct ScrubCandidate {
  PgId pg;
  ScrubStamps stamps;
  double jitter = 0;  // uniform in [0, 1), drawn per PG after each scrub
  // The PG may be scrubbed now: active, this OSD its primary, not
  // recovering or backfilling, all replicas up.
  bool eligible = false;
};

struct ScrubJob {
  PgId pg;
  bool deep = false;
};

// The time at which a PG whose last (deep) scrub was at `last_ms` is due.
uint64_t scrub_due_ms(uint64_t last_ms, uint64_t interval_ms, double jitter, double randomize_ratio);

// The scrub to run now, if any: among eligible PGs that are due, the one
// overdue the longest (a deep scrub when its deep scrub is due, which also
// counts as its scrub). Ties go to the lower PG id.
std::optional<ScrubJob> next_scrub(const std::vector<ScrubCandidate>& pgs, uint64_t now_ms,
                                   const ScrubPolicy& policy);

}  // namespace cairn::osd
