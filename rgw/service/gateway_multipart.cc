// Multipart uploads: parts are stored as their own stripes and the completed
// object's index entry lists them as segments (no data is copied).
#include <charconv>

#include "rgw/core/xml.h"
#include "rgw/service/gateway.h"

namespace cairn::rgw {

using boost::asio::awaitable;

namespace {

MaybeError upload_id_param(const ReqCtx& c, std::string* id) {
  const std::string* v = c.param("uploadId");
  if (!v || v->empty() || v->size() > 64) return S3Error{S3Err::kNoSuchUpload, ""};
  for (char ch : *v) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) return S3Error{S3Err::kNoSuchUpload, ""};
  }
  *id = *v;
  return std::nullopt;
}

bool parse_uint(std::string_view s, uint64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

void owner_xml(XmlWriter& w, const char* tag, const std::string& owner) {
  w.open(tag);
  w.elem("ID", owner);
  w.elem("DisplayName", owner);
  w.close();
}

}  // namespace

awaitable<MaybeError> Gateway::create_multipart(ReqCtx& c) {
  if (c.user.empty() || c.user != c.bucket->owner) co_return S3Error{S3Err::kAccessDenied, ""};
  UploadInfo u;
  u.key = c.route.key;
  u.upload_id = new_instance_id() + new_instance_id();
  u.initiated_ms = wall_ms();
  if (auto e = entry_from_headers(c.req, &u.proto)) co_return e;
  if (auto e = canned_acl(c.req, &u.proto.acl)) co_return e;
  u.proto.owner = c.user;
  Status st = co_await store_->create_upload(*c.bucket, u);
  if (!st.ok()) co_return from_status(st);
  XmlWriter w("InitiateMultipartUploadResult");
  w.elem("Bucket", c.bucket->name);
  w.elem("Key", u.key);
  w.elem("UploadId", u.upload_id);
  co_return co_await send_xml(c, 200, w.finish());
}

