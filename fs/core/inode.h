// The filesystem's metadata records: inodes, directory entries, and the
// idempotent updates the MDS journals. Pure: no I/O.
//
// On-disk layout in the metadata pool (docs/fs.md):
//   fs.inodes.<shard>   omap <ino hex16> -> Inode            (64 shards)
//   fs.dir.<ino hex16>  omap <name>      -> Dentry           (one per directory)
//   fs.journal.<seg>    appended records of Updates          (see journal.h)
//   fs.journal.head     xattrs: tail (last applied seq), seg (first live segment)
// File data in the data pool: <ino hex16>.<objno hex8>, kObjectSize bytes each.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/codec.h"
#include "common/status.h"

namespace cairn::fs {

using Ino = uint64_t;
inline constexpr Ino kRootIno = 1;
inline constexpr uint64_t kObjectSize = 4ull << 20;
inline constexpr size_t kMaxNameLen = 255;
inline constexpr size_t kMaxSymlinkLen = 4095;
inline constexpr size_t kMaxXattrValue = 64 * 1024;
inline constexpr int kInodeShards = 64;
// Regular files start with their data inline in the inode (journaled with
// it) and move to data objects once they would grow past this.
inline constexpr uint64_t kInlineMax = 4096;

struct Inode {
  Ino ino = 0;
  uint32_t mode = 0;  // S_IFMT type bits | permission bits
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 0;
  uint64_t size = 0;
  uint64_t rdev = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  // Bumped on every change; clients compare it to keep or drop cached pages.
  uint64_t version = 0;
  // Directories only: the one parent (rename loop checks, "..").
  Ino parent = 0;
  // The subvolume root this inode lives under (0: none). A subvolume root
  // points at itself and carries the quota and its usage.
  Ino subvol = 0;
  uint64_t quota_bytes = 0;  // 0: unlimited
  uint64_t quota_files = 0;
  uint64_t used_bytes = 0;
  uint64_t used_files = 0;
  std::string symlink;
  std::map<std::string, std::string> xattrs;
  // The file's bytes live in inline_data (size == its length), not in data
  // objects. Once cleared, never set again.
  bool inlined = false;
  std::string inline_data;

  bool is_dir() const { return S_ISDIR(mode); }
  bool is_reg() const { return S_ISREG(mode); }
  bool is_symlink() const { return S_ISLNK(mode); }

  void encode(Encoder& e) const;
  static Result<Inode> decode(std::string_view b);
  std::string encode() const;
  bool operator==(const Inode&) const = default;
};
// Reads one inode's fields from a longer message (check d.ok() after).
Inode decode_inode_fields(Decoder& d);

struct Dentry {
  Ino ino = 0;
  uint32_t type = 0;  // S_IFMT bits of the target, for readdir
  std::string encode() const;
  static Result<Dentry> decode(std::string_view b);
};

// One idempotent change to the persistent namespace. Replaying an update
// twice gives the same state, so the journal may be replayed from any point
// at or before its tail.
struct Update {
  // kMaxIno records the highest inode number handed out, so numbers are
  // never reused even after the newest file is deleted (clients cache them).
  enum Kind : uint8_t { kPutInode = 1, kRmInode = 2, kPutDentry = 3, kRmDentry = 4, kMaxIno = 5 };
  Kind kind = kPutInode;
  Inode inode;        // kPutInode
  Ino ino = 0;        // kRmInode, kMaxIno; kPutDentry target
  Ino dir = 0;        // kPutDentry, kRmDentry
  std::string name;   // kPutDentry, kRmDentry
  uint32_t type = 0;  // kPutDentry

  static Update put_inode(const Inode& i);
  static Update rm_inode(Ino ino);
  static Update put_dentry(Ino dir, std::string name, Ino ino, uint32_t type);
  static Update rm_dentry(Ino dir, std::string name);
  static Update max_ino(Ino ino);
  void encode(Encoder& e) const;
  static Update decode(Decoder& d);
};

// Object names.
std::string inode_shard_object(Ino ino);
std::string inode_key(Ino ino);
std::string dir_object(Ino dir);
std::string data_object(Ino ino, uint64_t objno);
std::string journal_object(uint64_t segment);
inline constexpr const char* kJournalHead = "fs.journal.head";
inline constexpr const char* kMdsLockObject = "fs.mds.lock";

}  // namespace cairn::fs
