// What the gateway keeps in the object cluster, and how it is encoded
// (compact JSON, so `cairnctl obj omap-ls` stays readable). See docs/s3.md
// "Data layout" for the objects these live in.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::rgw {

// Objects are striped over RADOS objects of this size.
inline constexpr uint64_t kStripeSize = 4ull << 20;
// Objects up to this size keep their data in the bucket index entry: one
// replicated write per small PUT, one read per small GET.
inline constexpr uint64_t kInlineMax = 16 * 1024;

// One stretch of an object's data: stripes "<bucket_id>.<inst>.<n>".
struct Segment {
  std::string inst;
  uint64_t size = 0;
};

struct ObjectEntry {
  uint64_t size = 0;
  std::string etag;  // without quotes: hex md5, or hex-N for multipart
  int64_t mtime_ms = 0;
  std::string content_type;
  std::map<std::string, std::string> meta;     // x-amz-meta-NAME (lowercase) -> value
  std::map<std::string, std::string> headers;  // content-encoding, cache-control, ...
  std::vector<Segment> segments;               // empty when inline (or empty object)
  std::string inline_data;
  std::string owner;
  std::string acl = "private";  // canned ACL
  uint32_t parts = 0;           // multipart part count (0: simple PUT)
  // Versioned buckets: "null" or a version key (below); "" for an object
  // written while the bucket never had versioning.
  std::string version_id;
  bool delete_marker = false;
};

struct BucketInfo {
  std::string name;
  std::string id;  // unique per creation: data and index objects are named by it
  std::string owner;
  std::string region = "us-east-1";
  int64_t created_ms = 0;
  uint32_t shards = 8;
  std::string acl = "private";
  std::string versioning;  // "" (never enabled), "Enabled" or "Suspended"
  std::string policy;      // bucket policy JSON as the owner stored it; "" for none
};

struct AccessKey {
  std::string access_key;
  std::string secret_key;
};

struct UserInfo {
  std::string name;
  std::vector<AccessKey> keys;
  int64_t created_ms = 0;
};

struct UploadInfo {
  std::string key;
  std::string upload_id;
  int64_t initiated_ms = 0;
  ObjectEntry proto;  // content type, metadata, headers, owner, acl for the result
};

struct PartInfo {
  uint32_t number = 0;
  std::string inst;
  uint64_t size = 0;
  std::string etag;  // hex md5
  int64_t mtime_ms = 0;
};

std::string encode(const ObjectEntry& e);
std::string encode(const BucketInfo& b);
std::string encode(const UserInfo& u);
std::string encode(const UploadInfo& u);
std::string encode(const PartInfo& p);
// nullopt when the text does not decode (corrupt entry).
std::optional<ObjectEntry> decode_entry(std::string_view s);
std::optional<BucketInfo> decode_bucket(std::string_view s);
std::optional<UserInfo> decode_user(std::string_view s);
std::optional<UploadInfo> decode_upload(std::string_view s);
std::optional<PartInfo> decode_part(std::string_view s);

// ---- object names in the cluster ----
std::string data_object(std::string_view bucket_id, std::string_view inst, uint64_t stripe);
std::string index_object(std::string_view bucket_id, uint32_t shard);
std::string uploads_object(std::string_view bucket_id);
std::string parts_object(std::string_view bucket_id, std::string_view upload_id);
std::string bucket_lock_object(std::string_view bucket);  // exclusive-create marker
inline constexpr std::string_view kBucketsObject = "s3.buckets";  // omap: name -> BucketInfo
inline constexpr std::string_view kUsersObject = "s3.users";      // omap: see users.h

// Which index shard holds key (stable hash).
uint32_t index_shard(std::string_view key, uint32_t shards);
// omap key of an upload in uploads_object: key \x01 upload id (sorts by key).
std::string upload_omap_key(std::string_view key, std::string_view upload_id);
std::string part_omap_key(uint32_t number);  // zero-padded

// ---- versions ----
// Every version of a key in a versioned bucket is an index entry
// "v" KEY \x01 VKEY (its inline data under "w" KEY \x01 VKEY), in the key's
// index shard. VKEY is 16 hex digits of (2^64-1 - microseconds since the
// epoch) then 16 random hex digits: a key's versions sort newest first, and
// a listing of all versions is the same merge over shards as ListObjects
// with KEY \x01 VKEY as the sort key (keys may not contain 0x00/0x01, so this
// order is (key, newest first)). The current version, unless it is a delete
// marker, is also the plain entry "i" KEY, so GET and ListObjects read one
// entry as in unversioned buckets. "n" KEY names the VKEY of the null version.
// Non-null version ids are the VKEY itself.
inline constexpr char kVersionSep = '\x01';
std::string new_version_key(int64_t unix_us);
bool valid_version_key(std::string_view v);  // 32 lowercase hex digits
std::string version_omap_key(std::string_view key, std::string_view vkey);
std::string version_data_omap_key(std::string_view key, std::string_view vkey);
std::string null_version_omap_key(std::string_view key);
// KEY \x01 VKEY -> (KEY, VKEY); VKEY "" when there is no separator.
std::pair<std::string, std::string> split_version_sort_key(std::string_view s);

// S3's multipart ETag: hex(md5(concat(md5 of each part))) + "-N".
std::string multipart_etag(const std::vector<std::string>& part_md5_hex);

}  // namespace cairn::rgw

namespace cairn::rgw {

// One read the data path issues: bytes [offset, offset+length) of a stripe.
struct ReadPiece {
  std::string object;
  uint64_t offset = 0;
  uint64_t length = 0;
};
// The stripe reads that cover [first, first+length) of an object stored in
// segments. REQUIRES: first+length <= e.size and the entry is not inline.
std::vector<ReadPiece> plan_reads(std::string_view bucket_id, const ObjectEntry& e, uint64_t first,
                                  uint64_t length);

}  // namespace cairn::rgw
