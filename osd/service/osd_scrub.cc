// Scrub: compare every member's copy of a PG's objects (metadata; with deep,
// the data's checksums too), report what differs and, on repair, overwrite
// the bad copies from a good one.
//
// The primary pauses writes to the PG while it gathers the members'
// inventories, so that a write landing between two listings is not taken for
// an inconsistency; reads continue.
//
// Besides on demand (`cairnctl pg scrub|deep-scrub|repair`), scrub_loop
// starts the scrubs that scrub_schedule.h says are due, one at a time per
// OSD. Every member records when the PG was last (deep-)scrubbed (meta
// "scrub"), so a new primary continues the schedule.
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/net/blocking.h"
#include "common/net/daemon.h"
#include "common/net/sleep.h"
#include "osd/service/osd_service.h"

namespace cairn::osd {

namespace asio = boost::asio;
using net::awaitable;
using net::Millis;
using net::sleep_for;

namespace {
constexpr Millis kScrubTimeout{60000};
// A scheduled scrub that failed (a member unreachable, the PG changed) is
// not retried for this long.
constexpr uint64_t kScrubRetryMs = 60'000;

uint64_t wall_ms() { return net::wall_ns() / 1'000'000; }
}  // namespace

awaitable<ScrubMapReply> OsdService::do_scrub_map(ScrubMapRequest req) {
  ScrubMapReply reply;
  reply.head.epoch = map_.epoch;
  CollectionId cid{req.pool, req.pg};
  // A replica's own record of the schedule, for when it becomes primary.
  PgPtr member = get_pg(PgId{req.pool, req.pg}, false);
  if (member && !member->up.empty() && member->up[0] != opts_.id && req.started_ms != 0) {
    scrub_done(member, req.deep, req.started_ms);
  }
  reply.head.status = co_await net::run_blocking(store_pool_, [&]() -> Status {
    std::string after;
    while (true) {
      bool more = false;
      auto list = store_->list_objects(cid, after, 1000, &more);
      if (!list.ok()) return list.status();
      for (auto& [name, st] : *list) {
        ScrubEntry& e = reply.objects[name];
        e.version = st.version;
        e.size = st.size;
        if (req.deep) {
          auto crc = store_->checksum(cid, name);
          if (crc.ok()) e.crc = *crc;
          else e.read_error = true;
        }
      }
      if (!more || list->empty()) break;
      after = list->back().first;
    }
    return Status::Ok();
  });
  co_return reply;
}

awaitable<ScrubReply> OsdService::do_scrub(ScrubRequest req) {
  ScrubReply reply;
  reply.head.epoch = map_.epoch;
  PgPtr pg = get_pg(PgId{req.pool, req.pg}, false);
  if (!pg || pg->up.empty() || pg->up[0] != opts_.id || pg->state != PgState::kActive) {
    reply.head = stale("osd." + std::to_string(opts_.id) + " is not the active primary of PG " +
                       PgId{req.pool, req.pg}.to_string());
    co_return reply;
  }
  uint64_t gen = pg->peering_gen;
  uint64_t started_ms = wall_ms();
  const char* kind = req.deep ? "deep-scrub" : "scrub";
  spdlog::info("PG {}: {} started", pg->id.to_string(), kind);

  // Quiesce writes, then take every member's inventory.
  pg->paused = true;
  ++scrubs_running_;
  struct Resume {
    PgPtr pg;
    int* running;
    ~Resume() {
      pg->paused = false;
      pg->notify();
      --*running;
    }
  } resume{pg, &scrubs_running_};
  while (pg->inflight_writes > 0 && gen == pg->peering_gen && !stopped_) {
    co_await pg->state_changed.wait_for(Millis(100));
  }
  std::map<OsdId, ScrubMapReply> maps;
  ScrubMapRequest mreq{req.pool, req.pg, req.deep, started_ms};
  for (OsdId m : pg->up) {
    if (pg->backfill_targets.count(m)) continue;  // known to be behind; not an inconsistency
    if (m == opts_.id) {
      maps[m] = co_await do_scrub_map(mreq);
      continue;
    }
    const OsdInfo* osd = map_.find_osd(m);
    if (!osd) continue;
    auto r = co_await peers_->call(osd->addr, static_cast<uint16_t>(MsgType::kPgScrubMap),
                                   mreq.encode(), kScrubTimeout);
    if (!r.ok()) {
      reply.head.status = Status::Unavailable("osd." + std::to_string(m) + ": " + r.status().message());
      co_return reply;
    }
    auto m_reply = ScrubMapReply::decode(r->payload);
    if (!m_reply.ok()) {
      reply.head.status = m_reply.status();
      co_return reply;
    }
    maps[m] = std::move(*m_reply);
  }
  for (const auto& [m, sm] : maps) {
    if (!sm.head.status.ok()) {
      reply.head.status = Status(sm.head.status.code(),
                                 "osd." + std::to_string(m) + ": " + sm.head.status.message());
      co_return reply;
    }
  }
  if (gen != pg->peering_gen) {
    reply.head = stale("PG changed during the scrub");
    co_return reply;
  }

  // The authoritative copy of each object: the newest version among copies
  // that read back cleanly; with deep scrub, the checksum most of them agree on.
  std::set<std::string> names;
  for (const auto& [m, sm] : maps) {
    for (const auto& [name, e] : sm.objects) names.insert(name);
  }
  struct Auth {
    OsdId source = kNoOsd;
    ScrubEntry entry;
  };
  std::map<std::string, Auth> auth;
  for (const auto& name : names) {
    std::map<std::tuple<uint64_t, uint64_t, uint32_t>, std::vector<OsdId>> votes;
    for (const auto& [m, sm] : maps) {
      auto it = sm.objects.find(name);
      if (it == sm.objects.end() || it->second.read_error) continue;
      votes[{it->second.version, it->second.size, it->second.crc}].push_back(m);
    }
    if (votes.empty()) continue;  // no good copy anywhere: reported, cannot repair
    // Newest version wins; among equal versions, the most common content.
    auto best = votes.begin();
    for (auto it = votes.begin(); it != votes.end(); ++it) {
      uint64_t v = std::get<0>(it->first), bv = std::get<0>(best->first);
      if (v > bv || (v == bv && it->second.size() > best->second.size())) best = it;
    }
    Auth a;
    a.source = std::find(best->second.begin(), best->second.end(), opts_.id) != best->second.end()
                   ? opts_.id
                   : best->second.front();
    a.entry = maps[a.source].objects[name];
    auth[name] = a;
  }
  // An object the newest log deleted exists nowhere in the primary's
  // authoritative set: copies of it elsewhere are extra.
  for (const auto& name : names) {
    bool on_primary = maps[opts_.id].objects.count(name) > 0;
    bool primary_ok = on_primary && !maps[opts_.id].objects[name].read_error;
    if (!on_primary && auth.count(name)) {
      // The primary lacks it: trust the primary's log unless every replica
      // has it (then the primary lost it).
      size_t holders = 0;
      for (const auto& [m, sm] : maps) holders += sm.objects.count(name);
      if (holders < maps.size() - 1) auth.erase(name);
    }
    (void)primary_ok;
  }
  reply.objects = auth.size();
  for (const auto& [m, sm] : maps) {
    for (const auto& name : names) {
      auto have = sm.objects.find(name);
      auto a = auth.find(name);
      std::string reason;
      if (a == auth.end()) {
        if (have != sm.objects.end()) reason = have->second.read_error ? "read error" : "extra";
      } else if (have == sm.objects.end()) {
        reason = "missing";
      } else if (have->second.read_error) {
        reason = "read error";
      } else if (have->second.version != a->second.entry.version) {
        reason = "version";
      } else if (have->second.size != a->second.entry.size) {
        reason = "size";
      } else if (req.deep && have->second.crc != a->second.entry.crc) {
        reason = "data checksum";
      }
      if (!reason.empty()) reply.inconsistent.push_back(Inconsistency{name, m, reason});
    }
  }
  for (const auto& x : reply.inconsistent) {
    spdlog::warn("PG {}: {} found {} on osd.{} inconsistent ({})", pg->id.to_string(), kind,
                 x.object, x.osd, x.reason);
  }

  if (req.repair) {
    for (const auto& x : reply.inconsistent) {
      if (gen != pg->peering_gen) break;
      auto a = auth.find(x.object);
      ObjectData good;
      good.name = x.object;  // exists = false: remove an extra copy
      if (a != auth.end()) {
        if (a->second.source == opts_.id) {
          auto obj = co_await net::run_blocking(store_pool_, [&] { return read_object(pg->cid, x.object); });
          if (!obj.ok()) continue;
          good = std::move(*obj);
        } else {
          const OsdInfo* src = map_.find_osd(a->second.source);
          if (!src) continue;
          PgObjectRef ref{pg->id.pool, pg->id.seed, x.object};
          auto r = co_await peers_->call(src->addr, static_cast<uint16_t>(MsgType::kPgPull),
                                         ref.encode(), kScrubTimeout);
          if (!r.ok()) continue;
          auto pr = PgObjectReply::decode(r->payload);
          if (!pr.ok() || !pr->head.status.ok()) continue;
          good = std::move(pr->object);
        }
      }
      Status st;
      if (x.osd == opts_.id) {
        Transaction txn;
        write_object(txn, pg->cid, good);
        st = co_await net::run_blocking(store_pool_, [&] { return store_->submit(std::move(txn)); });
      } else {
        const OsdInfo* dst = map_.find_osd(x.osd);
        if (!dst) continue;
        PgPushRequest push{pg->id.pool, pg->id.seed, {std::move(good)}, 0};
        auto r = co_await peers_->call(dst->addr, static_cast<uint16_t>(MsgType::kPgPush),
                                       push.encode(), kScrubTimeout);
        if (!r.ok()) continue;
        Decoder d(r->payload);
        auto head = StatusReply::decode(d);
        st = head.ok() ? head->status : head.status();
      }
      if (st.ok()) {
        ++reply.repaired;
        spdlog::info("PG {}: repaired {} on osd.{}", pg->id.to_string(), x.object, x.osd);
      }
    }
  }
  pg->inconsistent_objects = reply.inconsistent.size() - reply.repaired;
  scrub_done(pg, req.deep, started_ms);
  spdlog::info("PG {}: {} done: {} objects, {} inconsistent, {} repaired", pg->id.to_string(), kind,
               reply.objects, reply.inconsistent.size(), reply.repaired);
  co_return reply;
}

void OsdService::scrub_done(const PgPtr& pg, bool deep, uint64_t now_ms) {
  pg->scrub_stamps.last_scrub_ms = now_ms;
  if (deep) pg->scrub_stamps.last_deep_scrub_ms = now_ms;
  pg->scrub_jitter = draw_scrub_jitter();
  pg->scrub_retry_ms = 0;
  save_scrub_stamps(pg);
}

void OsdService::start_scrub_schedule(const PgPtr& pg, uint64_t now_ms) {
  if (pg->scrub_stamps.last_scrub_ms != 0 || pg->scrub_stamps.last_deep_scrub_ms != 0) return;
  // New (or from before scheduled scrubs): its schedule starts now, rather
  // than every PG of a fresh pool scrubbing at once.
  pg->scrub_stamps = ScrubStamps{now_ms, now_ms};
  save_scrub_stamps(pg);
}

void OsdService::save_scrub_stamps(const PgPtr& pg) {
  // In the background and best effort: a lost stamp only brings the next
  // scrub of that PG forward.
  asio::co_spawn(
      io_,
      [](OsdService* self, PgPtr pg, std::string stamps) -> awaitable<void> {
        Transaction txn;
        txn.meta_put(pg->cid, "scrub", std::move(stamps));
        Status st = co_await net::run_blocking(self->store_pool_, [&] {
          return self->store_->submit(std::move(txn));
        });
        if (!st.ok()) {
          spdlog::warn("PG {}: cannot record its scrub time: {}", pg->id.to_string(), st.to_string());
        }
      }(this, pg, pg->scrub_stamps.encode()),
      asio::detached);
}

awaitable<void> OsdService::scrub_loop() {
  ScrubPolicy policy;
  policy.scrub_interval_ms = opts_.scrub_interval_s * 1000;
  policy.deep_scrub_interval_ms = opts_.deep_scrub_interval_s * 1000;
  policy.randomize_ratio = opts_.scrub_randomize_ratio;
  uint64_t shortest = std::min(policy.scrub_interval_ms ? policy.scrub_interval_ms : UINT64_MAX,
                               policy.deep_scrub_interval_ms ? policy.deep_scrub_interval_ms : UINT64_MAX);
  if (shortest == UINT64_MAX) {
    spdlog::info("osd.{}: scheduled scrubs are off", opts_.id);
    co_return;
  }
  // Look often enough that short test intervals are honoured, rarely enough
  // to cost nothing with the default day-long ones.
  Millis tick(std::clamp<uint64_t>(shortest / 4, 500, 60'000));
  while (!stopped_) {
    co_await stop_wake_->wait_for(tick);  // stop() wakes it: a stop is not held up
    if (stopped_) break;
    // One scrub at a time per OSD, and none while it recovers or backfills.
    if (!healthy_ || scrubs_running_ > 0 || recovery_active_ > 0) continue;
    uint64_t now = wall_ms();
    std::vector<ScrubCandidate> candidates;
    for (const auto& [id, pg] : pgs_) {
      if (pg->up.empty() || pg->up[0] != opts_.id || pg->state != PgState::kActive) continue;
      const PoolInfo* pool = map_.find_pool(id.pool);
      if (!pool) continue;
      start_scrub_schedule(pg, now);
      bool eligible = !pg->recovering && pg->backfill_targets.empty() &&
                      pg->up.size() >= pool->size && now >= pg->scrub_retry_ms;
      candidates.push_back(ScrubCandidate{id, pg->scrub_stamps, pg->scrub_jitter, eligible});
    }
    auto job = next_scrub(candidates, now, policy);
    if (!job) continue;
    spdlog::info("PG {}: scheduled {} is due", job->pg.to_string(), job->deep ? "deep-scrub" : "scrub");
    ScrubRequest req{job->pg.pool, job->pg.seed, job->deep, false};
    ScrubReply r = co_await do_scrub(req);
    if (!r.head.status.ok()) {
      spdlog::info("PG {}: scheduled scrub did not run ({}); retrying in {} s", job->pg.to_string(),
                   r.head.status.to_string(), kScrubRetryMs / 1000);
      if (PgPtr pg = get_pg(job->pg, false)) pg->scrub_retry_ms = wall_ms() + kScrubRetryMs;
    }
  }
}

}  // namespace cairn::osd
