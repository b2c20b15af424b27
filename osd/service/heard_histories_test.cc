#include <gtest/gtest.h>

#include "osd/service/osd_service.h"

namespace cairn::osd {
namespace {

TEST(HeardHistories, SurviveTheirOnDiskForm) {
  std::map<OsdId, PgHistory> heard;
  heard[3].observe(10, {3, 4}, 1, true);
  heard[3].observe(12, {4}, 1, false);
  heard[7].observe(11, {7, 1, 2}, 2, true);
  auto back = decode_heard_histories(encode_heard_histories(heard));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, heard);
  EXPECT_TRUE(decode_heard_histories(encode_heard_histories({})).value().empty());
}

TEST(HeardHistories, DamageIsAnErrorNotAnEmptyList) {
  std::map<OsdId, PgHistory> heard;
  heard[3].observe(10, {3, 4}, 1, true);
  std::string bytes = encode_heard_histories(heard);
  for (size_t cut : {bytes.size() - 1, size_t{5}, size_t{1}}) {
    EXPECT_FALSE(decode_heard_histories(std::string_view(bytes).substr(0, cut)).ok()) << cut;
  }
}

}  // namespace
}  // namespace cairn::osd
