#include "common/cluster_map.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>

namespace cairn {
namespace {

MapCommand create_map(std::string fsid = "fsid-1") {
  MapCommand c;
  c.op = MapOp::kCreateMap;
  c.str = std::move(fsid);
  return c;
}

MapCommand osd_create(OsdId id, std::string host = "h0", uint32_t weight = kWeightOne) {
  MapCommand c;
  c.op = MapOp::kOsdCreate;
  c.osd.id = id;
  c.osd.host = std::move(host);
  c.osd.weight = weight;
  return c;
}

MapCommand osd_boot(OsdId id, uint64_t nonce = 7, std::string addr = "127.0.0.1:7000") {
  MapCommand c;
  c.op = MapOp::kOsdBoot;
  c.osd.id = id;
  c.osd.addr = std::move(addr);
  c.osd.http_addr = "127.0.0.1:8000";
  c.osd.host = "node-a";
  c.osd.boot_nonce = nonce;
  return c;
}

MapCommand osd_ids(MapOp op, std::vector<OsdId> ids) {
  MapCommand c;
  c.op = op;
  c.ids = std::move(ids);
  return c;
}

MapCommand osd_reweight(OsdId id, uint32_t weight) {
  MapCommand c;
  c.op = MapOp::kOsdReweight;
  c.osd.id = id;
  c.osd.weight = weight;
  return c;
}

MapCommand pool_create(std::string name, uint32_t size = 3, uint32_t min_size = 2,
                       uint32_t pg_num = 64) {
  MapCommand c;
  c.op = MapOp::kPoolCreate;
  c.pool.name = std::move(name);
  c.pool.size = size;
  c.pool.min_size = min_size;
  c.pool.pg_num = pg_num;
  return c;
}

MapCommand pool_remove(std::string name) {
  MapCommand c;
  c.op = MapOp::kPoolRemove;
  c.str = std::move(name);
  return c;
}

MapCommand pool_set(std::string name, std::string key, std::string value) {
  MapCommand c;
  c.op = MapOp::kPoolSet;
  c.str = std::move(name);
  c.key = std::move(key);
  c.value = std::move(value);
  return c;
}

MapCommand mon_set(MonId id, std::string addr) {
  MapCommand c;
  c.op = MapOp::kMonSet;
  c.mon.id = id;
  c.mon.addr = std::move(addr);
  return c;
}

MapCommand mon_remove(MonId id) {
  MapCommand c;
  c.op = MapOp::kMonRemove;
  c.mon.id = id;
  return c;
}

MapCommand service_set(std::string key, std::string value) {
  MapCommand c;
  c.op = MapOp::kServiceSet;
  c.key = std::move(key);
  c.value = std::move(value);
  return c;
}

// A created map with mon.0, osd.0..2 (osd.0, osd.1 up), pool 'rbd' (id 1),
// one service.
ClusterMap base_map() {
  ClusterMap m;
  for (const MapCommand& c : {create_map(), mon_set(0, "127.0.0.1:6789"), osd_create(-1, "h0"),
                              osd_create(-1, "h1"), osd_create(-1, "h2"), osd_boot(0), osd_boot(1),
                              pool_create("rbd"), service_set("rgw.a", "127.0.0.1:9000")}) {
    Status st = apply_command(m, c);
    CAIRN_CHECK(st.ok());
  }
  return m;
}

bool maps_equal(const ClusterMap& a, const ClusterMap& b) {
  return a.encode_to_string() == b.encode_to_string();
}

struct Case {
  std::string name;
  MapCommand cmd;
  Code want;
  bool want_changed;
  // Optional extra check on the resulting map (only for successful cases).
  std::function<void(const ClusterMap&)> check = nullptr;
};

std::vector<Case> cases() {
  std::vector<Case> v;
  // kCreateMap
  v.push_back({"create_map_replay_same_fsid", create_map("fsid-1"), Code::kOk, false});
  v.push_back({"create_map_other_fsid", create_map("fsid-2"), Code::kAlreadyExists, false});
  v.push_back({"create_map_empty_fsid", create_map(""), Code::kInvalidArgument, false});
  // kOsdCreate
  v.push_back(
      {"osd_create_allocate", osd_create(-1, "h3"), Code::kOk, true, [](const ClusterMap& m) {
         ASSERT_NE(m.find_osd(3), nullptr);
         EXPECT_EQ(m.find_osd(3)->host, "h3");
         EXPECT_FALSE(m.find_osd(3)->up);
         EXPECT_TRUE(m.find_osd(3)->in);
         EXPECT_EQ(m.next_osd_id, 4);
       }});
  v.push_back(
      {"osd_create_explicit_bumps_next", osd_create(10), Code::kOk, true, [](const ClusterMap& m) {
         ASSERT_NE(m.find_osd(10), nullptr);
         EXPECT_EQ(m.next_osd_id, 11);
       }});
  v.push_back({"osd_create_existing", osd_create(1), Code::kAlreadyExists, false});
  v.push_back({"osd_create_negative", osd_create(-5), Code::kInvalidArgument, false});
  v.push_back({"osd_create_huge", osd_create(1 << 30), Code::kInvalidArgument, false});
  // kOsdBoot
  v.push_back(
      {"osd_boot_new", osd_boot(2, 9, "127.0.0.1:7002"), Code::kOk, true, [](const ClusterMap& m) {
         const OsdInfo* o = m.find_osd(2);
         EXPECT_TRUE(o->up);
         EXPECT_EQ(o->addr, "127.0.0.1:7002");
         EXPECT_EQ(o->http_addr, "127.0.0.1:8000");
         EXPECT_EQ(o->host, "node-a");
         EXPECT_EQ(o->boot_nonce, 9u);
         EXPECT_EQ(o->up_from, m.epoch);
       }});
  v.push_back({"osd_boot_resend_same_nonce", osd_boot(0), Code::kOk, false});
  v.push_back({"osd_boot_restart_new_nonce", osd_boot(0, 8), Code::kOk, true,
               [](const ClusterMap& m) { EXPECT_EQ(m.find_osd(0)->up_from, m.epoch); }});
  v.push_back({"osd_boot_unknown", osd_boot(42), Code::kNotFound, false});
  v.push_back({"osd_boot_no_addr", osd_boot(2, 1, ""), Code::kInvalidArgument, false});
  // kOsdDown / kOsdOut / kOsdIn
  v.push_back({"osd_down", osd_ids(MapOp::kOsdDown, {0}), Code::kOk, true,
               [](const ClusterMap& m) { EXPECT_FALSE(m.osd_is_up(0)); }});
  v.push_back({"osd_down_already_down", osd_ids(MapOp::kOsdDown, {2}), Code::kOk, false});
  v.push_back(
      {"osd_down_partial_unknown", osd_ids(MapOp::kOsdDown, {0, 99}), Code::kNotFound, false});
  v.push_back({"osd_down_empty", osd_ids(MapOp::kOsdDown, {}), Code::kInvalidArgument, false});
  v.push_back(
      {"osd_out", osd_ids(MapOp::kOsdOut, {1, 2}), Code::kOk, true, [](const ClusterMap& m) {
         EXPECT_FALSE(m.find_osd(1)->in);
         EXPECT_FALSE(m.find_osd(2)->in);
       }});
  v.push_back({"osd_in_already_in", osd_ids(MapOp::kOsdIn, {0}), Code::kOk, false});
  v.push_back({"osd_in_unknown", osd_ids(MapOp::kOsdIn, {7}), Code::kNotFound, false});
  // kOsdReweight
  v.push_back({"osd_reweight", osd_reweight(1, kWeightOne / 2), Code::kOk, true,
               [](const ClusterMap& m) { EXPECT_EQ(m.find_osd(1)->weight, kWeightOne / 2); }});
  v.push_back({"osd_reweight_same", osd_reweight(1, kWeightOne), Code::kOk, false});
  v.push_back({"osd_reweight_unknown", osd_reweight(9, 1), Code::kNotFound, false});
  // kOsdRemove: osd.2 is down but in.
  v.push_back({"osd_remove_in", osd_ids(MapOp::kOsdRemove, {2}), Code::kInvalidArgument, false});
  v.push_back({"osd_remove_up", osd_ids(MapOp::kOsdRemove, {0}), Code::kInvalidArgument, false});
  v.push_back({"osd_remove_unknown", osd_ids(MapOp::kOsdRemove, {5}), Code::kNotFound, false});
  // kPoolCreate
  v.push_back(
      {"pool_create", pool_create("data", 2, 1, 128), Code::kOk, true, [](const ClusterMap& m) {
         const PoolInfo* p = m.find_pool("data");
         ASSERT_NE(p, nullptr);
         EXPECT_EQ(p->id, 2);
         EXPECT_EQ(m.find_pool(2), p);
         EXPECT_EQ(p->size, 2u);
         EXPECT_EQ(p->pg_num, 128u);
         EXPECT_EQ(m.next_pool_id, 3);
       }});
  v.push_back({"pool_create_limits", pool_create("x", 10, 10, 65536), Code::kOk, true});
  v.push_back({"pool_create_dup", pool_create("rbd"), Code::kAlreadyExists, false});
  v.push_back({"pool_create_bad_name", pool_create("a b"), Code::kInvalidArgument, false});
  v.push_back({"pool_create_empty_name", pool_create(""), Code::kInvalidArgument, false});
  v.push_back(
      {"pool_create_long_name", pool_create(std::string(129, 'a')), Code::kTooLarge, false});
  v.push_back({"pool_create_size0", pool_create("x", 0, 0), Code::kInvalidArgument, false});
  v.push_back({"pool_create_size11", pool_create("x", 11, 2), Code::kInvalidArgument, false});
  v.push_back({"pool_create_min0", pool_create("x", 3, 0), Code::kInvalidArgument, false});
  v.push_back({"pool_create_min_gt_size", pool_create("x", 2, 3), Code::kInvalidArgument, false});
  v.push_back({"pool_create_pg0", pool_create("x", 3, 2, 0), Code::kInvalidArgument, false});
  v.push_back(
      {"pool_create_pg_huge", pool_create("x", 3, 2, 65537), Code::kInvalidArgument, false});
  // kPoolRemove
  v.push_back({"pool_remove", pool_remove("rbd"), Code::kOk, true, [](const ClusterMap& m) {
                 EXPECT_EQ(m.find_pool("rbd"), nullptr);
                 EXPECT_EQ(m.next_pool_id, 2);  // ids are never reused
               }});
  v.push_back({"pool_remove_unknown", pool_remove("nope"), Code::kNotFound, false});
  // kPoolSet
  v.push_back(
      {"pool_set_size", pool_set("rbd", "size", "2"), Code::kOk, true, [](const ClusterMap& m) {
         EXPECT_EQ(m.find_pool("rbd")->size, 2u);
         EXPECT_EQ(m.find_pool("rbd")->min_size, 2u);
       }});
  v.push_back({"pool_set_size1_clamps_min", pool_set("rbd", "size", "1"), Code::kOk, true,
               [](const ClusterMap& m) { EXPECT_EQ(m.find_pool("rbd")->min_size, 1u); }});
  v.push_back({"pool_set_size_same", pool_set("rbd", "size", "3"), Code::kOk, false});
  v.push_back({"pool_set_size0", pool_set("rbd", "size", "0"), Code::kInvalidArgument, false});
  v.push_back({"pool_set_size11", pool_set("rbd", "size", "11"), Code::kInvalidArgument, false});
  v.push_back({"pool_set_size_nan", pool_set("rbd", "size", "3x"), Code::kInvalidArgument, false});
  v.push_back({"pool_set_size_neg", pool_set("rbd", "size", "-1"), Code::kInvalidArgument, false});
  v.push_back({"pool_set_min_size", pool_set("rbd", "min_size", "1"), Code::kOk, true});
  v.push_back(
      {"pool_set_min_size_gt", pool_set("rbd", "min_size", "4"), Code::kInvalidArgument, false});
  v.push_back({"pool_set_pg_num", pool_set("rbd", "pg_num", "256"), Code::kOk, true,
               [](const ClusterMap& m) { EXPECT_EQ(m.find_pool("rbd")->pg_num, 256u); }});
  v.push_back({"pool_set_pg_num_shrink", pool_set("rbd", "pg_num", "1"), Code::kOk, true});
  v.push_back({"pool_set_pg_num_0", pool_set("rbd", "pg_num", "0"), Code::kInvalidArgument, false});
  v.push_back({"pool_set_pg_num_overflow", pool_set("rbd", "pg_num", "4294967296"),
               Code::kInvalidArgument, false});
  v.push_back({"pool_set_max_bytes", pool_set("rbd", "max_bytes", "1099511627776"), Code::kOk, true,
               [](const ClusterMap& m) { EXPECT_EQ(m.find_pool("rbd")->max_bytes, 1ull << 40); }});
  v.push_back({"pool_set_fd_osd", pool_set("rbd", "failure_domain", "osd"), Code::kOk, true,
               [](const ClusterMap& m) {
                 EXPECT_EQ(m.find_pool("rbd")->failure_domain, FailureDomain::kOsd);
               }});
  v.push_back(
      {"pool_set_fd_host_same", pool_set("rbd", "failure_domain", "host"), Code::kOk, false});
  v.push_back({"pool_set_fd_bad", pool_set("rbd", "failure_domain", "rack"), Code::kInvalidArgument,
               false});
  v.push_back(
      {"pool_set_unknown_key", pool_set("rbd", "colour", "blue"), Code::kInvalidArgument, false});
  v.push_back({"pool_set_unknown_pool", pool_set("nope", "size", "2"), Code::kNotFound, false});
  // kMonSet / kMonRemove
  v.push_back({"mon_add", mon_set(1, "127.0.0.1:6790"), Code::kOk, true,
               [](const ClusterMap& m) { EXPECT_EQ(m.mons.size(), 2u); }});
  v.push_back({"mon_update", mon_set(0, "127.0.0.1:6000"), Code::kOk, true});
  v.push_back({"mon_same", mon_set(0, "127.0.0.1:6789"), Code::kOk, false});
  v.push_back({"mon_no_addr", mon_set(1, ""), Code::kInvalidArgument, false});
  v.push_back({"mon_negative", mon_set(-1, "x:1"), Code::kInvalidArgument, false});
  v.push_back({"mon_remove_last", mon_remove(0), Code::kInvalidArgument, false});
  v.push_back({"mon_remove_unknown", mon_remove(3), Code::kNotFound, false});
  // kServiceSet
  v.push_back({"service_add", service_set("mds.a", "x"), Code::kOk, true,
               [](const ClusterMap& m) { EXPECT_EQ(m.services.at("mds.a"), "x"); }});
  v.push_back({"service_same", service_set("rgw.a", "127.0.0.1:9000"), Code::kOk, false});
  v.push_back({"service_remove", service_set("rgw.a", ""), Code::kOk, true,
               [](const ClusterMap& m) { EXPECT_TRUE(m.services.empty()); }});
  v.push_back({"service_remove_absent", service_set("nope", ""), Code::kOk, false});
  v.push_back({"service_empty_key", service_set("", "v"), Code::kInvalidArgument, false});
  // Unknown op.
  MapCommand bad;
  bad.op = static_cast<MapOp>(200);
  v.push_back({"unknown_op", bad, Code::kInvalidArgument, false});
  return v;
}

TEST(ApplyCommand, Table) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name + ": " + c.cmd.describe());
    ClusterMap m = base_map();
    const ClusterMap before = m;
    bool changed = !c.want_changed;
    Status st = apply_command(m, c.cmd, &changed);
    EXPECT_EQ(st.code(), c.want) << st.to_string();
    EXPECT_EQ(changed, c.want_changed);
    if (c.want_changed) {
      EXPECT_EQ(m.epoch, before.epoch + 1);  // exactly one bump per change
    } else {
      // Errors and no-ops leave the map byte-for-byte unchanged.
      EXPECT_TRUE(maps_equal(m, before));
    }
    if (st.ok() && c.check) c.check(m);
    // Every result survives the wire.
    auto rt = ClusterMap::decode(m.encode_to_string());
    ASSERT_TRUE(rt.ok()) << rt.status().to_string();
    EXPECT_TRUE(maps_equal(*rt, m));
  }
}

