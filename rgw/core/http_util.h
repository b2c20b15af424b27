// Pure HTTP helpers for the S3 gateway: URI encoding as SigV4 defines it,
// query strings, HTTP and ISO 8601 dates, Range headers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::rgw {

// SigV4 URI encoding: every byte except A-Z a-z 0-9 - _ . ~ becomes %XX
// (uppercase hex); '/' is kept when keep_slash.
std::string uri_encode(std::string_view s, bool keep_slash = false);
// Decodes %XX (and '+' as space when plus_is_space). False on a bad escape.
bool uri_decode(std::string_view s, std::string* out, bool plus_is_space = false);

// "a=1&b&c=x%20y" -> ordered (key, value) pairs, decoded. False on a bad escape.
using QueryParams = std::vector<std::pair<std::string, std::string>>;
bool parse_query(std::string_view query, QueryParams* out);
const std::string* find_param(const QueryParams& q, std::string_view key);

// Time as seconds since the epoch (UTC).
std::string http_date(int64_t unix_s);      // "Wed, 21 Oct 2015 07:28:00 GMT"
std::string iso8601_ms(int64_t unix_ms);    // "2015-10-21T07:28:00.000Z"
std::string amz_date(int64_t unix_s);       // "20151021T072800Z"
// Parses RFC 1123 / RFC 850 / asctime dates; nullopt if none matches.
std::optional<int64_t> parse_http_date(std::string_view s);
// Parses "20151021T072800Z".
std::optional<int64_t> parse_amz_date(std::string_view s);

// A byte range resolved against an object size: [first, last] inclusive.
struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t length() const { return last - first + 1; }
};
enum class RangeParse { kNone, kOk, kUnsatisfiable };
// Parses "bytes=a-b", "bytes=a-", "bytes=-n" against size. Headers S3 ignores
// (not bytes=, several ranges, malformed) give kNone: serve the whole object.
// kUnsatisfiable when the range starts past the end (or size is 0).
RangeParse parse_range(std::string_view header, uint64_t size, ByteRange* out);

// Lowercase ASCII copy.
std::string lower(std::string_view s);
// Trims spaces and tabs at both ends and collapses inner runs to one space.
std::string trim_collapse(std::string_view s);

}  // namespace cairn::rgw
