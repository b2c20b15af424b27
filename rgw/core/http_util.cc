#include "rgw/core/http_util.h"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace cairn::rgw {

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

namespace {
int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool uri_decode(std::string_view s, std::string* out, bool plus_is_space) {
  std::string r;
  r.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return false;
      int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
      if (h < 0 || l < 0) return false;
      r += static_cast<char>(h * 16 + l);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      r += ' ';
    } else {
      r += c;
    }
  }
  *out = std::move(r);
  return true;
}

bool parse_query(std::string_view query, QueryParams* out) {
  out->clear();
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string k, v;
    if (!uri_decode(item.substr(0, eq), &k, true)) return false;
    if (eq != std::string_view::npos && !uri_decode(item.substr(eq + 1), &v, true)) return false;
    out->emplace_back(std::move(k), std::move(v));
  }
  return true;
}

const std::string* find_param(const QueryParams& q, std::string_view key) {
  for (const auto& [k, v] : q) {
    if (k == key) return &v;
  }
  return nullptr;
}

namespace {
std::tm to_tm(int64_t unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}
}  // namespace

std::string http_date(int64_t unix_s) {
  std::tm tm = to_tm(unix_s);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::string iso8601_ms(int64_t unix_ms) {
  std::tm tm = to_tm(unix_ms / 1000);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[80];
  std::snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(unix_ms % 1000));
  return out;
}

std::string amz_date(int64_t unix_s) {
  std::tm tm = to_tm(unix_s);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::optional<int64_t> parse_http_date(std::string_view s) {
  std::string str(s);
  for (const char* fmt : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                          "%a %b %d %H:%M:%S %Y", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S"}) {
    std::tm tm{};
    const char* end = strptime(str.c_str(), fmt, &tm);
    if (end != nullptr && (*end == '\0' || *end == '.')) return static_cast<int64_t>(timegm(&tm));
  }
  return std::nullopt;
}

std::optional<int64_t> parse_amz_date(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  std::string str(s);
  std::tm tm{};
  const char* end = strptime(str.c_str(), "%Y%m%dT%H%M%SZ", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

namespace {
bool parse_u64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}
}  // namespace

RangeParse parse_range(std::string_view h, uint64_t size, ByteRange* out) {
  if (!h.starts_with("bytes=")) return RangeParse::kNone;
  h.remove_prefix(6);
  if (h.find(',') != std::string_view::npos) return RangeParse::kNone;
  size_t dash = h.find('-');
  if (dash == std::string_view::npos) return RangeParse::kNone;
  std::string_view a = h.substr(0, dash), b = h.substr(dash + 1);
  uint64_t first = 0, last = 0;
  if (a.empty()) {  // suffix: last n bytes
    uint64_t n = 0;
    if (!parse_u64(b, &n)) return RangeParse::kNone;
    if (n == 0 || size == 0) return RangeParse::kUnsatisfiable;
    first = n >= size ? 0 : size - n;
    last = size - 1;
  } else {
    if (!parse_u64(a, &first)) return RangeParse::kNone;
    if (b.empty()) {
      last = size == 0 ? 0 : size - 1;
    } else {
      if (!parse_u64(b, &last)) return RangeParse::kNone;
      if (last < first) return RangeParse::kNone;
      if (size > 0 && last >= size) last = size - 1;
    }
    if (first >= size) return RangeParse::kUnsatisfiable;
  }
  *out = {first, last};
  return RangeParse::kOk;
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string trim_collapse(std::string_view s) {
  std::string r;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      space = !r.empty();
      continue;
    }
    if (space) r += ' ';
    space = false;
    r += c;
  }
  return r;
}

}  // namespace cairn::rgw
