#include "common/cluster_map.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>

namespace cairn {

namespace {

// Bump on any layout change; decode rejects versions it does not know.
constexpr uint8_t kMapVersion = 1;
constexpr uint8_t kCommandVersion = 1;

constexpr uint32_t kMaxPoolSize = 10;
constexpr uint32_t kMaxPgNum = 65536;
// Keeps next_osd_id far from overflow and OSD tables small.
constexpr OsdId kMaxOsdId = (1 << 20) - 1;

// ---- encoding of the parts ----

void encode_mon(Encoder& e, const MonInfo& m) {
  e.i32(m.id);
  e.str(m.addr);
  e.str(m.http_addr);
}

MonInfo decode_mon(Decoder& d) {
  MonInfo m;
  m.id = d.i32();
  m.addr = d.str();
  m.http_addr = d.str();
  return m;
}

void encode_osd(Encoder& e, const OsdInfo& o) {
  e.i32(o.id);
  e.str(o.addr);
  e.str(o.http_addr);
  e.str(o.host);
  e.str(o.device_class);
  e.boolean(o.up);
  e.boolean(o.in);
  e.u32(o.weight);
  e.u64(o.up_from);
  e.u64(o.boot_nonce);
}

OsdInfo decode_osd(Decoder& d) {
  OsdInfo o;
  o.id = d.i32();
  o.addr = d.str();
  o.http_addr = d.str();
  o.host = d.str();
  o.device_class = d.str();
  o.up = d.boolean();
  o.in = d.boolean();
  o.weight = d.u32();
  o.up_from = d.u64();
  o.boot_nonce = d.u64();
  return o;
}

void encode_pool(Encoder& e, const PoolInfo& p) {
  e.i32(p.id);
  e.str(p.name);
  e.u32(p.size);
  e.u32(p.min_size);
  e.u32(p.pg_num);
  e.u8(static_cast<uint8_t>(p.failure_domain));
  e.u64(p.max_bytes);
}

PoolInfo decode_pool(Decoder& d) {
  PoolInfo p;
  p.id = d.i32();
  p.name = d.str();
  p.size = d.u32();
  p.min_size = d.u32();
  p.pg_num = d.u32();
  uint8_t fd = d.u8();
  if (fd > static_cast<uint8_t>(FailureDomain::kOsd)) d.fail();
  p.failure_domain = static_cast<FailureDomain>(fd);
  p.max_bytes = d.u64();
  return p;
}

// ---- validation helpers ----

std::string_view failure_domain_name(FailureDomain fd) {
  return fd == FailureDomain::kOsd ? "osd" : "host";
}

Status check_pool_sizes(uint32_t size, uint32_t min_size, uint32_t pg_num) {
  if (size < 1 || size > kMaxPoolSize) {
    return Status::InvalidArgument(fmt::format("pool size {} not in 1..{}", size, kMaxPoolSize));
  }
  if (min_size < 1 || min_size > size) {
    return Status::InvalidArgument(fmt::format("pool min_size {} not in 1..{}", min_size, size));
  }
  if (pg_num < 1 || pg_num > kMaxPgNum) {
    return Status::InvalidArgument(fmt::format("pool pg_num {} not in 1..{}", pg_num, kMaxPgNum));
  }
  return Status::Ok();
}

Result<uint64_t> parse_u64(std::string_view key, std::string_view s) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) {
    return Status::InvalidArgument(fmt::format("{}: '{}' is not a non-negative integer", key, s));
  }
  return v;
}

Result<uint32_t> parse_u32(std::string_view key, std::string_view s) {
  auto v = parse_u64(key, s);
  if (!v.ok()) return v.status();
  if (*v > UINT32_MAX) return Status::InvalidArgument(fmt::format("{}: {} is too large", key, s));
  return static_cast<uint32_t>(*v);
}

