#include "monitor/core/failure_detector.h"

#include <gtest/gtest.h>

namespace cairn::mon {
namespace {

ClusterMap two_osds() {
  ClusterMap m;
  m.osds[0] = OsdInfo{.id = 0, .up = true};
  m.osds[1] = OsdInfo{.id = 1, .up = true};
  return m;
}

TEST(FailureDetector, MarksSilentOsdDownAfterGraceThenOutAfterInterval) {
  FailureDetector fd({.down_grace_ms = 1000, .out_interval_ms = 5000, .repropose_ms = 500});
  ClusterMap m = two_osds();
  fd.reset(0);
  for (uint64_t t = 0; t <= 900; t += 100) {
    fd.heartbeat(0, t);
    fd.heartbeat(1, t);
  }
  EXPECT_TRUE(fd.tick(m, 1000).empty());
  for (uint64_t t = 1000; t <= 2000; t += 100) fd.heartbeat(0, t);
  auto cmds = fd.tick(m, 2000);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].op, MapOp::kOsdDown);
  EXPECT_EQ(cmds[0].ids, std::vector<OsdId>{1});
  // While the command commits, it is not re-proposed every tick.
  EXPECT_TRUE(fd.tick(m, 2100).empty());
  m.osds[1].up = false;
  EXPECT_TRUE(fd.tick(m, 2200).empty());  // down, but still "in"
  fd.heartbeat(0, 7250);
  cmds = fd.tick(m, 7300);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].op, MapOp::kOsdOut);
  m.osds[1].in = false;
  EXPECT_EQ(fd.tick(m, 20000).size(), 1u);  // osd.0 silent since 7250: down
}

TEST(FailureDetector, NewLeaderGivesEveryoneAFreshGrace) {
  FailureDetector fd({.down_grace_ms = 1000});
  ClusterMap m = two_osds();
  fd.reset(50000);
  EXPECT_TRUE(fd.tick(m, 50900).empty());
  EXPECT_EQ(fd.tick(m, 51100).size(), 1u);
}

}  // namespace
}  // namespace cairn::mon
