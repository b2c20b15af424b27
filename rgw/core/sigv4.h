// AWS Signature Version 4 for S3, as a pure core: parse the credentials of a
// request (Authorization header or presigned query), build the canonical
// request and string to sign, verify, and decode aws-chunked streaming bodies
// with per-chunk signatures. The caller supplies the secret and the clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rgw/core/crypto.h"
#include "rgw/core/errors.h"
#include "rgw/core/http_util.h"

namespace cairn::rgw {

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kStreamingSigned = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
inline constexpr std::string_view kStreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
inline constexpr std::string_view kStreamingSignedTrailer =
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
inline constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// How far a header-signed request's x-amz-date may be from our clock.
inline constexpr int64_t kMaxSkewSeconds = 15 * 60;

// What SigV4 reads from an HTTP request.
struct SigV4Request {
  std::string method;
  std::string path;    // decoded, e.g. "/bucket/my key"
  QueryParams query;   // decoded, in arrival order
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercase
  const std::string* header(std::string_view lname) const;
};

struct SigV4Credentials {
  bool presigned = false;
  std::string access_key;
  std::string date;     // "20130524" (credential scope)
  std::string region;   // "us-east-1"
  std::string service;  // "s3"
  std::vector<std::string> signed_headers;  // lowercase, as listed
  std::string signature;                    // hex
  std::string amz_date;                     // "20130524T000000Z"
  int64_t expires_s = 0;                    // presigned only
  std::string payload_hash;                 // hex, UNSIGNED-PAYLOAD, STREAMING-...
  std::string scope() const;                // "20130524/us-east-1/s3/aws4_request"
};

// How the request authenticates itself.
enum class AuthKind { kAnonymous, kHeader, kPresigned, kOther };
AuthKind auth_kind(const SigV4Request& req);

// Parses the Authorization header (plus x-amz-date/date and
// x-amz-content-sha256) or the X-Amz-* query parameters.
std::optional<S3Error> parse_credentials(const SigV4Request& req, SigV4Credentials* out);

std::string canonical_request(const SigV4Request& req, const SigV4Credentials& c);
std::string string_to_sign(const SigV4Credentials& c, std::string_view canonical);
std::string signing_key(std::string_view secret, std::string_view date, std::string_view region,
                        std::string_view service);

// Verifies the signature and the request time against now_s. Errors:
// SignatureDoesNotMatch, RequestTimeTooSkewed, AccessDenied (expired presign),
// AuthorizationHeaderMalformed. REQUIRES: parse_credentials succeeded.
std::optional<S3Error> verify_signature(const SigV4Request& req, const SigV4Credentials& c,
                                        std::string_view secret, int64_t now_s);

// The signature of one aws-chunked chunk whose data hashes to chunk_sha256_hex.
std::string chunk_signature(std::string_view key, const SigV4Credentials& c,
                            std::string_view prev_signature, std::string_view chunk_sha256_hex);

// Streaming decoder for Content-Encoding: aws-chunked bodies:
//   hex-size[;chunk-signature=SIG]\r\n DATA \r\n ... 0[;chunk-signature=SIG]\r\n [trailers] \r\n
// With a signing key every chunk's signature is checked (seeded by the
// request signature); without one (STREAMING-UNSIGNED-PAYLOAD-TRAILER) the
// chunks are unsigned. Trailing headers are accepted and not verified.
// Memory is bounded: only the current chunk header line is buffered.
class AwsChunkedDecoder {
 public:
  AwsChunkedDecoder() = default;
  // key empty: unsigned chunks.
  AwsChunkedDecoder(std::string key, SigV4Credentials creds);
  // Consumes in; appends decoded payload to *out. Error: IncompleteBody (bad
  // framing) or SignatureDoesNotMatch. Bytes after the end are an error.
  std::optional<S3Error> feed(std::string_view in, std::string* out);
  bool done() const { return state_ == State::kDone; }
  uint64_t decoded_bytes() const { return decoded_; }

 private:
  enum class State { kHeader, kData, kDataCrlf, kTrailer, kDone };
  std::optional<S3Error> on_header_line();
  std::optional<S3Error> finish_chunk();

  std::string key_;
  SigV4Credentials creds_;
  std::string prev_sig_;
  State state_ = State::kHeader;
  std::string line_;
  uint64_t remaining_ = 0;
  uint64_t chunk_size_ = 0;
  std::string expected_sig_;
  std::optional<Hasher> hasher_;
  uint64_t decoded_ = 0;
};

}  // namespace cairn::rgw
