// The replicated object cluster end to end: real monitors and OSDs on
// loopback, the client library, faults injected with kill -9.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "common/crc32c.h"
#include "tests/integration/test_cluster.h"

namespace cairn::test {
namespace {

using namespace std::chrono_literals;

// Deterministic content so a reader can check bytes without keeping them.
std::string pattern(const std::string& name, size_t size, uint64_t salt = 0) {
  std::string s(size, '\0');
  uint64_t x = crc32c(name) ^ (salt * 0x9e3779b97f4a7c15ULL) ^ 0x1234567;
  for (size_t i = 0; i < size; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    s[i] = static_cast<char>(x >> 56);
  }
  return s;
}

void create_pool(TestCluster& c, const std::string& name, int size = 3, int pgs = 32) {
  CmdResult r = c.ctl("pool create " + name + " --size " + std::to_string(size) + " --pg " + std::to_string(pgs));
  ASSERT_EQ(r.exit_code, 0) << r.out;
}

// Writes objects one after another until stopped; remembers what was acked.
class WriteStream {
 public:
  WriteStream(client::Client& c, std::string pool, std::string prefix)
      : client_(c), pool_(std::move(pool)), prefix_(std::move(prefix)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~WriteStream() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  size_t acked() const { return acked_.load(); }
  const std::map<std::string, std::string>& objects() const { return objects_; }
  std::vector<std::string> errors;

 private:
  void loop() {
    for (int i = 0; !stop_; ++i) {
      std::string name = prefix_ + std::to_string(i);
      std::string data = pattern(name, 1000 + (i * 7919) % 200000);
      Status st = client_.put(pool_, name, data);
      if (st.ok()) {
        objects_[name] = std::move(data);
        ++acked_;
      } else {
        errors.push_back(name + ": " + st.to_string());
      }
    }
  }
  client::Client& client_;
  std::string pool_, prefix_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> acked_{0};
  std::map<std::string, std::string> objects_;
  std::thread thread_;
};

void wait_for_acks(const WriteStream& w, size_t n, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (w.acked() < n && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
}

void expect_all_readable(client::Client& c, const std::string& pool,
                         const std::map<std::string, std::string>& objects) {
  size_t bad = 0;
  for (const auto& [name, data] : objects) {
    auto got = c.get(pool, name);
    if (!got.ok() || *got != data) {
      if (++bad < 5) ADD_FAILURE() << name << ": " << (got.ok() ? "content differs" : got.status().to_string());
    }
  }
  EXPECT_EQ(bad, 0u) << "of " << objects.size() << " acked objects";
}

TEST(ObjectCluster, ManyObjectsOfRandomSizesRoundTrip) {
  auto cluster = TestCluster::start();
  ASSERT_TRUE(cluster);
  create_pool(*cluster, "data");
  auto c = cluster->client();
  ASSERT_TRUE(c);
  std::mt19937_64 rng(42);
  std::map<std::string, uint32_t> crcs;
  std::map<std::string, size_t> sizes;
  // Mostly small objects with a long tail up to 16 MiB, as datasets look.
  for (int i = 0; i < 2000; ++i) {
    size_t size;
    if (i % 200 == 0) size = (1u << 20) + rng() % (15u << 20);  // 10 large ones
    else if (i % 100 == 1) size = 0;
    else size = std::exp2(std::uniform_real_distribution<double>(0, 18)(rng));
    std::string name = "obj-" + std::to_string(i);
    std::string data = pattern(name, size);
    crcs[name] = crc32c(data);
    sizes[name] = size;
    ASSERT_TRUE(c->put("data", name, std::move(data)).ok()) << name;
  }
  for (const auto& [name, crc] : crcs) {
    auto got = c->get("data", name);
    ASSERT_TRUE(got.ok()) << name << ": " << got.status().to_string();
    ASSERT_EQ(got->size(), sizes[name]) << name;
    ASSERT_EQ(crc32c(*got), crc) << name;
  }
  auto names = c->list("data");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 2000u);
  // Ranged reads and partial writes.
  auto part = c->get("data", "obj-0", 1000, 5000);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(*part, pattern("obj-0", sizes["obj-0"]).substr(1000, 5000));
  ASSERT_TRUE(c->write("data", "obj-0", 10, "hello").ok());
  EXPECT_EQ(*c->get("data", "obj-0", 10, 5), "hello");
  ASSERT_TRUE(c->append("data", "obj-1", "abc").ok());  // obj-1 is empty
  EXPECT_EQ(*c->get("data", "obj-1"), "abc");
}

TEST(ObjectCluster, XattrsOmapAndCompareAndSet) {
  auto cluster = TestCluster::start();
  ASSERT_TRUE(cluster);
  create_pool(*cluster, "meta");
  auto c = cluster->client();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->put("meta", "o", "body").ok());
  ASSERT_TRUE(c->setxattr("meta", "o", "user.owner", "alice").ok());
  EXPECT_EQ(*c->getxattr("meta", "o", "user.owner"), "alice");
  EXPECT_TRUE(c->getxattr("meta", "o", "user.none").status().is(Code::kNotFound));
  std::map<std::string, std::string> kvs;
  for (int i = 0; i < 2500; ++i) kvs["key" + std::to_string(10000 + i)] = "v" + std::to_string(i);
  ASSERT_TRUE(c->omap_set("meta", "o", kvs).ok());
  auto some = c->omap_get("meta", "o", {"key10005", "key19999"});
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(some->size(), 1u);
  EXPECT_EQ(some->at("key10005"), "v5");
  // Page through every key.
  std::map<std::string, std::string> all;
  std::string after;
  bool more = true;
  while (more) {
    auto page = c->omap_list("meta", "o", after, 1000, &more);
    ASSERT_TRUE(page.ok());
    all.insert(page->begin(), page->end());
    if (!page->empty()) after = page->rbegin()->first;
  }
  EXPECT_EQ(all, kvs);
  ASSERT_TRUE(c->omap_rm("meta", "o", {"key10000"}).ok());
  EXPECT_TRUE(c->omap_get("meta", "o", {"key10000"})->empty());

