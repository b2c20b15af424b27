#include "common/lease.h"

#include <charconv>

namespace cairn {

std::string encode_lock(const LockHolder& h) {
  return h.owner + " " + std::to_string(h.expires_ms);
}

std::optional<LockHolder> decode_lock(std::string_view v) {
  auto sp = v.rfind(' ');
  if (sp == std::string_view::npos || sp == 0) return std::nullopt;
  LockHolder h;
  h.owner = std::string(v.substr(0, sp));
  std::string_view num = v.substr(sp + 1);
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), h.expires_ms);
  if (ec != std::errc() || p != num.data() + num.size()) return std::nullopt;
  return h;
}

LockDecision decide_lock(const std::optional<LockHolder>& cur, std::string_view me,
                         uint64_t now_ms) {
  if (!cur) return LockDecision::kAcquire;
  if (cur->owner == me) return LockDecision::kRenew;
  if (cur->expires_ms <= now_ms) return LockDecision::kAcquire;
  return LockDecision::kBusy;
}

}  // namespace cairn