TEST(ApplyCommand, ChangedPointerOptional) {
  ClusterMap m;
  EXPECT_TRUE(apply_command(m, create_map()).ok());
  EXPECT_EQ(m.epoch, 1u);
  EXPECT_EQ(m.fsid, "fsid-1");
}

TEST(ApplyCommand, RemoveDownAndOutOsd) {
  ClusterMap m = base_map();
  ASSERT_TRUE(apply_command(m, osd_ids(MapOp::kOsdDown, {0})).ok());
  ASSERT_TRUE(apply_command(m, osd_ids(MapOp::kOsdOut, {0, 2})).ok());
  Epoch e = m.epoch;
  bool changed = false;
  ASSERT_TRUE(apply_command(m, osd_ids(MapOp::kOsdRemove, {0, 2}), &changed).ok());
  EXPECT_TRUE(changed);
  EXPECT_EQ(m.epoch, e + 1);
  EXPECT_EQ(m.find_osd(0), nullptr);
  EXPECT_EQ(m.find_osd(2), nullptr);
  // Removed ids are not reallocated.
  ASSERT_TRUE(apply_command(m, osd_create(-1)).ok());
  EXPECT_NE(m.find_osd(3), nullptr);
  // An explicit id may reuse a removed one.
  EXPECT_TRUE(apply_command(m, osd_create(0)).ok());
}

