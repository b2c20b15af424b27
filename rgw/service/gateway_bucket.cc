// Bucket operations and listings.
#include <charconv>

#include "rgw/core/policy.h"
#include "rgw/core/xml.h"
#include "rgw/service/gateway.h"

namespace cairn::rgw {

using boost::asio::awaitable;

namespace {

void owner_xml(XmlWriter& w, const std::string& owner) {
  w.open("Owner");
  w.elem("ID", owner);
  w.elem("DisplayName", owner);
  w.close();
}

// max-keys style integer parameter: default when absent, InvalidArgument when
// malformed, clamped to cap.
MaybeError int_param(const ReqCtx& c, std::string_view name, uint32_t def, uint32_t cap,
                     uint32_t* out) {
  const std::string* v = c.param(name);
  if (!v) {
    *out = def;
    return std::nullopt;
  }
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size() || n < 0) {
    return S3Error{S3Err::kInvalidArgument, "Provided " + std::string(name) + " not an integer or within integer range"};
  }
  *out = static_cast<uint32_t>(std::min<int64_t>(n, cap));
  return std::nullopt;
}

}  // namespace

awaitable<MaybeError> Gateway::list_buckets(ReqCtx& c) {
  auto all = co_await store_->list_buckets();
  if (!all.ok()) co_return from_status(all.status());
  XmlWriter w("ListAllMyBucketsResult");
  owner_xml(w, c.user);
  w.open("Buckets");
  for (const BucketInfo& b : *all) {
    if (b.owner != c.user) continue;
    w.open("Bucket");
    w.elem("Name", b.name);
    w.elem("CreationDate", iso8601_ms(b.created_ms));
    w.close();
  }
  w.close();
  co_return co_await send_xml(c, 200, w.finish());
}

