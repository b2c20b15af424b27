// Advisory locks held across clients: POSIX record locks (fcntl) and BSD
// whole-file locks (flock), as the kernel hands them to a FUSE filesystem.
// Pure; the MDS keeps one table in memory, and each client a copy of the
// locks it holds. Locks are not journaled: after an MDS failover every
// client reclaims its own while the new MDS holds other requests back (as
// NFSv4 clients do in a server's grace period).
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "fs/core/inode.h"

namespace cairn::fs {

enum class LockType : uint8_t { kUnlock = 0, kRead = 1, kWrite = 2 };

struct LockOwner {
  uint64_t session = 0;
  uint64_t owner = 0;  // the kernel's lock_owner (per open file / process)
  auto operator<=>(const LockOwner&) const = default;
};

struct LockRange {
  LockOwner owner;
  LockType type = LockType::kRead;
  uint64_t start = 0;
  uint64_t end = UINT64_MAX;  // inclusive
  uint32_t pid = 0;
  bool flock = false;  // BSD lock: whole file, never conflicts with POSIX ones
};

class LockTable {
 public:
  // The first lock another owner holds that would conflict with `want`
  // (F_GETLK); false when none does.
  bool test(Ino ino, const LockRange& want, LockRange* conflict) const;
  // F_SETLK: EAGAIN on conflict, else takes (or with kUnlock releases) the
  // range, splitting and replacing the owner's overlapping locks.
  int set(Ino ino, const LockRange& want);
  // Drops everything a session holds (its client died or unmounted).
  void release_session(uint64_t session);
  // Drops an owner's locks on one file (close of the last descriptor).
  void release_owner(Ino ino, const LockOwner& owner, bool flock);
  size_t count() const;
  // Every lock, by file (for a client's reclaim after a failover).
  std::vector<std::pair<Ino, LockRange>> all() const;

 private:
  std::map<Ino, std::vector<LockRange>> locks_;
};

}  // namespace cairn::fs
