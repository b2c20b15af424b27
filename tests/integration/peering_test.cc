// Peering across failures: past intervals keep a PG from going active on
// stale copies, and a backfill interrupted by kill -9 resumes to a complete,
// identical set of replicas. Real daemons on loopback.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/crc32c.h"
#include "tests/integration/test_cluster.h"

namespace cairn::test {
namespace {

// The writers' pause between puts (CAIRN_TEST_WRITER_PAUSE_MS). 1 ms keeps
// writes in flight through every map change (it found a write sent to the
// wrong pool's PG after a map change mid-op) while throttled backfill still
// catches up; 0 writes so much that backfill takes minutes.
int writer_pause_ms() {
  const char* v = getenv("CAIRN_TEST_WRITER_PAUSE_MS");
  return v ? atoi(v) : 1;
}

using namespace std::chrono_literals;

std::string content(const std::string& name, int gen = 0, size_t min_size = 2000) {
  std::string s = name + "#" + std::to_string(gen) + ":";
  while (s.size() < min_size + (crc32c(name) % 4000)) s += s;
  return s;
}

// Every object reads back identical from each OSD of its up set, and the
// up set has `size` distinct OSDs.
void expect_on_every_replica(client::Client& c, const std::string& pool,
                             const std::map<std::string, std::string>& objects, size_t size) {
  size_t bad = 0;
  for (const auto& [name, data] : objects) {
    auto loc = c.locate(pool, name);
    ASSERT_TRUE(loc.ok());
    std::set<OsdId> distinct(loc->up.begin(), loc->up.end());
    if (distinct.size() != size) {
      if (++bad < 5) ADD_FAILURE() << name << " placed on " << loc->up.size() << " OSDs";
      continue;
    }
    for (OsdId osd : loc->up) {
      auto copy = c.read_from_osd(pool, name, osd);
      if (!copy.ok() || copy->data != data) {
        if (++bad < 5) {
          ADD_FAILURE() << name << " on osd." << osd << ": "
                        << (copy.ok() ? "content differs" : copy.status().to_string());
        }
      }
    }
  }
  EXPECT_EQ(bad, 0u) << "of " << objects.size() << " objects";
}

// `pg ls` rows of pool `pool`, by PG id.
std::map<std::string, nlohmann::json> pg_rows(TestCluster& cluster) {
  std::map<std::string, nlohmann::json> rows;
  CmdResult r = cluster.ctl("pg ls --format json");
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return rows;
  for (const auto& row : j) rows[row["pgid"].get<std::string>()] = row;
  return rows;
}

bool osd_up(client::Client& c, OsdId id) {
  ClusterMap m = c.map();
  const OsdInfo* o = m.find_osd(id);
  return o && o->up;
}

// size 2, min_size 1, two OSDs. osd.0 dies; writes go on to osd.1 alone;
// osd.1 dies; osd.0 returns with stale copies. Without past intervals osd.0
// would go active alone and lose every write osd.1 acked. It must stay down
// (refusing reads and writes) until osd.1 is back, then serve everything.
TEST(Peering, StaleCopiesStayDownUntilTheOsdWithTheNewestWritesReturns) {
  auto cluster = TestCluster::start(3, 2);
  ASSERT_TRUE(cluster);
  CmdResult pool = cluster->ctl("pool create p --size 2 --min-size 1 --pg 8");
  ASSERT_EQ(pool.exit_code, 0) << pool.out;
  auto c = cluster->client();
  ASSERT_TRUE(c);
  std::map<std::string, std::string> objects;
  for (int i = 0; i < 40; ++i) {
    std::string name = "before-" + std::to_string(i);
    objects[name] = content(name);
    ASSERT_TRUE(c->put("p", name, objects[name]).ok()) << name;
  }
  ASSERT_TRUE(cluster->wait_clean(60s)) << cluster->ctl("status").out;

  cluster->kill9("osd.0");
  ASSERT_EQ(cluster->ctl("osd down 0").exit_code, 0);
  // Acked by osd.1 alone: 40 new objects, 10 overwritten, 5 removed.
  for (int i = 0; i < 40; ++i) {
    std::string name = "during-" + std::to_string(i);
    objects[name] = content(name);
    ASSERT_TRUE(c->put("p", name, objects[name]).ok()) << name;
  }
  for (int i = 0; i < 10; ++i) {
    std::string name = "before-" + std::to_string(i);
    objects[name] = content(name, 1);
    ASSERT_TRUE(c->put("p", name, objects[name]).ok()) << name;
  }
  std::vector<std::string> removed;
  for (int i = 10; i < 15; ++i) {
    std::string name = "before-" + std::to_string(i);
    objects.erase(name);
    removed.push_back(name);
    ASSERT_TRUE(c->remove("p", name).ok()) << name;
  }

  cluster->kill9("osd.1");
  ASSERT_EQ(cluster->ctl("osd down 1").exit_code, 0);
  cluster->start_daemon("osd.0");
  ASSERT_TRUE(cluster->wait_osds_up(*c, 1, 60s));
  ASSERT_TRUE(osd_up(*c, 0));

  // Every PG of the pool reports down, naming osd.1.
  ClusterMap map = c->map();
  const PoolInfo* info = map.find_pool("p");
  ASSERT_TRUE(info);
  const std::string prefix = std::to_string(info->id) + ".";
  std::map<std::string, nlohmann::json> rows;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  int down = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    rows = pg_rows(*cluster);
    down = 0;
    for (const auto& [pgid, row] : rows) {
      if (pgid.rfind(prefix, 0) != 0) continue;
      if (row.value("state", "") == "down" && row.contains("blocked_by") &&
          row["blocked_by"] == nlohmann::json::array({1})) {
        ++down;
      }
    }
    if (down == 8) break;
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_EQ(down, 8) << cluster->ctl("pg ls").out;
  CmdResult status = cluster->ctl("status");
  EXPECT_NE(status.out.find("HEALTH_ERR"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("pgs inactive"), std::string::npos) << status.out;

  // Nothing is served from the stale copies: neither old contents, nor
  // "not found" for objects osd.1 created, nor writes on top of them.
  auto quick = cluster->client(3s);
  ASSERT_TRUE(quick);
  for (const std::string name : {"during-0", "during-7", "before-0", "before-3", "before-11", "before-30"}) {
    auto got = quick->get("p", name);
    EXPECT_FALSE(got.ok()) << name << " was served while its PG is down";
    if (!got.ok()) {
      EXPECT_FALSE(got.status().is(Code::kNotFound)) << name << ": " << got.status().to_string();
    }
  }
  EXPECT_FALSE(quick->put("p", "during-0", "stale primary write").ok());

  // osd.1 returns: every acked write is there, on both OSDs.
  cluster->start_daemon("osd.1");
  ASSERT_TRUE(cluster->wait_osds_up(*c, 2, 60s));
  ASSERT_TRUE(cluster->wait_clean(120s)) << cluster->ctl("pg ls").out;
  for (const auto& [name, data] : objects) {
    auto got = c->get("p", name);
    ASSERT_TRUE(got.ok()) << name << ": " << got.status().to_string();
    EXPECT_TRUE(*got == data) << name << " lost an acked write";
  }
  for (const auto& name : removed) {
    EXPECT_TRUE(c->get("p", name).status().is(Code::kNotFound)) << name << " came back";
  }
  expect_on_every_replica(*c, "p", objects, 2);
}

// Writes in a loop from its own thread; remembers the acked ones.
class Writer {
 public:
  Writer(client::Client& c, std::string pool, std::string prefix)
      : c_(c), pool_(std::move(pool)), prefix_(std::move(prefix)) {
    t_ = std::thread([this] {
      for (int i = 0; !stop_; ++i) {
        std::string name = prefix_ + std::to_string(i);
        std::string data = content(name);
        Status st = c_.put(pool_, name, data);
        {
          std::lock_guard l(mu_);
          if (st.ok()) acked_[name] = std::move(data);
          else errors_.push_back(st.to_string());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(writer_pause_ms()));
      }
    });
  }
  ~Writer() { stop(); }
  void stop() {
    stop_ = true;
    if (t_.joinable()) t_.join();
  }
  std::map<std::string, std::string> acked_;
  std::vector<std::string> errors_;

 private:
  client::Client& c_;
  std::string pool_, prefix_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::thread t_;
};

// The primary (the source) of some PG that reports backfilling, or -1 after
// timeout. Sets *progress if `status` showed recovery progress meanwhile.
OsdId wait_backfilling(TestCluster& cluster, std::chrono::seconds timeout, bool* progress) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    CmdResult r = cluster.ctl("status --format json");
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("recovery") &&
        j["recovery"].contains("eta_seconds")) {
      *progress = true;
    }
    for (const auto& [pgid, row] : pg_rows(cluster)) {
      if (row.value("state", "").find("backfilling") != std::string::npos && !row["up"].empty()) {
        return row["up"][0].get<OsdId>();
      }
    }
    std::this_thread::sleep_for(100ms);
  }
  return -1;
}

