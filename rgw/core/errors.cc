#include "rgw/core/errors.h"

#include "common/status.h"

namespace cairn::rgw {

const S3ErrInfo& s3_err_info(S3Err e) {
  static const S3ErrInfo kTable[] = {
      {"AccessDenied", 403, "Access Denied"},
      {"BadDigest", 400, "The Content-MD5 you specified did not match what we received."},
      {"BucketAlreadyExists", 409,
       "The requested bucket name is not available. The bucket namespace is shared by all users "
       "of the system. Please select a different name and try again."},
      {"BucketAlreadyOwnedByYou", 409,
       "Your previous request to create the named bucket succeeded and you already own it."},
      {"BucketNotEmpty", 409, "The bucket you tried to delete is not empty"},
      {"EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size."},
      {"EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size."},
      {"IncompleteBody", 400,
       "You did not provide the number of bytes specified by the Content-Length HTTP header."},
      {"InternalError", 500, "We encountered an internal error. Please try again."},
      {"InvalidAccessKeyId", 403,
       "The AWS Access Key Id you provided does not exist in our records."},
      {"InvalidArgument", 400, "Invalid Argument"},
      {"InvalidBucketName", 400, "The specified bucket is not valid."},
      {"InvalidDigest", 400, "The Content-MD5 you specified is not valid."},
      {"InvalidPart", 400,
       "One or more of the specified parts could not be found. The part might not have been "
       "uploaded, or the specified entity tag might not have matched the part's entity tag."},
      {"InvalidPartOrder", 400,
       "The list of parts was not in ascending order. The parts list must be specified in order "
       "by part number."},
      {"InvalidRange", 416, "The requested range is not satisfiable"},
      {"InvalidRequest", 400, "Invalid Request"},
      {"KeyTooLongError", 400, "Your key is too long"},
      {"MalformedXML", 400,
       "The XML you provided was not well-formed or did not validate against our published "
       "schema"},
      {"MethodNotAllowed", 405, "The specified method is not allowed against this resource."},
      {"MissingContentLength", 411, "You must provide the Content-Length HTTP header."},
      {"NoSuchBucket", 404, "The specified bucket does not exist"},
      {"NoSuchKey", 404, "The specified key does not exist."},
      {"NoSuchUpload", 404,
       "The specified upload does not exist. The upload ID may be invalid, or the upload may "
       "have been aborted or completed."},
      {"NotImplemented", 501,
       "A header you provided implies functionality that is not implemented"},
      {"NotModified", 304, "Not Modified"},
      {"PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold"},
      {"RequestTimeTooSkewed", 403,
       "The difference between the request time and the current time is too large."},
      {"RequestTimeout", 400,
       "Your socket connection to the server was not read from or written to within the timeout "
       "period."},
      {"ServiceUnavailable", 503, "Please reduce your request rate."},
      {"SignatureDoesNotMatch", 403,
       "The request signature we calculated does not match the signature you provided. Check "
       "your key and signing method."},
      {"XAmzContentSHA256Mismatch", 400,
       "The provided 'x-amz-content-sha256' header does not match what was computed."},
      {"AuthorizationHeaderMalformed", 400, "The authorization header is malformed."},
      {"MetadataTooLarge", 400,
       "Your metadata headers exceed the maximum allowed metadata size."},
      {"RequestHeaderSectionTooLarge", 400,
       "Your request header section exceeds the maximum allowed size."},
      {"NoSuchVersion", 404,
       "The version ID specified in the request does not match an existing version."},
      {"MalformedPolicy", 400, "Policies must be valid JSON and the first byte must be '{'"},
      {"NoSuchBucketPolicy", 404, "The bucket policy does not exist"},
  };
  static_assert(sizeof(kTable) / sizeof(kTable[0]) ==
                static_cast<size_t>(S3Err::kNoSuchBucketPolicy) + 1);
  return kTable[static_cast<size_t>(e)];
}

S3Error from_status(const Status& st) {
  switch (st.code()) {
    case Code::kNotFound:
      return {S3Err::kNoSuchKey, ""};
    case Code::kUnavailable:
    case Code::kTimedOut:
    case Code::kShutdown:
      return {S3Err::kServiceUnavailable, st.message()};
    case Code::kNoSpace:
      return {S3Err::kServiceUnavailable, "cluster is full: " + st.message()};
    case Code::kTooLarge:
      return {S3Err::kEntityTooLarge, ""};
    case Code::kInvalidArgument:
      return {S3Err::kInvalidArgument, st.message()};
    default:
      return {S3Err::kInternalError, ""};
  }
}

}  // namespace cairn::rgw
