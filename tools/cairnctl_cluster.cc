// cairnctl pool ..., osd ...: cluster map changes through the monitor leader.
#include <fmt/format.h>

#include <cstdio>

#include "tools/cairnctl.h"
#include "tools/ctl/util.h"

namespace cairn::ctl {

namespace {

void print(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

Status send(Context* ctx, const std::string& what, const MapCommand& cmd) {
  auto c = ctx->client();
  if (!c.ok()) return annotate(what, c.status());
  auto r = (*c)->command(cmd);
  return annotate(what, r.status());
}

// ---- pool ----

struct PoolCreateArgs {
  std::string name;
  uint32_t size = 3;
  uint32_t pg_num = 64;
  std::optional<uint32_t> min_size;
  std::string failure_domain = "host";
};

Status run_pool_create(Context* ctx, const PoolCreateArgs& a) {
  std::string what = "pool create " + a.name;
  CAIRN_RETURN_IF_ERROR(annotate(what, validate_pool_name(a.name)));
  auto fd = parse_failure_domain(a.failure_domain);
  if (!fd.ok()) return annotate(what, fd.status());
  MapCommand cmd{.op = MapOp::kPoolCreate};
  cmd.pool.name = a.name;
  cmd.pool.size = a.size;
  cmd.pool.min_size = a.min_size.value_or(default_min_size(a.size));
  cmd.pool.pg_num = a.pg_num;
  cmd.pool.failure_domain = *fd;
  if (cmd.pool.min_size > cmd.pool.size) {
    return Status::InvalidArgument(
        fmt::format("{}: min_size {} exceeds size {}", what, cmd.pool.min_size, cmd.pool.size));
  }
  CAIRN_RETURN_IF_ERROR(send(ctx, what, cmd));
  print(fmt::format("pool '{}' created\n", a.name));
  return Status::Ok();
}

Status run_pool_ls(Context* ctx) {
  auto c = ctx->client();
  if (!c.ok()) return annotate("pool ls", c.status());
  ClusterMap map = (*c)->map();
  if (ctx->json()) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& [id, p] : map.pools) {
      arr.push_back({{"id", p.id},
                     {"name", p.name},
                     {"size", p.size},
                     {"min_size", p.min_size},
                     {"pg_num", p.pg_num},
                     {"failure_domain", std::string(failure_domain_str(p.failure_domain))},
                     {"max_bytes", p.max_bytes}});
    }
    ctx->print_json(arr);
    return Status::Ok();
  }
  std::string out = fmt::format("{:>4}  {:<20} {:>4} {:>8} {:>6} {:<14} {}\n", "ID", "NAME", "SIZE",
                                "MIN_SIZE", "PG_NUM", "FAILURE_DOMAIN", "MAX_BYTES");
  for (const auto& [id, p] : map.pools) {
    out += fmt::format("{:>4}  {:<20} {:>4} {:>8} {:>6} {:<14} {}\n", p.id, p.name, p.size,
                       p.min_size, p.pg_num, failure_domain_str(p.failure_domain),
                       p.max_bytes ? std::to_string(p.max_bytes) : "-");
  }
  print(out);
  return Status::Ok();
}

Status run_pool_rm(Context* ctx, const std::string& name, bool really) {
  std::string what = "pool rm " + name;
  if (!really) {
    return Status::InvalidArgument(
        what + ": this destroys every object in the pool; pass --yes-i-really-mean-it");
  }
  MapCommand cmd{.op = MapOp::kPoolRemove, .str = name};
  CAIRN_RETURN_IF_ERROR(send(ctx, what, cmd));
  print(fmt::format("pool '{}' removed\n", name));
  return Status::Ok();
}

Status run_pool_set(Context* ctx, const std::string& name, const std::string& key,
                    const std::string& value) {
  std::string what = fmt::format("pool set {} {}", name, key);
  MapCommand cmd{.op = MapOp::kPoolSet, .str = name, .key = key, .value = value};
  CAIRN_RETURN_IF_ERROR(send(ctx, what, cmd));
  print(fmt::format("set pool '{}' {} = {}\n", name, key, value));
  return Status::Ok();
}

// ---- osd ----

Status run_osd_ls(Context* ctx) {
  auto c = ctx->client();
  if (!c.ok()) return annotate("osd ls", c.status());
  ClusterMap map = (*c)->map();
  if (ctx->json()) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& [id, o] : map.osds) {
      arr.push_back({{"id", o.id},
                     {"host", o.host},
                     {"up", o.up},
                     {"in", o.in},
                     {"weight", static_cast<double>(o.weight) / kWeightOne},
                     {"addr", o.addr},
                     {"device_class", o.device_class}});
    }
    ctx->print_json(arr);
    return Status::Ok();
  }
  std::string out = fmt::format("{:>4}  {:<16} {:<5} {:<4} {:>8}  {}\n", "ID", "HOST", "STATE",
                                "IN", "WEIGHT", "ADDR");
  for (const auto& [id, o] : map.osds) {
    out += fmt::format("{:>4}  {:<16} {:<5} {:<4} {:>8.4f}  {}\n", o.id,
                       o.host.empty() ? "-" : o.host, o.up ? "up" : "down", o.in ? "in" : "out",
                       static_cast<double>(o.weight) / kWeightOne, o.addr.empty() ? "-" : o.addr);
  }
  print(out);
  return Status::Ok();
}

