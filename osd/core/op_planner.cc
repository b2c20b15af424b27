#include "osd/core/op_planner.h"

namespace cairn::osd {

bool needs_xattrs(const std::vector<ObjectOp>& ops) {
  for (const auto& op : ops) {
    if (op.code == OpCode::kCmpXattr) return true;
  }
  return false;
}

bool has_writes(const std::vector<ObjectOp>& ops) {
  for (const auto& op : ops) {
    if (op_is_write(op.code)) return true;
  }
  return false;
}

namespace {

Status check_size(uint64_t end, uint64_t max) {
  if (end > max) {
    return Status::TooLarge("object would be " + std::to_string(end) + " bytes; the limit is " +
                            std::to_string(max));
  }
  return Status::Ok();
}

}  // namespace

WritePlan plan_write(const ObjectState& initial, const std::vector<ObjectOp>& ops,
                     uint64_t max_object_size) {
  WritePlan plan;
  ObjectState st = initial;
  auto fail = [&](Status s) {
    plan.status = s;
    plan.mutations.clear();
    plan.results.resize(ops.size());
    return plan;
  };
  for (size_t i = 0; i < ops.size(); ++i) {
    const ObjectOp& op = ops[i];
    OpResult res;
    switch (op.code) {
      case OpCode::kCmpXattr: {
        auto it = st.xattrs.find(op.key);
        bool match = (it == st.xattrs.end() || !st.exists) ? op.value.empty() : it->second == op.value;
        if (!match) return fail(Status::Conflict("xattr '" + op.key + "' does not match"));
        break;
      }
      case OpCode::kCreate:
        if (st.exists) return fail(Status::AlreadyExists("object already exists"));
        plan.mutations.push_back(ObjectOp{.code = OpCode::kTouch});
        st.exists = true;
        break;
      case OpCode::kTouch:
        plan.mutations.push_back(op);
        st.exists = true;
        break;
      case OpCode::kWriteFull:
        if (Status s = check_size(op.data.size(), max_object_size); !s.ok()) return fail(s);
        plan.mutations.push_back(op);
        st.exists = true;
        st.size = op.data.size();
        break;
      case OpCode::kWrite:
      case OpCode::kAppend: {
        uint64_t offset = op.code == OpCode::kAppend ? (st.exists ? st.size : 0) : op.offset;
        if (offset > max_object_size) return fail(Status::TooLarge("offset past the object size limit"));
        if (Status s = check_size(offset + op.data.size(), max_object_size); !s.ok()) return fail(s);
        ObjectOp w{.code = OpCode::kWrite, .offset = offset, .data = op.data};
        plan.mutations.push_back(std::move(w));
        if (!st.exists) st.size = 0;
        st.exists = true;
        st.size = std::max(st.size, offset + op.data.size());
        break;
      }
      case OpCode::kTruncate:
        if (Status s = check_size(op.offset, max_object_size); !s.ok()) return fail(s);
        plan.mutations.push_back(op);
        st.exists = true;
        st.size = op.offset;
        break;
      case OpCode::kRemove:
        if (!st.exists) return fail(Status::NotFound("object does not exist"));
        plan.mutations.push_back(op);
        st = ObjectState{};
        break;
      case OpCode::kSetXattr:
        plan.mutations.push_back(op);
        st.exists = true;
        st.xattrs[op.key] = op.value;
        break;
      case OpCode::kRmXattr:
      case OpCode::kOmapRm:
      case OpCode::kOmapClear:
        if (!st.exists) return fail(Status::NotFound("object does not exist"));
        plan.mutations.push_back(op);
        if (op.code == OpCode::kRmXattr) st.xattrs.erase(op.key);
        break;
      case OpCode::kOmapSet:
        plan.mutations.push_back(op);
        st.exists = true;
        break;
      default:
        return fail(Status::InvalidArgument("read ops cannot be combined with writes"));
    }
    plan.results.push_back(std::move(res));
  }
  plan.deletes_object = !st.exists;
  return plan;
}

}  // namespace cairn::osd
