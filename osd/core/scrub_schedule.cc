#include "osd/core/scrub_schedule.h"

#include <algorithm>

#include "common/codec.h"

namespace cairn::osd {

std::string ScrubStamps::encode() const {
  std::string out;
  Encoder e(&out);
  e.u8(1);  // format version
  e.u64(last_scrub_ms);
  e.u64(last_deep_scrub_ms);
  return out;
}

bool ScrubStamps::decode(std::string_view bytes) {
  Decoder d(bytes);
  if (d.u8() != 1) return false;
  uint64_t scrub = d.u64(), deep = d.u64();
  if (!d.ok()) return false;
  last_scrub_ms = scrub;
  last_deep_scrub_ms = deep;
  return true;
}

uint64_t scrub_due_ms(uint64_t last_ms, uint64_t interval_ms, double jitter, double randomize_ratio) {
  double extra = static_cast<double>(interval_ms) * std::clamp(randomize_ratio, 0.0, 10.0) *
                 std::clamp(jitter, 0.0, 1.0);
  return last_ms + interval_ms + static_cast<uint64_t>(extra);
}

std::optional<ScrubJob> next_scrub(const std::vector<ScrubCandidate>& pgs, uint64_t now_ms,
                                   const ScrubPolicy& policy) {
  std::optional<ScrubJob> best;
  uint64_t best_overdue = 0;
  for (const auto& c : pgs) {
    if (!c.eligible) continue;
    // Each kind is overdue by how long past its due time; 0 = not due.
    auto overdue = [&](uint64_t last, uint64_t interval) -> uint64_t {
      if (interval == 0) return 0;
      uint64_t due = scrub_due_ms(last, interval, c.jitter, policy.randomize_ratio);
      return now_ms >= due ? now_ms - due + 1 : 0;
    };
    uint64_t deep = overdue(c.stamps.last_deep_scrub_ms, policy.deep_scrub_interval_ms);
    uint64_t shallow = overdue(std::max(c.stamps.last_scrub_ms, c.stamps.last_deep_scrub_ms),
                               policy.scrub_interval_ms);
    uint64_t o = std::max(deep, shallow);
    if (o == 0) continue;
    if (!best || o > best_overdue || (o == best_overdue && c.pg < best->pg)) {
      best = ScrubJob{c.pg, deep > 0};
      best_overdue = o;
    }
  }
  return best;
}

}  // namespace cairn::osd
