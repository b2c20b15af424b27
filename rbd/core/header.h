// The image header: what `rbd info` shows and every opener reads first.
// Stored encoded in the omap key "header" of rbd_header.<id>; updates are
// compare-and-set on the header object's "gen" xattr. Pure codec.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace cairn::rbd {

// Feature bits (informational today; a reader refuses unknown incompatible bits).
inline constexpr uint64_t kFeatureLayering = 1ull << 0;       // snapshots / clones
inline constexpr uint64_t kFeatureExclusiveLock = 1ull << 2;  // one writer at a time
inline constexpr uint64_t kKnownFeatures = kFeatureLayering | kFeatureExclusiveLock;

struct SnapInfo {
  uint64_t id = 0;  // increasing per image, never reused
  std::string name;
  uint64_t size = 0;  // image size when the snapshot was taken
  uint64_t created_ns = 0;
  bool is_protected = false;
  bool operator==(const SnapInfo&) const = default;
};

// A clone's parent: reads of never-written objects fall through to it.
struct ParentSpec {
  std::string pool;
  std::string image_id;
  uint64_t snap_id = 0;
  uint64_t overlap = 0;  // bytes of the child that may come from the parent
  bool operator==(const ParentSpec&) const = default;
};

// A clone of one of this image's snapshots (kept in the parent's header so
// that adding a child and unprotecting the snapshot are ordered by the same
// compare-and-set on the header's generation).
struct ChildRef {
  std::string pool;
  std::string image_id;
  uint64_t snap_id = 0;
  bool operator==(const ChildRef&) const = default;
};

struct ImageHeader {
  std::string id;
  std::string name;
  uint64_t size = 0;
  uint64_t object_size = 0;
  uint64_t features = 0;
  uint64_t created_ns = 0;
  uint64_t snap_seq = 0;        // the highest snapshot id ever handed out
  std::vector<SnapInfo> snaps;  // ascending id
  // Ids of removed snapshots whose clone objects still serve an older live
  // snapshot (reads of snapshot S look at clones with id >= S).
  std::vector<uint64_t> retired_snaps;
  std::optional<ParentSpec> parent;
  std::vector<ChildRef> children;  // clones of this image's snapshots
  bool operator==(const ImageHeader&) const = default;

  const SnapInfo* find_snap(const std::string& name) const;
  const SnapInfo* find_snap(uint64_t id) const;
  // The newest live snapshot's id, or 0 without snapshots.
  uint64_t latest_snap() const { return snaps.empty() ? 0 : snaps.back().id; }
  // Clones of snapshot snap_id.
  std::vector<ChildRef> children_of(uint64_t snap_id) const;
};

std::string encode_header(const ImageHeader& h);
// Corruption on truncated or unknown-version input; NotSupported on unknown features.
Result<ImageHeader> decode_header(std::string_view bytes);

}  // namespace cairn::rbd
