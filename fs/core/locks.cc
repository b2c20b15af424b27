#include "fs/core/locks.h"

#include <algorithm>
#include <cerrno>

namespace cairn::fs {

namespace {
bool overlaps(const LockRange& a, const LockRange& b) {
  return a.start <= b.end && b.start <= a.end;
}
bool conflicts(const LockRange& held, const LockRange& want) {
  if (held.flock != want.flock) return false;
  if (held.owner == want.owner) return false;
  if (held.type != LockType::kWrite && want.type != LockType::kWrite) return false;
  return overlaps(held, want);
}
}  // namespace

bool LockTable::test(Ino ino, const LockRange& want, LockRange* conflict) const {
  auto it = locks_.find(ino);
  if (it == locks_.end()) return false;
  for (const LockRange& held : it->second) {
    if (conflicts(held, want)) {
      *conflict = held;
      return true;
    }
  }
  return false;
}

int LockTable::set(Ino ino, const LockRange& want) {
  auto& held = locks_[ino];
  if (want.type != LockType::kUnlock) {
    for (const LockRange& h : held) {
      if (conflicts(h, want)) return EAGAIN;
    }
  }
  // Cut the owner's existing locks of the same kind out of the new range.
  std::vector<LockRange> kept;
  for (const LockRange& h : held) {
    if (h.owner != want.owner || h.flock != want.flock || !overlaps(h, want)) {
      kept.push_back(h);
      continue;
    }
    if (h.start < want.start) {
      LockRange left = h;
      left.end = want.start - 1;
      kept.push_back(left);
    }
    if (want.end != UINT64_MAX && h.end > want.end) {
      LockRange right = h;
      right.start = want.end + 1;
      kept.push_back(right);
    }
  }
  if (want.type != LockType::kUnlock) kept.push_back(want);
  if (kept.empty()) {
    locks_.erase(ino);
  } else {
    held = std::move(kept);
  }
  return 0;
}

void LockTable::release_session(uint64_t session) {
  for (auto it = locks_.begin(); it != locks_.end();) {
    auto& v = it->second;
    std::erase_if(v, [&](const LockRange& l) { return l.owner.session == session; });
    it = v.empty() ? locks_.erase(it) : std::next(it);
  }
}

void LockTable::release_owner(Ino ino, const LockOwner& owner, bool flock) {
  auto it = locks_.find(ino);
  if (it == locks_.end()) return;
  std::erase_if(it->second,
                [&](const LockRange& l) { return l.owner == owner && l.flock == flock; });
  if (it->second.empty()) locks_.erase(it);
}

size_t LockTable::count() const {
  size_t n = 0;
  for (const auto& [ino, v] : locks_) n += v.size();
  return n;
}

std::vector<std::pair<Ino, LockRange>> LockTable::all() const {
  std::vector<std::pair<Ino, LockRange>> out;
  for (const auto& [ino, ranges] : locks_) {
    for (const LockRange& l : ranges) out.emplace_back(ino, l);
  }
  return out;
}

}  // namespace cairn::fs
