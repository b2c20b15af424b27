#include "osd/core/log_chain.h"

namespace cairn::osd {

void LogChain::reset(uint64_t head) {
  complete_ = head;
  ahead_.clear();
}

void LogChain::committed(uint64_t version, uint64_t prior) {
  if (version <= complete_) return;  // a resend of an entry already counted
  if (prior != complete_) {
    ahead_[prior] = version;
    return;
  }
  complete_ = version;
  // Entries that were waiting for this one now extend the chain.
  for (auto it = ahead_.find(complete_); it != ahead_.end(); it = ahead_.find(complete_)) {
    complete_ = it->second;
    ahead_.erase(it);
  }
  // Whatever is left behind the new head is from a stale chain.
  ahead_.erase(ahead_.begin(), ahead_.lower_bound(complete_));
}

}  // namespace cairn::osd
