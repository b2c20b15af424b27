#include "osd/store/object_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/crc32c.h"
#include "osd/store/object_store_test_peer.h"

namespace cairn::osd {
namespace {

constexpr CollectionId kC{1, 7};
constexpr CollectionId kOther{1, 8};
constexpr uint32_t kBs = 4096;  // small blocks: many boundaries with little data

// Byte-string comparison that reports the first difference, not megabytes of dump.
::testing::AssertionResult same(std::string_view got, std::string_view want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return ::testing::AssertionFailure()
         << "sizes " << got.size() << " vs " << want.size() << ", first difference at byte " << i;
}
#define EXPECT_BYTES_EQ(got, want) EXPECT_TRUE(same((got), (want)))

class ObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "cairn_store_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    opts_.dir = dir_ + "/db";
    opts_.block_size = kBs;
    opts_.sync = false;  // tests reopen cleanly; durability across crashes is RocksDB's WAL
    opts_.block_cache_bytes = 8 << 20;
    opts_.min_blob_size = 2048;  // exercise blob files with small test objects
    tune(opts_);
    reopen();
  }
  virtual void tune(Options&) {}
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void reopen() {
    store_.reset();
    auto s = ObjectStore::open(opts_);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    store_ = std::move(*s);
  }
  void submit(Transaction t) {
    Status s = store_->submit(std::move(t));
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  // Writes data (3+ blocks) as "o", flips a bit of its block 1 on disk and
  // checks that every read, checksum and read-modify-write touching that
  // block fails with Corruption while the other blocks read fine; then a
  // full-block overwrite (what scrub repair does) makes it whole again.
  void corrupt_block_then_repair(const std::string& data) {
    Transaction t;
    t.write_full(kC, "o", data);
    submit(std::move(t));
    auto raw = ObjectStoreTestPeer::get_raw_block(*store_, kC, "o", 1);
    ASSERT_TRUE(raw.ok());
    std::string bad = *raw;
    bad[100] ^= 0x01;
    ASSERT_TRUE(ObjectStoreTestPeer::put_raw_block(*store_, kC, "o", 1, bad).ok());
    EXPECT_TRUE(store_->read(kC, "o", 0, 0).status().is(Code::kCorruption));
    EXPECT_TRUE(store_->read(kC, "o", kBs + 5, 1).status().is(Code::kCorruption));
    EXPECT_EQ(*store_->read(kC, "o", 0, kBs), data.substr(0, kBs));  // other blocks fine
    EXPECT_EQ(*store_->read(kC, "o", 2 * kBs, 0), data.substr(2 * kBs));
    EXPECT_TRUE(store_->checksum(kC, "o").status().is(Code::kCorruption));
    Transaction partial;  // RMW must not launder bad bytes into a fresh crc
    partial.write(kC, "o", kBs + 1, "x");
    EXPECT_TRUE(store_->submit(std::move(partial)).is(Code::kCorruption));
    Transaction repair;
    repair.write(kC, "o", kBs, data.substr(kBs, kBs));
    submit(std::move(repair));
    EXPECT_BYTES_EQ(read_all(kC, "o"), data);
  }
  std::string read_all(CollectionId c, std::string_view name) {
    auto r = store_->read(c, name, 0, 0);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : std::string();
  }
  uint64_t size_of(std::string_view name) {
    auto st = store_->stat(kC, name);
    EXPECT_TRUE(st.ok()) << st.status().to_string();
    return st.ok() ? st->size : 0;
  }
  bool block_stored(std::string_view name, uint32_t block) {
    return ObjectStoreTestPeer::get_raw_block(*store_, kC, name, block).ok();
  }

  // Random transactions checked against an in-memory model, then a reopen.
  // Writes are up to max_write bytes.
  void randomized_against_model(size_t max_write);

  std::string dir_;
  Options opts_;
  std::unique_ptr<ObjectStore> store_;
};

#define ASSERT_BYTES_EQ(got, want) ASSERT_TRUE(same((got), (want)))

std::string pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (auto& ch : s) ch = static_cast<char>('A' + rng() % 26);
  return s;
}

TEST_F(ObjectStoreTest, WriteReadStat) {
  Transaction t;
  t.write_full(kC, "obj", "hello world");
  t.set_version(kC, "obj", 42, 1234);
  submit(std::move(t));
  EXPECT_BYTES_EQ(read_all(kC, "obj"), "hello world");
  auto st = store_->stat(kC, "obj");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->size, 11u);
  EXPECT_EQ(st->version, 42u);
  EXPECT_EQ(st->mtime_ns, 1234u);
  EXPECT_TRUE(store_->read(kC, "nope", 0, 0).status().is(Code::kNotFound));
  EXPECT_TRUE(store_->stat(kC, "nope").status().is(Code::kNotFound));
  EXPECT_TRUE(store_->read(kOther, "obj", 0, 0).status().is(Code::kNotFound));
}

TEST_F(ObjectStoreTest, ReadRanges) {
  Transaction t;
  t.write_full(kC, "o", "0123456789");
  submit(std::move(t));
  EXPECT_EQ(*store_->read(kC, "o", 2, 3), "234");
  EXPECT_EQ(*store_->read(kC, "o", 7, 100), "789");   // short read at EOF
  EXPECT_EQ(*store_->read(kC, "o", 4, 0), "456789");  // 0 = to end
  EXPECT_EQ(*store_->read(kC, "o", 10, 5), "");
  EXPECT_EQ(*store_->read(kC, "o", 1000, 5), "");
  EXPECT_EQ(*store_->read(kC, "o", 3, UINT64_MAX), "3456789");  // no overflow
}

TEST_F(ObjectStoreTest, TouchAndEmptyObject) {
  Transaction t;
  t.touch(kC, "empty");
  submit(std::move(t));
  EXPECT_EQ(size_of("empty"), 0u);
  EXPECT_BYTES_EQ(read_all(kC, "empty"), "");
  Transaction t2;
  t2.write(kC, "empty", 100, "");  // creates nothing new, does not extend
  submit(std::move(t2));
  EXPECT_EQ(size_of("empty"), 0u);
}

TEST_F(ObjectStoreTest, PartialOverwritesAcrossBlockBoundaries) {
  std::string model = pattern(5 * kBs + 123, 1);
  Transaction t;
  t.write_full(kC, "o", model);
  submit(std::move(t));
  // Unaligned spans: inside one block, straddling two, covering several.
  struct W {
    uint64_t off;
    size_t len;
  } writes[] = {{10, 20}, {kBs - 5, 10},       {2 * kBs - 1, 2 * kBs + 2},
                {0, 1},   {5 * kBs + 100, 23}, {kBs, kBs}};
  uint32_t seed = 100;
  for (auto w : writes) {
    std::string d = pattern(w.len, seed++);
    model.replace(w.off, w.len, d);
    Transaction tw;
    tw.write(kC, "o", w.off, d);
    submit(std::move(tw));
    ASSERT_BYTES_EQ(read_all(kC, "o"), model) << "after write at " << w.off;
  }
  for (uint64_t off : {0ul, 1ul, kBs - 1ul, kBs + 0ul, 3ul * kBs + 7}) {
    EXPECT_EQ(*store_->read(kC, "o", off, kBs + 3), model.substr(off, kBs + 3));
  }
}

