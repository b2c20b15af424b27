#include "common/placement.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <set>

namespace cairn {
namespace {

constexpr uint32_t kPgs = 4096;

// hosts × per_host OSDs, ids dense in host order, all up and in.
ClusterMap make_map(int hosts, int per_host, uint32_t weight = kWeightOne) {
  ClusterMap m;
  m.epoch = 1;
  for (int h = 0; h < hosts; ++h) {
    for (int i = 0; i < per_host; ++i) {
      OsdInfo o;
      o.id = h * per_host + i;
      o.host = "host-" + std::to_string(h);
      o.up = true;
      o.weight = weight;
      m.osds[o.id] = o;
    }
  }
  m.next_osd_id = hosts * per_host;
  return m;
}

PoolInfo make_pool(uint32_t size = 3, uint32_t pg_num = kPgs,
                   FailureDomain fd = FailureDomain::kHost) {
  PoolInfo p;
  p.id = 1;
  p.name = "rbd";
  p.size = size;
  p.min_size = 1;
  p.pg_num = pg_num;
  p.failure_domain = fd;
  return p;
}

std::vector<std::vector<OsdId>> map_all(const ClusterMap& m, const PoolInfo& p) {
  PlacementTopology topo = build_topology(m);
  std::vector<std::vector<OsdId>> out;
  for (uint32_t s = 0; s < p.pg_num; ++s) out.push_back(pg_to_raw_osds(topo, p, {p.id, s}));
  return out;
}

// Largest |count / expected - 1| over in OSDs, expected by weight share.
double max_imbalance(const ClusterMap& m, const std::vector<std::vector<OsdId>>& sets) {
  std::map<OsdId, double> count;
  double total = 0, weight_sum = 0;
  for (const auto& s : sets) {
    for (OsdId o : s) ++count[o];
    total += static_cast<double>(s.size());
  }
  for (const auto& [id, o] : m.osds) {
    if (o.in) weight_sum += o.weight;
  }
  double worst = 0;
  for (const auto& [id, o] : m.osds) {
    if (!o.in || o.weight == 0) continue;
    double expected = total * o.weight / weight_sum;
    worst = std::max(worst, std::abs(count[id] / expected - 1));
  }
  return worst;
}

// Replica slots whose OSD changed between two mappings.
size_t moved_slots(const std::vector<std::vector<OsdId>>& a,
                   const std::vector<std::vector<OsdId>>& b) {
  size_t moved = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    std::set<OsdId> before(a[i].begin(), a[i].end());
    for (OsdId o : b[i]) moved += before.count(o) ? 0 : 1;
  }
  return moved;
}

TEST(PgId, FormatAndParse) {
  EXPECT_EQ((PgId{1, 0x3f}).to_string(), "1.3f");
  EXPECT_EQ((PgId{12, 0}).to_string(), "12.0");
  auto p = PgId::parse("7.1a2b");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, (PgId{7, 0x1a2b}));
  for (uint32_t s : {0u, 1u, 255u, 65535u, 0xffffffffu}) {
    PgId pg{3, s};
    EXPECT_EQ(*PgId::parse(pg.to_string()), pg);
  }
  for (std::string_view bad : {"", ".", "1.", ".1", "1", "x.1", "1.g", "1.2.3", "-1.2", "1.-2",
                               "1.100000000", "99999999999.1", " 1.2"}) {
    EXPECT_FALSE(PgId::parse(bad).ok()) << bad;
  }
  EXPECT_LT((PgId{1, 5}), (PgId{2, 0}));
}

TEST(Placement, StableModSplitsPgs) {
  for (uint32_t b : {1u, 2u, 3u, 5u, 64u, 100u, 65536u}) {
    for (uint32_t x = 0; x < 5000; ++x) EXPECT_LT(stable_mod(x * 2654435761u, b), b);
  }
  // Doubling pg_num: every object stays or moves to its PG's new child.
  PoolInfo p64 = make_pool(3, 64), p128 = make_pool(3, 128), p96 = make_pool(3, 96);
  size_t moved = 0;
  for (int i = 0; i < 10000; ++i) {
    std::string name = "obj-" + std::to_string(i);
    uint32_t a = object_to_pg(p64, name).seed, b = object_to_pg(p128, name).seed;
    EXPECT_TRUE(b == a || b == a + 64) << name;
    moved += a != b;
    // Non-power-of-two in between: also only splits.
    uint32_t c = object_to_pg(p96, name).seed;
    EXPECT_TRUE(c == a || c == a + 64) << name;
  }
  EXPECT_NEAR(moved / 10000.0, 0.5, 0.05);
}