// Every id must name an existing OSD; the list must not be empty.
Status check_osd_ids(const ClusterMap& map, const std::vector<OsdId>& ids) {
  if (ids.empty()) return Status::InvalidArgument("no osd ids given");
  for (OsdId id : ids) {
    if (!map.osds.contains(id)) return Status::NotFound(fmt::format("osd.{} does not exist", id));
  }
  return Status::Ok();
}

std::string ids_string(const std::vector<OsdId>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ",";
    s += fmt::format("osd.{}", ids[i]);
  }
  return s.empty() ? "(none)" : s;
}

// ---- per-op application ----
// Each returns an error (map untouched) or sets *changed and mutates the map.
// Validation always happens before the first mutation.

Status apply_create_map(ClusterMap& map, const MapCommand& cmd, bool* changed) {
  if (cmd.str.empty()) return Status::InvalidArgument("fsid must not be empty");
  if (!map.fsid.empty()) {
    if (map.fsid == cmd.str) return Status::Ok();  // replayed create: no-op
    return Status::AlreadyExists(fmt::format("map already created with fsid {}", map.fsid));
  }
  map.fsid = cmd.str;
  *changed = true;
  return Status::Ok();
}

Status apply_osd_create(ClusterMap& map, const MapCommand& cmd, bool* changed) {
  OsdId id = cmd.osd.id;
  if (id == kNoOsd) {
    id = map.next_osd_id;
  } else if (id < 0) {
    return Status::InvalidArgument(fmt::format("invalid osd id {}", id));
  } else if (map.osds.contains(id)) {
    return Status::AlreadyExists(fmt::format("osd.{} already exists", id));
  }
  if (id > kMaxOsdId) {
    return Status::InvalidArgument(fmt::format("osd id {} exceeds the limit {}", id, kMaxOsdId));
  }
  // next_osd_id is above every existing id, so an allocated id is always free.
  CAIRN_CHECK(!map.osds.contains(id));
  OsdInfo o;
  o.id = id;
  o.host = cmd.osd.host;
  o.device_class = cmd.osd.device_class.empty() ? "ssd" : cmd.osd.device_class;
  o.weight = cmd.osd.weight;
  o.up = false;
  o.in = true;
  map.osds[id] = std::move(o);
  map.next_osd_id = std::max(map.next_osd_id, id + 1);
  *changed = true;
  return Status::Ok();
}

Status apply_osd_boot(ClusterMap& map, const MapCommand& cmd, bool* changed) {
  auto it = map.osds.find(cmd.osd.id);
  if (it == map.osds.end()) {
    return Status::NotFound(fmt::format("osd.{} does not exist (create it first)", cmd.osd.id));
  }
  if (cmd.osd.addr.empty()) return Status::InvalidArgument("boot without an address");
  OsdInfo& o = it->second;
  std::string host = cmd.osd.host.empty() ? o.host : cmd.osd.host;
  // A resent boot message of the same incarnation changes nothing.
  if (o.up && o.boot_nonce == cmd.osd.boot_nonce && o.addr == cmd.osd.addr &&
      o.http_addr == cmd.osd.http_addr && o.host == host) {
    return Status::Ok();
  }
  o.up = true;
  o.addr = cmd.osd.addr;
  o.http_addr = cmd.osd.http_addr;
  o.host = std::move(host);
  o.boot_nonce = cmd.osd.boot_nonce;
  o.up_from = map.epoch + 1;
  *changed = true;
  return Status::Ok();
}

// Down / out / in: set one flag on every listed OSD.
Status apply_osd_flag(ClusterMap& map, const MapCommand& cmd, bool OsdInfo::*flag, bool value,
                      bool* changed) {
  CAIRN_RETURN_IF_ERROR(check_osd_ids(map, cmd.ids));
  for (OsdId id : cmd.ids) {
    bool& f = map.osds[id].*flag;
    if (f != value) {
      f = value;
      *changed = true;
    }
  }
  return Status::Ok();
}

