// partition_client: the client side of tests/integration/partition_test.sh.
// It runs inside a network namespace (`ip netns exec NS partition_client ...`)
// and keeps one cluster map for its whole life, so a writer started before a
// partition keeps writing with the map it had when the monitors vanished.
//
//   write  --conf C --pool P --prefix X --objects N --threads T --log FILE --stop-file F
//          [--size BYTES] [--op-timeout-s S] [--read-back]
//       Overwrites objects X-0..X-(N-1) round robin until F exists. Every
//       write carries its own sequence number; each outcome is one log line:
//         ack NAME SEQ VERSION WALL_MS      (the cluster acknowledged it)
//         fail NAME SEQ WALL_MS STATUS      (gave up: it may or may not have applied)
//       With --read-back every acknowledged write is read back through the
//       primary; a read that fails or returns other data makes the exit
//       status 3.
//   verify --conf C --pool P --log FILE... [--all-replicas]
//       For every object a log acknowledged, reads the copy on each OSD of its
//       up set and checks it holds the newest acknowledged write (or a later
//       one that failed, whose outcome was unknown), that all copies agree,
//       and that at least min_size copies (with --all-replicas: size) exist.
//   digest --conf C --mon ADDR
//       Prints "EPOCH CRC" of the map that one monitor serves.
//   primaries --conf C --pool P --prefix X --objects N
//       Prints "X-i OSD" for each object: its primary in the current map.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "common/crc32c.h"

using namespace cairn;

namespace {

std::atomic<bool> g_stop{false};

struct Args {
  std::map<std::string, std::vector<std::string>> values;
  std::set<std::string> flags;
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second.back();
  }
};

