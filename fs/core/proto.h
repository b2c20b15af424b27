// The client <-> MDS protocol over the Cairn messenger. One request shape
// for every operation (fields unused by an op stay zero) keeps the codec
// small; replies carry a positive errno that cairn-fuse hands to the kernel.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fs/core/inode.h"
#include "fs/core/locks.h"
#include "fs/core/namespace.h"

namespace cairn::fs {

// Messenger frame types (the object cluster uses 1..63).
inline constexpr uint16_t kMsgMdsRequest = 64;  // MdsRequest -> MdsReply
inline constexpr uint16_t kMsgMdsNotify = 65;   // MDS -> client, one-way: MdsNotify
inline constexpr uint16_t kMsgMdsSafe = 66;     // MDS -> client, one-way: MdsSafe

enum class MdsOp : uint16_t {
  kSessionOpen = 1,  // name = client name; reply.value = session id (u64 in `offset`)
  kSessionClose,
  kLookup,        // ino = dir, name
  kGetattr,       // ino
  kMknod,         // ino = parent, name, mode, rdev
  kSymlink,       // ino = parent, name, name2 = target
  kLink,          // ino, ino2 = new parent, name
  kUnlink,        // ino = parent, name
  kRmdir,         // ino = parent, name
  kRename,        // ino = parent, name, ino2 = new parent, name2, flags
  kSetattr,       // ino, attr
  kExtend,        // ino, size, attr.mtime_ns
  kReserveAppend, // ino, length -> reply.offset
  kSetxattr,      // ino, name, value, flags
  kGetxattr,      // ino, name -> value
  kListxattr,     // ino -> names (entries)
  kRemovexattr,   // ino, name
  kReaddir,       // ino, name = after, length = max, flags kReaddirPlus -> entries (+ inodes), more
  kOpen,          // ino (counts an open for unlink-while-open)
  kRelease,       // ino, offset = lock owner (drops its flock locks)
  kStatfs,        // -> statfs
  kGetlk,         // ino, lock -> reply.lock (type kUnlock if free)
  kSetlk,         // ino, lock -> 0 / EAGAIN
  kResolve,       // name = path from the root
  kSubvolCreate,  // name, size = quota bytes, length = quota files
  kSubvolResize,  // name, size, length
  kSubvolRemove,  // name
  kSubvolList,    // -> inodes
  kStatus,        // -> value = JSON status
  kCreate,        // kMknod + kOpen in one round trip (open(O_CREAT))
  kReplayDone,    // the client has resent all its unsafe requests (after a reconnect)
  kWriteInline,   // ino, offset, value = bytes, attr.mtime_ns (kEInline: not inline, or too big)
  kUninline,      // ino, size = the version whose inline bytes the client wrote to the objects
  kNotifyAck,     // offset = the newest MdsNotify.seq the client has applied to its kernel cache
  kSync,          // answered once every change answered before it is durable (fsync)
};

inline constexpr uint32_t kReaddirPlus = 1;  // kReaddir: also return each entry's inode

struct MdsRequest {
  MdsOp op = MdsOp::kGetattr;
  uint64_t session = 0;
  // Per-session request id, the same on every resend (0: none).
  uint64_t tid = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  Ino ino = 0;
  Ino ino2 = 0;
  std::string name;
  std::string name2;
  uint32_t mode = 0;
  uint32_t flags = 0;
  uint64_t rdev = 0;
  uint64_t size = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  SetAttr attr;
  std::string value;
  LockType lock_type = LockType::kUnlock;
  uint32_t lock_pid = 0;
  bool lock_flock = false;
  // A resend of a request that got an unsafe reply (after a reconnect): the
  // MDS applies it even while it holds other requests back for replays.
  // Creating ops then carry the inode number they were answered with in ino2.
  bool replay = false;

  std::string encode() const;
  static Result<MdsRequest> decode(std::string_view b);
};

struct StatfsInfo {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t files = 0;
};

struct MdsReply {
  int32_t err = 0;
  Inode inode;                  // the affected inode (lookup, create, setattr...)
  std::vector<DirEntry> entries;
  std::vector<Inode> inodes;    // subvolume list
  bool more = false;
  uint64_t offset = 0;          // session id, append offset
  std::string value;
  StatfsInfo statfs;
  LockType lock_type = LockType::kUnlock;
  uint64_t lock_start = 0;
  uint64_t lock_end = 0;
  uint32_t lock_pid = 0;
  // An early reply: applied in the MDS's memory, not yet journaled. The
  // client keeps the request and resends it after an MDS failover until an
  // MdsSafe names its tid.
  bool unsafe = false;

  std::string encode() const;
  static Result<MdsReply> decode(std::string_view b);
};

// What a client must drop from its kernel cache because another changed it.
struct MdsNotify {
  enum Kind : uint8_t { kInvalEntry = 1, kInvalInode = 2 };
  Kind kind = kInvalInode;
  Ino ino = 0;       // kInvalInode: the inode; kInvalEntry: the directory
  std::string name;  // kInvalEntry
  uint64_t seq = 0;  // acknowledged with kNotifyAck once applied
  std::string encode() const;
  static Result<MdsNotify> decode(std::string_view b);
};

// The requests (by tid) of the receiving session whose journal entries are
// now durable: the client may forget them.
struct MdsSafe {
  std::vector<uint64_t> tids;
  std::string encode() const;
  static Result<MdsSafe> decode(std::string_view b);
};

}  // namespace cairn::fs