TEST(ApplyCommand, BootSetsUpFromToNewEpoch) {
  ClusterMap m = base_map();
  ASSERT_TRUE(apply_command(m, osd_ids(MapOp::kOsdDown, {1})).ok());
  Epoch e = m.epoch;
  ASSERT_TRUE(apply_command(m, osd_boot(1, 7)).ok());  // same nonce, but it was down
  EXPECT_EQ(m.epoch, e + 1);
  EXPECT_EQ(m.find_osd(1)->up_from, e + 1);
  EXPECT_TRUE(m.osd_is_up(1));
}

TEST(ApplyCommand, SameLogSameMap) {
  std::vector<MapCommand> log = {create_map(),
                                 osd_create(-1),
                                 osd_create(5),
                                 osd_boot(5),
                                 pool_create("a"),
                                 pool_set("a", "pg_num", "8"),
                                 osd_ids(MapOp::kOsdDown, {5}),
                                 pool_create("a")};
  ClusterMap a, b;
  for (const auto& c : log) {
    (void)apply_command(a, c);
    // Replicas replay the encoded command, not the in-memory one.
    auto dc = MapCommand::decode(c.encode_to_string());
    ASSERT_TRUE(dc.ok());
    (void)apply_command(b, *dc);
  }
  EXPECT_TRUE(maps_equal(a, b));
  EXPECT_EQ(a.epoch, 7u);  // the duplicate pool create did not bump
}

