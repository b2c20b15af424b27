// Local mode: a whole Cairn cluster as processes on one machine, all state
// under one directory. This is what `cairn up/down/status/start/stop` drive,
// and what integration tests can use directly instead of shelling out.
//
// Layout of DIR (every path below is absolute once written):
//
//   DIR/keyring        cluster key: 64 hex chars (32 random bytes), mode 0600
//   DIR/cairn.conf     fsid, mon_addrs, key_file (common/config_file.h format)
//   DIR/cluster.json   fsid, conf, key_file, mons[], osds[] (+ keys other tools add)
//   DIR/mon.N/ osd.N/  daemon data (--data)
//   DIR/log/NAME.log   daemon stdout+stderr, appended
//   DIR/run/NAME.pid   pid of the running daemon
//   DIR/run/lock       flock'ed by every mutating command (up, down, start, stop)
//
// Daemon health is GET http://HTTP/healthz == 200. A monitor answers 200 once it
// knows a quorum leader; an OSD once it has booted and the map shows it up.
//
// Each OSD gets its own simulated host ("node-N") so that the default "host"
// failure domain can place replicas on one machine.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cairn {

// Gateways (kS3, kNbd, kMds) are optional: `up` starts them only when their
// executable sits beside the others. Two MDSes run: one active, one standby.
enum class DaemonType { kMon, kOsd, kS3, kNbd, kMds };

struct DaemonInfo {
  DaemonType type = DaemonType::kMon;
  int id = 0;
  std::string addr;  // messenger "127.0.0.1:P"
  std::string http;  // metrics/health "127.0.0.1:H"
  std::string host;  // OSDs only: simulated host "node-N"
  int pid = 0;       // last known pid; 0 when stopped

  std::string name() const;    // "mon.0", "osd.3", "s3.0", "nbd.0", "mds.1"
  std::string binary() const;  // "cairn-mon", "cairn-osd", "cairn-s3", "cairn-nbd"
};

struct ClusterInfo {
  std::string fsid;
  std::string conf;      // absolute path of cairn.conf
  std::string key_file;  // absolute path of the keyring
  std::vector<DaemonInfo> mons;
  std::vector<DaemonInfo> osds;
  std::vector<DaemonInfo> gateways;  // s3.N, nbd.N, mds.N, started after the OSDs
  // The S3 admin user `up` creates (cluster.json "s3"); empty without S3.
  std::string s3_access_key;
  std::string s3_secret_key;

  // "127.0.0.1:P0,127.0.0.1:P1,..." in mon id order.
  std::string mon_addrs() const;
  DaemonInfo* find(std::string_view name);
};

// ---- Pure-ish building blocks (each tested on its own) ----

// "mon.3" -> (kMon, 3); also "osd.N", "s3.N", "nbd.N". InvalidArgument otherwise.
Result<std::pair<DaemonType, int>> parse_daemon_name(std::string_view name);

// n distinct free TCP ports on 127.0.0.1, none in `avoid`, found by binding
// port 0 (all n sockets are held until the end so the kernel cannot hand out
// one port twice). Another process may still take a port before the daemon
// binds it; callers treat a daemon that fails to start as an error.
Result<std::vector<uint16_t>> pick_free_ports(int n, const std::set<uint16_t>& avoid = {});

// True if 127.0.0.1:port can be bound right now (with SO_REUSEADDR, as the
// daemons bind).
bool loopback_port_free(uint16_t port);

// n random bytes from /dev/urandom as 2n lowercase hex chars.
Result<std::string> random_hex(size_t n);
// A random (version 4) UUID "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".
Result<std::string> random_uuid();

// Returns the key in path, creating it (32 random bytes as hex, mode 0600) if
// the file does not exist. Corruption if an existing file is not a valid key.
Result<std::string> ensure_keyring(const std::string& path);
// Reads a keyring: 64 hex chars, surrounding whitespace ignored. Daemons and
// clients use this for --key / key_file.
Result<std::string> read_keyring(const std::string& path);

// The argv a daemon is started with (argv[0] is bin_dir/binary):
//   cairn-mon --id N --data DIR/mon.N --addr A --http H --key KEY --fsid F
//             --peers 0=A0,1=A1,...
//   cairn-osd --id N --data DIR/osd.N --addr A --http H --host node-N --key KEY
//             --mon A0,A1,...
//   cairn-s3  --id N --addr A --http H --conf DIR/cairn.conf --admin-file DIR/s3-admin.json
//   cairn-nbd --id N --addr A --http H --conf DIR/cairn.conf
std::vector<std::string> daemon_argv(const std::string& dir, const std::string& bin_dir,
                                     const ClusterInfo& cluster, const DaemonInfo& daemon);

// cairn.conf contents (fsid, mon_addrs, key_file).
std::string render_cairn_conf(const ClusterInfo& cluster);

// cluster.json: parse, and merge `cluster` into existing text while keeping
// every top-level key this module does not own. It owns "gateways", and "s3"
// ({"endpoint", "access_key", "secret_key"}) / "nbd" ({"uri"}) while such a
// gateway is part of the cluster. Unparseable existing text is replaced.
Result<ClusterInfo> parse_cluster_json(std::string_view text);
std::string merge_cluster_json(std::string_view existing, const ClusterInfo& cluster);
Result<ClusterInfo> read_cluster_json(const std::string& path);  // NotFound if absent
Status write_cluster_json(const std::string& path, const ClusterInfo& cluster);  // atomic

