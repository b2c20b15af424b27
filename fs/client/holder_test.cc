#include "fs/client/holder.h"

#include <gtest/gtest.h>

namespace cairn::fs {
namespace {

TEST(HolderStateTest, RoundTripsWhatASuccessorMustServe) {
  HeldMount h;
  h.session = 12345678901234ull;
  h.fs_name = "cairnfs";
  h.subvolume = "train";
  h.options = "read_cache=/var/cache/cairn/train,read_cache_mb=4096,writeback_age_ms=500";
  HeldMount back = decode_state(encode_state(h));
  EXPECT_EQ(back.session, h.session);
  EXPECT_EQ(back.fs_name, h.fs_name);
  EXPECT_EQ(back.subvolume, h.subvolume);
  EXPECT_EQ(back.options, h.options);

  HeldMount bare;
  bare.session = 7;
  bare.fs_name = "other";
  HeldMount bare_back = decode_state(encode_state(bare));
  EXPECT_EQ(bare_back.subvolume, "");
  EXPECT_EQ(bare_back.options, "");
}

TEST(HolderStateTest, AHolderOfAnOlderCairnFuseKeepsThreeFields) {
  HeldMount h = decode_state("42 cairnfs vol1");
  EXPECT_EQ(h.session, 42u);
  EXPECT_EQ(h.fs_name, "cairnfs");
  EXPECT_EQ(h.subvolume, "vol1");
  EXPECT_EQ(h.options, "");
}

}  // namespace
}  // namespace cairn::fs
