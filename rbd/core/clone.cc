#include "rbd/core/clone.h"

#include <algorithm>

namespace cairn::rbd {

uint64_t parent_extent(uint64_t object_size, uint64_t overlap, uint64_t objno) {
  uint64_t start = objno * object_size;
  if (start >= overlap) return 0;
  return std::min(object_size, overlap - start);
}

SnapReadPlan plan_snap_read(const ImageHeader& h, uint64_t snap_id,
                            std::optional<uint64_t> head_snap) {
  SnapReadPlan p;
  if (!head_snap || *head_snap < snap_id) {
    p.use_head = true;
    return p;
  }
  for (const auto& s : h.snaps) {
    if (s.id >= snap_id && s.id <= *head_snap) p.candidates.push_back(s.id);
  }
  for (uint64_t r : h.retired_snaps) {
    if (r >= snap_id && r <= *head_snap) p.candidates.push_back(r);
  }
  std::sort(p.candidates.begin(), p.candidates.end());
  p.header_may_be_stale = *head_snap > h.snap_seq;
  return p;
}

bool needs_copy_up(bool child_exists, uint64_t parent_bytes, uint64_t offset, uint64_t length) {
  if (child_exists || parent_bytes == 0) return false;
  return !(offset == 0 && length >= parent_bytes);
}

ZeroPlan plan_zero(HeadState head, uint64_t parent_bytes, bool has_snaps, uint64_t offset,
                   uint64_t length, bool whole, bool punch) {
  if (!punch) {
    if (needs_copy_up(head.exists, parent_bytes, offset, length)) return {ZeroKind::kCopyUp};
    return {ZeroKind::kWriteZeros, offset, length};
  }
  if (whole) {
    if (parent_bytes > 0 || has_snaps) {
      // A removed head would let the parent show through, or lose the
      // head's snapshot marker.
      if (head.exists && head.size == 0) return {ZeroKind::kNothing};
      if (!head.exists && parent_bytes == 0) return {ZeroKind::kNothing};
      return {ZeroKind::kWhiteout};
    }
    return head.exists ? ZeroPlan{ZeroKind::kRemove} : ZeroPlan{ZeroKind::kNothing};
  }
  if (!head.exists) {
    if (parent_bytes <= offset) return {ZeroKind::kNothing};
    // Every parent byte is in the range: hide them all without copying.
    if (offset == 0 && length >= parent_bytes) return {ZeroKind::kWhiteout};
    return {ZeroKind::kCopyUp};  // keep the parent's bytes outside the range
  }
  if (head.size <= offset) return {ZeroKind::kNothing};
  if (offset + length >= head.size) return {ZeroKind::kTruncate, offset, 0};
  return {ZeroKind::kWriteZeros, offset, length};
}

}  // namespace cairn::rbd
