#include "rbd/nbd/proto.h"

#include <gtest/gtest.h>

namespace cairn::nbd {
namespace {

TEST(Proto, RequestRoundTrip) {
  Request r{kCmdFlagFua, Cmd::kWrite, 0x1122334455667788ull, 4096, 512};
  std::string e = encode_request(r);
  ASSERT_EQ(e.size(), kRequestSize);
  auto d = parse_request(e);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->flags, r.flags);
  EXPECT_EQ(d->type, r.type);
  EXPECT_EQ(d->cookie, r.cookie);
  EXPECT_EQ(d->offset, r.offset);
  EXPECT_EQ(d->length, r.length);
  e[0] ^= 1;
  EXPECT_FALSE(parse_request(e).ok());
}

TEST(Proto, Validate) {
  ExportInfo rw{1 << 20, false};
  ExportInfo ro{1 << 20, true};
  struct Case {
    Request r;
    ExportInfo e;
    bool structured, meta;
    uint32_t want;
  } cases[] = {
      {{0, Cmd::kRead, 1, 0, 4096}, rw, false, false, 0},
      {{0, Cmd::kRead, 1, (1 << 20) - 1, 1}, rw, false, false, 0},
      {{0, Cmd::kRead, 1, (1 << 20) - 1, 2}, rw, false, false, kEinval},
      {{0, Cmd::kRead, 1, ~0ull, 2}, rw, false, false, kEinval},
      {{0, Cmd::kRead, 1, 0, 0}, rw, false, false, kEinval},
      {{0, Cmd::kRead, 1, 0, kMaxPayload + 1}, ExportInfo{1ull << 40, false}, false, false, kEinval},
      {{kCmdFlagDf, Cmd::kRead, 1, 0, 1}, rw, false, false, kEinval},
      {{kCmdFlagDf, Cmd::kRead, 1, 0, 1}, rw, true, false, 0},
      {{0, Cmd::kWrite, 1, (1 << 20) - 1, 2}, rw, false, false, kEnospc},
      {{0, Cmd::kWrite, 1, 0, 1}, ro, false, false, kEperm},
      {{0, Cmd::kTrim, 1, 0, 1}, ro, false, false, kEperm},
      {{kCmdFlagNoHole, Cmd::kWriteZeroes, 1, 0, 1}, rw, false, false, 0},
      {{kCmdFlagNoHole, Cmd::kWrite, 1, 0, 1}, rw, false, false, kEinval},
      {{0, Cmd::kFlush, 1, 0, 0}, rw, false, false, 0},
      {{0, Cmd::kFlush, 1, 0, 1}, rw, false, false, kEinval},
      {{0, Cmd::kBlockStatus, 1, 0, 1}, rw, true, false, kEinval},
      {{kCmdFlagReqOne, Cmd::kBlockStatus, 1, 0, 1}, rw, true, true, 0},
      {{0, Cmd::kCache, 1, 0, 1}, rw, false, false, kEinval},
      {{0, static_cast<Cmd>(99), 1, 0, 1}, rw, false, false, kEinval},
      {{1 << 9, Cmd::kRead, 1, 0, 1}, rw, false, false, kEinval},
  };
  int i = 0;
  for (const auto& c : cases) {
    EXPECT_EQ(validate_request(c.r, c.e, c.structured, c.meta), c.want) << "case " << i;
    ++i;
  }
}

TEST(Proto, InfoRequest) {
  std::string p;
  put_be32(p, 7);
  p += "rbd/vol";
  put_be16(p, 2);
  put_be16(p, kInfoBlockSize);
  put_be16(p, kInfoName);
  auto r = parse_info_request(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->name, "rbd/vol");
  EXPECT_EQ(r->infos, (std::vector<uint16_t>{kInfoBlockSize, kInfoName}));
  for (size_t n = 0; n < p.size(); ++n) EXPECT_FALSE(parse_info_request(p.substr(0, n)).ok()) << n;
  std::string huge;
  put_be32(huge, 0xffffffff);
  EXPECT_FALSE(parse_info_request(huge).ok());
}

TEST(Proto, MetaContextRequest) {
  std::string p;
  put_be32(p, 0);
  put_be32(p, 1);
  put_be32(p, 15);
  p += "base:allocation";
  auto r = parse_meta_context_request(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->queries, std::vector<std::string>{"base:allocation"});
  p += "x";
  EXPECT_FALSE(parse_meta_context_request(p).ok());
}

TEST(Proto, Replies) {
  std::string s = encode_simple_reply(5, kEinval);
  ASSERT_EQ(s.size(), 16u);
  EXPECT_EQ(get_be32(s.data()), kSimpleReplyMagic);
  EXPECT_EQ(get_be32(s.data() + 4), kEinval);
  EXPECT_EQ(get_be64(s.data() + 8), 5u);
  std::string h = encode_hole_chunk(9, kReplyFlagDone, 4096, 512);
  ASSERT_EQ(h.size(), 20u + 12u);
  EXPECT_EQ(get_be16(h.data() + 4), kReplyFlagDone);
  EXPECT_EQ(get_be16(h.data() + 6), kChunkOffsetHole);
  EXPECT_EQ(get_be32(h.data() + 16), 12u);
  EXPECT_EQ(encode_export_name_reply(ExportInfo{1, false}, false).size(), 8u + 2u + 124u);
  EXPECT_EQ(encode_export_name_reply(ExportInfo{1, false}, true).size(), 10u);
  EXPECT_TRUE(transmission_flags(ExportInfo{1, true}) & kTxReadOnly);
  EXPECT_FALSE(transmission_flags(ExportInfo{1, true}) & kTxSendTrim);
  EXPECT_EQ(status_to_nbd_error(Status::NoSpace("x")), kEnospc);
  EXPECT_EQ(status_to_nbd_error(Status::PermissionDenied("x")), kEperm);
  EXPECT_EQ(status_to_nbd_error(Status::Unavailable("x")), kEio);
}

}  // namespace
}  // namespace cairn::nbd
