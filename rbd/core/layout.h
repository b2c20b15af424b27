// How an image's byte range maps onto objects, and what every object is
// called. Pure: no I/O. The on-disk format is described in docs/block.md.
//
//   image "vol" with id 1f2e3d, object size 4 MiB:
//     rbd_directory                 omap name_<image> -> id, id_<id> -> name
//     rbd_header.1f2e3d             omap "header" = ImageHeader; xattrs gen, lock
//     rbd_data.1f2e3d.0000000000000000   bytes [0, 4 MiB) of the image
//     rbd_data.1f2e3d.0000000000000001   bytes [4 MiB, 8 MiB)
//     rbd_data.1f2e3d.0000000000000001@0000000000000003   object 1 as snapshot 3 saw it
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cairn::rbd {

inline constexpr const char* kDirectoryObject = "rbd_directory";
inline constexpr uint64_t kDefaultObjectSize = 4ull << 20;
inline constexpr uint64_t kMinObjectSize = 4096;
inline constexpr uint64_t kMaxObjectSizeRbd = 32ull << 20;
// Images up to 1 PiB: object numbers fit comfortably and sizes never overflow
// offset + length arithmetic on u64.
inline constexpr uint64_t kMaxImageSize = 1ull << 50;

std::string header_object(std::string_view image_id);
std::string data_prefix(std::string_view image_id);  // "rbd_data.<id>."
std::string data_object(std::string_view image_id, uint64_t objno);
// The copy of a data object that preserves it for snapshots up to snap_id.
std::string clone_object(std::string_view image_id, uint64_t objno, uint64_t snap_id);

// One piece of an image extent that falls inside one object.
struct ObjectExtent {
  uint64_t objno = 0;
  uint64_t offset = 0;      // within the object
  uint64_t length = 0;
  uint64_t buf_offset = 0;  // within the caller's extent
  bool operator==(const ObjectExtent&) const = default;
};

// Splits [offset, offset + length) into per-object pieces in ascending order.
// REQUIRES: object_size > 0.
std::vector<ObjectExtent> map_extent(uint64_t object_size, uint64_t offset, uint64_t length);

// Objects an image of size bytes spans.
uint64_t object_count(uint64_t object_size, uint64_t size);

// Image names: 1..128 bytes, no '/', '@', NUL, or leading '.'; snapshot names the same.
Status validate_image_name(std::string_view name);
Status validate_snap_name(std::string_view name);
// REQUIRES nothing; checks a power of two in [kMinObjectSize, kMaxObjectSizeRbd].
Status validate_object_size(uint64_t object_size);
Status validate_image_size(uint64_t size);

// "pool/image" or "pool/image@snap" (an NBD export name or a CLI argument).
struct ImageSpec {
  std::string pool;
  std::string image;
  std::string snap;  // empty: the image head
  std::string to_string() const;
};
Result<ImageSpec> parse_image_spec(std::string_view s);

}  // namespace cairn::rbd
