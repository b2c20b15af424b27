// FUSE passthrough (kernel 6.9+) for the local read cache. An open answered
// with a backing file is read by the kernel straight from that local file
// (its page cache, with large folios) and never reaches cairn-fuse.
//
// Debian 12's libfuse (3.14) predates passthrough, so the session's I/O runs
// through two hooks: one adds FUSE_PASSTHROUGH to the INIT reply when the
// kernel offers it, the other puts a backing id into chosen OPEN replies.
#pragma once

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace cairn::fs {

// Installs the hooks on a mounted session; `offer`: ask for passthrough.
void install_passthrough_hooks(fuse_session* se, bool offer);
// Registers a local file with the kernel: its backing id, or -errno (a
// kernel or connection without passthrough says so here).
int backing_open(int fuse_fd, int fd);
void backing_close(int fuse_fd, int id);
// The next OPEN reply this thread sends carries backing id `id`.
void reply_open_with_backing(int id);

// Per inode: the opens the kernel holds in each I/O mode and the backing id
// of the passthrough ones. The kernel fails (EIO) an open whose mode differs
// from the inode's current one, and all passthrough opens of an inode must
// share one backing file, so the daemon must know these counts also for
// opens its predecessor made: they live in a shared mapping under /run that
// outlives a killed cairn-fuse (like UnstoredTable).
class IoModes {
 public:
  struct Entry {
    uint64_t ino;
    uint64_t version;    // of the backing file
    int32_t backing_id;  // > 0 while passthrough > 0
    uint32_t passthrough;
    uint32_t cached;
    uint32_t pad;
  };
  static constexpr size_t kSlots = 65536;
  IoModes() = default;
  ~IoModes();
  IoModes(const IoModes&) = delete;
  IoModes& operator=(const IoModes&) = delete;
  // Maps `path`; `keep` (a takeover): the predecessor's counts stay.
  bool open(const std::string& path, bool keep);
  Entry* find(uint64_t ino);
  Entry* get(uint64_t ino);  // nullptr if the table is full
  void release_if_unused(Entry* e);

 private:
  Entry* slots_ = nullptr;
  std::unordered_map<uint64_t, size_t> where_;
  std::vector<size_t> free_;
};

enum class OpenMode { kCached, kPassthrough, kBusy };
// How to answer an open (pure). `cached_copy`: the read cache holds this
// version whole. Busy: the inode is open for passthrough reads of another
// version, or the open writes: only the close of those readers frees it.
OpenMode decide_open(const IoModes::Entry* e, bool read_only, bool cached_copy, uint64_t version);

}  // namespace cairn::fs
