#include "osd/core/past_intervals.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace cairn::osd {

namespace {

void encode_osds(Encoder& e, const std::vector<OsdId>& v) {
  e.u32(static_cast<uint32_t>(v.size()));
  for (OsdId o : v) e.i32(o);
}

std::vector<OsdId> decode_osds(Decoder& d) {
  uint32_t n = d.count();
  std::vector<OsdId> v;
  v.reserve(n);
  for (uint32_t i = 0; i < n && d.ok(); ++i) v.push_back(d.i32());
  return v;
}

// Several OSDs' views of one interval (same up set, touching epoch ranges).
struct Group {
  Epoch first = 0;
  Epoch last = 0;
  std::vector<OsdId> up;
  uint32_t min_size = 1;
  bool activated = false;
  std::set<OsdId> acting;
};

std::string range(Epoch first, Epoch last) {
  return first == last ? fmt::format("epoch {}", first) : fmt::format("epochs {}-{}", first, last);
}

}  // namespace

bool PgHistory::observe(Epoch epoch, const std::vector<OsdId>& up, uint32_t min_size, bool fresh) {
  if (!intervals.empty()) {
    Interval& cur = intervals.back();
    if (epoch <= cur.last) return false;
    if (!fresh) {
      if (cur.up == up) {
        cur.last = epoch;
        cur.min_size = std::min(cur.min_size, min_size);  // smaller is the conservative one
        return false;
      }
      // Maps this process skipped still passed while it was alive and watching.
      cur.last = epoch - 1;
    }
  }
  Interval next;
  next.first = next.last = epoch;
  next.up = up;
  next.min_size = min_size;
  intervals.push_back(std::move(next));
  return true;
}

bool PgHistory::activate(const std::vector<OsdId>& up, const std::vector<OsdId>& acting) {
  if (intervals.empty() || intervals.back().up != up) return false;
  Interval& cur = intervals.back();
  std::set<OsdId> all(cur.acting.begin(), cur.acting.end());
  all.insert(acting.begin(), acting.end());
  cur.activated = true;
  cur.acting.assign(all.begin(), all.end());
  return true;
}

void PgHistory::mark_clean(Epoch epoch) {
  last_epoch_clean = std::max(last_epoch_clean, epoch);
  std::erase_if(intervals, [&](const Interval& iv) { return iv.last < last_epoch_clean; });
}

void PgHistory::encode(Encoder& e) const {
  e.u8(1);  // format version
  e.u64(last_epoch_clean);
  e.u32(static_cast<uint32_t>(intervals.size()));
  for (const auto& iv : intervals) {
    e.u64(iv.first);
    e.u64(iv.last);
    encode_osds(e, iv.up);
    e.u32(iv.min_size);
    e.boolean(iv.activated);
    encode_osds(e, iv.acting);
  }
}

std::string PgHistory::encode() const {
  std::string out;
  Encoder e(&out);
  encode(e);
  return out;
}

Result<PgHistory> PgHistory::decode(std::string_view b) {
  Decoder d(b);
  PgHistory h;
  if (d.u8() != 1) return Status::Corruption("PG history: unknown format");
  h.last_epoch_clean = d.u64();
  uint32_t n = d.count();
  for (uint32_t i = 0; i < n && d.ok(); ++i) {
    Interval iv;
    iv.first = d.u64();
    iv.last = d.u64();
    iv.up = decode_osds(d);
    iv.min_size = d.u32();
    iv.activated = d.boolean();
    iv.acting = decode_osds(d);
    h.intervals.push_back(std::move(iv));
  }
  if (!d.done()) return Status::Corruption("cannot decode PG history");
  return h;
}

