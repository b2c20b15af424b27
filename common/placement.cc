#include "common/placement.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <string_view>

namespace cairn {

namespace {

// Salts so host-level and OSD-level draws of the same id are independent.
constexpr uint32_t kHostLevel = 1;
constexpr uint32_t kOsdLevel = 2;

// Bob Jenkins' 96-bit mix, as used by lookup2 and Ceph's CRUSH hash.
// clang-format off
inline void jenkins_mix(uint32_t& a, uint32_t& b, uint32_t& c) {
  a -= b; a -= c; a ^= (c >> 13);
  b -= c; b -= a; b ^= (a << 8);
  c -= a; c -= b; c ^= (b >> 13);
  a -= b; a -= c; a ^= (c >> 12);
  b -= c; b -= a; b ^= (a << 16);
  c -= a; c -= b; c ^= (b >> 5);
  a -= b; a -= c; a ^= (c >> 3);
  b -= c; b -= a; b ^= (a << 10);
  c -= a; c -= b; c ^= (b >> 15);
}
// clang-format on

constexpr uint32_t kHashSeed = 1315423911u;

uint32_t hash2(uint32_t a, uint32_t b) {
  uint32_t h = kHashSeed ^ a ^ b, x = 231232, y = 1232;
  jenkins_mix(a, b, h);
  jenkins_mix(x, a, h);
  jenkins_mix(b, y, h);
  return h;
}

uint32_t hash3(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t h = kHashSeed ^ a ^ b ^ c, x = 231232, y = 1232;
  jenkins_mix(a, b, h);
  jenkins_mix(c, x, h);
  jenkins_mix(y, a, h);
  jenkins_mix(b, x, h);
  jenkins_mix(y, c, h);
  return h;
}

// log2(x) in Q32 fixed point by repeated squaring: integer-only, so every
// machine computes bit-identical draws (no libm differences).
// REQUIRES: 1 <= x < 2^63.
uint64_t log2_q32(uint64_t x) {
  int msb = std::bit_width(x) - 1;
  uint64_t result = static_cast<uint64_t>(msb) << 32;
  // Mantissa in Q1.31: [2^31, 2^32) stands for [1, 2).
  uint64_t m = msb >= 31 ? x >> (msb - 31) : x << (31 - msb);
  for (int bit = 31; bit >= 0; --bit) {
    m = (m * m) >> 31;         // m < 2^32, so m * m fits in 64 bits
    uint64_t carry = m >> 32;  // 1 when m >= 2.0; branch-free: the bits are random
    m >>= carry;
    result |= carry << bit;
  }
  return result;
}

// straw2 "cost" of an item for one draw: -log2(u) with u in (0, 1], Q32.
// The item with the smallest cost / weight wins (== max ln(u) / weight).
uint64_t straw2_cost(uint32_t hash) {
  uint64_t u = static_cast<uint64_t>(hash) + 1;  // 1..2^32: never log(0)
  return (32ull << 32) - log2_q32(u);
}

// Whether cost_a / weight_a < cost_b / weight_b, exactly.
inline bool draw_beats(uint64_t cost_a, uint64_t weight_a, uint64_t cost_b, uint64_t weight_b) {
  using u128 = unsigned __int128;
  return static_cast<u128>(cost_a) * weight_b < static_cast<u128>(cost_b) * weight_a;
}

// Index of the straw2 winner among items [0, n); get(i) -> {item id, weight}.
// Ties go to the lower index, which is deterministic for a given topology.
template <typename Get>
uint32_t straw2_choose(uint32_t n, uint32_t pps, uint32_t level, Get get) {
  uint32_t best = 0;
  uint64_t best_cost = 0, best_weight = 0;
  for (uint32_t i = 0; i < n; ++i) {
    auto [id, weight] = get(i);
    uint64_t cost = straw2_cost(hash3(pps, id, level));
    if (i == 0 || draw_beats(cost, weight, best_cost, best_weight)) {
      best = i;
      best_cost = cost;
      best_weight = weight;
    }
  }
  return best;
}

// Indices of the k best straw2 draws among items [0, n), best first.
//
// One draw per item, then the k best: weighted sampling without replacement.
// Unlike CRUSH's draw-per-slot with retry on collision, an item's presence
// depends only on its own draw versus the others', so taking an item out
// changes only the PGs that held it (and each by exactly that one item), and
// there is no retry bound to run out of.
template <typename Get>
std::vector<uint32_t> straw2_top(uint32_t n, uint32_t k, uint32_t pps, uint32_t level, Get get) {
  struct Draw {
    uint64_t cost;
    uint64_t weight;
    uint32_t index;
  };
  std::vector<Draw> draws(n);
  for (uint32_t i = 0; i < n; ++i) {
    auto [id, weight] = get(i);
    draws[i] = {straw2_cost(hash3(pps, id, level)), weight, i};
  }
  k = std::min(k, n);
  std::partial_sort(draws.begin(), draws.begin() + k, draws.end(),
                    [](const Draw& a, const Draw& b) {
                      if (draw_beats(a.cost, a.weight, b.cost, b.weight)) return true;
                      if (draw_beats(b.cost, b.weight, a.cost, a.weight)) return false;
                      return a.index < b.index;
                    });
  std::vector<uint32_t> out(k);
  for (uint32_t i = 0; i < k; ++i) out[i] = draws[i].index;
  return out;
}

// The placement seed: mixes the pool in so that PG n of different pools land
// on different OSDs.
uint32_t placement_seed(PgId pg) { return hash2(pg.seed, static_cast<uint32_t>(pg.pool)); }

std::vector<OsdId> raw_osds_by_host(const PlacementTopology& topo, uint32_t size, uint32_t pps) {
  const auto n_hosts = static_cast<uint32_t>(topo.hosts.size());
  std::vector<uint32_t> hosts = straw2_top(n_hosts, size, pps, kHostLevel, [&](uint32_t i) {
    return std::pair<uint32_t, uint64_t>(topo.hosts[i].hash, topo.hosts[i].weight);
  });
  std::vector<OsdId> out;
  out.reserve(hosts.size());
  for (uint32_t h : hosts) {
    const PlacementTopology::Host& host = topo.hosts[h];
    uint32_t o = straw2_choose(host.count, pps, kOsdLevel, [&](uint32_t i) {
      const PlacementTopology::Osd& osd = topo.osds[host.first + i];
      return std::pair<uint32_t, uint64_t>(static_cast<uint32_t>(osd.id), osd.weight);
    });
    out.push_back(topo.osds[host.first + o].id);
  }
  return out;
}

std::vector<OsdId> raw_osds_by_osd(const PlacementTopology& topo, uint32_t size, uint32_t pps) {
  const auto n = static_cast<uint32_t>(topo.osds.size());
  std::vector<uint32_t> picks = straw2_top(n, size, pps, kOsdLevel, [&](uint32_t i) {
    return std::pair<uint32_t, uint64_t>(static_cast<uint32_t>(topo.osds[i].id),
                                         topo.osds[i].weight);
  });
  std::vector<OsdId> out;
  out.reserve(picks.size());
  for (uint32_t i : picks) out.push_back(topo.osds[i].id);
  return out;
}

bool topo_osd_is_up(const PlacementTopology& topo, OsdId id) {
  for (const auto& o : topo.osds) {
    if (o.id == id) return o.up;
  }
  return false;
}

}  // namespace

std::string PgId::to_string() const { return fmt::format("{}.{:x}", pool, seed); }

Result<PgId> PgId::parse(std::string_view s) {
  auto bad = [&] { return Status::InvalidArgument(fmt::format("invalid pg id '{}'", s)); };
  size_t dot = s.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == s.size()) return bad();
  std::string_view ps = s.substr(0, dot), ss = s.substr(dot + 1);
  PgId pg;
  auto [p1, e1] = std::from_chars(ps.data(), ps.data() + ps.size(), pg.pool, 10);
  if (e1 != std::errc() || p1 != ps.data() + ps.size() || pg.pool < 0) return bad();
  auto [p2, e2] = std::from_chars(ss.data(), ss.data() + ss.size(), pg.seed, 16);
  if (e2 != std::errc() || p2 != ss.data() + ss.size()) return bad();
  return pg;
}

