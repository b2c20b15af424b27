// cairn-store-bench: write amplification and throughput of the OSD object
// store, with and without RocksDB blob files, against this machine's own disk.
//
//   cairn-store-bench --dir=/path [--large-mib=1024] [--small-mib=64]
//                     [--overwrite-mib=64] [--threads=8] [--block-size=65536]
//                     [--min-blob-size=BYTES] [--gc-age-cutoff=F]
//                     [--modes=extent,blob,noblob]
//
// Modes: extent = the defaults (extent files for large writes, blob files for
// the rest); blob = no extent files; noblob = neither.
//
// Phases per mode, each on the same fresh store and each ending with a
// quiesce (memtables flushed, compactions finished) so its background cost is
// charged to it:
//   large      write_full of 4 MiB objects
//   small      write_full of 4 KiB objects
//   overwrite  4 KiB writes at random 4 KiB-aligned offsets of the large objects
// "disk" bytes are this process's /proc/self/io write_bytes (bytes it caused
// to be written to storage: WAL, SST and blob files); WA = disk / user bytes.
// The baseline row writes a plain file with the same method, so its WA shows
// how much to trust the others (expect ~1.00).
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "osd/store/object_store.h"

namespace {

using cairn::osd::CollectionId;
using cairn::osd::ObjectStore;
using cairn::osd::Transaction;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kLargeObject = 4 * kMiB;
constexpr uint64_t kSmallObject = 4096;
constexpr uint32_t kPgs = 64;

struct Args {
  std::string dir;
  uint64_t large_mib = 1024;
  uint64_t small_mib = 64;
  uint64_t overwrite_mib = 64;
  int threads = 8;
  uint32_t block_size = 64 * 1024;
  cairn::osd::Options store;  // defaults, overridden by --min-blob-size / --gc-age-cutoff
  std::vector<std::string> modes = {"extent", "blob", "noblob"};
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "%s\nusage: cairn-store-bench --dir=PATH [--large-mib=N] [--small-mib=N] "
               "[--overwrite-mib=N] [--threads=N] [--block-size=BYTES] [--min-blob-size=BYTES] "
               "[--gc-age-cutoff=F] [--modes=extent,blob,noblob]\n",
               why);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto eq = s.find('=');
    if (s.rfind("--", 0) != 0 || eq == std::string::npos) usage(("bad argument " + s).c_str());
    std::string k = s.substr(2, eq - 2), v = s.substr(eq + 1);
    if (k == "dir")
      a.dir = v;
    else if (k == "large-mib")
      a.large_mib = std::stoull(v);
    else if (k == "small-mib")
      a.small_mib = std::stoull(v);
    else if (k == "overwrite-mib")
      a.overwrite_mib = std::stoull(v);
    else if (k == "threads")
      a.threads = std::stoi(v);
    else if (k == "block-size")
      a.block_size = static_cast<uint32_t>(std::stoul(v));
    else if (k == "min-blob-size")
      a.store.min_blob_size = std::stoull(v);
    else if (k == "gc-age-cutoff")
      a.store.blob_gc_age_cutoff = std::stod(v);
    else if (k == "modes") {
      a.modes.clear();
      std::stringstream ss(v);
      for (std::string m; std::getline(ss, m, ',');) {
        if (m != "extent" && m != "blob" && m != "noblob") usage(("unknown mode " + m).c_str());
        a.modes.push_back(m);
      }
    } else {
      usage(("unknown option --" + k).c_str());
    }
  }
  if (a.dir.empty()) usage("--dir is required");
  if (a.threads < 1) usage("--threads must be >= 1");
  return a;
}

uint64_t proc_write_bytes() {
  std::ifstream f("/proc/self/io");
  std::string k;
  uint64_t v;
  while (f >> k >> v) {
    if (k == "write_bytes:") return v;
  }
  return 0;
}

std::map<std::string, uint64_t> tickers(ObjectStore& s) {
  std::map<std::string, uint64_t> m;
  std::istringstream in(s.rocksdb_stats());
  std::string k;
  uint64_t v;
  while (in >> k >> v) m[k] = v;
  return m;
}

double secs_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void die(const cairn::Status& s, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, s.to_string().c_str());
  std::exit(1);
}

