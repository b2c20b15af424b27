#include "osd/core/past_intervals.h"

#include <gtest/gtest.h>

namespace cairn::osd {
namespace {

using Osds = std::vector<OsdId>;

// One OSD's view: the up set it saw at each epoch it processed.
struct Feed {
  Epoch epoch;
  Osds up;
  bool fresh = false;  // first map after a restart
};

PgHistory history_of(const std::vector<Feed>& feeds, uint32_t min_size) {
  PgHistory h;
  bool first = true;
  for (const auto& f : feeds) {
    h.observe(f.epoch, f.up, min_size, first || f.fresh);
    first = false;
  }
  return h;
}

TEST(PgHistory, BuildsIntervalsFromASequenceOfMaps) {
  PgHistory h;
  EXPECT_TRUE(h.observe(3, {0, 1, 2}, 2, true));
  EXPECT_FALSE(h.observe(4, {0, 1, 2}, 2, false));
  EXPECT_FALSE(h.observe(4, {0, 1}, 2, false));  // not newer: ignored
  EXPECT_TRUE(h.observe(7, {0, 1}, 2, false));    // skipped 5, 6 while alive
  EXPECT_TRUE(h.observe(8, {1, 0, 2}, 2, false));  // new primary
  ASSERT_EQ(h.intervals.size(), 3u);
  EXPECT_EQ(h.intervals[0].first, 3u);
  EXPECT_EQ(h.intervals[0].last, 6u);
  EXPECT_EQ(h.intervals[1].first, 7u);
  EXPECT_EQ(h.intervals[1].last, 7u);
  EXPECT_EQ(h.intervals[1].up, (Osds{0, 1}));
  EXPECT_EQ(h.current()->up, (Osds{1, 0, 2}));
}

TEST(PgHistory, RestartLeavesAGapAndStartsANewInterval) {
  PgHistory h;
  h.observe(3, {0, 1}, 1, true);
  h.observe(4, {0, 1}, 1, false);
  // Died after epoch 4; back at 9 with the same up set: 5-8 are unknown.
  EXPECT_TRUE(h.observe(9, {0, 1}, 1, true));
  ASSERT_EQ(h.intervals.size(), 2u);
  EXPECT_EQ(h.intervals[0].last, 4u);
  EXPECT_EQ(h.intervals[1].first, 9u);
}

TEST(PgHistory, ActivateNeedsTheSameUpSetAndActingOnlyGrows) {
  PgHistory h;
  h.observe(5, {0, 1, 2}, 2, true);
  EXPECT_FALSE(h.activate({0, 1}, {0, 1}));
  EXPECT_FALSE(h.current()->activated);
  EXPECT_TRUE(h.activate({0, 1, 2}, {0, 1}));  // osd.2 is a backfill target
  EXPECT_TRUE(h.activate({0, 1, 2}, {2}));     // ...until its cut-over
  EXPECT_TRUE(h.current()->activated);
  EXPECT_EQ(h.current()->acting, (Osds{0, 1, 2}));
}

TEST(PgHistory, EncodeDecodeRoundTripsAndRejectsGarbage) {
  PgHistory h;
  h.observe(2, {0, 1}, 1, true);
  h.activate({0, 1}, {0});
  h.observe(5, {1}, 1, false);
  h.last_epoch_clean = 2;
  auto back = PgHistory::decode(h.encode());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, h);
  std::string bytes = h.encode();
  EXPECT_FALSE(PgHistory::decode(bytes.substr(0, bytes.size() - 1)).ok());
  EXPECT_FALSE(PgHistory::decode("").ok());
  EXPECT_FALSE(PgHistory::decode(std::string(40, '\xff')).ok());
}

TEST(PgHistory, MarkCleanPrunesWhatEndedBefore) {
  PgHistory h;
  h.observe(2, {0, 1}, 1, true);
  h.observe(5, {1}, 1, false);
  h.observe(9, {0, 1}, 1, false);
  h.mark_clean(9);
  ASSERT_EQ(h.intervals.size(), 1u);
  EXPECT_EQ(h.intervals[0].first, 9u);
  EXPECT_EQ(h.last_epoch_clean, 9u);
  h.mark_clean(3);  // older news: no effect
  EXPECT_EQ(h.last_epoch_clean, 9u);
}

// The scenario that loses writes without past intervals (size 2,
// min_size 1): osd.0 dies, osd.1 takes writes alone, osd.1 dies, osd.0
// returns. osd.0 must not go active on its stale copy.
struct StaleReturn : ::testing::Test {
  // osd.0: saw 1-4 with both up, crashed, back at 9 alone.
  PgHistory osd0 = [] {
    PgHistory h = history_of({{1, {0, 1}}, {4, {0, 1}}, {9, {0}, true}}, 1);
    h.intervals[0].activated = true;
    h.intervals[0].acting = {0, 1};
    return h;
  }();
  // osd.1: saw osd.0 go down at 5, activated alone, died after 7.
  PgHistory osd1 = [] {
    PgHistory h = history_of({{1, {0, 1}}, {5, {1}}, {7, {1}}}, 1);
    h.intervals[0].activated = true;
    h.intervals[0].acting = {0, 1};
    h.intervals[1].activated = true;
    h.intervals[1].acting = {1};
    return h;
  }();
};

TEST_F(StaleReturn, EpochsNobodyHeardSawNeedTheLastMembers) {
  // Only osd.0 is heard: 5-8 are unknown and osd.1 was in the interval before.
  PriorSet p = build_prior_set({{0, osd0}}, 9, {0}, {0, 1});
  EXPECT_TRUE(p.probe.empty());
  EXPECT_TRUE(p.blocked());
  EXPECT_EQ(p.blocked_by, (std::set<OsdId>{1}));
  ASSERT_EQ(p.reasons.size(), 1u);
  EXPECT_NE(p.reasons[0].find("osd.1"), std::string::npos) << p.reasons[0];
}

TEST_F(StaleReturn, ProbesTheNeededOsdWhenItIsUp) {
  // osd.1 is up again but not (yet) in the up set, e.g. remapped: ask it.
  PriorSet p = build_prior_set({{0, osd0}}, 9, {0, 1}, {0, 1});
  EXPECT_FALSE(p.blocked());
  EXPECT_EQ(p.probe, (std::set<OsdId>{1}));
}

TEST_F(StaleReturn, HearingTheLastWriterUnblocks) {
  // osd.1 back at 10: its view fills 5-7; epoch 8 is still unknown, but its
  // last interval's only member, osd.1, has been heard.
  PgHistory now0 = osd0, now1 = osd1;
  now0.observe(10, {0, 1}, 1, false);
  now1.observe(10, {0, 1}, 1, true);
  PriorSet p = build_prior_set({{0, now0}, {1, now1}}, 10, {0, 1}, {0, 1});
  EXPECT_FALSE(p.blocked()) << p.reasons[0];
  EXPECT_TRUE(p.probe.empty());
}

TEST_F(StaleReturn, AWriterThatIsDownBlocksEvenWhenItsHistoryIsKnown) {
  // osd.2 observed everything (it holds the PG as a stray) and is heard;
  // osd.1's lone interval went active and osd.1 is down.
  PgHistory osd2 = history_of({{1, {0, 1}}, {5, {1}}, {8, {}}, {9, {0}}}, 1);
  osd2.intervals[1].activated = true;
  osd2.intervals[1].acting = {1};
  PriorSet p = build_prior_set({{0, osd0}, {2, osd2}}, 9, {0, 2}, {0, 1, 2});
  EXPECT_TRUE(p.blocked());
  EXPECT_EQ(p.blocked_by, (std::set<OsdId>{1}));
}

TEST_F(StaleReturn, PurgedOsdIsDeclaredLost) {
  PriorSet p = build_prior_set({{0, osd0}}, 9, {0}, {0});
  EXPECT_FALSE(p.blocked());
}

TEST(PriorSet, IntervalBelowMinSizeNeverWentReadWrite) {
  // size 3, min_size 2: osd.2 alone (5-8) could not ack anything.
  PgHistory a = history_of({{1, {0, 1, 2}}, {5, {2}}, {9, {0, 1, 2}}}, 2);
  a.intervals[0].activated = true;
  a.intervals[0].acting = {0, 1, 2};
  PriorSet p = build_prior_set({{0, a}}, 9, {0, 1}, {0, 1, 2});
  EXPECT_FALSE(p.blocked());
  EXPECT_TRUE(p.probe.empty());
}

TEST(PriorSet, HeardMemberWithoutActivationProvesTheIntervalNeverWentActive) {
  // [1,2] at 5-8 had enough members, but osd.2 (heard) never got an
  // activation: the primary, osd.1, cannot have served I/O.
  PgHistory two = history_of({{1, {0, 1, 2}}, {5, {1, 2}}, {9, {0, 2}}}, 2);
  two.intervals[0].activated = true;
  two.intervals[0].acting = {0, 1, 2};
  PriorSet p = build_prior_set({{2, two}}, 9, {0, 2}, {0, 1, 2});
  EXPECT_FALSE(p.blocked()) << p.reasons[0];
  EXPECT_TRUE(p.probe.empty());
}

TEST(PriorSet, OnlyActingMembersCountNotBackfillTargets) {
  // [0,1] at 5-8 went active with osd.1 still backfilling: only osd.0 has
  // the writes. Hearing osd.1 is not enough.
  PgHistory one = history_of({{5, {0, 1}}, {9, {1}}}, 1);
  one.intervals[0].activated = true;
  one.intervals[0].acting = {0};
  PriorSet p = build_prior_set({{1, one}}, 9, {1}, {0, 1});
  EXPECT_TRUE(p.blocked());
  EXPECT_EQ(p.blocked_by, (std::set<OsdId>{0}));
  // With osd.0 up, it is asked instead.
  p = build_prior_set({{1, one}}, 9, {0, 1}, {0, 1});
  EXPECT_FALSE(p.blocked());
  EXPECT_EQ(p.probe, (std::set<OsdId>{0}));
}

TEST(PriorSet, UnheardIntervalMembersAreProbed) {
  // The primary is new (remapped in at 9); the PG lived on 1 and 2 before.
  PgHistory fresh = history_of({{9, {3, 1}}}, 2);
  PgHistory one = history_of({{2, {1, 2}}, {9, {3, 1}}}, 2);
  one.intervals[0].activated = true;
  one.intervals[0].acting = {1, 2};
  PriorSet p = build_prior_set({{3, fresh}}, 9, {1, 2, 3}, {1, 2, 3});
  EXPECT_TRUE(p.probe.empty());  // nothing known yet before 9
  p = build_prior_set({{3, fresh}, {1, one}}, 9, {1, 2, 3}, {1, 2, 3});
  EXPECT_TRUE(p.probe.empty()) << "osd.1 was acting in [1,2]";
  EXPECT_FALSE(p.blocked());
}

TEST(PriorSet, MergesViewsOfOneIntervalFromSeveralOsds) {
  // osd.0 recorded [0,1] as 3-6 with the activation; osd.1 saw its maps
  // later (4-7) and has no activation in its record. Views of one up set
  // whose epochs touch are one interval, and it went active.
  PgHistory a = history_of({{3, {0, 1}}, {6, {0, 1}}}, 1);
  a.intervals[0].activated = true;
  a.intervals[0].acting = {0, 1};
  PgHistory b = history_of({{4, {0, 1}}, {7, {0, 1}}, {8, {2}}}, 1);
  PriorSet p = build_prior_set({{1, b}, {0, a}}, 8, {1, 2}, {0, 1, 2});
  EXPECT_FALSE(p.blocked());  // osd.1 is acting and heard
}

TEST(PriorSet, PruningOnceCleanForgetsOldIntervals) {
  // Down osd.5 was the lone writer long ago, but the PG was clean at 10.
  PgHistory a = history_of({{1, {5}}, {4, {0, 1}}, {10, {0, 1}, true}, {12, {0}}}, 1);
  a.intervals[0].activated = true;
  a.intervals[0].acting = {5};
  EXPECT_TRUE(build_prior_set({{0, a}}, 12, {0}, {0, 1, 5}).blocked());
  a.intervals[2].activated = true;
  a.intervals[2].acting = {0, 1};
  a.mark_clean(10);
  PriorSet p = build_prior_set({{0, a}}, 12, {0}, {0, 1, 5});
  EXPECT_FALSE(p.blocked()) << p.reasons[0];
  // Another member's newer clean epoch prunes our stale record too.
  PgHistory stale = history_of({{1, {5}}, {4, {0, 1}}, {10, {0, 1}, true}, {12, {0}}}, 1);
  stale.intervals[0].activated = true;
  stale.intervals[0].acting = {5};
  PgHistory b;
  b.mark_clean(10);
  p = build_prior_set({{0, stale}, {1, b}}, 12, {0, 1}, {0, 1, 5});
  EXPECT_FALSE(p.blocked());
}

TEST(PriorSet, TheNewestActivatedIntervalHidesOlderOnes) {
  // osd.5 wrote alone at 1-3, but [0,1] went active at 4 after peering
  // (which needed osd.5 then): its acting members hold all of that.
  PgHistory a = history_of({{1, {5}}, {4, {0, 1}}, {9, {0}}}, 1);
  a.intervals[0].activated = true;
  a.intervals[0].acting = {5};
  a.intervals[1].activated = true;
  a.intervals[1].acting = {0, 1};
  PriorSet p = build_prior_set({{0, a}}, 9, {0}, {0, 1, 5});
  EXPECT_FALSE(p.blocked()) << p.reasons[0];
  // It binds even when it could not ack writes: size 2, min_size 2, osd.1
  // alone was activated (peered) and its acting set is the only complete one.
  PgHistory b = history_of({{1, {0, 1}}, {4, {1}}, {9, {0}}}, 2);
  b.intervals[0].activated = true;
  b.intervals[0].acting = {1};
  b.intervals[1].activated = true;
  b.intervals[1].acting = {1};
  p = build_prior_set({{0, b}}, 9, {0}, {0, 1});
  EXPECT_TRUE(p.blocked());
  EXPECT_EQ(p.blocked_by, (std::set<OsdId>{1}));
}

TEST(PriorSet, FreshPgHasNothingToWaitFor) {
  PgHistory h = history_of({{7, {0, 1, 2}}}, 2);
  PriorSet p = build_prior_set({{0, h}}, 7, {0, 1, 2}, {0, 1, 2});
  EXPECT_FALSE(p.blocked());
  EXPECT_TRUE(p.probe.empty());
}

}  // namespace
}  // namespace cairn::osd
