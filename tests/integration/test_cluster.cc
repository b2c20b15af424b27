#include "tests/integration/test_cluster.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace cairn::test {

CmdResult run(const std::string& cmd) {
  CmdResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string marked_object_data(const std::string& marker) {
  std::string data;
  while (data.size() < 300000) data += marker + std::to_string(data.size()) + std::string(977, 'q');
  return data;
}

int corrupt_files(const std::string& dir, const std::string& marker) {
  int flipped = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
    if (!f.is_regular_file()) continue;
    std::fstream io(f.path(), std::ios::in | std::ios::out | std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(io)), std::istreambuf_iterator<char>());
    for (size_t pos = bytes.find(marker); pos != std::string::npos; pos = bytes.find(marker, pos + 1)) {
      io.seekp(static_cast<std::streamoff>(pos + marker.size() / 2));
      char c = static_cast<char>(bytes[pos + marker.size() / 2] ^ 0x5a);
      io.write(&c, 1);
      ++flipped;
    }
  }
  return flipped;
}

std::string bin(const std::string& name) { return std::string(CAIRN_BIN_DIR) + "/" + name; }

std::unique_ptr<TestCluster> TestCluster::start(int mons, int osds, const std::string& extra,
                                                const Prepare& prepare) {
  char tmpl[] = "/tmp/cairn-test-XXXXXX";
  const char* d = mkdtemp(tmpl);
  if (!d) {
    ADD_FAILURE() << "mkdtemp failed";
    return nullptr;
  }
  auto c = std::unique_ptr<TestCluster>(new TestCluster());
  c->dir_ = d;
  if (prepare && !prepare(c->dir_)) {
    ADD_FAILURE() << "preparing " << c->dir_ << " failed";
    return nullptr;
  }
  // The object cluster alone: gateways (an MDS renews its lease every few
  // seconds) would add writes the recovery counts here do not expect.
  CmdResult r = run(bin("cairn") + " up --no-gateways --dir " + c->dir_ + " --mons " +
                    std::to_string(mons) + " --osds " + std::to_string(osds) + " " + extra);
  if (r.exit_code != 0) {
    ADD_FAILURE() << "cairn up failed (" << r.exit_code << "):\n" << r.out;
    return nullptr;
  }
  return c;
}

namespace {

// Sanitizer reports (ASan, LSan, UBSan) that the daemons wrote to their logs.
// The daemons' exit codes are not seen by anyone, so this is how a
// sanitizer build's findings in a daemon fail the test.
std::string sanitizer_reports(const std::string& log_dir) {
  std::string found;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(log_dir, ec)) {
    std::ifstream in(f.path());
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("Sanitizer:") != std::string::npos ||
          line.find(": runtime error: ") != std::string::npos) {
        found += f.path().filename().string() + ": " + line + "\n";
      }
    }
  }
  return found;
}

}  // namespace

TestCluster::~TestCluster() {
  CmdResult r = run(bin("cairn") + " down --dir " + dir_);
  if (r.exit_code != 0) std::fprintf(stderr, "cairn down failed: %s\n", r.out.c_str());
  std::string reports = sanitizer_reports(dir_ + "/log");
  if (!reports.empty()) ADD_FAILURE() << "sanitizer reports in daemon logs:\n" << reports;
  if (!::testing::Test::HasFailure()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  } else {
    std::fprintf(stderr, "keeping %s for inspection (logs in %s/log)\n", dir_.c_str(), dir_.c_str());
  }
}

nlohmann::json TestCluster::cluster_json() const {
  std::ifstream in(dir_ + "/cluster.json");
  return nlohmann::json::parse(in, nullptr, false);
}

CmdResult TestCluster::ctl(const std::string& args) const {
  // A CLI that hangs must fail the test, not stall the suite.
  CmdResult r = run("timeout -k 5 600 " + bin("cairnctl") + " -c " + conf() + " " + args);
  if (r.exit_code == 124) r.out += "\n(cairnctl " + args + " did not finish within 600 s)";
  return r;
}

std::unique_ptr<client::Client> TestCluster::client(std::chrono::milliseconds op_timeout) const {
  auto opts = client::load_config(conf());
  EXPECT_TRUE(opts.ok()) << opts.status().to_string();
  if (!opts.ok()) return nullptr;
  opts->op_timeout = op_timeout;
  auto c = client::Client::connect(*opts);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  if (!c.ok()) return nullptr;
  return std::move(*c);
}

int TestCluster::pid_of(const std::string& daemon) const {
  std::ifstream in(dir_ + "/run/" + daemon + ".pid");
  int pid = -1;
  if (!(in >> pid)) return -1;
  if (kill(pid, 0) != 0) return -1;
  return pid;
}

void TestCluster::kill9(const std::string& daemon) {
  int pid = pid_of(daemon);
  ASSERT_GT(pid, 0) << daemon << " is not running";
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  for (int i = 0; i < 200; ++i) {
    // The launcher's child is reaped by init; /proc/PID disappears or turns zombie.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line) || line.find(") Z") != std::string::npos) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  FAIL() << daemon << " (pid " << pid << ") did not die";
}

void TestCluster::start_daemon(const std::string& daemon) {
  CmdResult r = run(bin("cairn") + " start --dir " + dir_ + " " + daemon);
  ASSERT_EQ(r.exit_code, 0) << r.out;
}

int TestCluster::mon_leader() const {
  CmdResult r = ctl("mon ls --format json");
  if (r.exit_code != 0) return -1;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) return -1;
  for (const auto& m : j) {
    if (m.value("role", "") == "leader") return m.value("id", -1);
  }
  return -1;
}

bool TestCluster::wait_osds_up(client::Client& c, int count, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    ClusterMap m = c.map();
    int up = 0;
    for (const auto& [id, o] : m.osds) up += o.up ? 1 : 0;
    if (up == count) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

bool TestCluster::wait_clean(std::chrono::seconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    CmdResult r = ctl("status --format json");
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (!j.is_discarded() && j.contains("pgs_by_state")) {
      auto& s = j["pgs_by_state"];
      int total = j.value("pgs", 0);
      if (total > 0 && s.size() == 1 && s.contains("active+clean")) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return false;
}

}  // namespace cairn::test
