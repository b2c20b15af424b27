#include "common/crc32c.h"

#include <gtest/gtest.h>

namespace cairn {

TEST(Crc32c, KnownVectors) {
  // RFC 3720 B.4 test vectors.
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8a9136aaU);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62a8ab43U);
  EXPECT_EQ(crc32c("123456789"), 0xe3069283U);
}

TEST(Crc32c, Chaining) {
  std::string a = "hello ", b = "world";
  EXPECT_EQ(crc32c(b, crc32c(a)), crc32c(a + b));
}

}  // namespace cairn
