#include "common/lease.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

TEST(Lease, Decide) {
  EXPECT_EQ(decide_lock(std::nullopt, "me", 100), LockDecision::kAcquire);
  EXPECT_EQ(decide_lock(LockHolder{"me", 50}, "me", 100), LockDecision::kRenew);
  EXPECT_EQ(decide_lock(LockHolder{"other", 150}, "me", 100), LockDecision::kBusy);
  EXPECT_EQ(decide_lock(LockHolder{"other", 100}, "me", 100), LockDecision::kAcquire);
  auto h = decode_lock(encode_lock(LockHolder{"nbd.0@host/ab cd", 1234}));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->owner, "nbd.0@host/ab cd");
  EXPECT_EQ(h->expires_ms, 1234u);
  EXPECT_FALSE(decode_lock(""));
  EXPECT_FALSE(decode_lock("noexpiry"));
  EXPECT_FALSE(decode_lock("x 12a"));
}

}  // namespace
}  // namespace cairn
