#include "rgw/service/gateway.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <random>

#include "common/local_cluster.h"
#include "rgw/core/policy.h"
#include "rgw/core/xml.h"

namespace cairn::rgw {

namespace asio = boost::asio;
using asio::awaitable;

// ---- helpers ----

namespace {
bool xml_printable(std::string_view s) {
  for (char ch : s) {
    if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') return false;
  }
  return true;
}
}  // namespace

std::string quote_etag(const std::string& etag) { return "\"" + etag + "\""; }

std::string unquote_etag(std::string_view e) {
  while (!e.empty() && e.front() == ' ') e.remove_prefix(1);
  while (!e.empty() && e.back() == ' ') e.remove_suffix(1);
  if (e.starts_with("W/")) e.remove_prefix(2);
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
  return std::string(e);
}

S3Error not_found(const Status& st, S3Err nf) {
  if (st.is(Code::kNotFound)) return S3Error{nf, ""};
  return from_status(st);
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string new_instance_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) s += kHex[(i < 8 ? a >> (i * 4) : b >> ((i - 8) * 4)) & 15];
  return s;
}

MaybeError entry_from_headers(const HttpRequest& req, ObjectEntry* e) {
  size_t meta_bytes = 0;
  for (const auto& [k, v] : req.headers) {
    if (k.starts_with("x-amz-meta-")) {
      e->meta[k.substr(11)] = v;
      meta_bytes += k.size() - 11 + v.size();
    } else if (k == "content-type") {
      e->content_type = v;
    } else if (k == "content-encoding") {
      // aws-chunked is transport framing, not a property of the object.
      std::string enc;
      for (std::string_view part : {std::string_view(v)}) {
        size_t start = 0;
        while (start <= part.size()) {
          size_t comma = part.find(',', start);
          std::string item = trim_collapse(part.substr(start, comma - start));
          if (!item.empty() && lower(item) != "aws-chunked") enc += (enc.empty() ? "" : ",") + item;
          if (comma == std::string_view::npos) break;
          start = comma + 1;
        }
      }
      if (!enc.empty()) e->headers["content-encoding"] = enc;
    } else if (k == "content-disposition" || k == "content-language" || k == "cache-control" ||
               k == "expires" || k == "x-amz-website-redirect-location") {
      e->headers[k] = v;
    }
  }
  if (meta_bytes > 8192) return S3Error{S3Err::kMetadataTooLarge, ""};
  return std::nullopt;
}

MaybeError version_param(const ReqCtx& c, std::string* out) {
  out->clear();
  const std::string* v = c.param("versionId");
  if (!v) return std::nullopt;
  if (*v != "null" && !valid_version_key(*v)) {
    return S3Error{S3Err::kInvalidArgument, "Invalid version id specified"};
  }
  *out = *v;
  return std::nullopt;
}

MaybeError canned_acl(const HttpRequest& req, std::string* acl) {
  const std::string* a = req.header("x-amz-acl");
  if (!a) return std::nullopt;
  if (*a == "private" || *a == "public-read" || *a == "public-read-write" ||
      *a == "authenticated-read" || *a == "bucket-owner-read" || *a == "bucket-owner-full-control") {
    *acl = *a;
    return std::nullopt;
  }
  return S3Error{S3Err::kInvalidArgument, "unknown canned ACL " + *a};
}

// ---- BodyReader ----

BodyReader::BodyReader(ReqCtx& ctx) : ctx_(ctx) {}

MaybeError BodyReader::init() {
  const HttpRequest& r = ctx_.req;
  std::string payload = ctx_.creds.payload_hash;
  if (payload.empty()) {
    if (const std::string* h = r.header("x-amz-content-sha256")) payload = *h;
  }
  if (payload.starts_with("STREAMING-")) {
    chunked_ = true;
    const std::string* dl = r.header("x-amz-decoded-content-length");
    if (!dl) return S3Error{S3Err::kMissingContentLength, "x-amz-decoded-content-length is required"};
    try {
      expected_ = std::stoull(*dl);
    } catch (...) {
      return S3Error{S3Err::kInvalidArgument, "bad x-amz-decoded-content-length"};
    }
    bool is_signed = payload == kStreamingSigned || payload == kStreamingSignedTrailer;
    if (is_signed && ctx_.signing_key.empty()) {
      return S3Error{S3Err::kAccessDenied, "signed streaming payload on an unsigned request"};
    }
    decoder_ = is_signed ? AwsChunkedDecoder(ctx_.signing_key, ctx_.creds) : AwsChunkedDecoder();
  } else {
    if (payload.size() == 64) {
      want_sha_ = payload;
      sha_.emplace(Hasher::Algo::kSha256);
    }
    expected_ = r.content_length;
    if (!r.content_length && !r.chunked) {
      return S3Error{S3Err::kMissingContentLength, ""};
    }
  }
  if (const std::string* m = r.header("content-md5")) {
    std::string raw;
    if (!base64_decode(*m, &raw) || raw.size() != 16) return S3Error{S3Err::kInvalidDigest, ""};
    want_md5_b64_ = *m;
  }
  return std::nullopt;
}