TEST_F(ObjectStoreTest, TwoWritesToOneBlockInOneTransaction) {
  Transaction t;
  t.write(kC, "o", 0, "aaaa");
  t.write(kC, "o", 2, "bbbb");
  t.write(kC, "o", kBs - 2, "cccc");
  submit(std::move(t));
  std::string want(kBs + 2, '\0');
  want.replace(0, 6, "aabbbb");
  want.replace(kBs - 2, 4, "cccc");
  EXPECT_BYTES_EQ(read_all(kC, "o"), want);
}

TEST_F(ObjectStoreTest, HolesReadAsZerosAndCostNothing) {
  Transaction t;
  t.write(kC, "sparse", 10 * kBs + 5, "tail");
  submit(std::move(t));
  EXPECT_EQ(size_of("sparse"), 10 * kBs + 9);
  std::string want(10 * kBs + 9, '\0');
  want.replace(10 * kBs + 5, 4, "tail");
  EXPECT_BYTES_EQ(read_all(kC, "sparse"), want);
  for (uint32_t b = 0; b < 10; ++b) EXPECT_FALSE(block_stored("sparse", b)) << b;
  EXPECT_TRUE(block_stored("sparse", 10));

  // Writing zeros over data punches a hole.
  Transaction z;
  z.write(kC, "sparse", 10 * kBs, std::string(9, '\0'));
  submit(std::move(z));
  EXPECT_FALSE(block_stored("sparse", 10));
  EXPECT_BYTES_EQ(read_all(kC, "sparse"), std::string(10 * kBs + 9, '\0'));
}

TEST_F(ObjectStoreTest, TruncateShrinkAndGrow) {
  std::string data = pattern(3 * kBs + 100, 2);
  Transaction t;
  t.write_full(kC, "o", data);
  submit(std::move(t));

  Transaction shrink;
  shrink.truncate(kC, "o", kBs + 10);
  submit(std::move(shrink));
  EXPECT_BYTES_EQ(read_all(kC, "o"), data.substr(0, kBs + 10));
  EXPECT_FALSE(block_stored("o", 2));
  EXPECT_FALSE(block_stored("o", 3));

  // Growing must not resurrect the bytes cut off above.
  Transaction grow;
  grow.truncate(kC, "o", 4 * kBs);
  submit(std::move(grow));
  std::string want = data.substr(0, kBs + 10) + std::string(4 * kBs - kBs - 10, '\0');
  EXPECT_BYTES_EQ(read_all(kC, "o"), want);

  Transaction zero;
  zero.truncate(kC, "o", 0);
  submit(std::move(zero));
  EXPECT_EQ(size_of("o"), 0u);
  EXPECT_FALSE(block_stored("o", 0));

  Transaction create;
  create.truncate(kC, "new", 100);
  submit(std::move(create));
  EXPECT_BYTES_EQ(read_all(kC, "new"), std::string(100, '\0'));
}

TEST_F(ObjectStoreTest, AppendLikeWrites) {
  std::string model;
  for (int i = 0; i < 40; ++i) {
    std::string d = pattern(777 + i * 13, i);
    Transaction t;
    t.write(kC, "log", model.size(), d);
    submit(std::move(t));
    model += d;
  }
  EXPECT_BYTES_EQ(read_all(kC, "log"), model);
  EXPECT_EQ(size_of("log"), model.size());
}

TEST_F(ObjectStoreTest, WriteFullReplacesDataKeepsXattrs) {
  Transaction t;
  t.write_full(kC, "o", pattern(3 * kBs, 3));
  t.setxattr(kC, "o", "k", "v");
  submit(std::move(t));
  Transaction t2;
  t2.write_full(kC, "o", "short");
  submit(std::move(t2));
  EXPECT_BYTES_EQ(read_all(kC, "o"), "short");
  EXPECT_FALSE(block_stored("o", 1));
  EXPECT_EQ(*store_->getxattr(kC, "o", "k"), "v");
}

TEST_F(ObjectStoreTest, LimitsAndValidation) {
  Transaction big;
  big.write(kC, "o", kMaxObjectSize - 1, "xy");
  EXPECT_TRUE(store_->submit(std::move(big)).is(Code::kTooLarge));
  Transaction tr;
  tr.truncate(kC, "o", kMaxObjectSize + 1);
  EXPECT_TRUE(store_->submit(std::move(tr)).is(Code::kTooLarge));
  Transaction ovf;
  ovf.write(kC, "o", UINT64_MAX - 1, "xy");
  EXPECT_TRUE(store_->submit(std::move(ovf)).is(Code::kTooLarge));
  Transaction empty_name;
  empty_name.touch(kC, "");
  EXPECT_TRUE(store_->submit(std::move(empty_name)).is(Code::kInvalidArgument));
  Transaction nul;
  nul.touch(kC, std::string("a\0b", 3));
  EXPECT_TRUE(store_->submit(std::move(nul)).is(Code::kInvalidArgument));
  Transaction neg;
  neg.touch(CollectionId{-1, 0}, "o");
  EXPECT_TRUE(store_->submit(std::move(neg)).is(Code::kInvalidArgument));
  Transaction max_ok;
  max_ok.write(kC, "max", kMaxObjectSize - 3, "end");
  submit(std::move(max_ok));
  EXPECT_EQ(size_of("max"), kMaxObjectSize);
  EXPECT_EQ(*store_->read(kC, "max", kMaxObjectSize - 4, 0), std::string("\0end", 4));
}

TEST_F(ObjectStoreTest, FailedTransactionAppliesNothing) {
  Transaction t;
  t.write_full(kC, "a", "data");
  t.setxattr(kC, "a", "x", "y");
  t.meta_put(kC, "m", "v");
  t.write(kC, "b", kMaxObjectSize, "z");  // invalid: whole txn rejected
  EXPECT_TRUE(store_->submit(std::move(t)).is(Code::kTooLarge));
  EXPECT_TRUE(store_->stat(kC, "a").status().is(Code::kNotFound));
  EXPECT_TRUE(store_->meta_get(kC, "m").status().is(Code::kNotFound));
}

