#include "rbd/core/header.h"

#include "common/codec.h"

namespace cairn::rbd {

namespace {
// 2 added the children list; version 1 headers still decode (no children).
constexpr uint8_t kVersion = 2;
}

const SnapInfo* ImageHeader::find_snap(const std::string& n) const {
  for (const auto& s : snaps) {
    if (s.name == n) return &s;
  }
  return nullptr;
}

const SnapInfo* ImageHeader::find_snap(uint64_t snap_id) const {
  for (const auto& s : snaps) {
    if (s.id == snap_id) return &s;
  }
  return nullptr;
}

std::vector<ChildRef> ImageHeader::children_of(uint64_t snap_id) const {
  std::vector<ChildRef> out;
  for (const auto& c : children) {
    if (c.snap_id == snap_id) out.push_back(c);
  }
  return out;
}

std::string encode_header(const ImageHeader& h) {
  std::string out;
  Encoder e(&out);
  e.u8(kVersion);
  e.str(h.id);
  e.str(h.name);
  e.u64(h.size);
  e.u64(h.object_size);
  e.u64(h.features);
  e.u64(h.created_ns);
  e.u64(h.snap_seq);
  e.u32(static_cast<uint32_t>(h.snaps.size()));
  for (const auto& s : h.snaps) {
    e.u64(s.id);
    e.str(s.name);
    e.u64(s.size);
    e.u64(s.created_ns);
    e.boolean(s.is_protected);
  }
  e.u32(static_cast<uint32_t>(h.retired_snaps.size()));
  for (uint64_t id : h.retired_snaps) e.u64(id);
  e.boolean(h.parent.has_value());
  if (h.parent) {
    e.str(h.parent->pool);
    e.str(h.parent->image_id);
    e.u64(h.parent->snap_id);
    e.u64(h.parent->overlap);
  }
  e.u32(static_cast<uint32_t>(h.children.size()));
  for (const auto& c : h.children) {
    e.str(c.pool);
    e.str(c.image_id);
    e.u64(c.snap_id);
  }
  return out;
}

Result<ImageHeader> decode_header(std::string_view bytes) {
  Decoder d(bytes);
  uint8_t v = d.u8();
  if (d.ok() && (v < 1 || v > kVersion)) {
    return Status::Corruption("image header version " + std::to_string(v) + " is unknown");
  }
  ImageHeader h;
  h.id = d.str();
  h.name = d.str();
  h.size = d.u64();
  h.object_size = d.u64();
  h.features = d.u64();
  h.created_ns = d.u64();
  h.snap_seq = d.u64();
  uint32_t n = d.count();
  for (uint32_t i = 0; i < n && d.ok(); ++i) {
    SnapInfo s;
    s.id = d.u64();
    s.name = d.str();
    s.size = d.u64();
    s.created_ns = d.u64();
    s.is_protected = d.boolean();
    h.snaps.push_back(std::move(s));
  }
  uint32_t nr = d.count();
  for (uint32_t i = 0; i < nr && d.ok(); ++i) h.retired_snaps.push_back(d.u64());
  if (d.boolean()) {
    ParentSpec p;
    p.pool = d.str();
    p.image_id = d.str();
    p.snap_id = d.u64();
    p.overlap = d.u64();
    h.parent = std::move(p);
  }
  if (v >= 2) {
    uint32_t nc = d.count();
    for (uint32_t i = 0; i < nc && d.ok(); ++i) {
      ChildRef c;
      c.pool = d.str();
      c.image_id = d.str();
      c.snap_id = d.u64();
      h.children.push_back(std::move(c));
    }
  }
  if (!d.ok()) return Status::Corruption("image header is truncated");
  if (h.object_size == 0) return Status::Corruption("image header has object size 0");
  if (h.features & ~kKnownFeatures) {
    return Status::NotSupported("image has features this client does not know");
  }
  return h;
}

}  // namespace cairn::rbd
