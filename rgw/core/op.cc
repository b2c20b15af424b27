#include "rgw/core/op.h"

#include <array>
#include <cctype>

namespace cairn::rgw {

std::string_view op_name(S3Op op) {
  static constexpr std::array<std::string_view, 30> kNames = {
      "ListBuckets",          "CreateBucket",          "DeleteBucket",
      "HeadBucket",           "GetBucketLocation",     "GetBucketVersioning",
      "PutBucketVersioning",  "GetBucketAcl",          "PutBucketAcl",
      "ListObjects",          "ListObjectsV2",         "ListObjectVersions",
      "ListMultipartUploads", "DeleteObjects",         "PutObject",
      "CopyObject",           "GetObject",             "HeadObject",
      "DeleteObject",         "GetObjectAcl",          "PutObjectAcl",
      "CreateMultipartUpload", "UploadPart",           "UploadPartCopy",
      "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts",
      "GetBucketPolicy",      "PutBucketPolicy",       "DeleteBucketPolicy"};
  static_assert(kNames.size() == static_cast<size_t>(S3Op::kLast) + 1);
  return kNames[static_cast<size_t>(op)];
}

bool valid_bucket_name(std::string_view n) {
  if (n.size() < 3 || n.size() > 63) return false;
  for (char c : n) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
          c == '.' || c == '-')) {
      return false;
    }
  }
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(n.front()) || !alnum(n.back())) return false;
  if (n.find("..") != std::string_view::npos || n.find(".-") != std::string_view::npos ||
      n.find("-.") != std::string_view::npos) {
    return false;
  }
  int dots = 0;
  bool all_digits_dots = true;
  for (char c : n) {
    if (c == '.') ++dots;
    else if (!std::isdigit(static_cast<unsigned char>(c))) all_digits_dots = false;
  }
  if (dots == 3 && all_digits_dots) return false;  // looks like an IPv4 address
  return true;
}

namespace {
bool has(const QueryParams& q, std::string_view k) { return find_param(q, k) != nullptr; }
S3Error not_allowed() { return {S3Err::kMethodNotAllowed, ""}; }
}  // namespace

std::optional<S3Error> route_request(std::string_view method, std::string_view path,
                                     const QueryParams& q, std::string_view host,
                                     std::string_view domain, bool has_copy_source,
                                     S3Route* out) {
  *out = S3Route{};
  std::string bucket, key;
  // Virtual-hosted style: BUCKET.domain[:port].
  std::string_view h = host.substr(0, host.rfind(':') == std::string_view::npos ||
                                              host.find(']') != std::string_view::npos
                                          ? host.size()
                                          : host.rfind(':'));
  bool vhost = false;
  if (!domain.empty() && h.size() > domain.size() + 1 && h.ends_with(domain) &&
      h[h.size() - domain.size() - 1] == '.') {
    bucket = std::string(h.substr(0, h.size() - domain.size() - 1));
    vhost = true;
  }
  std::string_view p = path;
  if (!p.starts_with("/")) return S3Error{S3Err::kInvalidRequest, "path must start with /"};
  p.remove_prefix(1);
  if (vhost) {
    key = std::string(p);
  } else {
    size_t slash = p.find('/');
    bucket = std::string(p.substr(0, slash));
    if (slash != std::string_view::npos) key = std::string(p.substr(slash + 1));
  }
  if (bucket.empty()) {
    if (method == "GET") {
      out->op = S3Op::kListBuckets;
      return std::nullopt;
    }
    return not_allowed();
  }
  if (!valid_bucket_name(bucket)) return S3Error{S3Err::kInvalidBucketName, ""};
  out->bucket = bucket;
  if (key.size() > kMaxKeyBytes) return S3Error{S3Err::kKeyTooLong, ""};
  if (key.find_first_of(std::string_view("\x00\x01", 2)) != std::string::npos) {
    return S3Error{S3Err::kInvalidArgument, "object keys may not contain the bytes 0x00 or 0x01"};
  }
  out->key = key;

  // Subresources we do not serve.
  for (const char* sub : {"cors", "lifecycle", "website", "tagging", "logging",
                          "notification", "replication", "encryption", "object-lock",
                          "retention", "legal-hold", "torrent", "restore", "select",
                          "inventory", "metrics", "analytics", "accelerate", "requestPayment",
                          "ownershipControls", "publicAccessBlock", "intelligent-tiering",
                          "attributes"}) {
    if (has(q, sub)) return S3Error{S3Err::kNotImplemented, std::string("?") + sub + " is not supported"};
  }

  if (key.empty()) {
    if (method == "GET") {
      if (has(q, "location")) out->op = S3Op::kGetBucketLocation;
      else if (has(q, "versioning")) out->op = S3Op::kGetBucketVersioning;
      else if (has(q, "acl")) out->op = S3Op::kGetBucketAcl;
      else if (has(q, "uploads")) out->op = S3Op::kListMultipartUploads;
      else if (has(q, "versions")) out->op = S3Op::kListObjectVersions;
      else if (has(q, "policy")) out->op = S3Op::kGetBucketPolicy;
      else if (const std::string* lt = find_param(q, "list-type"); lt && *lt == "2")
        out->op = S3Op::kListObjectsV2;
      else out->op = S3Op::kListObjects;
    } else if (method == "PUT") {
      if (has(q, "versioning")) out->op = S3Op::kPutBucketVersioning;
      else if (has(q, "acl")) out->op = S3Op::kPutBucketAcl;
      else if (has(q, "policy")) out->op = S3Op::kPutBucketPolicy;
      else out->op = S3Op::kCreateBucket;
    } else if (method == "DELETE") {
      out->op = has(q, "policy") ? S3Op::kDeleteBucketPolicy : S3Op::kDeleteBucket;
    } else if (method == "HEAD") {
      out->op = S3Op::kHeadBucket;
    } else if (method == "POST" && has(q, "delete")) {
      out->op = S3Op::kDeleteObjects;
    } else {
      return not_allowed();
    }
    return std::nullopt;
  }

  if (method == "GET") {
    if (has(q, "uploadId")) out->op = S3Op::kListParts;
    else if (has(q, "acl")) out->op = S3Op::kGetObjectAcl;
    else out->op = S3Op::kGetObject;
  } else if (method == "HEAD") {
    out->op = S3Op::kHeadObject;
  } else if (method == "PUT") {
    if (has(q, "acl")) out->op = S3Op::kPutObjectAcl;
    else if (has(q, "partNumber") && has(q, "uploadId"))
      out->op = has_copy_source ? S3Op::kUploadPartCopy : S3Op::kUploadPart;
    else out->op = has_copy_source ? S3Op::kCopyObject : S3Op::kPutObject;
  } else if (method == "DELETE") {
    out->op = has(q, "uploadId") ? S3Op::kAbortMultipartUpload : S3Op::kDeleteObject;
  } else if (method == "POST") {
    if (has(q, "uploads")) out->op = S3Op::kCreateMultipartUpload;
    else if (has(q, "uploadId")) out->op = S3Op::kCompleteMultipartUpload;
    else return not_allowed();
  } else {
    return not_allowed();
  }
  return std::nullopt;
}

}  // namespace cairn::rgw
