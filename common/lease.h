// Exclusive ownership as a lease (an rbd image's exclusive lock, the active
// MDS of a filesystem): the holder writes "<owner> <expires_wall_ms>" into
// an object's "lock" xattr with compare-and-set and renews it well
// before it expires. A holder whose renewal has not succeeded by its lease
// end stops writing (it fences itself); anyone may take an expired lease.
// Pure: the caller supplies the current value and the time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cairn {

inline constexpr const char* kLockXattr = "lock";
// Default lease: long enough to ride out a slow renewal, short enough that a
// crashed holder's volume is writable again quickly.
inline constexpr uint64_t kDefaultLeaseMs = 15000;

struct LockHolder {
  std::string owner;
  uint64_t expires_ms = 0;  // wall clock (ms since epoch)
  bool operator==(const LockHolder&) const = default;
};

std::string encode_lock(const LockHolder& h);
// nullopt for an empty or malformed value (treated as free).
std::optional<LockHolder> decode_lock(std::string_view v);

enum class LockDecision {
  kAcquire,  // free or expired: take it (compare-and-set on the old value)
  kRenew,    // we hold it: extend it
  kBusy,     // someone else holds a live lease
};
LockDecision decide_lock(const std::optional<LockHolder>& current, std::string_view me,
                         uint64_t now_ms);

}  // namespace cairn
