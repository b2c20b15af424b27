// Store: the S3 data model on the object cluster (see docs/s3.md "Data
// layout"). Every method is an awaitable that can be awaited from any
// executor: cluster operations hop to the client's executor and the result
// comes back to the caller's. Stateless apart from a short-lived access-key
// cache, so several gateways can serve one cluster.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "rgw/core/listing.h"
#include "rgw/core/model.h"
#include "rgw/store/users.h"

namespace cairn::rgw {

template <typename T>
using Task = boost::asio::awaitable<T>;

struct Upload {
  UploadInfo info;
  std::vector<PartInfo> parts;  // by part number
};

class Store {
 public:
  Store(client::Client* c, PoolNames pools);

  // Creates pools if missing and resolves their ids. Synchronous.
  Status init();

  // (user, secret) of an access key; NotFound if unknown. Cached for
  // key_cache_ttl.
  Task<Result<std::pair<std::string, std::string>>> lookup_key(std::string access_key);

  // ---- buckets ----
  Task<Result<std::vector<BucketInfo>>> list_buckets();
  Task<Result<BucketInfo>> get_bucket(std::string name);  // NotFound
  // AlreadyExists (message = existing owner) if the name is taken.
  Task<Result<BucketInfo>> create_bucket(BucketInfo b);
  // Conflict if the bucket holds objects or uploads.
  Task<Status> delete_bucket(BucketInfo b);
  // Rewrites the bucket record (ACL, versioning, policy).
  Task<Status> update_bucket(BucketInfo b);

  // ---- objects ----
  // The entry of key; NotFound if absent. With data: inline data too.
  Task<Result<ObjectEntry>> get_entry(BucketInfo b, std::string key, bool with_data);
  // Publishes e as key (inline data goes with it in the same write). In an
  // unversioned bucket it then removes the stripes of the entry it replaced;
  // in a versioned one e becomes the newest version (delete markers too:
  // e.delete_marker) and only a replaced null version loses its data.
  // Returns the version id ("" when the bucket never had versioning).
  Task<Result<std::string>> put_entry(BucketInfo b, std::string key, ObjectEntry e);
  // Sets the canned ACL of key's current entry in place: no new version.
  // NotFound if key has no current entry.
  Task<Status> set_object_acl(BucketInfo b, std::string key, std::string acl);
  // Removes key and its data. NotFound if absent. Unversioned buckets only
  // (versioned ones go through put_entry with a delete marker).
  Task<Status> delete_entry(BucketInfo b, std::string key);
  // One version ("null" or a version key), with inline data if with_data.
  // NotFound if there is no such version.
  Task<Result<ObjectEntry>> get_version(BucketInfo b, std::string key, std::string version_id,
                                        bool with_data);
  // The version key of key's null version: "null" for an object from
  // before versioning (no version entry); NotFound if there is none.
  Task<Result<std::string>> null_version_key(BucketInfo b, std::string key);
  // The newest version of key (possibly a delete marker); NotFound if none.
  Task<Result<ObjectEntry>> newest_version(BucketInfo b, std::string key);
  // Deletes one version and its data; when it was the newest, the next one
  // becomes current. Returns the deleted entry. NotFound if absent.
  Task<Result<ObjectEntry>> delete_version(BucketInfo b, std::string key, std::string version_id);
  // ListObjectVersions: p.versions must be set and p.marker be a sort key
  // (KEY \x01 VKEY) or a skip cursor. Contents are (KEY \x01 VKEY, entry).
  Task<Result<ListState>> list_versions(BucketInfo b, ListParams p);
  Task<Status> write_stripe(std::string bucket_id, std::string inst, uint64_t stripe,
                            std::string data);
  Task<Result<std::string>> read_piece(ReadPiece p);
  // Best effort: deletes the stripes of these segments.
  Task<void> remove_segments(std::string bucket_id, std::vector<Segment> segs);
  Task<Result<ListState>> list(BucketInfo b, ListParams p);

  // ---- multipart ----
  Task<Status> create_upload(BucketInfo b, UploadInfo u);
  Task<Result<UploadInfo>> get_upload(BucketInfo b, std::string key, std::string upload_id);
  // Records a part; the part it replaces (same number) loses its data.
  Task<Status> put_part(BucketInfo b, std::string upload_id, PartInfo p);
  Task<Result<std::vector<PartInfo>>> list_parts(BucketInfo b, std::string upload_id);
  // Drops the upload record and its part list; data_keep: instances whose
  // stripes stay (they now belong to an object), the rest are deleted.
  Task<Status> finish_upload(BucketInfo b, std::string key, std::string upload_id,
                             std::vector<std::string> data_keep);
  Task<Result<std::vector<UploadInfo>>> list_uploads(BucketInfo b, std::string prefix,
                                                     std::string key_marker, uint32_t max,
                                                     bool* truncated);

  client::Client* client() { return client_; }
  std::chrono::seconds key_cache_ttl{5};

 private:
  Task<Result<OsdOpReply>> exec(PoolId pool, std::string name, std::vector<ObjectOp> ops);
  // omap_list of one object; NotFound (absent object) is an empty page.
  Task<Result<ShardPage>> omap_page(PoolId pool, std::string name, std::string after,
                                    std::string prefix, uint32_t max);
  Task<Result<std::map<std::string, std::string>>> omap_get(PoolId pool, std::string name,
                                                            std::vector<std::string> keys);
  struct PageRequest {
    std::string name, after, prefix;
    uint32_t max = 1000;
  };
  // omap_page of several meta-pool objects, concurrently; pages in order.
  Task<Result<std::vector<ShardPage>>> omap_pages(std::vector<PageRequest> reqs);
  // gen: when set, the write applies only if the shard's version generation
  // is still *gen (else Conflict), and bumps it.
  Task<Status> omap_write(std::string name, std::map<std::string, std::string> set,
                          std::vector<std::string> rm, const std::string* gen = nullptr);
  // omap values of keys and the shard's version generation, in one read.
  Task<Result<std::map<std::string, std::string>>> shard_get(std::string shard,
                                                             std::vector<std::string> keys,
                                                             std::string* gen);
  // One optimistic attempt each; put_entry / delete_version retry on Conflict.
  Task<Result<std::string>> put_entry_versioned(BucketInfo b, std::string key, ObjectEntry e);
  Task<Result<std::string>> put_version(BucketInfo b, std::string key, ObjectEntry e);
  Task<Result<ObjectEntry>> delete_version_once(BucketInfo b, std::string key, std::string vid);

  client::Client* client_;
  PoolNames pools_;
  PoolId meta_ = -1;
  PoolId data_ = -1;
  std::mutex mu_;
  struct CachedKey {
    std::string user, secret;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, CachedKey> key_cache_;
};

// A one-element segment list (built outside coroutines: see store.cc).
std::vector<Segment> one_segment(std::string inst, uint64_t size);

// Index omap keys: "i" + key holds the entry, "d" + key the inline data.
std::string entry_omap_key(std::string_view key);
std::string inline_omap_key(std::string_view key);

}  // namespace cairn::rgw
