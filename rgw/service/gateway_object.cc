// Object operations: PUT, GET/HEAD (ranges, conditionals, overrides),
// DELETE, DeleteObjects, CopyObject; and the data paths they share.
#include "rgw/core/xml.h"
#include "rgw/service/gateway.h"

namespace cairn::rgw {

using boost::asio::awaitable;

namespace {


bool etag_matches(const std::string& header, const std::string& etag) {
  size_t start = 0;
  for (;;) {
    size_t comma = header.find(',', start);
    std::string item = unquote_etag(std::string_view(header).substr(start, comma - start));
    if (item == "*" || item == etag) return true;
    if (comma == std::string::npos) return false;
    start = comma + 1;
  }
}

// S3's precedence: If-Match beats If-Unmodified-Since, If-None-Match beats
// If-Modified-Since. prefix: "" for GET/HEAD, "x-amz-copy-source-" for copies
// (which fail with 412 where a GET would answer 304).
MaybeError check_conditions(const HttpRequest& req, const ObjectEntry& e, const std::string& prefix) {
  const int64_t mtime_s = e.mtime_ms / 1000;
  const bool copy = !prefix.empty();
  const std::string* im = req.header(prefix + "if-match");
  const std::string* ius = req.header(prefix + "if-unmodified-since");
  const std::string* inm = req.header(prefix + "if-none-match");
  const std::string* ims = req.header(prefix + "if-modified-since");
  if (im) {
    if (!etag_matches(*im, e.etag)) return S3Error{S3Err::kPreconditionFailed, ""};
  } else if (ius) {
    auto t = parse_http_date(*ius);
    if (t && mtime_s > *t) return S3Error{S3Err::kPreconditionFailed, ""};
  }
  if (inm) {
    if (etag_matches(*inm, e.etag)) {
      return S3Error{copy ? S3Err::kPreconditionFailed : S3Err::kNotModified, ""};
    }
  } else if (ims) {
    auto t = parse_http_date(*ims);
    if (t && mtime_s <= *t) return S3Error{copy ? S3Err::kPreconditionFailed : S3Err::kNotModified, ""};
  }
  return std::nullopt;
}

constexpr std::pair<const char*, const char*> kResponseOverrides[] = {
    {"response-content-type", "content-type"},
    {"response-content-language", "content-language"},
    {"response-expires", "expires"},
    {"response-cache-control", "cache-control"},
    {"response-content-disposition", "content-disposition"},
    {"response-content-encoding", "content-encoding"}};

void object_headers(const ObjectEntry& e, HttpResponse* r) {
  r->set("ETag", quote_etag(e.etag));
  r->set("Last-Modified", http_date(e.mtime_ms / 1000));
  r->set("Accept-Ranges", "bytes");
  for (const auto& [k, v] : e.meta) r->set("x-amz-meta-" + k, v);
  if (e.parts) r->set("x-amz-mp-parts-count", std::to_string(e.parts));
}

}  // namespace

awaitable<MaybeError> Gateway::store_body(ReqCtx& c, const std::string& inst, bool allow_inline,
                                          ObjectEntry* e) {
  BodyReader br(c);
  if (auto err = br.init()) co_return err;
  if (br.expected_size() && *br.expected_size() > opts_.max_object_size) {
    co_return S3Error{S3Err::kEntityTooLarge, ""};
  }
  const std::string& bid = c.bucket->id;
  std::string buf;
  uint64_t stripes = 0;
  MaybeError err;
  for (;;) {
    bool eof = false;
    const size_t want = std::min<size_t>(kStripeSize - buf.size(), 1 << 20);
    err = co_await br.read(want, &buf, &eof);
    if (err) break;
    if (br.size() > opts_.max_object_size) {
      err = S3Error{S3Err::kEntityTooLarge, ""};
      break;
    }
    if (buf.size() >= kStripeSize || (eof && !buf.empty() && (stripes > 0 || !allow_inline || buf.size() > kInlineMax))) {
      Status st = co_await store_->write_stripe(bid, inst, stripes, std::move(buf));
      buf.clear();
      ++stripes;
      if (!st.ok()) {
        err = from_status(st);
        break;
      }
    }
    if (eof) break;
  }
  if (err) {
    std::vector<Segment> drop = one_segment(inst, stripes * kStripeSize);
    if (stripes) co_await store_->remove_segments(bid, std::move(drop));
    co_return err;
  }
  e->size = br.size();
  e->etag = br.md5_hex();
  e->segments.clear();
  e->inline_data.clear();
  if (stripes > 0) {
    e->segments.push_back({inst, br.size()});
  } else {
    e->inline_data = std::move(buf);
  }
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::put_object(ReqCtx& c) {
  if (c.user.empty() || c.user != c.bucket->owner) co_return S3Error{S3Err::kAccessDenied, ""};
  ObjectEntry e;
  if (auto err = entry_from_headers(c.req, &e)) co_return err;
  if (auto err = canned_acl(c.req, &e.acl)) co_return err;
  e.owner = c.user;
  const std::string inst = new_instance_id();
  if (auto err = co_await store_body(c, inst, true, &e)) co_return err;
  e.mtime_ms = wall_ms();
  const std::string etag = e.etag;
  std::vector<Segment> segs = e.segments;
  auto vid = co_await store_->put_entry(*c.bucket, c.route.key, std::move(e));
  if (!vid.ok()) {
    co_await store_->remove_segments(c.bucket->id, segs);
    co_return from_status(vid.status());
  }
  HttpResponse r;
  r.set("ETag", quote_etag(etag));
  if (!vid->empty()) r.set("x-amz-version-id", *vid);
  r.set("x-amz-request-id", c.request_id);
  (void)co_await c.ex.send(std::move(r));
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::get_object(ReqCtx& c, bool head) {
  std::string version;
  if (auto err = version_param(c, &version)) co_return err;
  Result<ObjectEntry> got = Status::NotFound("");
  if (version.empty()) {
    got = co_await store_->get_entry(*c.bucket, c.route.key, !head);
  } else {
    got = co_await store_->get_version(*c.bucket, c.route.key, version, !head);
  }
  const bool owner = !c.user.empty() && c.user == c.bucket->owner;
  const bool bucket_public =
      c.bucket->acl == "public-read" || c.bucket->acl == "public-read-write" || c.policy_read;
  const bool may_list = owner || c.bucket->acl == "public-read" ||
                        c.bucket->acl == "public-read-write" || c.policy_list;
  if (!got.ok()) {
    // Without list rights S3 hides whether the key exists.
    if (!may_list) co_return S3Error{S3Err::kAccessDenied, ""};
    if (!version.empty()) co_return not_found(got.status(), S3Err::kNoSuchVersion);
    if (got.status().is(Code::kNotFound) && !c.bucket->versioning.empty()) {
      auto newest = co_await store_->newest_version(*c.bucket, c.route.key);
      if (newest.ok() && newest->delete_marker) {
        c.error_headers.emplace_back("x-amz-delete-marker", "true");
        c.error_headers.emplace_back("x-amz-version-id", newest->version_id);
      }
    }
    co_return not_found(got.status(), S3Err::kNoSuchKey);
  }
  ObjectEntry& e = *got;
  if (!owner && !bucket_public && e.acl != "public-read" && e.acl != "public-read-write") {
    co_return S3Error{S3Err::kAccessDenied, ""};
  }
  if (e.delete_marker) {  // GET/HEAD of a delete marker by its version id
    c.error_headers.emplace_back("x-amz-delete-marker", "true");
    c.error_headers.emplace_back("x-amz-version-id", e.version_id);
    c.error_headers.emplace_back("Last-Modified", http_date(e.mtime_ms / 1000));
    co_return S3Error{S3Err::kMethodNotAllowed, ""};
  }
  if (auto err = check_conditions(c.req, e, "")) {
    if (err->err == S3Err::kNotModified) {
      HttpResponse r;
      r.status = 304;
      r.set("ETag", quote_etag(e.etag));
      r.set("Last-Modified", http_date(e.mtime_ms / 1000));
      r.set("x-amz-request-id", c.request_id);
      (void)co_await c.ex.send(std::move(r));
      co_return std::nullopt;
    }
    co_return err;
  }
  ByteRange range{0, e.size ? e.size - 1 : 0};
  bool partial = false;
  if (const std::string* rh = c.header("range")) {
    switch (parse_range(*rh, e.size, &range)) {
      case RangeParse::kOk: partial = true; break;
      case RangeParse::kUnsatisfiable: co_return S3Error{S3Err::kInvalidRange, ""};
      case RangeParse::kNone: break;
    }
  }
  const uint64_t length = e.size == 0 ? 0 : range.length();
  HttpResponse r;
  r.status = partial ? 206 : 200;
  object_headers(e, &r);
  r.set("x-amz-request-id", c.request_id);
  r.set("x-amz-id-2", c.request_id);
  if (!e.version_id.empty()) r.set("x-amz-version-id", e.version_id);
  if (partial) {
    r.set("Content-Range", "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" +
                               std::to_string(e.size));
  }
  // response-* overrides (S3 allows them on signed requests only).
  std::map<std::string, std::string> hdrs = e.headers;
  std::string ctype = e.content_type;
  if (ctype.empty()) ctype = "binary/octet-stream";
  if (!c.user.empty()) {
    for (auto [param, header] : kResponseOverrides) {
      if (const std::string* v = c.param(param)) {
        if (std::string_view(header) == "content-type") ctype = *v;
        else hdrs[header] = *v;
      }
    }
  }
  r.set("Content-Type", ctype);
  for (const auto& [k, v] : hdrs) r.set(k, v);
  if (head) {
    Status st = co_await c.ex.send_head(std::move(r), length);
    if (!st.ok()) c.ex.close_after();
    co_return std::nullopt;
  }
  Status st = co_await c.ex.send_head(std::move(r), length);
  if (!st.ok()) co_return std::nullopt;
  if (length == 0) co_return std::nullopt;
  if (e.segments.empty()) {
    if (e.inline_data.size() != e.size) {
      c.ex.close_after();
      co_return S3Error{S3Err::kInternalError, "inline data missing"};
    }
    c.bytes_out += length;
    st = co_await c.ex.send_data(e.inline_data.substr(range.first, length));
    if (!st.ok()) c.ex.close_after();
    co_return std::nullopt;
  }
  for (const ReadPiece& p : plan_reads(c.bucket->id, e, range.first, length)) {
    auto data = co_await store_->read_piece(p);
    if (!data.ok()) {
      // Headers are out: all we can do is cut the connection short.
      c.ex.close_after();
      co_return from_status(data.status());
    }
    c.bytes_out += data->size();
    st = co_await c.ex.send_data(std::move(*data));
    if (!st.ok()) {
      c.ex.close_after();
      co_return std::nullopt;
    }
  }
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::delete_object(ReqCtx& c) {
  if (c.user.empty() || c.user != c.bucket->owner) co_return S3Error{S3Err::kAccessDenied, ""};
  std::string version;
  if (auto err = version_param(c, &version)) co_return err;
  DeleteOutcome out;
  if (auto err = co_await delete_one(*c.bucket, c.route.key, version, c.user, &out)) co_return err;
  HttpResponse r;
  r.status = 204;
  if (out.delete_marker) r.set("x-amz-delete-marker", "true");
  if (!out.version_id.empty()) r.set("x-amz-version-id", out.version_id);
  r.set("x-amz-request-id", c.request_id);
  (void)co_await c.ex.send(std::move(r));
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::delete_one(const BucketInfo& b, const std::string& key,
                                          const std::string& version, const std::string& user,
                                          DeleteOutcome* out) {
  if (!version.empty()) {
    auto gone = co_await store_->delete_version(b, key, version);
    // A version that is not there is deleted already (S3 answers 204 too).
    if (!gone.ok() && !gone.status().is(Code::kNotFound)) co_return from_status(gone.status());
    out->version_id = version;
    if (gone.ok()) out->delete_marker = gone->delete_marker;
    co_return std::nullopt;
  }
  if (b.versioning.empty()) {
    Status st = co_await store_->delete_entry(b, key);
    if (!st.ok() && !st.is(Code::kNotFound)) co_return from_status(st);
    co_return std::nullopt;
  }
  ObjectEntry marker;
  marker.delete_marker = true;
  marker.owner = user;
  marker.mtime_ms = wall_ms();
  auto vid = co_await store_->put_entry(b, key, std::move(marker));
  if (!vid.ok()) co_return from_status(vid.status());
  out->delete_marker = true;
  out->version_id = *vid;
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::delete_objects(ReqCtx& c) {
  if (c.user.empty() || c.user != c.bucket->owner) co_return S3Error{S3Err::kAccessDenied, ""};
  std::string body;
  if (auto e = co_await read_small_body(c, 2 << 20, &body)) co_return e;
  auto x = parse_xml(body);
  if (!x || x->name != "Delete") co_return S3Error{S3Err::kMalformedXML, ""};
  auto objs = x->children_named("Object");
  if (objs.empty() || objs.size() > 1000) co_return S3Error{S3Err::kMalformedXML, ""};
  const bool quiet = x->child_text("Quiet") == "true";
  XmlWriter w("DeleteResult");
  for (const XmlNode* o : objs) {
    const XmlNode* k = o->child("Key");
    if (!k) co_return S3Error{S3Err::kMalformedXML, ""};
    const std::string key = k->text;
    const std::string version = o->child_text("VersionId");
    MaybeError err;
    DeleteOutcome out;
    if (key.empty() || key.size() > kMaxKeyBytes ||
        key.find_first_of(std::string_view("\x00\x01", 2)) != std::string::npos) {
      err = S3Error{S3Err::kInvalidArgument, ""};
    } else if (!version.empty() && version != "null" && !valid_version_key(version)) {
      err = S3Error{S3Err::kInvalidArgument, "Invalid version id specified"};
    } else {
      err = co_await delete_one(*c.bucket, key, version, c.user, &out);
    }
    if (!err) {
      if (!quiet) {
        w.open("Deleted");
        w.elem("Key", key);
        if (!version.empty()) w.elem("VersionId", version);
        if (out.delete_marker) {
          w.elem("DeleteMarker", "true");
          if (version.empty()) w.elem("DeleteMarkerVersionId", out.version_id);
        }
        w.close();
      }
    } else {
      w.open("Error");
      w.elem("Key", key);
      if (!version.empty()) w.elem("VersionId", version);
      w.elem("Code", s3_err_info(err->err).code);
      w.elem("Message", s3_err_info(err->err).message);
      w.close();
    }
  }
  co_return co_await send_xml(c, 200, w.finish());
}

awaitable<MaybeError> Gateway::load_copy_source(ReqCtx& c, BucketInfo* b, std::string* key,
                                                ObjectEntry* e) {
  std::string src = *c.header("x-amz-copy-source");
  size_t q = src.find('?');
  std::string src_version;
  if (q != std::string::npos) {
    QueryParams qp;
    if (!parse_query(std::string_view(src).substr(q + 1), &qp)) {
      co_return S3Error{S3Err::kInvalidArgument, "bad x-amz-copy-source"};
    }
    if (const std::string* v = find_param(qp, "versionId")) {
      if (*v != "null" && !valid_version_key(*v)) {
        co_return S3Error{S3Err::kInvalidArgument, "Invalid version id specified"};
      }
      src_version = *v;
    }
    src.resize(q);
  }
  std::string decoded;
  if (!uri_decode(src, &decoded)) co_return S3Error{S3Err::kInvalidArgument, "bad x-amz-copy-source"};
  std::string_view s = decoded;
  if (s.starts_with("/")) s.remove_prefix(1);
  size_t slash = s.find('/');
  if (slash == std::string_view::npos || slash + 1 >= s.size()) {
    co_return S3Error{S3Err::kInvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"};
  }
  std::string bucket(s.substr(0, slash));
  *key = std::string(s.substr(slash + 1));
  if (!valid_bucket_name(bucket)) co_return S3Error{S3Err::kInvalidBucketName, ""};
  auto sb = co_await store_->get_bucket(bucket);
  if (!sb.ok()) co_return not_found(sb.status(), S3Err::kNoSuchBucket);
  *b = std::move(*sb);
  Result<ObjectEntry> se = Status::NotFound("");
  if (src_version.empty()) {
    se = co_await store_->get_entry(*b, *key, true);
  } else {
    se = co_await store_->get_version(*b, *key, src_version, true);
  }
  const bool readable = b->owner == c.user || b->acl == "public-read" || b->acl == "public-read-write";
  if (!se.ok()) {
    if (!readable) co_return S3Error{S3Err::kAccessDenied, ""};
    if (!src_version.empty()) co_return not_found(se.status(), S3Err::kNoSuchVersion);
    co_return not_found(se.status(), S3Err::kNoSuchKey);
  }
  if (se->delete_marker) {
    co_return S3Error{S3Err::kInvalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id."};
  }
  c.copy_source_version = src_version;
  if (!readable && se->acl != "public-read") co_return S3Error{S3Err::kAccessDenied, ""};
  *e = std::move(*se);
  co_return check_conditions(c.req, *e, "x-amz-copy-source-");
}

awaitable<MaybeError> Gateway::copy_data(const BucketInfo& src_bucket, const ObjectEntry& src,
                                         uint64_t first, uint64_t len, const std::string& dst_bucket_id,
                                         const std::string& inst, std::string* md5_hex) {
  Hasher md5(Hasher::Algo::kMd5);
  std::string buf;
  uint64_t stripes = 0;
  auto flush = [&]() -> awaitable<Status> {
    Status st = co_await store_->write_stripe(dst_bucket_id, inst, stripes, std::move(buf));
    buf.clear();
    ++stripes;
    co_return st;
  };
  MaybeError err;
  if (src.segments.empty()) {
    buf = src.inline_data.substr(first, len);
    md5.update(buf);
  } else {
    for (const ReadPiece& p : plan_reads(src_bucket.id, src, first, len)) {
      auto d = co_await store_->read_piece(p);
      if (!d.ok()) {
        err = from_status(d.status());
        break;
      }
      md5.update(*d);
      std::string_view v = *d;
      while (!v.empty()) {
        size_t n = std::min<size_t>(v.size(), kStripeSize - buf.size());
        buf.append(v.substr(0, n));
        v.remove_prefix(n);
        if (buf.size() == kStripeSize) {
          Status st = co_await flush();
          if (!st.ok()) {
            err = from_status(st);
            break;
          }
        }
      }
      if (err) break;
    }
  }
  if (!err && (!buf.empty() || stripes == 0)) {
    Status st = co_await flush();
    if (!st.ok()) err = from_status(st);
  }
  if (err) {
    std::vector<Segment> drop = one_segment(inst, std::max<uint64_t>(stripes, 1) * kStripeSize);
    co_await store_->remove_segments(dst_bucket_id, std::move(drop));
    co_return err;
  }
  *md5_hex = to_hex(md5.finish());
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::copy_object(ReqCtx& c) {
  if (c.user.empty() || c.user != c.bucket->owner) co_return S3Error{S3Err::kAccessDenied, ""};
  BucketInfo sb;
  std::string skey;
  ObjectEntry src;
  if (auto e = co_await load_copy_source(c, &sb, &skey, &src)) co_return e;
  const std::string* directive = c.header("x-amz-metadata-directive");
  const bool replace = directive && *directive == "REPLACE";
  if (directive && !replace && *directive != "COPY") {
    co_return S3Error{S3Err::kInvalidArgument, "Unknown metadata directive."};
  }
  // Copying a key onto itself changes nothing, unless it restores another
  // version of it.
  if (sb.id == c.bucket->id && skey == c.route.key && !replace && c.copy_source_version.empty()) {
    co_return S3Error{S3Err::kInvalidRequest,
                      "This copy request is illegal because it is trying to copy an object to itself "
                      "without changing the object's metadata, storage class, website redirect "
                      "location or encryption attributes."};
  }
  if (src.size > opts_.max_object_size) co_return S3Error{S3Err::kInvalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120"};
  ObjectEntry e;
  if (replace) {
    if (auto err = entry_from_headers(c.req, &e)) co_return err;
  } else {
    e.content_type = src.content_type;
    e.meta = src.meta;
    e.headers = src.headers;
  }
  if (auto err = canned_acl(c.req, &e.acl)) co_return err;
  e.owner = c.user;
  e.size = src.size;
  e.etag = src.etag;
  e.parts = 0;
  if (src.segments.empty()) {
    e.inline_data = src.inline_data;
    if (src.parts) e.etag = to_hex(md5(src.inline_data));
  } else {
    const std::string inst = new_instance_id();
    std::string md5h;
    if (auto err = co_await copy_data(sb, src, 0, src.size, c.bucket->id, inst, &md5h)) co_return err;
    e.segments.push_back({inst, src.size});
    e.etag = md5h;  // a copy is a simple object: plain MD5 ETag
  }
  e.mtime_ms = wall_ms();
  std::vector<Segment> segs = e.segments;
  const std::string etag = e.etag;
  const int64_t mtime = e.mtime_ms;
  auto vid = co_await store_->put_entry(*c.bucket, c.route.key, std::move(e));
  if (!vid.ok()) {
    co_await store_->remove_segments(c.bucket->id, segs);
    co_return from_status(vid.status());
  }
  XmlWriter w("CopyObjectResult");
  w.elem("LastModified", iso8601_ms(mtime));
  w.elem("ETag", quote_etag(etag));
  std::vector<std::pair<std::string, std::string>> extra;
  if (!vid->empty()) extra.emplace_back("x-amz-version-id", *vid);
  if (!c.copy_source_version.empty()) extra.emplace_back("x-amz-copy-source-version-id", c.copy_source_version);
  co_return co_await send_xml_with(c, 200, w.finish(), std::move(extra));
}

}  // namespace cairn::rgw