Status apply_osd_reweight(ClusterMap& map, const MapCommand& cmd, bool* changed) {
  auto it = map.osds.find(cmd.osd.id);
  if (it == map.osds.end()) {
    return Status::NotFound(fmt::format("osd.{} does not exist", cmd.osd.id));
  }
  if (it->second.weight != cmd.osd.weight) {
    it->second.weight = cmd.osd.weight;
    *changed = true;
  }
  return Status::Ok();
}

Status apply_osd_remove(ClusterMap& map, const MapCommand& cmd, bool* changed) {
  CAIRN_RETURN_IF_ERROR(check_osd_ids(map, cmd.ids));
  for (OsdId id : cmd.ids) {
    const OsdInfo& o = map.osds.at(id);
    if (o.up || o.in) {
      return Status::InvalidArgument(fmt::format(
          "osd.{} is {}: only a down and out osd can be removed", id, o.up ? "up" : "in"));
    }
  }
  for (OsdId id : cmd.ids) map.osds.erase(id);
  *changed = true;
  return Status::Ok();
}

Status apply_pool_create(ClusterMap& map, const MapCommand& cmd, bool* changed) {
  const PoolInfo& p = cmd.pool;
  CAIRN_RETURN_IF_ERROR(validate_pool_name(p.name));
  if (map.find_pool(p.name)) {
    return Status::AlreadyExists(fmt::format("pool '{}' already exists", p.name));
  }
  CAIRN_RETURN_IF_ERROR(check_pool_sizes(p.size, p.min_size, p.pg_num));
  if (p.failure_domain != FailureDomain::kHost && p.failure_domain != FailureDomain::kOsd) {
    return Status::InvalidArgument("unknown failure domain");
  }
  if (map.next_pool_id < 1 || map.next_pool_id == INT32_MAX) {
    return Status::InvalidArgument("pool ids exhausted");
  }
  PoolInfo np = p;
  np.id = map.next_pool_id++;
  map.pools[np.id] = std::move(np);
  *changed = true;
  return Status::Ok();
}

Status apply_pool_remove(ClusterMap& map, const MapCommand& cmd, bool* changed) {
  const PoolInfo* p = map.find_pool(cmd.str);
  if (!p) return Status::NotFound(fmt::format("pool '{}' does not exist", cmd.str));
  map.pools.erase(p->id);
  *changed = true;
  return Status::Ok();
}

Status apply_pool_set(ClusterMap& map, const MapCommand& cmd, bool* changed) {
  const PoolInfo* found = map.find_pool(cmd.str);
  if (!found) return Status::NotFound(fmt::format("pool '{}' does not exist", cmd.str));
  PoolInfo p = *found;
  const std::string& k = cmd.key;
  const std::string& v = cmd.value;
  if (k == "size") {
    auto n = parse_u32(k, v);
    if (!n.ok()) return n.status();
    p.size = *n;
    // Shrinking size below min_size would make every PG inactive; follow it down.
    p.min_size = std::min(p.min_size, p.size);
  } else if (k == "min_size") {
    auto n = parse_u32(k, v);
    if (!n.ok()) return n.status();
    p.min_size = *n;
  } else if (k == "pg_num") {
    auto n = parse_u32(k, v);
    if (!n.ok()) return n.status();
    p.pg_num = *n;
  } else if (k == "max_bytes") {
    auto n = parse_u64(k, v);
    if (!n.ok()) return n.status();
    p.max_bytes = *n;
  } else if (k == "failure_domain") {
    if (v == "host") {
      p.failure_domain = FailureDomain::kHost;
    } else if (v == "osd") {
      p.failure_domain = FailureDomain::kOsd;
    } else {
      return Status::InvalidArgument(fmt::format("failure_domain '{}' is not host|osd", v));
    }
  } else {
    return Status::InvalidArgument(fmt::format("unknown pool key '{}'", k));
  }
  CAIRN_RETURN_IF_ERROR(check_pool_sizes(p.size, p.min_size, p.pg_num));
  PoolInfo& dst = map.pools.at(p.id);
  if (dst.size != p.size || dst.min_size != p.min_size || dst.pg_num != p.pg_num ||
      dst.max_bytes != p.max_bytes || dst.failure_domain != p.failure_domain) {
    dst = std::move(p);
    *changed = true;
  }
  return Status::Ok();
}