TEST_F(ObjectStoreTest, MultiOpTransactionAllVisible) {
  Transaction t;
  t.write_full(kC, "a", "A");
  t.write_full(kOther, "b", "B");
  t.setxattr(kC, "a", "x", "1");
  t.omap_set(kC, "a", {{"k1", "v1"}});
  t.meta_put(kC, "pginfo", "info");
  t.set_version(kC, "a", 7, 8);
  submit(std::move(t));
  EXPECT_BYTES_EQ(read_all(kC, "a"), "A");
  EXPECT_BYTES_EQ(read_all(kOther, "b"), "B");
  EXPECT_EQ(*store_->getxattr(kC, "a", "x"), "1");
  EXPECT_EQ(store_->omap_get(kC, "a", {"k1"})->at("k1"), "v1");
  EXPECT_EQ(*store_->meta_get(kC, "pginfo"), "info");
  EXPECT_EQ(store_->stat(kC, "a")->version, 7u);
}

TEST_F(ObjectStoreTest, Xattrs) {
  Transaction t;
  t.setxattr(kC, "o", "a", "1");
  t.setxattr(kC, "o", "b", std::string("\0\xff", 2));
  t.setxattr(kC, "o", "c", "3");
  submit(std::move(t));
  EXPECT_EQ(size_of("o"), 0u);  // setxattr creates
  EXPECT_EQ(*store_->getxattr(kC, "o", "b"), std::string("\0\xff", 2));
  Transaction t2;
  t2.rmxattr(kC, "o", "c");
  t2.rmxattr(kC, "o", "missing");
  t2.rmxattr(kC, "absent-object", "a");  // no-op, does not create
  submit(std::move(t2));
  auto all = store_->getxattrs(kC, "o");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  EXPECT_TRUE(store_->getxattr(kC, "o", "c").status().is(Code::kNotFound));
  EXPECT_TRUE(store_->getxattr(kC, "nope", "a").status().is(Code::kNotFound));
  EXPECT_TRUE(store_->getxattrs(kC, "nope").status().is(Code::kNotFound));
  EXPECT_TRUE(store_->stat(kC, "absent-object").status().is(Code::kNotFound));
}

TEST_F(ObjectStoreTest, OmapGetRmClear) {
  Transaction t;
  t.omap_set(kC, "o", {{"a", "1"}, {"b", "2"}, {"c", "3"}});
  t.omap_set(kC, "o2", {{"a", "other"}});
  submit(std::move(t));
  auto got = store_->omap_get(kC, "o", {"a", "c", "zz"});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, (std::map<std::string, std::string>{{"a", "1"}, {"c", "3"}}));
  Transaction rm;
  rm.omap_rm(kC, "o", {"a", "nope"});
  submit(std::move(rm));
  EXPECT_EQ(store_->omap_get(kC, "o", {"a", "b"})->size(), 1u);
  Transaction clear;
  clear.omap_clear(kC, "o");
  clear.omap_set(kC, "o", {{"new", "x"}});  // after clear in the same txn
  submit(std::move(clear));
  bool more = true;
  auto l = store_->omap_list(kC, "o", "", "", 100, &more);
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].first, "new");
  EXPECT_FALSE(more);
  EXPECT_EQ(store_->omap_get(kC, "o2", {"a"})->at("a"), "other");
  EXPECT_TRUE(store_->omap_get(kC, "nope", {"a"}).status().is(Code::kNotFound));
}

TEST_F(ObjectStoreTest, OmapListPaginationWithPrefix) {
  std::map<std::string, std::string> kvs;
  for (int i = 0; i < 25; ++i) kvs["dir/" + std::to_string(100 + i)] = "v" + std::to_string(i);
  kvs["a"] = "before";
  kvs["dir0"] = "not-in-prefix";
  kvs["dir/\xff\xff"] = "high";
  kvs["e"] = "after";
  Transaction t;
  t.omap_set(kC, "idx", kvs);
  t.omap_set(kC, "idx-neighbor", {{"dir/999", "x"}});  // a different object
  submit(std::move(t));

  std::vector<std::string> seen;
  std::string after;
  bool more = true;
  int pages = 0;
  while (more) {
    auto page = store_->omap_list(kC, "idx", after, "dir/", 10, &more);
    ASSERT_TRUE(page.ok()) << page.status().to_string();
    ASSERT_LE(page->size(), 10u);
    for (auto& [k, v] : *page) {
      EXPECT_EQ(v, kvs[k]);
      seen.push_back(k);
    }
    if (!page->empty()) after = page->back().first;
    ASSERT_LT(++pages, 10);
  }
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 26u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(seen.back(), "dir/\xff\xff");

  auto all = store_->omap_list(kC, "idx", "", "", 1000, &more);
  EXPECT_EQ(all->size(), kvs.size());
  EXPECT_FALSE(more);
  auto tail = store_->omap_list(kC, "idx", "dir0", "", 1000, &more);
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_EQ((*tail)[0].first, "e");
  // after below the prefix starts at the prefix.
  auto from_prefix = store_->omap_list(kC, "idx", "a", "dir/", 1, &more);
  EXPECT_EQ((*from_prefix)[0].first, "dir/100");
  EXPECT_TRUE(more);
  EXPECT_TRUE(store_->omap_list(kC, "idx", "", "", 0, &more).status().is(Code::kInvalidArgument));
}

TEST_F(ObjectStoreTest, ListObjectsPagination) {
  std::vector<std::string> names = {"a",      "a0",   std::string("a\x01"), "b", "\xff", "obj_1",
                                    "obj_10", "obj_2"};
  for (int i = 0; i < 30; ++i) names.push_back("n" + std::to_string(1000 + i));
  Transaction t;
  for (size_t i = 0; i < names.size(); ++i) {
    t.write_full(kC, names[i], std::string(i, 'x'));
    t.set_version(kC, names[i], i, 0);
  }
  t.write_full(kOther, "zzz-other", "x");
  t.meta_put(kC, "meta-is-not-an-object", "x");
  submit(std::move(t));
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());

  std::vector<std::string> seen;
  std::string after;
  bool more = true;
  while (more) {
    auto page = store_->list_objects(kC, after, 7, &more);
    ASSERT_TRUE(page.ok()) << page.status().to_string();
    for (auto& [n, st] : *page) {
      size_t i = std::find(names.begin(), names.end(), n) - names.begin();
      ASSERT_LT(i, names.size()) << n;
      EXPECT_EQ(st.size, i);
      EXPECT_EQ(st.version, i);
      seen.push_back(n);
    }
    if (!page->empty()) after = page->back().first;
  }
  EXPECT_EQ(seen, sorted);
  auto last = store_->list_objects(kC, sorted.back(), 10, &more);
  EXPECT_TRUE(last->empty());
  EXPECT_FALSE(more);
}

