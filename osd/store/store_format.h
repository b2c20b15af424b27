// Internal: the on-disk key and value layouts of ObjectStore
// (docs/on-disk-format.md). No RocksDB here, so it can be tested alone.
//
// Keys are big-endian so that RocksDB's bytewise order is collection order,
// then name order, then block order. Object names never contain NUL, so the
// NUL after the name keeps "a" before "a0" and makes every object's key range
// [name\0, name\1) disjoint from every other object's.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "osd/store/object_store.h"

namespace cairn::osd::format {

inline constexpr uint8_t kOnodeVersion = 1;
inline constexpr uint8_t kOnodeVersionExtents = 2;  // written only by onodes with extent refs
// 2: onodes may reference extent files. Format-1 stores are upgraded at open
// (nothing to convert); a binary that knows only format 1 refuses format 2.
inline constexpr uint64_t kStoreFormat = 2;
inline constexpr size_t kCollPrefixLen = 8;
inline constexpr size_t kBlockCrcLen = 4;
inline constexpr uint32_t kMinBlockSize = 4 * 1024;
inline constexpr uint32_t kMaxBlockSize = 4 * 1024 * 1024;

// Column family names.
inline constexpr const char* kOnodeCf = "onode";
inline constexpr const char* kDataCf = "data";
inline constexpr const char* kOmapCf = "omap";
inline constexpr const char* kMetaCf = "meta";

// Keys in the default column family.
inline constexpr std::string_view kFormatKey = "F";              // u64 LE kStoreFormat
inline constexpr std::string_view kObjectCountKey = "Cobjects";  // i64 LE, merge-added
inline constexpr char kSuperblockPrefix = 'S';                   // 'S' + key
// Extent files (see docs/on-disk-format.md "Extent files").
inline constexpr std::string_view kExtentBytesKey = "Cextent_bytes";  // i64 LE, merge-added
inline constexpr std::string_view kExtentNextKey = "Xnext";        // u64 LE: ids >= it never used
inline constexpr std::string_view kExtentSettledKey = "Xsettled";  // u64 LE: ids < it settled
inline constexpr char kExtentRefPrefix = 'E';      // 'E' + u64 BE id -> onode key of its object
inline constexpr char kExtentDeletePrefix = 'D';   // 'D' + u64 BE id -> "": unlink pending
inline constexpr const char* kExtentDir = "extents";
std::string extent_key(char prefix, uint64_t id);
bool decode_extent_key(std::string_view key, uint64_t* id);
// "<16 hex digits>": fixed width, so name order is id order.
std::string extent_file_name(uint64_t id);

// Collection prefix: u32 BE pool, u32 BE pg. REQUIRES: pool >= 0.
void append_coll(std::string* out, CollectionId c);
std::string coll_prefix(CollectionId c);
// Smallest key prefix after every key of c (never overflows because pool >= 0).
std::string coll_end(CollectionId c);
bool decode_coll(std::string_view key, CollectionId* c);

// onode key = coll + name + '\0'; also the prefix of the object's data and omap keys.
std::string object_key(CollectionId c, std::string_view name);
// Smallest key after every key that starts with object_key(c, name).
std::string object_end(CollectionId c, std::string_view name);
// Name of an onode key; REQUIRES: key is an onode key.
std::string_view object_name(std::string_view onode_key);

// data key = object_key + u32 BE block number.
std::string data_key(std::string_view object_key, uint32_t block);
void set_data_key_block(std::string* data_key, uint32_t block);
bool data_key_block(std::string_view data_key, uint32_t* block);

std::string omap_key(std::string_view object_key, std::string_view key);
std::string meta_key(CollectionId c, std::string_view key);

// One object block whose bytes live in an extent file, not in the data CF.
struct ExtentRef {
  uint64_t file = 0;        // extent file id
  uint32_t file_block = 0;  // at byte file_block * block_size of the file
  uint32_t len = 0;         // stored bytes, 1..block_size; the rest reads as zeros
  uint32_t crc = 0;         // crc32c of those bytes
  bool operator==(const ExtentRef&) const = default;
};

// Onode value (LE via Encoder): u8 version, u8 flags, u32 block_size,
// u64 size, u64 version, u64 mtime_ns, u32 n, n * (bytes key, bytes value);
// version 2 adds u32 runs, runs * (u64 file, u32 first_block, u32 file_block,
// u32 n, u32 last_len, n * u32 crc): the extent refs, consecutive blocks of one
// file per run, every block full but a run's last.
struct Onode {
  static constexpr uint8_t kFlagOmap = 1;  // may have omap keys
  uint8_t flags = 0;
  uint32_t block_size = 0;
  uint64_t size = 0;
  uint64_t version = 0;
  uint64_t mtime_ns = 0;
  std::map<std::string, std::string> xattrs;
  // By object block. Invariant: such a block has no data CF record, and no
  // stored byte lies at or past size.
  std::map<uint32_t, ExtentRef> extents;

  std::string encode() const;
  static Status decode(std::string_view v, Onode* out);
  uint32_t num_blocks() const {
    return static_cast<uint32_t>((size + block_size - 1) / block_size);
  }
};

// Data block value: u32 LE crc32c(payload) + payload. The payload may be
// shorter than the block (up to block_size): the missing tail reads as zeros.
// Invariant: a stored block never reaches past the object size.
// Verifies the crc and returns the payload view; Corruption otherwise.
Status decode_block(std::string_view value, uint32_t block_size, std::string_view* payload);
// Fills the crc of a value whose payload is already at [kBlockCrcLen, end).
void seal_block(std::string* value);

// Name validation shared by submit and the read paths.
Status validate_coll(CollectionId c);
Status validate_name(std::string_view name);

}  // namespace cairn::osd::format
