// cairnctl main: global options, connection on demand, error reporting.
#include "tools/cairnctl.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "tools/ctl/util.h"

namespace cairn::ctl {

namespace {

constexpr const char* kEpilogue = R"(
Cluster: -c DIR/cairn.conf, or $CAIRN_CONF (`cairn up --dir DIR` writes DIR/cairn.conf).

Exit codes:
  0  success
  1  other error
  2  usage error or invalid argument
  3  not found (pool, object, key, OSD)
  4  already exists
  5  cluster unavailable or timed out
  6  permission denied (wrong cluster key)
  7  data did not verify / corruption
  8  no space, or object too large
Errors are printed as one line on stderr: `cairnctl: <what failed>: <why>`.
See docs/cli.md for every command and its output.
)";

}  // namespace

Result<client::Client*> Context::client() {
  if (client_) return client_.get();
  auto opts = client::load_config(conf);
  if (!opts.ok()) return annotate("load config", opts.status());
  auto to_ms = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); };
  opts->connect_timeout = to_ms(connect_timeout_s);
  opts->op_timeout = to_ms(op_timeout_s);
  auto c = client::Client::connect(*opts);
  if (!c.ok()) return annotate("connect to monitors", c.status());
  client_ = std::move(*c);
  return client_.get();
}

void Context::print_json(const nlohmann::ordered_json& j) const {
  std::string out = dump_json(j, format == "json-pretty" ? 2 : -1);
  out += '\n';
  std::fwrite(out.data(), 1, out.size(), stdout);
}

void add_format_option(CLI::App* sub, Context& ctx) {
  sub->add_option("--format", ctx.format, "Output format")
      ->check(CLI::IsMember({"plain", "json", "json-pretty"}));
}

Status annotate(const std::string& what, const Status& st) {
  if (st.ok()) return st;
  std::string msg = st.message().empty() ? std::string(code_name(st.code())) : st.message();
  return Status(st.code(), what + ": " + msg);
}

int run(int argc, char** argv) {
  // The client library logs through spdlog; keep stdout for command output.
  auto logger = spdlog::stderr_color_mt("cairnctl");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::err);

  CLI::App app{"cairnctl: operate a Cairn cluster (status, pools, OSDs, objects, benchmarks)",
               "cairnctl"};
  app.require_subcommand(1);
  Context ctx;
  bool debug = false;
  app.add_option("-c,--conf", ctx.conf, "Cluster config file (default: $CAIRN_CONF)")
      ->envname("CAIRN_CONF");
  app.add_option("--connect-timeout", ctx.connect_timeout_s,
                 "Seconds to wait for the first cluster map (default 15)")
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--timeout", ctx.op_timeout_s,
                 "Seconds before an object operation gives up (default 60)")
      ->check(CLI::Range(0.1, 86400.0));
  app.add_flag("--debug", debug, "Log client library debug messages to stderr");

  Action action;
  add_status_commands(app, ctx, &action);
  add_cluster_commands(app, ctx, &action);
  add_obj_commands(app, ctx, &action);
  add_bench_commands(app, ctx, &action);
#ifdef CAIRN_WITH_S3
  add_s3_commands(app, ctx, &action);
#endif
  add_rbd_commands(app, ctx, &action);
#ifdef CAIRN_WITH_FS
  add_fs_commands(app, ctx, &action);
#endif
  add_pg_commands(app, ctx, &action);
  add_osd_purge_command(app, ctx, &action);
  add_mon_membership_commands(app, ctx, &action);
  app.footer(kEpilogue);  // after the subcommands, which would inherit it

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "cairnctl: usage: %s\nRun 'cairnctl --help' for usage.\n", e.what());
    return kExitUsage;
  }
  if (debug) spdlog::set_level(spdlog::level::debug);
  if (!action) {
    std::fprintf(stderr, "cairnctl: usage: no command given\n");
    return kExitUsage;
  }
  Status st = action();
  std::fflush(stdout);
  if (!st.ok()) {
    std::fprintf(stderr, "cairnctl: %s\n", st.message().c_str());
    return exit_code_for(st);
  }
  if (std::ferror(stdout)) {
    std::fprintf(stderr, "cairnctl: write to stdout failed\n");
    return kExitError;
  }
  return kExitOk;
}

}  // namespace cairn::ctl

int main(int argc, char** argv) {
  try {
    return cairn::ctl::run(argc, argv);
  } catch (const std::exception& e) {
    // Nothing below should throw; if something does, fail like any other error.
    std::fprintf(stderr, "cairnctl: %s\n", e.what());
    return cairn::ctl::kExitError;
  }
}