// Golden values computed once: any change to the hashes, the straw2 draw or
// the retry scheme moves data in a running cluster and must fail here.
TEST(Placement, GoldenVector) {
  // lookup2 of "" with initval 0 is the well-known 0xbd49d10d.
  EXPECT_EQ(hash_object_name(""), 0xbd49d10du);
  EXPECT_EQ(hash_object_name("a"), 0x29eec818u);
  EXPECT_EQ(hash_object_name("rbd_data.1234.0000000000000001"), 0x12d04153u);
  EXPECT_EQ(hash_object_name("hello world, this is long"), 0x2fb29886u);
  ClusterMap m = make_map(6, 4);
  m.osds[5].weight = kWeightOne * 2;
  PoolInfo host = make_pool(3, 64), osd = make_pool(3, 64, FailureDomain::kOsd);
  EXPECT_EQ(object_to_pg(host, "foo").seed, 6u);
  EXPECT_EQ(pg_to_raw_osds(m, host, {1, 0}), (std::vector<OsdId>{23, 18, 1}));
  EXPECT_EQ(pg_to_raw_osds(m, host, {1, 1}), (std::vector<OsdId>{5, 11, 1}));
  EXPECT_EQ(pg_to_raw_osds(m, host, {1, 63}), (std::vector<OsdId>{12, 0, 19}));
  EXPECT_EQ(pg_to_raw_osds(m, osd, {1, 0}), (std::vector<OsdId>{6, 15, 23}));
  EXPECT_EQ(pg_to_raw_osds(m, osd, {1, 1}), (std::vector<OsdId>{5, 7, 11}));
  EXPECT_EQ(pg_to_raw_osds(m, osd, {2, 1}), (std::vector<OsdId>{4, 10, 17}));
}

TEST(Placement, ObjectsSpreadOverPgs) {
  PoolInfo p = make_pool(3, 64);
  std::vector<int> count(64);
  for (int i = 0; i < 64000; ++i) ++count[object_to_pg(p, "o" + std::to_string(i)).seed];
  for (int c : count) EXPECT_NEAR(c, 1000, 150);
}

TEST(Placement, BalanceUniform) {
  ClusterMap m = make_map(6, 4);
  for (FailureDomain fd : {FailureDomain::kHost, FailureDomain::kOsd}) {
    auto sets = map_all(m, make_pool(3, kPgs, fd));
    for (const auto& s : sets) ASSERT_EQ(s.size(), 3u);
    double worst = max_imbalance(m, sets);
    std::printf("uniform 6x4, %u PGs, size 3, domain %s: max deviation %.1f%%\n", kPgs,
                fd == FailureDomain::kHost ? "host" : "osd", worst * 100);
    EXPECT_LT(worst, 0.10);
  }
}

// With non-uniform weights a light OSD expects few slots at 4096 PGs (a
// 0.5-weight one ~205, sigma ~7%), so the +-10% bound is checked where the
// hash noise is small (32768 PGs); the 4096-PG figure is printed.
TEST(Placement, BalanceNonUniform) {
  // Per-host OSD weights 0.5/1/1.5/2: every host weighs the same (5.0).
  ClusterMap m = make_map(6, 4);
  for (auto& [id, o] : m.osds) o.weight = kWeightOne / 2 * (1 + id % 4);
  // One 2 TiB and three 1 TiB OSDs per host.
  ClusterMap m2 = make_map(6, 4);
  for (auto& [id, o] : m2.osds) o.weight = id % 4 == 0 ? 2 * kWeightOne : kWeightOne;
  struct Run {
    const char* name;
    const ClusterMap* map;
    FailureDomain fd;
  } runs[] = {{"weights 0.5..2 in each host, domain host", &m, FailureDomain::kHost},
              {"weights 0.5..2, domain osd", &m, FailureDomain::kOsd},
              {"weights 2/1, domain host", &m2, FailureDomain::kHost},
              {"weights 2/1, domain osd", &m2, FailureDomain::kOsd}};
  for (const Run& r : runs) {
    double small = max_imbalance(*r.map, map_all(*r.map, make_pool(3, kPgs, r.fd)));
    double large = max_imbalance(*r.map, map_all(*r.map, make_pool(3, 8 * kPgs, r.fd)));
    std::printf("%s: max deviation %.1f%% at %u PGs, %.1f%% at %u PGs\n", r.name, small * 100, kPgs,
                large * 100, 8 * kPgs);
    EXPECT_LT(large, 0.10) << r.name;
    EXPECT_LT(small, 0.20) << r.name;
  }
}

