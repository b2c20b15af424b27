// cairnctl pg ls|query|scrub|deep-scrub|repair, osd purge.
#include <fmt/format.h>

#include "common/placement.h"
#include "tools/cairnctl.h"
#include "tools/ctl/util.h"

namespace cairn::ctl {
namespace {

struct PgRow {
  std::string pgid;
  std::string state;
  std::vector<OsdId> up;
  uint64_t objects = 0;
  uint64_t bytes = 0;
  std::vector<OsdId> blocked_by;  // "down": the OSDs peering waits for
  uint64_t last_scrub_ms = 0;     // 0 = never (or not reported yet)
  uint64_t last_deep_scrub_ms = 0;
};

// Every PG of every pool, with the state its primary last reported.
Result<std::vector<PgRow>> collect(client::Client* c) {
  ClusterMap m = c->map();
  // Only the current primary's report speaks for a PG (a former primary's
  // may still be fresh).
  std::map<std::tuple<OsdId, PoolId, uint32_t>, PgStat> stats;
  auto reps = c->osd_reports();
  if (reps.ok()) {
    for (const auto& r : *reps) {
      if (r.received_ms > 30000) continue;  // stale: that OSD is probably gone
      if (r.map_epoch < m.epoch) continue;  // from before the current map (it may move the PG)
      for (const auto& p : r.pgs) stats[{r.osd, p.pool, p.pg}] = p;
    }
  }
  std::vector<PgRow> rows;
  for (const auto& [id, pool] : m.pools) {
    for (uint32_t seed = 0; seed < pool.pg_num; ++seed) {
      PgRow row;
      PgId pg{id, seed};
      row.pgid = pg.to_string();
      row.up = pg_to_up_osds(m, pool, pg);
      auto it = row.up.empty() ? stats.end() : stats.find({row.up[0], id, seed});
      if (it != stats.end() && !row.up.empty()) {
        row.state = it->second.state;
        row.objects = it->second.objects;
        row.bytes = it->second.bytes;
        row.blocked_by = it->second.blocked_by;
        row.last_scrub_ms = it->second.last_scrub_ms;
        row.last_deep_scrub_ms = it->second.last_deep_scrub_ms;
      } else {
        row.state = "unknown";
      }
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

nlohmann::ordered_json row_json(const PgRow& r) {
  nlohmann::ordered_json j = {{"pgid", r.pgid},       {"state", r.state},
                              {"up", r.up},           {"acting", r.up},
                              {"objects", r.objects}, {"bytes", r.bytes}};
  if (!r.blocked_by.empty()) j["blocked_by"] = r.blocked_by;
  auto stamp = [](uint64_t ms) {
    return ms ? nlohmann::ordered_json(format_stamp_ms(ms)) : nlohmann::ordered_json(nullptr);
  };
  j["last_scrub"] = stamp(r.last_scrub_ms);
  j["last_deep_scrub"] = stamp(r.last_deep_scrub_ms);
  j["last_scrub_ms"] = r.last_scrub_ms;
  j["last_deep_scrub_ms"] = r.last_deep_scrub_ms;
  return j;
}

Status run_ls(Context* ctx) {
  auto c = ctx->client();
  if (!c.ok()) return annotate("pg ls", c.status());
  auto rows = collect(*c);
  if (!rows.ok()) return annotate("pg ls", rows.status());
  if (ctx->json()) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const auto& r : *rows) j.push_back(row_json(r));
    ctx->print_json(j);
    return Status::Ok();
  }
  std::string out = fmt::format("{:<8} {:<40} {:>8} {:>12}  {:<20} {:<20} {}\n", "PG", "STATE",
                                "OBJECTS", "BYTES", "LAST_SCRUB", "LAST_DEEP_SCRUB", "UP");
  for (const auto& r : *rows) {
    std::string state = r.state;
    if (!r.blocked_by.empty()) state += fmt::format(" (needs osd.{})", fmt::join(r.blocked_by, ",osd."));
    out += fmt::format("{:<8} {:<40} {:>8} {:>12}  {:<20} {:<20} [{}]\n", r.pgid, state, r.objects,
                       r.bytes, format_stamp_ms(r.last_scrub_ms),
                       format_stamp_ms(r.last_deep_scrub_ms), fmt::join(r.up, ","));
  }
  std::fputs(out.c_str(), stdout);
  return Status::Ok();
}

Status run_query(Context* ctx, const std::string& pgid) {
  std::string what = "pg query " + pgid;
  auto id = PgId::parse(pgid);
  if (!id.ok()) return annotate(what, id.status());
  auto c = ctx->client();
  if (!c.ok()) return annotate(what, c.status());
  auto rows = collect(*c);
  if (!rows.ok()) return annotate(what, rows.status());
  for (const auto& r : *rows) {
    if (r.pgid != id->to_string()) continue;
    ClusterMap m = (*c)->map();
    auto raw = pg_to_raw_osds(m, *m.find_pool(id->pool), *id);
    auto j = row_json(r);
    j["raw"] = raw;
    j["primary"] = r.up.empty() ? -1 : r.up[0];
    j["epoch"] = m.epoch;
    if (ctx->json()) {
      ctx->print_json(j);
    } else {
      std::fputs((j.dump(2) + "\n").c_str(), stdout);
    }
    return Status::Ok();
  }
  return annotate(what, Status::NotFound("no such PG"));
}

Status run_scrub(Context* ctx, const std::string& verb, const std::string& pgid) {
  std::string what = "pg " + verb + " " + pgid;
  auto c = ctx->client();
  if (!c.ok()) return annotate(what, c.status());
  bool deep = verb != "scrub";
  bool repair = verb == "repair";
  auto r = (*c)->scrub(pgid, deep, repair);
  if (!r.ok()) return annotate(what, r.status());
  if (ctx->json()) {
    nlohmann::ordered_json incons = nlohmann::ordered_json::array();
    for (const auto& x : r->inconsistent) {
      incons.push_back({{"object", x.object}, {"osd", x.osd}, {"reason", x.reason}});
    }
    ctx->print_json({{"pgid", pgid}, {"deep", deep}, {"objects", r->objects},
                     {"inconsistent", incons}, {"repaired", r->repaired}});
  } else {
    std::string out = fmt::format("{} of PG {}: {} objects, {} inconsistent, {} repaired\n", verb,
                                  pgid, r->objects, r->inconsistent.size(), r->repaired);
    for (const auto& x : r->inconsistent) {
      out += fmt::format("  {} on osd.{}: {}\n", x.object, x.osd, x.reason);
    }
    std::fputs(out.c_str(), stdout);
  }
  return Status::Ok();
}

Status run_purge(Context* ctx, const std::string& id_arg, bool sure) {
  std::string what = "osd purge " + id_arg;
  if (!sure) {
    return annotate(what, Status::InvalidArgument(
                              "this forgets the OSD for good; add --yes-i-really-mean-it"));
  }
  int id = -1;
  try {
    id = std::stoi(id_arg);
  } catch (...) {
  }
  if (id < 0) return annotate(what, Status::InvalidArgument("bad OSD id '" + id_arg + "'"));
  auto c = ctx->client();
  if (!c.ok()) return annotate(what, c.status());
  auto r = (*c)->command(MapCommand{.op = MapOp::kOsdRemove, .ids = {id}});
  if (!r.ok()) return annotate(what, r.status());
  std::printf("purged osd.%d\n", id);
  return Status::Ok();
}

}  // namespace

void add_pg_commands(CLI::App& app, Context& ctx, Action* action) {
  auto* pg = app.add_subcommand("pg", "Placement groups: list, inspect, scrub, repair");
  pg->require_subcommand(1);
  auto* ls = pg->add_subcommand("ls", "List every PG with its state and OSDs");
  add_format_option(ls, ctx);
  ls->callback([&ctx, action] { *action = [&ctx] { return run_ls(&ctx); }; });

  static std::string pgid;
  auto* query = pg->add_subcommand("query", "Show one PG: state, up/acting/raw OSDs");
  query->add_option("PGID", pgid, "PG id, e.g. 1.3f")->required();
  add_format_option(query, ctx);
  query->callback([&ctx, action] { *action = [&ctx] { return run_query(&ctx, pgid); }; });

  for (const char* verb : {"scrub", "deep-scrub", "repair"}) {
    const char* help = std::string(verb) == "scrub"        ? "Compare object metadata across replicas"
                       : std::string(verb) == "deep-scrub" ? "Compare data checksums across replicas too"
                                                           : "Deep-scrub and fix bad copies from good ones";
    auto* sub = pg->add_subcommand(verb, help);
    sub->add_option("PGID", pgid, "PG id, e.g. 1.3f")->required();
    add_format_option(sub, ctx);
    std::string v = verb;
    sub->callback([&ctx, action, v] { *action = [&ctx, v] { return run_scrub(&ctx, v, pgid); }; });
  }
}

void add_osd_purge_command(CLI::App& app, Context& ctx, Action* action) {
  CLI::App* osd = nullptr;
  for (auto* sub : app.get_subcommands([](CLI::App* a) { return a->get_name() == "osd"; })) osd = sub;
  if (!osd) return;
  static std::string id;
  static bool sure = false;
  auto* purge = osd->add_subcommand("purge", "Remove a down and out OSD from the map for good");
  purge->add_option("ID", id, "OSD id")->required();
  purge->add_flag("--yes-i-really-mean-it", sure, "Confirm");
  purge->callback([&ctx, action] { *action = [&ctx] { return run_purge(&ctx, id, sure); }; });
}

}  // namespace cairn::ctl