TEST(Codec, MapRoundTrip) {
  ClusterMap m = base_map();
  m.osds[1].weight = 12345;
  m.osds[1].device_class = "hdd";
  m.pools[1].failure_domain = FailureDomain::kOsd;
  m.pools[1].max_bytes = 99;
  std::string bytes = m.encode_to_string();
  auto d = ClusterMap::decode(bytes);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->epoch, m.epoch);
  EXPECT_EQ(d->fsid, m.fsid);
  EXPECT_EQ(d->osds.at(1).weight, 12345u);
  EXPECT_EQ(d->osds.at(1).device_class, "hdd");
  EXPECT_EQ(d->osds.at(0).addr, "127.0.0.1:7000");
  EXPECT_EQ(d->pools.at(1).failure_domain, FailureDomain::kOsd);
  EXPECT_EQ(d->pools.at(1).max_bytes, 99u);
  EXPECT_EQ(d->services, m.services);
  EXPECT_EQ(d->encode_to_string(), bytes);
  // Trailing bytes are corruption, not ignored.
  EXPECT_FALSE(ClusterMap::decode(bytes + "x").ok());
}

TEST(Codec, CommandRoundTrip) {
  MapCommand c = osd_ids(MapOp::kOsdOut, {1, 2, 3});
  c.str = "s";
  c.key = "k";
  c.value = "v";
  c.pool.name = "p";
  c.mon.addr = "m";
  c.osd.boot_nonce = 77;
  auto d = MapCommand::decode(c.encode_to_string());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->op, MapOp::kOsdOut);
  EXPECT_EQ(d->ids, c.ids);
  EXPECT_EQ(d->str, "s");
  EXPECT_EQ(d->key, "k");
  EXPECT_EQ(d->value, "v");
  EXPECT_EQ(d->pool.name, "p");
  EXPECT_EQ(d->mon.addr, "m");
  EXPECT_EQ(d->osd.boot_nonce, 77u);
  EXPECT_EQ(d->encode_to_string(), c.encode_to_string());
}

