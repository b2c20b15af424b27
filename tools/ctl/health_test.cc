#include "tools/ctl/health.h"

#include <gtest/gtest.h>

#include "common/placement.h"

namespace cairn::ctl {
namespace {

// A cluster of n OSDs on n hosts, 3 monitors and one pool.
ClusterMap make_map(int n_osds = 3, uint32_t size = 3, uint32_t min_size = 2, uint32_t pgs = 16) {
  ClusterMap m;
  m.epoch = 7;
  m.fsid = "fsid-1";
  for (MonId id = 0; id < 3; ++id)
    m.mons[id] = MonInfo{id, "127.0.0.1:" + std::to_string(7000 + id), ""};
  for (OsdId id = 0; id < n_osds; ++id) {
    OsdInfo o;
    o.id = id;
    o.addr = "127.0.0.1:" + std::to_string(8000 + id);
    o.host = "node-" + std::to_string(id);
    o.up = true;
    m.osds[id] = o;
  }
  PoolInfo p;
  p.id = 1;
  p.name = "rbd";
  p.size = size;
  p.min_size = min_size;
  p.pg_num = pgs;
  m.pools[1] = p;
  return m;
}

std::vector<MonProbe> healthy_mons(int answering = 3, MonId leader = 0, uint64_t term = 2) {
  std::vector<MonProbe> probes;
  for (MonId id = 0; id < 3; ++id) {
    MonProbe p;
    p.addr = "127.0.0.1:" + std::to_string(7000 + id);
    if (id < answering) {
      MonStatus s;
      s.id = id;
      s.role = id == leader ? "leader" : "follower";
      s.term = term;
      s.leader = leader;
      s.voters = {0, 1, 2};
      p.status = s;
    } else {
      p.error = "connection refused";
    }
    probes.push_back(p);
  }
  return probes;
}

// Reports in which every PG's current primary says `state`, 10 objects each.
std::vector<OsdReport> reports_for(const ClusterMap& m, const std::string& state) {
  std::map<OsdId, OsdReport> by_osd;
  for (const auto& [id, o] : m.osds) {
    if (!o.up) continue;
    OsdReport& r = by_osd[id];
    r.osd = id;
    r.map_epoch = m.epoch;
    r.used_bytes = 100;
    r.total_bytes = 1000;
    r.avail_bytes = 900;
  }
  for (const auto& [pid, p] : m.pools) {
    for (uint32_t seed = 0; seed < p.pg_num; ++seed) {
      auto up = pg_to_up_osds(m, p, PgId{pid, seed});
      if (up.empty()) continue;
      by_osd[up[0]].pgs.push_back(PgStat{pid, seed, state, 10, 1000, 0});
    }
  }
  std::vector<OsdReport> out;
  for (auto& [id, r] : by_osd) out.push_back(r);
  return out;
}

std::vector<std::string> codes(const ClusterStatus& s) {
  std::vector<std::string> out;
  for (const auto& c : s.checks) out.push_back(c.code);
  return out;
}

const HealthCheck* find(const ClusterStatus& s, const std::string& code) {
  for (const auto& c : s.checks) {
    if (c.code == code) return &c;
  }
  return nullptr;
}

TEST(Health, AllCleanIsOk) {
  ClusterMap m = make_map();
  ClusterStatus s = compute_status(m, healthy_mons(), reports_for(m, "active+clean"));
  EXPECT_EQ(s.health, Severity::kOk) << ::testing::PrintToString(codes(s));
  EXPECT_TRUE(s.checks.empty());
  EXPECT_EQ(s.pgs, 16u);
  EXPECT_EQ(s.pgs_by_state, (std::map<std::string, uint64_t>{{"active+clean", 16}}));
  EXPECT_EQ(s.objects, 160u);
  EXPECT_EQ(s.bytes_used, 300u);
  EXPECT_EQ(s.osds_total, 3);
  EXPECT_EQ(s.osds_up, 3);
  EXPECT_EQ(s.osds_in, 3);
  EXPECT_EQ(s.mons.total, 3);
  EXPECT_EQ(s.mons.in_quorum, (std::vector<MonId>{0, 1, 2}));
  EXPECT_EQ(s.mons.leader, 0);
}

TEST(Health, CleanScrubbingCountsAsClean) {
  ClusterMap m = make_map();
  ClusterStatus s = compute_status(m, healthy_mons(), reports_for(m, "active+clean+scrubbing"));
  EXPECT_EQ(s.health, Severity::kOk);
}

TEST(Health, NoReportsYetIsOnlyAWarning) {
  ClusterMap m = make_map();
  ClusterStatus s = compute_status(m, healthy_mons(), {});
  EXPECT_EQ(s.health, Severity::kWarn);
  EXPECT_EQ(codes(s), (std::vector<std::string>{"PG_UNKNOWN"}));
  EXPECT_EQ(find(s, "PG_UNKNOWN")->message, "16 pgs unknown");
  EXPECT_EQ(s.pgs_by_state, (std::map<std::string, uint64_t>{{"unknown", 16}}));
}

TEST(Health, ReportsFromBeforeTheCurrentMapDoNotCount) {
  ClusterMap m = make_map();
  auto reps = reports_for(m, "active+clean");
  reps[0].map_epoch = m.epoch - 1;  // this OSD has not seen the newest map yet
  ClusterStatus s = compute_status(m, healthy_mons(), reps);
  EXPECT_EQ(s.pgs_by_state["unknown"], reps[0].pgs.size());
  EXPECT_EQ(s.pgs_by_state["active+clean"], 16u - reps[0].pgs.size());
  EXPECT_NE(s.health, Severity::kOk);
}

TEST(Health, StaleReportsDoNotCount) {
  ClusterMap m = make_map();
  auto reps = reports_for(m, "active+clean");
  for (auto& r : reps) r.received_ms = 60000;
  ClusterStatus s = compute_status(m, healthy_mons(), reps);
  EXPECT_EQ(s.pgs_by_state["unknown"], 16u);
  EXPECT_EQ(s.bytes_used, 300u);  // usage still counts
}

TEST(Health, OsdDownDegradesPgs) {
  ClusterMap m = make_map();
  auto reps = reports_for(m, "active+clean");  // as reported before the failure
  m.osds[2].up = false;
  ClusterStatus s = compute_status(m, healthy_mons(), reps);
  EXPECT_EQ(s.health, Severity::kWarn);
  ASSERT_NE(find(s, "OSD_DOWN"), nullptr);
  EXPECT_EQ(find(s, "OSD_DOWN")->message, "1 osds down");
  EXPECT_EQ(find(s, "OSD_DOWN")->severity, Severity::kWarn);
  // Every PG had osd.2 (3 hosts, size 3): all degraded by the map.
  ASSERT_NE(find(s, "PG_DEGRADED"), nullptr);
  EXPECT_EQ(find(s, "PG_DEGRADED")->message, "Degraded data redundancy: 16 pgs degraded");
  EXPECT_EQ(find(s, "PG_AVAILABILITY"), nullptr);
  // osd.2's old report does not speak for PGs it is no longer primary of.
  EXPECT_EQ(s.osds_up, 2);
  uint64_t reported = 0;
  for (const auto& [st, n] : s.pgs_by_state) reported += st == "active+clean" ? n : 0;
  EXPECT_LT(reported, 16u);
}

TEST(Health, DownAndOutOsdIsNotOsdDown) {
  ClusterMap m = make_map(4);
  m.osds[3].up = false;
  m.osds[3].in = false;
  ClusterStatus s = compute_status(m, healthy_mons(), reports_for(m, "active+clean"));
  EXPECT_EQ(find(s, "OSD_DOWN"), nullptr);
  EXPECT_EQ(s.health, Severity::kOk) << ::testing::PrintToString(codes(s));
  EXPECT_EQ(s.osds_in, 3);
}

TEST(Health, BelowMinSizeIsAnError) {
  ClusterMap m = make_map();
  m.osds[1].up = false;
  m.osds[2].up = false;
  ClusterStatus s = compute_status(m, healthy_mons(), reports_for(m, "active+degraded"));
  EXPECT_EQ(s.health, Severity::kErr);
  ASSERT_NE(find(s, "PG_AVAILABILITY"), nullptr);
  EXPECT_EQ(find(s, "PG_AVAILABILITY")->message, "Reduced data availability: 16 pgs inactive");
  EXPECT_EQ(s.checks.front().severity, Severity::kErr);  // errors listed first
  EXPECT_EQ(find(s, "OSD_DOWN")->message, "2 osds down");
}

TEST(Health, NoOsdUpMeansDown) {
  ClusterMap m = make_map(1, 1, 1, 4);
  m.osds[0].up = false;
  ClusterStatus s = compute_status(m, healthy_mons(), {});
  EXPECT_EQ(s.pgs_by_state, (std::map<std::string, uint64_t>{{"down", 4}}));
  EXPECT_EQ(s.health, Severity::kErr);
}

TEST(Health, TooFewHostsIsDegraded) {
  ClusterMap m = make_map(2);  // size 3 over 2 hosts
  ClusterStatus s = compute_status(m, healthy_mons(), reports_for(m, "active+clean"));
  EXPECT_NE(find(s, "PG_DEGRADED"), nullptr);
  EXPECT_EQ(s.health, Severity::kWarn);
}

TEST(Health, ReportedStates) {
  ClusterMap m = make_map();
  struct Case {
    const char* state;
    const char* code;
    Severity sev;
  } cases[] = {
      {"peering", "PG_NOT_CLEAN", Severity::kWarn},
      {"active+recovering", "PG_NOT_CLEAN", Severity::kWarn},
      {"active+degraded", "PG_DEGRADED", Severity::kWarn},
      {"inactive", "PG_AVAILABILITY", Severity::kErr},
      {"down", "PG_AVAILABILITY", Severity::kErr},
      {"incomplete", "PG_AVAILABILITY", Severity::kErr},
      {"undersized+peered", "PG_AVAILABILITY", Severity::kErr},
      {"active+recovering+undersized+degraded", "PG_DEGRADED", Severity::kWarn},
      {"stray", "PG_NOT_CLEAN", Severity::kWarn},
      {"active+inconsistent", "PG_DAMAGED", Severity::kErr},
  };
  for (const auto& c : cases) {
    ClusterStatus s = compute_status(m, healthy_mons(), reports_for(m, c.state));
    EXPECT_EQ(codes(s), std::vector<std::string>{c.code}) << c.state;
    EXPECT_EQ(s.health, c.sev) << c.state;
    EXPECT_EQ(s.pgs_by_state[c.state], 16u);
  }
}

TEST(Health, InconsistentAndDegradedShowsBoth) {
  ClusterMap m = make_map();
  ClusterStatus s = compute_status(m, healthy_mons(), reports_for(m, "active+degraded+inconsistent"));
  EXPECT_EQ(codes(s), (std::vector<std::string>{"PG_DAMAGED", "PG_DEGRADED"}));
  EXPECT_EQ(find(s, "PG_DAMAGED")->message, "Possible data damage: 16 pgs inconsistent");
}

TEST(Health, DegradedObjectsInMessage) {
  ClusterMap m = make_map();
  auto reps = reports_for(m, "active+degraded");
  reps[0].pgs[0].degraded_objects = 5;
  ClusterStatus s = compute_status(m, healthy_mons(), reps);
  EXPECT_EQ(find(s, "PG_DEGRADED")->message,
            "Degraded data redundancy: 16 pgs degraded, 5 objects degraded");
}

TEST(Health, Fullness) {
  ClusterMap m = make_map();
  auto reps = reports_for(m, "active+clean");
  reps[0].used_bytes = 900;  // 90%
  ClusterStatus s = compute_status(m, healthy_mons(), reps);
  EXPECT_EQ(codes(s), std::vector<std::string>{"OSD_NEARFULL"});
  EXPECT_EQ(find(s, "OSD_NEARFULL")->message, "1 osds nearfull (osd.0 90%)");
  reps[1].used_bytes = 990;
  s = compute_status(m, healthy_mons(), reps);
  EXPECT_EQ(codes(s), (std::vector<std::string>{"OSD_FULL", "OSD_NEARFULL"}));
  EXPECT_EQ(s.health, Severity::kErr);
  // A shared filesystem that is nearly full counts even if our data is small.
  reps[1].used_bytes = 100;
  reps[1].avail_bytes = 20;
  s = compute_status(m, healthy_mons(), reps);
  EXPECT_EQ(find(s, "OSD_FULL")->message, "1 osds full (osd.1 98%)");
  // An OSD that refuses writes (below its reserve on a small disk) is full
  // whatever its ratio.
  reps[0].used_bytes = 500;
  reps[0].full = true;
  s = compute_status(m, healthy_mons(), reps);
  EXPECT_EQ(find(s, "OSD_FULL")->message, "2 osds full (osd.0 50%, osd.1 98%)");
  // Reports of OSDs that no longer exist are ignored.
  m.osds.erase(1);
  m.osds.erase(0);
  s = compute_status(m, healthy_mons(), reps);
  EXPECT_EQ(find(s, "OSD_FULL"), nullptr);
  EXPECT_EQ(find(s, "OSD_NEARFULL"), nullptr);
}

TEST(Health, MonitorDown) {
  ClusterMap m = make_map();
  ClusterStatus s = compute_status(m, healthy_mons(2), reports_for(m, "active+clean"));
  EXPECT_EQ(codes(s), std::vector<std::string>{"MON_DOWN"});
  EXPECT_EQ(find(s, "MON_DOWN")->message, "1/3 mons down, quorum 0,1");
  EXPECT_EQ(s.mons.down, std::vector<std::string>{"mon.2"});
}

TEST(Health, MonitorFollowingAnOldLeaderIsNotInQuorum) {
  ClusterMap m = make_map();
  auto probes = healthy_mons(3, 0, 5);
  probes[2].status->term = 4;
  probes[2].status->leader = 2;
  probes[2].status->role = "candidate";
  ClusterStatus s = compute_status(m, probes, reports_for(m, "active+clean"));
  EXPECT_EQ(s.mons.in_quorum, (std::vector<MonId>{0, 1}));
  EXPECT_NE(find(s, "MON_DOWN"), nullptr);
}

TEST(Health, NewerLeaderWins) {
  ClusterMap m = make_map();
  auto probes = healthy_mons(3, 0, 5);
  // mon.2 still thinks it leads in an old term.
  probes[2].status->role = "leader";
  probes[2].status->leader = 2;
  probes[2].status->term = 3;
  MonSummary q = summarize_mons(m, probes);
  EXPECT_EQ(q.leader, 0);
  EXPECT_EQ(q.term, 5u);
}

TEST(Health, NoQuorumIsAnError) {
  ClusterMap m = make_map();
  auto probes = healthy_mons(1);
  probes[0].status->role = "candidate";
  probes[0].status->leader = -1;
  ClusterStatus s = compute_status(m, probes, {});
  EXPECT_EQ(s.health, Severity::kErr);
  ASSERT_NE(find(s, "MON_NO_QUORUM"), nullptr);
  EXPECT_EQ(find(s, "MON_NO_QUORUM")->message,
            "no monitor quorum: 1/3 mons answer, none is leader");
  EXPECT_FALSE(s.mons.leader.has_value());
  EXPECT_TRUE(s.mons.in_quorum.empty());
}

TEST(Health, JsonShape) {
  ClusterMap m = make_map();
  m.osds[2].up = false;
  ClusterStatus s = compute_status(m, healthy_mons(2), reports_for(m, "active+clean"));
  nlohmann::ordered_json j = status_to_json(s);
  for (const char* k : {"fsid", "epoch", "health", "monitors", "osds", "pools", "pgs_by_state",
                        "pgs", "objects", "bytes_used"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_EQ(j.size(), 10u);
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"fsid", "epoch", "health", "monitors", "osds", "pools",
                                            "pgs_by_state", "pgs", "objects", "bytes_used"}));
  EXPECT_EQ(j["fsid"], "fsid-1");
  EXPECT_EQ(j["epoch"], 7);
  EXPECT_EQ(j["health"]["status"], "HEALTH_WARN");
  ASSERT_TRUE(j["health"]["checks"].is_array());
  auto c0 = j["health"]["checks"][0];
  EXPECT_EQ(c0.size(), 3u);
  EXPECT_TRUE(c0["code"].is_string());
  EXPECT_EQ(c0["severity"], "HEALTH_WARN");
  EXPECT_EQ(j["monitors"]["total"], 3);
  EXPECT_EQ(j["monitors"]["in_quorum"], nlohmann::ordered_json({0, 1}));
  EXPECT_EQ(j["monitors"]["leader"], 0);
  EXPECT_EQ(j["osds"].dump(), R"({"total":3,"up":2,"in":3})");
  EXPECT_EQ(j["pools"], 1);
  EXPECT_EQ(j["pgs"], 16);
  EXPECT_TRUE(j["pgs_by_state"].is_object());