awaitable<MaybeError> Gateway::create_bucket(ReqCtx& c) {
  std::string body;
  if (auto e = co_await read_small_body(c, 64 * 1024, &body)) co_return e;
  BucketInfo b;
  b.name = c.route.bucket;
  b.owner = c.user;
  b.region = opts_.region;
  if (!body.empty()) {
    auto x = parse_xml(body);
    if (!x || x->name != "CreateBucketConfiguration") co_return S3Error{S3Err::kMalformedXML, ""};
    std::string loc = x->child_text("LocationConstraint");
    if (!loc.empty() && loc != opts_.region) {
      co_return S3Error{S3Err::kInvalidArgument /* S3: InvalidLocationConstraint */,
                        "The specified location-constraint is not valid: this gateway serves " +
                            opts_.region};
    }
  }
  if (auto e = canned_acl(c.req, &b.acl)) co_return e;
  b.id = new_instance_id();
  b.created_ms = wall_ms();
  b.shards = opts_.index_shards;
  auto r = co_await store_->create_bucket(b);
  if (!r.ok()) {
    if (r.status().is(Code::kAlreadyExists)) {
      S3Err code = S3Err::kBucketAlreadyExists;
      if (r.status().message() == c.user) code = S3Err::kBucketAlreadyOwnedByYou;
      co_return S3Error{code, ""};
    }
    co_return from_status(r.status());
  }
  HttpResponse res;
  res.set("Location", "/" + b.name);
  res.set("x-amz-request-id", c.request_id);
  (void)co_await c.ex.send(std::move(res));
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::delete_bucket(ReqCtx& c) {
  Status st = co_await store_->delete_bucket(*c.bucket);
  if (st.is(Code::kConflict)) co_return S3Error{S3Err::kBucketNotEmpty, ""};
  if (!st.ok()) co_return from_status(st);
  HttpResponse r;
  r.status = 204;
  r.set("x-amz-request-id", c.request_id);
  (void)co_await c.ex.send(std::move(r));
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::head_bucket(ReqCtx& c) {
  HttpResponse r;
  r.set("x-amz-request-id", c.request_id);
  r.set("x-amz-bucket-region", c.bucket->region);
  (void)co_await c.ex.send(std::move(r));
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::get_bucket_location(ReqCtx& c) {
  std::string region;
  if (c.bucket->region != "us-east-1") region = xml_escape(c.bucket->region);
  std::string doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" +
                    region + "</LocationConstraint>";
  co_return co_await send_xml(c, 200, std::move(doc));
}

awaitable<MaybeError> Gateway::get_bucket_versioning(ReqCtx& c) {
  XmlWriter w("VersioningConfiguration");
  if (!c.bucket->versioning.empty()) w.elem("Status", c.bucket->versioning);
  co_return co_await send_xml(c, 200, w.finish());
}

awaitable<MaybeError> Gateway::put_bucket_versioning(ReqCtx& c) {
  std::string body;
  if (auto e = co_await read_small_body(c, 64 * 1024, &body)) co_return e;
  auto x = parse_xml(body);
  if (!x || x->name != "VersioningConfiguration") co_return S3Error{S3Err::kMalformedXML, ""};
  std::string status = x->child_text("Status");
  if (const std::string mfa = x->child_text("MfaDelete"); !mfa.empty() && mfa != "Disabled") {
    co_return S3Error{S3Err::kNotImplemented, "MFA delete is not supported"};
  }
  if (status != "Enabled" && status != "Suspended") co_return S3Error{S3Err::kMalformedXML, ""};
  // Once versioned, a bucket can only be suspended, never unversioned (as S3).
  BucketInfo b = *c.bucket;
  b.versioning = status;
  Status st = co_await store_->update_bucket(b);
  if (!st.ok()) co_return from_status(st);
  HttpResponse r;
  r.set("x-amz-request-id", c.request_id);
  (void)co_await c.ex.send(std::move(r));
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::get_bucket_policy(ReqCtx& c) {
  if (c.bucket->policy.empty()) co_return S3Error{S3Err::kNoSuchBucketPolicy, ""};
  HttpResponse r;
  r.set("Content-Type", "application/json");
  r.set("x-amz-request-id", c.request_id);
  c.bytes_out += c.bucket->policy.size();
  r.body = c.bucket->policy;
  (void)co_await c.ex.send(std::move(r));
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::put_bucket_policy(ReqCtx& c) {
  std::string body;
  if (auto e = co_await read_small_body(c, 20 * 1024, &body)) {
    if (e->err == S3Err::kMalformedXML) co_return S3Error{S3Err::kMalformedPolicy, "Policies are limited to 20 KB"};
    co_return e;
  }
  std::string why;
  bool unsupported = false;
  if (!parse_policy(body, c.bucket->name, &why, &unsupported)) {
    if (unsupported) co_return S3Error{S3Err::kNotImplemented, why};
    co_return S3Error{S3Err::kMalformedPolicy, why};
  }
  BucketInfo b = *c.bucket;
  b.policy = body;
  Status st = co_await store_->update_bucket(b);
  if (!st.ok()) co_return from_status(st);
  HttpResponse r;
  r.status = 204;
  r.set("x-amz-request-id", c.request_id);
  (void)co_await c.ex.send(std::move(r));
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::delete_bucket_policy(ReqCtx& c) {
  BucketInfo b = *c.bucket;
  b.policy.clear();
  Status st = co_await store_->update_bucket(b);
  if (!st.ok()) co_return from_status(st);
  HttpResponse r;
  r.status = 204;
  r.set("x-amz-request-id", c.request_id);
  (void)co_await c.ex.send(std::move(r));
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::get_acl(ReqCtx& c) {
  std::string acl = c.bucket->acl;
  std::string owner = c.bucket->owner;
  if (c.route.op == S3Op::kGetObjectAcl) {
    auto e = co_await store_->get_entry(*c.bucket, c.route.key, false);
    if (!e.ok()) {
      co_return not_found(e.status(), S3Err::kNoSuchKey);
    }
    acl = e->acl;
    if (!e->owner.empty()) owner = e->owner;
  }
  XmlWriter w("AccessControlPolicy");
  owner_xml(w, owner);
  w.open("AccessControlList");
  auto grant = [&](bool group, const std::string& who, const char* perm) {
    w.open("Grant");
    w.open(group ? "Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Group\""
                 : "Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"");
    if (group) {
      w.elem("URI", who);
    } else {
      w.elem("ID", who);
      w.elem("DisplayName", who);
    }
    w.close();
    w.elem("Permission", perm);
    w.close();
  };
  grant(false, owner, "FULL_CONTROL");
  if (acl == "public-read" || acl == "public-read-write") {
    grant(true, "http://acs.amazonaws.com/groups/global/AllUsers", "READ");
  }
  w.close();
  std::string doc = w.finish();
  // XmlWriter closes with the full open-tag text; fix the Grantee end tags.
  for (size_t p; (p = doc.find("</Grantee xmlns")) != std::string::npos;) {
    size_t e = doc.find('>', p);
    doc.replace(p, e - p + 1, "</Grantee>");
  }
  co_return co_await send_xml(c, 200, std::move(doc));
}

awaitable<MaybeError> Gateway::put_acl(ReqCtx& c) {
  std::string body;
  if (auto e = co_await read_small_body(c, 64 * 1024, &body)) co_return e;
  std::string acl;
  if (auto e = canned_acl(c.req, &acl)) co_return e;
  if (acl.empty()) {
    co_return S3Error{S3Err::kNotImplemented, "only canned ACLs (x-amz-acl) are supported"};
  }
  if (c.route.op == S3Op::kPutBucketAcl) {
    BucketInfo b = *c.bucket;
    b.acl = acl;
    Status st = co_await store_->update_bucket(b);
    if (!st.ok()) co_return from_status(st);
  } else {
    Status st = co_await store_->set_object_acl(*c.bucket, c.route.key, acl);
    if (!st.ok()) co_return not_found(st, S3Err::kNoSuchKey);
  }
  HttpResponse r;
  r.set("x-amz-request-id", c.request_id);
  (void)co_await c.ex.send(std::move(r));
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::list_objects(ReqCtx& c, bool v2) {
  ListParams p;
  if (const std::string* v = c.param("prefix")) p.prefix = *v;
  if (const std::string* v = c.param("delimiter")) p.delimiter = *v;
  if (auto e = int_param(c, "max-keys", 1000, 1000, &p.max_keys)) co_return e;
  bool url = false;
  if (const std::string* v = c.param("encoding-type")) {
    if (*v != "url") co_return S3Error{S3Err::kInvalidArgument, "Invalid Encoding Method specified in Request"};
    url = true;
  }
  std::string token, start_after;
  if (v2) {
    if (const std::string* v = c.param("continuation-token")) {
      token = *v;
      std::string decoded;
      if (!base64_decode(*v, &decoded)) {
        co_return S3Error{S3Err::kInvalidArgument, "The continuation token provided is incorrect"};
      }
      p.marker = decoded;
    } else if (const std::string* s = c.param("start-after")) {
      start_after = *s;
      p.marker = *s;
    }
  } else if (const std::string* v = c.param("marker")) {
    p.marker = *v;
  }
  auto st = co_await store_->list(*c.bucket, p);
  if (!st.ok()) co_return from_status(st.status());
  auto enc = [&](const std::string& s) { return url ? uri_encode(s, true) : s; };
  XmlWriter w("ListBucketResult");
  w.elem("Name", c.bucket->name);
  w.elem("Prefix", enc(p.prefix));
  if (v2) {
    if (const std::string* v = c.param("continuation-token")) w.elem("ContinuationToken", *v);
    if (!start_after.empty()) w.elem("StartAfter", enc(start_after));
    w.elem("KeyCount", st->contents.size() + st->prefixes.size());
  } else {
    w.elem("Marker", enc(p.marker));
  }
  w.elem("MaxKeys", p.max_keys);
  if (!p.delimiter.empty()) w.elem("Delimiter", enc(p.delimiter));
  if (url) w.elem("EncodingType", "url");
  w.elem_bool("IsTruncated", st->truncated);
  if (st->truncated) {
    if (v2) {
      w.elem("NextContinuationToken", base64_encode(st->next_marker));
    } else {
      w.elem("NextMarker", enc(st->next_marker));
    }
  }
  const bool fetch_owner = !v2 || (c.param("fetch-owner") && *c.param("fetch-owner") == "true");
  for (const auto& [key, val] : st->contents) {
    auto e = decode_entry(val);
    if (!e) continue;
    w.open("Contents");
    w.elem("Key", enc(key));
    w.elem("LastModified", iso8601_ms(e->mtime_ms));
    w.elem("ETag", quote_etag(e->etag));
    w.elem("Size", e->size);
    if (fetch_owner) owner_xml(w, e->owner.empty() ? c.bucket->owner : e->owner);
    w.elem("StorageClass", "STANDARD");
    w.close();
  }
  for (const std::string& cp : st->prefixes) {
    w.open("CommonPrefixes");
    w.elem("Prefix", enc(cp));
    w.close();
  }
  co_return co_await send_xml(c, 200, w.finish());
}

}  // namespace cairn::rgw

namespace cairn::rgw {

awaitable<MaybeError> Gateway::list_object_versions(ReqCtx& c) {
  ListParams p;
  p.versions = true;
  if (const std::string* v = c.param("prefix")) p.prefix = *v;
  if (const std::string* v = c.param("delimiter")) p.delimiter = *v;
  if (auto e = int_param(c, "max-keys", 1000, 1000, &p.max_keys)) co_return e;
  bool url = false;
  if (const std::string* v = c.param("encoding-type")) {
    if (*v != "url") co_return S3Error{S3Err::kInvalidArgument, "Invalid Encoding Method specified in Request"};
    url = true;
  }
  std::string key_marker, vid_marker;
  if (const std::string* v = c.param("key-marker")) key_marker = *v;
  if (const std::string* v = c.param("version-id-marker")) vid_marker = *v;
  if (!vid_marker.empty() && key_marker.empty()) {
    co_return S3Error{S3Err::kInvalidArgument, "A version-id marker cannot be specified without a key marker."};
  }
  // Resolve the markers into a sort key of the merge (KEY \x01 VKEY).
  if (!key_marker.empty()) {
    if (vid_marker.empty()) {
      const bool is_prefix = !p.delimiter.empty() && key_marker.starts_with(p.prefix) &&
                             key_marker.size() >= p.prefix.size() + p.delimiter.size() &&
                             key_marker.find(p.delimiter, p.prefix.size()) ==
                                 key_marker.size() - p.delimiter.size();
      if (is_prefix) {
        p.marker = skip_prefix_cursor(key_marker);
      } else {
        p.marker = key_marker + kVersionSep + "\xff";  // after every version of the key
      }
    } else if (vid_marker == "null") {
      auto nk = co_await store_->null_version_key(*c.bucket, key_marker);
      if (!nk.ok() && !nk.status().is(Code::kNotFound)) co_return from_status(nk.status());
      if (!nk.ok()) co_return S3Error{S3Err::kInvalidArgument, "Invalid version id specified"};
      p.marker = key_marker + kVersionSep + *nk;
    } else {
      if (!valid_version_key(vid_marker)) {
        co_return S3Error{S3Err::kInvalidArgument, "Invalid version id specified"};
      }
      p.marker = key_marker + kVersionSep + vid_marker;
    }
  }
  auto st = co_await store_->list_versions(*c.bucket, p);
  if (!st.ok()) co_return from_status(st.status());
  auto enc = [&](const std::string& s) { return url ? uri_encode(s, true) : s; };
  XmlWriter w("ListVersionsResult");
  w.elem("Name", c.bucket->name);
  w.elem("Prefix", enc(p.prefix));
  w.elem("KeyMarker", enc(key_marker));
  w.elem("VersionIdMarker", vid_marker);
  w.elem("MaxKeys", p.max_keys);
  if (!p.delimiter.empty()) w.elem("Delimiter", enc(p.delimiter));
  if (url) w.elem("EncodingType", "url");
  w.elem_bool("IsTruncated", st->truncated);
  if (st->truncated) {
    if (!st->prefixes.empty() && st->next_marker == st->prefixes.back()) {
      w.elem("NextKeyMarker", enc(st->next_marker));
      w.elem("NextVersionIdMarker", "");
    } else if (!st->contents.empty()) {
      auto e = decode_entry(st->contents.back().second);
      w.elem("NextKeyMarker", enc(split_version_sort_key(st->contents.back().first).first));
      std::string next_vid;
      if (e) next_vid = e->version_id;
      w.elem("NextVersionIdMarker", next_vid);
    }
  }
  // The first version of a key in the whole listing is its latest; a page
  // that resumes inside a key's versions does not start with the latest.
  std::string prev_key;
  bool have_prev = !vid_marker.empty();
  if (have_prev) prev_key = key_marker;
  for (const auto& [sort_key, val] : st->contents) {
    auto e = decode_entry(val);
    if (!e) continue;
    const std::string key = split_version_sort_key(sort_key).first;
    const bool latest = !have_prev || prev_key != key;
    prev_key = key;
    have_prev = true;
    w.open(e->delete_marker ? "DeleteMarker" : "Version");
    w.elem("Key", enc(key));
    w.elem("VersionId", e->version_id);
    w.elem_bool("IsLatest", latest);
    w.elem("LastModified", iso8601_ms(e->mtime_ms));
    if (!e->delete_marker) {
      w.elem("ETag", quote_etag(e->etag));
      w.elem("Size", e->size);
      w.elem("StorageClass", "STANDARD");
    }
    owner_xml(w, e->owner.empty() ? c.bucket->owner : e->owner);
    w.close();
  }
  for (const std::string& cp : st->prefixes) {
    w.open("CommonPrefixes");
    w.elem("Prefix", enc(cp));
    w.close();
  }
  co_return co_await send_xml(c, 200, w.finish());
}

}  // namespace cairn::rgw
