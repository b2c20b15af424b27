#include "osd/core/log_chain.h"

#include <gtest/gtest.h>

namespace cairn::osd {
namespace {

TEST(LogChain, InOrderCommitsAdvance) {
  LogChain c;
  c.reset(10);
  c.committed(11, 10);
  c.committed(12, 11);
  EXPECT_EQ(c.complete(), 12u);
  EXPECT_EQ(c.ahead(), 0u);
}

TEST(LogChain, OutOfOrderCommitWaitsForTheGap) {
  LogChain c;
  c.reset(10);
  c.committed(12, 11);  // 11 is still in flight
  EXPECT_EQ(c.complete(), 10u);
  EXPECT_EQ(c.ahead(), 1u);
  c.committed(13, 12);
  EXPECT_EQ(c.complete(), 10u);
  c.committed(11, 10);  // the gap closes: the chain runs to 13
  EXPECT_EQ(c.complete(), 13u);
  EXPECT_EQ(c.ahead(), 0u);
}

TEST(LogChain, MissingEntryKeepsTheHeadBehind) {
  // A replica that got 11 and 13 but never 12 must not claim 13.
  LogChain c;
  c.reset(10);
  c.committed(11, 10);
  c.committed(13, 12);
  EXPECT_EQ(c.complete(), 11u);
}

TEST(LogChain, ResendsAreIgnored) {
  LogChain c;
  c.reset(10);
  c.committed(11, 10);
  c.committed(11, 10);
  c.committed(12, 11);
  EXPECT_EQ(c.complete(), 12u);
  EXPECT_EQ(c.ahead(), 0u);
}

TEST(LogChain, EpochJumpsInVersionsAreFine) {
  // A new interval's first version jumps to (epoch << 32) + 1; prior links it.
  LogChain c;
  c.reset(0x0b00000012);
  c.committed(0x1300000001, 0x0b00000012);
  EXPECT_EQ(c.complete(), 0x1300000001u);
}

TEST(LogChain, ResetDropsWaitingEntries) {
  LogChain c;
  c.reset(10);
  c.committed(12, 11);
  c.reset(20);  // a full sync to 20
  EXPECT_EQ(c.complete(), 20u);
  EXPECT_EQ(c.ahead(), 0u);
  c.committed(21, 20);
  EXPECT_EQ(c.complete(), 21u);
}

}  // namespace
}  // namespace cairn::osd