  // A lock built on compare-and-set: only one taker wins.
  auto take = [&](const std::string& who) {
    return c->execute("meta", "lock", {ObjectOp{.code = OpCode::kCmpXattr, .key = "holder", .value = ""},
                                       ObjectOp{.code = OpCode::kSetXattr, .key = "holder", .value = who}});
  };
  auto first = take("a");
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->head.status.ok()) << first->head.status.to_string();
  auto second = take("b");
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->head.status.is(Code::kConflict));
  EXPECT_EQ(*c->getxattr("meta", "lock", "holder"), "a");
}

TEST(ObjectCluster, MonitorLeaderKilledDuringWrites) {
  auto cluster = TestCluster::start();
  ASSERT_TRUE(cluster);
  create_pool(*cluster, "p");
  auto c = cluster->client();
  ASSERT_TRUE(c);
  WriteStream w(*c, "p", "m-");
  wait_for_acks(w, 50, 30s);
  int leader = cluster->mon_leader();
  ASSERT_GE(leader, 0);
  cluster->kill9("mon." + std::to_string(leader));
  size_t at_kill = w.acked();
  // Writes keep flowing (the data path does not need the monitors)...
  wait_for_acks(w, at_kill + 50, 30s);
  EXPECT_GE(w.acked(), at_kill + 50);
  // ...and a new leader is elected within a few seconds.
  int new_leader = -1;
  for (int i = 0; i < 50 && (new_leader < 0 || new_leader == leader); ++i) {
    std::this_thread::sleep_for(200ms);
    new_leader = cluster->mon_leader();
  }
  EXPECT_GE(new_leader, 0);
  EXPECT_NE(new_leader, leader);
  // Map changes work again: create a pool through the new leader.
  create_pool(*cluster, "after");
  w.stop();
  EXPECT_TRUE(w.errors.empty()) << w.errors.front();
  expect_all_readable(*c, "p", w.objects());
  cluster->start_daemon("mon." + std::to_string(leader));
}