TEST(Codec, RejectsBadVersionAndOp) {
  std::string bytes = base_map().encode_to_string();
  bytes[0] = 9;
  EXPECT_EQ(ClusterMap::decode(bytes).status().code(), Code::kCorruption);
  std::string cb = create_map().encode_to_string();
  cb[1] = 99;  // op
  EXPECT_EQ(MapCommand::decode(cb).status().code(), Code::kCorruption);
  EXPECT_FALSE(ClusterMap::decode("").ok());
  EXPECT_FALSE(MapCommand::decode("").ok());
}

TEST(Codec, TruncatedNeverCrashes) {
  std::string bytes = base_map().encode_to_string();
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(ClusterMap::decode(bytes.substr(0, n)).ok()) << n;
  }
  std::string cb = pool_set("rbd", "size", "2").encode_to_string();
  for (size_t n = 0; n < cb.size(); ++n) {
    EXPECT_FALSE(MapCommand::decode(cb.substr(0, n)).ok()) << n;
  }
}

TEST(Codec, GarbageNeverCrashes) {
  std::mt19937_64 rng(12345);
  std::string good = base_map().encode_to_string();
  std::string goodc = pool_create("x").encode_to_string();
  for (int i = 0; i < 20000; ++i) {
    std::string b;
    if (i % 2 == 0) {
      // Random bytes with a valid version byte so the parser goes deep.
      b.resize(rng() % 200);
      for (char& ch : b) ch = static_cast<char>(rng());
      if (!b.empty()) b[0] = 1;
    } else {
      // Bit flips in valid encodings, including huge counts/lengths.
      b = (i % 4 == 1) ? good : goodc;
      for (int k = 0; k < 3; ++k) b[rng() % b.size()] ^= static_cast<char>(1u << (rng() % 8));
    }
    (void)ClusterMap::decode(b);
    (void)MapCommand::decode(b);
  }
  // A count of 2^32-1 entries must be rejected, not allocated.
  std::string huge;
  Encoder e(&huge);
  e.u8(1);
  e.u64(1);
  e.str("f");
  e.u32(0xffffffff);
  EXPECT_FALSE(ClusterMap::decode(huge).ok());
}

