// Image management against a real cluster, for the cases the NBD shell tests
// cannot stage: a lock renewal that the OSD applied but whose reply the
// gateway never got, and child registrations left behind by a crash.
#include <gtest/gtest.h>

#include "rbd/admin.h"
#include "tests/integration/test_cluster.h"

namespace cairn {
namespace {

Status set_lock(client::Client& c, PoolId pool, const std::string& id, const std::string& v) {
  auto o = client::ops(ObjectOp{.code = OpCode::kSetXattr, .key = kLockXattr, .value = v});
  return client::op_status(client::block_on(c, c.async_execute(pool, rbd::header_object(id), std::move(o))));
}

TEST(RbdLock, RenewalAdoptsItsOwnAppliedValueButNotAnothers) {
  auto cluster = test::TestCluster::start(1, 3);
  ASSERT_TRUE(cluster);
  ASSERT_EQ(cluster->ctl("pool create rbd --size 3 --pg 8").exit_code, 0);
  auto c = cluster->client();
  rbd::CreateOptions co;
  co.size = 1 << 20;
  auto h = rbd::Admin(*c).create("rbd", "img", co);
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  PoolId pool = *c->pool_id("rbd");
  rbd::LockOptions me{"gw.0@test/aa", 5000};
  std::string held;
  ASSERT_TRUE(client::block_on(*c, rbd::acquire_lock(*c, pool, h->id, me, &held)).ok());

  // The OSD applied a renewal whose reply was lost: the lock holds our own,
  // newer value, not the one we remember.
  std::string applied = encode_lock(LockHolder{me.owner, decode_lock(held)->expires_ms + 7});
  ASSERT_TRUE(set_lock(*c, pool, h->id, applied).ok());
  Status st = client::block_on(*c, rbd::renew_lock(*c, pool, h->id, me, &held));
  EXPECT_TRUE(st.ok()) << st.to_string();
  ASSERT_TRUE(decode_lock(held));
  EXPECT_EQ(decode_lock(held)->owner, me.owner);
  EXPECT_NE(held, applied);  // renewed on top of it

  // Someone else took it over: that is a real loss.
  std::string theirs = encode_lock(LockHolder{"gw.1@other/bb", 1ull << 50});
  ASSERT_TRUE(set_lock(*c, pool, h->id, theirs).ok());
  st = client::block_on(*c, rbd::renew_lock(*c, pool, h->id, me, &held));
  EXPECT_TRUE(st.is(Code::kConflict)) << st.to_string();
}

TEST(RbdClone, StaleRegistrationsAreDroppedLiveClonesBlockUnprotect) {
  auto cluster = test::TestCluster::start(1, 3);
  ASSERT_TRUE(cluster);
  ASSERT_EQ(cluster->ctl("pool create rbd --size 3 --pg 8").exit_code, 0);
  auto c = cluster->client();
  rbd::Admin admin(*c);
  rbd::CreateOptions co;
  co.size = 4 << 20;
  co.object_size = 1 << 20;
  auto h = admin.create("rbd", "par", co);
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  ASSERT_TRUE(admin.snap_create("rbd", "par", "s").ok());
  ASSERT_TRUE(admin.snap_protect("rbd", "par", "s", true).ok());
  PoolId pool = *c->pool_id("rbd");

  // A clone that crashed between registering and creating its image.
  auto vh = client::block_on(*c, rbd::read_header(*c, pool, h->id));
  ASSERT_TRUE(vh.ok());
  uint64_t snap_id = vh->header.find_snap("s")->id;
  vh->header.children.push_back(rbd::ChildRef{"rbd", "deadbeef", snap_id});
  ASSERT_TRUE(client::block_on(*c, rbd::write_header(*c, pool, vh->header, vh->gen)).ok());
  rbd::ImageSpec snap{"rbd", "par", "s"};
  auto kids = admin.children(snap);
  ASSERT_TRUE(kids.ok());
  EXPECT_TRUE(kids->empty());  // not listed

  // A live clone blocks unprotect and snapshot removal.
  ASSERT_TRUE(admin.clone(snap, "rbd", "kid").ok());
  kids = admin.children(snap);
  ASSERT_TRUE(kids.ok());
  ASSERT_EQ(kids->size(), 1u);
  EXPECT_EQ((*kids)[0].name, "rbd/kid");
  Status st = admin.snap_protect("rbd", "par", "s", false);
  EXPECT_TRUE(st.is(Code::kInvalidArgument)) << st.to_string();
  EXPECT_NE(st.message().find("rbd/kid"), std::string::npos) << st.message();
  EXPECT_FALSE(admin.snap_remove("rbd", "par", "s").ok());
  auto info = admin.info("rbd", "kid");
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(info->header.parent);
  EXPECT_EQ(info->header.parent->overlap, 4u << 20);
  EXPECT_EQ(*admin.describe_parent(*info->header.parent), "rbd/par@s");

  // Once the clone is gone, unprotect succeeds and drops the stale entry too.
  ASSERT_TRUE(admin.remove("rbd", "kid").ok());
  st = admin.snap_protect("rbd", "par", "s", false);
  EXPECT_TRUE(st.ok()) << st.to_string();
  vh = client::block_on(*c, rbd::read_header(*c, pool, h->id));
  ASSERT_TRUE(vh.ok());
  EXPECT_TRUE(vh->header.children.empty());
  // A clone of an unprotected snapshot is refused.
  st = admin.clone(snap, "rbd", "kid2");
  EXPECT_TRUE(st.is(Code::kInvalidArgument)) << st.to_string();
  EXPECT_FALSE(admin.info("rbd", "kid2").ok());
}

}  // namespace
}  // namespace cairn
