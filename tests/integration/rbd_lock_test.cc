// The image lock's renewal against a real cluster: a renewal that the OSD
// applied but whose reply the gateway never got (a timeout while a PG waited
// for a dead OSD) must not make the gateway fence itself; a value written by
// another owner must.
#include <gtest/gtest.h>

#include "rbd/admin.h"
#include "tests/integration/test_cluster.h"

namespace cairn {
namespace {

Status set_lock(client::Client& c, PoolId pool, const std::string& id, const std::string& v) {
  auto o = rbd::ops(ObjectOp{.code = OpCode::kSetXattr, .key = rbd::kLockXattr, .value = v});
  return rbd::op_status(rbd::block_on(c, c.async_execute(pool, rbd::header_object(id), std::move(o))));
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
  ASSERT_TRUE(rbd::block_on(*c, rbd::acquire_lock(*c, pool, h->id, me, &held)).ok());

  // The OSD applied a renewal whose reply was lost: the lock holds our own,
  // newer value, not the one we remember.
  std::string applied = rbd::encode_lock(rbd::LockHolder{me.owner, rbd::decode_lock(held)->expires_ms + 7});
  ASSERT_TRUE(set_lock(*c, pool, h->id, applied).ok());
  Status st = rbd::block_on(*c, rbd::renew_lock(*c, pool, h->id, me, &held));
  EXPECT_TRUE(st.ok()) << st.to_string();
  ASSERT_TRUE(rbd::decode_lock(held));
  EXPECT_EQ(rbd::decode_lock(held)->owner, me.owner);
  EXPECT_NE(held, applied);  // renewed on top of it

  // Someone else took it over: that is a real loss.
  std::string theirs = rbd::encode_lock(rbd::LockHolder{"gw.1@other/bb", 1ull << 50});
  ASSERT_TRUE(set_lock(*c, pool, h->id, theirs).ok());
  st = rbd::block_on(*c, rbd::renew_lock(*c, pool, h->id, me, &held));
  EXPECT_TRUE(st.is(Code::kConflict)) << st.to_string();
}

}  // namespace
}  // namespace cairn
