#include "rbd/nbd/proto.h"

#include <cstring>

namespace cairn::nbd {

void put_be16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v));
}
void put_be32(std::string& s, uint32_t v) {
  put_be16(s, static_cast<uint16_t>(v >> 16));
  put_be16(s, static_cast<uint16_t>(v));
}
void put_be64(std::string& s, uint64_t v) {
  put_be32(s, static_cast<uint32_t>(v >> 32));
  put_be32(s, static_cast<uint32_t>(v));
}
uint16_t get_be16(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>((u[0] << 8) | u[1]);
}
uint32_t get_be32(const char* p) {
  return (static_cast<uint32_t>(get_be16(p)) << 16) | get_be16(p + 2);
}
uint64_t get_be64(const char* p) {
  return (static_cast<uint64_t>(get_be32(p)) << 32) | get_be32(p + 4);
}

Result<Request> parse_request(std::string_view b) {
  if (b.size() != kRequestSize) return Status::InvalidArgument("request header is not 28 bytes");
  if (get_be32(b.data()) != kRequestMagic) return Status::InvalidArgument("bad request magic");
  Request r;
  r.flags = get_be16(b.data() + 4);
  r.type = static_cast<Cmd>(get_be16(b.data() + 6));
  r.cookie = get_be64(b.data() + 8);
  r.offset = get_be64(b.data() + 16);
  r.length = get_be32(b.data() + 24);
  return r;
}

std::string encode_request(const Request& r) {
  std::string s;
  put_be32(s, kRequestMagic);
  put_be16(s, r.flags);
  put_be16(s, static_cast<uint16_t>(r.type));
  put_be64(s, r.cookie);
  put_be64(s, r.offset);
  put_be32(s, r.length);
  return s;
}

uint16_t transmission_flags(const ExportInfo& e) {
  uint16_t f = kTxHasFlags | kTxSendFlush | kTxSendFua | kTxSendDf | kTxCanMultiConn;
  if (e.read_only) {
    f |= kTxReadOnly;
  } else {
    f |= kTxSendTrim | kTxSendWriteZeroes;
  }
  return f;
}

uint32_t validate_request(const Request& r, const ExportInfo& e, bool structured,
                          bool meta_context) {
  constexpr uint16_t kKnown =
      kCmdFlagFua | kCmdFlagNoHole | kCmdFlagDf | kCmdFlagReqOne | kCmdFlagFastZero;
  if (r.flags & ~kKnown) return kEinval;
  // A range check that cannot overflow: offset <= size and length <= size - offset.
  bool in_range = r.offset <= e.size && r.length <= e.size - r.offset;
  uint16_t allowed = kCmdFlagFua;
  bool writes = false;
  switch (r.type) {
    case Cmd::kRead:
      if (structured) allowed |= kCmdFlagDf;
      if (r.length > kMaxPayload) return kEinval;
      break;
    case Cmd::kWrite:
      writes = true;
      if (r.length > kMaxPayload) return kEinval;
      break;
    case Cmd::kFlush:
      if (r.flags & ~allowed) return kEinval;
      return r.offset == 0 && r.length == 0 ? 0 : kEinval;
    case Cmd::kTrim:
      writes = true;
      break;
    case Cmd::kWriteZeroes:
      writes = true;
      allowed |= kCmdFlagNoHole;
      break;
    case Cmd::kBlockStatus:
      if (!meta_context) return kEinval;
      allowed |= kCmdFlagReqOne;
      break;
    default:
      return kEinval;
  }
  if (r.flags & ~allowed) return kEinval;
  if (writes && e.read_only) return kEperm;
  if (r.length == 0) return kEinval;
  if (!in_range) return (r.type == Cmd::kWrite || r.type == Cmd::kWriteZeroes) ? kEnospc : kEinval;
  return 0;
}

uint32_t status_to_nbd_error(const Status& st) {
  switch (st.code()) {
    case Code::kOk: return 0;
    case Code::kInvalidArgument: return kEinval;
    case Code::kNoSpace:
    case Code::kTooLarge: return kEnospc;
    case Code::kPermissionDenied:
    case Code::kConflict: return kEperm;
    case Code::kNotSupported: return kEnotsup;
    case Code::kShutdown: return kEshutdown;
    default: return kEio;
  }
}

namespace {
// u32 length + bytes, bounded by what is left.
bool take_string(std::string_view& p, uint32_t max, std::string* out) {
  if (p.size() < 4) return false;
  uint32_t n = get_be32(p.data());
  p.remove_prefix(4);
  if (n > p.size() || n > max) return false;
  *out = std::string(p.substr(0, n));
  p.remove_prefix(n);
  return true;
}
}  // namespace