// Known limit, as in Ceph: a host cannot take two replicas of a PG, so a host
// holding a big fraction of the weight gets less than its share (weighted
// sampling without replacement). Pinned here so a change is noticed.
TEST(Placement, UnevenHostsBias) {
  ClusterMap m = make_map(6, 4);
  for (auto& [id, o] : m.osds) o.weight = id < 8 ? 2 * kWeightOne : kWeightOne;
  double worst = max_imbalance(m, map_all(m, make_pool(3, 8 * kPgs)));
  std::printf("hosts weighing 8,8,4,4,4,4, domain host: max deviation %.1f%%\n", worst * 100);
  EXPECT_LT(worst, 0.18);
}

TEST(Placement, HostDomainNeverDoublesAHost) {
  ClusterMap m = make_map(4, 3);
  PoolInfo p = make_pool(3, kPgs);
  for (const auto& s : map_all(m, p)) {
    std::set<std::string> hosts;
    for (OsdId o : s) hosts.insert(m.osds.at(o).host);
    EXPECT_EQ(hosts.size(), s.size());
    EXPECT_EQ(s.size(), 3u);
  }
}

TEST(Placement, FewerDomainsThanSize) {
  ClusterMap m = make_map(2, 3);
  auto sets = map_all(m, make_pool(3, 256));
  for (const auto& s : sets) {
    ASSERT_EQ(s.size(), 2u);
    EXPECT_NE(m.osds.at(s[0]).host, m.osds.at(s[1]).host);
  }
  // Osd domain with fewer OSDs than size.
  ClusterMap one = make_map(1, 2);
  for (const auto& s : map_all(one, make_pool(3, 64, FailureDomain::kOsd))) {
    ASSERT_EQ(s.size(), 2u);
    EXPECT_NE(s[0], s[1]);
  }
  for (const auto& s : map_all(one, make_pool(10, 64))) EXPECT_EQ(s.size(), 1u);
}

TEST(Placement, EdgeCases) {
  ClusterMap empty;
  PoolInfo p = make_pool(3, 1);
  EXPECT_EQ(object_to_pg(p, "anything").seed, 0u);
  EXPECT_TRUE(pg_to_raw_osds(empty, p, {1, 0}).empty());
  EXPECT_TRUE(pg_to_up_osds(empty, p, {1, 0}).empty());
  // All OSDs out or weightless: nothing to place on.
  ClusterMap m = make_map(3, 2);
  for (auto& [id, o] : m.osds) {
    if (id % 2) {
      o.in = false;
    } else {
      o.weight = 0;
    }
  }
  EXPECT_TRUE(pg_to_raw_osds(m, p, {1, 0}).empty());
  // pg_num 1: one PG, fully placed.
  EXPECT_EQ(pg_to_raw_osds(make_map(3, 2), p, {1, 0}).size(), 3u);
  // size 0 asks for nothing.
  EXPECT_TRUE(pg_to_raw_osds(make_map(3, 2), make_pool(0, 1), {1, 0}).empty());
  // Hostless OSDs are each their own domain.
  ClusterMap hostless = make_map(1, 4);
  for (auto& [id, o] : hostless.osds) o.host.clear();
  EXPECT_EQ(pg_to_raw_osds(hostless, p, {1, 0}).size(), 3u);
}

TEST(Placement, DownKeepsSlotsUpSetDropsThem) {
  ClusterMap m = make_map(6, 4);
  PoolInfo p = make_pool();
  auto before = map_all(m, p);
  m.osds[7].up = false;
  auto after = map_all(m, p);
  EXPECT_EQ(before, after);  // raw placement ignores up/down
  PlacementTopology topo = build_topology(m);
  size_t degraded = 0;
  for (uint32_t s = 0; s < kPgs; ++s) {
    std::vector<OsdId> want = before[s];
    std::erase(want, 7);
    degraded += want.size() != before[s].size();
    EXPECT_EQ(pg_to_up_osds(m, p, {1, s}), want);
    EXPECT_EQ(pg_to_up_osds(topo, p, {1, s}), want);
  }
  EXPECT_GT(degraded, 0u);
}

TEST(Placement, OutMovesOnlyAffectedPgsOsdDomain) {
  ClusterMap m = make_map(6, 4);
  PoolInfo p = make_pool(3, kPgs, FailureDomain::kOsd);
  auto before = map_all(m, p);
  m.osds[9].in = false;
  auto after = map_all(m, p);
  size_t touched = 0;
  for (uint32_t s = 0; s < kPgs; ++s) {
    bool had = std::find(before[s].begin(), before[s].end(), 9) != before[s].end();
    if (!had) {
      EXPECT_EQ(before[s], after[s]) << s;
    } else {
      ++touched;
      EXPECT_EQ(std::count(after[s].begin(), after[s].end(), 9), 0);
      EXPECT_EQ(after[s].size(), 3u);
    }
  }
  size_t moved = moved_slots(before, after);
  std::printf("osd domain, out osd.9: %zu PGs had it, %zu replica slots moved (ratio %.2f)\n",
              touched, moved, static_cast<double>(moved) / touched);
  EXPECT_EQ(moved, touched);  // exactly the lost replicas, nothing else
}