TEST_F(ObjectStoreTest, RemoveDeletesEverything) {
  Transaction t;
  t.write_full(kC, "o", pattern(3 * kBs, 4));
  t.setxattr(kC, "o", "x", "1");
  t.omap_set(kC, "o", {{"k", "v"}});
  t.write_full(kC, "o0", "neighbor");
  t.omap_set(kC, "o0", {{"k", "neighbor"}});
  submit(std::move(t));
  Transaction rm;
  rm.remove(kC, "o");
  rm.remove(kC, "never-existed");
  submit(std::move(rm));
  EXPECT_TRUE(store_->stat(kC, "o").status().is(Code::kNotFound));
  for (uint32_t b = 0; b < 3; ++b) EXPECT_FALSE(block_stored("o", b));
  EXPECT_BYTES_EQ(read_all(kC, "o0"), "neighbor");
  EXPECT_EQ(store_->omap_get(kC, "o0", {"k"})->at("k"), "neighbor");

  // Recreated under the same name: no old xattrs or omap.
  Transaction again;
  again.touch(kC, "o");
  submit(std::move(again));
  EXPECT_TRUE(store_->getxattrs(kC, "o")->empty());
  EXPECT_TRUE(store_->omap_get(kC, "o", {"k"})->empty());
  EXPECT_BYTES_EQ(read_all(kC, "o"), "");

  // Remove and recreate in one transaction.
  Transaction both;
  both.write_full(kC, "o", "old");
  both.remove(kC, "o");
  both.write(kC, "o", 2, "new");
  submit(std::move(both));
  EXPECT_BYTES_EQ(read_all(kC, "o"), std::string("\0\0new", 5));
}

TEST_F(ObjectStoreTest, Meta) {
  Transaction t;
  t.meta_put(kC, "log/0001", "e1");
  t.meta_put(kC, "log/0002", "e2");
  t.meta_put(kC, "info", "i");
  t.meta_put(kOther, "log/0003", "other");
  submit(std::move(t));
  auto l = store_->meta_list(kC, "log/");
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0], (std::pair<std::string, std::string>{"log/0001", "e1"}));
  EXPECT_EQ(store_->meta_list(kC, "")->size(), 3u);
  Transaction rm;
  rm.meta_rm(kC, "log/0001");
  submit(std::move(rm));
  EXPECT_TRUE(store_->meta_get(kC, "log/0001").status().is(Code::kNotFound));
  EXPECT_EQ(*store_->meta_get(kC, "info"), "i");
}

TEST_F(ObjectStoreTest, RemoveCollection) {
  CollectionId c3{2, 0};
  Transaction t;
  for (int i = 0; i < 20; ++i) t.write_full(kC, "o" + std::to_string(i), pattern(kBs + i, i));
  t.omap_set(kC, "o1", {{"k", "v"}});
  t.meta_put(kC, "info", "x");
  t.write_full(kOther, "keep", "k");
  t.meta_put(c3, "only-meta", "m");
  submit(std::move(t));
  auto colls = store_->list_collections();
  ASSERT_TRUE(colls.ok());
  EXPECT_EQ(*colls, (std::vector<CollectionId>{kC, kOther, c3}));
  EXPECT_EQ(store_->stats()->objects, 21u);

  Transaction rm;
  rm.write_full(kC, "o1", "rewritten first");
  rm.remove_collection(kC);
  rm.write_full(kC, "fresh", "after removal");
  submit(std::move(rm));
  bool more;
  auto objs = store_->list_objects(kC, "", 100, &more);
  ASSERT_EQ(objs->size(), 1u);
  EXPECT_EQ((*objs)[0].first, "fresh");
  EXPECT_TRUE(store_->meta_get(kC, "info").status().is(Code::kNotFound));
  EXPECT_TRUE(store_->stat(kC, "o1").status().is(Code::kNotFound));
  EXPECT_FALSE(block_stored("o1", 0));
  EXPECT_BYTES_EQ(read_all(kOther, "keep"), "k");
  EXPECT_EQ(store_->stats()->objects, 2u);

  Transaction rm2;
  rm2.remove_collection(kC);
  submit(std::move(rm2));
  EXPECT_EQ(*store_->list_collections(), (std::vector<CollectionId>{kOther, c3}));
  EXPECT_EQ(store_->stats()->objects, 1u);
}

TEST_F(ObjectStoreTest, ReclaimSpaceGivesRemovedDataBack) {
  // Two flushes' worth of blob files, then every other object removed: no
  // blob file is all garbage, so only reclaim's blob GC frees the space.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 50; ++i) {
      Transaction t;
      t.write_full(kC, "o" + std::to_string(round * 50 + i), pattern(64 * 1024, i));
      submit(std::move(t));
    }
    ASSERT_TRUE(store_->quiesce().ok());
  }
  uint64_t full = store_->stats()->used_bytes;
  for (int i = 0; i < 100; i += 2) {
    Transaction t;
    t.remove(kC, "o" + std::to_string(i));
    submit(std::move(t));
  }
  ASSERT_TRUE(store_->reclaim_space().ok());
  uint64_t after = store_->stats()->used_bytes;
  EXPECT_LT(after, full * 6 / 10) << "before " << full << ", after " << after;
  for (int i = 1; i < 100; i += 2) {
    EXPECT_BYTES_EQ(read_all(kC, "o" + std::to_string(i)), pattern(64 * 1024, i % 50));
  }
  EXPECT_EQ(store_->stats()->objects, 50u);
}

TEST_F(ObjectStoreTest, ReopenPersistsEverything) {
  std::string data = pattern(5 * kBs + 17, 5);
  Transaction t;
  t.write_full(kC, "o", data);
  t.set_version(kC, "o", 9, 99);
  t.setxattr(kC, "o", "x", "1");
  t.omap_set(kC, "o", {{"k", "v"}});
  t.meta_put(kC, "info", "i");
  submit(std::move(t));
  ASSERT_TRUE(store_->put_superblock("osd_id", "3").ok());
  ASSERT_TRUE(store_->quiesce().ok());  // some state in SSTs + blob files, some in the WAL
  Transaction t2;
  t2.write(kC, "o", 3, "patch");
  t2.write_full(kC, "p", "second");
  submit(std::move(t2));
  data.replace(3, 5, "patch");

  opts_.block_size = 64 * 1024;  // existing objects keep their own block size
  reopen();
  EXPECT_BYTES_EQ(read_all(kC, "o"), data);
  EXPECT_BYTES_EQ(read_all(kC, "p"), "second");
  EXPECT_EQ(store_->stat(kC, "o")->version, 9u);
  EXPECT_EQ(*store_->getxattr(kC, "o", "x"), "1");
  EXPECT_EQ(store_->omap_get(kC, "o", {"k"})->at("k"), "v");
  EXPECT_EQ(*store_->meta_get(kC, "info"), "i");
  EXPECT_EQ(*store_->get_superblock("osd_id"), "3");
  EXPECT_TRUE(store_->get_superblock("fsid").status().is(Code::kNotFound));
  EXPECT_EQ(store_->stats()->objects, 2u);
  Transaction t3;
  t3.write(kC, "o", kBs - 1, "XY");  // RMW across a 4 KiB boundary of the old object
  submit(std::move(t3));
  data.replace(kBs - 1, 2, "XY");
  EXPECT_BYTES_EQ(read_all(kC, "o"), data);
  EXPECT_TRUE(block_stored("o", 1));  // still block 1 of a 4 KiB-block object
}