// Incompressible source bytes; objects take slices at different offsets.
const std::string& random_bytes() {
  static const std::string buf = [] {
    std::string b(2 * kLargeObject, '\0');
    std::mt19937_64 rng(42);
    for (size_t i = 0; i + 8 <= b.size(); i += 8) {
      uint64_t x = rng();
      std::memcpy(b.data() + i, &x, 8);
    }
    return b;
  }();
  return buf;
}

std::string slice(uint64_t seed, size_t n) {
  const std::string& r = random_bytes();
  return r.substr((seed * 4099) % (r.size() - n), n);
}

struct Baseline {
  double write_mib_s = 0;
  double sync_ops_s = 0;
  double wa = 0;
};

// The disk's own limits, measured the same way as the store.
Baseline measure_disk(const std::string& dir) {
  Baseline b;
  std::string path = dir + "/baseline.tmp";
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0) die(cairn::Status::IoError("open baseline file"), "baseline");
  const uint64_t total = 256 * kMiB;
  uint64_t io0 = proc_write_bytes();
  auto t0 = Clock::now();
  for (uint64_t off = 0; off < total; off += kLargeObject) {
    std::string d = slice(off, kLargeObject);
    if (::write(fd, d.data(), d.size()) != static_cast<ssize_t>(d.size())) std::exit(1);
  }
  ::fdatasync(fd);
  b.write_mib_s = total / double(kMiB) / secs_since(t0);
  b.wa = double(proc_write_bytes() - io0) / total;
  // Small synchronous appends: what one un-batched sync WAL write can do.
  const int n = 200;
  std::string d = slice(7, kSmallObject);
  t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    if (::write(fd, d.data(), d.size()) != static_cast<ssize_t>(d.size())) std::exit(1);
    ::fdatasync(fd);
  }
  b.sync_ops_s = n / secs_since(t0);
  ::close(fd);
  std::filesystem::remove(path);
  return b;
}

struct PhaseResult {
  std::string mode, phase;
  uint64_t user_bytes = 0, ops = 0, disk_bytes = 0;
  double secs = 0;
  std::map<std::string, uint64_t> delta;  // RocksDB tickers
};

