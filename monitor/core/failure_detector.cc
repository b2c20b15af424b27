#include "monitor/core/failure_detector.h"

namespace cairn::mon {

void FailureDetector::reset(uint64_t now_ms) {
  epoch_start_ms_ = now_ms;
  last_seen_ms_.clear();
  down_since_ms_.clear();
  proposed_ms_.clear();
  reports_.clear();
  booted_ms_.clear();
}

void FailureDetector::heartbeat(OsdId osd, uint64_t now_ms) { last_seen_ms_[osd] = now_ms; }

void FailureDetector::report(OsdId target, OsdId reporter, uint64_t failed_for_ms,
                             uint64_t now_ms) {
  if (target == reporter) return;
  auto b = booted_ms_.find(target);
  if (failed_for_ms > 0 && b != booted_ms_.end() && now_ms - failed_for_ms < b->second) {
    reports_[target].erase(reporter);  // silent since before its boot: its old life
    return;
  }
  reports_[target][reporter] = Report{now_ms, failed_for_ms};
}

void FailureDetector::booted(OsdId osd, uint64_t now_ms) {
  booted_ms_[osd] = now_ms;
  reports_.erase(osd);
}

std::vector<OsdId> FailureDetector::reporters(const ClusterMap& map, OsdId target,
                                              uint64_t now_ms) const {
  std::vector<OsdId> out;
  auto it = reports_.find(target);
  if (it == reports_.end()) return out;
  for (const auto& [reporter, r] : it->second) {
    if (now_ms - r.at_ms > opts_.report_ttl_ms) continue;
    if (r.failed_for_ms < opts_.peer_grace_ms) continue;
    if (!map.osd_is_up(reporter)) continue;  // a down OSD's view does not count
    out.push_back(reporter);
  }
  return out;
}

bool FailureDetector::unreachable(const ClusterMap& map, OsdId target, uint64_t now_ms) const {
  return opts_.min_reporters > 0 && reporters(map, target, now_ms).size() >= opts_.min_reporters;
}

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
      bool silent = now_ms - seen > opts_.down_grace_ms;
      if ((silent || unreachable(map, id, now_ms)) && !recently_proposed()) {
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
