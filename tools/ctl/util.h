// Small pure helpers for cairnctl: argument parsing, formatting, exit codes.
// No I/O, no client: everything here is unit-tested in util_test.cc.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/cluster_map.h"
#include "common/status.h"

namespace cairn::ctl {

// Process exit codes. Scripts (and tests) branch on these, so they are part of
// the CLI contract (docs/cli.md); keep them stable.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;        // anything not listed below
inline constexpr int kExitUsage = 2;        // bad command line or invalid argument
inline constexpr int kExitNotFound = 3;     // pool, object, key, OSD does not exist
inline constexpr int kExitExists = 4;       // already exists
inline constexpr int kExitUnavailable = 5;  // cluster unreachable, timed out, PG not active
inline constexpr int kExitDenied = 6;       // authentication failed
inline constexpr int kExitCorrupt = 7;      // data did not verify (bench), corruption
inline constexpr int kExitNoSpace = 8;      // cluster/pool full, object too large

int exit_code_for(const Status& st);

// "4096", "4K", "4M", "1G", "2T" (binary multiples; "KiB"/"KB"/"k" accepted too).
// InvalidArgument on anything else, on overflow, and on negative numbers.
Result<uint64_t> parse_size(std::string_view s);

// "3" or "osd.3". InvalidArgument otherwise.
Result<OsdId> parse_osd_id(std::string_view s);

// A weight like "1", "0.5", "2.25" to kWeightOne fixed point (rounded).
// InvalidArgument if negative, not a number, or too large for 32 bits.
Result<uint32_t> parse_weight(std::string_view s);

Result<FailureDomain> parse_failure_domain(std::string_view s);
std::string_view failure_domain_str(FailureDomain fd);

// The min_size a pool of `size` replicas gets unless told otherwise: a
// majority-ish floor that keeps writes available with one replica lost
// (3 -> 2, 2 -> 1, 1 -> 1, 5 -> 3).
uint32_t default_min_size(uint32_t size);

// "0 B", "4.0 KiB", "12 MiB", "1.5 GiB".
std::string format_bytes(uint64_t bytes);

// RFC 3339 UTC with nanoseconds: "2024-05-01T12:00:00.123456789Z".
std::string format_time_ns(uint64_t ns);
// A scrub stamp (ms since the epoch) to the second: "2024-05-01T12:00:00Z";
// 0 is "never".
std::string format_stamp_ms(uint64_t ms);

// Serializes j; invalid UTF-8 (binary xattr or omap values) is replaced
// instead of throwing.
// Output JSON keeps keys in insertion order, the order docs/cli.md shows.
using Json = nlohmann::ordered_json;
std::string dump_json(const Json& j, int indent = -1);

}  // namespace cairn::ctl
