// Scheduled scrubs: with short intervals the OSDs scrub and deep-scrub every
// PG by themselves, a corrupt replica is reported without anyone asking, and
// the stamps survive restarts.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <map>
#include <thread>

#include "tests/integration/test_cluster.h"

namespace cairn::test {
namespace {

using namespace std::chrono_literals;

struct Stamps {
  uint64_t scrub = 0;
  uint64_t deep = 0;
  std::string state;
};

// pgid -> stamps and state, as `cairnctl pg ls` shows them.
std::map<std::string, Stamps> pg_stamps(TestCluster& cluster) {
  std::map<std::string, Stamps> out;
  auto j = nlohmann::json::parse(cluster.ctl("pg ls --format json").out, nullptr, false);
  if (j.is_discarded()) return out;
  for (const auto& pg : j) {
    out[pg["pgid"]] = Stamps{pg.value("last_scrub_ms", uint64_t{0}),
                             pg.value("last_deep_scrub_ms", uint64_t{0}), pg.value("state", "")};
  }
  return out;
}

// Waits until pred holds for every PG (and there are some), up to timeout.
template <typename Pred>
bool wait_all(TestCluster& cluster, std::chrono::seconds timeout, Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto pgs = pg_stamps(cluster);
    bool all = !pgs.empty();
    for (const auto& [id, s] : pgs) all = all && pred(id, s);
    if (all) return true;
    std::this_thread::sleep_for(500ms);
  }
  return false;
}

std::string dump(TestCluster& cluster) { return cluster.ctl("pg ls").out; }

TEST(ScheduledScrub, PgsAreScrubbedWithoutACommandAndCorruptionIsReported) {
  ScopedEnv scrub("CAIRN_OSD_SCRUB_INTERVAL_S", "2");
  ScopedEnv deep("CAIRN_OSD_DEEP_SCRUB_INTERVAL_S", "4");
  auto cluster = TestCluster::start(3, 3);
  ASSERT_TRUE(cluster);
  ASSERT_EQ(cluster->ctl("pool create p --size 3 --pg 8").exit_code, 0);
  auto c = cluster->client();
  ASSERT_TRUE(c);
  const std::string marker = "<<cairn-scheduled-scrub-marker-51c2>>";
  std::string data = marked_object_data(marker);
  ASSERT_TRUE(c->put("p", "victim", data).ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c->put("p", "o" + std::to_string(i), "x").ok());

  // A new PG's schedule starts when its primary first sees it...
  ASSERT_TRUE(wait_all(*cluster, 20s, [](const std::string&, const Stamps& s) {
    return s.scrub > 0 && s.deep > 0;
  })) << dump(*cluster);
  auto first = pg_stamps(*cluster);
  // ...and both kinds then advance on their own, every PG.
  EXPECT_TRUE(wait_all(*cluster, 30s, [&](const std::string& id, const Stamps& s) {
    return s.scrub > first[id].scrub && s.deep > first[id].deep;
  })) << dump(*cluster);
  auto later = pg_stamps(*cluster);
  for (const auto& [id, s] : later) {
    EXPECT_GE(s.scrub, s.deep) << id << ": a deep scrub is a scrub too";
    EXPECT_EQ(s.state, "active+clean") << id;
  }
  CmdResult query = cluster->ctl("pg query " + later.begin()->first + " --format json");
  ASSERT_EQ(query.exit_code, 0) << query.out;
  auto q = nlohmann::json::parse(query.out);
  EXPECT_TRUE(q["last_scrub"].is_string()) << query.out;
  EXPECT_TRUE(q["last_deep_scrub"].is_string()) << query.out;

  // Corrupt one replica of "victim" while its OSD is stopped.
  auto loc = c->locate("p", "victim");
  ASSERT_TRUE(loc.ok());
  OsdId bad = loc->up[1];
  std::string name = "osd." + std::to_string(bad);
  CmdResult stop = run(bin("cairn") + " stop --dir " + cluster->dir() + " " + name);
  ASSERT_EQ(stop.exit_code, 0) << stop.out;
  ASSERT_GT(corrupt_files(cluster->dir() + "/" + name, marker), 0);
  cluster->start_daemon(name);
  ASSERT_TRUE(cluster->wait_osds_up(*c, 3, 60s));

  // No command: the next scheduled deep scrub finds it.
  auto deadline = std::chrono::steady_clock::now() + 40s;
  bool reported = false;
  nlohmann::json st;
  while (!reported && std::chrono::steady_clock::now() < deadline) {
    st = nlohmann::json::parse(cluster->ctl("status --format json").out, nullptr, false);
    if (!st.is_discarded()) {
      for (const auto& check : st["health"]["checks"]) reported |= check["code"] == "PG_DAMAGED";
    }
    if (!reported) std::this_thread::sleep_for(500ms);
  }
  ASSERT_TRUE(reported) << cluster->ctl("status").out << dump(*cluster);
  EXPECT_EQ(st["health"]["status"], "HEALTH_ERR");
  EXPECT_NE(pg_stamps(*cluster)[loc->pg].state.find("inconsistent"), std::string::npos)
      << dump(*cluster);

  // The operator repairs it; the schedule then finds nothing more.
  CmdResult repair = cluster->ctl("pg repair " + loc->pg + " --format json");
  ASSERT_EQ(repair.exit_code, 0) << repair.out;
  EXPECT_EQ(nlohmann::json::parse(repair.out)["repaired"], 1) << repair.out;
  EXPECT_TRUE(cluster->wait_clean(30s)) << cluster->ctl("status").out;
  auto fixed = c->read_from_osd("p", "victim", bad);
  ASSERT_TRUE(fixed.ok()) << fixed.status().to_string();
  EXPECT_TRUE(fixed->data == data);
}

TEST(ScheduledScrub, StampsSurviveRestarts) {
  // Default intervals: nothing scheduled happens during the test.
  auto cluster = TestCluster::start(3, 3);
  ASSERT_TRUE(cluster);
  ASSERT_EQ(cluster->ctl("pool create p --size 3 --pg 4").exit_code, 0);
  ASSERT_TRUE(cluster->wait_clean(30s));
  // Every PG's schedule has started (reported as its first stamps).
  ASSERT_TRUE(wait_all(*cluster, 20s, [](const std::string&, const Stamps& s) { return s.scrub > 0; }))
      << dump(*cluster);
  auto started = pg_stamps(*cluster);
  std::this_thread::sleep_for(100ms);
  CmdResult scrub = cluster->ctl("pg deep-scrub 1.0");
  ASSERT_EQ(scrub.exit_code, 0) << scrub.out;
  // A manual deep scrub is recorded; other PGs keep their stamps.
  Stamps before;
  ASSERT_TRUE(wait_all(*cluster, 20s, [&](const std::string& id, const Stamps& s) {
    if (id == "1.0") before = s;
    return id != "1.0" || s.deep > started[id].deep;
  })) << dump(*cluster);
  EXPECT_EQ(before.scrub, before.deep);
  for (const auto& [id, s] : pg_stamps(*cluster)) {
    if (id != "1.0") EXPECT_EQ(s.deep, started[id].deep) << id;
  }

  CmdResult down = run(bin("cairn") + " down --dir " + cluster->dir());
  ASSERT_EQ(down.exit_code, 0) << down.out;
  std::this_thread::sleep_for(1500ms);  // a reset stamp would be visibly newer
  CmdResult up = run(bin("cairn") + " up --no-gateways --dir " + cluster->dir());
  ASSERT_EQ(up.exit_code, 0) << up.out;
  ASSERT_TRUE(cluster->wait_clean(60s)) << cluster->ctl("status").out;
  Stamps after;
  ASSERT_TRUE(wait_all(*cluster, 20s, [&](const std::string& id, const Stamps& s) {
    if (id == "1.0") after = s;
    return s.scrub > 0;
  })) << dump(*cluster);
  EXPECT_EQ(after.scrub, before.scrub);
  EXPECT_EQ(after.deep, before.deep);
}

}  // namespace
}  // namespace cairn::test