// A backfill to a new OSD is cut short by kill -9 of its target, then (to
// another new OSD) of a source. After restarts the cluster is clean and
// every acked object is identical on every replica: no holes, nothing stale.
TEST(Peering, BackfillInterruptedByKillResumesToCompleteReplicas) {
  // One recovery batch (<= 64 objects) at a time with a pause after each:
  // backfill takes seconds, so the kills land in the middle of it.
  setenv("CAIRN_OSD_RECOVERY_MAX_ACTIVE", "1", 1);
  setenv("CAIRN_OSD_RECOVERY_SLEEP_MS", "1000", 1);
  setenv("CAIRN_OSD_RECOVERY_SLEEP_IDLE_MS", "1000", 1);
  struct Unset {
    ~Unset() {
      unsetenv("CAIRN_OSD_RECOVERY_MAX_ACTIVE");
      unsetenv("CAIRN_OSD_RECOVERY_SLEEP_MS");
      unsetenv("CAIRN_OSD_RECOVERY_SLEEP_IDLE_MS");
    }
  } unset;
  auto cluster = TestCluster::start(3, 3);
  ASSERT_TRUE(cluster);
  CmdResult pool = cluster->ctl("pool create p --size 2 --min-size 1 --pg 16");
  ASSERT_EQ(pool.exit_code, 0) << pool.out;
  auto c = cluster->client();
  ASSERT_TRUE(c);
  // Enough objects that each new OSD's share takes several batches.
  std::map<std::string, std::string> objects;
  for (int i = 0; i < 2000; ++i) {
    std::string name = "bulk-" + std::to_string(i);
    objects[name] = content(name, 0, 8 << 10);
    ASSERT_TRUE(c->put("p", name, objects[name]).ok()) << name;
  }
  ASSERT_TRUE(cluster->wait_clean(60s)) << cluster->ctl("status").out;
  Writer w(*c, "p", "live-");

  // 1. Kill the target mid-backfill.
  CmdResult up = run(bin("cairn") + " up --dir " + cluster->dir() + " --osds 4");
  ASSERT_EQ(up.exit_code, 0) << up.out;
  bool progress = false;
  ASSERT_GE(wait_backfilling(*cluster, 60s, &progress), 0) << cluster->ctl("pg ls").out;
  cluster->kill9("osd.3");
  ASSERT_EQ(cluster->ctl("osd down 3").exit_code, 0);
  std::this_thread::sleep_for(2s);
  cluster->start_daemon("osd.3");
  ASSERT_TRUE(cluster->wait_osds_up(*c, 4, 60s));
  (void)wait_backfilling(*cluster, 5s, &progress);  // sample status while it catches up
  EXPECT_TRUE(cluster->wait_clean(180s)) << cluster->ctl("pg ls").out;

  // 2. Kill the source (primary) of a PG backfilling to another new OSD.
  // With size 2 the target alone has only part of the data: the PG must wait
  // for the source (past intervals) rather than serve from it.
  up = run(bin("cairn") + " up --dir " + cluster->dir() + " --osds 5");
  ASSERT_EQ(up.exit_code, 0) << up.out;
  OsdId source = wait_backfilling(*cluster, 60s, &progress);
  ASSERT_GE(source, 0) << cluster->ctl("pg ls").out;
  std::string victim = "osd." + std::to_string(source);
  cluster->kill9(victim);
  ASSERT_EQ(cluster->ctl("osd down " + std::to_string(source)).exit_code, 0);
  std::this_thread::sleep_for(2s);
  cluster->start_daemon(victim);
  ASSERT_TRUE(cluster->wait_osds_up(*c, 5, 60s));
  EXPECT_TRUE(cluster->wait_clean(180s)) << cluster->ctl("pg ls").out;

  EXPECT_TRUE(progress) << "status never showed recovery progress";
  w.stop();
  EXPECT_TRUE(w.errors_.empty()) << w.errors_.front();
  EXPECT_GT(w.acked_.size(), 0u);
  for (const auto& [name, data] : w.acked_) objects[name] = data;
  expect_on_every_replica(*c, "p", objects, 2);
}

}  // namespace
}  // namespace cairn::test