awaitable<MaybeError> BodyReader::read(size_t max, std::string* out, bool* eof) {
  *eof = false;
  if (eof_) {
    *eof = true;
    co_return std::nullopt;
  }
  auto raw = co_await ctx_.ex.read_body(max);
  if (!raw.ok()) {
    if (raw.status().is(Code::kTimedOut)) co_return S3Error{S3Err::kRequestTimeout, ""};
    co_return S3Error{S3Err::kIncompleteBody, raw.status().message()};
  }
  ctx_.bytes_in += raw->size();
  size_t before = out->size();
  if (chunked_) {
    if (auto e = decoder_.feed(*raw, out)) co_return e;
  } else {
    out->append(*raw);
  }
  std::string_view fresh(out->data() + before, out->size() - before);
  md5_.update(fresh);
  if (sha_) sha_->update(fresh);
  total_ += fresh.size();
  if (expected_ && total_ > *expected_) co_return S3Error{S3Err::kIncompleteBody, "body longer than declared"};
  if (raw->empty()) {
    eof_ = true;
    *eof = true;
    co_return finish();
  }
  co_return std::nullopt;
}

MaybeError BodyReader::finish() {
  if (chunked_ && !decoder_.done()) return S3Error{S3Err::kIncompleteBody, "aws-chunked body ended early"};
  if (expected_ && total_ != *expected_) return S3Error{S3Err::kIncompleteBody, ""};
  std::string md5raw = md5_.finish();
  md5_hex_ = to_hex(md5raw);
  if (sha_ && to_hex(sha_->finish()) != want_sha_) {
    return S3Error{S3Err::kXAmzContentSHA256Mismatch, ""};
  }
  if (!want_md5_b64_.empty() && base64_encode(md5raw) != want_md5_b64_) {
    return S3Error{S3Err::kBadDigest, ""};
  }
  return std::nullopt;
}

// ---- Gateway ----

Gateway::Gateway(Store* store, GatewayOptions opts, Metrics* metrics)
    : store_(store), opts_(std::move(opts)), metrics_(metrics), errors_registry_(metrics) {
  for (int i = 0; i <= static_cast<int>(S3Op::kLast); ++i) {
    S3Op op = static_cast<S3Op>(i);
    Labels l = {{"op", std::string(op_name(op))}};
    op_metrics_[op] = OpMetrics{
        &metrics_->counter("cairn_s3_requests_total", "S3 requests served, by operation.", l),
        &metrics_->counter("cairn_s3_bytes_received_total", "Request body bytes, by operation.", l),
        &metrics_->counter("cairn_s3_bytes_sent_total", "Response body bytes, by operation.", l),
        &metrics_->histogram("cairn_s3_request_seconds", "S3 request latency, by operation.",
                             kLatencyBoundsSeconds, l)};
  }
}

