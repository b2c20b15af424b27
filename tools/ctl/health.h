// Cluster status and health as `cairnctl status` shows them: a pure function
// of the cluster map, the monitors' answers and the OSDs' PG reports, so the
// rules are tested table-style without a cluster (health_test.cc).
//
// Health rules (each check carries its own severity; the overall status is
// the worst one, HEALTH_OK when there are none):
//
//   MON_NO_QUORUM   ERR   no answering monitor is a leader
//   MON_DOWN        WARN  a monitor of the quorum does not answer / is not in it
//   OSD_DOWN        WARN  an OSD is down but still in (its PGs are degraded)
//   OSD_FULL        ERR   an OSD is fuller than full_ratio (0.95), or reports
//                         that it refuses writes (below its free-space reserve)
//   OSD_NEARFULL    WARN  an OSD is fuller than nearfull_ratio (0.85); fullness
//                         is max(used, total - avail) / total of its report
//   PG_AVAILABILITY ERR   a PG has fewer up OSDs than min_size in the map, or
//                         its primary reports it inactive/down/incomplete/peered
//   PG_DAMAGED      ERR   a scrub found copies that differ and they are not
//                         repaired yet (state +inconsistent; `pg repair`)
//   PG_DEGRADED     WARN  a PG has fewer up OSDs than the pool size in the map,
//                         or its primary reports it degraded
//   PG_UNKNOWN      WARN  no fresh report covers the PG (normal for a few
//                         seconds after start or after a primary change)
//   PG_NOT_CLEAN    WARN  reported, but not active+clean for another reason
//                         (peering, recovering, backfilling)
//
// Recovery progress (`io:` section, "recovery" in JSON, only while active):
// objects still to copy, objects/s and bytes/s summed over the OSDs' recent
// reports, and an ETA = objects left / objects per second.
//
// A PG's state is taken only from its current primary's report (the monitor
// keeps the last report of every OSD, also of dead ones), and only when that
// report is younger than report_stale_ms.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/cluster_map.h"
#include "common/messages.h"

namespace cairn::ctl {

enum class Severity : uint8_t { kOk = 0, kWarn = 1, kErr = 2 };
std::string_view severity_name(Severity s);  // "HEALTH_OK", "HEALTH_WARN", "HEALTH_ERR"

struct HealthCheck {
  std::string code;  // "OSD_DOWN"
  Severity severity = Severity::kWarn;
  std::string message;  // "1 osds down"
};

// One monitor's answer to a status probe (error empty when it answered).
struct MonProbe {
  std::string addr;
  std::optional<MonStatus> status;
  std::string error;
};

struct HealthOptions {
  double nearfull_ratio = 0.85;
  double full_ratio = 0.95;
  // A report older than this (OsdReport::received_ms holds its age, as the
  // client library returns it) no longer says anything about PG states.
  uint64_t report_stale_ms = 30000;
  // Recovery rates and work left come only from reports younger than this
  // (OSDs report every 2 s; an older rate describes the past).
  uint64_t recovery_report_ms = 10000;
};

// Recovery and backfill across the cluster, summed over the OSDs' reports.
struct RecoveryProgress {
  uint64_t objects_left = 0;     // in the copy passes under way
  double objects_per_sec = 0;
  double bytes_per_sec = 0;
  std::optional<double> eta_seconds;  // objects_left / objects_per_sec, when both > 0
  bool active() const { return objects_left > 0 || objects_per_sec > 0; }
};

struct MonSummary {
  int total = 0;                 // monitors in the map (or the leader's voters)
  std::vector<MonId> in_quorum;  // sorted
  std::optional<MonId> leader;
  uint64_t term = 0;
  std::vector<std::string> down;  // "mon.2" or the address if it is not in the map
};

struct ClusterStatus {
  std::string fsid;
  Epoch epoch = 0;
  Severity health = Severity::kOk;
  std::vector<HealthCheck> checks;
  MonSummary mons;
  int osds_total = 0;
  int osds_up = 0;
  int osds_in = 0;
  int pools = 0;
  uint64_t pgs = 0;
  std::map<std::string, uint64_t> pgs_by_state;
  uint64_t objects = 0;
  uint64_t bytes_used = 0;
  uint64_t bytes_total = 0;
  uint64_t bytes_avail = 0;
  RecoveryProgress recovery;
};

MonSummary summarize_mons(const ClusterMap& map, const std::vector<MonProbe>& probes);

ClusterStatus compute_status(const ClusterMap& map, const std::vector<MonProbe>& probes,
                             const std::vector<OsdReport>& reports, const HealthOptions& opts = {});

// The `status --format json` document (shape fixed by docs/cli.md).
nlohmann::ordered_json status_to_json(const ClusterStatus& s);
// The human `status` table, like `ceph -s`.
std::string format_status(const ClusterStatus& s);

}  // namespace cairn::ctl
