// cairnctl mon add|rm: change the monitor quorum's membership (one at a time,
// through Raft's configuration change).
#include <fmt/format.h>

#include "tools/cairnctl.h"

namespace cairn::ctl {
namespace {

Status run_mon_change(Context* ctx, MapOp op, int id, const std::string& addr,
                      const std::string& http) {
  std::string what = op == MapOp::kMonSet ? fmt::format("mon add {} {}", id, addr)
                                          : fmt::format("mon rm {}", id);
  if (id < 0) return annotate(what, Status::InvalidArgument("monitor ids are >= 0"));
  auto c = ctx->client();
  if (!c.ok()) return annotate(what, c.status());
  MapCommand cmd{.op = op};
  cmd.mon.id = id;
  cmd.mon.addr = addr;
  cmd.mon.http_addr = http;
  auto r = (*c)->command(cmd);
  if (!r.ok()) return annotate(what, r.status());
  std::printf("%s monitor %d (map epoch %llu)\n", op == MapOp::kMonSet ? "added" : "removed", id,
              static_cast<unsigned long long>(r->applied_epoch));
  return Status::Ok();
}

}  // namespace

void add_mon_membership_commands(CLI::App& app, Context& ctx, Action* action) {
  CLI::App* mon = nullptr;
  for (auto* sub : app.get_subcommands([](CLI::App* a) { return a->get_name() == "mon"; })) mon = sub;
  if (!mon) return;
  static int id = -1;
  static std::string addr, http;
  auto* add = mon->add_subcommand(
      "add", "Add a monitor to the quorum (start it with `cairn-mon --join` first or after)");
  add->add_option("ID", id, "monitor id")->required();
  add->add_option("ADDR", addr, "its messenger address IP:PORT")->required();
  add->add_option("--http", http, "its metrics/health address IP:PORT");
  add->callback([&ctx, action] {
    *action = [&ctx] { return run_mon_change(&ctx, MapOp::kMonSet, id, addr, http); };
  });
  auto* rm = mon->add_subcommand("rm", "Remove a monitor from the quorum (e.g. a lost one)");
  rm->add_option("ID", id, "monitor id")->required();
  rm->callback([&ctx, action] {
    *action = [&ctx] { return run_mon_change(&ctx, MapOp::kMonRemove, id, "", ""); };
  });
}

}  // namespace cairn::ctl