Result<InfoRequest> parse_info_request(std::string_view p) {
  InfoRequest r;
  if (!take_string(p, 4096, &r.name)) return Status::InvalidArgument("bad export name length");
  if (p.size() < 2) return Status::InvalidArgument("missing information request count");
  uint16_t n = get_be16(p.data());
  p.remove_prefix(2);
  if (p.size() != size_t{n} * 2) return Status::InvalidArgument("bad information request list");
  for (uint16_t i = 0; i < n; ++i) r.infos.push_back(get_be16(p.data() + 2 * i));
  return r;
}

Result<MetaContextRequest> parse_meta_context_request(std::string_view p) {
  MetaContextRequest r;
  if (!take_string(p, 4096, &r.name)) return Status::InvalidArgument("bad export name length");
  if (p.size() < 4) return Status::InvalidArgument("missing query count");
  uint32_t n = get_be32(p.data());
  p.remove_prefix(4);
  if (n > p.size() / 4) return Status::InvalidArgument("bad query count");
  for (uint32_t i = 0; i < n; ++i) {
    std::string q;
    if (!take_string(p, 4096, &q)) return Status::InvalidArgument("bad query length");
    r.queries.push_back(std::move(q));
  }
  if (!p.empty()) return Status::InvalidArgument("trailing bytes after queries");
  return r;
}

std::string encode_option_reply(uint32_t option, uint32_t type, std::string_view data) {
  std::string s;
  put_be64(s, kRepMagic);
  put_be32(s, option);
  put_be32(s, type);
  put_be32(s, static_cast<uint32_t>(data.size()));
  s.append(data);
  return s;
}

std::string encode_info_export(const ExportInfo& e) {
  std::string s;
  put_be16(s, kInfoExport);
  put_be64(s, e.size);
  put_be16(s, transmission_flags(e));
  return s;
}

std::string encode_info_block_size(uint32_t min, uint32_t preferred, uint32_t max) {
  std::string s;
  put_be16(s, kInfoBlockSize);
  put_be32(s, min);
  put_be32(s, preferred);
  put_be32(s, max);
  return s;
}

std::string encode_info_name(std::string_view name) {
  std::string s;
  put_be16(s, kInfoName);
  s.append(name);
  return s;
}

std::string encode_rep_server(std::string_view name) {
  std::string s;
  put_be32(s, static_cast<uint32_t>(name.size()));
  s.append(name);
  return s;
}

std::string encode_rep_meta_context(uint32_t id, std::string_view name) {
  std::string s;
  put_be32(s, id);
  s.append(name);
  return s;
}

std::string encode_export_name_reply(const ExportInfo& e, bool no_zeroes) {
  std::string s;
  put_be64(s, e.size);
  put_be16(s, transmission_flags(e));
  if (!no_zeroes) s.append(124, '\0');
  return s;
}

std::string encode_simple_reply(uint64_t cookie, uint32_t error) {
  std::string s;
  put_be32(s, kSimpleReplyMagic);
  put_be32(s, error);
  put_be64(s, cookie);
  return s;
}

std::string encode_chunk_header(uint64_t cookie, uint16_t flags, uint16_t type, uint32_t length) {
  std::string s;
  put_be32(s, kStructuredReplyMagic);
  put_be16(s, flags);
  put_be16(s, type);
  put_be64(s, cookie);
  put_be32(s, length);
  return s;
}

std::string encode_data_chunk_header(uint64_t cookie, uint16_t flags, uint64_t offset,
                                     uint32_t data_len) {
  std::string s = encode_chunk_header(cookie, flags, kChunkOffsetData, 8 + data_len);
  put_be64(s, offset);
  return s;
}

std::string encode_hole_chunk(uint64_t cookie, uint16_t flags, uint64_t offset, uint32_t length) {
  std::string s = encode_chunk_header(cookie, flags, kChunkOffsetHole, 12);
  put_be64(s, offset);
  put_be32(s, length);
  return s;
}

std::string encode_error_chunk(uint64_t cookie, uint32_t error, std::string_view message) {
  if (message.size() > 1024) message = message.substr(0, 1024);
  std::string s = encode_chunk_header(cookie, kReplyFlagDone, kChunkError,
                                      static_cast<uint32_t>(6 + message.size()));
  put_be32(s, error);
  put_be16(s, static_cast<uint16_t>(message.size()));
  s.append(message);
  return s;
}

std::string encode_block_status_chunk(uint64_t cookie, uint16_t flags, uint32_t context_id,
                                      const std::vector<Extent>& extents) {
  std::string s = encode_chunk_header(cookie, flags, kChunkBlockStatus,
                                      static_cast<uint32_t>(4 + 8 * extents.size()));
  put_be32(s, context_id);
  for (const auto& x : extents) {
    put_be32(s, x.length);
    put_be32(s, x.flags);
  }
  return s;
}

}  // namespace cairn::nbd
