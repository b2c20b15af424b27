#include "common/status.h"

#include <cerrno>

namespace cairn {

std::string_view code_name(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "NotFound";
    case Code::kAlreadyExists: return "AlreadyExists";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kIoError: return "IOError";
    case Code::kCorruption: return "Corruption";
    case Code::kTimedOut: return "TimedOut";
    case Code::kUnavailable: return "Unavailable";
    case Code::kNoSpace: return "NoSpace";
    case Code::kPermissionDenied: return "PermissionDenied";
    case Code::kTooLarge: return "TooLarge";
    case Code::kConflict: return "Conflict";
    case Code::kNotSupported: return "NotSupported";
    case Code::kShutdown: return "Shutdown";
  }
  return "Unknown";
}

int code_to_errno(Code code) {
  switch (code) {
    case Code::kOk: return 0;
    case Code::kNotFound: return ENOENT;
    case Code::kAlreadyExists: return EEXIST;
    case Code::kInvalidArgument: return EINVAL;
    case Code::kIoError: return EIO;
    case Code::kCorruption: return EIO;
    case Code::kTimedOut: return ETIMEDOUT;
    case Code::kUnavailable: return EAGAIN;
    case Code::kNoSpace: return ENOSPC;
    case Code::kPermissionDenied: return EACCES;
    case Code::kTooLarge: return EFBIG;
    case Code::kConflict: return ECANCELED;
    case Code::kNotSupported: return EOPNOTSUPP;
    case Code::kShutdown: return ESHUTDOWN;
  }
  return EIO;
}

std::string Status::to_string() const {
  if (ok()) return "OK";
  std::string s(code_name(code_));
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

}  // namespace cairn