awaitable<MaybeError> Gateway::upload_part(ReqCtx& c, bool copy) {
  if (c.user.empty() || c.user != c.bucket->owner) co_return S3Error{S3Err::kAccessDenied, ""};
  std::string upload_id;
  if (auto e = upload_id_param(c, &upload_id)) co_return e;
  uint64_t number = 0;
  if (!parse_uint(*c.param("partNumber"), &number) || number < 1 || number > 10000) {
    co_return S3Error{S3Err::kInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"};
  }
  auto up = co_await store_->get_upload(*c.bucket, c.route.key, upload_id);
  if (!up.ok()) co_return not_found(up.status(), S3Err::kNoSuchUpload);
  PartInfo p;
  p.number = static_cast<uint32_t>(number);
  p.inst = new_instance_id();
  if (copy) {
    BucketInfo sb;
    std::string skey;
    ObjectEntry src;
    if (auto e = co_await load_copy_source(c, &sb, &skey, &src)) co_return e;
    uint64_t first = 0, len = src.size;
    if (const std::string* r = c.header("x-amz-copy-source-range")) {
      ByteRange br;
      std::string_view rv = *r;
      size_t dash = rv.find('-');
      uint64_t a = 0, b = 0;
      if (!rv.starts_with("bytes=") || dash == std::string_view::npos ||
          !parse_uint(rv.substr(6, dash - 6), &a) || !parse_uint(rv.substr(dash + 1), &b) || b < a) {
        co_return S3Error{S3Err::kInvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"};
      }
      if (b >= src.size) {
        co_return S3Error{S3Err::kInvalidRange, ""};
      }
      (void)br;
      first = a;
      len = b - a + 1;
    }
    if (len > opts_.max_object_size) co_return S3Error{S3Err::kEntityTooLarge, ""};
    if (auto e = co_await copy_data(sb, src, first, len, c.bucket->id, p.inst, &p.etag)) co_return e;
    p.size = len;
  } else {
    ObjectEntry tmp;
    if (auto e = co_await store_body(c, p.inst, false, &tmp)) co_return e;
    p.size = tmp.size;
    p.etag = tmp.etag;
  }
  p.mtime_ms = wall_ms();
  const PartInfo done = p;
  Status st = co_await store_->put_part(*c.bucket, upload_id, p);
  if (!st.ok()) {
    std::vector<Segment> drop = one_segment(done.inst, done.size);
    co_await store_->remove_segments(c.bucket->id, std::move(drop));
    co_return from_status(st);
  }
  if (copy) {
    XmlWriter w("CopyPartResult");
    w.elem("LastModified", iso8601_ms(done.mtime_ms));
    w.elem("ETag", quote_etag(done.etag));
    co_return co_await send_xml(c, 200, w.finish());
  }
  HttpResponse r;
  r.set("ETag", quote_etag(done.etag));
  r.set("x-amz-request-id", c.request_id);
  (void)co_await c.ex.send(std::move(r));
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::complete_multipart(ReqCtx& c) {
  if (c.user.empty() || c.user != c.bucket->owner) co_return S3Error{S3Err::kAccessDenied, ""};
  std::string upload_id;
  if (auto e = upload_id_param(c, &upload_id)) co_return e;
  std::string body;
  if (auto e = co_await read_small_body(c, 4 << 20, &body)) co_return e;
  auto up = co_await store_->get_upload(*c.bucket, c.route.key, upload_id);
  if (!up.ok()) co_return not_found(up.status(), S3Err::kNoSuchUpload);
  auto x = parse_xml(body);
  if (!x || x->name != "CompleteMultipartUpload") co_return S3Error{S3Err::kMalformedXML, ""};
  auto req_parts = x->children_named("Part");
  if (req_parts.empty() || req_parts.size() > 10000) co_return S3Error{S3Err::kMalformedXML, ""};
  auto stored = co_await store_->list_parts(*c.bucket, upload_id);
  if (!stored.ok()) co_return from_status(stored.status());
  std::map<uint32_t, PartInfo> by_number;
  for (PartInfo& p : *stored) by_number[p.number] = std::move(p);

  ObjectEntry e = up->proto;
  std::vector<std::string> md5s;
  std::vector<std::string> keep;
  uint64_t last_number = 0;
  uint64_t total = 0;
  for (size_t i = 0; i < req_parts.size(); ++i) {
    uint64_t n = 0;
    if (!parse_uint(req_parts[i]->child_text("PartNumber"), &n)) co_return S3Error{S3Err::kMalformedXML, ""};
    if (n <= last_number) co_return S3Error{S3Err::kInvalidPartOrder, ""};
    last_number = n;
    auto it = by_number.find(static_cast<uint32_t>(n));
    if (it == by_number.end() || unquote_etag(req_parts[i]->child_text("ETag")) != it->second.etag) {
      co_return S3Error{S3Err::kInvalidPart, ""};
    }
    const PartInfo& p = it->second;
    if (i + 1 < req_parts.size() && p.size < opts_.min_part_size) {
      co_return S3Error{S3Err::kEntityTooSmall, ""};
    }
    md5s.push_back(p.etag);
    keep.push_back(p.inst);
    if (p.size > 0) e.segments.push_back({p.inst, p.size});
    total += p.size;
  }
  e.size = total;
  e.etag = multipart_etag(md5s);
  e.parts = static_cast<uint32_t>(req_parts.size());
  e.mtime_ms = wall_ms();
  e.inline_data.clear();
  const std::string etag = e.etag;
  auto vid = co_await store_->put_entry(*c.bucket, c.route.key, std::move(e));
  if (!vid.ok()) co_return from_status(vid.status());
  Status st = co_await store_->finish_upload(*c.bucket, c.route.key, upload_id, keep);
  if (!st.ok()) co_return from_status(st);
  XmlWriter w("CompleteMultipartUploadResult");
  const std::string* host = c.header("host");
  std::string location = "http://";
  if (host) {
    location += *host;
  } else {
    location += "localhost";
  }
  location += "/" + c.bucket->name + "/" + uri_encode(c.route.key, true);
  w.elem("Location", location);
  w.elem("Bucket", c.bucket->name);
  w.elem("Key", c.route.key);
  w.elem("ETag", quote_etag(etag));
  std::vector<std::pair<std::string, std::string>> extra;
  if (!vid->empty()) extra.emplace_back("x-amz-version-id", *vid);
  co_return co_await send_xml_with(c, 200, w.finish(), std::move(extra));
}

awaitable<MaybeError> Gateway::abort_multipart(ReqCtx& c) {
  if (c.user.empty() || c.user != c.bucket->owner) co_return S3Error{S3Err::kAccessDenied, ""};
  std::string upload_id;
  if (auto e = upload_id_param(c, &upload_id)) co_return e;
  auto up = co_await store_->get_upload(*c.bucket, c.route.key, upload_id);
  if (!up.ok()) co_return not_found(up.status(), S3Err::kNoSuchUpload);
  Status st = co_await store_->finish_upload(*c.bucket, c.route.key, upload_id, {});
  if (!st.ok()) co_return from_status(st);
  HttpResponse r;
  r.status = 204;
  r.set("x-amz-request-id", c.request_id);
  (void)co_await c.ex.send(std::move(r));
  co_return std::nullopt;
}

awaitable<MaybeError> Gateway::list_parts(ReqCtx& c) {
  if (c.user.empty() || c.user != c.bucket->owner) co_return S3Error{S3Err::kAccessDenied, ""};
  std::string upload_id;
  if (auto e = upload_id_param(c, &upload_id)) co_return e;
  auto up = co_await store_->get_upload(*c.bucket, c.route.key, upload_id);
  if (!up.ok()) co_return not_found(up.status(), S3Err::kNoSuchUpload);
  uint64_t marker = 0, max = 1000;
  if (const std::string* v = c.param("part-number-marker"); v && !parse_uint(*v, &marker)) {
    co_return S3Error{S3Err::kInvalidArgument, "bad part-number-marker"};
  }
  if (const std::string* v = c.param("max-parts"); v && !parse_uint(*v, &max)) {
    co_return S3Error{S3Err::kInvalidArgument, "bad max-parts"};
  }
  max = std::min<uint64_t>(max, 1000);
  auto parts = co_await store_->list_parts(*c.bucket, upload_id);
  if (!parts.ok()) co_return from_status(parts.status());
  XmlWriter w("ListPartsResult");
  w.elem("Bucket", c.bucket->name);
  w.elem("Key", c.route.key);
  w.elem("UploadId", upload_id);
  owner_xml(w, "Initiator", up->proto.owner);
  owner_xml(w, "Owner", up->proto.owner);
  w.elem("StorageClass", "STANDARD");
  w.elem("PartNumberMarker", marker);
  uint64_t count = 0, next = marker;
  bool truncated = false;
  std::string parts_xml;
  for (const PartInfo& p : *parts) {
    if (p.number <= marker) continue;
    if (count == max) {
      truncated = true;
      break;
    }
    ++count;
    next = p.number;
  }
  w.elem("NextPartNumberMarker", next);
  w.elem("MaxParts", max);
  w.elem_bool("IsTruncated", truncated);
  count = 0;
  for (const PartInfo& p : *parts) {
    if (p.number <= marker) continue;
    if (count++ == max) break;
    w.open("Part");
    w.elem("PartNumber", p.number);
    w.elem("LastModified", iso8601_ms(p.mtime_ms));
    w.elem("ETag", quote_etag(p.etag));
    w.elem("Size", p.size);
    w.close();
  }
  co_return co_await send_xml(c, 200, w.finish());
}

awaitable<MaybeError> Gateway::list_uploads(ReqCtx& c) {
  if (c.user.empty() || c.user != c.bucket->owner) co_return S3Error{S3Err::kAccessDenied, ""};
  std::string prefix, key_marker;
  if (const std::string* v = c.param("prefix")) prefix = *v;
  if (const std::string* v = c.param("key-marker")) key_marker = *v;
  uint64_t max = 1000;
  if (const std::string* v = c.param("max-uploads"); v && !parse_uint(*v, &max)) {
    co_return S3Error{S3Err::kInvalidArgument, "bad max-uploads"};
  }
  max = std::min<uint64_t>(max, 1000);
  bool truncated = false;
  auto ups = co_await store_->list_uploads(*c.bucket, prefix, key_marker, static_cast<uint32_t>(max), &truncated);
  if (!ups.ok()) co_return from_status(ups.status());
  XmlWriter w("ListMultipartUploadsResult");
  w.elem("Bucket", c.bucket->name);
  w.elem("KeyMarker", key_marker);
  w.elem("UploadIdMarker", "");
  if (ups->empty()) {
    w.elem("NextKeyMarker", "");
    w.elem("NextUploadIdMarker", "");
  } else {
    w.elem("NextKeyMarker", ups->back().key);
    w.elem("NextUploadIdMarker", ups->back().upload_id);
  }
  if (!prefix.empty()) w.elem("Prefix", prefix);
  w.elem("MaxUploads", max);
  w.elem_bool("IsTruncated", truncated);
  for (const UploadInfo& u : *ups) {
    w.open("Upload");
    w.elem("Key", u.key);
    w.elem("UploadId", u.upload_id);
    owner_xml(w, "Initiator", u.proto.owner);
    owner_xml(w, "Owner", u.proto.owner);
    w.elem("StorageClass", "STANDARD");
    w.elem("Initiated", iso8601_ms(u.initiated_ms));
    w.close();
  }
  co_return co_await send_xml(c, 200, w.finish());
}

}  // namespace cairn::rgw
