#include "common/messages.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

std::vector<LogEntry> sample_log() {
  return {LogEntry{(13ull << 32) | 5, "a", false, 7, 1}, LogEntry{(14ull << 32) | 1, "b", true, 7, 2}};
}

void expect_same(const std::vector<LogEntry>& a, const std::vector<LogEntry>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].version, b[i].version);
    EXPECT_EQ(a[i].object, b[i].object);
    EXPECT_EQ(a[i].is_delete, b[i].is_delete);
    EXPECT_EQ(a[i].client_id, b[i].client_id);
    EXPECT_EQ(a[i].tid, b[i].tid);
  }
}

TEST(Messages, OsdFailureRoundTripsAndRejectsTruncation) {
  OsdFailure f{3, 7, 6500};
  std::string b = f.encode();
  auto back = OsdFailure::decode(b);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->reporter, 3);
  EXPECT_EQ(back->target, 7);
  EXPECT_EQ(back->failed_for_ms, 6500u);
  EXPECT_FALSE(OsdFailure::decode(b.substr(0, b.size() - 1)).ok());
}

TEST(Messages, PgInfoReplyCarriesTheLog) {
  PgInfoReply r;
  r.last_update = 42;
  r.objects = 3;
  r.history = "h";
  r.has_log = true;
  r.log = sample_log();
  auto d = PgInfoReply::decode(r.encode());
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->last_update, 42u);
  EXPECT_TRUE(d->has_log);
  expect_same(d->log, r.log);
}

TEST(Messages, PgInfoReplyFromAnOlderOsdHasNoLog) {
  std::string old;
  Encoder e(&old);
  StatusReply{}.encode(e);
  e.u64(42);
  e.u64(3);
  e.str("h");
  auto d = PgInfoReply::decode(old);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->last_update, 42u);
  EXPECT_FALSE(d->has_log);
}

TEST(Messages, PgPushReplacesTheLogOnlyWhenAsked) {
  PgPushRequest p{1, 2, {}, 99};
  p.replace_log = true;
  p.log = sample_log();
  auto d = PgPushRequest::decode(p.encode());
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->last_update, 99u);
  EXPECT_TRUE(d->replace_log);
  expect_same(d->log, p.log);

  std::string old;
  Encoder e(&old);
  e.i32(1);
  e.u32(2);
  e.u32(0);
  e.u64(99);
  d = PgPushRequest::decode(old);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_FALSE(d->replace_log);
}

}  // namespace
}  // namespace cairn
