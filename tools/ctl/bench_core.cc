#include "tools/ctl/bench_core.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

namespace cairn::ctl {

namespace {

constexpr size_t kBlock = 4096;
constexpr size_t kPoolLen = 64 * 1024;

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// kPoolLen + kBlock bytes so any window of one block fits without wrapping.
const std::string& random_pool() {
  static const std::string pool = [] {
    std::string p(kPoolLen + kBlock, '\0');
    uint64_t state = 0x636169726e62656eull;  // fixed: readers of old data must agree
    for (size_t i = 0; i < p.size(); i += 8) {
      uint64_t v = splitmix64(state);
      std::memcpy(&p[i], &v, std::min<size_t>(8, p.size() - i));
    }
    return p;
  }();
  return pool;
}

uint64_t name_hash(std::string_view name) {  // FNV-1a, then mixed
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return splitmix64(h);
}

void put_le64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

// Writes block `off` (a multiple of kBlock) of the pattern, n <= kBlock bytes.
void fill_block(uint64_t seed, uint64_t off, char* out, size_t n) {
  const std::string& pool = random_pool();
  size_t start = static_cast<size_t>((seed + (off / kBlock) * 0x9e3779b1ull) % kPoolLen);
  std::memcpy(out, pool.data() + start, n);
  char head[16];
  put_le64(head, seed);
  put_le64(head + 8, off);
  std::memcpy(out, head, std::min(n, sizeof head));
}

}  // namespace

std::string make_pattern(std::string_view name, size_t len) {
  std::string out(len, '\0');
  uint64_t seed = name_hash(name);
  for (size_t off = 0; off < len; off += kBlock) {
    fill_block(seed, off, out.data() + off, std::min(kBlock, len - off));
  }
  return out;
}

std::optional<uint64_t> verify_pattern(std::string_view name, std::string_view data) {
  uint64_t seed = name_hash(name);
  std::array<char, kBlock> want;
  for (size_t off = 0; off < data.size(); off += kBlock) {
    size_t n = std::min(kBlock, data.size() - off);
    fill_block(seed, off, want.data(), n);
    if (std::memcmp(want.data(), data.data() + off, n) != 0) {
      for (size_t i = 0; i < n; ++i) {
        if (want[i] != data[off + i]) return off + i;
      }
    }
  }
  return std::nullopt;
}

LatencySummary summarize_latencies(std::vector<double> lat_s) {
  LatencySummary s;
  if (lat_s.empty()) return s;
  std::sort(lat_s.begin(), lat_s.end());
  double sum = 0;
  for (double l : lat_s) sum += l;
  auto rank = [&](double p) {
    size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(lat_s.size())));
    return lat_s[std::clamp<size_t>(k, 1, lat_s.size()) - 1] * 1000;
  };
  s.avg_ms = sum / static_cast<double>(lat_s.size()) * 1000;
  s.p50_ms = rank(0.50);
  s.p99_ms = rank(0.99);
  s.max_ms = lat_s.back() * 1000;
  return s;
}

double BenchResult::mb_per_s() const {
  return seconds > 0 ? static_cast<double>(bytes) / (1024.0 * 1024.0) / seconds : 0;
}

double BenchResult::iops() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }

nlohmann::ordered_json bench_result_to_json(const BenchResult& r) {
  // Microsecond resolution is all a timer-based run can claim.
  auto r3 = [](double v) { return std::round(v * 1000) / 1000; };
  return {{"op", r.op},
          {"ops", r.ops},
          {"bytes", r.bytes},
          {"seconds", std::round(r.seconds * 1e6) / 1e6},
          {"mb_per_s", r3(r.mb_per_s())},
          {"iops", r3(r.iops())},
          {"lat_ms",
           {{"avg", r3(r.lat.avg_ms)},
            {"p50", r3(r.lat.p50_ms)},
            {"p99", r3(r.lat.p99_ms)},
            {"max", r3(r.lat.max_ms)}}}};
}

std::string format_bench_result(const BenchResult& r) {
  std::string what = r.op == "write" ? "writes" : "reads";
  std::string out;
  out += fmt::format("Total time run:         {:.3f}\n", r.seconds);
  out += fmt::format("Total {} made:      {}\n", what, r.ops);
  out += fmt::format("Object size:            {}\n", r.object_size);
  out += fmt::format("Concurrency:            {}\n", r.concurrency);
  out += fmt::format("Bandwidth (MB/sec):     {:.3f}\n", r.mb_per_s());
  out += fmt::format("Average IOPS:           {:.1f}\n", r.iops());
  out += fmt::format("Average Latency(ms):    {:.3f}\n", r.lat.avg_ms);
  out += fmt::format("p50 Latency(ms):        {:.3f}\n", r.lat.p50_ms);
  out += fmt::format("p99 Latency(ms):        {:.3f}\n", r.lat.p99_ms);
  out += fmt::format("Max latency(ms):        {:.3f}\n", r.lat.max_ms);
  return out;
}

std::string format_progress_header() {
  return fmt::format("{:>5} {:>7} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11}", "sec", "Cur ops",
                     "started", "finished", "avg MB/s", "cur MB/s", "last lat(s)", "avg lat(s)");
}

std::string format_progress_row(const ProgressRow& r) {
  std::string last = r.last_lat_s ? fmt::format("{:.6f}", *r.last_lat_s) : "-";
  return fmt::format("{:>5} {:>7} {:>9} {:>9} {:>9.3f} {:>9.3f} {:>11} {:>11.6f}", r.sec, r.cur_ops,
                     r.started, r.finished, r.avg_mb_s, r.cur_mb_s, last, r.avg_lat_s);
}

std::string encode_bench_meta(const BenchMeta& m) {
  return nlohmann::json{{"count", m.count}, {"size", m.size}}.dump();
}

Result<BenchMeta> decode_bench_meta(std::string_view s) {
  auto j = nlohmann::json::parse(s, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("count") || !j.contains("size") ||
      !j["count"].is_number_unsigned() || !j["size"].is_number_unsigned()) {
    return Status::Corruption("bench metadata object is not {\"count\": N, \"size\": N}");
  }
  return BenchMeta{j["count"].get<uint64_t>(), j["size"].get<uint64_t>()};
}

std::string bench_object_name(std::string_view prefix, uint64_t n) {
  return fmt::format("bench_{}_{}", prefix, n);
}

std::string bench_meta_name(std::string_view prefix) {
  return fmt::format("bench_{}_meta", prefix);
}

}  // namespace cairn::ctl
