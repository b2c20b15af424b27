// Hashes and encodings the S3 gateway needs (OpenSSL underneath): MD5 for
// ETags and Content-MD5, SHA-256 and HMAC-SHA256 for SigV4, hex and base64.
// Pure functions and small incremental hashers; no I/O.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace cairn::rgw {

std::string to_hex(std::string_view bytes);  // lowercase
std::string md5(std::string_view data);      // 16 raw bytes
std::string sha256(std::string_view data);   // 32 raw bytes
std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);  // 32 raw bytes
std::string base64_encode(std::string_view bytes);
// Empty optional-like: returns false if s is not valid base64.
bool base64_decode(std::string_view s, std::string* out);

// Incremental digest (MD5 or SHA-256). Movable, not copyable.
class Hasher {
 public:
  enum class Algo { kMd5, kSha256 };
  explicit Hasher(Algo algo);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  void update(std::string_view data);
  // Raw digest. REQUIRES: called once.
  std::string finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::rgw