TEST_F(ObjectStoreTest, ConcurrentWritersDistinctAndSharedObjects) {
  opts_.sync = true;  // exercise group commit
  reopen();
  constexpr int kThreads = 8;
  constexpr int kIters = 40;
  constexpr size_t kSlice = 1000;  // slices share 4 KiB blocks: races would lose bytes
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < kIters; ++i) {
        Transaction t;
        t.write_full(kC, "own-" + std::to_string(th) + "-" + std::to_string(i),
                     pattern(3000, th * 1000 + i));
        t.write(kC, "shared", (th * kIters + i) * kSlice, pattern(kSlice, th * 1000 + i));
        t.omap_set(kC, "shared", {{std::to_string(th * 1000 + i), "v"}});
        if (!store_->submit(std::move(t)).ok()) failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::string shared = read_all(kC, "shared");
  ASSERT_EQ(shared.size(), kThreads * kIters * kSlice);
  for (int th = 0; th < kThreads; ++th) {
    for (int i = 0; i < kIters; ++i) {
      ASSERT_BYTES_EQ(shared.substr((th * kIters + i) * kSlice, kSlice),
                      pattern(kSlice, th * 1000 + i));
      ASSERT_BYTES_EQ(read_all(kC, "own-" + std::to_string(th) + "-" + std::to_string(i)),
                      pattern(3000, th * 1000 + i));
    }
  }
  bool more;
  EXPECT_EQ(store_->omap_list(kC, "shared", "", "", 1000, &more)->size(),
            size_t{kThreads * kIters});
  EXPECT_EQ(store_->stats()->objects, size_t{kThreads * kIters + 1});
}

TEST_F(ObjectStoreTest, CorruptBlockIsDetected) {
  std::string data = pattern(3 * kBs, 6);
  corrupt_block_then_repair(data);

  ASSERT_TRUE(ObjectStoreTestPeer::put_raw_block(*store_, kC, "o", 2, "ab").ok());  // too short
  EXPECT_TRUE(store_->read(kC, "o", 0, 0).status().is(Code::kCorruption));
}

TEST_F(ObjectStoreTest, ChecksumMatchesDataWithHoles) {
  Transaction t;
  t.write(kC, "o", 2 * kBs + 10, pattern(kBs, 7));
  t.truncate(kC, "o", 6 * kBs + 1);
  submit(std::move(t));
  std::string data = read_all(kC, "o");
  ASSERT_EQ(data.size(), 6 * kBs + 1);
  EXPECT_EQ(*store_->checksum(kC, "o"), crc32c(data));
  Transaction e;
  e.touch(kC, "empty");
  submit(std::move(e));
  EXPECT_EQ(*store_->checksum(kC, "empty"), crc32c(""));
}

void ObjectStoreTest::randomized_against_model(size_t max_write) {
  uint32_t seed = std::random_device()();
  if (const char* s = std::getenv("CAIRN_SEED")) seed = std::strtoul(s, nullptr, 10);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with CAIRN_SEED)");
  std::mt19937 rng(seed);
  std::map<std::string, std::string> model;
  const char* names[] = {"a", "b", "c"};
  for (int step = 0; step < 300; ++step) {
    Transaction t;
    int nops = 1 + rng() % 3;
    for (int k = 0; k < nops; ++k) {
      std::string name = names[rng() % 3];
      std::string& m = model[name];
      switch (rng() % 6) {
        case 0:
        case 1:
        case 2: {
          uint64_t off = rng() % (8 * kBs);
          size_t len = rng() % max_write;
          std::string d = (rng() % 5 == 0) ? std::string(len, '\0') : pattern(len, rng());
          t.write(kC, name, off, d);
          if (len > 0) {
            if (m.size() < off + len) m.resize(off + len, '\0');
            m.replace(off, len, d);
          }
          break;
        }
        case 3: {
          uint64_t sz = rng() % (9 * kBs);
          t.truncate(kC, name, sz);
          m.resize(sz, '\0');
          break;
        }
        case 4: {
          std::string d = pattern(rng() % (max_write * 2 / 3), rng());
          t.write_full(kC, name, d);
          m = d;
          break;
        }
        case 5:
          t.remove(kC, name);
          t.touch(kC, name);
          m.clear();
          break;
      }
    }
    submit(std::move(t));
    if (step % 5 == 0) {
      for (const auto& [n, m] : model) {
        ASSERT_BYTES_EQ(read_all(kC, n), m) << "step " << step << " object " << n;
        ASSERT_EQ(*store_->checksum(kC, n), crc32c(m));
        Status inv = ObjectStoreTestPeer::check_extent_invariants(*store_, kC, n);
        ASSERT_TRUE(inv.ok()) << "step " << step << " object " << n << ": " << inv.to_string();
      }
    }
  }
  reopen();
  for (const auto& [n, m] : model) ASSERT_BYTES_EQ(read_all(kC, n), m) << n;
}

TEST_F(ObjectStoreTest, RandomizedAgainstModel) { randomized_against_model(3 * kBs); }

// Extent files: writes of at least two whole 4 KiB blocks go to them.
class ObjectStoreExtentTest : public ObjectStoreTest {
 protected:
  void tune(Options& o) override { o.extent_min_bytes = 2 * kBs; }
  std::string extent_dir() { return ObjectStoreTestPeer::extent_dir(*store_); }
  std::set<std::string> files() {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(extent_dir())) {
      out.insert(e.path().string());
    }
    return out;
  }
  bool in_extent(std::string_view name, uint32_t block) {
    return ObjectStoreTestPeer::extent_file(*store_, kC, name, block).ok();
  }
  std::string file_of(std::string_view name, uint32_t block) {
    auto f = ObjectStoreTestPeer::extent_file(*store_, kC, name, block);
    EXPECT_TRUE(f.ok()) << f.status().to_string();
    return f.ok() ? *f : std::string();
  }
  // Every extent file on disk is referenced by a block of one of names, and
  // every such block's file exists: no orphan, no dangling reference.
  void expect_files_exactly_referenced(const std::vector<std::string>& names) {
    std::set<std::string> referenced;
    for (const auto& n : names) {
      auto st = store_->stat(kC, n);
      if (!st.ok()) continue;
      for (uint32_t b = 0; uint64_t{b} * kBs < st->size; ++b) {
        auto f = ObjectStoreTestPeer::extent_file(*store_, kC, n, b);
        if (f.ok()) referenced.insert(*f);
      }
    }
    EXPECT_EQ(files(), referenced);
  }
};