awaitable<void> Gateway::handle(Exchange& ex) {
  const auto start = std::chrono::steady_clock::now();
  ReqCtx c{.ex = ex, .req = ex.request()};
  c.request_id = new_instance_id();
  for (char& ch : c.request_id) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  MaybeError err;
  bool routed = false;
  try {
    const std::string* host = c.req.header("host");
    std::string host_name;
    if (host) host_name = *host;
    err = route_request(c.req.method, c.req.path, c.req.query, host_name, opts_.domain,
                        c.req.header("x-amz-copy-source") != nullptr, &c.route);
    if (!err) {
      routed = true;
      err = co_await authenticate(c);
    }
    if (!err) err = co_await dispatch(c);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: {}", c.req.method, c.req.target, e.what());
    err = S3Error{S3Err::kInternalError, ""};
  }
  if (err) {
    if (ex.response_started()) {
      ex.close_after();
    } else {
      co_await send_error(c, *err);
    }
  }
  if (routed) {
    OpMetrics& m = op_metrics_[c.route.op];
    m.requests->inc();
    m.bytes_in->inc(c.bytes_in);
    m.bytes_out->inc(c.bytes_out);
    m.latency->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  if (err) count_error(err->err);
  if (!ex.body_done()) ex.close_after();
}

void Gateway::count_error(S3Err e) {
  Labels l = {{"code", std::string(s3_err_info(e).code)}};
  metrics_->counter("cairn_s3_errors_total", "S3 error responses, by code.", l).inc();
}

awaitable<MaybeError> Gateway::authenticate(ReqCtx& c) {
  SigV4Request sr{c.req.method, c.req.path, c.req.query, c.req.headers};
  switch (auth_kind(sr)) {
    case AuthKind::kAnonymous:
      co_return std::nullopt;
    case AuthKind::kOther:
      co_return S3Error{S3Err::kInvalidRequest,
                        "only AWS Signature Version 4 (AWS4-HMAC-SHA256) is supported"};
    default:
      break;
  }
  if (auto e = parse_credentials(sr, &c.creds)) co_return e;
  auto key = co_await store_->lookup_key(c.creds.access_key);
  if (!key.ok()) {
    if (key.status().is(Code::kNotFound)) co_return S3Error{S3Err::kInvalidAccessKeyId, ""};
    co_return from_status(key.status());
  }
  const int64_t now_s = wall_ms() / 1000;
  if (auto e = verify_signature(sr, c.creds, key->second, now_s)) co_return e;
  c.user = key->first;
  c.signing_key = signing_key(key->second, c.creds.date, c.creds.region, c.creds.service);
  co_return std::nullopt;
}

namespace {
// Operations a non-owner may run on a public-read bucket.
bool public_read_op(S3Op op) {
  switch (op) {
    case S3Op::kListObjects:
    case S3Op::kListObjectsV2:
    case S3Op::kListObjectVersions:
    case S3Op::kHeadBucket:
    case S3Op::kGetBucketLocation:
    case S3Op::kGetObject:
    case S3Op::kHeadObject:
      return true;
    default:
      return false;
  }
}

// The IAM action a request needs, for bucket policies.
std::string policy_action(S3Op op, bool has_version) {
  switch (op) {
    case S3Op::kGetObject:
    case S3Op::kHeadObject: return has_version ? "s3:GetObjectVersion" : "s3:GetObject";
    case S3Op::kListObjects:
    case S3Op::kListObjectsV2:
    case S3Op::kHeadBucket: return "s3:ListBucket";
    case S3Op::kListObjectVersions: return "s3:ListBucketVersions";
    case S3Op::kGetBucketLocation: return "s3:GetBucketLocation";
    case S3Op::kPutObject:
    case S3Op::kCopyObject:
    case S3Op::kCreateMultipartUpload:
    case S3Op::kUploadPart:
    case S3Op::kUploadPartCopy:
    case S3Op::kCompleteMultipartUpload: return "s3:PutObject";
    case S3Op::kDeleteObject: return has_version ? "s3:DeleteObjectVersion" : "s3:DeleteObject";
    case S3Op::kDeleteObjects: return "s3:DeleteObject";
    case S3Op::kAbortMultipartUpload: return "s3:AbortMultipartUpload";
    case S3Op::kListParts: return "s3:ListMultipartUploadParts";
    case S3Op::kListMultipartUploads: return "s3:ListBucketMultipartUploads";
    case S3Op::kDeleteBucket: return "s3:DeleteBucket";
    case S3Op::kGetBucketAcl: return "s3:GetBucketAcl";
    case S3Op::kPutBucketAcl: return "s3:PutBucketAcl";
    case S3Op::kGetObjectAcl: return "s3:GetObjectAcl";
    case S3Op::kPutObjectAcl: return "s3:PutObjectAcl";
    case S3Op::kGetBucketVersioning: return "s3:GetBucketVersioning";
    case S3Op::kPutBucketVersioning: return "s3:PutBucketVersioning";
    case S3Op::kGetBucketPolicy: return "s3:GetBucketPolicy";
    case S3Op::kPutBucketPolicy: return "s3:PutBucketPolicy";
    case S3Op::kDeleteBucketPolicy: return "s3:DeleteBucketPolicy";
    default: return "s3:" + std::string(op_name(op));
  }
}
}  // namespace

awaitable<MaybeError> Gateway::load_bucket_checked(ReqCtx& c) {
  auto b = co_await store_->get_bucket(c.route.bucket);
  if (!b.ok()) {
    if (b.status().is(Code::kNotFound)) co_return S3Error{S3Err::kNoSuchBucket, ""};
    co_return from_status(b.status());
  }
  c.bucket = std::move(*b);
  if (!c.user.empty() && c.user == c.bucket->owner) co_return std::nullopt;
  // Bucket policy: an explicit Deny wins; an Allow opens read operations.
  // (It does not bind the owner, who therefore cannot be locked out.)
  if (!c.bucket->policy.empty()) {
    std::string why;
    bool unsupported = false;
    auto pol = parse_policy(c.bucket->policy, c.bucket->name, &why, &unsupported);
    if (!pol) co_return S3Error{S3Err::kAccessDenied, "stored bucket policy is invalid: " + why};
    std::string resource = "arn:aws:s3:::" + c.bucket->name;
    if (!c.route.key.empty()) resource += "/" + c.route.key;
    const bool has_version = c.param("versionId") != nullptr;
    const std::string action = policy_action(c.route.op, has_version);
    PolicyDecision d = evaluate_policy(*pol, c.user, action, resource);
    if (d == PolicyDecision::kDeny) co_return S3Error{S3Err::kAccessDenied, ""};
    c.policy_list = evaluate_policy(*pol, c.user, "s3:ListBucket", "arn:aws:s3:::" + c.bucket->name) ==
                    PolicyDecision::kAllow;
    if (d == PolicyDecision::kAllow && public_read_op(c.route.op)) {
      c.policy_read = true;
      co_return std::nullopt;
    }
  }
  if ((c.bucket->acl == "public-read" || c.bucket->acl == "public-read-write") &&
      public_read_op(c.route.op)) {
    co_return std::nullopt;
  }
  // Object ACLs can open single objects (checked by get_object).
  if (c.route.op == S3Op::kGetObject || c.route.op == S3Op::kHeadObject) co_return std::nullopt;
  co_return S3Error{S3Err::kAccessDenied, ""};
}

awaitable<MaybeError> Gateway::dispatch(ReqCtx& c) {
  const S3Op op = c.route.op;
  if (op == S3Op::kListBuckets) {
    if (c.user.empty()) co_return S3Error{S3Err::kAccessDenied, ""};
    co_return co_await list_buckets(c);
  }
  if (op == S3Op::kCreateBucket) {
    if (c.user.empty()) co_return S3Error{S3Err::kAccessDenied, ""};
    co_return co_await create_bucket(c);
  }
  if (auto e = co_await load_bucket_checked(c)) co_return e;
  switch (op) {
    case S3Op::kDeleteBucket: co_return co_await delete_bucket(c);
    case S3Op::kHeadBucket: co_return co_await head_bucket(c);
    case S3Op::kGetBucketLocation: co_return co_await get_bucket_location(c);
    case S3Op::kGetBucketVersioning: co_return co_await get_bucket_versioning(c);
    case S3Op::kPutBucketVersioning: co_return co_await put_bucket_versioning(c);
    case S3Op::kGetBucketAcl:
    case S3Op::kGetObjectAcl: co_return co_await get_acl(c);
    case S3Op::kPutBucketAcl:
    case S3Op::kPutObjectAcl: co_return co_await put_acl(c);
    case S3Op::kListObjects: co_return co_await list_objects(c, false);
    case S3Op::kListObjectsV2: co_return co_await list_objects(c, true);
    case S3Op::kListObjectVersions: co_return co_await list_object_versions(c);
    case S3Op::kGetBucketPolicy: co_return co_await get_bucket_policy(c);
    case S3Op::kPutBucketPolicy: co_return co_await put_bucket_policy(c);
    case S3Op::kDeleteBucketPolicy: co_return co_await delete_bucket_policy(c);
    case S3Op::kListMultipartUploads: co_return co_await list_uploads(c);
    case S3Op::kDeleteObjects: co_return co_await delete_objects(c);
    case S3Op::kPutObject: co_return co_await put_object(c);
    case S3Op::kCopyObject: co_return co_await copy_object(c);
    case S3Op::kGetObject: co_return co_await get_object(c, false);
    case S3Op::kHeadObject: co_return co_await get_object(c, true);
    case S3Op::kDeleteObject: co_return co_await delete_object(c);
    case S3Op::kCreateMultipartUpload: co_return co_await create_multipart(c);
    case S3Op::kUploadPart: co_return co_await upload_part(c, false);
    case S3Op::kUploadPartCopy: co_return co_await upload_part(c, true);
    case S3Op::kCompleteMultipartUpload: co_return co_await complete_multipart(c);
    case S3Op::kAbortMultipartUpload: co_return co_await abort_multipart(c);
    case S3Op::kListParts: co_return co_await list_parts(c);
    default: co_return S3Error{S3Err::kNotImplemented, ""};
  }
}

awaitable<void> Gateway::send_error(ReqCtx& c, const S3Error& e) {
  const S3ErrInfo& info = s3_err_info(e.err);
  HttpResponse r;
  r.status = info.http_status;
  r.set("x-amz-request-id", c.request_id);
  r.set("x-amz-id-2", c.request_id);
  for (const auto& [k, v] : c.error_headers) r.set(k, v);
  if (info.http_status != 304) {
    XmlWriter w("Error", false);
    w.elem("Code", info.code);
    if (e.detail.empty()) {
      w.elem("Message", info.message);
    } else {
      w.elem("Message", e.detail);
    }
    if (!c.route.bucket.empty()) w.elem("BucketName", c.route.bucket);
    // XML 1.0 cannot carry most control characters, even escaped.
    if (!c.route.key.empty() && xml_printable(c.route.key)) w.elem("Key", c.route.key);
    if (xml_printable(c.req.path)) w.elem("Resource", c.req.path);
    w.elem("RequestId", c.request_id);
    w.elem("HostId", c.request_id);
    r.body = w.finish();
    r.set("Content-Type", "application/xml");
  }
  // An error before the body was read: the connection cannot carry another
  // request unless the body is drained; small bodies are, large ones close.
  if (!c.ex.body_done() && c.ex.awaiting_continue()) {
    c.ex.close_after();  // never invite a body we are going to refuse
  } else if (!c.ex.body_done()) {
    size_t drained = 0;
    while (!c.ex.body_done() && drained < (1 << 20)) {
      auto d = co_await c.ex.read_body(64 * 1024);
      if (!d.ok() || d->empty()) break;
      drained += d->size();
    }
    if (!c.ex.body_done()) c.ex.close_after();
  }
  c.bytes_out += r.body.size();
  (void)co_await c.ex.send(std::move(r));
}

awaitable<MaybeError> Gateway::send_xml(ReqCtx& c, int status, std::string body) {
  std::vector<std::pair<std::string, std::string>> none;
  co_return co_await send_xml_with(c, status, std::move(body), std::move(none));
}

awaitable<MaybeError> Gateway::send_xml_with(ReqCtx& c, int status, std::string body,
                                             std::vector<std::pair<std::string, std::string>> extra) {
  HttpResponse r;
  r.status = status;
  for (auto& [k, v] : extra) r.set(std::move(k), std::move(v));
  r.set("Content-Type", "application/xml");
  r.set("x-amz-request-id", c.request_id);
  r.set("x-amz-id-2", c.request_id);
  c.bytes_out += body.size();
  r.body = std::move(body);
  Status st = co_await c.ex.send(std::move(r));
  if (!st.ok()) c.ex.close_after();
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::read_small_body(ReqCtx& c, size_t max, std::string* out) {
  BodyReader br(c);
  if (c.req.content_length || c.req.chunked || c.creds.payload_hash.starts_with("STREAMING-")) {
    if (auto e = br.init()) co_return e;
  } else {
    co_return std::nullopt;  // no body
  }
  for (;;) {
    bool eof = false;
    if (auto e = co_await br.read(64 * 1024, out, &eof)) co_return e;
    if (out->size() > max) co_return S3Error{S3Err::kMalformedXML, "request body too large"};
    if (eof) break;
  }
  co_return std::nullopt;
}

}  // namespace cairn::rgw