TEST(Placement, OutMovesOnlyAffectedPgsHostDomain) {
  ClusterMap m = make_map(6, 4);
  PoolInfo p = make_pool(3, kPgs);
  auto before = map_all(m, p);
  m.osds[9].in = false;  // on host-2 with osds 8..11
  auto after = map_all(m, p);
  size_t touched = 0, with_osd = 0;
  for (uint32_t s = 0; s < kPgs; ++s) {
    bool host = false;
    for (OsdId o : before[s]) host |= o >= 8 && o <= 11;
    with_osd += std::count(before[s].begin(), before[s].end(), 9);
    if (!host) {
      EXPECT_EQ(before[s], after[s]) << s;
    } else {
      touched += before[s] != after[s];
    }
  }
  size_t moved = moved_slots(before, after);
  std::printf(
      "host domain, out osd.9: %zu PGs had it, %zu replica slots moved (ratio %.2f), "
      "%zu PGs changed\n",
      with_osd, moved, static_cast<double>(moved) / with_osd, touched);
  // Host-2 lost a quarter of its weight, so some PGs leave its other OSDs too.
  EXPECT_LT(static_cast<double>(moved) / with_osd, 1.6);
}

TEST(Placement, AddingAnOsdMovesItsFairShare) {
  struct Run {
    const char* name;
    FailureDomain fd;
    std::string host;
    double max_ratio;
  } runs[] = {
      {"domain osd, new osd", FailureDomain::kOsd, "host-6", 1.15},
      // A 1-OSD host among 4-OSD hosts is light, and light items are picked a
      // little more often than their share (sampling without replacement).
      {"domain host, new 1-osd host", FailureDomain::kHost, "host-6", 1.25},
      // Joining an existing host also reshuffles inside that host.
      {"domain host, osd joins host-5", FailureDomain::kHost, "host-5", 2.0},
  };
  for (const Run& r : runs) {
    ClusterMap m = make_map(6, 4);
    PoolInfo p = make_pool(3, kPgs, r.fd);
    auto before = map_all(m, p);
    OsdInfo o;
    o.id = 24;
    o.host = r.host;
    o.up = true;
    m.osds[24] = o;
    auto after = map_all(m, p);
    size_t moved = moved_slots(before, after);
    double fair = 3.0 * kPgs / 25;
    size_t on_new = 0;
    for (const auto& s : after) on_new += std::count(s.begin(), s.end(), 24);
    std::printf("%s: %zu slots moved, %zu to the new OSD, fair share %.0f (moved/fair %.2f)\n",
                r.name, moved, on_new, fair, moved / fair);
    if (r.host == "host-6") {
      EXPECT_EQ(moved, on_new) << r.name;  // nothing else shuffles
    }
    EXPECT_LT(moved / fair, r.max_ratio) << r.name;
    EXPECT_GT(on_new / fair, 0.85) << r.name;
  }
}

TEST(Placement, ReweightMovesOnlyItsPgs) {
  ClusterMap m = make_map(6, 4);
  PoolInfo p = make_pool(3, kPgs, FailureDomain::kOsd);
  auto before = map_all(m, p);
  m.osds[3].weight = kWeightOne / 2;
  auto after = map_all(m, p);
  for (uint32_t s = 0; s < kPgs; ++s) {
    if (std::count(before[s].begin(), before[s].end(), 3) == 0) {
      EXPECT_EQ(before[s], after[s]);
    }
  }
}

TEST(Placement, FastEnough) {
  ClusterMap m = make_map(6, 4);
  PoolInfo p = make_pool();
  auto t0 = std::chrono::steady_clock::now();
  size_t n = 0;
  for (uint32_t s = 0; s < kPgs; ++s) n += pg_to_raw_osds(m, p, {1, s}).size();
  auto t1 = std::chrono::steady_clock::now();
  PlacementTopology topo = build_topology(m);
  for (uint32_t s = 0; s < kPgs; ++s) n += pg_to_raw_osds(topo, p, {1, s}).size();
  auto t2 = std::chrono::steady_clock::now();
  double ms_map = std::chrono::duration<double, std::milli>(t1 - t0).count();
  double ms_topo = std::chrono::duration<double, std::milli>(t2 - t1).count();
  std::printf("%u PGs on 24 OSDs: %.2f ms from the map, %.2f ms from a cached topology\n", kPgs,
              ms_map, ms_topo);
  EXPECT_EQ(n, 2 * 3 * kPgs);
  // Generous bound: shared CI cores and sanitizer builds; the target is < 20 ms.
  EXPECT_LT(ms_map, 500);
}

}  // namespace
}  // namespace cairn
