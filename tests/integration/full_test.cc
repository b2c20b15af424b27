// Running out of disk: OSD data on small real filesystems (a loop-mounted
// ext4 image per OSD, or tmpfs where loop devices are unavailable). Writes
// must fail cleanly with ENOSPC, acked data must stay intact on every
// replica, reads and deletes must keep working, and freeing space must bring
// the cluster back to HEALTH_OK.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <thread>

#include "common/crc32c.h"
#include "tests/integration/test_cluster.h"

namespace cairn::test {
namespace {

using namespace std::chrono_literals;

// Small filesystems under their own temp directory, so that the cluster
// directory (which links to them) is removed without crossing a mount.
class SmallDisks {
 public:
  SmallDisks() {
    char tmpl[] = "/tmp/cairn-disks-XXXXXX";
    if (const char* d = mkdtemp(tmpl)) root_ = d;
  }
  ~SmallDisks() {
    for (const auto& m : mounts_) {
      // Lazy as a fallback: a daemon that outlived `cairn down` must not
      // leave the mount (and its loop device) behind.
      if (run("umount " + m).exit_code != 0) run("umount -l " + m);
    }
    if (!root_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(root_, ec);
    }
  }

  // Mounts a fresh filesystem of size_mb as ROOT/name. Empty on success,
  // else why it could not.
  std::string make(const std::string& name, int size_mb) {
    if (root_.empty()) return "mkdtemp failed";
    if (geteuid() != 0) return "mounting needs root";
    std::string mnt = root_ + "/" + name;
    std::string img = root_ + "/" + name + ".img";
    std::filesystem::create_directories(mnt);
    std::string size = std::to_string(size_mb) + "M";
    // -m 0: no blocks reserved for root (the OSD runs as root and would use them).
    CmdResult r = run("truncate -s " + size + " " + img + " && mkfs.ext4 -q -F -m 0 " + img +
                      " && mount -o loop " + img + " " + mnt);
    if (r.exit_code == 0) {
      mounts_.push_back(mnt);
      return "";
    }
    std::string loop_error = r.out;
    r = run("mount -t tmpfs -o size=" + size + " tmpfs " + mnt);
    if (r.exit_code == 0) {
      mounts_.push_back(mnt);
      return "";
    }
    return "loop mount failed (" + loop_error + "), tmpfs failed (" + r.out + ")";
  }
  std::string path(const std::string& name) const { return root_ + "/" + name; }

 private:
  std::string root_;
  std::vector<std::string> mounts_;
};

std::string content(const std::string& name, size_t size) {
  std::string s = name + ":";
  s.reserve(size);
  uint32_t x = crc32c(name);
  while (s.size() < size) {
    x = x * 1103515245 + 12345;  // not compressible, unlike a repeated pattern
    s.push_back(static_cast<char>(x >> 16));
  }
  return s;
}

// Every object reads back identical from each OSD of its up set.
void expect_on_every_replica(client::Client& c, const std::map<std::string, std::string>& objects) {
  size_t bad = 0;
  for (const auto& [name, data] : objects) {
    auto loc = c.locate("p", name);
    ASSERT_TRUE(loc.ok()) << loc.status().to_string();
    EXPECT_EQ(loc->up.size(), 3u) << name;
    for (OsdId osd : loc->up) {
      auto copy = c.read_from_osd("p", name, osd);
      if ((!copy.ok() || copy->data != data) && ++bad < 5) {
        ADD_FAILURE() << name << " on osd." << osd << ": "
                      << (copy.ok() ? "content differs" : copy.status().to_string());
      }
    }
  }
  EXPECT_EQ(bad, 0u) << "of " << objects.size() << " objects";
}

nlohmann::json status_json(TestCluster& cluster) {
  return nlohmann::json::parse(cluster.ctl("status --format json").out, nullptr, false);
}

bool has_check(const nlohmann::json& st, const std::string& code) {
  if (st.is_discarded()) return false;
  for (const auto& c : st["health"]["checks"]) {
    if (c.value("code", "") == code) return true;
  }
  return false;
}

TEST(DiskFull, WritesFailCleanlyDeletesFreeSpaceAndTheClusterRecovers) {
  constexpr int kOsds = 3;
  constexpr int kDiskMb = 256;
  SmallDisks disks;
  for (int i = 0; i < kOsds; ++i) {
    std::string why = disks.make("osd." + std::to_string(i), kDiskMb);
    if (!why.empty()) GTEST_SKIP() << "no small filesystem for the OSDs: " << why;
  }
  // More than a data memtable (64 MiB): its flush writes a blob file while the
  // WAL that held it is still on disk, and RocksDB aborts on a real ENOSPC.
  ScopedEnv reserve("CAIRN_OSD_FULL_RESERVE_MB", "112");
  auto cluster = TestCluster::start(3, kOsds, "", [&](const std::string& dir) {
    std::error_code ec;
    for (int i = 0; i < kOsds; ++i) {
      std::string name = "osd." + std::to_string(i);
      std::filesystem::create_directory_symlink(disks.path(name), dir + "/" + name, ec);
      if (ec) return false;
    }
    return true;
  });
  ASSERT_TRUE(cluster);
  ASSERT_EQ(cluster->ctl("pool create p --size 3 --pg 8").exit_code, 0);
  auto c = cluster->client();
  ASSERT_TRUE(c);

  // Fill: every OSD holds every object (3 OSDs, size 3).
  constexpr size_t kObjectSize = 1 << 20;
  std::map<std::string, std::string> acked;
  Status refused;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) {
    std::string name = "fill-" + std::to_string(i);
    std::string data = content(name, kObjectSize);
    Status st = c->put("p", name, data);
    if (!st.ok()) {
      refused = st;
      break;
    }
    acked[name] = std::move(data);
  }
  double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%zu objects of %zu bytes acked in %.1f s before: %s\n", acked.size(), kObjectSize,
              fill_s, refused.to_string().c_str());
  ASSERT_FALSE(refused.ok()) << "1000 MiB fit on " << kDiskMb << " MiB disks";
  EXPECT_TRUE(refused.is(Code::kNoSpace)) << refused.to_string();
  EXPECT_GT(acked.size(), 20u);  // the disks really took data first
  // Refusing is a state, not a hiccup: the next write is refused too.
  Status again = c->put("p", "one-more", content("one-more", kObjectSize));
  EXPECT_TRUE(again.is(Code::kNoSpace)) << again.to_string();

