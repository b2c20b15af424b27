// Gateway: S3 semantics over Store. Gateway::handle takes one HTTP exchange
// through routing (core/op.h), authentication (core/sigv4.h), access checks
// and the operation's handler, and answers errors in S3's XML form (the one
// place S3 error responses are rendered). Split by concern:
//   gateway.cc            handle(), auth, errors, request bodies, metrics
//   gateway_bucket.cc     bucket operations and listings
//   gateway_object.cc     PUT/GET/HEAD/DELETE/COPY of objects, DeleteObjects
//   gateway_multipart.cc  multipart uploads
#pragma once

#include <boost/asio/awaitable.hpp>
#include <map>
#include <optional>
#include <string>

#include "common/metrics.h"
#include "rgw/core/errors.h"
#include "rgw/core/op.h"
#include "rgw/core/sigv4.h"
#include "rgw/service/exchange.h"
#include "rgw/store/store.h"

namespace cairn::rgw {

struct GatewayOptions {
  std::string region = "us-east-1";
  std::string domain;  // virtual-hosted-style base domain; "" = path style only
  uint64_t max_object_size = 5ull << 30;  // single PUT / part: 5 GiB, as S3
  uint64_t min_part_size = 5ull << 20;    // every part but the last: 5 MiB, as S3
  uint32_t index_shards = 8;              // for new buckets
};

// Per-request state the handlers share.
struct ReqCtx {
  Exchange& ex;
  const HttpRequest& req;
  S3Route route;
  std::string request_id;
  std::string user;  // authenticated user; "" for anonymous
  SigV4Credentials creds;
  std::string signing_key;  // for aws-chunked chunk signatures
  std::optional<BucketInfo> bucket;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  // A bucket policy lets this (non-owner) requester read objects / list.
  bool policy_read = false;
  bool policy_list = false;
  // Headers an error response carries too (x-amz-delete-marker, ...).
  std::vector<std::pair<std::string, std::string>> error_headers;
  std::string copy_source_version;  // versionId of x-amz-copy-source
  const std::string* header(std::string_view n) const { return req.header(n); }
  const std::string* param(std::string_view n) const { return find_param(req.query, n); }
};

using MaybeError = std::optional<S3Error>;

// Reads a request body the way the request says it is encoded (plain,
// HTTP-chunked, aws-chunked signed or unsigned) and checks it at the end
// (x-amz-content-sha256, Content-MD5, x-amz-decoded-content-length).
class BodyReader {
 public:
  explicit BodyReader(ReqCtx& ctx);
  // Validates the framing headers; call once before read().
  MaybeError init();
  // Appends up to max decoded bytes to *out; *eof when the body ended (then
  // the checks ran and any mismatch is the returned error).
  boost::asio::awaitable<MaybeError> read(size_t max, std::string* out, bool* eof);
  std::string md5_hex() const { return md5_hex_; }
  uint64_t size() const { return total_; }
  // The declared payload size if known up front.
  std::optional<uint64_t> expected_size() const { return expected_; }

 private:
  MaybeError finish();
  ReqCtx& ctx_;
  bool chunked_ = false;
  AwsChunkedDecoder decoder_;
  std::optional<Hasher> sha_;
  Hasher md5_{Hasher::Algo::kMd5};
  std::string want_sha_;
  std::string want_md5_b64_;
  std::optional<uint64_t> expected_;
  uint64_t total_ = 0;
  std::string md5_hex_;
  bool eof_ = false;
};

class Gateway {
 public:
  Gateway(Store* store, GatewayOptions opts, Metrics* metrics);
  // Serves one exchange; never throws; on return the response was sent (or
  // the connection is marked for closing).
  boost::asio::awaitable<void> handle(Exchange& ex);

 private:
  using Task = boost::asio::awaitable<MaybeError>;
  Task dispatch(ReqCtx& c);
  void count_error(S3Err e);
  Task authenticate(ReqCtx& c);
  // Loads c.bucket and checks access for the route's op.
  Task load_bucket_checked(ReqCtx& c);
  boost::asio::awaitable<void> send_error(ReqCtx& c, const S3Error& e);
  boost::asio::awaitable<MaybeError> send_xml(ReqCtx& c, int status, std::string body);
  boost::asio::awaitable<MaybeError> send_xml_with(
      ReqCtx& c, int status, std::string body,
      std::vector<std::pair<std::string, std::string>> extra_headers);
  boost::asio::awaitable<MaybeError> read_small_body(ReqCtx& c, size_t max, std::string* out);

