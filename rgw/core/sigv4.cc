#include "rgw/core/sigv4.h"

#include <algorithm>
#include <cstdlib>

namespace cairn::rgw {

const std::string* SigV4Request::header(std::string_view lname) const {
  for (const auto& [k, v] : headers) {
    if (k == lname) return &v;
  }
  return nullptr;
}

std::string SigV4Credentials::scope() const {
  return date + "/" + region + "/" + service + "/aws4_request";
}

AuthKind auth_kind(const SigV4Request& req) {
  if (const std::string* a = req.header("authorization")) {
    return a->starts_with("AWS4-HMAC-SHA256 ") ? AuthKind::kHeader : AuthKind::kOther;
  }
  if (find_param(req.query, "X-Amz-Signature") || find_param(req.query, "X-Amz-Credential")) {
    return AuthKind::kPresigned;
  }
  if (find_param(req.query, "Signature") || find_param(req.query, "AWSAccessKeyId")) {
    return AuthKind::kOther;
  }
  return AuthKind::kAnonymous;
}

namespace {

S3Error malformed(std::string why) { return {S3Err::kAuthorizationHeaderMalformed, std::move(why)}; }

std::optional<S3Error> parse_credential(std::string_view cred, SigV4Credentials* out) {
  // AK/DATE/REGION/SERVICE/aws4_request; the access key itself has no '/'.
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t slash = cred.find('/', start);
    parts.emplace_back(cred.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() != 5 || parts[4] != "aws4_request" || parts[1].size() != 8) {
    return malformed("the Credential '" + std::string(cred) + "' is malformed");
  }
  out->access_key = parts[0];
  out->date = parts[1];
  out->region = parts[2];
  out->service = parts[3];
  return std::nullopt;
}

std::vector<std::string> split_semicolons(std::string_view s) {
  std::vector<std::string> r;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(';', start);
    r.emplace_back(s.substr(start, p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return r;
}

}  // namespace

std::optional<S3Error> parse_credentials(const SigV4Request& req, SigV4Credentials* out) {
  *out = SigV4Credentials{};
  if (const std::string* auth = req.header("authorization")) {
    std::string_view a = *auth;
    if (!a.starts_with("AWS4-HMAC-SHA256 ")) {
      return S3Error{S3Err::kInvalidArgument, "only AWS4-HMAC-SHA256 signatures are supported"};
    }
    a.remove_prefix(17);
    bool have_cred = false, have_sh = false, have_sig = false;
    while (!a.empty()) {
      size_t comma = a.find(',');
      std::string_view item = a.substr(0, comma);
      a = comma == std::string_view::npos ? std::string_view() : a.substr(comma + 1);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      size_t eq = item.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view k = item.substr(0, eq), v = item.substr(eq + 1);
      if (k == "Credential") {
        if (auto e = parse_credential(v, out)) return e;
        have_cred = true;
      } else if (k == "SignedHeaders") {
        out->signed_headers = split_semicolons(v);
        have_sh = true;
      } else if (k == "Signature") {
        out->signature = std::string(v);
        have_sig = true;
      }
    }
    if (!have_cred || !have_sh || !have_sig) {
      return malformed("the authorization header lacks Credential, SignedHeaders or Signature");
    }
    if (const std::string* d = req.header("x-amz-date")) {
      out->amz_date = *d;
    } else if (const std::string* d2 = req.header("date")) {
      auto t = parse_http_date(*d2);
      if (!t) return S3Error{S3Err::kAccessDenied, "AWS authentication requires a valid Date or x-amz-date header"};
      out->amz_date = amz_date(*t);
    } else {
      return S3Error{S3Err::kAccessDenied, "AWS authentication requires a valid Date or x-amz-date header"};
    }
    const std::string* ph = req.header("x-amz-content-sha256");
    out->payload_hash = ph ? *ph : std::string(kUnsignedPayload);
    if (!ph) {
      return S3Error{S3Err::kInvalidRequest, "Missing required header for this request: x-amz-content-sha256"};
    }
    return std::nullopt;
  }
  // Presigned.
  out->presigned = true;
  auto get = [&](std::string_view k) -> const std::string* { return find_param(req.query, k); };
  const std::string* alg = get("X-Amz-Algorithm");
  const std::string* cred = get("X-Amz-Credential");
  const std::string* date = get("X-Amz-Date");
  const std::string* exp = get("X-Amz-Expires");
  const std::string* sh = get("X-Amz-SignedHeaders");
  const std::string* sig = get("X-Amz-Signature");
  if (!alg || *alg != "AWS4-HMAC-SHA256" || !cred || !date || !sh || !sig) {
    return S3Error{S3Err::kAuthorizationHeaderMalformed, "query-string authentication requires X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders and X-Amz-Signature"};
  }
  if (auto e = parse_credential(*cred, out)) return e;
  out->amz_date = *date;
  out->signed_headers = split_semicolons(*sh);
  out->signature = *sig;
  out->expires_s = 604800;
  if (exp) {
    char* end = nullptr;
    long v = std::strtol(exp->c_str(), &end, 10);
    if (end == exp->c_str() || *end != '\0' || v < 1 || v > 604800) {
      return S3Error{S3Err::kAuthorizationHeaderMalformed, "X-Amz-Expires must be between 1 and 604800 seconds"};
    }
    out->expires_s = v;
  }
  const std::string* ph = req.header("x-amz-content-sha256");
  out->payload_hash = ph ? *ph : std::string(kUnsignedPayload);
  return std::nullopt;
}

std::string canonical_request(const SigV4Request& req, const SigV4Credentials& c) {
  std::string out = req.method + "\n";
  out += uri_encode(req.path.empty() ? "/" : req.path, /*keep_slash=*/true) + "\n";
  std::vector<std::pair<std::string, std::string>> q;
  for (const auto& [k, v] : req.query) {
    if (c.presigned && k == "X-Amz-Signature") continue;
    q.emplace_back(uri_encode(k), uri_encode(v));
  }
  std::sort(q.begin(), q.end());
  for (size_t i = 0; i < q.size(); ++i) {
    if (i) out += '&';
    out += q[i].first + "=" + q[i].second;
  }
  out += "\n";
  for (const std::string& h : c.signed_headers) {
    std::string value;
    bool first = true;
    for (const auto& [k, v] : req.headers) {
      if (k != h) continue;
      if (!first) value += ',';
      value += trim_collapse(v);
      first = false;
    }
    out += h + ":" + value + "\n";
  }
  out += "\n";
  for (size_t i = 0; i < c.signed_headers.size(); ++i) {
    if (i) out += ';';
    out += c.signed_headers[i];
  }
  out += "\n";
  out += c.presigned && !req.header("x-amz-content-sha256") ? std::string(kUnsignedPayload)
                                                            : c.payload_hash;
  return out;
}

std::string string_to_sign(const SigV4Credentials& c, std::string_view canonical) {
  return "AWS4-HMAC-SHA256\n" + c.amz_date + "\n" + c.scope() + "\n" + sha256_hex(canonical);
}

std::string signing_key(std::string_view secret, std::string_view date, std::string_view region,
                        std::string_view service) {
  std::string k = hmac_sha256("AWS4" + std::string(secret), date);
  k = hmac_sha256(k, region);
  k = hmac_sha256(k, service);
  return hmac_sha256(k, "aws4_request");
}

namespace {
bool constant_time_eq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}
}  // namespace

std::optional<S3Error> verify_signature(const SigV4Request& req, const SigV4Credentials& c,
                                        std::string_view secret, int64_t now_s) {
  auto t = parse_amz_date(c.amz_date);
  if (!t) return S3Error{S3Err::kAccessDenied, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""};
  if (c.amz_date.substr(0, 8) != c.date) {
    return malformed("the credential date does not match the request date");
  }
  if (c.presigned) {
    if (now_s < *t - kMaxSkewSeconds) {
      return S3Error{S3Err::kRequestTimeTooSkewed, ""};
    }
    if (now_s > *t + c.expires_s) return S3Error{S3Err::kAccessDenied, "Request has expired"};
  } else if (std::llabs(now_s - *t) > kMaxSkewSeconds) {
    return S3Error{S3Err::kRequestTimeTooSkewed, ""};
  }
  bool host_signed =
      std::find(c.signed_headers.begin(), c.signed_headers.end(), "host") != c.signed_headers.end();
  if (!host_signed) return malformed("the host header must be signed");
  std::string key = signing_key(secret, c.date, c.region, c.service);
  std::string expect = to_hex(hmac_sha256(key, string_to_sign(c, canonical_request(req, c))));
  if (!constant_time_eq(expect, c.signature)) return S3Error{S3Err::kSignatureDoesNotMatch, ""};
  return std::nullopt;
}

std::string chunk_signature(std::string_view key, const SigV4Credentials& c,
                            std::string_view prev_signature, std::string_view chunk_sha256_hex) {
  std::string sts = "AWS4-HMAC-SHA256-PAYLOAD\n" + c.amz_date + "\n" + c.scope() + "\n" +
                    std::string(prev_signature) + "\n" + std::string(kEmptySha256) + "\n" +
                    std::string(chunk_sha256_hex);
  return to_hex(hmac_sha256(key, sts));
}

// ---- AwsChunkedDecoder ----

AwsChunkedDecoder::AwsChunkedDecoder(std::string key, SigV4Credentials creds)
    : key_(std::move(key)), creds_(std::move(creds)), prev_sig_(creds_.signature) {}

namespace {
constexpr size_t kMaxChunkLine = 4096;
constexpr uint64_t kMaxChunkSize = 64ull << 20;
S3Error incomplete(std::string why) { return {S3Err::kIncompleteBody, std::move(why)}; }
}  // namespace

std::optional<S3Error> AwsChunkedDecoder::on_header_line() {
  std::string_view l = line_;
  size_t semi = l.find(';');
  std::string_view hex = l.substr(0, semi);
  if (hex.empty() || hex.size() > 16) return incomplete("bad aws-chunked chunk header");
  uint64_t size = 0;
  for (char ch : hex) {
    int v = ch >= '0' && ch <= '9'   ? ch - '0'
            : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
            : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                     : -1;
    if (v < 0) return incomplete("bad aws-chunked chunk size");
    size = size * 16 + static_cast<uint64_t>(v);
  }
  if (size > kMaxChunkSize) return incomplete("aws-chunked chunk too large");
  expected_sig_.clear();
  if (semi != std::string_view::npos) {
    std::string_view ext = l.substr(semi + 1);
    if (ext.starts_with("chunk-signature=")) expected_sig_ = std::string(ext.substr(16));
  }
  if (!key_.empty() && expected_sig_.empty()) {
    return S3Error{S3Err::kSignatureDoesNotMatch, "chunk without a signature"};
  }
  chunk_size_ = size;
  remaining_ = size;
  hasher_.emplace(Hasher::Algo::kSha256);
  line_.clear();
  if (size == 0) {
    if (auto e = finish_chunk()) return e;
    state_ = State::kTrailer;
  } else {
    state_ = State::kData;
  }
  return std::nullopt;
}

std::optional<S3Error> AwsChunkedDecoder::finish_chunk() {
  std::string h = to_hex(hasher_->finish());
  hasher_.reset();
  if (key_.empty()) return std::nullopt;
  std::string sig = chunk_signature(key_, creds_, prev_sig_, h);
  if (sig != expected_sig_) return S3Error{S3Err::kSignatureDoesNotMatch, "chunk signature mismatch"};
  prev_sig_ = sig;
  return std::nullopt;
}

std::optional<S3Error> AwsChunkedDecoder::feed(std::string_view in, std::string* out) {
  while (!in.empty()) {
    switch (state_) {
      case State::kHeader:
      case State::kTrailer: {
        size_t nl = in.find('\n');
        std::string_view part = in.substr(0, nl);
        line_ += part;
        if (line_.size() > kMaxChunkLine) return incomplete("aws-chunked header line too long");
        if (nl == std::string_view::npos) return std::nullopt;
        in.remove_prefix(nl + 1);
        if (line_.empty() || line_.back() != '\r') return incomplete("aws-chunked line without CRLF");
        line_.pop_back();
        if (state_ == State::kHeader) {
          if (auto e = on_header_line()) return e;
        } else {
          // Trailer lines until an empty one.
          if (line_.empty()) state_ = State::kDone;
          line_.clear();
        }
        break;
      }
      case State::kData: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
        hasher_->update(in.substr(0, n));
        out->append(in.data(), n);
        decoded_ += n;
        remaining_ -= n;
        in.remove_prefix(n);
        if (remaining_ == 0) {
          if (auto e = finish_chunk()) return e;
          state_ = State::kDataCrlf;
        }
        break;
      }
      case State::kDataCrlf: {
        line_ += in.front();
        in.remove_prefix(1);
        if (line_.size() == 2) {
          if (line_ != "\r\n") return incomplete("aws-chunked data not followed by CRLF");
          line_.clear();
          state_ = State::kHeader;
        }
        break;
      }
      case State::kDone:
        return incomplete("bytes after the last aws-chunked chunk");
    }
  }
  return std::nullopt;
}

}  // namespace cairn::rgw