  // Every acked object is intact on every replica.
  expect_on_every_replica(*c, acked);

  // The operator sees why: OSD_FULL, HEALTH_ERR.
  nlohmann::json st;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    st = status_json(*cluster);
    if (has_check(st, "OSD_FULL")) break;
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_TRUE(has_check(st, "OSD_FULL")) << cluster->ctl("status").out;
  EXPECT_EQ(st["health"]["status"], "HEALTH_ERR") << st.dump();
  CmdResult put = run("echo x | " + bin("cairnctl") + " -c " + cluster->conf() + " obj put p from-cli -");
  EXPECT_EQ(put.exit_code, 8) << put.out;  // cairnctl's exit code for ENOSPC

  // Reads and deletes keep working while full.
  for (auto it = acked.begin(); it != acked.end();) {
    auto got = c->get("p", it->first);
    ASSERT_TRUE(got.ok()) << it->first << ": " << got.status().to_string();
    EXPECT_TRUE(*got == it->second) << it->first;
    Status rm = c->remove("p", it->first);
    ASSERT_TRUE(rm.ok()) << "delete of " << it->first << " while full: " << rm.to_string();
    EXPECT_TRUE(c->get("p", it->first).status().is(Code::kNotFound));
    it = acked.erase(it);
    if (it != acked.end()) ++it;  // keep every other object
  }

  // The freed space is reclaimed and writes are accepted again.
  Status st_after;
  start = std::chrono::steady_clock::now();
  deadline = start + 45s;
  while (std::chrono::steady_clock::now() < deadline) {
    st_after = c->put("p", "after", content("after", kObjectSize));
    if (st_after.ok()) break;
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_TRUE(st_after.ok()) << "writes still refused after deleting half: " << st_after.to_string()
                             << "\n" << run("df -m " + disks.path("osd.0")).out;
  std::printf("writes accepted again %.1f s after the deletes\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  acked["after"] = content("after", kObjectSize);

  // And the cluster is healthy again, with every remaining object intact.
  deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    st = status_json(*cluster);
    if (!st.is_discarded() && st["health"]["status"] == "HEALTH_OK") break;
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_EQ(st["health"]["status"], "HEALTH_OK") << cluster->ctl("status").out;
  expect_on_every_replica(*c, acked);
  // Nothing the deletes or the compaction behind them touched is damaged.
  auto pgs = nlohmann::json::parse(cluster->ctl("pg ls --format json").out, nullptr, false);
  ASSERT_FALSE(pgs.is_discarded());
  for (const auto& pg : pgs) {
    std::string id = pg["pgid"];
    CmdResult scrub = cluster->ctl("pg deep-scrub " + id + " --format json");
    ASSERT_EQ(scrub.exit_code, 0) << scrub.out;
    EXPECT_EQ(nlohmann::json::parse(scrub.out)["inconsistent"].size(), 0u) << scrub.out;
  }
}

}  // namespace
}  // namespace cairn::test
