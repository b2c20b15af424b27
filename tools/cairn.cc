// cairn: runs a whole Cairn cluster as local processes, all state under one
// directory.
//
//   cairn up     --dir DIR [--mons 3] [--osds 3] [--bin-dir D]
//   cairn down   --dir DIR
//   cairn status --dir DIR [--json]
//   cairn start  --dir DIR NAME [--no-wait]     (NAME: mon.0, osd.1, ...)
//   cairn stop   --dir DIR NAME
//
// Exit codes: 0 success; 1 error (message on stderr); `status` returns 3 when
// any daemon is stopped or unhealthy. The work is done by common/local_cluster.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/local_cluster.h"

namespace {

using cairn::LocalCluster;
using cairn::LocalClusterOptions;
using cairn::Status;

constexpr int kExitError = 1;
constexpr int kExitNotHealthy = 3;

void print_progress(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

int fail(const char* command, const Status& st, const std::string& hint = "") {
  std::fflush(stdout);
  std::fprintf(stderr, "cairn %s: %s\n", command, st.to_string().c_str());
  if (!hint.empty()) std::fprintf(stderr, "%s\n", hint.c_str());
  return kExitError;
}

int print_status(LocalCluster& cluster, bool as_json) {
  auto st = cluster.status();
  if (!st.ok()) return fail("status", st.status());
  bool all_healthy = true;
  for (const cairn::DaemonStatus& d : *st) all_healthy &= d.healthy;
  if (as_json) {
    nlohmann::json out = nlohmann::json::array();
    for (const cairn::DaemonStatus& d : *st) {
      out.push_back({{"name", d.info.name()},
                     {"pid", d.info.pid},
                     {"addr", d.info.addr},
                     {"http", d.info.http},
                     {"running", d.running},
                     {"healthy", d.healthy}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return all_healthy ? 0 : kExitNotHealthy;
  }
  std::printf("cluster in %s\n", cluster.dir().c_str());
  std::printf("%-8s %-8s %-22s %-22s %s\n", "NAME", "PID", "ADDR", "HTTP", "STATE");
  for (const cairn::DaemonStatus& d : *st) {
    const char* state = !d.running ? "stopped" : d.healthy ? "running" : "running, not healthy";
    std::string pid = d.running ? std::to_string(d.info.pid) : "-";
    std::printf("%-8s %-8s %-22s %-22s %s\n", d.info.name().c_str(), pid.c_str(),
                d.info.addr.c_str(), d.info.http.c_str(), state);
  }
  return all_healthy ? 0 : kExitNotHealthy;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cairn: run a Cairn storage cluster as local processes"};
  app.require_subcommand(1);

  std::string dir, bin_dir, name;
  int mons = 0, osds = 0;
  bool as_json = false, no_wait = false;

  CLI::App* up = app.add_subcommand(
      "up", "Start (or restart) the cluster in DIR and wait until it is healthy");
  up->add_option("--dir", dir, "Cluster directory (data, logs, config)")->required();
  CLI::Option* mons_opt = up->add_option("--mons", mons, "Monitors for a new cluster (default 3)")
                              ->check(CLI::Range(1, 7));
  CLI::Option* osds_opt =
      up->add_option("--osds", osds, "OSDs (default 3; may grow an existing cluster)")
          ->check(CLI::Range(0, 64));
  up->add_option("--bin-dir", bin_dir, "Where cairn-mon and cairn-osd are (default: beside cairn)");
  bool no_gateways = false;
  up->add_flag("--no-gateways", no_gateways,
               "Start only monitors and OSDs (no S3, NBD or MDS daemons)");

  CLI::App* down = app.add_subcommand("down", "Stop every daemon of the cluster in DIR");
  down->add_option("--dir", dir, "Cluster directory")->required();

  CLI::App* status = app.add_subcommand("status", "List the daemons and whether each is healthy");
  status->add_option("--dir", dir, "Cluster directory")->required();
  status->add_flag("--json", as_json, "Machine-readable output");

  CLI::App* start = app.add_subcommand("start", "Start one daemon (e.g. osd.1)");
  start->add_option("--dir", dir, "Cluster directory")->required();
  start->add_option("name", name, "Daemon name: mon.N or osd.N")->required();
  start->add_option("--bin-dir", bin_dir, "Where the daemon binaries are");
  start->add_flag("--no-wait", no_wait, "Do not wait for the daemon to become healthy");

  CLI::App* stop = app.add_subcommand("stop", "Stop one daemon (e.g. osd.1)");
  stop->add_option("--dir", dir, "Cluster directory")->required();
  stop->add_option("name", name, "Daemon name: mon.N or osd.N")->required();

  CLI11_PARSE(app, argc, argv);

  LocalClusterOptions opts;
  opts.dir = dir;
  opts.bin_dir = bin_dir;
  opts.gateways = !no_gateways;
  opts.progress = print_progress;
  LocalCluster cluster(opts);

  if (*up) {
    std::optional<int> m, o;
    if (mons_opt->count() > 0) m = mons;
    if (osds_opt->count() > 0) o = osds;
    Status st = cluster.up(m, o);
    if (!st.ok()) {
      // Only start-up failures leave daemons behind worth mentioning.
      bool started = st.is(cairn::Code::kUnavailable) || st.is(cairn::Code::kTimedOut) ||
                     st.is(cairn::Code::kIoError);
      return fail("up", st,
                  started
                      ? "Daemons that did start keep running; stop them with: cairn down --dir " +
                            cluster.dir()
                      : "");
    }
    print_progress(cluster.summary());
    return 0;
  }
  if (*down) {
    Status st = cluster.down();
    return st.ok() ? 0 : fail("down", st);
  }
  if (*status) return print_status(cluster, as_json);
  if (*start) {
    Status st = cluster.start_daemon(name, !no_wait);
    return st.ok() ? 0 : fail("start", st);
  }
  if (*stop) {
    Status st = cluster.stop_daemon(name);
    return st.ok() ? 0 : fail("stop", st);
  }
  return kExitError;
}
