#include "fs/fuse/write_back.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>

namespace cairn::fs {
namespace {

// The data objects, in memory; counts the stores and can fail one object.
struct FakeObjects {
  std::mutex mu;
  std::map<std::pair<Ino, uint64_t>, std::string> objects;
  std::atomic<int> stores{0};
  std::atomic<uint64_t> fail_objno{UINT64_MAX};
  std::atomic<bool> hold{false};  // stores wait while set

  int store(Ino ino, uint64_t objno, uint64_t in_obj, std::string data) {
    while (hold) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ++stores;
    if (objno == fail_objno) return EIO;
    std::lock_guard lock(mu);
    std::string& o = objects[{ino, objno}];
    if (o.size() < in_obj + data.size()) o.resize(in_obj + data.size(), '\0');
    o.replace(in_obj, data.size(), data);
    return 0;
  }
  // The store function a WriteBack gets.
  WriteBack::StoreFn fn() {
    return [this](Ino i, uint64_t objno, uint64_t at, std::string d) {
      return store(i, objno, at, std::move(d));
    };
  }
  std::string file(Ino ino, uint64_t size) {
    std::lock_guard lock(mu);
    std::string out(size, '\0');
    for (auto& [key, data] : objects) {
      if (key.first != ino) continue;
      uint64_t at = key.second * kObjectSize;
      if (at >= size) continue;
      out.replace(at, std::min<uint64_t>(data.size(), size - at), data.substr(0, size - at));
    }
    return out;
  }
};

std::string table_path() {
  return (std::filesystem::temp_directory_path() /
          ("write_back_test." + std::to_string(::getpid())))
      .string();
}

TEST(WriteBackTest, SmallSequentialWritesBecomeWholeObjectStores) {
  FakeObjects objs;
  UnstoredTable table;
  table.open(table_path());
  {
    WriteBack wb(objs.fn(), &table);
    std::string model;
    for (int i = 0; i < 3000; ++i) {  // 12 MiB in 4 KiB writes
      std::string block(4096, static_cast<char>('a' + i % 26));
      ASSERT_EQ(wb.write(7, model.size(), block), 0);
      model += block;
    }
    EXPECT_TRUE(wb.holds(7));
    ASSERT_EQ(wb.flush(7), 0);
    EXPECT_FALSE(wb.holds(7));
    EXPECT_EQ(wb.buffered_bytes(), 0u);
    EXPECT_EQ(objs.file(7, model.size()), model);
    EXPECT_LE(objs.stores.load(), 6) << "4 KiB writes were not merged into object writes";
  }
  std::filesystem::remove(table_path());
}

TEST(WriteBackTest, RandomWritesFromManyThreadsLandLikeAFile) {
  FakeObjects objs;
  UnstoredTable table;
  table.open(table_path());
  WriteBackOptions o;
  o.max_bytes = 3 << 20;  // small: writers wait for room
  o.max_age = std::chrono::milliseconds(5);
  WriteBack wb(objs.fn(), &table, o);
  constexpr uint64_t kSize = 10 << 20;
  std::vector<std::thread> writers;
  std::vector<std::string> models(4, std::string(kSize, '\0'));
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      for (int w = 0; w < 400; ++w) {
        uint64_t len = 1 + rng() % (300 << 10);
        uint64_t off = rng() % (kSize - len);
        std::string data(len, static_cast<char>('A' + rng() % 26));
        ASSERT_EQ(wb.write(100 + t, off, data), 0);  // one file per thread: no write races
        models[t].replace(off, len, data);
        if (w % 97 == 0) {
          ASSERT_EQ(wb.flush(100 + t), 0);
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  for (int t = 0; t < 4; ++t) {
    ASSERT_EQ(wb.flush(100 + t), 0);
    EXPECT_EQ(objs.file(100 + t, kSize), models[t]) << "file " << t;
  }
  std::filesystem::remove(table_path());
}

TEST(WriteBackTest, AStoreErrorIsReportedOnceByTheNextFlush) {
  FakeObjects objs;
  UnstoredTable table;
  table.open(table_path());
  WriteBack wb(objs.fn(), &table);
  objs.fail_objno = 1;
  ASSERT_EQ(wb.write(9, kObjectSize + 10, "lost"), 0);
  EXPECT_EQ(wb.flush(9), EIO);
  EXPECT_EQ(wb.flush(9), 0) << "an error is reported once";
  objs.fail_objno = UINT64_MAX;
  ASSERT_EQ(wb.write(9, 0, "kept"), 0);
  EXPECT_EQ(wb.flush(9), 0);
  EXPECT_EQ(objs.file(9, 4), "kept");
  std::filesystem::remove(table_path());
}

TEST(WriteBackTest, UnstoredFilesAreListedForASuccessor) {
  FakeObjects objs;
  std::string path = table_path();
  std::filesystem::remove(path);
  auto table = std::make_unique<UnstoredTable>();
  EXPECT_TRUE(table->open(path).empty());
  objs.hold = true;  // nothing gets stored: as if killed now
  auto wb = std::make_unique<WriteBack>(objs.fn(), table.get());
  ASSERT_EQ(wb->write(0x42, 0, "acknowledged, not stored"), 0);
  ASSERT_EQ(wb->write(0x43, 5, "also"), 0);
  {
    UnstoredTable successor;
    std::vector<Ino> left = successor.open(path);
    std::sort(left.begin(), left.end());
    EXPECT_EQ(left, (std::vector<Ino>{0x42, 0x43}));
  }
  objs.hold = false;
  // (The successor cleared the table; here the first daemon lives on.)
  ASSERT_EQ(wb->flush(0x42), 0);
  ASSERT_EQ(wb->flush(0x43), 0);
  wb.reset();
  table.reset();
  UnstoredTable after;
  EXPECT_TRUE(after.open(path).empty());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace cairn::fs