PriorSet build_prior_set(const std::map<OsdId, PgHistory>& heard, Epoch current_first,
                         const std::set<OsdId>& up, const std::set<OsdId>& exists) {
  Epoch les = 0;
  for (const auto& [osd, h] : heard) les = std::max(les, h.last_epoch_clean);

  // Every heard view of the past, merged by interval; and which epochs
  // anybody heard observed at all.
  std::vector<const Interval*> views;
  std::vector<std::pair<Epoch, Epoch>> covered;
  for (const auto& [osd, h] : heard) {
    for (const auto& iv : h.intervals) {
      if (iv.last < les) continue;
      covered.emplace_back(iv.first, iv.last);
      if (iv.first < current_first) views.push_back(&iv);
    }
  }
  std::sort(views.begin(), views.end(),
            [](const Interval* a, const Interval* b) { return a->first < b->first; });
  std::vector<Group> groups;
  for (const Interval* iv : views) {
    Group* g = nullptr;
    for (auto& cand : groups) {
      if (cand.up == iv->up && iv->first <= cand.last + 1 && cand.first <= iv->last + 1) {
        g = &cand;
        break;
      }
    }
    if (!g) {
      groups.push_back(Group{iv->first, iv->last, iv->up, iv->min_size, false, {}});
      g = &groups.back();
    }
    g->first = std::min(g->first, iv->first);
    g->last = std::max(g->last, iv->last);
    g->min_size = std::min(g->min_size, iv->min_size);
    g->activated |= iv->activated;
    g->acting.insert(iv->acting.begin(), iv->acting.end());
  }

  PriorSet out;
  // Someone in `candidates` holds what we need: ask the reachable ones, or
  // record that the PG waits for the others.
  auto need_one_of = [&](const std::set<OsdId>& candidates, const std::string& what) {
    for (OsdId o : candidates) {
      if (heard.count(o)) return;
    }
    bool reachable = false;
    for (OsdId o : candidates) {
      if (up.count(o)) {
        out.probe.insert(o);
        reachable = true;
      }
    }
    if (reachable) return;
    std::set<OsdId> live;
    for (OsdId o : candidates) {
      if (exists.count(o)) live.insert(o);
    }
    if (live.empty()) return;  // all purged: the operator declared that data lost
    out.blocked_by.insert(live.begin(), live.end());
    out.reasons.push_back(fmt::format("{}; waiting for osd.{}", what, fmt::join(live, ", osd.")));
  };

  // The newest interval known to have gone active hides older ones: its
  // acting members were brought up to date before it served anything (Ceph:
  // last_epoch_started). It binds even if it could not ack writes itself.
  Epoch started = 0;
  for (const auto& g : groups) {
    if (g.activated && g.last < current_first) started = std::max(started, g.first);
  }
  for (const auto& g : groups) {
    if (g.last >= current_first) continue;  // another view of the present interval
    if (g.last < started) continue;
    std::set<OsdId> members(g.up.begin(), g.up.end());
    bool member_heard = false;
    for (OsdId o : members) member_heard |= heard.count(o) > 0;
    if (!member_heard) {
      bool could_ack = !g.up.empty() && g.up.size() >= g.min_size;
      if (could_ack || g.activated) {
        need_one_of(members, fmt::format("{} [{}] may have acked writes", range(g.first, g.last),
                                         fmt::join(g.up, ",")));
      }
      continue;
    }
    // A heard member would know if the primary had activated the interval.
    if (!g.activated) continue;
    const std::set<OsdId>& acting = g.acting.empty() ? members : g.acting;
    need_one_of(acting, fmt::format("{} [{}] went active with [{}]", range(g.first, g.last),
                                    fmt::join(g.up, ","), fmt::join(acting, ",")));
  }

  // Epochs since the PG was clean that no heard OSD observed: whoever was in
  // the interval before them and has not been heard may have gone on writing.
  std::sort(covered.begin(), covered.end());
  Epoch next = std::max(les, started);  // first epoch not known to be covered
  std::vector<std::pair<Epoch, Epoch>> gaps;
  for (const auto& [first, last] : covered) {
    if (next >= current_first) break;
    if (first > next) gaps.emplace_back(next, std::min(first, current_first) - 1);
    next = std::max(next, last + 1);
  }
  if (next < current_first) gaps.emplace_back(next, current_first - 1);
  for (const auto& [first, last] : gaps) {
    const Group* before = nullptr;
    for (const auto& g : groups) {
      if (g.last < first && !g.up.empty() && (!before || g.last > before->last)) before = &g;
    }
    if (!before) continue;  // nothing known before it: the PG was created there
    std::set<OsdId> unheard;
    for (OsdId o : before->up) {
      if (!heard.count(o)) unheard.insert(o);
    }
    if (unheard.empty()) continue;
    need_one_of(unheard, fmt::format("{} unknown (after [{}])", range(first, last),
                                     fmt::join(before->up, ",")));
  }
  return out;
}

}  // namespace cairn::osd
