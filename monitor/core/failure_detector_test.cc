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

TEST(FailureDetector, PeersReportsMarkDownAnOsdThatStillHeartbeats) {
  FailureDetector fd({.down_grace_ms = 1000, .repropose_ms = 500, .min_reporters = 2,
                      .peer_grace_ms = 3000, .report_ttl_ms = 1500});
  ClusterMap m;
  for (OsdId id = 0; id < 4; ++id) m.osds[id] = OsdInfo{.id = id, .up = true};
  fd.reset(0);
  auto beat_all = [&](uint64_t t) {
    for (OsdId id = 0; id < 4; ++id) fd.heartbeat(id, t);
  };
  // osd.0 reaches the monitors but not its peers.
  beat_all(1000);
  fd.report(0, 1, 2000, 1000);  // not for long enough yet
  fd.report(0, 2, 2000, 1000);
  EXPECT_TRUE(fd.tick(m, 1000).empty());
  beat_all(2000);
  fd.report(0, 1, 3000, 2000);
  EXPECT_TRUE(fd.tick(m, 2000).empty()) << "one reporter is not enough";
  // The isolated osd.0 reports everyone: one reporter each, nobody goes down.
  fd.report(1, 0, 5000, 2000);
  fd.report(2, 0, 5000, 2000);
  fd.report(0, 0, 5000, 2000);  // about itself: ignored
  EXPECT_TRUE(fd.tick(m, 2000).empty());
  fd.report(0, 2, 3000, 2000);
  EXPECT_EQ(fd.reporters(m, 0, 2000), (std::vector<OsdId>{1, 2}));
  auto cmds = fd.tick(m, 2000);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].op, MapOp::kOsdDown);
  EXPECT_EQ(cmds[0].ids, std::vector<OsdId>{0});
  m.osds[0].up = false;
  EXPECT_TRUE(fd.unreachable(m, 0, 2500)) << "it may not boot again while reported";
  // Reports go stale once the partition heals and the peers stop sending them.
  EXPECT_FALSE(fd.unreachable(m, 0, 4000));
  // A reporter the map has marked down does not count.
  fd.report(3, 1, 5000, 5000);
  fd.report(3, 2, 5000, 5000);
  m.osds[2].up = false;
  EXPECT_FALSE(fd.unreachable(m, 3, 5000));
}

TEST(FailureDetector, ReportsOfASilenceFromBeforeABootAreDropped) {
  FailureDetector fd({.down_grace_ms = 10000, .repropose_ms = 500, .min_reporters = 2,
                      .peer_grace_ms = 3000, .report_ttl_ms = 1500});
  ClusterMap m;
  for (OsdId id = 0; id < 3; ++id) m.osds[id] = OsdInfo{.id = id, .up = true};
  fd.reset(0);
  // osd.0 restarts: it boots at 10000; its peers, whose pings failed from
  // 5000 until their next round, still report that silence just after.
  for (OsdId id = 0; id < 3; ++id) fd.heartbeat(id, 10000);
  fd.booted(0, 10000);
  fd.report(0, 1, 5100, 10100);
  fd.report(0, 2, 5100, 10100);
  EXPECT_FALSE(fd.unreachable(m, 0, 10100));
  EXPECT_TRUE(fd.tick(m, 10100).empty()) << "a restarted OSD must not be marked down at once";
  // A silence that began after the boot counts.
  fd.report(0, 1, 3500, 14000);
  fd.report(0, 2, 3500, 14000);
  EXPECT_TRUE(fd.unreachable(m, 0, 14000));
}

}  // namespace
}  // namespace cairn::mon
