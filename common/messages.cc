#include "common/messages.h"

namespace cairn {

namespace {

void encode_kvs(Encoder& e, const std::map<std::string, std::string>& kvs) {
  e.u32(static_cast<uint32_t>(kvs.size()));
  for (const auto& [k, v] : kvs) {
    e.str(k);
    e.bytes(v);
  }
}

std::map<std::string, std::string> decode_kvs(Decoder& d) {
  std::map<std::string, std::string> kvs;
  uint32_t n = d.count();
  for (uint32_t i = 0; i < n && d.ok(); ++i) {
    std::string k = d.str();
    kvs[std::move(k)] = d.bytes();
  }
  return kvs;
}

void encode_strings(Encoder& e, const std::vector<std::string>& v) {
  e.u32(static_cast<uint32_t>(v.size()));
  for (const auto& s : v) e.str(s);
}

std::vector<std::string> decode_strings(Decoder& d) {
  std::vector<std::string> v;
  uint32_t n = d.count();
  v.reserve(n);
  for (uint32_t i = 0; i < n && d.ok(); ++i) v.push_back(d.str());
  return v;
}

// Wraps the common "decode a whole payload" pattern: fails on trailing bytes too.
template <typename T, typename Fn>
Result<T> decode_all(std::string_view b, const char* what, Fn fn) {
  Decoder d(b);
  T t;
  fn(d, t);
  if (!d.done()) return Status::Corruption(std::string("cannot decode ") + what);
  return t;
}

}  // namespace

void encode_status(Encoder& e, const Status& s) {
  e.u8(static_cast<uint8_t>(s.code()));
  e.str(s.message());
}

Status decode_status(Decoder& d) {
  uint8_t code = d.u8();
  std::string msg = d.str();
  if (!d.ok()) return Status::Corruption("cannot decode status");
  if (code > static_cast<uint8_t>(Code::kShutdown)) return Status::Corruption("unknown status code");
  if (code == 0) return Status::Ok();
  return Status(static_cast<Code>(code), std::move(msg));
}

void StatusReply::encode(Encoder& e) const {
  encode_status(e, status);
  e.str(leader_hint);
  e.u64(epoch);
}

Result<StatusReply> StatusReply::decode(Decoder& d) {
  StatusReply r;
  r.status = decode_status(d);
  r.leader_hint = d.str();
  r.epoch = d.u64();
  if (!d.ok()) return Status::Corruption("cannot decode reply header");
  return r;
}

#define CAIRN_DECODE_HEAD(d, t)                  \
  do {                                           \
    auto h = StatusReply::decode(d);             \
    if (h.ok()) t.head = std::move(*h);          \
    else d.fail();                               \
  } while (0)

std::string CommandReply::encode() const {
  std::string out;
  Encoder e(&out);
  head.encode(e);
  e.u64(applied_epoch);
  e.bytes(data);
  return out;
}

Result<CommandReply> CommandReply::decode(std::string_view b) {
  return decode_all<CommandReply>(b, "command reply", [](Decoder& d, CommandReply& t) {
    CAIRN_DECODE_HEAD(d, t);
    t.applied_epoch = d.u64();
    t.data = d.bytes();
  });
}

std::string SubscribeRequest::encode() const {
  std::string out;
  Encoder e(&out);
  e.u64(have_epoch);
  return out;
}

Result<SubscribeRequest> SubscribeRequest::decode(std::string_view b) {
  return decode_all<SubscribeRequest>(b, "subscribe request",
                                      [](Decoder& d, SubscribeRequest& t) { t.have_epoch = d.u64(); });
}

std::string MapUpdate::encode() const {
  std::string out;
  Encoder e(&out);
  e.boolean(full);
  e.bytes(map);
  e.u64(first_epoch);
  encode_strings(e, commands);
  return out;
}

Result<MapUpdate> MapUpdate::decode(std::string_view b) {
  return decode_all<MapUpdate>(b, "map update", [](Decoder& d, MapUpdate& t) {
    t.full = d.boolean();
    t.map = d.bytes();
    t.first_epoch = d.u64();
    t.commands = decode_strings(d);
  });
}

std::string OsdHeartbeat::encode() const {
  std::string out;
  Encoder e(&out);
  e.i32(osd);
  e.u64(boot_nonce);
  e.u64(map_epoch);
  return out;
}

Result<OsdHeartbeat> OsdHeartbeat::decode(std::string_view b) {
  return decode_all<OsdHeartbeat>(b, "heartbeat", [](Decoder& d, OsdHeartbeat& t) {
    t.osd = d.i32();
    t.boot_nonce = d.u64();
    t.map_epoch = d.u64();
  });
}

std::string OsdFailure::encode() const {
  std::string out;
  Encoder e(&out);
  e.i32(reporter);
  e.i32(target);
  e.u64(failed_for_ms);
  return out;
}

Result<OsdFailure> OsdFailure::decode(std::string_view b) {
  return decode_all<OsdFailure>(b, "failure report", [](Decoder& d, OsdFailure& t) {
    t.reporter = d.i32();
    t.target = d.i32();
    t.failed_for_ms = d.u64();
  });
}

std::string MonStatus::encode() const {
  std::string out;
  Encoder e(&out);
  e.i32(id);
  e.str(role);
  e.u64(term);
  e.i32(leader);
  e.str(leader_addr);
  e.u64(map_epoch);
  e.u64(commit_index);
  e.u32(static_cast<uint32_t>(voters.size()));
  for (auto v : voters) e.i32(v);
  e.u32(static_cast<uint32_t>(reachable.size()));
  for (auto v : reachable) e.i32(v);
  return out;
}

Result<MonStatus> MonStatus::decode(std::string_view b) {
  return decode_all<MonStatus>(b, "monitor status", [](Decoder& d, MonStatus& t) {
    t.id = d.i32();
    t.role = d.str();
    t.term = d.u64();
    t.leader = d.i32();
    t.leader_addr = d.str();
    t.map_epoch = d.u64();
    t.commit_index = d.u64();
    uint32_t n = d.count();
    for (uint32_t i = 0; i < n && d.ok(); ++i) t.voters.push_back(d.i32());
    n = d.count();
    for (uint32_t i = 0; i < n && d.ok(); ++i) t.reachable.push_back(d.i32());
  });
}

void OsdReport::encode(Encoder& e) const {
  e.i32(osd);
  e.u64(map_epoch);
  e.u64(used_bytes);
  e.u64(total_bytes);
  e.u64(avail_bytes);
  e.u64(ops);
  e.u64(received_ms);
  e.u32(static_cast<uint32_t>(pgs.size()));
  for (const auto& p : pgs) {
    e.i32(p.pool);
    e.u32(p.pg);
    e.str(p.state);
    e.u64(p.objects);
    e.u64(p.bytes);
    e.u64(p.degraded_objects);
    e.u32(static_cast<uint32_t>(p.blocked_by.size()));
    for (OsdId o : p.blocked_by) e.i32(o);
    e.u64(p.last_scrub_ms);
    e.u64(p.last_deep_scrub_ms);
  }
  e.u64(recovery_objects_left);
  e.f64(recovery_objects_per_sec);
  e.f64(recovery_bytes_per_sec);
  e.boolean(full);
}

OsdReport OsdReport::decode(Decoder& d) {
  OsdReport r;
  r.osd = d.i32();
  r.map_epoch = d.u64();
  r.used_bytes = d.u64();
  r.total_bytes = d.u64();
  r.avail_bytes = d.u64();
  r.ops = d.u64();
  r.received_ms = d.u64();
  uint32_t n = d.count();
  for (uint32_t i = 0; i < n && d.ok(); ++i) {
    PgStat p;
    p.pool = d.i32();
    p.pg = d.u32();
    p.state = d.str();
    p.objects = d.u64();
    p.bytes = d.u64();
    p.degraded_objects = d.u64();
    uint32_t nb = d.count();
    for (uint32_t j = 0; j < nb && d.ok(); ++j) p.blocked_by.push_back(d.i32());
    p.last_scrub_ms = d.u64();
    p.last_deep_scrub_ms = d.u64();
    r.pgs.push_back(std::move(p));
  }
  r.recovery_objects_left = d.u64();
  r.recovery_objects_per_sec = d.f64();
  r.recovery_bytes_per_sec = d.f64();
  r.full = d.boolean();
  return r;
}

std::string OsdReport::encode() const {
  std::string out;
  Encoder e(&out);
  encode(e);
  return out;
}

bool op_is_write(OpCode op) { return static_cast<uint8_t>(op) >= 20; }

void ObjectOp::encode(Encoder& e) const {
  e.u8(static_cast<uint8_t>(code));
  e.u64(offset);
  e.u64(length);
  e.bytes(data);
  e.str(key);
  e.bytes(value);
  encode_kvs(e, kvs);
  encode_strings(e, keys);
}

ObjectOp ObjectOp::decode(Decoder& d) {
  ObjectOp op;
  op.code = static_cast<OpCode>(d.u8());
  op.offset = d.u64();
  op.length = d.u64();
  op.data = d.bytes();
  op.key = d.str();
  op.value = d.bytes();
  op.kvs = decode_kvs(d);
  op.keys = decode_strings(d);
  return op;
}

void OpResult::encode(Encoder& e) const {
  encode_status(e, status);
  e.bytes(data);
  e.u64(size);
  e.u64(version);
  e.u64(mtime_ns);
  encode_kvs(e, kvs);
  e.boolean(more);
}

OpResult OpResult::decode(Decoder& d) {
  OpResult r;
  r.status = decode_status(d);
  r.data = d.bytes();
  r.size = d.u64();
  r.version = d.u64();
  r.mtime_ns = d.u64();
  r.kvs = decode_kvs(d);
  r.more = d.boolean();
  return r;
}

namespace {
void encode_ops(Encoder& e, const std::vector<ObjectOp>& ops) {
  e.u32(static_cast<uint32_t>(ops.size()));
  for (const auto& op : ops) op.encode(e);
}
std::vector<ObjectOp> decode_ops(Decoder& d) {
  std::vector<ObjectOp> ops;
  uint32_t n = d.count();
  for (uint32_t i = 0; i < n && d.ok(); ++i) ops.push_back(ObjectOp::decode(d));
  return ops;
}
}  // namespace

std::string OsdOpRequest::encode() const {
  std::string out;
  size_t hint = 64 + object.size();
  for (const auto& op : ops) hint += op.data.size() + 64;
  out.reserve(hint);
  Encoder e(&out);
  e.i32(pool);
  e.u32(pg);
  e.str(object);
  e.u64(map_epoch);
  e.u64(client_id);
  e.u64(tid);
  encode_ops(e, ops);
  return out;
}

Result<OsdOpRequest> OsdOpRequest::decode(std::string_view b) {
  return decode_all<OsdOpRequest>(b, "object op", [](Decoder& d, OsdOpRequest& t) {
    t.pool = d.i32();
    t.pg = d.u32();
    t.object = d.str();
    t.map_epoch = d.u64();
    t.client_id = d.u64();
    t.tid = d.u64();
    t.ops = decode_ops(d);
  });
}

std::string OsdOpReply::encode() const {
  std::string out;
  Encoder e(&out);
  head.encode(e);
  e.u64(version);
  e.u32(static_cast<uint32_t>(results.size()));
  for (const auto& r : results) r.encode(e);
  return out;
}

Result<OsdOpReply> OsdOpReply::decode(std::string_view b) {
  return decode_all<OsdOpReply>(b, "object op reply", [](Decoder& d, OsdOpReply& t) {
    CAIRN_DECODE_HEAD(d, t);
    t.version = d.u64();
    uint32_t n = d.count();
    for (uint32_t i = 0; i < n && d.ok(); ++i) t.results.push_back(OpResult::decode(d));
  });
}

void LogEntry::encode(Encoder& e) const {
  e.u64(version);
  e.str(object);
  e.boolean(is_delete);
  e.u64(client_id);
  e.u64(tid);
  e.u64(prior);
}

LogEntry LogEntry::decode(Decoder& d) {
  LogEntry l;
  l.version = d.u64();
  l.object = d.str();
  l.is_delete = d.boolean();
  l.client_id = d.u64();
  l.tid = d.u64();
  l.prior = d.u64();
  return l;
}

std::string RepOpRequest::encode() const {
  std::string out;
  Encoder e(&out);
  e.i32(pool);
  e.u32(pg);
  e.u64(map_epoch);
  entry.encode(e);
  e.u64(mtime_ns);
  encode_ops(e, mutations);
  e.u64(pg_objects);
  e.i64(pg_bytes);
  return out;
}

Result<RepOpRequest> RepOpRequest::decode(std::string_view b) {
  return decode_all<RepOpRequest>(b, "replica op", [](Decoder& d, RepOpRequest& t) {
    t.pool = d.i32();
    t.pg = d.u32();
    t.map_epoch = d.u64();
    t.entry = LogEntry::decode(d);
    t.mtime_ns = d.u64();
    t.mutations = decode_ops(d);
    t.pg_objects = d.u64();
    t.pg_bytes = d.i64();
  });
}

std::string PgRef::encode() const {
  std::string out;
  Encoder e(&out);
  e.i32(pool);
  e.u32(pg);
  e.u64(map_epoch);
  return out;
}

Result<PgRef> PgRef::decode(std::string_view b) {
  return decode_all<PgRef>(b, "pg ref", [](Decoder& d, PgRef& t) {
    t.pool = d.i32();
    t.pg = d.u32();
    t.map_epoch = d.u64();
  });
}

std::string PgInfoReply::encode() const {
  std::string out;
  Encoder e(&out);
  head.encode(e);
  e.u64(last_update);
  e.u64(objects);
  e.str(history);
  e.u32(static_cast<uint32_t>(log.size()));
  for (const auto& l : log) l.encode(e);
  e.u64(last_complete);
  return out;
}

Result<PgInfoReply> PgInfoReply::decode(std::string_view b) {
  return decode_all<PgInfoReply>(b, "pg info", [](Decoder& d, PgInfoReply& t) {
    CAIRN_DECODE_HEAD(d, t);
    t.last_update = d.u64();
    t.objects = d.u64();
    t.history = d.str();
    // An OSD from before logs were exchanged; its log counts as having a gap
    // (last_complete 0), so peering syncs it by object lists.
    if (d.remaining() == 0) return;
    t.has_log = true;
    uint32_t n = d.count();
    for (uint32_t i = 0; i < n && d.ok(); ++i) t.log.push_back(LogEntry::decode(d));
    if (d.remaining() > 0) t.last_complete = d.u64();
  });
}

std::string PgActivate::encode() const {
  std::string out;
  Encoder e(&out);
  e.i32(pool);
  e.u32(pg);
  e.u64(map_epoch);
  e.u32(static_cast<uint32_t>(up.size()));
  for (OsdId o : up) e.i32(o);
  e.u32(static_cast<uint32_t>(acting.size()));
  for (OsdId o : acting) e.i32(o);
  e.u64(last_epoch_clean);
  return out;
}

Result<PgActivate> PgActivate::decode(std::string_view b) {
  return decode_all<PgActivate>(b, "pg activate", [](Decoder& d, PgActivate& t) {
    t.pool = d.i32();
    t.pg = d.u32();
    t.map_epoch = d.u64();
    uint32_t n = d.count();
    for (uint32_t i = 0; i < n && d.ok(); ++i) t.up.push_back(d.i32());
    n = d.count();
    for (uint32_t i = 0; i < n && d.ok(); ++i) t.acting.push_back(d.i32());
    t.last_epoch_clean = d.u64();
  });
}

std::string PgListRequest::encode() const {
  std::string out;
  Encoder e(&out);
  e.i32(pool);
  e.u32(pg);
  e.str(after);
  e.u32(max);
  return out;
}

Result<PgListRequest> PgListRequest::decode(std::string_view b) {
  return decode_all<PgListRequest>(b, "pg list", [](Decoder& d, PgListRequest& t) {
    t.pool = d.i32();
    t.pg = d.u32();
    t.after = d.str();
    t.max = d.u32();
  });
}

std::string PgListReply::encode() const {
  std::string out;
  Encoder e(&out);
  head.encode(e);
  e.u32(static_cast<uint32_t>(objects.size()));
  for (const auto& [name, v] : objects) {
    e.str(name);
    e.u64(v);
  }
  e.boolean(more);
  return out;
}

Result<PgListReply> PgListReply::decode(std::string_view b) {
  return decode_all<PgListReply>(b, "pg list reply", [](Decoder& d, PgListReply& t) {
    CAIRN_DECODE_HEAD(d, t);
    uint32_t n = d.count();
    for (uint32_t i = 0; i < n && d.ok(); ++i) {
      std::string name = d.str();
      t.objects.emplace_back(std::move(name), d.u64());
    }
    t.more = d.boolean();
  });
}

void ObjectData::encode(Encoder& e) const {
  e.str(name);
  e.boolean(exists);
  e.u64(version);
  e.u64(mtime_ns);
  e.bytes(data);
  encode_kvs(e, xattrs);
  encode_kvs(e, omap);
}

ObjectData ObjectData::decode(Decoder& d) {
  ObjectData o;
  o.name = d.str();
  o.exists = d.boolean();
  o.version = d.u64();
  o.mtime_ns = d.u64();
  o.data = d.bytes();
  o.xattrs = decode_kvs(d);
  o.omap = decode_kvs(d);
  return o;
}

std::string PgObjectRef::encode() const {
  std::string out;
  Encoder e(&out);
  e.i32(pool);
  e.u32(pg);
  e.str(object);
  return out;
}

Result<PgObjectRef> PgObjectRef::decode(std::string_view b) {
  return decode_all<PgObjectRef>(b, "object ref", [](Decoder& d, PgObjectRef& t) {
    t.pool = d.i32();
    t.pg = d.u32();
    t.object = d.str();
  });
}

std::string PgObjectReply::encode() const {
  std::string out;
  Encoder e(&out);
  head.encode(e);
  object.encode(e);
  return out;
}

Result<PgObjectReply> PgObjectReply::decode(std::string_view b) {
  return decode_all<PgObjectReply>(b, "object data", [](Decoder& d, PgObjectReply& t) {
    CAIRN_DECODE_HEAD(d, t);
    t.object = ObjectData::decode(d);
  });
}

std::string PgPushRequest::encode() const {
  std::string out;
  Encoder e(&out);
  e.i32(pool);
  e.u32(pg);
  e.u32(static_cast<uint32_t>(objects.size()));
  for (const auto& o : objects) o.encode(e);
  e.u64(last_update);
  e.boolean(replace_log);
  e.u32(static_cast<uint32_t>(log.size()));
  for (const auto& l : log) l.encode(e);
  return out;
}

Result<PgPushRequest> PgPushRequest::decode(std::string_view b) {
  return decode_all<PgPushRequest>(b, "push", [](Decoder& d, PgPushRequest& t) {
    t.pool = d.i32();
    t.pg = d.u32();
    uint32_t n = d.count();
    for (uint32_t i = 0; i < n && d.ok(); ++i) t.objects.push_back(ObjectData::decode(d));
    t.last_update = d.u64();
    if (d.remaining() == 0) return;  // an OSD from before logs were exchanged
    t.replace_log = d.boolean();
    uint32_t m = d.count();
    for (uint32_t i = 0; i < m && d.ok(); ++i) t.log.push_back(LogEntry::decode(d));
  });
}

std::string ScrubMapRequest::encode() const {
  std::string out;
  Encoder e(&out);
  e.i32(pool);
  e.u32(pg);
  e.boolean(deep);
  e.u64(started_ms);
  return out;
}

Result<ScrubMapRequest> ScrubMapRequest::decode(std::string_view b) {
  return decode_all<ScrubMapRequest>(b, "scrub map request", [](Decoder& d, ScrubMapRequest& t) {
    t.pool = d.i32();
    t.pg = d.u32();
    t.deep = d.boolean();
    t.started_ms = d.u64();
  });
}

std::string ScrubMapReply::encode() const {
  std::string out;
  Encoder e(&out);
  head.encode(e);
  e.u32(static_cast<uint32_t>(objects.size()));
  for (const auto& [name, o] : objects) {
    e.str(name);
    e.u64(o.version);
    e.u64(o.size);
    e.u32(o.crc);
    e.boolean(o.read_error);
  }
  return out;
}

Result<ScrubMapReply> ScrubMapReply::decode(std::string_view b) {
  return decode_all<ScrubMapReply>(b, "scrub map", [](Decoder& d, ScrubMapReply& t) {
    CAIRN_DECODE_HEAD(d, t);
    uint32_t n = d.count();
    for (uint32_t i = 0; i < n && d.ok(); ++i) {
      std::string name = d.str();
      ScrubEntry& o = t.objects[name];
      o.version = d.u64();
      o.size = d.u64();
      o.crc = d.u32();
      o.read_error = d.boolean();
    }
  });
}

std::string ScrubRequest::encode() const {
  std::string out;
  Encoder e(&out);
  e.i32(pool);
  e.u32(pg);
  e.boolean(deep);
  e.boolean(repair);
  return out;
}

Result<ScrubRequest> ScrubRequest::decode(std::string_view b) {
  return decode_all<ScrubRequest>(b, "scrub request", [](Decoder& d, ScrubRequest& t) {
    t.pool = d.i32();
    t.pg = d.u32();
    t.deep = d.boolean();
    t.repair = d.boolean();
  });
}

std::string ScrubReply::encode() const {
  std::string out;
  Encoder e(&out);
  head.encode(e);
  e.u64(objects);
  e.u32(static_cast<uint32_t>(inconsistent.size()));
  for (const auto& i : inconsistent) {
    e.str(i.object);
    e.i32(i.osd);
    e.str(i.reason);
  }
  e.u64(repaired);
  return out;
}

Result<ScrubReply> ScrubReply::decode(std::string_view b) {
  return decode_all<ScrubReply>(b, "scrub reply", [](Decoder& d, ScrubReply& t) {
    CAIRN_DECODE_HEAD(d, t);
    t.objects = d.u64();
    uint32_t n = d.count();
    for (uint32_t i = 0; i < n && d.ok(); ++i) {
      Inconsistency x;
      x.object = d.str();
      x.osd = d.i32();
      x.reason = d.str();
      t.inconsistent.push_back(std::move(x));
    }
    t.repaired = d.u64();
  });
}

}  // namespace cairn
