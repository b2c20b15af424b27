#include "fs/core/dirty_extents.h"

#include <gtest/gtest.h>

#include <random>

namespace cairn::fs {
namespace {

// Replays the pieces of every object over a zero file of `size` bytes.
std::string replay(DirtyExtents& d, uint64_t object_size, uint64_t size) {
  std::string file(size, '\0');
  for (uint64_t objno : d.objects()) {
    for (auto& p : d.take(objno)) {
      uint64_t at = objno * object_size + p.in_obj;
      EXPECT_LE(p.in_obj + p.data.size(), object_size) << "a piece crosses its object";
      file.replace(at, p.data.size(), p.data);
    }
  }
  return file;
}

TEST(DirtyExtentsTest, SequentialWritesMergeIntoOnePiecePerObject) {
  DirtyExtents d(16);
  for (int i = 0; i < 10; ++i) d.add(i * 4, std::string(4, static_cast<char>('a' + i)));
  EXPECT_EQ(d.bytes(), 40u);
  EXPECT_EQ(d.objects(), (std::vector<uint64_t>{0, 1, 2}));
  EXPECT_TRUE(d.covers(0));
  EXPECT_TRUE(d.covers(1));
  EXPECT_FALSE(d.covers(2));
  auto first = d.take(0);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].data, "aaaabbbbccccdddd");
  EXPECT_EQ(d.bytes(), 24u);
  EXPECT_FALSE(d.has(0));
  EXPECT_TRUE(d.has(2));
}

TEST(DirtyExtentsTest, LaterWritesWinWhereTheyOverlap) {
  DirtyExtents d(100);
  d.add(10, "0123456789");
  d.add(30, "abc");
  d.add(15, "XXXXXXXXXXXXXXXXX");  // from inside the first across the gap into the second
  EXPECT_EQ(d.bytes(), 23u);
  auto pieces = d.take(0);
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0].in_obj, 10u);
  EXPECT_EQ(pieces[0].data, "01234XXXXXXXXXXXXXXXXXc");
  d.add(5, "hi");
  d.add(50, "there");
  d.add(52, "!");  // inside an extent: replaced in place
  auto two = d.take(0);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].data, "th!re");
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.bytes(), 0u);
}

TEST(DirtyExtentsTest, TruncateDropsBytesPastTheNewSize) {
  DirtyExtents d(8);
  d.add(0, "abcdefghijkl");
  d.add(20, "zz");
  d.truncate(5);
  EXPECT_EQ(d.bytes(), 5u);
  EXPECT_EQ(d.objects(), (std::vector<uint64_t>{0}));
  EXPECT_EQ(d.take(0)[0].data, "abcde");
}

TEST(DirtyExtentsTest, RandomWritesReplayLikeAFile) {
  std::mt19937_64 rng(7);
  constexpr uint64_t kObj = 64, kSize = 1000;
  for (int round = 0; round < 200; ++round) {
    DirtyExtents d(kObj);
    std::string model(kSize, '\0');
    std::vector<bool> dirty(kSize, false);
    for (int w = 0; w < 30; ++w) {
      uint64_t off = rng() % (kSize - 1);
      uint64_t len = 1 + rng() % std::min<uint64_t>(150, kSize - off);
      std::string data(len, '\0');
      for (auto& c : data) c = static_cast<char>('a' + rng() % 26);
      d.add(off, data);
      model.replace(off, len, data);
      for (uint64_t i = off; i < off + len; ++i) dirty[i] = true;
      if (rng() % 10 == 0) {
        uint64_t to = rng() % kSize;
        d.truncate(to);
        for (uint64_t i = to; i < kSize; ++i) model[i] = '\0', dirty[i] = false;
      }
    }
    uint64_t want_bytes = 0;
    for (bool b : dirty) want_bytes += b;
    ASSERT_EQ(d.bytes(), want_bytes) << "round " << round;
    ASSERT_EQ(replay(d, kObj, kSize), model) << "round " << round;
    ASSERT_TRUE(d.empty());
  }
}

}  // namespace
}  // namespace cairn::fs
