#include "rbd/core/clone.h"

#include <gtest/gtest.h>

namespace cairn::rbd {
namespace {

constexpr uint64_t M = 1 << 20;

TEST(ParentExtent, ClipsToOverlap) {
  EXPECT_EQ(parent_extent(4 * M, 10 * M, 0), 4 * M);
  EXPECT_EQ(parent_extent(4 * M, 10 * M, 1), 4 * M);
  EXPECT_EQ(parent_extent(4 * M, 10 * M, 2), 2 * M);
  EXPECT_EQ(parent_extent(4 * M, 10 * M, 3), 0u);
  EXPECT_EQ(parent_extent(4 * M, 8 * M, 2), 0u);
  EXPECT_EQ(parent_extent(4 * M, 0, 0), 0u);
}

ImageHeader with_snaps(std::vector<uint64_t> live, std::vector<uint64_t> retired, uint64_t seq) {
  ImageHeader h;
  h.object_size = 4 * M;
  for (uint64_t id : live) h.snaps.push_back(SnapInfo{id, "s" + std::to_string(id), 8 * M, 0, false});
  h.retired_snaps = std::move(retired);
  h.snap_seq = seq;
  return h;
}

TEST(SnapRead, UnchangedHeadIsTheAnswer) {
  ImageHeader h = with_snaps({2, 5}, {}, 5);
  EXPECT_TRUE(plan_snap_read(h, 2, std::nullopt).use_head);  // never preserved
  EXPECT_TRUE(plan_snap_read(h, 5, 2).use_head);             // preserved only for an older one
  EXPECT_FALSE(plan_snap_read(h, 2, 2).use_head);
}

TEST(SnapRead, CandidatesBetweenSnapAndHeadMarker) {
  // Live 2, 5, 9; 4 and 7 removed but kept (retired) for the older ones.
  ImageHeader h = with_snaps({2, 5, 9}, {7, 4}, 9);
  auto p = plan_snap_read(h, 2, 7);
  EXPECT_FALSE(p.use_head);
  EXPECT_EQ(p.candidates, (std::vector<uint64_t>{2, 4, 5, 7}));
  EXPECT_FALSE(p.header_may_be_stale);
  p = plan_snap_read(h, 5, 9);
  EXPECT_EQ(p.candidates, (std::vector<uint64_t>{5, 7, 9}));
}

TEST(SnapRead, NewerSnapshotThanHeaderKnows) {
  // Opened when 3 was the newest; since then snapshot 4 was taken and the
  // object changed: its clone is @4, which this header cannot name.
  ImageHeader h = with_snaps({3}, {}, 3);
  auto p = plan_snap_read(h, 3, 4);
  EXPECT_EQ(p.candidates, (std::vector<uint64_t>{3}));
  EXPECT_TRUE(p.header_may_be_stale);
}

TEST(CopyUp, OnlyWhenParentBytesWouldBeLost) {
  EXPECT_FALSE(needs_copy_up(true, 4 * M, 10, 10));       // the clone has the object
  EXPECT_FALSE(needs_copy_up(false, 0, 10, 10));          // parent has nothing there
  EXPECT_TRUE(needs_copy_up(false, 4 * M, 10, 10));       // partial: keep the rest
  EXPECT_TRUE(needs_copy_up(false, 4 * M, 0, 4 * M - 1));
  EXPECT_FALSE(needs_copy_up(false, 4 * M, 0, 4 * M));    // covers every parent byte
  EXPECT_FALSE(needs_copy_up(false, 2 * M, 0, 3 * M));    // overlap ends inside the object
  EXPECT_TRUE(needs_copy_up(false, 2 * M, 1, 3 * M));
}

TEST(Zero, PlainImage) {
  HeadState absent{false, 0}, full{true, 4 * M};
  EXPECT_EQ(plan_zero(absent, 0, false, 0, 4 * M, true, true).kind, ZeroKind::kNothing);
  EXPECT_EQ(plan_zero(full, 0, false, 0, 4 * M, true, true).kind, ZeroKind::kRemove);
  EXPECT_EQ(plan_zero(full, 0, false, 100, 200, false, true).kind, ZeroKind::kWriteZeros);
  auto t = plan_zero(full, 0, false, 100, 4 * M, false, true);
  EXPECT_EQ(t.kind, ZeroKind::kTruncate);
  EXPECT_EQ(t.offset, 100u);
  EXPECT_EQ(plan_zero(HeadState{true, 50}, 0, false, 100, 200, false, true).kind, ZeroKind::kNothing);
  EXPECT_EQ(plan_zero(absent, 0, false, 100, 200, false, true).kind, ZeroKind::kNothing);
  // NO_HOLE writes zeros even where nothing is allocated.
  auto w = plan_zero(absent, 0, false, 100, 200, false, false);
  EXPECT_EQ(w.kind, ZeroKind::kWriteZeros);
  EXPECT_EQ(w.length, 200u);
}

TEST(Zero, WithSnapshotsHeadsStay) {
  HeadState full{true, 4 * M};
  EXPECT_EQ(plan_zero(full, 0, true, 0, 4 * M, true, true).kind, ZeroKind::kWhiteout);
  EXPECT_EQ(plan_zero(HeadState{true, 0}, 0, true, 0, 4 * M, true, true).kind, ZeroKind::kNothing);
  EXPECT_EQ(plan_zero(HeadState{false, 0}, 0, true, 0, 4 * M, true, true).kind, ZeroKind::kNothing);
}

TEST(Zero, CloneNeverLetsParentShowThrough) {
  HeadState absent{false, 0};
  // Whole object over parent data: whiteout, no copy.
  EXPECT_EQ(plan_zero(absent, 4 * M, false, 0, 4 * M, true, true).kind, ZeroKind::kWhiteout);
  // Part of it: copy up, then zero in the copy.
  EXPECT_EQ(plan_zero(absent, 4 * M, false, 100, 200, false, true).kind, ZeroKind::kCopyUp);
  EXPECT_EQ(plan_zero(absent, 4 * M, false, 100, 200, false, false).kind, ZeroKind::kCopyUp);
  // Overlap ends inside the object and the range covers it: whiteout.
  EXPECT_EQ(plan_zero(absent, 2 * M, false, 0, 3 * M, false, true).kind, ZeroKind::kWhiteout);
  EXPECT_EQ(plan_zero(absent, 2 * M, false, 1, 3 * M, false, true).kind, ZeroKind::kCopyUp);
  // Past the parent's bytes: nothing shows through.
  EXPECT_EQ(plan_zero(absent, 1 * M, false, 2 * M, 100, false, true).kind, ZeroKind::kNothing);
  // After the copy-up the object exists and is zeroed like any other.
  EXPECT_EQ(plan_zero(HeadState{true, 4 * M}, 4 * M, false, 100, 200, false, true).kind,
            ZeroKind::kWriteZeros);
  // NO_HOLE over every parent byte: plain zero write, no copy.
  EXPECT_EQ(plan_zero(absent, 4 * M, false, 0, 4 * M, true, false).kind, ZeroKind::kWriteZeros);
}

}  // namespace
}  // namespace cairn::rbd