TEST_F(ObjectStoreExtentTest, WriteFullGoesToOneFileReadsAndReopens) {
  std::string data = pattern(5 * kBs + 17, 1);  // short last block included
  Transaction t;
  t.write_full(kC, "o", data);
  t.setxattr(kC, "o", "x", "1");
  submit(std::move(t));
  for (uint32_t b = 0; b < 6; ++b) ASSERT_TRUE(in_extent("o", b)) << b;
  EXPECT_EQ(files().size(), 1u);
  EXPECT_EQ(file_of("o", 0), file_of("o", 5));
  EXPECT_EQ(std::filesystem::file_size(file_of("o", 0)), data.size());  // written once, as is
  EXPECT_BYTES_EQ(read_all(kC, "o"), data);
  EXPECT_BYTES_EQ(*store_->read(kC, "o", kBs - 3, kBs + 6), data.substr(kBs - 3, kBs + 6));
  EXPECT_BYTES_EQ(*store_->read(kC, "o", 5 * kBs + 10, 0), data.substr(5 * kBs + 10));
  EXPECT_EQ(*store_->checksum(kC, "o"), crc32c(data));
  EXPECT_EQ(size_of("o"), data.size());
  EXPECT_GE(store_->stats()->used_bytes, data.size());

  // Below the threshold: the data CF, as before.
  Transaction small;
  small.write_full(kC, "s", pattern(kBs + 5, 2));
  submit(std::move(small));
  EXPECT_FALSE(in_extent("s", 0));
  EXPECT_TRUE(block_stored("s", 0));

  reopen();
  EXPECT_BYTES_EQ(read_all(kC, "o"), data);
  EXPECT_EQ(*store_->getxattr(kC, "o", "x"), "1");
  EXPECT_BYTES_EQ(read_all(kC, "s"), pattern(kBs + 5, 2));
  expect_files_exactly_referenced({"o", "s"});
}

TEST_F(ObjectStoreExtentTest, OffsetWritesCoverWholeBlocksOnly) {
  std::string m = pattern(10 * kBs, 3);
  Transaction t;
  t.write_full(kC, "o", m);
  submit(std::move(t));
  std::string first = file_of("o", 0);
  // Unaligned, inside the object: head and tail blocks RMW'd into the data
  // CF, the whole blocks between into a new file.
  std::string d = pattern(4 * kBs, 4);
  Transaction w;
  w.write(kC, "o", kBs + 100, d);
  submit(std::move(w));
  m.replace(kBs + 100, d.size(), d);
  EXPECT_BYTES_EQ(read_all(kC, "o"), m);
  EXPECT_FALSE(in_extent("o", 1));
  EXPECT_FALSE(in_extent("o", 5));
  EXPECT_TRUE(in_extent("o", 2));
  EXPECT_TRUE(in_extent("o", 4));
  EXPECT_NE(file_of("o", 2), first);
  EXPECT_EQ(file_of("o", 0), first);  // the old file lives on for blocks 0 and 6..9
  EXPECT_EQ(files().size(), 2u);
  EXPECT_EQ(*store_->checksum(kC, "o"), crc32c(m));

  // Past the end, unaligned end: the extent takes the short last block too.
  std::string tail = pattern(3 * kBs + 7, 5);
  Transaction a;
  a.write(kC, "o", 12 * kBs, tail);
  submit(std::move(a));
  m.resize(12 * kBs, '\0');
  m += tail;
  EXPECT_TRUE(in_extent("o", 15));
  EXPECT_FALSE(block_stored("o", 10));  // the gap is a hole
  EXPECT_BYTES_EQ(read_all(kC, "o"), m);

  // Small partial writes into extent blocks move just those blocks out.
  Transaction p;
  p.write(kC, "o", 3, "abc");
  p.write(kC, "o", 15 * kBs + 2, "zz");
  submit(std::move(p));
  m.replace(3, 3, "abc");
  m.replace(15 * kBs + 2, 2, "zz");
  EXPECT_FALSE(in_extent("o", 0));
  EXPECT_FALSE(in_extent("o", 15));
  EXPECT_BYTES_EQ(read_all(kC, "o"), m);
  reopen();
  EXPECT_BYTES_EQ(read_all(kC, "o"), m);
  EXPECT_EQ(*store_->checksum(kC, "o"), crc32c(m));
  expect_files_exactly_referenced({"o"});
}

TEST_F(ObjectStoreExtentTest, OverwriteAndRemoveReleaseFiles) {
  Transaction t;
  t.write_full(kC, "o", pattern(6 * kBs, 6));
  submit(std::move(t));
  std::string old_file = file_of("o", 0);
  uint64_t used = store_->stats()->used_bytes;

  Transaction w;
  w.write_full(kC, "o", pattern(6 * kBs, 7));
  submit(std::move(w));
  EXPECT_FALSE(std::filesystem::exists(old_file));
  EXPECT_EQ(files().size(), 1u);
  EXPECT_BYTES_EQ(read_all(kC, "o"), pattern(6 * kBs, 7));
  EXPECT_EQ(store_->stats()->used_bytes, used);  // same referenced bytes, no SST change

  // Two full writes in one transaction: only the last one's file stays.
  Transaction twice;
  twice.write_full(kC, "o", pattern(3 * kBs, 8));
  twice.write_full(kC, "o", pattern(4 * kBs, 9));
  submit(std::move(twice));
  EXPECT_EQ(files().size(), 1u);
  EXPECT_BYTES_EQ(read_all(kC, "o"), pattern(4 * kBs, 9));

  Transaction rm;
  rm.remove(kC, "o");
  submit(std::move(rm));
  EXPECT_TRUE(files().empty());
  EXPECT_LT(store_->stats()->used_bytes, used);
  EXPECT_TRUE(store_->read(kC, "o", 0, 0).status().is(Code::kNotFound));

  // Remove and recreate in one transaction.
  Transaction a;
  a.write_full(kC, "p", pattern(3 * kBs, 10));
  submit(std::move(a));
  Transaction b;
  b.remove(kC, "p");
  b.write_full(kC, "p", pattern(3 * kBs, 11));
  submit(std::move(b));
  EXPECT_BYTES_EQ(read_all(kC, "p"), pattern(3 * kBs, 11));
  expect_files_exactly_referenced({"o", "p"});
}

