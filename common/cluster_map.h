// The cluster map: the state the monitors replicate with Raft.
//
// Every change is a MapCommand; applying one bumps the epoch by exactly one.
// Subscribers that are a few epochs behind get the commands they missed
// (incremental update); those further behind get the whole map.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/codec.h"
#include "common/status.h"

namespace cairn {

using OsdId = int32_t;
using PoolId = int32_t;
using MonId = int32_t;
using Epoch = uint64_t;

inline constexpr OsdId kNoOsd = -1;
// Weights are fixed-point: 0x10000 == 1.0 (one "unit", e.g. 1 TiB of disk).
inline constexpr uint32_t kWeightOne = 0x10000;

struct MonInfo {
  MonId id = 0;
  std::string addr;       // "127.0.0.1:6789": messenger endpoint
  std::string http_addr;  // metrics + health
};

struct OsdInfo {
  OsdId id = kNoOsd;
  std::string addr;       // messenger endpoint; empty until first boot
  std::string http_addr;  // metrics + health
  std::string host;       // failure domain "host"
  std::string device_class = "ssd";
  bool up = false;
  bool in = true;  // "out" OSDs get no placement
  uint32_t weight = kWeightOne;
  Epoch up_from = 0;       // epoch of the last boot
  uint64_t boot_nonce = 0; // distinguishes restarts of the same id
};

enum class FailureDomain : uint8_t { kHost = 0, kOsd = 1 };

struct PoolInfo {
  PoolId id = 0;
  std::string name;
  uint32_t size = 3;
  uint32_t min_size = 2;
  uint32_t pg_num = 64;
  FailureDomain failure_domain = FailureDomain::kHost;
  uint64_t max_bytes = 0;  // quota; 0 = unlimited
};

struct ClusterMap {
  Epoch epoch = 0;
  std::string fsid;  // cluster identity, set at creation
  std::map<MonId, MonInfo> mons;
  std::map<OsdId, OsdInfo> osds;
  std::map<PoolId, PoolInfo> pools;
  OsdId next_osd_id = 0;
  PoolId next_pool_id = 1;
  // Service registrations (gateways, MDS) and auth keys: name -> value.
  std::map<std::string, std::string> services;

  const PoolInfo* find_pool(const std::string& name) const;
  const PoolInfo* find_pool(PoolId id) const;
  const OsdInfo* find_osd(OsdId id) const;
  bool osd_is_up(OsdId id) const;

  void encode(Encoder& e) const;
  static Result<ClusterMap> decode(std::string_view bytes);
  std::string encode_to_string() const;
};

// A change to the map. Commands are validated and applied deterministically
// by apply_command, so every monitor that applies the same log gets the same map.
enum class MapOp : uint8_t {
  kCreateMap = 1,      // str = fsid
  kOsdCreate = 2,      // osd.id (-1: allocate), osd.host, osd.weight, osd.device_class
  kOsdBoot = 3,        // osd.id, osd.addr, osd.http_addr, osd.host, osd.boot_nonce
  kOsdDown = 4,        // ids
  kOsdOut = 5,         // ids
  kOsdIn = 6,          // ids
  kOsdReweight = 7,    // osd.id, osd.weight
  kOsdRemove = 8,      // ids (must be down and out)
  kPoolCreate = 9,     // pool (id ignored: allocated)
  kPoolRemove = 10,    // str = name
  kPoolSet = 11,       // str = name, key, value
  kMonSet = 12,        // mon (add or update)
  kMonRemove = 13,     // mon.id
  kServiceSet = 14,    // key, value (empty value removes)
};

struct MapCommand {
  MapOp op = MapOp::kCreateMap;
  OsdInfo osd;
  PoolInfo pool;
  MonInfo mon;
  std::vector<OsdId> ids;
  std::string str;
  std::string key;
  std::string value;

  void encode(Encoder& e) const;
  static Result<MapCommand> decode(std::string_view bytes);
  std::string encode_to_string() const;
  std::string describe() const;  // for logs: "mark osd.3 down"
};

// Validates cmd against map and, if valid, applies it and bumps the epoch.
// On error the map is unchanged. A command that changes nothing (e.g. marking
// a down OSD down) still succeeds but does not bump the epoch; *changed says which.
Status apply_command(ClusterMap& map, const MapCommand& cmd, bool* changed = nullptr);

// Limits that both clients and daemons enforce.
inline constexpr size_t kMaxObjectNameLen = 1024;
inline constexpr size_t kMaxPoolNameLen = 128;
inline constexpr uint64_t kMaxObjectSize = 128ull << 20;  // 128 MiB per object

Status validate_object_name(std::string_view name);

// Service-map key the monitor leader sets while a pool is over its quota.
inline std::string pool_full_key(PoolId id) { return "pool_full." + std::to_string(id); }
// Service-map key the monitor leader sets while an OSD reports itself full:
// primaries refuse writes to PGs that have it as a member.
inline std::string osd_full_key(OsdId id) { return "osd_full." + std::to_string(id); }
Status validate_pool_name(std::string_view name);

}  // namespace cairn
