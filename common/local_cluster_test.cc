#include "common/local_cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "common/config_file.h"
#include "common/http_server.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;

// ---- A fake cairn-mon / cairn-osd ----
//
// The orchestration tests run this very test binary through symlinks named
// cairn-mon and cairn-osd. Before gtest starts, a static initializer notices
// the name and becomes a fake daemon: it checks the flag contract, records its
// argv, listens on --addr, serves /healthz on --http and exits on SIGTERM.
// Environment knobs (inherited through spawn_detached):
//   CAIRN_FAKE_FAIL=NAME        NAME exits at once with a message (log tail test)
//   CAIRN_FAKE_IGNORE_TERM=NAME NAME ignores SIGTERM (SIGKILL escalation test)
int run_fake_daemon(const std::string& binary, int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  const bool gateway = binary == "cairn-s3" || binary == "cairn-nbd";
  std::vector<std::string> required = {"--id", "--addr", "--http"};
  if (binary == "cairn-mon") {
    required.insert(required.end(), {"--data", "--key", "--fsid", "--peers"});
  } else if (binary == "cairn-osd") {
    required.insert(required.end(), {"--data", "--key", "--host", "--mon"});
  } else {
    required.push_back("--conf");
    if (binary == "cairn-s3") required.push_back("--admin-file");
  }
  for (const std::string& f : required) {
    if (!flags.count(f)) {
      std::fprintf(stderr, "fake %s: missing %s\n", binary.c_str(), f.c_str());
      return 2;
    }
  }
  const std::string name = (binary == "cairn-mon"   ? "mon."
                            : binary == "cairn-osd" ? "osd."
                            : binary == "cairn-s3"  ? "s3."
                                                    : "nbd.") +
                           flags["--id"];
  if (gateway) flags["--data"] = fs::path(flags["--conf"]).parent_path().string() + "/" + name;
  if (const char* f = std::getenv("CAIRN_FAKE_FAIL"); f && name == f) {
    std::fprintf(stderr, "fake %s: failing on purpose: disk on fire\n", name.c_str());
    return 1;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  if (const char* f = std::getenv("CAIRN_FAKE_IGNORE_TERM"); f && name == f) {
    ::signal(SIGTERM, SIG_IGN);
  } else {
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before threads start: all inherit it
  }
  fs::create_directories(flags["--data"]);
  {
    std::ofstream out(flags["--data"] + "/argv");
    for (int i = 0; i < argc; ++i) out << argv[i] << "\n";
  }
  HttpServer messenger(flags["--addr"]);  // stands in for the messenger's listener
  HttpServer http(flags["--http"]);
  http.route("/healthz", [] { return HttpResponse{200, "text/plain", "ok\n"}; });
  Status st = messenger.start();
  if (st.ok()) st = http.start();
  if (!st.ok()) {
    std::fprintf(stderr, "fake %s: %s\n", name.c_str(), st.to_string().c_str());
    return 1;
  }
  std::fprintf(stderr, "fake %s: up\n", name.c_str());
  int sig = 0;
  if (std::getenv("CAIRN_FAKE_IGNORE_TERM") && name == std::getenv("CAIRN_FAKE_IGNORE_TERM")) {
    for (;;) ::pause();
  }
  sigwait(&set, &sig);
  std::fprintf(stderr, "fake %s: stopping\n", name.c_str());
  return 0;
}

int maybe_run_fake_daemon() {
  std::vector<std::string> args = process_cmdline(::getpid());
  if (args.empty()) return 0;
  std::string base = fs::path(args[0]).filename().string();
  if (base != "cairn-mon" && base != "cairn-osd" && base != "cairn-s3" && base != "cairn-nbd") {
    return 0;
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  std::fflush(stdout);
  std::_Exit(run_fake_daemon(base, static_cast<int>(argv.size()), argv.data()));
}
[[maybe_unused]] const int kFakeDaemon = maybe_run_fake_daemon();

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cairn_local_cluster_test.XXXXXX";
    CAIRN_CHECK(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// ---- building blocks ----

TEST(LocalCluster, ParseDaemonName) {
  auto r = parse_daemon_name("osd.12");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(DaemonType::kOsd, r->first);
  EXPECT_EQ(12, r->second);
  EXPECT_TRUE(parse_daemon_name("mon.0").ok());
  EXPECT_EQ(DaemonType::kMds, parse_daemon_name("mds.1")->first);
  for (const char* bad : {"osd", "osd.", "osd.x", "rgw.0", "osd.-1", "mon.1234567", ""}) {
    EXPECT_FALSE(parse_daemon_name(bad).ok()) << bad;
  }
}

TEST(LocalCluster, PickFreePorts) {
  auto first = pick_free_ports(1);
  ASSERT_TRUE(first.ok());
  std::set<uint16_t> avoid = {(*first)[0]};
  auto ports = pick_free_ports(20, avoid);
  ASSERT_TRUE(ports.ok()) << ports.status().to_string();
  std::set<uint16_t> distinct(ports->begin(), ports->end());
  EXPECT_EQ(20u, distinct.size());
  EXPECT_EQ(0u, distinct.count((*first)[0]));
  for (uint16_t p : *ports) EXPECT_TRUE(loopback_port_free(p)) << p;
  // A port with a listener is not free.
  HttpServer s("127.0.0.1:0");
  ASSERT_TRUE(s.start().ok());
  std::string host;
  uint16_t busy = 0;
  ASSERT_TRUE(split_host_port(s.address(), &host, &busy).ok());
  EXPECT_FALSE(loopback_port_free(busy));
}

TEST(LocalCluster, RandomIds) {
  auto a = random_uuid(), b = random_uuid();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(std::regex_match(
      *a, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << *a;
  auto h = random_hex(32);
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(std::regex_match(*h, std::regex("[0-9a-f]{64}")));
}

TEST(LocalCluster, Keyring) {
  TempDir dir;
  const std::string path = dir.path() + "/keyring";
  auto k1 = ensure_keyring(path);
  ASSERT_TRUE(k1.ok()) << k1.status().to_string();
  EXPECT_EQ(64u, k1->size());
  EXPECT_EQ(*k1, read_file(path));  // exactly 64 hex chars, no newline
  struct stat st {};
  ASSERT_EQ(0, ::stat(path.c_str(), &st));
  EXPECT_EQ(0600u, st.st_mode & 0777);
  auto k2 = ensure_keyring(path);  // existing key is kept
  ASSERT_TRUE(k2.ok());
  EXPECT_EQ(*k1, *k2);
  std::ofstream(path) << "  " << *k1 << "\n";  // whitespace tolerated
  EXPECT_EQ(*k1, *read_keyring(path));
  std::ofstream(path) << "not a key\n";
  EXPECT_EQ(Code::kCorruption, ensure_keyring(path).status().code());
  EXPECT_EQ(Code::kNotFound, read_keyring(dir.path() + "/none").status().code());
}

ClusterInfo sample_cluster() {
  ClusterInfo c;
  c.fsid = "f5d1c1a2-0000-4000-8000-000000000000";
  c.conf = "/d/cairn.conf";
  c.key_file = "/d/keyring";
  for (int i = 0; i < 3; ++i) {
    c.mons.push_back({DaemonType::kMon, i, "127.0.0.1:" + std::to_string(7000 + i),
                      "127.0.0.1:" + std::to_string(8000 + i), "", 100 + i});
  }
  c.osds.push_back({DaemonType::kOsd, 0, "127.0.0.1:9000", "127.0.0.1:9100", "node-0", 0});
  return c;
}

TEST(LocalCluster, DaemonArgv) {
  ClusterInfo c = sample_cluster();
  EXPECT_EQ((std::vector<std::string>{"/b/cairn-mon", "--id", "1", "--data", "/d/mon.1", "--addr",
                                      "127.0.0.1:7001", "--http", "127.0.0.1:8001", "--key",
                                      "/d/keyring", "--fsid", c.fsid, "--peers",
                                      "0=127.0.0.1:7000,1=127.0.0.1:7001,2=127.0.0.1:7002"}),
            daemon_argv("/d", "/b", c, c.mons[1]));
  EXPECT_EQ((std::vector<std::string>{"/b/cairn-osd", "--id", "0", "--data", "/d/osd.0", "--addr",
                                      "127.0.0.1:9000", "--http", "127.0.0.1:9100", "--host",
                                      "node-0", "--key", "/d/keyring", "--mon",
                                      "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"}),
            daemon_argv("/d", "/b", c, c.osds[0]));
}

TEST(LocalCluster, CairnConfParses) {
  auto conf = parse_config(render_cairn_conf(sample_cluster()));
  ASSERT_TRUE(conf.ok());
  EXPECT_EQ((ConfigMap{{"fsid", "f5d1c1a2-0000-4000-8000-000000000000"},
                       {"mon_addrs", "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"},
                       {"key_file", "/d/keyring"}}),
            *conf);
}

TEST(LocalCluster, ClusterJsonRoundTripKeepsUnknownKeys) {
  ClusterInfo c = sample_cluster();
  std::string text = merge_cluster_json(
      R"({"s3": {"addr": "127.0.0.1:1"}, "fsid": "old", "mons": 7, "nbd": [1]})", c);
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ("127.0.0.1:1", j["s3"]["addr"]);
  EXPECT_EQ(nlohmann::json::array({1}), j["nbd"]);
  EXPECT_EQ(c.fsid, j["fsid"]);
  EXPECT_EQ("/d/cairn.conf", j["conf"]);
  EXPECT_EQ(3u, j["mons"].size());
  EXPECT_EQ(
      nlohmann::json::parse(
          R"({"id":0,"addr":"127.0.0.1:9000","http":"127.0.0.1:9100","host":"node-0","pid":0})"),
      j["osds"][0]);
  EXPECT_FALSE(j["mons"][0].contains("host"));

  auto back = parse_cluster_json(text);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(c.fsid, back->fsid);
  ASSERT_EQ(3u, back->mons.size());
  EXPECT_EQ("127.0.0.1:8002", back->mons[2].http);
  EXPECT_EQ(102, back->mons[2].pid);
  ASSERT_EQ(1u, back->osds.size());
  EXPECT_EQ("node-0", back->osds[0].host);
  EXPECT_EQ(DaemonType::kOsd, back->osds[0].type);

  // Garbage existing text is replaced, garbage input is Corruption.
  EXPECT_TRUE(parse_cluster_json(merge_cluster_json("{{{", c)).ok());
  EXPECT_EQ(Code::kCorruption, parse_cluster_json("[1]").status().code());
  EXPECT_EQ(Code::kCorruption,
            parse_cluster_json(R"({"fsid":"x","mons":[{"id":"a"}]})").status().code());

  TempDir dir;
  const std::string path = dir.path() + "/cluster.json";
  std::ofstream(path) << R"({"s3": {"addr": "x"}})";
  ASSERT_TRUE(write_cluster_json(path, c).ok());
  EXPECT_EQ("x", nlohmann::json::parse(read_file(path))["s3"]["addr"]);
  EXPECT_EQ(c.fsid, read_cluster_json(path)->fsid);
}

TEST(LocalCluster, PidFilesAndProcesses) {
  TempDir dir;
  const std::string path = dir.path() + "/x.pid";
  EXPECT_EQ(Code::kNotFound, read_pid_file(path).status().code());
  ASSERT_TRUE(write_pid_file(path, 1234).ok());
  EXPECT_EQ("1234\n", read_file(path));
  EXPECT_EQ(1234, *read_pid_file(path));
  std::ofstream(path) << "garbage";
  EXPECT_EQ(Code::kCorruption, read_pid_file(path).status().code());

  EXPECT_TRUE(process_alive(::getpid()));
  EXPECT_FALSE(process_alive(0));
  EXPECT_FALSE(process_alive(-1));
  // We are alive but not a cairn-osd of that dir.
  EXPECT_FALSE(process_matches(::getpid(), "cairn-osd", dir.path()));
}

TEST(LocalCluster, SpawnDetachedAndTerminate) {
  TempDir dir;
  const std::string log = dir.path() + "/sleep.log";
  auto pid = spawn_detached({"/bin/sh", "-c", "echo hello; echo err >&2; exec sleep 30"}, log);
  ASSERT_TRUE(pid.ok()) << pid.status().to_string();
  EXPECT_TRUE(process_alive(*pid));
  // Not our child: waitpid must not find it.
  EXPECT_EQ(-1, ::waitpid(*pid, nullptr, WNOHANG));
  EXPECT_EQ(ECHILD, errno);
  // Its own session.
  EXPECT_NE(::getsid(0), ::getsid(*pid));
  for (int i = 0; i < 100 && read_file(log).find("err") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ("hello\nerr\n", read_file(log));
  EXPECT_EQ("err\n", tail_file(log, 1));
  EXPECT_EQ("hello\nerr\n", tail_file(log, 5));
  ASSERT_TRUE(terminate_process(*pid, 5000).ok());
  EXPECT_FALSE(process_alive(*pid));

  // SIGTERM ignored -> SIGKILL after the grace period.
  pid = spawn_detached({"/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"}, log);
  ASSERT_TRUE(pid.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(terminate_process(*pid, 300).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250));
  EXPECT_FALSE(process_alive(*pid));

  auto bad = spawn_detached({dir.path() + "/no-such-binary"}, log);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string::npos, bad.status().message().find("No such file"))
      << bad.status().message();
  bad = spawn_detached({"/bin/true"}, dir.path() + "/no/such/dir/log");
  EXPECT_FALSE(bad.ok());
}

TEST(LocalCluster, SpawnedDaemonInheritsNoDescriptors) {
  TempDir dir;
  // An fd without O_CLOEXEC (like a careless listening socket) must not leak.
  int leaky = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky, 3);
  const std::string log = dir.path() + "/fds.log";
  auto pid = spawn_detached({"/bin/sh", "-c", "ls /proc/self/fd"}, log);
  ::close(leaky);
  ASSERT_TRUE(pid.ok());
  for (int i = 0; i < 100 && process_alive(*pid); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // 0, 1, 2 and the fd ls uses to read the directory.
  std::string fds = read_file(log);
  EXPECT_EQ(4, std::count(fds.begin(), fds.end(), '\n')) << fds;
}

// ---- orchestration against fake daemons ----

class LocalClusterRun : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = tmp_.path() + "/bin";
    fs::create_directories(bin_);
    std::string self = fs::read_symlink("/proc/self/exe").string();
    fs::create_symlink(self, bin_ + "/cairn-mon");
    fs::create_symlink(self, bin_ + "/cairn-osd");
    dir_ = tmp_.path() + "/cluster";
    ::unsetenv("CAIRN_FAKE_FAIL");
    ::unsetenv("CAIRN_FAKE_IGNORE_TERM");
  }
  void TearDown() override {
    (void)make().down();  // never leak daemons, whatever the test did
    ::unsetenv("CAIRN_FAKE_FAIL");
    ::unsetenv("CAIRN_FAKE_IGNORE_TERM");
  }
  LocalCluster make() {
    LocalClusterOptions o;
    o.dir = dir_;
    o.bin_dir = bin_;
    o.mon_timeout_ms = 10'000;
    o.osd_timeout_ms = 10'000;
    o.stop_grace_ms = 2'000;
    o.progress = [this](std::string_view s) { progress_ += s; };
    return LocalCluster(o);
  }
  int count_running() {
    auto st = make().status();
    CAIRN_CHECK(st.ok());
    int n = 0;
    for (const DaemonStatus& d : *st) n += d.running && d.healthy;
    return n;
  }

  TempDir tmp_;
  std::string bin_, dir_, progress_;
};

TEST_F(LocalClusterRun, UpStatusStopStartDownUp) {
  LocalCluster c = make();
  Status st = c.up(3, 2);
  ASSERT_TRUE(st.ok()) << st.to_string() << "\n" << progress_;
  EXPECT_NE(std::string::npos, progress_.find("waiting for 3 monitors to form a quorum... ok"))
      << progress_;
  EXPECT_NE(std::string::npos, progress_.find("waiting for 2 OSDs to boot")) << progress_;
  EXPECT_NE(std::string::npos, c.summary().find("export CAIRN_CONF=" + dir_ + "/cairn.conf"));

  // Files.
  auto info = read_cluster_json(dir_ + "/cluster.json");
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(3u, info->mons.size());
  ASSERT_EQ(2u, info->osds.size());
  EXPECT_EQ(dir_ + "/cairn.conf", info->conf);
  EXPECT_EQ(dir_ + "/keyring", info->key_file);
  EXPECT_EQ("node-1", info->osds[1].host);
  std::set<std::string> addrs;
  for (auto* v : {&info->mons, &info->osds}) {
    for (const DaemonInfo& d : *v) {
      EXPECT_GT(d.pid, 0);
      EXPECT_EQ(d.pid, *read_pid_file(dir_ + "/run/" + d.name() + ".pid"));
      EXPECT_TRUE(process_matches(d.pid, d.binary(), dir_));
      addrs.insert(d.addr);
      addrs.insert(d.http);
      EXPECT_NE(std::string::npos, read_file(dir_ + "/log/" + d.name() + ".log").find("up"));
    }
  }
  EXPECT_EQ(10u, addrs.size());  // all ports distinct
  auto conf = read_config_file(dir_ + "/cairn.conf");
  ASSERT_TRUE(conf.ok());
  EXPECT_EQ(info->fsid, (*conf)["fsid"]);
  EXPECT_EQ(info->mon_addrs(), (*conf)["mon_addrs"]);
  EXPECT_EQ(dir_ + "/keyring", (*conf)["key_file"]);
  // The fake daemon recorded the exact command line it got.
  EXPECT_EQ("--peers", [&] {
    std::string a = read_file(dir_ + "/mon.0/argv");
    return a.substr(a.find("--peers"), 7);
  }());
  EXPECT_EQ(5, count_running());

  // Stop and restart one OSD: same address, new pid.
  const int old_pid = info->osds[1].pid;
  ASSERT_TRUE(make().stop_daemon("osd.1").ok());
  EXPECT_FALSE(process_alive(old_pid));
  EXPECT_FALSE(fs::exists(dir_ + "/run/osd.1.pid"));
  EXPECT_EQ(4, count_running());
  ASSERT_TRUE(make().stop_daemon("osd.1").ok());  // already stopped: fine
  ASSERT_TRUE(make().start_daemon("osd.1").ok());
  auto info2 = read_cluster_json(dir_ + "/cluster.json");
  EXPECT_EQ(info->osds[1].addr, info2->osds[1].addr);
  EXPECT_NE(old_pid, info2->osds[1].pid);
  EXPECT_EQ(5, count_running());
  EXPECT_EQ(Code::kNotFound, make().start_daemon("osd.9").code());
  EXPECT_EQ(Code::kInvalidArgument, make().stop_daemon("bogus").code());

  // Re-running up leaves running daemons alone.
  ASSERT_TRUE(make().up().ok());
  EXPECT_EQ(info2->mons[0].pid, read_cluster_json(dir_ + "/cluster.json")->mons[0].pid);

  // Down stops everything; up brings back the same cluster.
  ASSERT_TRUE(make().down().ok());
  for (auto* v : {&info2->mons, &info2->osds}) {
    for (const DaemonInfo& d : *v) EXPECT_FALSE(process_alive(d.pid)) << d.name();
  }
  EXPECT_EQ(0, count_running());
  const std::string key = read_file(dir_ + "/keyring");
  ASSERT_TRUE(make().up().ok());
  auto info3 = read_cluster_json(dir_ + "/cluster.json");
  EXPECT_EQ(info->fsid, info3->fsid);
  EXPECT_EQ(key, read_file(dir_ + "/keyring"));
  EXPECT_EQ(info->mon_addrs(), info3->mon_addrs());
  EXPECT_EQ(5, count_running());

  // Grow by one OSD; shrinking and changing the monitor count are refused.
  ASSERT_TRUE(make().up(std::nullopt, 3).ok());
  EXPECT_EQ(6, count_running());
  EXPECT_EQ(Code::kInvalidArgument, make().up(std::nullopt, 1).code());
  EXPECT_EQ(Code::kInvalidArgument, make().up(5, std::nullopt).code());
}

TEST_F(LocalClusterRun, GatewayKeysSurviveRewrites) {
  ASSERT_TRUE(make().up(1, 1).ok());
  {
    auto j = nlohmann::json::parse(read_file(dir_ + "/cluster.json"));
    j["s3"] = {{"addr", "127.0.0.1:1"}};
    std::ofstream(dir_ + "/cluster.json") << j.dump();
  }
  ASSERT_TRUE(make().stop_daemon("osd.0").ok());
  ASSERT_TRUE(make().down().ok());
  EXPECT_EQ("127.0.0.1:1", nlohmann::json::parse(read_file(dir_ + "/cluster.json"))["s3"]["addr"]);
}

TEST_F(LocalClusterRun, GatewaysStartWhenTheirBinariesExist) {
  fs::create_symlink(fs::read_symlink("/proc/self/exe"), bin_ + "/cairn-s3");
  ASSERT_TRUE(make().up(1, 1).ok()) << progress_;
  EXPECT_NE(std::string::npos, progress_.find("waiting for 1 gateway to become healthy... ok"))
      << progress_;
  auto j = nlohmann::json::parse(read_file(dir_ + "/cluster.json"));
  ASSERT_EQ(1u, j["gateways"].size());
  EXPECT_EQ("s3", j["gateways"][0]["type"]);
  const std::string addr = j["gateways"][0]["addr"];
  EXPECT_EQ("http://" + addr, j["s3"]["endpoint"]);
  const std::string ak = j["s3"]["access_key"], sk = j["s3"]["secret_key"];
  EXPECT_EQ(20u, ak.size());
  EXPECT_EQ(40u, sk.size());
  EXPECT_FALSE(j.contains("nbd"));  // no cairn-nbd beside the others
  // The gateway got its admin credentials through a private file.
  auto admin = nlohmann::json::parse(read_file(dir_ + "/s3-admin.json"));
  EXPECT_EQ(ak, admin["access_key"]);
  EXPECT_EQ(sk, admin["secret_key"]);
  struct stat sb;
  ASSERT_EQ(0, ::stat((dir_ + "/s3-admin.json").c_str(), &sb));
  EXPECT_EQ(0600u, sb.st_mode & 0777);
  std::string argv = read_file(dir_ + "/s3.0/argv");
  EXPECT_NE(std::string::npos, argv.find("--conf\n" + dir_ + "/cairn.conf\n")) << argv;
  EXPECT_EQ(3, count_running());

  // stop/start by name; down stops it; up brings it back with the same keys.
  ASSERT_TRUE(make().stop_daemon("s3.0").ok());
  EXPECT_EQ(2, count_running());
  ASSERT_TRUE(make().start_daemon("s3.0").ok());
  EXPECT_EQ(3, count_running());
  ASSERT_TRUE(make().down().ok());
  EXPECT_EQ(0, count_running());
  ASSERT_TRUE(make().up().ok());
  auto j2 = nlohmann::json::parse(read_file(dir_ + "/cluster.json"));
  EXPECT_EQ(ak, j2["s3"]["access_key"]);
  EXPECT_EQ(3, count_running());
  EXPECT_EQ(DaemonType::kS3, parse_daemon_name("s3.0")->first);
  EXPECT_EQ(DaemonType::kNbd, parse_daemon_name("nbd.2")->first);
}

TEST_F(LocalClusterRun, FailingDaemonShowsLogTail) {
  ::setenv("CAIRN_FAKE_FAIL", "osd.1", 1);
  Status st = make().up(1, 2);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(std::string::npos, st.message().find("osd.1 exited during start-up")) << st.message();
  EXPECT_NE(std::string::npos, st.message().find("disk on fire")) << st.message();
  // The others keep running for inspection; down cleans up.
  EXPECT_EQ(2, count_running());
  ASSERT_TRUE(make().down().ok());
  EXPECT_EQ(0, count_running());
}

TEST_F(LocalClusterRun, StubbornDaemonIsKilled) {
  ::setenv("CAIRN_FAKE_IGNORE_TERM", "mon.0", 1);
  ASSERT_TRUE(make().up(1, 0).ok());
  const int pid = make().status()->at(0).info.pid;
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(make().down().ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  EXPECT_FALSE(process_alive(pid));
}

TEST_F(LocalClusterRun, StalePidFileIsNotSignalled) {
  ASSERT_TRUE(make().up(1, 0).ok());
  ASSERT_TRUE(make().stop_daemon("mon.0").ok());
  // A pid file pointing at an unrelated live process (ourselves) must be ignored.
  ASSERT_TRUE(write_pid_file(dir_ + "/run/mon.0.pid", ::getpid()).ok());
  auto st = make().status();
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->at(0).running);
  ASSERT_TRUE(make().down().ok());  // would kill this test if it trusted the pid file
  ASSERT_TRUE(make().start_daemon("mon.0").ok());
  EXPECT_EQ(1, count_running());
}

TEST_F(LocalClusterRun, MissingBinaryAndEmptyDir) {
  LocalClusterOptions o;
  o.dir = dir_;
  o.bin_dir = tmp_.path() + "/nowhere";
  Status st = LocalCluster(o).up();
  EXPECT_EQ(Code::kNotFound, st.code());
  EXPECT_NE(std::string::npos, st.message().find("cairn-mon")) << st.message();
  EXPECT_EQ(Code::kNotFound, make().down().code());
  EXPECT_EQ(Code::kNotFound, make().status().status().code());
  // An empty data directory (a prepared mount point) is not daemon data:
  // up goes on (and fails only for the missing binaries).
  fs::create_directories(dir_ + "/osd.0/lost+found");
  EXPECT_EQ(Code::kNotFound, LocalCluster(o).up().code());
  // Daemon data without cluster.json is refused rather than overwritten.
  std::ofstream(dir_ + "/osd.0/CURRENT") << "MANIFEST-000001\n";
  EXPECT_EQ(Code::kAlreadyExists, make().up().code());
}

}  // namespace
}  // namespace cairn