TEST(Describe, OperatorWords) {
  EXPECT_EQ(osd_ids(MapOp::kOsdDown, {3}).describe(), "mark osd.3 down");
  EXPECT_EQ(osd_ids(MapOp::kOsdOut, {1, 2}).describe(), "mark osd.1,osd.2 out");
  EXPECT_EQ(osd_ids(MapOp::kOsdIn, {4}).describe(), "mark osd.4 in");
  EXPECT_EQ(pool_create("rbd", 3, 2, 64).describe(),
            "create pool 'rbd' size 3 min_size 2 pg_num 64 failure_domain host");
  EXPECT_EQ(pool_set("rbd", "size", "2").describe(), "set pool 'rbd' size = 2");
  EXPECT_EQ(osd_reweight(2, kWeightOne / 2).describe(), "reweight osd.2 to 0.500");
  // Service values may be secrets.
  EXPECT_EQ(service_set("auth.client", "secret").describe(), "set service 'auth.client'");
  for (int op = 1; op <= 14; ++op) {
    MapCommand c;
    c.op = static_cast<MapOp>(op);
    EXPECT_FALSE(c.describe().empty());
  }
}

TEST(Validate, ObjectName) {
  EXPECT_TRUE(validate_object_name("a").ok());
  EXPECT_TRUE(validate_object_name("rbd_data.1234.0000000000000001").ok());
  EXPECT_TRUE(validate_object_name(std::string(kMaxObjectNameLen, 'x')).ok());
  EXPECT_EQ(validate_object_name("").code(), Code::kInvalidArgument);
  EXPECT_EQ(validate_object_name(std::string(kMaxObjectNameLen + 1, 'x')).code(), Code::kTooLarge);
  EXPECT_EQ(validate_object_name(std::string("a\0b", 3)).code(), Code::kInvalidArgument);
}

TEST(Validate, PoolName) {
  EXPECT_TRUE(validate_pool_name("rbd").ok());
  EXPECT_TRUE(validate_pool_name("A-z_0.9").ok());
  EXPECT_TRUE(validate_pool_name(std::string(kMaxPoolNameLen, 'p')).ok());
  EXPECT_EQ(validate_pool_name("").code(), Code::kInvalidArgument);
  EXPECT_EQ(validate_pool_name(std::string(kMaxPoolNameLen + 1, 'p')).code(), Code::kTooLarge);
  for (const std::string& bad :
       std::vector<std::string>{"a b", "a/b", "ä", "a:b", std::string("a\0", 2)}) {
    EXPECT_EQ(validate_pool_name(bad).code(), Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace cairn
