#include "rbd/core/layout.h"

#include <gtest/gtest.h>

#include "rbd/core/header.h"

namespace cairn::rbd {
namespace {

TEST(MapExtent, Table) {
  constexpr uint64_t M = 1 << 20;
  struct Case {
    uint64_t off, len;
    std::vector<ObjectExtent> want;
  } cases[] = {
      {0, 0, {}},
      {0, 4 * M, {{0, 0, 4 * M, 0}}},
      {1, 10, {{0, 1, 10, 0}}},
      {4 * M - 1, 2, {{0, 4 * M - 1, 1, 0}, {1, 0, 1, 1}}},
      {3 * M, 6 * M, {{0, 3 * M, M, 0}, {1, 0, 4 * M, M}, {2, 0, M, 5 * M}}},
      {8 * M, 4 * M, {{2, 0, 4 * M, 0}}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(map_extent(4 * M, c.off, c.len), c.want) << c.off << "+" << c.len;
  }
}

TEST(MapExtent, CoversEveryByteOnce) {
  for (uint64_t off : {0ull, 1ull, 4095ull, 12345ull}) {
    for (uint64_t len : {1ull, 4096ull, 100000ull}) {
      uint64_t sum = 0, expect_buf = 0;
      for (const auto& x : map_extent(4096, off, len)) {
        EXPECT_EQ(x.buf_offset, expect_buf);
        EXPECT_EQ(x.objno * 4096 + x.offset, off + x.buf_offset);
        EXPECT_LE(x.offset + x.length, 4096u);
        sum += x.length;
        expect_buf += x.length;
      }
      EXPECT_EQ(sum, len);
    }
  }
}

TEST(Layout, Names) {
  EXPECT_EQ(data_object("ab12", 3), "rbd_data.ab12.0000000000000003");
  EXPECT_EQ(clone_object("ab12", 3, 16), "rbd_data.ab12.0000000000000003@0000000000000010");
  EXPECT_EQ(header_object("ab12"), "rbd_header.ab12");
  EXPECT_EQ(object_count(4096, 1), 1u);
  EXPECT_EQ(object_count(4096, 4096), 1u);
  EXPECT_EQ(object_count(4096, 4097), 2u);
}

TEST(Layout, Validation) {
  EXPECT_TRUE(validate_image_name("vol-1").ok());
  EXPECT_FALSE(validate_image_name("").ok());
  EXPECT_FALSE(validate_image_name("a/b").ok());
  EXPECT_FALSE(validate_image_name("a@b").ok());
  EXPECT_FALSE(validate_image_name(".hidden").ok());
  EXPECT_FALSE(validate_image_name(std::string(129, 'x')).ok());
  EXPECT_TRUE(validate_object_size(4 << 20).ok());
  EXPECT_FALSE(validate_object_size(3 << 20).ok());
  EXPECT_FALSE(validate_object_size(1024).ok());
  EXPECT_FALSE(validate_object_size(64 << 20).ok());
  EXPECT_FALSE(validate_image_size(0).ok());
  EXPECT_FALSE(validate_image_size(kMaxImageSize + 1).ok());
}

TEST(ImageSpec, Parse) {
  auto s = parse_image_spec("rbd/vol@snap1");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->pool, "rbd");
  EXPECT_EQ(s->image, "vol");
  EXPECT_EQ(s->snap, "snap1");
  EXPECT_EQ(s->to_string(), "rbd/vol@snap1");
  auto t = parse_image_spec("/rbd/vol");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->to_string(), "rbd/vol");
  for (const char* bad : {"", "vol", "rbd/", "/vol", "rbd/vol@", "rbd/a/b"}) {
    EXPECT_FALSE(parse_image_spec(bad).ok()) << bad;
  }
}

TEST(Header, RoundTrip) {
  ImageHeader h;
  h.id = "abc";
  h.name = "vol";
  h.size = 1 << 30;
  h.object_size = 4 << 20;
  h.features = kFeatureLayering;
  h.created_ns = 42;
  h.snap_seq = 3;
  h.snaps = {{1, "a", 100, 5, false}, {3, "b", 200, 6, true}};
  h.retired_snaps = {2};
  h.parent = ParentSpec{"p", "xyz", 7, 99};
  h.children = {{"p2", "c1", 3}, {"p", "c2", 1}};
  auto d = decode_header(encode_header(h));
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(*d, h);
  EXPECT_EQ(d->find_snap("b")->id, 3u);
  EXPECT_EQ(d->latest_snap(), 3u);
  EXPECT_EQ(d->children_of(3), (std::vector<ChildRef>{{"p2", "c1", 3}}));
  EXPECT_TRUE(d->children_of(2).empty());
}

TEST(Header, DecodesVersion1) {
  // A version 1 header is a version 2 one without the children count.
  ImageHeader h;
  h.id = "abc";
  h.object_size = 4096;
  h.parent = ParentSpec{"p", "xyz", 7, 99};
  std::string e = encode_header(h);
  e[0] = 1;
  e.resize(e.size() - 4);
  auto d = decode_header(e);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(*d, h);
}

TEST(Header, Corrupt) {
  ImageHeader h;
  h.id = "abc";
  h.object_size = 4096;
  std::string e = encode_header(h);
  for (size_t n = 0; n < e.size(); ++n) {
    EXPECT_FALSE(decode_header(e.substr(0, n)).ok()) << n;
  }
  std::string bad = e;
  bad[0] = 9;
  EXPECT_TRUE(decode_header(bad).status().is(Code::kCorruption));
  h.features = 1ull << 40;
  EXPECT_TRUE(decode_header(encode_header(h)).status().is(Code::kNotSupported));
}

}  // namespace
}  // namespace cairn::rbd