  ClusterStatus none = compute_status(m, {}, {});
  EXPECT_TRUE(status_to_json(none)["monitors"]["leader"].is_null());
}

TEST(Health, HumanFormatMentionsEverything) {
  ClusterMap m = make_map();
  m.osds[2].up = false;
  std::string out =
      format_status(compute_status(m, healthy_mons(), reports_for(m, "active+clean")));
  for (const char* want : {"fsid-1", "HEALTH_WARN", "1 osds down", "quorum 0,1,2 (leader 0",
                           "3 osds: 2 up, 3 in", "1 pools, 16 pgs", "pgs:"}) {
    EXPECT_NE(out.find(want), std::string::npos) << want << "\n" << out;
  }
}

TEST(Health, RecoveryProgressSumsRecentReportsWithRateAndEta) {
  ClusterMap m = make_map();
  auto reps = reports_for(m, "active+backfilling+degraded");
  ClusterStatus idle = compute_status(m, healthy_mons(), reps);
  EXPECT_FALSE(idle.recovery.active());
  EXPECT_FALSE(status_to_json(idle).contains("recovery"));
  EXPECT_EQ(format_status(idle).find("recovery:"), std::string::npos);

  reps[0].recovery_objects_left = 300;
  reps[0].recovery_objects_per_sec = 40;
  reps[0].recovery_bytes_per_sec = 4 << 20;
  reps[1].recovery_objects_left = 100;
  reps[1].recovery_objects_per_sec = 10;
  reps[1].recovery_bytes_per_sec = 1 << 20;
  reps[2].recovery_objects_left = 1000;  // an old report: describes the past
  reps[2].recovery_objects_per_sec = 1000;
  reps[2].received_ms = 20000;
  ClusterStatus s = compute_status(m, healthy_mons(), reps);
  EXPECT_EQ(s.recovery.objects_left, 400u);
  EXPECT_DOUBLE_EQ(s.recovery.objects_per_sec, 50);
  EXPECT_DOUBLE_EQ(s.recovery.bytes_per_sec, 5 << 20);
  ASSERT_TRUE(s.recovery.eta_seconds);
  EXPECT_DOUBLE_EQ(*s.recovery.eta_seconds, 8);
  auto j = status_to_json(s);
  EXPECT_EQ(j["recovery"]["objects_left"], 400);
  EXPECT_EQ(j["recovery"]["eta_seconds"], 8.0);
  std::string out = format_status(s);
  for (const char* want : {"recovery: 5.0 MiB/s, 50 objects/s", "400 objects left, ETA 8s"}) {
    EXPECT_NE(out.find(want), std::string::npos) << want << "\n" << out;
  }

  // Work left but nothing copied lately: no ETA.
  reps[0].recovery_objects_per_sec = reps[1].recovery_objects_per_sec = 0;
  s = compute_status(m, healthy_mons(), reps);
  EXPECT_FALSE(s.recovery.eta_seconds);
  EXPECT_TRUE(status_to_json(s)["recovery"]["eta_seconds"].is_null());
  EXPECT_NE(format_status(s).find("ETA unknown"), std::string::npos);
  // Long ones read in minutes and hours.
  reps[0].recovery_objects_per_sec = 1;
  reps[0].recovery_objects_left = 7500;
  reps[1].recovery_objects_left = 0;
  EXPECT_NE(format_status(compute_status(m, healthy_mons(), reps)).find("ETA 2h 05m"),
            std::string::npos);
}

}  // namespace
}  // namespace cairn::ctl