// Runs `ops` calls of make(i) -> Transaction on `threads` threads, then quiesces.
template <typename Make>
PhaseResult run_phase(ObjectStore& store, const Args& a, std::string mode, std::string phase,
                      uint64_t ops, uint64_t user_bytes, Make make) {
  PhaseResult r;
  r.mode = std::move(mode);
  r.phase = std::move(phase);
  r.user_bytes = user_bytes;
  r.ops = ops;
  auto before = tickers(store);
  uint64_t io0 = proc_write_bytes();
  auto t0 = Clock::now();
  std::atomic<uint64_t> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < a.threads; ++t) {
    threads.emplace_back([&] {
      for (uint64_t i; (i = next.fetch_add(1)) < ops;) {
        cairn::Status s = store.submit(make(i));
        if (!s.ok()) die(s, "submit");
      }
    });
  }
  for (auto& t : threads) t.join();
  cairn::Status s = store.quiesce();
  if (!s.ok()) die(s, "quiesce");
  r.secs = secs_since(t0);
  r.disk_bytes = proc_write_bytes() - io0;
  for (auto& [k, v] : tickers(store)) r.delta[k] = v - before[k];
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  std::filesystem::create_directories(a.dir);
  Baseline base = measure_disk(a.dir);
  std::printf(
      "machine: disk sequential write %.0f MiB/s (measured WA %.2f), "
      "4 KiB write+fdatasync %.0f ops/s; %u cores; %d submit threads; block %u B, "
      "min blob %lu B, blob GC age cutoff %.2f\n\n",
      base.write_mib_s, base.wa, base.sync_ops_s, std::thread::hardware_concurrency(), a.threads,
      a.block_size, static_cast<unsigned long>(a.store.min_blob_size), a.store.blob_gc_age_cutoff);

  std::vector<PhaseResult> results;
  for (const std::string& mode : a.modes) {
    std::string dir = a.dir + "/store-" + mode;
    std::filesystem::remove_all(dir);
    cairn::osd::Options o = a.store;
    o.dir = dir;
    o.block_size = a.block_size;
    o.enable_blob_files = (mode != "noblob");
    if (mode != "extent") o.extent_min_bytes = 0;
    auto opened = ObjectStore::open(o);
    if (!opened.ok()) die(opened.status(), "open");
    ObjectStore& store = **opened;
    auto coll = [](uint64_t i) { return CollectionId{1, static_cast<uint32_t>(i % kPgs)}; };

    const uint64_t nlarge = a.large_mib * kMiB / kLargeObject;
    results.push_back(
        run_phase(store, a, mode, "large 4M", nlarge, nlarge * kLargeObject, [&](uint64_t i) {
          Transaction t;
          t.write_full(coll(i), "L" + std::to_string(i), slice(i, kLargeObject));
          return t;
        }));
    const uint64_t nsmall = a.small_mib * kMiB / kSmallObject;
    results.push_back(
        run_phase(store, a, mode, "small 4K", nsmall, nsmall * kSmallObject, [&](uint64_t i) {
          Transaction t;
          t.write_full(coll(i), "S" + std::to_string(i), slice(i, kSmallObject));
          return t;
        }));
    const uint64_t nover = nlarge == 0 ? 0 : a.overwrite_mib * kMiB / kSmallObject;
    results.push_back(
        run_phase(store, a, mode, "overwrite 4K", nover, nover * kSmallObject, [&](uint64_t i) {
          uint64_t h = i * 0x9e3779b97f4a7c15ull;
          uint64_t obj = (h >> 20) % nlarge;
          uint64_t off = (h % (kLargeObject / kSmallObject)) * kSmallObject;
          Transaction t;
          t.write(coll(obj), "L" + std::to_string(obj), off, slice(i + 1, kSmallObject));
          return t;
        }));
    auto st = store.stats();
    if (st.ok()) {
      uint64_t logical = (nlarge * kLargeObject + nsmall * kSmallObject);
      std::printf(
          "[%s] on disk after all phases: %.0f MiB for %.0f MiB of objects "
          "(space amplification %.2f), %lu objects\n",
          mode.c_str(), st->used_bytes / double(kMiB), logical / double(kMiB),
          logical ? st->used_bytes / double(logical) : 0.0,
          static_cast<unsigned long>(st->objects));
    }
  }

  std::printf("\n%-7s %-12s %9s %8s %9s %8s %7s %9s %6s | %7s %7s %7s %7s\n", "mode", "phase",
              "user MiB", "secs", "MiB/s", "ops/s", "xdisk", "disk MiB", "WA", "wal", "flush",
              "compact", "blob");
  for (const auto& r : results) {
    double mib = r.user_bytes / double(kMiB);
    double tput = mib / r.secs;
    auto rel = [&](const char* k) {
      return r.user_bytes ? r.delta.at(k) / double(r.user_bytes) : 0;
    };
    // xdisk: throughput as a fraction of what the raw disk does for this shape
    // (sequential bandwidth for large objects, sync ops/s for 4 KiB ones).
    double xdisk =
        r.phase == "large 4M" ? tput / base.write_mib_s : (r.ops / r.secs) / base.sync_ops_s;
    std::printf("%-7s %-12s %9.0f %8.1f %9.1f %8.0f %7.2f %9.0f %6.2f | %7.2f %7.2f %7.2f %7.2f\n",
                r.mode.c_str(), r.phase.c_str(), mib, r.secs, tput, r.ops / r.secs, xdisk,
                r.disk_bytes / double(kMiB), r.user_bytes ? r.disk_bytes / double(r.user_bytes) : 0,
                rel("wal_bytes_written"), rel("flush_bytes_written"),
                rel("compaction_bytes_written"), rel("blob_file_bytes_written"));
  }
  std::printf(
      "\nWA = /proc/self/io write_bytes / user bytes (incl. flush + compaction until "
      "quiesced). wal/flush/compact/blob: RocksDB counters / user bytes (blob bytes are "
      "also inside flush/compact). xdisk: MiB/s vs raw sequential write for 4M, ops/s vs "
      "raw 4K write+fdatasync for 4K phases.\n");
  return 0;
}