TEST_F(ObjectStoreExtentTest, TruncateExtentBackedObject) {
  std::string m = pattern(8 * kBs, 12);
  Transaction t;
  t.write_full(kC, "o", m);
  submit(std::move(t));
  Transaction shrink;  // mid-block: the new last block leaves the file, trimmed
  shrink.truncate(kC, "o", 5 * kBs + 10);
  submit(std::move(shrink));
  m.resize(5 * kBs + 10);
  EXPECT_TRUE(in_extent("o", 4));
  EXPECT_FALSE(in_extent("o", 5));
  EXPECT_BYTES_EQ(read_all(kC, "o"), m);
  Transaction grow;
  grow.truncate(kC, "o", 9 * kBs);
  submit(std::move(grow));
  m.resize(9 * kBs, '\0');
  EXPECT_BYTES_EQ(read_all(kC, "o"), m);  // zeros, not the old bytes
  EXPECT_EQ(*store_->checksum(kC, "o"), crc32c(m));
  Transaction zero;
  zero.truncate(kC, "o", 0);
  submit(std::move(zero));
  EXPECT_TRUE(files().empty());
  EXPECT_EQ(read_all(kC, "o"), "");
}

TEST_F(ObjectStoreExtentTest, RemoveCollectionDeletesExtentFiles) {
  Transaction t;
  for (int i = 0; i < 5; ++i) t.write_full(kC, "o" + std::to_string(i), pattern(3 * kBs, i));
  t.write_full(kOther, "keep", pattern(3 * kBs, 99));
  submit(std::move(t));
  EXPECT_EQ(files().size(), 6u);
  Transaction rm;
  rm.write_full(kC, "o1", pattern(4 * kBs, 50));  // a new file, gone with the collection
  rm.remove_collection(kC);
  rm.write_full(kC, "fresh", pattern(2 * kBs, 51));
  submit(std::move(rm));
  EXPECT_EQ(files().size(), 2u);
  EXPECT_BYTES_EQ(read_all(kC, "fresh"), pattern(2 * kBs, 51));
  EXPECT_BYTES_EQ(read_all(kOther, "keep"), pattern(3 * kBs, 99));
  EXPECT_EQ(store_->stats()->objects, 2u);
  Transaction rm2;
  rm2.remove_collection(kC);
  rm2.remove_collection(kOther);
  submit(std::move(rm2));
  EXPECT_TRUE(files().empty());
  EXPECT_EQ(store_->stats()->objects, 0u);
}

TEST_F(ObjectStoreExtentTest, OrphansOfACrashAreRemovedAtOpen) {
  Transaction t;
  t.write_full(kC, "o", pattern(3 * kBs, 13));
  submit(std::move(t));
  // Files written but never committed (a crash between the sync and the batch).
  auto a = ObjectStoreTestPeer::write_orphan_extent(*store_, pattern(2 * kBs, 14));
  auto b = ObjectStoreTestPeer::write_orphan_extent(*store_, pattern(2 * kBs, 15));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(files().size(), 3u);
  reopen();
  EXPECT_EQ(files().size(), 1u);
  EXPECT_BYTES_EQ(read_all(kC, "o"), pattern(3 * kBs, 13));
  expect_files_exactly_referenced({"o"});
  // Ids keep growing across opens: a new file never reuses an old name.
  Transaction n;
  n.write_full(kC, "n", pattern(3 * kBs, 16));
  submit(std::move(n));
  EXPECT_GT(file_of("n", 0), file_of("o", 0));

  // Many objects and chunks of ids later, a crash still leaves nothing behind.
  for (int i = 0; i < 1100; ++i) {
    Transaction w;
    w.write_full(kC, "many", pattern(2 * kBs, i));
    submit(std::move(w));
  }
  auto c = ObjectStoreTestPeer::write_orphan_extent(*store_, "x");
  ASSERT_TRUE(c.ok());
  reopen();
  expect_files_exactly_referenced({"o", "n", "many"});
  EXPECT_BYTES_EQ(read_all(kC, "many"), pattern(2 * kBs, 1099));
}

TEST_F(ObjectStoreExtentTest, CorruptExtentBlockIsDetected) {
  std::string data = pattern(4 * kBs, 17);
  corrupt_block_then_repair(data);
  EXPECT_EQ(*store_->checksum(kC, "o"), crc32c(data));

  // A lost file is corruption too, never NotFound or zeros.
  std::filesystem::remove(file_of("o", 0));
  EXPECT_TRUE(store_->read(kC, "o", 0, 0).status().is(Code::kCorruption));
  EXPECT_TRUE(store_->checksum(kC, "o").status().is(Code::kCorruption));
  Transaction whole;  // and a full rewrite recovers
  whole.write_full(kC, "o", data);
  submit(std::move(whole));
  EXPECT_BYTES_EQ(read_all(kC, "o"), data);
}

TEST_F(ObjectStoreExtentTest, ReadersNeverSeeATornOrMissingOverwrite) {
  const std::string a = pattern(6 * kBs, 20), b = pattern(6 * kBs, 21);
  Transaction t;
  t.write_full(kC, "o", a);
  submit(std::move(t));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, reads{0};
  std::mutex mu;
  std::string first_bad;
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(mu);
    if (bad++ == 0) first_bad = what;
  };
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop) {
        auto got = store_->read(kC, "o", 0, 0);
        auto crc = store_->checksum(kC, "o");
        if (!got.ok()) fail("read: " + got.status().to_string());
        if (got.ok() && *got != a && *got != b) fail("read: torn");
        if (!crc.ok()) fail("checksum: " + crc.status().to_string());
        if (crc.ok() && *crc != crc32c(a) && *crc != crc32c(b)) fail("checksum: torn");
        ++reads;
      }
    });
  }
  for (int i = 0; i < 300 || reads < 50; ++i) {
    Transaction w;
    if (i % 3 == 2) {
      w.write(kC, "o", kBs, (i % 2 ? a : b).substr(kBs, 4 * kBs));  // punches the old file
      w.write(kC, "o", 0, (i % 2 ? a : b).substr(0, kBs));
      w.write(kC, "o", 5 * kBs, (i % 2 ? a : b).substr(5 * kBs));
    } else {
      w.write_full(kC, "o", i % 2 ? a : b);
    }
    submit(std::move(w));
  }
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(bad, 0) << "of " << reads << " reads; first: " << first_bad;
}

TEST_F(ObjectStoreExtentTest, RandomizedAgainstModel) {
  randomized_against_model(6 * kBs);
  expect_files_exactly_referenced({"a", "b", "c"});
}

