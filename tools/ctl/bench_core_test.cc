#include "tools/ctl/bench_core.h"

#include <gtest/gtest.h>

namespace cairn::ctl {
namespace {

TEST(Pattern, DeterministicAndVerifies) {
  for (size_t len : {0ul, 1ul, 15ul, 16ul, 4095ul, 4096ul, 4097ul, 1ul << 20, (4ul << 20) + 3}) {
    std::string a = make_pattern("bench_x_1", len);
    ASSERT_EQ(a.size(), len);
    EXPECT_EQ(a, make_pattern("bench_x_1", len));
    EXPECT_FALSE(verify_pattern("bench_x_1", a).has_value()) << len;
  }
}

TEST(Pattern, DependsOnNameAndOffset) {
  std::string a = make_pattern("bench_x_1", 64 << 10);
  std::string b = make_pattern("bench_x_2", 64 << 10);
  EXPECT_NE(a, b);
  EXPECT_EQ(verify_pattern("bench_x_2", a), 0u);  // another object's data
  // Blocks are not copies of each other: swapping two is detected.
  std::string swapped = a;
  std::swap_ranges(swapped.begin(), swapped.begin() + 4096, swapped.begin() + 4096);
  EXPECT_TRUE(verify_pattern("bench_x_1", swapped).has_value());
}

TEST(Pattern, FindsTheFlippedByte) {
  std::string a = make_pattern("obj", 3 * 4096 + 100);
  a[2 * 4096 + 77] ^= 1;
  EXPECT_EQ(verify_pattern("obj", a), 2u * 4096 + 77);
}

TEST(Latency, NearestRankPercentiles) {
  std::vector<double> l;
  for (int i = 100; i >= 1; --i) l.push_back(i / 1000.0);  // 1..100 ms, unsorted
  LatencySummary s = summarize_latencies(l);
  EXPECT_DOUBLE_EQ(s.avg_ms, 50.5);
  EXPECT_DOUBLE_EQ(s.p50_ms, 50);
  EXPECT_DOUBLE_EQ(s.p99_ms, 99);
  EXPECT_DOUBLE_EQ(s.max_ms, 100);
  LatencySummary one = summarize_latencies({0.002});
  EXPECT_DOUBLE_EQ(one.p50_ms, 2);
  EXPECT_DOUBLE_EQ(one.p99_ms, 2);
  LatencySummary none = summarize_latencies({});
  EXPECT_EQ(none.max_ms, 0);
}

TEST(Result, JsonShape) {
  BenchResult r{"write", 10, 10 << 20, 2.0, 1 << 20, 16, {1, 2, 3, 4}};
  auto j = bench_result_to_json(r);
  EXPECT_EQ(j["op"], "write");
  EXPECT_EQ(j["ops"], 10);
  EXPECT_EQ(j["bytes"], 10 << 20);
  EXPECT_DOUBLE_EQ(j["seconds"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(j["mb_per_s"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(j["iops"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(j["lat_ms"]["p99"].get<double>(), 3);
  EXPECT_EQ(j.size(), 7u);
}

TEST(Meta, RoundTripAndRejects) {
  auto m = decode_bench_meta(encode_bench_meta({12, 4096}));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->count, 12u);
  EXPECT_EQ(m->size, 4096u);
  for (const char* bad : {"", "{", "[]", "{\"count\": 1}", "{\"count\": -1, \"size\": 1}",
                          "{\"count\": \"1\", \"size\": 1}"}) {
    EXPECT_FALSE(decode_bench_meta(bad).ok()) << bad;
  }
}

TEST(Names, Shape) {
  EXPECT_EQ(bench_object_name("p", 7), "bench_p_7");
  EXPECT_EQ(bench_meta_name("p"), "bench_p_meta");
}

TEST(Progress, RowHasDashBeforeFirstLatency) {
  ProgressRow r;
  EXPECT_NE(format_progress_row(r).find(" - "), std::string::npos);
  r.last_lat_s = 0.5;
  EXPECT_NE(format_progress_row(r).find("0.500000"), std::string::npos);
}

}  // namespace
}  // namespace cairn::ctl
