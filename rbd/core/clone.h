// Decisions for the object-level I/O of images with snapshots and of clones:
// where a read of one object is served from, when a write must copy the
// parent's object up first, and what a discard or zeroing does. Pure: the
// caller (rbd/image.cc) probes objects and feeds the answers in.
//
// Terms, for one object number o of an image:
//   head        rbd_data.<id>.<o>, the current content; absent = never written
//   parent bytes [0, n) of o that a clone still takes from its parent's
//               snapshot while its own head is absent (n = parent_extent())
//   whiteout    a head that exists with size 0: reads zeros, never falls
//               through to the parent, and keeps the head's "snap" xattr
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "rbd/core/header.h"

namespace cairn::rbd {

// Bytes [0, n) of object objno that come from the parent when the clone's
// object is absent: the part of the object below the overlap.
uint64_t parent_extent(uint64_t object_size, uint64_t overlap, uint64_t objno);

// Where snapshot snap_id's view of one object lives, given the head's "snap"
// xattr (the newest snapshot a copy-on-write preserved it for; nullopt when
// the head is absent or has none). A head that was not preserved for snap_id
// or a newer snapshot has not changed since snap_id was taken, so it is the
// answer; otherwise the clone with the smallest id in [snap_id, head_snap]
// holds it. Writers never remove a head while snapshots exist (they leave a
// whiteout), so an absent head means "absent in every live snapshot".
struct SnapReadPlan {
  bool use_head = false;
  std::vector<uint64_t> candidates;  // clone ids to try in order
  // The head names a snapshot newer than this header knows of: re-read the
  // header if no candidate is found.
  bool header_may_be_stale = false;
};
SnapReadPlan plan_snap_read(const ImageHeader& h, uint64_t snap_id,
                            std::optional<uint64_t> head_snap);

// Whether a write of [offset, offset + length) to an object must first copy
// the parent's bytes up: only when the clone's object is absent, the parent
// has bytes there, and the write does not cover all of them.
bool needs_copy_up(bool child_exists, uint64_t parent_bytes, uint64_t offset, uint64_t length);

// What a discard / write-zeroes of [offset, offset + length) does to one object.
enum class ZeroKind {
  kNothing,     // already reads as zeros
  kRemove,      // delete the head
  kWhiteout,    // truncate the head to 0 (creating it if absent)
  kTruncate,    // truncate the head to offset
  kWriteZeros,  // overwrite the range with zeros
  kCopyUp,      // copy the parent's object up first, then plan again (exists)
};
struct ZeroPlan {
  ZeroKind kind = ZeroKind::kNothing;
  uint64_t offset = 0;
  uint64_t length = 0;
};
struct HeadState {
  bool exists = false;
  uint64_t size = 0;
};
// whole: the range is the whole object (or all of it inside the image).
// punch: holes allowed (TRIM, WRITE_ZEROES without NO_HOLE); otherwise zeros
// are written like data. has_snaps: the image has snapshots, so heads stay
// (whiteouts) to keep their "snap" xattr.
ZeroPlan plan_zero(HeadState head, uint64_t parent_bytes, bool has_snaps, uint64_t offset,
                   uint64_t length, bool whole, bool punch);

}  // namespace cairn::rbd