TEST_F(ObjectStoreExtentTest, ReclaimSpaceAndStats) {
  uint64_t empty = store_->stats()->used_bytes;
  for (int i = 0; i < 20; ++i) {
    Transaction t;
    t.write_full(kC, "o" + std::to_string(i), pattern(16 * kBs, i));
    submit(std::move(t));
  }
  uint64_t full = store_->stats()->used_bytes;
  EXPECT_GE(full - empty, 20 * 16 * kBs);
  for (int i = 0; i < 20; i += 2) {
    Transaction t;
    t.remove(kC, "o" + std::to_string(i));
    submit(std::move(t));
  }
  ASSERT_TRUE(store_->reclaim_space().ok());
  uint64_t after = store_->stats()->used_bytes;
  EXPECT_LT(after, full - 10 * 16 * kBs + 16 * kBs) << full << " " << after;
  EXPECT_EQ(files().size(), 10u);
  for (int i = 1; i < 20; i += 2) {
    EXPECT_BYTES_EQ(read_all(kC, "o" + std::to_string(i)), pattern(16 * kBs, i));
  }
}

// A full filesystem: the extent write fails with NoSpace, nothing is applied,
// no file is left behind, and the store keeps working once space is freed.
TEST_F(ObjectStoreExtentTest, NoSpaceOnAnExtentWriteIsAnError) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
  std::string mnt = dir_ + "/small";
  std::filesystem::create_directories(mnt);
  if (std::system(("mount -t tmpfs -o size=24m tmpfs " + mnt + " 2>/dev/null").c_str()) != 0) {
    GTEST_SKIP() << "cannot mount tmpfs";
  }
  store_.reset();
  opts_.dir = mnt + "/db";
  opts_.data_write_buffer_bytes = 1 << 20;
  opts_.meta_write_buffer_bytes = 1 << 20;
  auto opened = ObjectStore::open(opts_);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  store_ = std::move(*opened);
  const std::string big = pattern(1 << 20, 30);
  int written = 0;
  Status st;
  for (; written < 40; ++written) {
    Transaction t;
    t.write_full(kC, "o" + std::to_string(written), big);
    st = store_->submit(std::move(t));
    if (!st.ok()) break;
  }
  EXPECT_TRUE(st.is(Code::kNoSpace)) << st.to_string();
  ASSERT_GT(written, 0);
  EXPECT_TRUE(store_->stat(kC, "o" + std::to_string(written)).status().is(Code::kNotFound));
  EXPECT_EQ(files().size(), size_t(written));  // the failed write's file is gone
  for (int i = 0; i < written; i += 2) {
    Transaction t;
    t.remove(kC, "o" + std::to_string(i));
    ASSERT_TRUE(store_->submit(std::move(t)).ok());
  }
  Transaction again;
  again.write_full(kC, "again", big);
  EXPECT_TRUE(store_->submit(std::move(again)).ok());
  EXPECT_BYTES_EQ(read_all(kC, "again"), big);
  EXPECT_BYTES_EQ(read_all(kC, "o1"), big);
  store_.reset();
  std::system(("umount " + mnt).c_str());
}

// kill -9 in the middle of extent writes (files being written, synced,
// batches committing, old files being released): after reopening, every
// acknowledged write reads back whole and no file is left unreferenced.
TEST_F(ObjectStoreExtentTest, KillNineMidWritesLosesNothingAcknowledged) {
  store_.reset();  // the child owns the store until it dies
  opts_.sync = true;
  int ack[2];
  ASSERT_EQ(pipe(ack), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ack[0]);
    auto s = ObjectStore::open(opts_);
    if (!s.ok()) _exit(1);
    std::vector<std::thread> writers;
    for (int th = 0; th < 3; ++th) {
      writers.emplace_back([&, th] {
        for (uint32_t i = 0;; ++i) {
          Transaction t;
          std::string name = "o" + std::to_string(th * 4 + i % 4);
          t.write_full(kC, name, pattern(3 * kBs + i % 7, th * 100000 + i));
          if (!(*s)->submit(std::move(t)).ok()) _exit(2);
          std::string line = name + " " + std::to_string(th * 100000 + i) + " " +
                             std::to_string(3 * kBs + i % 7) + "\n";
          if (write(ack[1], line.data(), line.size()) < 0) _exit(3);
        }
      });
    }
    for (auto& w : writers) w.join();
    _exit(0);
  }
  close(ack[1]);
  FILE* in = fdopen(ack[0], "r");
  // Last acknowledged content per object; a write acked before a later one
  // to the same object was submitted after it (one thread per object).
  std::map<std::string, std::pair<uint32_t, size_t>> acked;
  char name[64];
  unsigned seed = 0;
  size_t len = 0;
  int n = 0;
  for (; n < 300 && fscanf(in, "%63s %u %zu", name, &seed, &len) == 3; ++n) {
    acked[name] = {seed, len};
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  while (fscanf(in, "%63s %u %zu", name, &seed, &len) == 3) acked[name] = {seed, len};
  fclose(in);
  ASSERT_EQ(n, 300) << "the writer died early, status " << status;

  reopen();
  std::vector<std::string> names;
  for (const auto& [obj, content] : acked) {
    names.push_back(obj);
    // The last acked write, or one submitted after it that committed before the kill.
    std::string got = read_all(kC, obj);
    bool ok = got == pattern(content.second, content.first);
    for (uint32_t later = content.first + 1; !ok && later < content.first + 64; ++later) {
      if (later % 4 == content.first % 4) ok = got == pattern(3 * kBs + (later % 100000) % 7, later);
    }
    EXPECT_TRUE(ok) << obj;
  }
  expect_files_exactly_referenced(names);
}

TEST(TransactionTest, EncodeDecodeRoundTrip) {
  Transaction t;
  t.touch(kC, "a");
  t.write(kC, "a", 5, "data");
  t.write_full(kOther, "b", "full");
  t.truncate(kC, "a", 3);
  t.remove(kC, "z");
  t.setxattr(kC, "a", "k", "v");
  t.rmxattr(kC, "a", "k2");
  t.omap_set(kC, "a", {{"x", "1"}, {"y", "2"}});
  t.omap_rm(kC, "a", {"x"});
  t.omap_clear(kC, "b");
  t.set_version(kC, "a", 11, 12);
  t.meta_put(kC, "m", "mv");
  t.meta_rm(kC, "m2");
  t.remove_collection(kOther);
  std::string buf;
  Encoder e(&buf);
  t.encode(e);
  Decoder d(buf);
  auto back = Transaction::decode(d);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_TRUE(d.done());
  ASSERT_EQ(back->ops().size(), t.ops().size());
  EXPECT_EQ(back->bytes(), t.bytes());
  std::string again;
  Encoder e2(&again);
  back->encode(e2);
  EXPECT_EQ(again, buf);
  for (size_t cut = 0; cut < buf.size(); cut += 7) {
    Decoder dc(std::string_view(buf).substr(0, cut));
    EXPECT_FALSE(Transaction::decode(dc).ok()) << cut;
  }
  std::string bad = buf;
  bad[4] = 99;  // first op type
  Decoder db(bad);
  EXPECT_TRUE(Transaction::decode(db).status().is(Code::kCorruption));
}

}  // namespace
}  // namespace cairn::osd
