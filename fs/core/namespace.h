// The filesystem namespace as the active MDS holds it in memory: inodes,
// directories, open-file references and subvolume quotas. Pure: no I/O, no
// clock. Every mutation checks POSIX rules, applies its changes, and appends
// the idempotent Updates it made to a Txn for the journal; the shell acks the
// caller only once that Txn is durable.
//
// Errors are positive errno values (0 = success): the FUSE client returns
// them to the kernel unchanged.
#pragma once

#include <cerrno>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fs/core/inode.h"

namespace cairn::fs {

using Txn = std::vector<Update>;

struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t now_ns = 0;  // the MDS clock, stamped by the shell
};

struct SetAttr {
  enum : uint32_t {
    kMode = 1,
    kUid = 2,
    kGid = 4,
    kSize = 8,
    kAtime = 16,
    kMtime = 32,
    kAtimeNow = 64,
    kMtimeNow = 128,
  };
  uint32_t valid = 0;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
};

struct DirEntry {
  std::string name;
  Ino ino = 0;
  uint32_t type = 0;
};

// File data in [from, to) that must be deleted from the data pool: a removed
// file (from = 0) or the tail cut off by a truncate.
struct Purge {
  Ino ino = 0;
  uint64_t from = 0;
  uint64_t to = 0;
};

// A private errno (never handed to an application): the file's data is
// inline, so the client must move it to data objects (uninline) first.
inline constexpr int kEInline = EBADE;

inline constexpr uint32_t kRenameNoReplace = 1;  // RENAME_NOREPLACE
inline constexpr uint32_t kRenameExchange = 2;   // RENAME_EXCHANGE

class Namespace {
 public:
  // Updates that create an empty filesystem (the root directory).
  static Txn format(const Caller& c);

  // Replays one persistent update (load, journal replay, or a mutation).
  void apply(const Update& u);
  // After loading: files left unlinked with no opener (their openers' MDS
  // died) become purges.
  void collect_orphans(Txn* txn);

  const Inode* find(Ino ino) const;
  size_t inode_count() const { return inodes_.size(); }
  size_t dir_count() const { return dirs_.size(); }
  uint64_t total_bytes() const;

  // ---- reads ----
  int lookup(Ino dir, std::string_view name, Inode* out) const;
  int getattr(Ino ino, Inode* out) const;
  // Up to max entries with names after `after`, in name order.
  int readdir(Ino dir, std::string_view after, size_t max, std::vector<DirEntry>* out,
              bool* more) const;
  int getxattr(Ino ino, const std::string& name, std::string* value) const;
  int listxattr(Ino ino, std::vector<std::string>* names) const;
  // Walks a '/'-separated path from the root (no symlinks followed).
  int resolve(std::string_view path, Inode* out) const;

  // ---- mutations ----
  // The next inode created gets number `want` if it is free: a create
  // replayed after an MDS failover keeps the number its client was told.
  // Consumed (or dropped) by the next mutation's dispatch.
  void prefer_ino(Ino want) { want_ino_ = want; }
  // mode carries the S_IFMT type (regular, dir, fifo, socket, char, block).
  int mknod(const Caller& c, Ino parent, std::string_view name, uint32_t mode, uint64_t rdev,
            Inode* out, Txn* txn);
  int symlink(const Caller& c, Ino parent, std::string_view name, std::string_view target,
              Inode* out, Txn* txn);
  int link(const Caller& c, Ino ino, Ino parent, std::string_view name, Inode* out, Txn* txn);
  int unlink(const Caller& c, Ino parent, std::string_view name, Txn* txn);
  int rmdir(const Caller& c, Ino parent, std::string_view name, Txn* txn);
  int rename(const Caller& c, Ino parent, std::string_view name, Ino newparent,
             std::string_view newname, uint32_t flags, Txn* txn);
  int setattr(const Caller& c, Ino ino, const SetAttr& a, Inode* out, Txn* txn);
  // A client wrote up to `size` (grows only) at mtime. EDQUOT past a quota.
  int extend(const Caller& c, Ino ino, uint64_t size, int64_t mtime_ns, Inode* out, Txn* txn);
  // O_APPEND across clients: returns the offset to write at and grows the
  // file by len at once, so concurrent appenders never overlap.
  int reserve_append(const Caller& c, Ino ino, uint64_t len, uint64_t* offset, Inode* out,
                     Txn* txn);
  // A write to an inline file: the bytes go into the inode. kEInline if
  // they would end past kInlineMax or the data has moved to the objects.
  int write_inline(const Caller& c, Ino ino, uint64_t offset, std::string_view data,
                   int64_t mtime_ns, Inode* out, Txn* txn);
  // The client wrote the inline bytes to the data objects: from now on they
  // live there. EAGAIN if the inode changed since `version` (read it again).
  int uninline(const Caller& c, Ino ino, uint64_t version, Inode* out, Txn* txn);
  // flags: XATTR_CREATE (1), XATTR_REPLACE (2).
  int setxattr(const Caller& c, Ino ino, const std::string& name, std::string value,
               uint32_t flags, Txn* txn);
  int removexattr(const Caller& c, Ino ino, const std::string& name, Txn* txn);

  // ---- subvolumes: directories under /volumes with quotas ----
  int subvolume_create(const Caller& c, std::string_view name, uint64_t quota_bytes,
                       uint64_t quota_files, Inode* out, Txn* txn);
  int subvolume_resize(const Caller& c, std::string_view name, uint64_t quota_bytes,
                       uint64_t quota_files, Inode* out, Txn* txn);
  // Removes the subvolume and everything in it.
  int subvolume_remove(const Caller& c, std::string_view name, Txn* txn);
  int subvolume_list(std::vector<Inode>* out) const;

  // ---- open files (not persistent: they live as long as client sessions) ----
  void open_ref(Ino ino);
  // Drops one reference; the last close of an unlinked file removes it.
  void close_ref(Ino ino, Txn* txn);
  // Data to delete, accumulated by unlink/rename/close/truncate.
  std::vector<Purge> take_purges();

 private:
  Inode* get(Ino ino);
  void put(Txn* txn, const Inode& i);
  void put_dentry(Txn* txn, Ino dir, std::string_view name, const Inode& target);
  void rm_dentry(Txn* txn, Ino dir, std::string_view name);
  Inode new_inode(const Caller& c, const Inode& parent, uint32_t mode, Txn* txn);
  int check_name(std::string_view name) const;
  int dir_for_change(Ino dir, Inode** out);
  // The directory and the inode `name` in it names, for unlink and rmdir.
  int entry_for_removal(Ino parent, std::string_view name, Inode** dir, Inode** target);
  // Accounts a change in a subvolume's usage; EDQUOT if growing past quota.
  int charge(Txn* txn, Ino subvol, int64_t bytes, int64_t files, bool enforce);
  // Drops one link of ino (already removed from its directory).
  void drop_link(const Caller& c, Inode* i, Txn* txn);
  void touch_dir(const Caller& c, Inode* dir, Txn* txn);
  bool is_ancestor(Ino ancestor, Ino dir) const;
  void remove_tree(const Caller& c, Ino dir, Txn* txn);

  std::unordered_map<Ino, Inode> inodes_;
  std::unordered_map<Ino, std::map<std::string, Dentry, std::less<>>> dirs_;
  std::unordered_map<Ino, uint32_t> open_refs_;
  std::vector<Purge> purges_;
  Ino max_ino_ = kRootIno;
  Ino want_ino_ = 0;
};

}  // namespace cairn::fs
