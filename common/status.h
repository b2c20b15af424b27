// Status and Result<T>: errors as values across every module boundary.
//
// A Status is a code plus a human-readable message. Codes are few and each
// maps to exactly one errno (to_errno) so that gateways can translate them in
// one place (S3 XML codes, NBD errors, FUSE errnos, CLI exit messages).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace cairn {

enum class Code : uint8_t {
  kOk = 0,
  kNotFound,          // ENOENT: object, pool, key does not exist
  kAlreadyExists,     // EEXIST
  kInvalidArgument,   // EINVAL: malformed request, bad name, out of range
  kIoError,           // EIO: disk or RocksDB failure
  kCorruption,        // EIO: checksum mismatch, undecodable bytes on disk or wire
  kTimedOut,          // ETIMEDOUT: a deadline passed
  kUnavailable,       // EAGAIN: not leader / not primary / PG not active; retry
  kNoSpace,           // ENOSPC: pool or OSD full
  kPermissionDenied,  // EACCES: authentication failed
  kTooLarge,          // EFBIG / ENAMETOOLONG: size or name over a limit
  kConflict,          // ECANCELED: compare-and-set did not match
  kNotSupported,      // EOPNOTSUPP
  kShutdown,          // ESHUTDOWN: the service is stopping
};

std::string_view code_name(Code code);
int code_to_errno(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status TimedOut(std::string m) { return {Code::kTimedOut, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Status TooLarge(std::string m) { return {Code::kTooLarge, std::move(m)}; }
  static Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
  static Status NotSupported(std::string m) { return {Code::kNotSupported, std::move(m)}; }
  static Status Shutdown(std::string m) { return {Code::kShutdown, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  int to_errno() const { return code_to_errno(code_); }
  // "NotFound: pool 'x' does not exist"
  std::string to_string() const;

  bool is(Code c) const { return code_ == c; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Result<T>: a T or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    if (std::get<Status>(v_).ok()) {
      std::fprintf(stderr, "CHECK failed: Result constructed from an ok Status\n");
      std::abort();
    }
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok()
  T& value() & { return check(), std::get<T>(v_); }
  const T& value() const& { return check(), std::get<T>(v_); }
  T&& value() && { return check(), std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error, or an ok Status when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

 private:
  void check() const {
    if (!ok()) {
      std::fprintf(stderr, "CHECK failed: value() on error Result: %s\n",
                   std::get<Status>(v_).to_string().c_str());
      std::abort();
    }
  }
  std::variant<T, Status> v_;
};

}  // namespace cairn

// CHECK stays on in release builds: a broken invariant is a bug, crash loudly.
#define CAIRN_CHECK(cond)                                                             \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

// Propagate a non-ok Status from an expression returning Status.
#define CAIRN_RETURN_IF_ERROR(expr)      \
  do {                                   \
    ::cairn::Status _st = (expr);        \
    if (!_st.ok()) return _st;           \
  } while (0)