Args parse_args(int argc, char** argv, const std::set<std::string>& flag_names) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (flag_names.count(k)) {
      a.flags.insert(k);
    } else if (i + 1 < argc) {
      a.values[k].push_back(argv[++i]);
    } else {
      std::fprintf(stderr, "partition_client: %s needs a value\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

uint64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string object_data(const std::string& name, uint64_t seq, size_t size) {
  std::string head = name + " seq=" + std::to_string(seq) + "\n";
  std::string data = head;
  while (data.size() < size) data += head;
  data.resize(std::max(size, head.size()));
  return data;
}

// The sequence number written into data by object_data(), or -1.
int64_t data_seq(const std::string& name, const std::string& data) {
  std::string prefix = name + " seq=";
  if (data.compare(0, prefix.size(), prefix) != 0) return -1;
  size_t end = data.find('\n', prefix.size());
  if (end == std::string::npos) return -1;
  try {
    return std::stoll(data.substr(prefix.size(), end - prefix.size()));
  } catch (...) {
    return -1;
  }
}

Result<std::unique_ptr<client::Client>> connect(const std::string& conf, int op_timeout_s) {
  auto opts = client::load_config(conf);
  if (!opts.ok()) return opts.status();
  opts->op_timeout = std::chrono::seconds(op_timeout_s);
  return client::Client::connect(*opts);
}

int cmd_write(const Args& a) {
  std::string pool = a.get("--pool"), prefix = a.get("--prefix"), log_path = a.get("--log"),
              stop_file = a.get("--stop-file");
  int objects = std::stoi(a.get("--objects", "32")), threads = std::stoi(a.get("--threads", "4"));
  size_t size = std::stoul(a.get("--size", "4096"));
  bool read_back = a.flags.count("--read-back") > 0;
  auto c = connect(a.get("--conf"), std::stoi(a.get("--op-timeout-s", "20")));
  if (!c.ok()) {
    std::fprintf(stderr, "partition_client write: %s\n", c.status().to_string().c_str());
    return 1;
  }
  auto pool_id = (*c)->pool_id(pool);
  if (!pool_id.ok()) {
    std::fprintf(stderr, "partition_client write: %s\n", pool_id.status().to_string().c_str());
    return 1;
  }
  FILE* log = std::fopen(log_path.c_str(), "a");
  if (!log) {
    std::perror(log_path.c_str());
    return 1;
  }
  std::mutex log_mu;
  std::atomic<uint64_t> acks{0}, fails{0}, longest_ms{0}, reads{0}, bad_reads{0};
  auto worker = [&](int t) {
    std::map<int, uint64_t> seq;
    while (!g_stop && !std::filesystem::exists(stop_file)) {
      for (int i = t; i < objects && !g_stop; i += threads) {
        std::string name = prefix + "-" + std::to_string(i);
        uint64_t s = ++seq[i];
        ObjectOp op{.code = OpCode::kWriteFull, .data = object_data(name, s, size)};
        std::vector<ObjectOp> ops;
        ops.push_back(std::move(op));
        auto start = std::chrono::steady_clock::now();
        auto r = (*c)->execute(pool, name, std::move(ops));
        uint64_t took = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count();
        uint64_t prev = longest_ms.load();
        while (took > prev && !longest_ms.compare_exchange_weak(prev, took)) {
        }
        if (r.ok() && read_back) {
          ++reads;
          auto got = (*c)->get(pool, name);
          if (!got.ok() || data_seq(name, *got) != static_cast<int64_t>(s)) {
            ++bad_reads;
            std::string what = got.ok() ? "got seq " + std::to_string(data_seq(name, *got))
                                        : got.status().to_string();
            std::fprintf(stderr, "read back %s seq %llu: %s\n", name.c_str(),
                         (unsigned long long)s, what.c_str());
          }
        }
        std::lock_guard lock(log_mu);
        if (r.ok()) {
          ++acks;
          std::fprintf(log, "ack %s %llu %llu %llu\n", name.c_str(), (unsigned long long)s,
                       (unsigned long long)r->version, (unsigned long long)wall_ms());
        } else {
          ++fails;
          std::fprintf(log, "fail %s %llu %llu %s\n", name.c_str(), (unsigned long long)s,
                       (unsigned long long)wall_ms(), r.status().to_string().c_str());
        }
        std::fflush(log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back(worker, t);
  for (auto& t : ts) t.join();
  std::fclose(log);
  std::printf("%s: %llu writes acknowledged, %llu failed, slowest %llu ms", prefix.c_str(),
              (unsigned long long)acks.load(), (unsigned long long)fails.load(),
              (unsigned long long)longest_ms.load());
  if (read_back) {
    std::printf("; %llu read back, %llu wrong or failed", (unsigned long long)reads.load(),
                (unsigned long long)bad_reads.load());
  }
  std::printf("\n");
  return bad_reads == 0 ? 0 : 3;
}

struct Expect {
  int64_t acked = -1;        // newest acknowledged sequence number
  std::set<int64_t> failed;  // attempts with an unknown outcome
};

int cmd_verify(const Args& a) {
  std::string pool = a.get("--pool");
  bool all_replicas = a.flags.count("--all-replicas") > 0;
  std::map<std::string, Expect> expect;
  auto logs = a.values.find("--log");
  if (logs == a.values.end()) {
    std::fprintf(stderr, "partition_client verify: no --log\n");
    return 2;
  }
  for (const auto& path : logs->second) {
    std::ifstream in(path);
    if (!in) {
      std::fprintf(stderr, "partition_client verify: cannot read %s\n", path.c_str());
      return 1;
    }
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string kind, name;
      int64_t seq = -1;
      ls >> kind >> name >> seq;
      if (kind == "ack") expect[name].acked = std::max(expect[name].acked, seq);
      else if (kind == "fail") expect[name].failed.insert(seq);
    }
  }
  auto c = connect(a.get("--conf"), 20);
  if (!c.ok()) {
    std::fprintf(stderr, "partition_client verify: %s\n", c.status().to_string().c_str());
    return 1;
  }
  ClusterMap map = (*c)->map();
  const PoolInfo* info = map.find_pool(pool);
  if (!info) {
    std::fprintf(stderr, "partition_client verify: no pool %s\n", pool.c_str());
    return 1;
  }
  size_t need = all_replicas ? info->size : info->min_size;
  int problems = 0, objects = 0, copies = 0;
  auto problem = [&](const std::string& what) {
    if (++problems <= 20) std::printf("  %s\n", what.c_str());
  };
  for (const auto& [name, e] : expect) {
    if (e.acked < 0) continue;  // never acknowledged: anything goes
    ++objects;
    auto pl = (*c)->locate(pool, name);
    if (!pl.ok()) {
      problem(name + ": " + pl.status().to_string());
      continue;
    }
    if (pl->up.size() < need) {
      problem(name + ": PG " + pl->pg + " has " + std::to_string(pl->up.size()) + " OSDs up, want " +
              std::to_string(need));
    }
    std::string first_data;
    uint64_t first_version = 0;
    for (size_t k = 0; k < pl->up.size(); ++k) {
      OsdId osd = pl->up[k];
      std::string where = name + " on osd." + std::to_string(osd) + " (PG " + pl->pg + ")";
      auto obj = (*c)->read_from_osd(pool, name, osd);
      if (!obj.ok()) {
        problem(where + ": LOST acknowledged seq " + std::to_string(e.acked) + ": " +
                obj.status().to_string());
        continue;
      }
      ++copies;
      int64_t seq = data_seq(name, obj->data);
      bool ok = seq == e.acked || (seq > e.acked && e.failed.count(seq));
      if (!ok) {
        problem(where + ": holds seq " + std::to_string(seq) + ", acknowledged seq " +
                std::to_string(e.acked) + (seq < e.acked ? " (LOST acknowledged write)" : ""));
      }
      if (k == 0) {
        first_data = obj->data;
        first_version = obj->version;
      } else if (obj->data != first_data || obj->version != first_version) {
        problem(where + ": differs from osd." + std::to_string(pl->up[0]) + " (version " +
                std::to_string(obj->version) + " vs " + std::to_string(first_version) + ")");
      }
    }
  }
  std::printf("verified %d acknowledged objects, %d copies: %d problem(s)\n", objects, copies,
              problems);
  return problems == 0 && objects > 0 ? 0 : 1;
}

int cmd_primaries(const Args& a) {
  auto c = connect(a.get("--conf"), 20);
  if (!c.ok()) {
    std::fprintf(stderr, "partition_client primaries: %s\n", c.status().to_string().c_str());
    return 1;
  }
  std::string pool = a.get("--pool"), prefix = a.get("--prefix");
  int objects = std::stoi(a.get("--objects", "32"));
  for (int i = 0; i < objects; ++i) {
    std::string name = prefix + "-" + std::to_string(i);
    auto pl = (*c)->locate(pool, name);
    if (!pl.ok()) {
      std::fprintf(stderr, "partition_client primaries: %s\n", pl.status().to_string().c_str());
      return 1;
    }
    std::printf("%s %d\n", name.c_str(), pl->up.empty() ? -1 : pl->up[0]);
  }
  return 0;
}

int cmd_digest(const Args& a) {
  auto opts = client::load_config(a.get("--conf"));
  if (!opts.ok()) {
    std::fprintf(stderr, "partition_client digest: %s\n", opts.status().to_string().c_str());
    return 1;
  }
  opts->mon_addrs = {a.get("--mon")};
  opts->connect_timeout = std::chrono::seconds(5);
  auto c = client::Client::connect(*opts);
  if (!c.ok()) {
    std::fprintf(stderr, "partition_client digest: %s\n", c.status().to_string().c_str());
    return 1;
  }
  ClusterMap m = (*c)->map();
  std::printf("%llu %08x\n", (unsigned long long)m.epoch, crc32c(m.encode_to_string()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGTERM, [](int) { g_stop = true; });
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "write") return cmd_write(parse_args(argc, argv, {"--read-back"}));
  if (cmd == "verify") return cmd_verify(parse_args(argc, argv, {"--all-replicas"}));
  if (cmd == "digest") return cmd_digest(parse_args(argc, argv, {}));
  if (cmd == "primaries") return cmd_primaries(parse_args(argc, argv, {}));
  std::fprintf(stderr, "usage: partition_client write|verify|digest|primaries ... (see the source)\n");
  return 2;
}