Status run_osd_mark(Context* ctx, MapOp op, const std::string& verb,
                    const std::vector<std::string>& args) {
  std::string what = fmt::format("osd {} {}", verb, fmt::join(args, " "));
  MapCommand cmd{.op = op};
  for (const auto& a : args) {
    auto id = parse_osd_id(a);
    if (!id.ok()) return annotate(what, id.status());
    cmd.ids.push_back(*id);
  }
  CAIRN_RETURN_IF_ERROR(send(ctx, what, cmd));
  for (OsdId id : cmd.ids) print(fmt::format("marked {} osd.{}\n", verb, id));
  return Status::Ok();
}

Status run_osd_reweight(Context* ctx, const std::string& id_arg, const std::string& w_arg) {
  std::string what = fmt::format("osd reweight {} {}", id_arg, w_arg);
  auto id = parse_osd_id(id_arg);
  if (!id.ok()) return annotate(what, id.status());
  auto w = parse_weight(w_arg);
  if (!w.ok()) return annotate(what, w.status());
  MapCommand cmd{.op = MapOp::kOsdReweight};
  cmd.osd.id = *id;
  cmd.osd.weight = *w;
  CAIRN_RETURN_IF_ERROR(send(ctx, what, cmd));
  print(fmt::format("reweighted osd.{} to {:.4f}\n", *id, static_cast<double>(*w) / kWeightOne));
  return Status::Ok();
}

}  // namespace

void add_cluster_commands(CLI::App& app, Context& ctx, Action* action) {
  auto* pool = app.add_subcommand("pool", "Create, list, change and remove pools");
  pool->require_subcommand(1);

  auto create_args = std::make_shared<PoolCreateArgs>();
  auto* create = pool->add_subcommand("create", "Create a replicated pool");
  create->add_option("NAME", create_args->name, "Pool name")->required();
  create->add_option("--size", create_args->size, "Replicas per object (default 3)")
      ->check(CLI::Range(1u, 16u));
  create->add_option("--pg,--pg-num", create_args->pg_num, "Placement groups (default 64)")
      ->check(CLI::Range(1u, 1u << 20));
  create
      ->add_option("--min-size", create_args->min_size,
                   "Replicas that must be up to serve I/O (default size - size/2)")
      ->check(CLI::Range(1u, 16u));
  create
      ->add_option("--failure-domain", create_args->failure_domain,
                   "Spread replicas across hosts or OSDs (default host)")
      ->check(CLI::IsMember({"host", "osd"}));
  create->callback([&ctx, action, create_args] {
    *action = [&ctx, create_args] { return run_pool_create(&ctx, *create_args); };
  });

  auto* ls = pool->add_subcommand("ls", "List pools");
  add_format_option(ls, ctx);
  ls->callback([&ctx, action] { *action = [&ctx] { return run_pool_ls(&ctx); }; });

  auto rm_name = std::make_shared<std::string>();
  auto rm_really = std::make_shared<bool>(false);
  auto* rm = pool->add_subcommand("rm", "Remove a pool and all its objects");
  rm->add_option("NAME", *rm_name, "Pool name")->required();
  rm->add_flag("--yes-i-really-mean-it", *rm_really, "Confirm that the data may go");
  rm->callback([&ctx, action, rm_name, rm_really] {
    *action = [&ctx, rm_name, rm_really] { return run_pool_rm(&ctx, *rm_name, *rm_really); };
  });

  auto set_args = std::make_shared<std::array<std::string, 3>>();
  auto* set = pool->add_subcommand(
      "set", "Change a pool: size, min_size, pg_num, max_bytes, failure_domain");
  set->add_option("NAME", (*set_args)[0], "Pool name")->required();
  set->add_option("KEY", (*set_args)[1], "size|min_size|pg_num|max_bytes|failure_domain")
      ->required();
  set->add_option("VALUE", (*set_args)[2], "New value")->required();
  set->callback([&ctx, action, set_args] {
    *action = [&ctx, set_args] {
      return run_pool_set(&ctx, (*set_args)[0], (*set_args)[1], (*set_args)[2]);
    };
  });

  auto* osd = app.add_subcommand("osd", "List OSDs and mark them down/out/in or reweight");
  osd->require_subcommand(1);
  auto* ols = osd->add_subcommand("ls", "List OSDs");
  add_format_option(ols, ctx);
  ols->callback([&ctx, action] { *action = [&ctx] { return run_osd_ls(&ctx); }; });

  struct Mark {
    const char* verb;
    MapOp op;
    const char* help;
  };
  for (const Mark& m :
       {Mark{"out", MapOp::kOsdOut, "Take OSDs out of placement (data moves)"},
        Mark{"in", MapOp::kOsdIn, "Put OSDs back into placement"},
        Mark{"down", MapOp::kOsdDown, "Mark OSDs down (a live OSD marks itself up again)"}}) {
    auto ids = std::make_shared<std::vector<std::string>>();
    auto* sub = osd->add_subcommand(m.verb, m.help);
    sub->add_option("ID", *ids, "OSD ids (3 or osd.3)")->required();
    std::string verb = m.verb;
    MapOp op = m.op;
    sub->callback([&ctx, action, ids, verb, op] {
      *action = [&ctx, ids, verb, op] { return run_osd_mark(&ctx, op, verb, *ids); };
    });
  }

  auto rw = std::make_shared<std::array<std::string, 2>>();
  auto* reweight =
      osd->add_subcommand("reweight", "Set an OSD's placement weight (1.0 = one unit)");
  reweight->add_option("ID", (*rw)[0], "OSD id")->required();
  reweight->add_option("WEIGHT", (*rw)[1], "Weight >= 0, e.g. 0.5")->required();
  reweight->callback([&ctx, action, rw] {
    *action = [&ctx, rw] { return run_osd_reweight(&ctx, (*rw)[0], (*rw)[1]); };
  });
}

}  // namespace cairn::ctl
