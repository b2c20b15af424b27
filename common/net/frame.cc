#include "common/net/frame.h"

#include <cstring>

#include "common/crc32c.h"

namespace cairn::net {

HeaderBytes encode_header(const FrameHeader& h) {
  HeaderBytes b{};
  uint32_t magic = kFrameMagic;
  std::memcpy(b.data(), &magic, 4);
  std::memcpy(b.data() + 4, &h.type, 2);
  std::memcpy(b.data() + 6, &h.flags, 2);
  std::memcpy(b.data() + 8, &h.req_id, 8);
  std::memcpy(b.data() + 16, &h.length, 4);
  return b;
}

Result<FrameHeader> decode_header(const HeaderBytes& b) {
  uint32_t magic;
  std::memcpy(&magic, b.data(), 4);
  if (magic != kFrameMagic) return Status::Corruption("bad frame magic");
  FrameHeader h;
  std::memcpy(&h.type, b.data() + 4, 2);
  std::memcpy(&h.flags, b.data() + 6, 2);
  std::memcpy(&h.req_id, b.data() + 8, 8);
  std::memcpy(&h.length, b.data() + 16, 4);
  if (h.length > kMaxFrameLength) {
    return Status::TooLarge("frame of " + std::to_string(h.length) + " bytes is over the limit");
  }
  return h;
}

uint32_t frame_crc(const HeaderBytes& header, std::string_view payload) {
  return crc32c(payload, crc32c(std::string_view(header.data(), header.size())));
}

std::string encode_frame(const FrameHeader& h, std::string_view payload) {
  FrameHeader hh = h;
  hh.length = static_cast<uint32_t>(payload.size());
  HeaderBytes hb = encode_header(hh);
  std::string out(hb.data(), hb.size());
  out.append(payload);
  uint32_t crc = frame_crc(hb, payload);
  out.append(reinterpret_cast<const char*>(&crc), 4);
  return out;
}

}  // namespace cairn::net