uint32_t hash_object_name(std::string_view name) {
  const auto* k = reinterpret_cast<const unsigned char*>(name.data());
  uint32_t len = static_cast<uint32_t>(name.size());
  uint32_t a = 0x9e3779b9u, b = a, c = 0;
  auto word = [](const unsigned char* p) {
    return p[0] | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
  };
  while (len >= 12) {
    a += word(k);
    b += word(k + 4);
    c += word(k + 8);
    jenkins_mix(a, b, c);
    k += 12;
    len -= 12;
  }
  c += static_cast<uint32_t>(name.size());
  switch (len) {  // every case falls through; the low byte of c holds the length
    case 11:
      c += uint32_t{k[10]} << 24;
      [[fallthrough]];
    case 10:
      c += uint32_t{k[9]} << 16;
      [[fallthrough]];
    case 9:
      c += uint32_t{k[8]} << 8;
      [[fallthrough]];
    case 8:
      b += uint32_t{k[7]} << 24;
      [[fallthrough]];
    case 7:
      b += uint32_t{k[6]} << 16;
      [[fallthrough]];
    case 6:
      b += uint32_t{k[5]} << 8;
      [[fallthrough]];
    case 5:
      b += k[4];
      [[fallthrough]];
    case 4:
      a += uint32_t{k[3]} << 24;
      [[fallthrough]];
    case 3:
      a += uint32_t{k[2]} << 16;
      [[fallthrough]];
    case 2:
      a += uint32_t{k[1]} << 8;
      [[fallthrough]];
    case 1:
      a += k[0];
      [[fallthrough]];
    default:
      break;
  }
  jenkins_mix(a, b, c);
  return c;
}