TEST(ObjectCluster, OsdKilledDuringWritesThenRestarted) {
  auto cluster = TestCluster::start();
  ASSERT_TRUE(cluster);
  create_pool(*cluster, "p");
  auto c = cluster->client();
  ASSERT_TRUE(c);
  WriteStream w(*c, "p", "o-");
  wait_for_acks(w, 50, 30s);
  cluster->kill9("osd.1");
  size_t at_kill = w.acked();
  // Writes stall until the monitors mark osd.1 down, then continue degraded.
  wait_for_acks(w, at_kill + 50, 60s);
  EXPECT_GE(w.acked(), at_kill + 50) << "writes did not resume after osd.1 died";
  cluster->start_daemon("osd.1");
  ASSERT_TRUE(cluster->wait_osds_up(*c, 3, 60s));
  size_t at_restart = w.acked();
  wait_for_acks(w, at_restart + 50, 60s);
  w.stop();
  EXPECT_TRUE(w.errors.empty()) << w.errors.size() << " errors, first: " << w.errors.front();
  EXPECT_TRUE(cluster->wait_clean(60s));
  expect_all_readable(*c, "p", w.objects());
  // Now lose a different OSD: osd.1 must have been brought up to date, or
  // objects written while it was down would be lost with only 2 copies left.
  cluster->kill9("osd.0");
  cluster->kill9("osd.2");
  CmdResult r = cluster->ctl("osd down 0");
  r = cluster->ctl("osd down 2");
  // min_size 2 of 3 is no longer met with one OSD: lower it to read the survivor.
  r = cluster->ctl("pool set p min_size 1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  expect_all_readable(*c, "p", w.objects());
}

void send_garbage(const std::string& addr, const std::string& bytes) {
  auto colon = addr.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(std::stoi(addr.substr(colon + 1)));
  inet_pton(AF_INET, addr.substr(0, colon).c_str(), &sa.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    (void)!write(fd, bytes.data(), bytes.size());
    std::this_thread::sleep_for(20ms);
  }
  close(fd);
}

TEST(ObjectCluster, BadInputGetsClearErrorsAndDaemonsStayUp) {
  auto cluster = TestCluster::start();
  ASSERT_TRUE(cluster);
  create_pool(*cluster, "p", 3, 8);
  auto c = cluster->client(10s);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->put("p", "x", "hello").ok());

  EXPECT_TRUE(c->put("nope", "x", "y").is(Code::kNotFound));
  EXPECT_TRUE(c->put("p", std::string(kMaxObjectNameLen + 1, 'n'), "y").is(Code::kTooLarge));
  EXPECT_TRUE(c->put("p", "", "y").is(Code::kInvalidArgument));
  auto past_end = c->get("p", "x", 100, 10);
  ASSERT_TRUE(past_end.ok());
  EXPECT_EQ(*past_end, "");
  EXPECT_TRUE(c->get("p", "missing").status().is(Code::kNotFound));
  EXPECT_TRUE(c->write("p", "x", kMaxObjectSize, "z").is(Code::kTooLarge));

  // Garbage at every daemon port: random bytes, a truncated frame, a frame
  // header claiming 4 GiB, and an HTTP port fed binary.
  std::mt19937 rng(7);
  std::string noise(8192, '\0');
  for (auto& ch : noise) ch = static_cast<char>(rng());
  std::string huge_header("CAIRNHS1" + std::string(32, 'a') + std::string(32, 'b'));
  huge_header += std::string("\x43\x52\x4e\x31\x14\x00\x00\x00", 8) + std::string(8, '\0') + "\xff\xff\xff\xff";
  auto j = cluster->cluster_json();
  std::vector<std::string> ports;
  for (const auto& kind : {"mons", "osds"}) {
    for (const auto& d : j[kind]) {
      ports.push_back(d["addr"]);
      ports.push_back(d["http"]);
    }
  }
  for (const auto& addr : ports) {
    send_garbage(addr, noise);
    send_garbage(addr, noise.substr(0, 7));
    send_garbage(addr, huge_header);
  }
  // Every daemon is still there and serving.
  for (const auto& kind : {"mon.0", "mon.1", "mon.2", "osd.0", "osd.1", "osd.2"}) {
    EXPECT_GT(cluster->pid_of(kind), 0) << kind << " died";
  }
  EXPECT_EQ(*c->get("p", "x"), "hello");

  // A client with the wrong cluster key is turned away.
  auto opts = client::load_config(cluster->conf());
  ASSERT_TRUE(opts.ok());
  opts->key = "this-is-not-the-cluster-key";
  opts->connect_timeout = 3s;
  auto bad = client::Client::connect(*opts);
  EXPECT_FALSE(bad.ok());

  // The CLI exits non-zero with a message.
  CmdResult r = cluster->ctl("obj get nope x -");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("nope"), std::string::npos) << r.out;
  r = cluster->ctl("obj stat p missing");
  EXPECT_NE(r.exit_code, 0);
}

TEST(ObjectCluster, FullPoolRefusesWritesKeepsReadsAndDeletes) {
  auto cluster = TestCluster::start();
  ASSERT_TRUE(cluster);
  create_pool(*cluster, "q", 3, 8);
  CmdResult r = cluster->ctl("pool set q max_bytes 1000000");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto c = cluster->client(20s);
  ASSERT_TRUE(c);
  // Fill past the quota; usage reaches the monitors with the OSD reports.
  Status st;
  int written = 0;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    st = c->put("q", "fill-" + std::to_string(written), std::string(100000, 'f'));
    if (!st.ok()) break;
    ++written;
    if (written > 12) std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(st.is(Code::kNoSpace)) << st.to_string();
  EXPECT_GE(written, 10);
  // Reads and deletes still work on a full pool.
  EXPECT_EQ(c->get("q", "fill-0")->size(), 100000u);
  for (int i = 0; i < written; ++i) ASSERT_TRUE(c->remove("q", "fill-" + std::to_string(i)).ok());
  // Space freed: writes are accepted again once the monitors see it.
  deadline = std::chrono::steady_clock::now() + 60s;
  do {
    std::this_thread::sleep_for(500ms);
    st = c->put("q", "after", "ok");
  } while (!st.ok() && std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(st.ok()) << st.to_string();
  CmdResult put = cluster->ctl("obj put q x /etc/hostname");
  EXPECT_EQ(put.exit_code, 0) << put.out;
}

}  // namespace
}  // namespace cairn::test
