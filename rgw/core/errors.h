// S3 error codes: the one place where gateway failures become S3's
// (code, HTTP status, message) triples, and cairn Status codes map to them.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace cairn::rgw {

enum class S3Err {
  kAccessDenied,
  kBadDigest,
  kBucketAlreadyExists,
  kBucketAlreadyOwnedByYou,
  kBucketNotEmpty,
  kEntityTooLarge,
  kEntityTooSmall,
  kIncompleteBody,
  kInternalError,
  kInvalidAccessKeyId,
  kInvalidArgument,
  kInvalidBucketName,
  kInvalidDigest,
  kInvalidPart,
  kInvalidPartOrder,
  kInvalidRange,
  kInvalidRequest,
  kKeyTooLong,
  kMalformedXML,
  kMethodNotAllowed,
  kMissingContentLength,
  kNoSuchBucket,
  kNoSuchKey,
  kNoSuchUpload,
  kNotImplemented,
  kNotModified,
  kPreconditionFailed,
  kRequestTimeTooSkewed,
  kRequestTimeout,
  kServiceUnavailable,
  kSignatureDoesNotMatch,
  kXAmzContentSHA256Mismatch,
  kAuthorizationHeaderMalformed,
  kMetadataTooLarge,
  kRequestHeaderSectionTooLarge,
  kNoSuchVersion,
  kMalformedPolicy,
  kNoSuchBucketPolicy,
};

struct S3ErrInfo {
  std::string_view code;     // "NoSuchKey"
  int http_status;           // 404
  std::string_view message;  // S3's default message
};

const S3ErrInfo& s3_err_info(S3Err e);

// A failure on its way to the client: which S3 error, plus optional detail
// that replaces the default message.
struct S3Error {
  S3Err err = S3Err::kInternalError;
  std::string detail;
};

// Cluster errors that reach the gateway: NotFound stays the caller's to map
// (NoSuchKey vs NoSuchBucket), the rest become 500/503.
S3Error from_status(const Status& st);

}  // namespace cairn::rgw
