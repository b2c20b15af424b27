#include "monitor/core/failure_detector.h"

namespace cairn::mon {

void FailureDetector::reset(uint64_t now_ms) {
  epoch_start_ms_ = now_ms;
  last_seen_ms_.clear();
  down_since_ms_.clear();
  proposed_ms_.clear();
}

void FailureDetector::heartbeat(OsdId osd, uint64_t now_ms) { last_seen_ms_[osd] = now_ms; }

std::vector<MapCommand> FailureDetector::tick(const ClusterMap& map, uint64_t now_ms) {
  MapCommand down{.op = MapOp::kOsdDown}, out{.op = MapOp::kOsdOut};
  for (const auto& [id, osd] : map.osds) {
    auto recently_proposed = [&] {
      auto it = proposed_ms_.find(id);
      return it != proposed_ms_.end() && now_ms - it->second < opts_.repropose_ms;
    };
    if (osd.up) {
      down_since_ms_.erase(id);
      auto it = last_seen_ms_.find(id);
      uint64_t seen = it == last_seen_ms_.end() ? epoch_start_ms_ : std::max(it->second, epoch_start_ms_);
      if (now_ms - seen > opts_.down_grace_ms && !recently_proposed()) {
        down.ids.push_back(id);
        proposed_ms_[id] = now_ms;
      }
      continue;
    }
    auto [it, inserted] = down_since_ms_.try_emplace(id, now_ms);
    if (osd.in && now_ms - it->second > opts_.out_interval_ms && !recently_proposed()) {
      out.ids.push_back(id);
      proposed_ms_[id] = now_ms;
    }
  }
  std::vector<MapCommand> cmds;
  if (!down.ids.empty()) cmds.push_back(std::move(down));
  if (!out.ids.empty()) cmds.push_back(std::move(out));
  return cmds;
}

}  // namespace cairn::mon
