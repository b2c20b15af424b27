#include "tools/ctl/util.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <ctime>

namespace cairn::ctl {

int exit_code_for(const Status& st) {
  switch (st.code()) {
    case Code::kOk:
      return kExitOk;
    case Code::kInvalidArgument:
      return kExitUsage;
    case Code::kNotFound:
      return kExitNotFound;
    case Code::kAlreadyExists:
      return kExitExists;
    case Code::kTimedOut:
    case Code::kUnavailable:
    case Code::kShutdown:
      return kExitUnavailable;
    case Code::kPermissionDenied:
      return kExitDenied;
    case Code::kCorruption:
      return kExitCorrupt;
    case Code::kNoSpace:
    case Code::kTooLarge:
      return kExitNoSpace;
    default:
      return kExitError;
  }
}

Result<uint64_t> parse_size(std::string_view s) {
  auto bad = [&] {
    return Status::InvalidArgument(
        fmt::format("'{}' is not a size (use bytes or a K/M/G/T suffix, e.g. 4M)", s));
  };
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  if (digits == 0) return bad();
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + digits, n);
  if (ec != std::errc() || ptr != s.data() + digits) return bad();
  std::string_view suffix = s.substr(digits);
  int shift = 0;
  if (!suffix.empty()) {
    switch (suffix[0]) {
      case 'k':
      case 'K':
        shift = 10;
        break;
      case 'm':
      case 'M':
        shift = 20;
        break;
      case 'g':
      case 'G':
        shift = 30;
        break;
      case 't':
      case 'T':
        shift = 40;
        break;
      case 'b':
      case 'B':
        shift = 0;
        break;
      default:
        return bad();
    }
    std::string_view rest = suffix.substr(1);
    if (suffix[0] == 'b' || suffix[0] == 'B') {
      if (!rest.empty()) return bad();
    } else if (!(rest.empty() || rest == "B" || rest == "iB" || rest == "b" || rest == "ib")) {
      return bad();
    }
  }
  if (shift > 0 && n > (UINT64_MAX >> shift)) {
    return Status::InvalidArgument(fmt::format("size '{}' is too large", s));
  }
  return n << shift;
}

Result<OsdId> parse_osd_id(std::string_view s) {
  std::string_view digits = s.starts_with("osd.") ? s.substr(4) : s;
  OsdId id = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || id < 0) {
    return Status::InvalidArgument(fmt::format("'{}' is not an OSD id (e.g. 3 or osd.3)", s));
  }
  return id;
}

Result<uint32_t> parse_weight(std::string_view s) {
  // from_chars for double is not in libstdc++ 12 for all targets; strtod on a copy.
  std::string copy(s);
  char* end = nullptr;
  double w = copy.empty() ? NAN : std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || !std::isfinite(w) || w < 0) {
    return Status::InvalidArgument(fmt::format("weight '{}' is not a number >= 0", s));
  }
  double fixed = std::round(w * kWeightOne);
  if (fixed > static_cast<double>(UINT32_MAX)) {
    return Status::InvalidArgument(
        fmt::format("weight '{}' is too large (max {:.0f})", s, double(UINT32_MAX) / kWeightOne));
  }
  return static_cast<uint32_t>(fixed);
}

Result<FailureDomain> parse_failure_domain(std::string_view s) {
  if (s == "host") return FailureDomain::kHost;
  if (s == "osd") return FailureDomain::kOsd;
  return Status::InvalidArgument(fmt::format("failure domain '{}' is not host|osd", s));
}

std::string_view failure_domain_str(FailureDomain fd) {
  return fd == FailureDomain::kOsd ? "osd" : "host";
}

uint32_t default_min_size(uint32_t size) { return size <= 1 ? size : size - size / 2; }

std::string format_bytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  return v < 10 ? fmt::format("{:.1f} {}", v, kUnits[u]) : fmt::format("{:.0f} {}", v, kUnits[u]);
}

std::string format_time_ns(uint64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000ull);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:09d}Z", buf, ns % 1000000000ull);
}

std::string format_stamp_ms(uint64_t ms) {
  if (ms == 0) return "never";
  return format_time_ns(ms * 1000000ull).substr(0, 19) + "Z";
}

std::string dump_json(const Json& j, int indent) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace cairn::ctl
