#include "rgw/core/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/status.h"

namespace cairn::rgw {

std::string to_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

namespace {
std::string digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  CAIRN_CHECK(EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) == 1);
  return std::string(reinterpret_cast<char*>(out), len);
}
}  // namespace

std::string md5(std::string_view data) { return digest(EVP_md5(), data); }
std::string sha256(std::string_view data) { return digest(EVP_sha256(), data); }
std::string sha256_hex(std::string_view data) { return to_hex(sha256(data)); }

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  CAIRN_CHECK(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                   reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
                   &len) != nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(n);
  return out;
}

bool base64_decode(std::string_view s, std::string* out) {
  if (s.size() % 4 != 0) return false;
  std::string buf(3 * s.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(buf.data()),
                          reinterpret_cast<const unsigned char*>(s.data()),
                          static_cast<int>(s.size()));
  if (n < 0) return false;
  // EVP_DecodeBlock keeps the padding bytes as zeros; drop them.
  size_t pad = 0;
  if (!s.empty() && s.back() == '=') ++pad;
  if (s.size() > 1 && s[s.size() - 2] == '=') ++pad;
  buf.resize(static_cast<size_t>(n) - pad);
  *out = std::move(buf);
  return true;
}

struct Hasher::Impl {
  EVP_MD_CTX* ctx = nullptr;
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Hasher::Hasher(Algo algo) : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  CAIRN_CHECK(impl_->ctx != nullptr);
  CAIRN_CHECK(EVP_DigestInit_ex(impl_->ctx, algo == Algo::kMd5 ? EVP_md5() : EVP_sha256(),
                                nullptr) == 1);
}
Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(std::string_view data) {
  CAIRN_CHECK(EVP_DigestUpdate(impl_->ctx, data.data(), data.size()) == 1);
}

std::string Hasher::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  CAIRN_CHECK(EVP_DigestFinal_ex(impl_->ctx, out, &len) == 1);
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace cairn::rgw
