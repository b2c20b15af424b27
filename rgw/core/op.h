// Request -> S3 operation: which API call an HTTP request is, on which
// bucket and key. Pure: the shell hands in method, decoded path, query and
// Host, and gets an S3Op or the S3 error to answer with.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "rgw/core/errors.h"
#include "rgw/core/http_util.h"

namespace cairn::rgw {

enum class S3Op {
  kListBuckets,
  kCreateBucket,
  kDeleteBucket,
  kHeadBucket,
  kGetBucketLocation,
  kGetBucketVersioning,
  kPutBucketVersioning,
  kGetBucketAcl,
  kPutBucketAcl,
  kListObjects,
  kListObjectsV2,
  kListObjectVersions,
  kListMultipartUploads,
  kDeleteObjects,
  kPutObject,
  kCopyObject,
  kGetObject,
  kHeadObject,
  kDeleteObject,
  kGetObjectAcl,
  kPutObjectAcl,
  kCreateMultipartUpload,
  kUploadPart,
  kUploadPartCopy,
  kCompleteMultipartUpload,
  kAbortMultipartUpload,
  kListParts,
  kGetBucketPolicy,
  kPutBucketPolicy,
  kDeleteBucketPolicy,
  kLast = kDeleteBucketPolicy,
};

std::string_view op_name(S3Op op);  // "GetObject"

struct S3Route {
  S3Op op = S3Op::kListBuckets;
  std::string bucket;  // empty for ListBuckets
  std::string key;     // empty for bucket operations
};

// domain: the gateway's DNS name for virtual-hosted-style requests
// ("s3.example.com": Host "b.s3.example.com" names bucket "b"); empty means
// path style only. headers_has_copy_source: x-amz-copy-source present.
// Errors: MethodNotAllowed, NotImplemented (subresources we do not serve),
// InvalidBucketName, KeyTooLongError, InvalidArgument (a key with bytes 0x00 or
// 0x01: they would break the index order of versions, see model.h).
std::optional<S3Error> route_request(std::string_view method, std::string_view path,
                                     const QueryParams& query, std::string_view host,
                                     std::string_view domain, bool has_copy_source,
                                     S3Route* out);

// S3 bucket naming rules (3-63 chars of a-z 0-9 . -, starting and ending with
// a letter or digit, no "..", not an IP address).
bool valid_bucket_name(std::string_view name);
inline constexpr size_t kMaxKeyBytes = 1024;

}  // namespace cairn::rgw
