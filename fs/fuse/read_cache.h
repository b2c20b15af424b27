// The local read cache: whole files copied to a local directory as the
// first epoch reads them, so that later opens of an unchanged file are
// answered with FUSE passthrough to the copy (passthrough.h). A copy is
// used only for exactly the version it was filled from, and only once every
// byte of that version was filled.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "fs/core/inode.h"

namespace cairn::fs {

class ReadCache {
 public:
  ReadCache(std::string dir, uint64_t capacity) : dir_(std::move(dir)), capacity_(capacity) {}
  ~ReadCache();
  // Creates the directory; unless `keep` (a takeover, whose predecessor's
  // copies may be in use), empties it: a copy made before a crash or by
  // another mount cannot be trusted.
  bool open(bool keep);
  // Bytes [off, off + data.size()) of version `version` of a file of `size`
  // bytes, as read from the cluster.
  void fill(Ino ino, uint64_t version, uint64_t size, uint64_t off, std::string_view data);
  // The whole copy of exactly this version, opened read-only; -1 if none.
  int open_copy(Ino ino, uint64_t version, uint64_t size);
  bool has_copy(Ino ino, uint64_t version, uint64_t size);
  // The file changed or is gone: forget its copies.
  void drop(Ino ino);
  uint64_t bytes();
  const std::string& dir() const { return dir_; }

 private:
  struct Filling {
    uint64_t version = 0;
    uint64_t size = 0;
    int fd = -1;
    std::map<uint64_t, uint64_t> have;  // filled ranges: start -> end, merged
    uint64_t filled = 0;
  };
  struct Copy {
    uint64_t version = 0;
    uint64_t size = 0;
    std::list<Ino>::iterator lru;
  };
  std::string path(Ino ino, uint64_t version, bool part) const;
  void abandon(Ino ino);         // under mu_
  bool make_room(uint64_t size);  // under mu_: evicts least recently used copies
  void add_range(Filling& f, uint64_t start, uint64_t end);

  std::string dir_;
  uint64_t capacity_;
  std::mutex mu_;
  std::unordered_map<Ino, Filling> filling_;
  std::unordered_map<Ino, Copy> copies_;
  std::list<Ino> lru_;  // front: most recently opened
  uint64_t bytes_ = 0;  // copies and files being filled (at their full size)
};

}  // namespace cairn::fs
