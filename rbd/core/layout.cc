#include "rbd/core/layout.h"

#include <fmt/format.h>

#include "common/cluster_map.h"

namespace cairn::rbd {

std::string header_object(std::string_view image_id) {
  return fmt::format("rbd_header.{}", image_id);
}

std::string data_prefix(std::string_view image_id) { return fmt::format("rbd_data.{}.", image_id); }

std::string data_object(std::string_view image_id, uint64_t objno) {
  return fmt::format("rbd_data.{}.{:016x}", image_id, objno);
}

std::string clone_object(std::string_view image_id, uint64_t objno, uint64_t snap_id) {
  return fmt::format("rbd_data.{}.{:016x}@{:016x}", image_id, objno, snap_id);
}

std::vector<ObjectExtent> map_extent(uint64_t object_size, uint64_t offset, uint64_t length) {
  CAIRN_CHECK(object_size > 0);
  std::vector<ObjectExtent> out;
  uint64_t done = 0;
  while (done < length) {
    uint64_t pos = offset + done;
    uint64_t objno = pos / object_size;
    uint64_t in_obj = pos % object_size;
    uint64_t n = std::min(object_size - in_obj, length - done);
    out.push_back(ObjectExtent{objno, in_obj, n, done});
    done += n;
  }
  return out;
}

uint64_t object_count(uint64_t object_size, uint64_t size) {
  return (size + object_size - 1) / object_size;
}

namespace {
Status validate_name(std::string_view what, std::string_view name) {
  if (name.empty()) return Status::InvalidArgument(fmt::format("{} name is empty", what));
  if (name.size() > 128) {
    return Status::InvalidArgument(fmt::format("{} name is longer than 128 bytes", what));
  }
  if (name[0] == '.') {
    return Status::InvalidArgument(fmt::format("{} name '{}' starts with '.'", what, name));
  }
  for (char c : name) {
    if (c == '/' || c == '@' || c == '\0' || static_cast<unsigned char>(c) < 0x20) {
      return Status::InvalidArgument(
          fmt::format("{} name '{}' contains '/', '@' or a control character", what, name));
    }
  }
  return Status::Ok();
}
}  // namespace

Status validate_image_name(std::string_view name) { return validate_name("image", name); }
Status validate_snap_name(std::string_view name) { return validate_name("snapshot", name); }

Status validate_object_size(uint64_t s) {
  if (s < kMinObjectSize || s > kMaxObjectSizeRbd || (s & (s - 1)) != 0) {
    return Status::InvalidArgument(fmt::format(
        "object size {} is not a power of two between {} and {}", s, kMinObjectSize,
        kMaxObjectSizeRbd));
  }
  return Status::Ok();
}

Status validate_image_size(uint64_t size) {
  if (size == 0) return Status::InvalidArgument("image size must be more than 0");
  if (size > kMaxImageSize) {
    return Status::InvalidArgument(fmt::format("image size {} is over the 1 PiB limit", size));
  }
  return Status::Ok();
}

std::string ImageSpec::to_string() const {
  return snap.empty() ? pool + "/" + image : pool + "/" + image + "@" + snap;
}

Result<ImageSpec> parse_image_spec(std::string_view s) {
  // nbd clients may send a leading '/' (nbd://host/pool/image).
  while (!s.empty() && s.front() == '/') s.remove_prefix(1);
  auto slash = s.find('/');
  if (slash == std::string_view::npos) {
    return Status::InvalidArgument(fmt::format("'{}' is not POOL/IMAGE[@SNAP]", s));
  }
  ImageSpec spec;
  spec.pool = std::string(s.substr(0, slash));
  std::string_view rest = s.substr(slash + 1);
  auto at = rest.find('@');
  spec.image = std::string(rest.substr(0, at));
  if (at != std::string_view::npos) {
    spec.snap = std::string(rest.substr(at + 1));
    CAIRN_RETURN_IF_ERROR(validate_snap_name(spec.snap));
  }
  CAIRN_RETURN_IF_ERROR(validate_pool_name(spec.pool));
  CAIRN_RETURN_IF_ERROR(validate_image_name(spec.image));
  return spec;
}

}  // namespace cairn::rbd
