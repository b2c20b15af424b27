// cairnctl status, mon ls.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "tools/cairnctl.h"
#include "tools/ctl/health.h"

namespace cairn::ctl {

namespace {

void print(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

std::vector<MonProbe> probe_mons(client::Client* c) {
  std::vector<MonProbe> probes;
  auto answers = c->mon_status();
  if (!answers.ok()) return probes;
  for (auto& [addr, st] : *answers) {
    MonProbe p{addr, std::nullopt, ""};
    if (st.ok()) {
      p.status = std::move(*st);
    } else {
      p.error = st.status().message();
    }
    probes.push_back(std::move(p));
  }
  return probes;
}

Status run_status(Context* ctx) {
  auto c = ctx->client();
  if (!c.ok()) return annotate("status", c.status());
  std::vector<MonProbe> probes = probe_mons(*c);
  // Only the leader holds reports; without one, MON_NO_QUORUM says why they are missing.
  std::vector<OsdReport> reports;
  if (summarize_mons((*c)->map(), probes).leader) {
    auto reps = (*c)->osd_reports();
    if (reps.ok()) {
      reports = std::move(*reps);
    } else {
      std::fprintf(stderr, "cairnctl: status: no OSD reports: %s\n",
                   reps.status().message().c_str());
    }
  }
  ClusterStatus s = compute_status((*c)->map(), probes, reports);
  if (ctx->json()) {
    ctx->print_json(status_to_json(s));
  } else {
    print(format_status(s));
  }
  return Status::Ok();
}

Status run_mon_ls(Context* ctx) {
  auto c = ctx->client();
  if (!c.ok()) return annotate("mon ls", c.status());
  ClusterMap map = (*c)->map();
  std::vector<MonProbe> probes = probe_mons(*c);
  std::optional<MonId> leader = summarize_mons(map, probes).leader;

  struct Row {
    std::optional<MonId> id;
    std::string addr;
    std::optional<MonStatus> st;
    std::string error;
  };
  std::vector<Row> rows;
  std::map<std::string, MonId> id_by_addr;
  for (const auto& [id, m] : map.mons) id_by_addr[m.addr] = id;
  std::set<MonId> seen;
  for (auto& p : probes) {
    Row r{std::nullopt, p.addr, p.status, p.error};
    if (p.status) {
      r.id = p.status->id;
    } else if (auto it = id_by_addr.find(p.addr); it != id_by_addr.end()) {
      r.id = it->second;
    }
    if (r.id) seen.insert(*r.id);
    rows.push_back(std::move(r));
  }
  // Map members nobody could ask (not in the config, no address).
  for (const auto& [id, m] : map.mons) {
    if (!seen.count(id)) rows.push_back({id, m.addr, std::nullopt, "not probed"});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.id.value_or(INT32_MAX) < b.id.value_or(INT32_MAX);
  });

  if (ctx->json()) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& r : rows) {
      nlohmann::ordered_json j;
      j["id"] = r.id ? nlohmann::ordered_json(*r.id) : nlohmann::ordered_json(nullptr);
      j["addr"] = r.addr;
      j["role"] = r.st ? r.st->role : "unreachable";
      j["term"] = r.st ? nlohmann::ordered_json(r.st->term) : nlohmann::ordered_json(nullptr);
      j["leader"] = r.id.has_value() && leader == r.id;
      j["map_epoch"] =
          r.st ? nlohmann::ordered_json(r.st->map_epoch) : nlohmann::ordered_json(nullptr);
      if (!r.st) j["error"] = r.error;
      arr.push_back(std::move(j));
    }
    ctx->print_json(arr);
    return Status::Ok();
  }
  std::string out = fmt::format("{:<5} {:<22} {:<14} {:>6} {:>6} {:>9}\n", "ID", "ADDR", "ROLE",
                                "TERM", "LEADER", "MAP_EPOCH");
  for (const auto& r : rows) {
    out += fmt::format("{:<5} {:<22} {:<14} {:>6} {:>6} {:>9}", r.id ? std::to_string(*r.id) : "?",
                       r.addr, r.st ? r.st->role : "unreachable",
                       r.st ? std::to_string(r.st->term) : "-",
                       r.id.has_value() && leader == r.id ? "*" : "",
                       r.st ? std::to_string(r.st->map_epoch) : "-");
    if (!r.st && !r.error.empty()) out += "  (" + r.error + ")";
    out += '\n';
  }
  print(out);
  return Status::Ok();
}

}  // namespace

void add_status_commands(CLI::App& app, Context& ctx, Action* action) {
  auto* status = app.add_subcommand("status", "Cluster health and summary (like `ceph -s`)");
  add_format_option(status, ctx);
  status->callback([&ctx, action] { *action = [&ctx] { return run_status(&ctx); }; });

  auto* mon = app.add_subcommand("mon", "Monitors");
  mon->require_subcommand(1);
  auto* ls = mon->add_subcommand("ls", "List monitors with their Raft role and term");
  add_format_option(ls, ctx);
  ls->callback([&ctx, action] { *action = [&ctx] { return run_mon_ls(&ctx); }; });
}

}  // namespace cairn::ctl
