// Placement: object name -> PG -> ordered OSD set. A pure function of the
// cluster map, so every client and daemon computes the same answer without
// asking anyone.
//
// The OSD choice is CRUSH-like: straw2 weighted draws, first across failure
// domains (hosts, or single OSDs), then an OSD inside each chosen host. Each
// item draws once per PG from (pg, item) and its own weight; the pool.size
// best domains win, best first. So changing one item's weight or taking it out
// moves only PGs that involve it, and there are no collision retries.
//
// Everything here is deterministic across processes, builds and machines:
// hashes are fixed (Jenkins), and the straw2 logarithm is integer arithmetic.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/cluster_map.h"
#include "common/status.h"

namespace cairn {

struct PgId {
  PoolId pool = 0;
  uint32_t seed = 0;

  // "1.3f": decimal pool id, hexadecimal seed (as Ceph prints PGs).
  std::string to_string() const;
  // Inverse of to_string(); InvalidArgument on anything else.
  static Result<PgId> parse(std::string_view s);

  auto operator<=>(const PgId&) const = default;
};

// Fixed 32-bit hash of an object name (Bob Jenkins' lookup2, as Ceph's
// rjenkins string hash). Stable forever: changing it moves every object.
uint32_t hash_object_name(std::string_view name);

// Ceph's stable_mod: x mod b such that growing b from 2^(n-1) to 2^n splits
// each PG in two instead of reshuffling all objects.
// REQUIRES: b >= 1.
uint32_t stable_mod(uint32_t x, uint32_t b);

// The PG an object belongs to. REQUIRES: pool.pg_num >= 1.
PgId object_to_pg(const PoolInfo& pool, std::string_view name);

// The failure-domain view of a map that placement walks. Building it costs a
// pass over the OSDs; callers mapping many PGs against one map epoch should
// build it once and use the overloads that take it.
struct PlacementTopology {
  struct Osd {
    OsdId id = kNoOsd;
    uint32_t weight = 0;
    bool up = false;
  };
  struct Host {
    uint32_t hash = 0;    // straw2 item id: hash of the host name
    uint64_t weight = 0;  // sum of its OSDs' weights
    uint32_t first = 0;   // its OSDs are osds[first, first + count)
    uint32_t count = 0;
  };
  // OSDs that are "in" with weight > 0, grouped by host (hosts sorted by
  // name, OSDs by id). An OSD with an empty host is a host of its own.
  std::vector<Osd> osds;
  std::vector<Host> hosts;
};
PlacementTopology build_topology(const ClusterMap& map);

// Raw CRUSH result: up to pool.size distinct OSDs in replica order, chosen
// among "in" OSDs with weight > 0, each from a different failure domain. Down
// but in OSDs keep their slots (the PG is degraded, not remapped). With fewer
// domains than pool.size, fewer OSDs come back.
std::vector<OsdId> pg_to_raw_osds(const ClusterMap& map, const PoolInfo& pool, PgId pg);
std::vector<OsdId> pg_to_raw_osds(const PlacementTopology& topo, const PoolInfo& pool, PgId pg);

// The up set: raw OSDs that are up, order kept. The primary is up[0].
std::vector<OsdId> pg_to_up_osds(const ClusterMap& map, const PoolInfo& pool, PgId pg);
std::vector<OsdId> pg_to_up_osds(const PlacementTopology& topo, const PoolInfo& pool, PgId pg);

}  // namespace cairn
