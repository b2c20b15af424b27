// The pure parts of `cairnctl bench`: the verifiable data pattern, latency
// percentiles, the progress line and the summary. The I/O loop is in
// tools/cairnctl_bench.cc.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cairn::ctl {

// Deterministic content of a bench object, derived from its name and offsets
// only, so a reader verifies without anything stored: every 4 KiB block
// starts with (hash of name, block offset) as two little-endian u64s, and the
// rest comes from a fixed pseudo-random pool at a position that depends on
// both. Misplaced, stale, torn or bit-flipped blocks all fail to verify.
std::string make_pattern(std::string_view name, size_t len);
// The offset of the first byte that differs from make_pattern(name, data.size()),
// or nullopt if all match.
std::optional<uint64_t> verify_pattern(std::string_view name, std::string_view data);

struct LatencySummary {
  double avg_ms = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};
// Nearest-rank percentiles over latencies in seconds; all zero when empty.
LatencySummary summarize_latencies(std::vector<double> lat_s);

// What the final summary says about a run.
struct BenchResult {
  std::string op;  // "write", "seq", "rand"
  uint64_t ops = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  uint64_t object_size = 0;
  uint32_t concurrency = 0;
  LatencySummary lat;
  double mb_per_s() const;  // MiB/s, as rados bench reports "MB/sec"
  double iops() const;
};
// {"op", "ops", "bytes", "seconds", "mb_per_s", "iops", "lat_ms": {avg, p50, p99, max}}
nlohmann::ordered_json bench_result_to_json(const BenchResult& r);
std::string format_bench_result(const BenchResult& r);

// One progress row per second, columns as rados bench prints them.
struct ProgressRow {
  uint64_t sec = 0;
  uint64_t cur_ops = 0;  // in flight
  uint64_t started = 0;
  uint64_t finished = 0;
  double avg_mb_s = 0;
  double cur_mb_s = 0;
  std::optional<double> last_lat_s;  // "-" until an op finished
  double avg_lat_s = 0;
};
std::string format_progress_header();
std::string format_progress_row(const ProgressRow& r);

// The metadata object a `bench write` leaves for `seq`/`rand`.
struct BenchMeta {
  uint64_t count = 0;  // objects bench_<prefix>_0 .. count-1
  uint64_t size = 0;   // bytes each
};
std::string encode_bench_meta(const BenchMeta& m);
Result<BenchMeta> decode_bench_meta(std::string_view s);

std::string bench_object_name(std::string_view prefix, uint64_t n);
std::string bench_meta_name(std::string_view prefix);

}  // namespace cairn::ctl
