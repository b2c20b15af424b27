// Self-healing: lost OSDs, returning OSDs, added capacity. Real daemons,
// faults by kill -9, every acked object checked replica by replica.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "common/crc32c.h"
#include "common/http_server.h"
#include "common/placement.h"
#include "tests/integration/test_cluster.h"

namespace cairn::test {
namespace {

using namespace std::chrono_literals;

std::string content(const std::string& name, int gen = 0) {
  std::string s = name + "#" + std::to_string(gen) + ":";
  while (s.size() < 3000 + (crc32c(name) % 40000)) s += s;
  return s;
}

// Writes objects in a loop from its own thread; remembers the acked ones.
class Writer {
 public:
  Writer(client::Client& c, std::string pool, std::string prefix) : c_(c), pool_(pool), prefix_(prefix) {
    t_ = std::thread([this] {
      for (int i = 0; !stop_; ++i) {
        std::string name = prefix_ + std::to_string(i);
        std::string data = content(name);
        Status st = c_.put(pool_, name, data);
        std::lock_guard l(mu_);
        if (st.ok()) acked_[name] = std::move(data);
        else errors_.push_back(st.to_string());
      }
    });
  }
  ~Writer() { stop(); }
  void stop() {
    stop_ = true;
    if (t_.joinable()) t_.join();
  }
  size_t acked() {
    std::lock_guard l(mu_);
    return acked_.size();
  }
  void wait_for(size_t n, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (acked() < n && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
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

// Every object must have `size` copies on distinct, up OSDs, each identical.
void expect_fully_replicated(client::Client& c, const std::string& pool,
                             const std::map<std::string, std::string>& objects, size_t size) {
  size_t bad = 0;
  for (const auto& [name, data] : objects) {
    auto loc = c.locate(pool, name);
    ASSERT_TRUE(loc.ok());
    std::set<OsdId> distinct(loc->up.begin(), loc->up.end());
    if (loc->up.size() != size || distinct.size() != size) {
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

uint64_t sum_metric(TestCluster& cluster, const std::string& metric) {
  uint64_t total = 0;
  nlohmann::json j = cluster.cluster_json();  // the loop must not range over a temporary
  for (const auto& osd : j["osds"]) {
    std::string addr = osd["http"].get<std::string>();
    auto r = http_get(addr, "/metrics", 2000);
    if (!r.ok()) {
      ADD_FAILURE() << "metrics of " << addr << ": " << r.status().to_string();
      continue;
    }
    std::istringstream in(r->body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(metric + " ", 0) == 0) total += std::stoull(line.substr(metric.size() + 1));
    }
  }
  return total;
}

TEST(SelfHealing, LostOsdIsReplacedAndEveryObjectHasThreeCopiesAgain) {
  auto cluster = TestCluster::start(3, 4);
  ASSERT_TRUE(cluster);
  ASSERT_EQ(cluster->ctl("pool create p --size 3 --pg 32").exit_code, 0);
  auto c = cluster->client();
  ASSERT_TRUE(c);
  Writer w(*c, "p", "w-");
  w.wait_for(100, 30s);
  cluster->kill9("osd.1");
  size_t at_kill = w.acked();
  w.wait_for(at_kill + 100, 60s);
  EXPECT_GE(w.acked(), at_kill + 100) << "writes did not continue after osd.1 died";
  // Out: placement moves osd.1's share to osd.3 (or others) and backfill copies it.
  CmdResult out = cluster->ctl("osd out 1");
  ASSERT_EQ(out.exit_code, 0) << out.out;
  size_t at_out = w.acked();
  w.wait_for(at_out + 100, 60s);
  w.stop();
  EXPECT_TRUE(w.errors_.empty()) << w.errors_.front();
  EXPECT_TRUE(cluster->wait_clean(120s)) << cluster->ctl("status").out;
  expect_fully_replicated(*c, "p", w.acked_, 3);
  for (const auto& [name, data] : w.acked_) {
    auto loc = c->locate("p", name);
    ASSERT_TRUE(std::find(loc->up.begin(), loc->up.end(), 1) == loc->up.end());
  }
}

TEST(SelfHealing, ReturningOsdGetsOnlyWhatItMissed) {
  auto cluster = TestCluster::start(3, 3);
  ASSERT_TRUE(cluster);
  ASSERT_EQ(cluster->ctl("pool create p --size 3 --pg 16").exit_code, 0);
  auto c = cluster->client();
  ASSERT_TRUE(c);
  std::map<std::string, std::string> objects;
  for (int i = 0; i < 200; ++i) {
    std::string name = "before-" + std::to_string(i);
    objects[name] = content(name);
    ASSERT_TRUE(c->put("p", name, objects[name]).ok());
  }
  ASSERT_TRUE(cluster->wait_clean(30s));
  uint64_t recovered_before = sum_metric(*cluster, "cairn_osd_recovered_objects_total");
  cluster->kill9("osd.2");
  ASSERT_EQ(cluster->ctl("osd down 2").exit_code, 0);
  // While osd.2 is away: 50 new objects, 10 overwritten, 5 deleted.
  for (int i = 0; i < 50; ++i) {
    std::string name = "during-" + std::to_string(i);
    objects[name] = content(name);
    ASSERT_TRUE(c->put("p", name, objects[name]).ok()) << name;
  }
  for (int i = 0; i < 10; ++i) {
    std::string name = "before-" + std::to_string(i);
    objects[name] = content(name, 1);
    ASSERT_TRUE(c->put("p", name, objects[name]).ok());
  }
  for (int i = 10; i < 15; ++i) {
    std::string name = "before-" + std::to_string(i);
    objects.erase(name);
    ASSERT_TRUE(c->remove("p", name).ok());
  }
  cluster->start_daemon("osd.2");
  ASSERT_TRUE(cluster->wait_osds_up(*c, 3, 60s));
  ASSERT_TRUE(cluster->wait_clean(60s)) << cluster->ctl("status").out;
  // Exactly the 60 changed objects and the 5 removals moved: 65, not 245.
  uint64_t moved = sum_metric(*cluster, "cairn_osd_recovered_objects_total") - recovered_before;
  EXPECT_EQ(moved, 65u);
  expect_fully_replicated(*c, "p", objects, 3);
  for (int i = 10; i < 15; ++i) {
    EXPECT_TRUE(c->read_from_osd("p", "before-" + std::to_string(i), 2).status().is(Code::kNotFound));
  }
}

TEST(SelfHealing, AddedOsdTakesItsShareAndDataStaysReadable) {
  auto cluster = TestCluster::start(3, 4);
  ASSERT_TRUE(cluster);
  ASSERT_EQ(cluster->ctl("pool create p --size 3 --pg 64").exit_code, 0);
  auto c = cluster->client();
  ASSERT_TRUE(c);
  std::map<std::string, std::string> objects;
  for (int i = 0; i < 300; ++i) {
    std::string name = "obj-" + std::to_string(i);
    objects[name] = content(name);
    ASSERT_TRUE(c->put("p", name, objects[name]).ok());
  }
  ClusterMap before = c->map();
  // Readers keep reading while the fifth OSD joins and backfills.
  std::atomic<bool> stop{false};
  std::atomic<int> read_errors{0}, reads{0};
  std::thread reader([&] {
    while (!stop) {
      for (const auto& [name, data] : objects) {
        if (stop) break;
        auto got = c->get("p", name);
        ++reads;
        if (!got.ok() || *got != data) ++read_errors;
      }
    }
  });
  CmdResult up = run(bin("cairn") + " up --dir " + cluster->dir() + " --osds 5");
  ASSERT_EQ(up.exit_code, 0) << up.out;
  EXPECT_TRUE(cluster->wait_clean(120s)) << cluster->ctl("status").out;
  stop = true;
  reader.join();
  EXPECT_EQ(read_errors.load(), 0) << "of " << reads.load() << " reads during rebalancing";
  EXPECT_GT(reads.load(), 0);

  // The moved share is close to ideal: about 1/5 of replica slots.
  ClusterMap after = c->map();
  const PoolInfo* pool = after.find_pool("p");
  int moved = 0, slots = 0, to_new = 0;
  for (uint32_t seed = 0; seed < pool->pg_num; ++seed) {
    auto a = pg_to_up_osds(before, *before.find_pool("p"), PgId{pool->id, seed});
    auto b = pg_to_up_osds(after, *pool, PgId{pool->id, seed});
    for (OsdId o : b) {
      ++slots;
      if (std::find(a.begin(), a.end(), o) == a.end()) {
        ++moved;
        to_new += o == 4;
      }
    }
  }
  double share = static_cast<double>(moved) / slots;
  std::printf("moved %d of %d replica slots (%.1f%%; ideal 20%%), %d to osd.4\n", moved, slots,
              share * 100, to_new);
  EXPECT_GT(share, 0.10);
  EXPECT_LT(share, 0.35);
  expect_fully_replicated(*c, "p", objects, 3);
}

TEST(SelfHealing, TwoFailuresInSequenceWithRecoveryBetween) {
  auto cluster = TestCluster::start(3, 5);
  ASSERT_TRUE(cluster);
  ASSERT_EQ(cluster->ctl("pool create p --size 3 --pg 32").exit_code, 0);
  auto c = cluster->client();
  ASSERT_TRUE(c);
  Writer w(*c, "p", "seq-");
  w.wait_for(100, 30s);
  for (const char* victim : {"3", "0"}) {
    cluster->kill9(std::string("osd.") + victim);
    ASSERT_EQ(cluster->ctl(std::string("osd out ") + victim).exit_code, 0);
    size_t n = w.acked();
    w.wait_for(n + 50, 60s);
    EXPECT_TRUE(cluster->wait_clean(120s)) << "after losing osd." << victim << "\n"
                                           << cluster->ctl("status").out;
  }
  w.stop();
  EXPECT_TRUE(w.errors_.empty()) << w.errors_.front();
  expect_fully_replicated(*c, "p", w.acked_, 3);
}

TEST(SelfHealing, PrimaryKilledMidWriteNeitherTearsNorDuplicates) {
  auto cluster = TestCluster::start(3, 4);
  ASSERT_TRUE(cluster);
  ASSERT_EQ(cluster->ctl("pool create p --size 3 --pg 16").exit_code, 0);
  auto c = cluster->client();
  ASSERT_TRUE(c);
  auto loc = c->locate("p", "log");
  ASSERT_TRUE(loc.ok());
  OsdId primary = loc->up[0];
  // One writer appends numbered records to "log"; another rewrites "whole"
  // with one of two 1 MiB contents.
  std::atomic<bool> stop{false};
  std::atomic<int> appended{0}, rewrites{0};
  std::vector<std::string> errors;
  std::mutex mu;
  const std::string a(1 << 20, 'a'), b(1 << 20, 'b');
  std::thread appender([&] {
    for (int i = 0; !stop; ++i) {
      char rec[32];
      std::snprintf(rec, sizeof rec, "rec-%06d\n", i);
      Status st = c->append("p", "log", rec);
      if (!st.ok()) {
        std::lock_guard l(mu);
        errors.push_back(st.to_string());
        return;
      }
      ++appended;
    }
  });
  std::thread rewriter([&] {
    for (int i = 0; !stop; ++i) {
      if (!c->put("p", "whole", i % 2 ? a : b).ok()) return;
      ++rewrites;
    }
  });
  while (appended < 100) std::this_thread::sleep_for(10ms);
  cluster->kill9("osd." + std::to_string(primary));
  int at_kill = appended;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (appended < at_kill + 100 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  stop = true;
  appender.join();
  rewriter.join();
  ASSERT_TRUE(errors.empty()) << errors.front();
  EXPECT_GE(appended.load(), at_kill + 100);
  // Every acked append is there exactly once, in order.
  auto log = c->get("p", "log");
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  std::string want;
  for (int i = 0; i < appended; ++i) {
    char rec[32];
    std::snprintf(rec, sizeof rec, "rec-%06d\n", i);
    want += rec;
  }
  EXPECT_EQ(log->size(), want.size());
  EXPECT_TRUE(*log == want) << "the append log has duplicates or gaps";
  auto whole = c->get("p", "whole");
  ASSERT_TRUE(whole.ok());
  EXPECT_TRUE(*whole == a || *whole == b) << "a 1 MiB write_full was torn";
}

TEST(SelfHealing, DeepScrubFindsAndRepairsACorruptReplica) {
  auto cluster = TestCluster::start(3, 3);
  ASSERT_TRUE(cluster);
  ASSERT_EQ(cluster->ctl("pool create p --size 3 --pg 8").exit_code, 0);
  auto c = cluster->client();
  ASSERT_TRUE(c);
  const std::string marker = "<<cairn-scrub-marker-7f3a9c>>";
  std::string data = marked_object_data(marker);
  ASSERT_TRUE(c->put("p", "victim", data).ok());
  ASSERT_TRUE(c->put("p", "bystander", "fine").ok());
  auto loc = c->locate("p", "victim");
  ASSERT_TRUE(loc.ok());
  ASSERT_EQ(loc->up.size(), 3u);
  OsdId bad = loc->up[1];  // a replica, not the primary
  std::string name = "osd." + std::to_string(bad);

  // Corrupt its copy while it is stopped (a clean stop flushes to files).
  CmdResult stop = run(bin("cairn") + " stop --dir " + cluster->dir() + " " + name);
  ASSERT_EQ(stop.exit_code, 0) << stop.out;
  ASSERT_GT(corrupt_files(cluster->dir() + "/" + name, marker), 0);
  cluster->start_daemon(name);
  ASSERT_TRUE(cluster->wait_osds_up(*c, 3, 60s));
  ASSERT_TRUE(cluster->wait_clean(60s));

  // Client reads go to the primary and are never the corrupt bytes.
  EXPECT_EQ(*c->get("p", "victim"), data);
  auto from_bad = c->read_from_osd("p", "victim", bad);
  EXPECT_FALSE(from_bad.ok() && from_bad->data != data) << "corrupt bytes were returned";

  CmdResult scrub = cluster->ctl("pg deep-scrub " + loc->pg + " --format json");
  ASSERT_EQ(scrub.exit_code, 0) << scrub.out;
  auto j = nlohmann::json::parse(scrub.out);
  ASSERT_EQ(j["inconsistent"].size(), 1u) << scrub.out;
  EXPECT_EQ(j["inconsistent"][0]["object"], "victim");
  EXPECT_EQ(j["inconsistent"][0]["osd"], bad);

  CmdResult repair = cluster->ctl("pg repair " + loc->pg + " --format json");
  ASSERT_EQ(repair.exit_code, 0) << repair.out;
  EXPECT_EQ(nlohmann::json::parse(repair.out)["repaired"], 1) << repair.out;
  auto fixed = c->read_from_osd("p", "victim", bad);
  ASSERT_TRUE(fixed.ok()) << fixed.status().to_string();
  EXPECT_EQ(fixed->data, data);
  scrub = cluster->ctl("pg deep-scrub " + loc->pg + " --format json");
  EXPECT_EQ(nlohmann::json::parse(scrub.out)["inconsistent"].size(), 0u) << scrub.out;
}

}  // namespace
}  // namespace cairn::test