Status apply_mon_set(ClusterMap& map, const MapCommand& cmd, bool* changed) {
  const MonInfo& m = cmd.mon;
  if (m.id < 0) return Status::InvalidArgument(fmt::format("invalid mon id {}", m.id));
  if (m.addr.empty()) return Status::InvalidArgument("mon address must not be empty");
  auto it = map.mons.find(m.id);
  if (it != map.mons.end() && it->second.addr == m.addr && it->second.http_addr == m.http_addr) {
    return Status::Ok();
  }
  map.mons[m.id] = m;
  *changed = true;
  return Status::Ok();
}

Status apply_mon_remove(ClusterMap& map, const MapCommand& cmd, bool* changed) {
  if (!map.mons.contains(cmd.mon.id)) {
    return Status::NotFound(fmt::format("mon.{} does not exist", cmd.mon.id));
  }
  if (map.mons.size() == 1) return Status::InvalidArgument("cannot remove the last monitor");
  map.mons.erase(cmd.mon.id);
  *changed = true;
  return Status::Ok();
}

Status apply_service_set(ClusterMap& map, const MapCommand& cmd, bool* changed) {
  if (cmd.key.empty()) return Status::InvalidArgument("service key must not be empty");
  auto it = map.services.find(cmd.key);
  if (cmd.value.empty()) {
    if (it == map.services.end()) return Status::Ok();
    map.services.erase(it);
  } else {
    if (it != map.services.end() && it->second == cmd.value) return Status::Ok();
    map.services[cmd.key] = cmd.value;
  }
  *changed = true;
  return Status::Ok();
}

}  // namespace

// ---- ClusterMap ----

