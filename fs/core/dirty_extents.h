// The bytes written to one file that are not stored yet (cairn-fuse's
// write-back buffer), kept per data object. Pure: no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::fs {

class DirtyExtents {
 public:
  explicit DirtyExtents(uint64_t object_size) : object_size_(object_size) {}

  // A later write replaces the bytes it overlaps; touching extents merge, so
  // a sequential writer's small writes become one write per object.
  void add(uint64_t off, std::string_view data);
  // Drops the bytes at or past `size` (the file was truncated).
  void truncate(uint64_t size);

  bool empty() const { return extents_.empty(); }
  uint64_t bytes() const { return bytes_; }
  // The objects holding dirty bytes, ascending.
  std::vector<uint64_t> objects() const;
  bool has(uint64_t objno) const;
  // True if the dirty bytes are the whole object: storing it needs no read.
  bool covers(uint64_t objno) const;

  struct Piece {
    uint64_t in_obj = 0;  // offset inside the object
    std::string data;
  };
  // Removes and returns one object's extents, ascending.
  std::vector<Piece> take(uint64_t objno);

 private:
  // No extent crosses an object boundary: take() moves strings, never cuts.
  void add_in_object(uint64_t off, std::string_view data);
  uint64_t object_size_;
  std::map<uint64_t, std::string> extents_;  // file offset -> bytes
  uint64_t bytes_ = 0;
};

}  // namespace cairn::fs
