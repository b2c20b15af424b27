// Little-endian binary encoding for wire messages and on-disk records.
//
// Encoder appends to a std::string. Decoder reads from a string_view and
// never reads past its end: a short or malformed input flips ok() to false and
// every later read returns a zero value, so callers check ok() once at the end.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cairn {

class Encoder {
 public:
  explicit Encoder(std::string* out) : out_(out) {}

  void u8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { put(&v, sizeof v); }
  void u32(uint32_t v) { put(&v, sizeof v); }
  void u64(uint64_t v) { put(&v, sizeof v); }
  void i32(int32_t v) { put(&v, sizeof v); }
  void i64(int64_t v) { put(&v, sizeof v); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void f64(double v) { put(&v, sizeof v); }
  // Length-prefixed (u32) bytes.
  void bytes(std::string_view v) {
    u32(static_cast<uint32_t>(v.size()));
    out_->append(v.data(), v.size());
  }
  void str(std::string_view v) { bytes(v); }
  void raw(std::string_view v) { out_->append(v.data(), v.size()); }

  std::string* out() { return out_; }

 private:
  // All supported targets are little-endian; memcpy keeps it alignment-safe.
  void put(const void* p, size_t n) { out_->append(static_cast<const char*>(p), n); }
  std::string* out_;
};

class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}

  uint8_t u8() {
    uint8_t v = 0;
    get(&v, 1);
    return v;
  }
  uint16_t u16() { return get_pod<uint16_t>(); }
  uint32_t u32() { return get_pod<uint32_t>(); }
  uint64_t u64() { return get_pod<uint64_t>(); }
  int32_t i32() { return get_pod<int32_t>(); }
  int64_t i64() { return get_pod<int64_t>(); }
  double f64() { return get_pod<double>(); }
  bool boolean() { return u8() != 0; }
  // A view into the input; valid as long as the input is.
  std::string_view bytes_view() {
    uint32_t n = u32();
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return {};
    }
    std::string_view v = in_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::string bytes() { return std::string(bytes_view()); }
  std::string str() { return bytes(); }

  // Bounds a vector count read from the wire so garbage cannot allocate GiBs:
  // every element takes at least one byte.
  uint32_t count() {
    uint32_t n = u32();
    if (n > remaining()) {
      ok_ = false;
      return 0;
    }
    return n;
  }

  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  void fail() { ok_ = false; }
  Status status(std::string_view what) const {
    return ok_ ? Status::Ok() : Status::Corruption("cannot decode " + std::string(what));
  }

 private:
  template <typename T>
  T get_pod() {
    T v{};
    get(&v, sizeof v);
    return v;
  }
  void get(void* p, size_t n) {
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return;
    }
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace cairn