const PoolInfo* ClusterMap::find_pool(const std::string& name) const {
  for (const auto& [id, p] : pools) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const PoolInfo* ClusterMap::find_pool(PoolId id) const {
  auto it = pools.find(id);
  return it == pools.end() ? nullptr : &it->second;
}

const OsdInfo* ClusterMap::find_osd(OsdId id) const {
  auto it = osds.find(id);
  return it == osds.end() ? nullptr : &it->second;
}

bool ClusterMap::osd_is_up(OsdId id) const {
  const OsdInfo* o = find_osd(id);
  return o && o->up;
}

void ClusterMap::encode(Encoder& e) const {
  e.u8(kMapVersion);
  e.u64(epoch);
  e.str(fsid);
  e.u32(static_cast<uint32_t>(mons.size()));
  for (const auto& [id, m] : mons) encode_mon(e, m);
  e.u32(static_cast<uint32_t>(osds.size()));
  for (const auto& [id, o] : osds) encode_osd(e, o);
  e.u32(static_cast<uint32_t>(pools.size()));
  for (const auto& [id, p] : pools) encode_pool(e, p);
  e.i32(next_osd_id);
  e.i32(next_pool_id);
  e.u32(static_cast<uint32_t>(services.size()));
  for (const auto& [k, v] : services) {
    e.str(k);
    e.str(v);
  }
}

std::string ClusterMap::encode_to_string() const {
  std::string out;
  Encoder e(&out);
  encode(e);
  return out;
}

Result<ClusterMap> ClusterMap::decode(std::string_view bytes) {
  Decoder d(bytes);
  uint8_t version = d.u8();
  if (!d.ok()) return d.status("cluster map");
  if (version != kMapVersion) {
    return Status::Corruption(fmt::format("cluster map version {} not supported", version));
  }
  ClusterMap m;
  m.epoch = d.u64();
  m.fsid = d.str();
  // Keys are the embedded ids; a duplicate means the bytes are not ours.
  for (uint32_t i = 0, n = d.count(); i < n && d.ok(); ++i) {
    MonInfo mon = decode_mon(d);
    if (!m.mons.emplace(mon.id, std::move(mon)).second) d.fail();
  }
  for (uint32_t i = 0, n = d.count(); i < n && d.ok(); ++i) {
    OsdInfo o = decode_osd(d);
    if (!m.osds.emplace(o.id, std::move(o)).second) d.fail();
  }
  for (uint32_t i = 0, n = d.count(); i < n && d.ok(); ++i) {
    PoolInfo p = decode_pool(d);
    if (!m.pools.emplace(p.id, std::move(p)).second) d.fail();
  }
  m.next_osd_id = d.i32();
  m.next_pool_id = d.i32();
  for (uint32_t i = 0, n = d.count(); i < n && d.ok(); ++i) {
    std::string k = d.str();
    std::string v = d.str();
    if (!m.services.emplace(std::move(k), std::move(v)).second) d.fail();
  }
  if (!d.done()) return Status::Corruption("cannot decode cluster map");
  return m;
}

// ---- MapCommand ----

void MapCommand::encode(Encoder& e) const {
  e.u8(kCommandVersion);
  e.u8(static_cast<uint8_t>(op));
  encode_osd(e, osd);
  encode_pool(e, pool);
  encode_mon(e, mon);
  e.u32(static_cast<uint32_t>(ids.size()));
  for (OsdId id : ids) e.i32(id);
  e.str(str);
  e.str(key);
  e.str(value);
}

std::string MapCommand::encode_to_string() const {
  std::string out;
  Encoder e(&out);
  encode(e);
  return out;
}

Result<MapCommand> MapCommand::decode(std::string_view bytes) {
  Decoder d(bytes);
  uint8_t version = d.u8();
  if (!d.ok()) return d.status("map command");
  if (version != kCommandVersion) {
    return Status::Corruption(fmt::format("map command version {} not supported", version));
  }
  MapCommand c;
  uint8_t op = d.u8();
  if (op < static_cast<uint8_t>(MapOp::kCreateMap) ||
      op > static_cast<uint8_t>(MapOp::kServiceSet)) {
    d.fail();
  }
  c.op = static_cast<MapOp>(op);
  c.osd = decode_osd(d);
  c.pool = decode_pool(d);
  c.mon = decode_mon(d);
  for (uint32_t i = 0, n = d.count(); i < n && d.ok(); ++i) c.ids.push_back(d.i32());
  c.str = d.str();
  c.key = d.str();
  c.value = d.str();
  if (!d.done()) return Status::Corruption("cannot decode map command");
  return c;
}

std::string MapCommand::describe() const {
  switch (op) {
    case MapOp::kCreateMap:
      return fmt::format("create cluster map fsid {}", str);
    case MapOp::kOsdCreate:
      return fmt::format(
          "create {} host '{}' weight {:.3f} class {}",
          osd.id == kNoOsd ? std::string("osd (next id)") : fmt::format("osd.{}", osd.id), osd.host,
          static_cast<double>(osd.weight) / kWeightOne, osd.device_class);
    case MapOp::kOsdBoot:
      return fmt::format("boot osd.{} at {} host '{}' nonce {}", osd.id, osd.addr, osd.host,
                         osd.boot_nonce);
    case MapOp::kOsdDown:
      return fmt::format("mark {} down", ids_string(ids));
    case MapOp::kOsdOut:
      return fmt::format("mark {} out", ids_string(ids));
    case MapOp::kOsdIn:
      return fmt::format("mark {} in", ids_string(ids));
    case MapOp::kOsdReweight:
      return fmt::format("reweight osd.{} to {:.3f}", osd.id,
                         static_cast<double>(osd.weight) / kWeightOne);
    case MapOp::kOsdRemove:
      return fmt::format("remove {}", ids_string(ids));
    case MapOp::kPoolCreate:
      return fmt::format("create pool '{}' size {} min_size {} pg_num {} failure_domain {}",
                         pool.name, pool.size, pool.min_size, pool.pg_num,
                         failure_domain_name(pool.failure_domain));
    case MapOp::kPoolRemove:
      return fmt::format("remove pool '{}'", str);
    case MapOp::kPoolSet:
      return fmt::format("set pool '{}' {} = {}", str, key, value);
    case MapOp::kMonSet:
      return fmt::format("set mon.{} at {}", mon.id, mon.addr);
    case MapOp::kMonRemove:
      return fmt::format("remove mon.{}", mon.id);
    case MapOp::kServiceSet:
      // Values can be auth keys: never log them.
      return value.empty() ? fmt::format("remove service '{}'", key)
                           : fmt::format("set service '{}'", key);
  }
  return fmt::format("unknown map op {}", static_cast<int>(op));
}

// ---- apply ----

Status apply_command(ClusterMap& map, const MapCommand& cmd, bool* changed) {
  bool did_change = false;
  Status st;
  switch (cmd.op) {
    case MapOp::kCreateMap:
      st = apply_create_map(map, cmd, &did_change);
      break;
    case MapOp::kOsdCreate:
      st = apply_osd_create(map, cmd, &did_change);
      break;
    case MapOp::kOsdBoot:
      st = apply_osd_boot(map, cmd, &did_change);
      break;
    case MapOp::kOsdDown:
      st = apply_osd_flag(map, cmd, &OsdInfo::up, false, &did_change);
      break;
    case MapOp::kOsdOut:
      st = apply_osd_flag(map, cmd, &OsdInfo::in, false, &did_change);
      break;
    case MapOp::kOsdIn:
      st = apply_osd_flag(map, cmd, &OsdInfo::in, true, &did_change);
      break;
    case MapOp::kOsdReweight:
      st = apply_osd_reweight(map, cmd, &did_change);
      break;
    case MapOp::kOsdRemove:
      st = apply_osd_remove(map, cmd, &did_change);
      break;
    case MapOp::kPoolCreate:
      st = apply_pool_create(map, cmd, &did_change);
      break;
    case MapOp::kPoolRemove:
      st = apply_pool_remove(map, cmd, &did_change);
      break;
    case MapOp::kPoolSet:
      st = apply_pool_set(map, cmd, &did_change);
      break;
    case MapOp::kMonSet:
      st = apply_mon_set(map, cmd, &did_change);
      break;
    case MapOp::kMonRemove:
      st = apply_mon_remove(map, cmd, &did_change);
      break;
    case MapOp::kServiceSet:
      st = apply_service_set(map, cmd, &did_change);
      break;
    default:
      st = Status::InvalidArgument(fmt::format("unknown map op {}", static_cast<int>(cmd.op)));
  }
  if (!st.ok()) did_change = false;
  if (did_change) ++map.epoch;
  if (changed) *changed = did_change;
  return st;
}

// ---- limits ----

Status validate_object_name(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("object name must not be empty");
  if (name.size() > kMaxObjectNameLen) {
    return Status::TooLarge(
        fmt::format("object name of {} bytes exceeds {}", name.size(), kMaxObjectNameLen));
  }
  if (name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("object name must not contain a NUL byte");
  }
  return Status::Ok();
}

Status validate_pool_name(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("pool name must not be empty");
  if (name.size() > kMaxPoolNameLen) {
    return Status::TooLarge(
        fmt::format("pool name of {} bytes exceeds {}", name.size(), kMaxPoolNameLen));
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) {
      return Status::InvalidArgument(
          fmt::format("pool name '{}' may contain only [A-Za-z0-9_.-]", name));
    }
  }
  return Status::Ok();
}

}  // namespace cairn
