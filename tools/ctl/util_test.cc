#include "tools/ctl/util.h"

#include <gtest/gtest.h>

namespace cairn::ctl {
namespace {

TEST(ParseSize, AcceptsBytesAndBinarySuffixes) {
  struct Case {
    const char* in;
    uint64_t want;
  } cases[] = {
      {"0", 0},           {"4096", 4096}, {"4K", 4096},           {"4k", 4096},
      {"4KiB", 4096},     {"4KB", 4096},  {"4M", 4u << 20},       {"1G", 1ull << 30},
      {"2T", 2ull << 40}, {"17B", 17},    {"128MiB", 128u << 20}, {"1m", 1u << 20},
  };
  for (const auto& c : cases) {
    auto r = parse_size(c.in);
    ASSERT_TRUE(r.ok()) << c.in << ": " << r.status().to_string();
    EXPECT_EQ(*r, c.want) << c.in;
  }
}

TEST(ParseSize, RejectsGarbage) {
  for (const char* in : {"", "M", "-1", "4X", "4MM", "4 M", "1.5M", "4Mi", "0x10",
                         "99999999999999999999", "17179869184G", "4BB"}) {
    auto r = parse_size(in);
    EXPECT_FALSE(r.ok()) << in;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << in;
    }
  }
}

TEST(ParseOsdId, Forms) {
  EXPECT_EQ(*parse_osd_id("3"), 3);
  EXPECT_EQ(*parse_osd_id("osd.12"), 12);
  for (const char* in : {"", "osd.", "-1", "osd.-1", "x", "3x", "mon.1", "99999999999"}) {
    EXPECT_FALSE(parse_osd_id(in).ok()) << in;
  }
}

TEST(ParseWeight, FixedPoint) {
  EXPECT_EQ(*parse_weight("1"), kWeightOne);
  EXPECT_EQ(*parse_weight("0.5"), kWeightOne / 2);
  EXPECT_EQ(*parse_weight("0"), 0u);
  EXPECT_EQ(*parse_weight("2.25"), kWeightOne * 9 / 4);
  for (const char* in : {"", "-0.5", "abc", "1.0x", "nan", "inf", "1e10"}) {
    EXPECT_FALSE(parse_weight(in).ok()) << in;
  }
}

TEST(DefaultMinSize, MajorityFloor) {
  EXPECT_EQ(default_min_size(1), 1u);
  EXPECT_EQ(default_min_size(2), 1u);
  EXPECT_EQ(default_min_size(3), 2u);
  EXPECT_EQ(default_min_size(4), 2u);
  EXPECT_EQ(default_min_size(5), 3u);
}

TEST(ExitCodes, DistinctPerClass) {
  EXPECT_EQ(exit_code_for(Status::Ok()), 0);
  EXPECT_EQ(exit_code_for(Status::InvalidArgument("")), kExitUsage);
  EXPECT_EQ(exit_code_for(Status::NotFound("")), kExitNotFound);
  EXPECT_EQ(exit_code_for(Status::AlreadyExists("")), kExitExists);
  EXPECT_EQ(exit_code_for(Status::TimedOut("")), kExitUnavailable);
  EXPECT_EQ(exit_code_for(Status::Unavailable("")), kExitUnavailable);
  EXPECT_EQ(exit_code_for(Status::PermissionDenied("")), kExitDenied);
  EXPECT_EQ(exit_code_for(Status::Corruption("")), kExitCorrupt);
  EXPECT_EQ(exit_code_for(Status::TooLarge("")), kExitNoSpace);
  EXPECT_EQ(exit_code_for(Status::IoError("")), kExitError);
}

TEST(Format, BytesAndTime) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(4096), "4.0 KiB");
  EXPECT_EQ(format_bytes(128ull << 20), "128 MiB");
  EXPECT_EQ(format_time_ns(1'000'000'000ull * 86400 + 5), "1970-01-02T00:00:00.000000005Z");
  EXPECT_EQ(format_stamp_ms(86400'000ull + 1999), "1970-01-02T00:00:01Z");
  EXPECT_EQ(format_stamp_ms(0), "never");
}

TEST(DumpJson, BinaryDoesNotThrow) {
  Json j = {{"v", std::string("\xff\xfe", 2)}};
  EXPECT_NO_THROW(dump_json(j));
}

}  // namespace
}  // namespace cairn::ctl