// Pid files hold "PID\n".
Status write_pid_file(const std::string& path, int pid);
Result<int> read_pid_file(const std::string& path);  // NotFound if absent

// True if pid exists and is not a zombie.
bool process_alive(int pid);
// The NUL-separated /proc/PID/cmdline as a vector; empty if unreadable.
std::vector<std::string> process_cmdline(int pid);
// True if pid is alive, its argv[0] has basename `binary`, and one of its
// arguments lies under dir ("DIR/..."): i.e. it is that cluster's daemon and
// not an unrelated process that reused the pid.
bool process_matches(int pid, std::string_view binary, const std::string& dir);

// Starts argv detached from the caller: double fork (so the daemon is never
// our child or zombie), setsid, stdin from /dev/null, stdout+stderr appended to
// log_path, every other fd closed on exec. Returns the daemon's pid once exec
// succeeded; IoError with the errno text if exec (or opening the log) failed.
Result<int> spawn_detached(const std::vector<std::string>& argv, const std::string& log_path);

// Sends SIGTERM; after grace_ms sends SIGKILL; waits up to kill_wait_ms more.
// Ok when the process is gone (or already was). Does not check identity.
Status terminate_process(int pid, int grace_ms = 10'000, int kill_wait_ms = 5'000);

// The last `lines` lines of a (log) file, "" if unreadable.
std::string tail_file(const std::string& path, int lines);

// ---- The orchestrator behind the `cairn` CLI ----

struct LocalClusterOptions {
  std::string dir;              // made absolute
  std::string bin_dir;          // where cairn-mon, cairn-osd live; "" = beside /proc/self/exe
  int mon_timeout_ms = 30'000;  // monitors reach quorum
  int osd_timeout_ms = 60'000;  // OSDs boot and are marked up
  int gateway_timeout_ms = 60'000;  // gateways report healthy
  // false: only monitors and OSDs (tests of the object cluster alone, where
  // an MDS's lease renewals would be background writes).
  bool gateways = true;
  int stop_grace_ms = 10'000;   // SIGTERM -> SIGKILL
  // Human progress lines (each ends with '\n', may be a partial line ending in
  // "... " followed later by "ok\n"). Null = silent.
  std::function<void(std::string_view)> progress;
};

struct DaemonStatus {
  DaemonInfo info;  // pid is the live pid, 0 if not running
  bool running = false;
  bool healthy = false;  // /healthz == 200
};

class LocalCluster {
 public:
  explicit LocalCluster(LocalClusterOptions options);

  // Creates the cluster in dir (mons defaults to 3, osds to 3), or restarts
  // the one already there with its ids, key, fsid and (where still free)
  // ports; daemons of dir that are already running are left alone. For an
  // existing cluster, mons must equal the current count if given; osds may
  // grow it (new OSDs are added) but not shrink it. Returns once every daemon
  // is healthy; on failure the error names the daemon and includes its log
  // tail, and already-started daemons keep running (`down` stops them).
  Status up(std::optional<int> mons = std::nullopt, std::optional<int> osds = std::nullopt);

  // Stops every daemon of dir (gateways and OSDs first, monitors last).
  Status down();

  // Starts one daemon ("osd.1") with its recorded id, data and ports; waits
  // for its health if wait. Ok if it is already running.
  Status start_daemon(std::string_view name, bool wait = true);
  // Stops one daemon. Ok if it was not running.
  Status stop_daemon(std::string_view name);

  // Every daemon in cluster.json with its live state.
  Result<std::vector<DaemonStatus>> status() const;

  // The "how to use it" text printed after up.
  std::string summary() const;

  // The cluster as last read or written. Valid after up()/status()/load().
  const ClusterInfo& info() const { return info_; }
  // Reads cluster.json into info(). NotFound if there is no cluster in dir.
  Status load();

  const std::string& dir() const { return opts_.dir; }
  std::string conf_path() const { return opts_.dir + "/cairn.conf"; }
  std::string cluster_json_path() const { return opts_.dir + "/cluster.json"; }
  std::string keyring_path() const { return opts_.dir + "/keyring"; }
  std::string s3_admin_path() const { return opts_.dir + "/s3-admin.json"; }
  std::string log_path(std::string_view name) const;
  std::string pid_path(std::string_view name) const;
  std::string data_path(std::string_view name) const;

 private:
  class Lock;
  void say(std::string_view text) const;
  // pid of the running daemon `name` of this dir, or 0.
  int running_pid(const DaemonInfo& d) const;
  Status check_binaries(bool mons, bool osds) const;
  bool has_binary(DaemonType type) const;
  // Adds the gateways whose executables exist (first up) and writes the S3
  // admin credentials file.
  Status plan_gateways();
  // Gives every not-running daemon in `ds` usable ports; monitors keep theirs.
  Status assign_ports(std::vector<DaemonInfo*> ds, bool any_mon_running);
  Status spawn(DaemonInfo& d);
  // Waits until every daemon in ds is healthy or timeout_ms passes; fails
  // early if one of them exits.
  Status wait_healthy(const std::vector<DaemonInfo*>& ds, int timeout_ms);
  Status stop_all(std::vector<DaemonInfo*> ds);
  Status save() const;

  LocalClusterOptions opts_;
  ClusterInfo info_;
};

}  // namespace cairn
