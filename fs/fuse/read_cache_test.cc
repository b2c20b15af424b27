#include "fs/fuse/read_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "fs/fuse/passthrough.h"

namespace cairn::fs {
namespace {

std::string read_fd(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

class ReadCacheTest : public ::testing::Test {
 protected:
  std::string dir = (std::filesystem::temp_directory_path() /
                     ("read_cache_test." + std::to_string(::getpid())))
                        .string();
  void TearDown() override { std::filesystem::remove_all(dir); }
};

TEST_F(ReadCacheTest, ACopyIsUsableOnlyWhenWholeAndForItsVersion) {
  ReadCache c(dir, 1 << 20);
  ASSERT_TRUE(c.open(false));
  std::string file = "0123456789abcdefghij";
  c.fill(5, 3, file.size(), 10, file.substr(10));  // second half first
  EXPECT_FALSE(c.has_copy(5, 3, file.size()));
  EXPECT_EQ(c.open_copy(5, 3, file.size()), -1);
  c.fill(5, 3, file.size(), 0, file.substr(0, 12));  // overlaps what is there
  ASSERT_TRUE(c.has_copy(5, 3, file.size()));
  EXPECT_FALSE(c.has_copy(5, 4, file.size())) << "another version";
  int fd = c.open_copy(5, 3, file.size());
  ASSERT_GE(fd, 0);
  EXPECT_EQ(read_fd(fd), file);
  c.drop(5);
  EXPECT_FALSE(c.has_copy(5, 3, file.size()));
  EXPECT_EQ(c.bytes(), 0u);
}

TEST_F(ReadCacheTest, AFileChangedWhileFillingStartsOver) {
  ReadCache c(dir, 1 << 20);
  ASSERT_TRUE(c.open(false));
  c.fill(7, 1, 8, 0, "old!");
  c.fill(7, 2, 8, 4, "new!");  // version 2: the old half is useless
  EXPECT_FALSE(c.has_copy(7, 2, 8));
  c.fill(7, 2, 8, 0, "NEW.");
  ASSERT_TRUE(c.has_copy(7, 2, 8));
  EXPECT_EQ(read_fd(c.open_copy(7, 2, 8)), "NEW.new!");
  EXPECT_EQ(c.bytes(), 8u);
}

TEST_F(ReadCacheTest, LeastRecentlyOpenedCopiesMakeRoom) {
  ReadCache c(dir, 300);
  ASSERT_TRUE(c.open(false));
  for (Ino ino = 1; ino <= 2; ++ino) c.fill(ino, 1, 100, 0, std::string(100, 'a'));
  ::close(c.open_copy(1, 1, 100));  // 1 is now the most recent
  c.fill(3, 1, 150, 0, std::string(150, 'b'));
  EXPECT_TRUE(c.has_copy(1, 1, 100));
  EXPECT_FALSE(c.has_copy(2, 1, 100)) << "the least recently used copy stays";
  EXPECT_TRUE(c.has_copy(3, 1, 150));
  EXPECT_LE(c.bytes(), 300u);
  c.fill(4, 1, 200, 0, std::string(200, 'c'));  // more than half the cache: never cached
  EXPECT_FALSE(c.has_copy(4, 1, 200));
}

TEST_F(ReadCacheTest, ATakeoverKeepsWholeCopiesAndAFreshMountWipesThem) {
  {
    ReadCache c(dir, 1 << 20);
    ASSERT_TRUE(c.open(false));
    c.fill(9, 2, 4, 0, "data");
    c.fill(10, 2, 4, 0, "da");  // unfinished
  }
  {
    ReadCache c(dir, 1 << 20);
    ASSERT_TRUE(c.open(true));
    EXPECT_TRUE(c.has_copy(9, 2, 4));
    EXPECT_FALSE(c.has_copy(10, 2, 4));
  }
  ReadCache c(dir, 1 << 20);
  ASSERT_TRUE(c.open(false));
  EXPECT_FALSE(c.has_copy(9, 2, 4));
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

TEST(IoModeTest, OpensNeverMixModesOnAnInode) {
  IoModes::Entry none{};
  // No opens yet: a whole copy gets passthrough, anything else the page cache.
  EXPECT_EQ(decide_open(nullptr, true, true, 5), OpenMode::kPassthrough);
  EXPECT_EQ(decide_open(nullptr, true, false, 5), OpenMode::kCached);
  EXPECT_EQ(decide_open(nullptr, false, true, 5), OpenMode::kCached);
  EXPECT_EQ(decide_open(&none, true, true, 5), OpenMode::kPassthrough);
  // Open through the page cache: later readers join it, even with a copy.
  IoModes::Entry cached{1, 0, 0, 0, 1, 0};
  EXPECT_EQ(decide_open(&cached, true, true, 5), OpenMode::kCached);
  // Open for passthrough reads of version 5: readers of 5 share it (copy or
  // not); a writer, or a reader of a newer version, must wait for them.
  IoModes::Entry pt{1, 5, 3, 2, 0, 0};
  EXPECT_EQ(decide_open(&pt, true, false, 5), OpenMode::kPassthrough);
  EXPECT_EQ(decide_open(&pt, false, true, 5), OpenMode::kBusy);
  EXPECT_EQ(decide_open(&pt, true, true, 6), OpenMode::kBusy);
}

TEST(IoModeTest, CountsOutliveTheProcessThatMadeThem) {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("io_modes_test." + std::to_string(::getpid())))
                         .string();
  {
    IoModes m;
    ASSERT_TRUE(m.open(path, false));
    IoModes::Entry* e = m.get(42);
    ASSERT_NE(e, nullptr);
    e->passthrough = 2;
    e->backing_id = 7;
    e->version = 3;
    IoModes::Entry* f = m.get(43);
    f->cached = 1;
    f->cached = 0;
    m.release_if_unused(f);
  }
  {
    IoModes m;  // a successor taking the mount over
    ASSERT_TRUE(m.open(path, true));
    IoModes::Entry* e = m.find(42);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->passthrough, 2u);
    EXPECT_EQ(e->backing_id, 7);
    EXPECT_EQ(m.find(43), nullptr);
  }
  IoModes fresh;  // a fresh mount starts empty
  ASSERT_TRUE(fresh.open(path, false));
  EXPECT_EQ(fresh.find(42), nullptr);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace cairn::fs