uint32_t stable_mod(uint32_t x, uint32_t b) {
  CAIRN_CHECK(b >= 1);
  uint32_t mask = std::bit_ceil(b) - 1;  // b <= 2^31 in practice (pg_num <= 65536)
  return (x & mask) < b ? (x & mask) : (x & (mask >> 1));
}

PgId object_to_pg(const PoolInfo& pool, std::string_view name) {
  return PgId{pool.id, stable_mod(hash_object_name(name), std::max<uint32_t>(pool.pg_num, 1))};
}

PlacementTopology build_topology(const ClusterMap& map) {
  struct Entry {
    std::string_view host;
    const OsdInfo* osd;
  };
  std::vector<Entry> entries;
  entries.reserve(map.osds.size());
  for (const auto& [id, o] : map.osds) {
    if (o.in && o.weight > 0) entries.push_back({o.host, &o});
  }
  // Sorted by (host, id); hostless OSDs first, each its own host.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.host < b.host; });
  PlacementTopology t;
  t.osds.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const OsdInfo& o = *entries[i].osd;
    bool new_host = o.host.empty() || i == 0 || entries[i - 1].host != o.host;
    if (new_host) {
      PlacementTopology::Host h;
      // A hostless OSD is its own domain; hash its id so it stays put.
      h.hash =
          o.host.empty() ? hash2(static_cast<uint32_t>(o.id), 0x05d) : hash_object_name(o.host);
      h.first = static_cast<uint32_t>(t.osds.size());
      t.hosts.push_back(h);
    }
    PlacementTopology::Host& h = t.hosts.back();
    h.weight += o.weight;
    ++h.count;
    t.osds.push_back({o.id, o.weight, o.up});
  }
  return t;
}

std::vector<OsdId> pg_to_raw_osds(const PlacementTopology& topo, const PoolInfo& pool, PgId pg) {
  uint32_t pps = placement_seed(pg);
  return pool.failure_domain == FailureDomain::kOsd ? raw_osds_by_osd(topo, pool.size, pps)
                                                    : raw_osds_by_host(topo, pool.size, pps);
}

std::vector<OsdId> pg_to_raw_osds(const ClusterMap& map, const PoolInfo& pool, PgId pg) {
  return pg_to_raw_osds(build_topology(map), pool, pg);
}

std::vector<OsdId> pg_to_up_osds(const PlacementTopology& topo, const PoolInfo& pool, PgId pg) {
  std::vector<OsdId> raw = pg_to_raw_osds(topo, pool, pg);
  std::erase_if(raw, [&](OsdId id) { return !topo_osd_is_up(topo, id); });
  return raw;
}

std::vector<OsdId> pg_to_up_osds(const ClusterMap& map, const PoolInfo& pool, PgId pg) {
  std::vector<OsdId> raw = pg_to_raw_osds(map, pool, pg);
  std::erase_if(raw, [&](OsdId id) { return !map.osd_is_up(id); });
  return raw;
}

}  // namespace cairn
