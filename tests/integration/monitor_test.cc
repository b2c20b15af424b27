// Monitor quorum membership: a lost monitor is removed and a new one added
// while clients keep writing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "common/local_cluster.h"
#include "tests/integration/test_cluster.h"

namespace cairn::test {
namespace {

using namespace std::chrono_literals;

nlohmann::json mon_ls(TestCluster& c) {
  CmdResult r = c.ctl("mon ls --format json");
  if (r.exit_code != 0) return nlohmann::json::array();
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_discarded() ? nlohmann::json::array() : j;
}

TEST(Monitors, LostMonitorIsReplacedWithoutDowntime) {
  auto cluster = TestCluster::start(3, 3);
  ASSERT_TRUE(cluster);
  ASSERT_EQ(cluster->ctl("pool create p --size 3 --pg 8").exit_code, 0);
  auto c = cluster->client();
  ASSERT_TRUE(c);
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0}, failures{0};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      if (c->put("p", "w" + std::to_string(i), "data").ok()) ++writes;
      else ++failures;
    }
  });
  struct Join {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Join() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } join{stop, writer};

  // Lose mon.2 for good and take it out of the quorum.
  cluster->kill9("mon.2");
  CmdResult rm = cluster->ctl("mon rm 2");
  ASSERT_EQ(rm.exit_code, 0) << rm.out;

  // A new monitor joins on fresh ports.
  auto ports = pick_free_ports(2);
  ASSERT_TRUE(ports.ok());
  std::string addr = "127.0.0.1:" + std::to_string((*ports)[0]);
  std::string http = "127.0.0.1:" + std::to_string((*ports)[1]);
  auto j = cluster->cluster_json();
  std::string peers = "0=" + j["mons"][0]["addr"].get<std::string>() + ",1=" +
                      j["mons"][1]["addr"].get<std::string>() + ",3=" + addr;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string log = cluster->dir() + "/log/mon.3.log";
    FILE* f = freopen(log.c_str(), "a", stderr);
    (void)f;
    std::string data = cluster->dir() + "/mon.3", key = cluster->dir() + "/keyring";
    execl(bin("cairn-mon").c_str(), "cairn-mon", "--id", "3", "--data", data.c_str(), "--addr",
          addr.c_str(), "--http", http.c_str(), "--key", key.c_str(), "--peers", peers.c_str(),
          "--join", nullptr);
    _exit(127);
  }
  struct Reap {
    pid_t pid;
    ~Reap() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reap{pid};
  CmdResult add = cluster->ctl("mon add 3 " + addr + " --http " + http);
  ASSERT_EQ(add.exit_code, 0) << add.out;

  // It catches up: same map epoch as the leader, a voting member.
  bool caught_up = false;
  for (int i = 0; i < 100 && !caught_up; ++i) {
    std::this_thread::sleep_for(200ms);
    auto mons = mon_ls(*cluster);
    uint64_t leader_epoch = 0, new_epoch = 0;
    bool new_in = false;
    for (const auto& m : mons) {
      if (m["leader"] == true && m["map_epoch"].is_number()) leader_epoch = m["map_epoch"];
      if (m["id"] == 3 && m["map_epoch"].is_number()) {
        new_epoch = m["map_epoch"];
        new_in = m["role"] == "follower" || m["role"] == "leader";
      }
    }
    caught_up = new_in && leader_epoch > 0 && new_epoch == leader_epoch;
  }
  ASSERT_TRUE(caught_up) << cluster->ctl("mon ls").out;

  // The quorum is now {0, 1, 3}: losing mon.0 as well still leaves a majority.
  cluster->kill9("mon.0");
  CmdResult pool = cluster->ctl("pool create after --size 3 --pg 8");
  EXPECT_EQ(pool.exit_code, 0) << pool.out;
  int before = writes;
  for (int i = 0; i < 100 && writes < before + 20; ++i) std::this_thread::sleep_for(100ms);
  stop = true;
  if (writer.joinable()) writer.join();
  EXPECT_GE(writes.load(), before + 20);
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace cairn::test
