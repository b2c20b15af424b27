#include "osd/core/op_planner.h"

#include <gtest/gtest.h>

namespace cairn::osd {
namespace {

constexpr uint64_t kMax = 1000;

ObjectOp op(OpCode c, std::string data = "", uint64_t offset = 0) {
  return ObjectOp{.code = c, .offset = offset, .data = std::move(data)};
}

TEST(OpPlanner, AppendResolvesToWriteAtCurrentSize) {
  auto plan = plan_write({.exists = true, .size = 10}, {op(OpCode::kAppend, "abc")}, kMax);
  ASSERT_TRUE(plan.status.ok());
  ASSERT_EQ(plan.mutations.size(), 1u);
  EXPECT_EQ(plan.mutations[0].code, OpCode::kWrite);
  EXPECT_EQ(plan.mutations[0].offset, 10u);
}

TEST(OpPlanner, TwoAppendsInOneRequestStack) {
  auto plan = plan_write({}, {op(OpCode::kAppend, "ab"), op(OpCode::kAppend, "cd")}, kMax);
  ASSERT_TRUE(plan.status.ok());
  EXPECT_EQ(plan.mutations[1].offset, 2u);
}

TEST(OpPlanner, CompareAndSetOnXattr) {
  ObjectState st{.exists = true, .size = 0, .xattrs = {{"lock", "a"}}};
  ObjectOp cmp{.code = OpCode::kCmpXattr, .key = "lock", .value = "a"};
  ObjectOp set{.code = OpCode::kSetXattr, .key = "lock", .value = "b"};
  EXPECT_TRUE(plan_write(st, {cmp, set}, kMax).status.ok());
  cmp.value = "z";
  auto plan = plan_write(st, {cmp, set}, kMax);
  EXPECT_TRUE(plan.status.is(Code::kConflict));
  EXPECT_TRUE(plan.mutations.empty());
  // "" matches an absent xattr: create-if-unlocked.
  cmp.value = "";
  EXPECT_TRUE(plan_write({}, {cmp, set}, kMax).status.ok());
}

TEST(OpPlanner, ErrorsLeaveNothingToApply) {
  struct Case {
    ObjectState st;
    std::vector<ObjectOp> ops;
    Code want;
  } cases[] = {
      {{.exists = true}, {op(OpCode::kCreate)}, Code::kAlreadyExists},
      {{}, {op(OpCode::kRemove)}, Code::kNotFound},
      {{}, {op(OpCode::kOmapClear)}, Code::kNotFound},
      {{}, {op(OpCode::kWriteFull, std::string(kMax + 1, 'x'))}, Code::kTooLarge},
      {{}, {op(OpCode::kWrite, "x", kMax)}, Code::kTooLarge},
      {{}, {op(OpCode::kTruncate, "", kMax + 1)}, Code::kTooLarge},
      {{}, {op(OpCode::kWriteFull, "a"), op(OpCode::kRead)}, Code::kInvalidArgument},
  };
  for (const auto& c : cases) {
    auto plan = plan_write(c.st, c.ops, kMax);
    EXPECT_TRUE(plan.status.is(c.want)) << plan.status.to_string();
    EXPECT_TRUE(plan.mutations.empty());
  }
}

TEST(OpPlanner, RemoveMarksDelete) {
  auto plan = plan_write({.exists = true, .size = 5}, {op(OpCode::kRemove)}, kMax);
  ASSERT_TRUE(plan.status.ok());
  EXPECT_TRUE(plan.deletes_object);
  plan = plan_write({.exists = true}, {op(OpCode::kRemove), op(OpCode::kWriteFull, "x")}, kMax);
  EXPECT_FALSE(plan.deletes_object);
}

}  // namespace
}  // namespace cairn::osd