  // buckets (gateway_bucket.cc)
  Task list_buckets(ReqCtx& c);
  Task create_bucket(ReqCtx& c);
  Task delete_bucket(ReqCtx& c);
  Task head_bucket(ReqCtx& c);
  Task get_bucket_location(ReqCtx& c);
  Task get_bucket_versioning(ReqCtx& c);
  Task put_bucket_versioning(ReqCtx& c);
  Task get_bucket_policy(ReqCtx& c);
  Task put_bucket_policy(ReqCtx& c);
  Task delete_bucket_policy(ReqCtx& c);
  Task list_object_versions(ReqCtx& c);
  Task get_acl(ReqCtx& c);
  Task put_acl(ReqCtx& c);
  Task list_objects(ReqCtx& c, bool v2);
  // objects (gateway_object.cc)
  Task put_object(ReqCtx& c);
  Task get_object(ReqCtx& c, bool head);
  Task delete_object(ReqCtx& c);
  Task delete_objects(ReqCtx& c);
  // DeleteObject of one key: a version (version non-empty), the object of an
  // unversioned bucket, or a new delete marker in a versioned one.
  struct DeleteOutcome {
    std::string version_id;
    bool delete_marker = false;
  };
  boost::asio::awaitable<MaybeError> delete_one(const BucketInfo& b, const std::string& key,
                                                const std::string& version, const std::string& user,
                                                DeleteOutcome* out);
  Task copy_object(ReqCtx& c);
  // multipart (gateway_multipart.cc)
  Task create_multipart(ReqCtx& c);
  Task upload_part(ReqCtx& c, bool copy);
  Task complete_multipart(ReqCtx& c);
  Task abort_multipart(ReqCtx& c);
  Task list_parts(ReqCtx& c);
  Task list_uploads(ReqCtx& c);

  // Streams a request body into stripes of inst; fills size and md5.
  // On error the stripes already written are removed.
  boost::asio::awaitable<MaybeError> store_body(ReqCtx& c, const std::string& inst,
                                                bool allow_inline, ObjectEntry* e);
  // Copies [first, first+len) of src (in src_bucket) into stripes of inst.
  boost::asio::awaitable<MaybeError> copy_data(const BucketInfo& src_bucket, const ObjectEntry& src,
                                               uint64_t first, uint64_t len,
                                               const std::string& dst_bucket_id,
                                               const std::string& inst, std::string* md5_hex);
  // Resolves x-amz-copy-source into a readable source object.
  boost::asio::awaitable<MaybeError> load_copy_source(ReqCtx& c, BucketInfo* b, std::string* key,
                                                      ObjectEntry* e);

  Store* store_;
  GatewayOptions opts_;
  Metrics* metrics_;
  struct OpMetrics {
    Counter* requests;
    Counter* bytes_in;
    Counter* bytes_out;
    Histogram* latency;
  };
  std::map<S3Op, OpMetrics> op_metrics_;
  Metrics* errors_registry_;
};

// Helpers shared by the handler files.
std::string quote_etag(const std::string& etag);   // abc -> "abc"
std::string unquote_etag(std::string_view etag);   // "abc" -> abc
int64_t wall_ms();
// nf for NotFound, else the generic mapping (from_status).
S3Error not_found(const Status& st, S3Err nf);
std::string new_instance_id();                     // random 16 hex chars
// Applies the metadata headers of a request (Content-Type, x-amz-meta-*,
// Content-Encoding, ...) to e. MetadataTooLarge past 8 KiB of user metadata.
MaybeError entry_from_headers(const HttpRequest& req, ObjectEntry* e);
// The versionId query parameter: *out stays empty when absent;
// InvalidArgument when it is neither "null" nor a version id.
MaybeError version_param(const ReqCtx& c, std::string* out);
// Canned ACL from x-amz-acl: private | public-read | public-read-write |
// authenticated-read (the latter two are stored but grant nothing extra).
MaybeError canned_acl(const HttpRequest& req, std::string* acl);

}  // namespace cairn::rgw
