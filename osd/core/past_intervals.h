// Past intervals: what a PG's primary must hear before it may go active.
//
// An interval is a run of map epochs during which a PG's up set did not
// change. Writes are acked only by a primary that went active in its
// interval, and only once every member of that interval's acting set (up
// minus backfill targets) holds them. So after any change, the newest acked
// write is on at least one acting member of every interval that went active
// since the PG was last clean. The primary must hear from one of them; if all
// of an interval's candidates are down, the PG stays "down" instead of going
// active on stale copies and losing those writes (Ceph: PastIntervals,
// PriorSet, "down" / "peering_blocked_by").
//
// There is no map history to rebuild intervals from, so each OSD records the
// intervals it observes for every PG it holds (PgHistory), persists them with
// the PG, and hands them out during peering. A stretch of epochs that no heard
// OSD observed (they were all down) is unknown: the members of the interval
// before it that we have not heard from might have gone on writing, so they
// count as candidates too (conservative).
//
// Pure: no clock, no I/O. The shell (osd_peering.cc) feeds it maps and the
// histories it gathers.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/cluster_map.h"
#include "common/codec.h"
#include "common/status.h"

namespace cairn::osd {

struct Interval {
  Epoch first = 0;
  Epoch last = 0;             // last epoch observed in it (inclusive)
  std::vector<OsdId> up;      // primary first
  uint32_t min_size = 1;      // the pool's, at the time
  // Set when the primary activated the PG in this interval (it tells every up
  // member and waits for them before serving I/O, so an up member that has
  // no activation recorded proves the interval never went active).
  bool activated = false;
  std::vector<OsdId> acting;  // sorted; members holding every acked write

  // Enough members to ack writes: the interval may have gone read-write.
  bool could_ack() const { return !up.empty() && up.size() >= min_size; }
  bool operator==(const Interval&) const = default;
};

// One OSD's record of one PG. Persisted in the PG's metadata.
class PgHistory {
 public:
  // Epoch at which the PG was last active+clean with every member in sync:
  // nothing before it matters any more.
  Epoch last_epoch_clean = 0;
  std::vector<Interval> intervals;  // oldest first, non-overlapping

  // Feeds the PG's up set in map `epoch`. `fresh`: the first map this process
  // sees for the PG, so what happened since the last recorded epoch is
  // unknown and a new interval starts even if the up set is the same.
  // Returns true if a new interval started (the record must be persisted).
  // Epochs not newer than the last observed one are ignored.
  bool observe(Epoch epoch, const std::vector<OsdId>& up, uint32_t min_size, bool fresh);

  // The current (last) interval, or null before the first observe().
  const Interval* current() const { return intervals.empty() ? nullptr : &intervals.back(); }

  // Records that the primary activated the current interval with `acting`
  // (merged into what is known: an interval's acting set only grows). False
  // if the current interval's up set is not `up` (the sender is stale).
  bool activate(const std::vector<OsdId>& up, const std::vector<OsdId>& acting);

  // The PG was clean from `epoch` on: drops intervals that ended before it.
  void mark_clean(Epoch epoch);

  void encode(Encoder& e) const;
  std::string encode() const;
  static Result<PgHistory> decode(std::string_view b);

  bool operator==(const PgHistory&) const = default;
};

// What peering must do next, from the histories heard so far.
struct PriorSet {
  // Up OSDs not yet heard from whose history or data may matter: ask them.
  std::set<OsdId> probe;
  // Down OSDs of intervals that may have acked writes and of which no member
  // is reachable: peering is blocked until one of each such group returns.
  std::set<OsdId> blocked_by;
  // One line per blocking interval, for logs and `pg query`.
  std::vector<std::string> reasons;

  bool blocked() const { return !reasons.empty(); }
};

// `heard`: the history of every OSD heard from in this peering round (the
// primary included). `current_first`: first epoch of the primary's current
// interval (intervals from then on are the present, not the past). `up`: OSDs
// up in the current map. `exists`: OSDs in the current map; a purged OSD is
// declared lost and no longer blocks anything.
PriorSet build_prior_set(const std::map<OsdId, PgHistory>& heard, Epoch current_first,
                         const std::set<OsdId>& up, const std::set<OsdId>& exists);

}  // namespace cairn::osd
