// The NBD wire protocol (newstyle fixed handshake, structured replies) as
// pure codecs and request validation; rbd/nbd/server.cc does the I/O.
// Reference: https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md
// Every integer on the wire is big-endian.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cairn::nbd {

inline constexpr uint64_t kNbdMagic = 0x4e42444d41474943ull;   // "NBDMAGIC"
inline constexpr uint64_t kOptMagic = 0x49484156454f5054ull;   // "IHAVEOPT"
inline constexpr uint64_t kRepMagic = 0x3e889045565a9ull;
inline constexpr uint32_t kRequestMagic = 0x25609513;
inline constexpr uint32_t kSimpleReplyMagic = 0x67446698;
inline constexpr uint32_t kStructuredReplyMagic = 0x668e33ef;

// Handshake flags (server) and client flags.
inline constexpr uint16_t kFlagFixedNewstyle = 1 << 0;
inline constexpr uint16_t kFlagNoZeroes = 1 << 1;
inline constexpr uint32_t kClientFixedNewstyle = 1 << 0;
inline constexpr uint32_t kClientNoZeroes = 1 << 1;

// Options.
inline constexpr uint32_t kOptExportName = 1;
inline constexpr uint32_t kOptAbort = 2;
inline constexpr uint32_t kOptList = 3;
inline constexpr uint32_t kOptStartTls = 5;
inline constexpr uint32_t kOptInfo = 6;
inline constexpr uint32_t kOptGo = 7;
inline constexpr uint32_t kOptStructuredReply = 8;
inline constexpr uint32_t kOptListMetaContext = 9;
inline constexpr uint32_t kOptSetMetaContext = 10;

// Option replies.
inline constexpr uint32_t kRepAck = 1;
inline constexpr uint32_t kRepServer = 2;
inline constexpr uint32_t kRepInfo = 3;
inline constexpr uint32_t kRepMetaContext = 4;
inline constexpr uint32_t kRepErrUnsup = (1u << 31) + 1;
inline constexpr uint32_t kRepErrPolicy = (1u << 31) + 2;
inline constexpr uint32_t kRepErrInvalid = (1u << 31) + 3;
inline constexpr uint32_t kRepErrPlatform = (1u << 31) + 4;
inline constexpr uint32_t kRepErrTlsReqd = (1u << 31) + 5;
inline constexpr uint32_t kRepErrUnknown = (1u << 31) + 6;
inline constexpr uint32_t kRepErrShutdown = (1u << 31) + 7;
inline constexpr uint32_t kRepErrTooBig = (1u << 31) + 9;

// NBD_INFO_* in NBD_REP_INFO.
inline constexpr uint16_t kInfoExport = 0;
inline constexpr uint16_t kInfoName = 1;
inline constexpr uint16_t kInfoDescription = 2;
inline constexpr uint16_t kInfoBlockSize = 3;

// Transmission flags.
inline constexpr uint16_t kTxHasFlags = 1 << 0;
inline constexpr uint16_t kTxReadOnly = 1 << 1;
inline constexpr uint16_t kTxSendFlush = 1 << 2;
inline constexpr uint16_t kTxSendFua = 1 << 3;
inline constexpr uint16_t kTxSendTrim = 1 << 5;
inline constexpr uint16_t kTxSendWriteZeroes = 1 << 6;
inline constexpr uint16_t kTxSendDf = 1 << 7;
inline constexpr uint16_t kTxCanMultiConn = 1 << 8;
inline constexpr uint16_t kTxSendFastZero = 1 << 11;

// Commands and command flags.
enum class Cmd : uint16_t {
  kRead = 0,
  kWrite = 1,
  kDisc = 2,
  kFlush = 3,
  kTrim = 4,
  kCache = 5,
  kWriteZeroes = 6,
  kBlockStatus = 7,
};
inline constexpr uint16_t kCmdFlagFua = 1 << 0;
inline constexpr uint16_t kCmdFlagNoHole = 1 << 1;
inline constexpr uint16_t kCmdFlagDf = 1 << 2;
inline constexpr uint16_t kCmdFlagReqOne = 1 << 3;
inline constexpr uint16_t kCmdFlagFastZero = 1 << 4;

// Structured reply chunk types and flags.
inline constexpr uint16_t kReplyFlagDone = 1 << 0;
inline constexpr uint16_t kChunkNone = 0;
inline constexpr uint16_t kChunkOffsetData = 1;
inline constexpr uint16_t kChunkOffsetHole = 2;
inline constexpr uint16_t kChunkBlockStatus = 5;
inline constexpr uint16_t kChunkError = (1 << 15) + 1;

