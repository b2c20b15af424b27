#include "fs/core/dirty_extents.h"

#include <algorithm>
#include <cstring>

namespace cairn::fs {

void DirtyExtents::add(uint64_t off, std::string_view data) {
  while (!data.empty()) {
    uint64_t room = object_size_ - off % object_size_;
    size_t n = static_cast<size_t>(std::min<uint64_t>(room, data.size()));
    add_in_object(off, data.substr(0, n));
    off += n;
    data.remove_prefix(n);
  }
}

void DirtyExtents::add_in_object(uint64_t off, std::string_view data) {
  uint64_t end = off + data.size();
  uint64_t obj_start = off - off % object_size_;
  // The first extent that may overlap or touch [off, end): the one before off
  // if it reaches off (within the same object).
  auto it = extents_.upper_bound(off);
  if (it != extents_.begin()) {
    auto prev = std::prev(it);
    uint64_t prev_end = prev->first + prev->second.size();
    if (prev->first >= obj_start && prev_end >= off) {
      // The common cases without a rebuild: inside it, or appending to it.
      bool next_clear = it == extents_.end() || it->first > end ||
                        it->first % object_size_ == 0;
      if (end <= prev_end) {
        std::memcpy(prev->second.data() + (off - prev->first), data.data(), data.size());
        return;
      }
      if (next_clear) {
        bytes_ += end - prev_end;
        prev->second.resize(off - prev->first);
        prev->second.append(data);
        return;
      }
      it = prev;
    }
  }
  // General case: merge every extent of this object that overlaps or touches.
  uint64_t start = off;
  uint64_t stop = end;
  auto first = it;
  auto last = it;
  while (last != extents_.end() && last->first <= end &&
         last->first - last->first % object_size_ == obj_start) {
    start = std::min(start, last->first);
    stop = std::max<uint64_t>(stop, last->first + last->second.size());
    ++last;
  }
  std::string merged(stop - start, '\0');
  for (auto e = first; e != last; ++e) {
    std::memcpy(merged.data() + (e->first - start), e->second.data(), e->second.size());
    bytes_ -= e->second.size();
  }
  std::memcpy(merged.data() + (off - start), data.data(), data.size());
  extents_.erase(first, last);
  bytes_ += merged.size();
  extents_.emplace(start, std::move(merged));
}

void DirtyExtents::truncate(uint64_t size) {
  auto it = extents_.lower_bound(size);
  if (it != extents_.begin()) {
    auto prev = std::prev(it);
    uint64_t prev_end = prev->first + prev->second.size();
    if (prev_end > size) {
      bytes_ -= prev_end - size;
      prev->second.resize(size - prev->first);
    }
  }
  for (auto e = it; e != extents_.end(); ++e) bytes_ -= e->second.size();
  extents_.erase(it, extents_.end());
}

std::vector<uint64_t> DirtyExtents::objects() const {
  std::vector<uint64_t> out;
  for (const auto& [off, data] : extents_) {
    uint64_t objno = off / object_size_;
    if (out.empty() || out.back() != objno) out.push_back(objno);
  }
  return out;
}

bool DirtyExtents::has(uint64_t objno) const {
  auto it = extents_.lower_bound(objno * object_size_);
  return it != extents_.end() && it->first < (objno + 1) * object_size_;
}

bool DirtyExtents::covers(uint64_t objno) const {
  auto it = extents_.find(objno * object_size_);
  return it != extents_.end() && it->second.size() == object_size_;
}

std::vector<DirtyExtents::Piece> DirtyExtents::take(uint64_t objno) {
  std::vector<Piece> out;
  uint64_t base = objno * object_size_;
  auto it = extents_.lower_bound(base);
  while (it != extents_.end() && it->first < base + object_size_) {
    bytes_ -= it->second.size();
    out.push_back(Piece{it->first - base, std::move(it->second)});
    it = extents_.erase(it);
  }
  return out;
}

}  // namespace cairn::fs
