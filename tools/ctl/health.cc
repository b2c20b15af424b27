#include "tools/ctl/health.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "common/placement.h"
#include "tools/ctl/util.h"

namespace cairn::ctl {

namespace {

bool has_token(std::string_view state, std::string_view token) {
  size_t pos = 0;
  while (pos <= state.size()) {
    size_t end = state.find('+', pos);
    if (end == std::string_view::npos) end = state.size();
    if (state.substr(pos, end - pos) == token) return true;
    pos = end + 1;
  }
  return false;
}

std::string osd_list(const std::vector<std::pair<OsdId, double>>& osds) {
  constexpr size_t kShown = 5;
  std::string out;
  for (size_t i = 0; i < osds.size() && i < kShown; ++i) {
    if (i) out += ", ";
    out += fmt::format("osd.{} {:.0f}%", osds[i].first, osds[i].second * 100);
  }
  if (osds.size() > kShown) out += ", ...";
  return out;
}

// "45s", "3m 05s", "2h 10m": an estimate, so no more precision than that.
std::string format_eta(double seconds) {
  auto s = static_cast<uint64_t>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m {:02}s", s / 60, s % 60);
  return fmt::format("{}h {:02}m", s / 3600, (s % 3600) / 60);
}

}  // namespace

std::string_view severity_name(Severity s) {
  switch (s) {
    case Severity::kOk:
      return "HEALTH_OK";
    case Severity::kWarn:
      return "HEALTH_WARN";
    case Severity::kErr:
      return "HEALTH_ERR";
  }
  return "HEALTH_ERR";
}

MonSummary summarize_mons(const ClusterMap& map, const std::vector<MonProbe>& probes) {
  MonSummary out;
  const MonStatus* leader = nullptr;
  for (const auto& p : probes) {
    if (!p.status || p.status->role != "leader") continue;
    // Two leaders can answer across a term change; the newer term wins.
    if (!leader || p.status->term > leader->term) leader = &*p.status;
  }
  std::set<MonId> members;
  for (const auto& [id, m] : map.mons) members.insert(id);
  if (leader) members.insert(leader->voters.begin(), leader->voters.end());

  std::set<MonId> quorum;
  if (leader) {
    out.leader = leader->id;
    out.term = leader->term;
    quorum.insert(leader->id);
    quorum.insert(leader->reachable.begin(), leader->reachable.end());
    for (const auto& p : probes) {
      if (p.status && p.status->term == leader->term && p.status->leader == leader->id) {
        quorum.insert(p.status->id);
      }
    }
  }
  out.in_quorum.assign(quorum.begin(), quorum.end());

  if (!members.empty()) {
    out.total = static_cast<int>(members.size());
    for (MonId id : members) {
      if (!quorum.count(id)) out.down.push_back(fmt::format("mon.{}", id));
    }
  } else {
    // No membership known at all: count the addresses we were given.
    out.total = static_cast<int>(probes.size());
    for (const auto& p : probes) {
      if (!p.status || !quorum.count(p.status->id)) out.down.push_back(p.addr);
    }
  }
  return out;
}

ClusterStatus compute_status(const ClusterMap& map, const std::vector<MonProbe>& probes,
                             const std::vector<OsdReport>& reports, const HealthOptions& opts) {
  ClusterStatus s;
  s.fsid = map.fsid;
  s.epoch = map.epoch;
  s.mons = summarize_mons(map, probes);
  s.pools = static_cast<int>(map.pools.size());

  if (!s.mons.leader) {
    int answering = 0;
    for (const auto& p : probes) answering += p.status.has_value();
    s.checks.push_back({"MON_NO_QUORUM", Severity::kErr,
                        fmt::format("no monitor quorum: {}/{} mons answer, none is leader",
                                    answering, std::max<int>(s.mons.total, probes.size()))});
  } else if (!s.mons.down.empty()) {
    s.checks.push_back({"MON_DOWN", Severity::kWarn,
                        fmt::format("{}/{} mons down, quorum {}", s.mons.down.size(), s.mons.total,
                                    fmt::join(s.mons.in_quorum, ","))});
  }

  int down_in = 0;
  for (const auto& [id, o] : map.osds) {
    ++s.osds_total;
    s.osds_up += o.up;
    s.osds_in += o.in;
    down_in += (!o.up && o.in);
  }
  if (down_in > 0) {
    s.checks.push_back({"OSD_DOWN", Severity::kWarn, fmt::format("{} osds down", down_in)});
  }

  // Usage and fullness from every report of an OSD that still exists.
  std::vector<std::pair<OsdId, double>> full, nearfull;
  std::map<std::tuple<OsdId, PoolId, uint32_t>, const PgStat*> fresh_pgs;
  for (const auto& r : reports) {
    if (!map.find_osd(r.osd)) continue;
    s.bytes_used += r.used_bytes;
    s.bytes_total += r.total_bytes;
    s.bytes_avail += r.avail_bytes;
    if (r.total_bytes > 0) {
      // total/avail describe the OSD's filesystem, which other OSDs or files
      // may share: whichever of "our data" and "the disk" is fuller counts.
      uint64_t fs_used = r.total_bytes - std::min(r.avail_bytes, r.total_bytes);
      double ratio =
          static_cast<double>(std::max(r.used_bytes, fs_used)) / static_cast<double>(r.total_bytes);
      // The OSD's own verdict counts too: a small disk hits its reserve
      // before the full ratio.
      if (r.full || ratio > opts.full_ratio) {
        full.emplace_back(r.osd, ratio);
      } else if (ratio > opts.nearfull_ratio) {
        nearfull.emplace_back(r.osd, ratio);
      }
    }
    if (r.received_ms <= opts.recovery_report_ms) {
      s.recovery.objects_left += r.recovery_objects_left;
      s.recovery.objects_per_sec += r.recovery_objects_per_sec;
      s.recovery.bytes_per_sec += r.recovery_bytes_per_sec;
    }
    if (r.received_ms > opts.report_stale_ms) continue;
    // Written before the OSD saw the current map: a PG that map moved may
    // still read active+clean there although it is about to backfill.
    if (r.map_epoch < map.epoch) continue;
    for (const auto& pg : r.pgs) fresh_pgs[{r.osd, pg.pool, pg.pg}] = &pg;
  }
  if (s.recovery.objects_left > 0 && s.recovery.objects_per_sec > 0) {
    s.recovery.eta_seconds = static_cast<double>(s.recovery.objects_left) / s.recovery.objects_per_sec;
  }
  if (!full.empty()) {
    s.checks.push_back({"OSD_FULL", Severity::kErr,
                        fmt::format("{} osds full ({})", full.size(), osd_list(full))});
  }
  if (!nearfull.empty()) {
    s.checks.push_back({"OSD_NEARFULL", Severity::kWarn,
                        fmt::format("{} osds nearfull ({})", nearfull.size(), osd_list(nearfull))});
  }

  uint64_t inactive = 0, degraded = 0, unknown = 0, not_clean = 0, damaged = 0, degraded_objects = 0;
  PlacementTopology topo = build_topology(map);
  for (const auto& [pool_id, pool] : map.pools) {
    for (uint32_t seed = 0; seed < pool.pg_num; ++seed) {
      ++s.pgs;
      std::vector<OsdId> up = pg_to_up_osds(topo, pool, PgId{pool_id, seed});
      const PgStat* stat = nullptr;
      if (!up.empty()) {
        auto it = fresh_pgs.find({up[0], pool_id, seed});
        if (it != fresh_pgs.end()) stat = it->second;
      }
      std::string state = up.empty() ? "down" : stat ? stat->state : "unknown";
      if (state.empty()) state = "unknown";
      ++s.pgs_by_state[state];
      if (stat) {
        s.objects += stat->objects;
        degraded_objects += stat->degraded_objects;
      }
      bool inconsistent = has_token(state, "inconsistent");
      damaged += inconsistent;
      if (up.size() < pool.min_size || state == "down" || has_token(state, "inactive") ||
          has_token(state, "down") || has_token(state, "incomplete") ||
          has_token(state, "peered")) {
        ++inactive;
      } else if (up.size() < pool.size || has_token(state, "degraded") ||
                 has_token(state, "undersized")) {
        ++degraded;
      } else if (!stat) {
        ++unknown;
      } else if ((!has_token(state, "active") || !has_token(state, "clean")) && !inconsistent) {
        ++not_clean;  // an inconsistent PG is reported as damaged instead
      }
    }
  }
  if (inactive > 0) {
    s.checks.push_back({"PG_AVAILABILITY", Severity::kErr,
                        fmt::format("Reduced data availability: {} pgs inactive", inactive)});
  }
  if (damaged > 0) {
    s.checks.push_back({"PG_DAMAGED", Severity::kErr,
                        fmt::format("Possible data damage: {} pgs inconsistent", damaged)});
  }
  if (degraded > 0 || degraded_objects > 0) {
    std::string msg = fmt::format("Degraded data redundancy: {} pgs degraded", degraded);
    if (degraded_objects > 0) msg += fmt::format(", {} objects degraded", degraded_objects);
    s.checks.push_back({"PG_DEGRADED", Severity::kWarn, std::move(msg)});
  }
  if (unknown > 0) {
    s.checks.push_back({"PG_UNKNOWN", Severity::kWarn, fmt::format("{} pgs unknown", unknown)});
  }
  if (not_clean > 0) {
    s.checks.push_back(
        {"PG_NOT_CLEAN", Severity::kWarn, fmt::format("{} pgs not active+clean", not_clean)});
  }

  // Errors first, otherwise in the order above.
  std::stable_sort(
      s.checks.begin(), s.checks.end(),
      [](const HealthCheck& a, const HealthCheck& b) { return a.severity > b.severity; });
  for (const auto& c : s.checks) s.health = std::max(s.health, c.severity);
  return s;
}

nlohmann::ordered_json status_to_json(const ClusterStatus& s) {
  using json = nlohmann::ordered_json;
  json checks = json::array();
  for (const auto& c : s.checks) {
    checks.push_back({{"code", c.code},
                      {"severity", std::string(severity_name(c.severity))},
                      {"message", c.message}});
  }
  json by_state = json::object();
  for (const auto& [state, n] : s.pgs_by_state) by_state[state] = n;
  json out = {
      {"fsid", s.fsid},
      {"epoch", s.epoch},
      {"health", {{"status", std::string(severity_name(s.health))}, {"checks", checks}}},
      {"monitors",
       {{"total", s.mons.total},
        {"in_quorum", s.mons.in_quorum},
        {"leader", s.mons.leader ? json(*s.mons.leader) : json(nullptr)}}},
      {"osds", {{"total", s.osds_total}, {"up", s.osds_up}, {"in", s.osds_in}}},
      {"pools", s.pools},
      {"pgs_by_state", by_state},
      {"pgs", s.pgs},
      {"objects", s.objects},
      {"bytes_used", s.bytes_used},
  };
  if (s.recovery.active()) {
    out["recovery"] = {
        {"objects_left", s.recovery.objects_left},
        {"objects_per_sec", s.recovery.objects_per_sec},
        {"bytes_per_sec", s.recovery.bytes_per_sec},
        {"eta_seconds", s.recovery.eta_seconds ? json(*s.recovery.eta_seconds) : json(nullptr)}};
  }
  return out;
}

std::string format_status(const ClusterStatus& s) {
  std::string out;
  auto line = [&out](std::string_view l) {
    out += l;
    out += '\n';
  };
  line("  cluster:");
  line(fmt::format("    id:     {}", s.fsid.empty() ? "-" : s.fsid));
  line(fmt::format("    health: {}", severity_name(s.health)));
  for (const auto& c : s.checks) line(fmt::format("            {}", c.message));
  line("");
  line("  services:");
  std::string mon = fmt::format("    mon: {} daemons, ", s.mons.total);
  if (s.mons.leader) {
    mon += fmt::format("quorum {} (leader {}, term {})", fmt::join(s.mons.in_quorum, ","),
                       *s.mons.leader, s.mons.term);
  } else {
    mon += "no quorum";
  }
  if (!s.mons.down.empty()) mon += fmt::format("; down: {}", fmt::join(s.mons.down, ", "));
  line(mon);
  line(fmt::format("    osd: {} osds: {} up, {} in; map epoch {}", s.osds_total, s.osds_up,
                   s.osds_in, s.epoch));
  line("");
  line("  data:");
  line(fmt::format("    pools:   {} pools, {} pgs", s.pools, s.pgs));
  line(fmt::format("    objects: {} objects", s.objects));
  if (s.bytes_total > 0) {
    line(fmt::format("    usage:   {} used, {} / {} avail", format_bytes(s.bytes_used),
                     format_bytes(s.bytes_avail), format_bytes(s.bytes_total)));
  } else {
    line(fmt::format("    usage:   {} used", format_bytes(s.bytes_used)));
  }
  // Biggest states first, as ceph -s lists them.
  std::vector<std::pair<std::string, uint64_t>> states(s.pgs_by_state.begin(),
                                                       s.pgs_by_state.end());
  std::stable_sort(states.begin(), states.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  bool first = true;
  for (const auto& [state, n] : states) {
    line(fmt::format("    {}{} {}", first ? "pgs:     " : "         ", n, state));
    first = false;
  }
  if (states.empty()) line("    pgs:     none");
  if (s.recovery.active()) {
    line("");
    line("  io:");
    line(fmt::format("    recovery: {}/s, {:.0f} objects/s",
                     format_bytes(static_cast<uint64_t>(s.recovery.bytes_per_sec)),
                     s.recovery.objects_per_sec));
    if (s.recovery.objects_left > 0) {
      line(fmt::format("    progress: {} objects left, ETA {}", s.recovery.objects_left,
                       s.recovery.eta_seconds ? format_eta(*s.recovery.eta_seconds) : "unknown"));
    }
  }
  return out;
}

}  // namespace cairn::ctl
