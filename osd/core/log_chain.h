// Which prefix of a PG's log is complete on this OSD.
//
// Writes to one PG run concurrently (different objects), so their entries
// commit out of order on every member, and a replica may miss an entry whose
// successor it received (a resend after a reconnect). The newest applied
// version alone therefore overstates what an OSD holds. Each entry names the
// entry before it in the primary's log (`prior`); `complete()` is the newest
// version up to which the chain has no gap here. Peering trusts an OSD as in
// sync only when that is also its newest version (nothing past a gap).
// Pure: no I/O, tested directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>

namespace cairn::osd {

class LogChain {
 public:
  // Everything up to `head` is here (after a full sync, or at creation).
  void reset(uint64_t head);
  // The entry `version`, which follows `prior` in the primary's log, is durable.
  void committed(uint64_t version, uint64_t prior);
  uint64_t complete() const { return complete_; }
  // Durable entries past a gap, waiting for the entries before them.
  size_t ahead() const { return ahead_.size(); }

 private:
  uint64_t complete_ = 0;
  std::map<uint64_t, uint64_t> ahead_;  // prior -> version
};

}  // namespace cairn::osd
