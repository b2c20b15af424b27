#include "osd/core/scrub_schedule.h"

#include <gtest/gtest.h>

namespace cairn::osd {
namespace {

constexpr uint64_t kHour = 3600 * 1000;
constexpr uint64_t kDay = 24 * kHour;

ScrubCandidate pg(uint32_t seed, uint64_t last, uint64_t last_deep, double jitter = 0,
                  bool eligible = true) {
  return ScrubCandidate{PgId{1, seed}, ScrubStamps{last, last_deep}, jitter, eligible};
}

TEST(ScrubSchedule, DueTimeSpreadsOverTheRandomizedWindow) {
  EXPECT_EQ(scrub_due_ms(1000, kDay, 0.0, 0.5), 1000 + kDay);
  EXPECT_EQ(scrub_due_ms(1000, kDay, 0.5, 0.5), 1000 + kDay + kDay / 4);
  EXPECT_EQ(scrub_due_ms(1000, kDay, 0.999999, 0.0), 1000 + kDay);
  // Out-of-range draws are clamped, never wrapped.
  EXPECT_EQ(scrub_due_ms(0, kDay, 7.0, 0.5), kDay + kDay / 2);
  EXPECT_EQ(scrub_due_ms(0, kDay, -1.0, 0.5), kDay);
}

TEST(ScrubSchedule, Table) {
  ScrubPolicy p;  // 1 day, 7 days, ratio 0.5
  uint64_t now = 100 * kDay;
  struct Case {
    const char* what;
    std::vector<ScrubCandidate> pgs;
    std::optional<ScrubJob> want;
  };
  std::vector<Case> cases = {
      {"nothing due", {pg(0, now - kHour, now - kDay)}, std::nullopt},
      {"scrub due", {pg(0, now - kDay, now - kDay)}, ScrubJob{PgId{1, 0}, false}},
      {"jitter postpones it", {pg(0, now - kDay - kHour, now - kDay, 0.5)}, std::nullopt},
      {"deep due", {pg(0, now - kHour, now - 8 * kDay)}, ScrubJob{PgId{1, 0}, true}},
      {"a recent deep scrub counts as a scrub", {pg(0, now - 3 * kDay, now - kHour)}, std::nullopt},
      {"ineligible (recovering) is skipped", {pg(0, 0, 0, 0, false)}, std::nullopt},
      {"most overdue first",
       {pg(0, now - 2 * kDay, now - 3 * kDay), pg(1, now - 3 * kDay, now - 4 * kDay),
        pg(2, now - kDay - 1, now - 4 * kDay)},
       ScrubJob{PgId{1, 1}, false}},
      {"an overdue deep scrub beats a less overdue scrub",
       {pg(0, now - 2 * kDay, now - 2 * kDay), pg(1, now - kHour, now - 10 * kDay)},
       ScrubJob{PgId{1, 1}, true}},
      {"ties go to the lower PG", {pg(5, now - 2 * kDay, now - 3 * kDay), pg(3, now - 2 * kDay, now - 3 * kDay)},
       ScrubJob{PgId{1, 3}, false}},
      {"never scrubbed is the most overdue", {pg(0, now - 2 * kDay, now - 3 * kDay), pg(1, 0, 0)},
       ScrubJob{PgId{1, 1}, true}},
  };
  for (const auto& c : cases) {
    auto got = next_scrub(c.pgs, now, p);
    ASSERT_EQ(got.has_value(), c.want.has_value()) << c.what;
    if (!got) continue;
    EXPECT_EQ(got->pg, c.want->pg) << c.what;
    EXPECT_EQ(got->deep, c.want->deep) << c.what;
  }
}

TEST(ScrubSchedule, ZeroIntervalsTurnKindsOff) {
  ScrubPolicy p;
  p.scrub_interval_ms = 0;
  EXPECT_FALSE(next_scrub({pg(0, 0, 100 * kDay)}, 100 * kDay + 2 * kDay, p));
  auto deep = next_scrub({pg(0, 0, 0)}, 100 * kDay, p);
  ASSERT_TRUE(deep);
  EXPECT_TRUE(deep->deep);
  p.deep_scrub_interval_ms = 0;
  EXPECT_FALSE(next_scrub({pg(0, 0, 0)}, 100 * kDay, p));
}

TEST(ScrubSchedule, StampsRoundTripAndRejectGarbage) {
  ScrubStamps s{123, 456};
  ScrubStamps back;
  ASSERT_TRUE(back.decode(s.encode()));
  EXPECT_EQ(back.last_scrub_ms, 123u);
  EXPECT_EQ(back.last_deep_scrub_ms, 456u);
  ScrubStamps keep{1, 2};
  EXPECT_FALSE(keep.decode("x"));
  EXPECT_FALSE(keep.decode(std::string(17, '\0')));  // unknown version
  EXPECT_EQ(keep.last_scrub_ms, 1u);
}

}  // namespace
}  // namespace cairn::osd