// base:allocation flags.
inline constexpr uint32_t kStateHole = 1 << 0;
inline constexpr uint32_t kStateZero = 1 << 1;
inline constexpr uint32_t kBaseAllocationId = 1;  // the one meta context we offer
inline constexpr std::string_view kBaseAllocation = "base:allocation";

// NBD errors (errno values the protocol fixes).
inline constexpr uint32_t kEperm = 1;
inline constexpr uint32_t kEio = 5;
inline constexpr uint32_t kEnomem = 12;
inline constexpr uint32_t kEinval = 22;
inline constexpr uint32_t kEnospc = 28;
inline constexpr uint32_t kEoverflow = 75;
inline constexpr uint32_t kEnotsup = 95;
inline constexpr uint32_t kEshutdown = 108;

// Block size constraints we advertise: any alignment works (the object layer
// writes at byte offsets), 4 KiB is efficient, 32 MiB is the largest payload.
inline constexpr uint32_t kMinBlock = 1;
inline constexpr uint32_t kPreferredBlock = 4096;
inline constexpr uint32_t kMaxPayload = 32u << 20;
// Option payloads are small; anything larger is garbage.
inline constexpr uint32_t kMaxOptionLength = 64 * 1024;

inline constexpr size_t kRequestSize = 28;

struct Request {
  uint16_t flags = 0;
  Cmd type = Cmd::kRead;
  uint64_t cookie = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
};

// Parses a 28-byte request header. InvalidArgument on bad magic.
Result<Request> parse_request(std::string_view bytes);
std::string encode_request(const Request& r);  // for tests

struct ExportInfo {
  uint64_t size = 0;
  bool read_only = false;
};
uint16_t transmission_flags(const ExportInfo& e);

// 0 if the server should perform r, else the NBD error to answer with.
// structured: structured replies were negotiated; meta_context: the client
// selected base:allocation (BLOCK_STATUS is invalid otherwise).
uint32_t validate_request(const Request& r, const ExportInfo& e, bool structured,
                          bool meta_context);

// Maps a library Status to the NBD error a client sees.
uint32_t status_to_nbd_error(const Status& st);

// ---- handshake payloads ----
struct InfoRequest {  // NBD_OPT_INFO / NBD_OPT_GO
  std::string name;
  std::vector<uint16_t> infos;
};
Result<InfoRequest> parse_info_request(std::string_view payload);

struct MetaContextRequest {  // NBD_OPT_LIST/SET_META_CONTEXT
  std::string name;
  std::vector<std::string> queries;
};
Result<MetaContextRequest> parse_meta_context_request(std::string_view payload);

std::string encode_option_reply(uint32_t option, uint32_t type, std::string_view data = {});
std::string encode_info_export(const ExportInfo& e);
std::string encode_info_block_size(uint32_t min, uint32_t preferred, uint32_t max);
std::string encode_info_name(std::string_view name);
std::string encode_rep_server(std::string_view name);
std::string encode_rep_meta_context(uint32_t id, std::string_view name);
// The reply to NBD_OPT_EXPORT_NAME: size, flags and (unless no_zeroes) 124 zero bytes.
std::string encode_export_name_reply(const ExportInfo& e, bool no_zeroes);

// ---- transmission replies ----
std::string encode_simple_reply(uint64_t cookie, uint32_t error);
// A structured chunk header for a payload of length bytes.
std::string encode_chunk_header(uint64_t cookie, uint16_t flags, uint16_t type, uint32_t length);
// Header + offset for an OFFSET_DATA chunk carrying data_len bytes after it.
std::string encode_data_chunk_header(uint64_t cookie, uint16_t flags, uint64_t offset,
                                     uint32_t data_len);
std::string encode_hole_chunk(uint64_t cookie, uint16_t flags, uint64_t offset, uint32_t length);
std::string encode_error_chunk(uint64_t cookie, uint32_t error, std::string_view message);
struct Extent {
  uint32_t length = 0;
  uint32_t flags = 0;
};
std::string encode_block_status_chunk(uint64_t cookie, uint16_t flags, uint32_t context_id,
                                      const std::vector<Extent>& extents);

// Big-endian helpers.
void put_be16(std::string& s, uint16_t v);
void put_be32(std::string& s, uint32_t v);
void put_be64(std::string& s, uint64_t v);
uint16_t get_be16(const char* p);
uint32_t get_be32(const char* p);
uint64_t get_be64(const char* p);

}  // namespace cairn::nbd
