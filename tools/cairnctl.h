// cairnctl: the operator CLI (`ceph` + `rados` in one). Each command group
// lives in its own file and registers its subcommands here; main() in
// cairnctl.cc parses, connects on demand, runs the chosen action and turns a
// non-ok Status into one stderr line and an exit code (tools/ctl/util.h).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "client/client.h"
#include "common/status.h"

namespace cairn::ctl {

// What one invocation shares between main and the command that runs.
struct Context {
  std::string conf;  // -c / $CAIRN_CONF
  double connect_timeout_s = 15;
  double op_timeout_s = 60;
  std::string format = "plain";  // plain | json | json-pretty (commands that support it)

  // Connects on first use; later calls return the same client.
  Result<client::Client*> client();
  bool json() const { return format != "plain"; }
  // Prints j on stdout as --format asks (one line, or indented for json-pretty).
  void print_json(const nlohmann::ordered_json& j) const;

 private:
  std::unique_ptr<client::Client> client_;
};

// The work a parsed subcommand does. A non-ok Status's message becomes
// "cairnctl: <message>", so it should name what failed ("pool rm x: ...").
using Action = std::function<Status()>;

// Each adds its subcommands to app; the one the user picks stores its work
// in *action (called from the CLI11 parse callbacks).
void add_status_commands(CLI::App& app, Context& ctx, Action* action);   // status, mon
void add_cluster_commands(CLI::App& app, Context& ctx, Action* action);  // pool, osd
void add_obj_commands(CLI::App& app, Context& ctx, Action* action);      // obj
void add_bench_commands(CLI::App& app, Context& ctx, Action* action);    // bench
void add_s3_commands(CLI::App& app, Context& ctx, Action* action);       // s3 (with rgw/)
void add_rbd_commands(CLI::App& app, Context& ctx, Action* action);      // rbd
void add_pg_commands(CLI::App& app, Context& ctx, Action* action);       // pg
void add_fs_commands(CLI::App& app, Context& ctx, Action* action);       // fs (with fs/)
void add_osd_purge_command(CLI::App& app, Context& ctx, Action* action);  // osd purge
void add_mon_membership_commands(CLI::App& app, Context& ctx, Action* action);  // mon add|rm

// Adds --format {plain,json,json-pretty} to a subcommand.
void add_format_option(CLI::App* sub, Context& ctx);

// Status with the same code and "what: original message".
Status annotate(const std::string& what, const Status& st);

}  // namespace cairn::ctl
