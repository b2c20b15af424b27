// A real local cluster for integration tests: `cairn up` in a fresh temp
// directory, daemons as processes on loopback, torn down with `cairn down`.
#pragma once

#include <functional>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/client.h"

namespace cairn::test {

struct CmdResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

// Runs a shell command, capturing its output.
CmdResult run(const std::string& cmd);
std::string bin(const std::string& name);  // path of a built executable

// Flips one byte in every on-disk occurrence of marker under dir (a stopped
// OSD's data: a corrupt replica). Returns how many it flipped.
int corrupt_files(const std::string& dir, const std::string& marker);
// About 300 KB made of `marker` runs, for an object whose stored bytes
// corrupt_files can find: big enough for an OSD's extent file, so its bytes
// lie on disk as written (not inside an SST, whose damage RocksDB reports
// for the whole file).
std::string marked_object_data(const std::string& marker);

// Sets an environment variable for the daemons a test starts, until the end
// of the scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

class TestCluster {
 public:
  // Called with the fresh cluster directory before `cairn up`, e.g. to mount
  // a small filesystem at DIR/osd.N; returning false aborts the start.
  using Prepare = std::function<bool(const std::string& dir)>;
  // Starts mons + osds; extra is appended to `cairn up`'s arguments.
  // Fails the current test (and returns null) if the cluster does not come up.
  static std::unique_ptr<TestCluster> start(int mons = 3, int osds = 3, const std::string& extra = "",
                                            const Prepare& prepare = nullptr);
  ~TestCluster();

  const std::string& dir() const { return dir_; }
  std::string conf() const { return dir_ + "/cairn.conf"; }
  nlohmann::json cluster_json() const;

  // cairnctl -c conf ARGS
  CmdResult ctl(const std::string& args) const;
  // A fresh client connected to this cluster.
  std::unique_ptr<client::Client> client(std::chrono::milliseconds op_timeout = std::chrono::seconds(60)) const;

  int pid_of(const std::string& daemon) const;  // "osd.1"; -1 if not running
  void kill9(const std::string& daemon);        // SIGKILL and wait until it is gone
  void start_daemon(const std::string& daemon); // cairn start
  int mon_leader() const;                        // id of the current leader, -1 if none
  // Waits until every OSD in the map is up (and count of them), up to timeout.
  bool wait_osds_up(client::Client& c, int count, std::chrono::seconds timeout);
  // Waits until `cairnctl status` reports every PG active+clean.
  bool wait_clean(std::chrono::seconds timeout) const;

 private:
  std::string dir_;
};

}  // namespace cairn::test
