// Randomized faults: OSDs and monitors are killed (-9 or SIGTERM) and
// restarted at random while several writers overwrite and delete objects
// concurrently; then every object must hold one of the values it may hold
// (the last acked one, or a later write that failed and may have landed),
// identically on every replica.
//
// CI runs a short mode (30 s of faults); CAIRN_FAULT_SECONDS=600 runs a long
// one by hand, and CAIRN_FAULT_SEED replays a run (the seed is printed).
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/crc32c.h"
#include "tests/integration/test_cluster.h"

namespace cairn::test {
namespace {

using namespace std::chrono_literals;

int env_int(const char* name, int fallback) {
  const char* v = getenv(name);
  return v && *v ? atoi(v) : fallback;
}

const std::string kAbsent = "<absent>";

// What each object may hold: the last acked value, plus every value written
// after it whose outcome the client did not learn.
class Ledger {
 public:
  void acked(const std::string& name, const std::string& value) {
    std::lock_guard l(mu_);
    possible_[name] = {value};
    ++acks_;
  }
  void unknown(const std::string& name, const std::string& value) {
    std::lock_guard l(mu_);
    auto& p = possible_[name];
    if (p.empty()) p.insert(kAbsent);
    p.insert(value);
    ++failures_;
  }
  std::map<std::string, std::set<std::string>> snapshot() {
    std::lock_guard l(mu_);
    return possible_;
  }
  size_t acks() {
    std::lock_guard l(mu_);
    return acks_;
  }
  size_t failures() {
    std::lock_guard l(mu_);
    return failures_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::set<std::string>> possible_;
  size_t acks_ = 0, failures_ = 0;
};

std::string value_of(const std::string& name, uint64_t gen) {
  std::string s = name + "@" + std::to_string(gen) + ":";
  uint32_t h = crc32c(s);
  // One write in eight is large enough for the OSDs' extent files.
  size_t want = h % 8 == 0 ? (256u << 10) + h % (768u << 10) : 1000 + h % 30000;
  while (s.size() < want) s += s;
  return s;
}

TEST(Faults, RandomKillsUnderLoadLoseNoAckedWrite) {
  const int seconds = env_int("CAIRN_FAULT_SECONDS", 30);
  const unsigned seed = static_cast<unsigned>(env_int("CAIRN_FAULT_SEED", std::random_device{}()));
  std::printf("fault test: %d s, seed %u (CAIRN_FAULT_SEED to replay)\n", seconds, seed);
  const int kOsds = 4, kMons = 3;
  auto cluster = TestCluster::start(kMons, kOsds);
  ASSERT_TRUE(cluster);
  CmdResult pool = cluster->ctl("pool create f --size 3 --min-size 2 --pg 16");
  ASSERT_EQ(pool.exit_code, 0) << pool.out;

  // Writers: overwrite and delete a small set of names so that writes to one
  // PG run concurrently and objects change many times.
  Ledger ledger;
  std::vector<std::unique_ptr<client::Client>> clients;  // outlive the writers
  for (int w = 0; w < 3; ++w) clients.push_back(cluster->client(30s));
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  struct JoinWriters {  // also when an ASSERT returns early
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~JoinWriters() {
      stop = true;
      for (auto& t : threads) {
        if (t.joinable()) t.join();
      }
    }
  } join_writers{stop, writers};
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(seed + w);
      client::Client& c = *clients[w];
      for (uint64_t gen = 1; !stop; ++gen) {
        std::string name = "w" + std::to_string(w) + "-" + std::to_string(rng() % 60);
        bool remove = rng() % 10 == 0;
        std::string value = remove ? kAbsent : value_of(name, gen);
        Status st = remove ? c.remove("f", name) : c.put("f", name, value);
        if (remove && st.is(Code::kNotFound)) st = Status::Ok();
        if (st.ok()) ledger.acked(name, value);
        else ledger.unknown(name, value);
      }
    });
  }

  // Faults: at most one OSD and one monitor down at a time, so that every PG
  // keeps min_size copies and the monitors keep a quorum.
  std::mt19937 rng(seed);
  std::string osd_down, mon_down;
  auto restart = [&](std::string& who) {
    if (who.empty()) return;
    cluster->start_daemon(who);
    who.clear();
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int faults = 0;
  // At least 4 faults, however the draws fall (each stop can take seconds).
  while (std::chrono::steady_clock::now() < deadline || faults < 4) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500 + rng() % 3000));
    bool hit_mon = rng() % 3 == 0;
    std::string& slot = hit_mon ? mon_down : osd_down;
    if (!slot.empty()) {
      std::printf("  restart %s\n", slot.c_str());
      restart(slot);
      continue;
    }
    slot = hit_mon ? "mon." + std::to_string(rng() % kMons) : "osd." + std::to_string(rng() % kOsds);
    bool gentle = rng() % 4 == 0;
    std::printf("  %s %s\n", gentle ? "stop (SIGTERM)" : "kill -9", slot.c_str());
    if (gentle) {
      int pid = cluster->pid_of(slot);
      if (pid > 0) ::kill(pid, SIGTERM);
      // A clean stop finishes the ops in flight first; it must be over before
      // the restart (a start while it still runs is a no-op).
      for (int i = 0; i < 600 && cluster->pid_of(slot) > 0; ++i) std::this_thread::sleep_for(100ms);
      if (cluster->pid_of(slot) > 0) {
        std::printf("  %s did not stop within 60 s of SIGTERM: kill -9\n", slot.c_str());
        cluster->kill9(slot);
      }
    } else {
      cluster->kill9(slot);
    }
    ++faults;
  }
  restart(osd_down);
  restart(mon_down);
  auto c = cluster->client();
  ASSERT_TRUE(c);
  ASSERT_TRUE(cluster->wait_osds_up(*c, kOsds, 120s)) << cluster->ctl("status").out;
  // Writes go on while the cluster heals, then stop.
  EXPECT_TRUE(cluster->wait_clean(180s)) << cluster->ctl("pg ls").out;
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_TRUE(cluster->wait_clean(120s)) << cluster->ctl("pg ls").out;
  std::printf("fault test: %d faults, %zu acked writes, %zu failed\n", faults, ledger.acks(),
              ledger.failures());
  EXPECT_GT(ledger.acks(), 100u);

  // Every object, replica by replica.
  size_t bad = 0, checked = 0;
  for (const auto& [name, possible] : ledger.snapshot()) {
    auto loc = c->locate("f", name);
    ASSERT_TRUE(loc.ok()) << loc.status().to_string();
    std::set<OsdId> distinct(loc->up.begin(), loc->up.end());
    EXPECT_EQ(distinct.size(), 3u) << name;
    std::optional<std::string> first;
    for (OsdId osd : loc->up) {
      auto copy = c->read_from_osd("f", name, osd);
      std::string got;
      if (copy.ok() && copy->exists) got = copy->data;
      else if (copy.ok() || copy.status().is(Code::kNotFound)) got = kAbsent;
      else got = "<error " + copy.status().to_string() + ">";
      ++checked;
      bool fine = possible.count(got) > 0 && (!first || *first == got);
      if (!first) first = got;
      if (!fine && ++bad <= 5) {
        ADD_FAILURE() << name << " on osd." << osd << ": "
                      << (possible.count(got) ? "differs from another replica"
                                              : "holds a value it may not hold (" +
                                                    got.substr(0, 40) + ")");
      }
    }
  }
  EXPECT_EQ(bad, 0u) << "of " << checked << " copies";
}

}  // namespace
}  // namespace cairn::test
