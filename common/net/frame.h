// The messenger's wire format: one frame per message.
//
//   header (20 bytes, little-endian)
//     u32 magic      'CRN1'
//     u16 type       MsgType
//     u16 flags      kFlagResponse, ...
//     u64 req_id     matches a response to its request; 0 for one-way messages
//     u32 length     payload bytes
//   payload (length bytes)
//   u32 crc32c       over header and payload
//
// Frames above kMaxFrameLength, a bad magic or a bad checksum drop the
// connection: a peer that sends garbage is not worth resynchronising with.
// Pure code (no I/O) so that it is tested directly and fuzzed.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cairn::net {

inline constexpr uint32_t kFrameMagic = 0x314e5243;  // "CRN1"
inline constexpr size_t kFrameHeaderSize = 20;
inline constexpr size_t kFrameTrailerSize = 4;
// Largest object (128 MiB) plus room for the op envelope.
inline constexpr uint32_t kMaxFrameLength = (128u << 20) + (1u << 20);

inline constexpr uint16_t kFlagResponse = 1;

struct FrameHeader {
  uint16_t type = 0;
  uint16_t flags = 0;
  uint64_t req_id = 0;
  uint32_t length = 0;

  bool is_response() const { return flags & kFlagResponse; }
};

struct Frame {
  FrameHeader header;
  std::string payload;
};

using HeaderBytes = std::array<char, kFrameHeaderSize>;

HeaderBytes encode_header(const FrameHeader& h);
// Parses and validates a header (magic, length limit).
Result<FrameHeader> decode_header(const HeaderBytes& bytes);
// Checksum of a whole frame, computed without concatenating the parts.
uint32_t frame_crc(const HeaderBytes& header, std::string_view payload);

// Encodes a whole frame into one string (tests, small control messages).
std::string encode_frame(const FrameHeader& h, std::string_view payload);

}  // namespace cairn::net
