#include "rbd/image.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/net/daemon.h"
#include "rbd/core/clone.h"

namespace cairn::rbd {

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr const char* kSnapXattr = "snap";      // on a head: newest snapshot it is preserved for
constexpr const char* kAbsentXattr = "absent";  // on a clone: the object did not exist then
// Object ops one image call keeps in flight (bounds memory for huge discards).
constexpr size_t kFanout = 32;
// Objects one allocation() call looks at; callers get a shorter answer.
constexpr uint64_t kMaxAllocObjects = 64;
// How long writes wait for a lapsed lease to be renewed before failing:
// longer than the client's op timeout, so a renewal stuck behind an OSD
// failure gets its answer first.
constexpr uint64_t kMaxLockStallMs = 180000;
// Clones of clones of ...: a bound that also stops a corrupt cycle.
constexpr int kMaxCloneDepth = 16;

awaitable<void> sleep_ms(uint64_t ms) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(std::chrono::milliseconds(ms));
  co_await t.async_wait(kNoThrow);
}

bool is_not_found(const Result<OsdOpReply>& r) {
  if (!r.ok()) return false;
  if (r->head.status.is(Code::kNotFound)) return true;
  return !r->results.empty() && r->results[0].status.is(Code::kNotFound);
}

}  // namespace

// Tracks one write so flush() can wait for it.
struct Image::WriteGuard {
  WriteGuard(Image* img) : img(img), id(++img->writes_started_) { img->inflight_ids_.insert(id); }
  ~WriteGuard() { img->write_done(id); }
  Image* img;
  uint64_t id;
};

void Image::write_done(uint64_t id) {
  inflight_ids_.erase(id);
  ++writes_done_;
  progress_->cancel();
}

Image::Image(client::Client& c, PoolId pool, ImageSpec spec)
    : c_(c), pool_(pool), spec_(std::move(spec)) {
  progress_ = std::make_unique<asio::steady_timer>(c.executor());
  progress_->expires_at(asio::steady_timer::time_point::max());
  renew_timer_ = std::make_unique<asio::steady_timer>(c.executor());
}

Image::~Image() = default;

awaitable<Result<std::shared_ptr<Image>>> Image::open(client::Client& c, ImageSpec spec,
                                                      OpenOptions opts) {
  auto pool = c.pool_id(spec.pool);
  if (!pool.ok()) co_return pool.status();
  auto id = co_await lookup_image_id(c, *pool, spec.image);
  if (!id.ok()) co_return id.status();
  std::shared_ptr<Image> img(new Image(c, *pool, spec));
  bool want_write = opts.mode == OpenMode::kReadWrite && spec.snap.empty();
  if (want_write) {
    CAIRN_CHECK(!opts.lock.owner.empty());
    img->lock_opts_ = opts.lock;
    uint64_t sent = net::now_ms();
    Status st = co_await acquire_lock(c, *pool, *id, opts.lock, &img->lock_value_);
    if (!st.ok()) co_return st;
    img->lease_valid_until_ms_ = sent + opts.lock.lease_ms * 3 / 4;
  }
  // Read the header after taking the lock: it cannot change under us now.
  auto vh = co_await read_header(c, *pool, *id);
  if (!vh.ok()) {
    if (want_write) (void)co_await release_lock(c, *pool, *id, img->lock_value_);
    co_return vh.status();
  }
  img->header_ = std::move(vh->header);
  img->gen_ = std::move(vh->gen);
  img->size_ = img->header_.size;
  if (!spec.snap.empty()) {
    const SnapInfo* s = img->header_.find_snap(spec.snap);
    if (!s) co_return Status::NotFound("snapshot '" + spec.to_string() + "' does not exist");
    img->snap_id_ = s->id;
    img->size_ = s->size;
  }
  img->read_only_ = !want_write;
  if (Status st = co_await img->open_parent(0); !st.ok()) {
    if (want_write) (void)co_await release_lock(c, *pool, *id, img->lock_value_);
    co_return st;
  }
  if (want_write) {
    img->renew_running_ = true;
    asio::co_spawn(c.executor(), img->renew_loop(), asio::detached);
  }
  co_return img;
}

awaitable<Status> Image::open_parent(int depth) {
  if (!header_.parent) co_return Status::Ok();
  const ParentSpec& p = *header_.parent;
  if (depth >= kMaxCloneDepth) {
    co_return Status::Corruption(fmt::format("{}: clone chain deeper than {}", spec_.to_string(),
                                             kMaxCloneDepth));
  }
  auto pool = c_.pool_id(p.pool);
  if (!pool.ok()) co_return pool.status();
  auto vh = co_await read_header(c_, *pool, p.image_id);
  if (!vh.ok()) {
    co_return Status::NotFound(fmt::format("{}: parent image {}/{}: {}", spec_.to_string(), p.pool,
                                           p.image_id, vh.status().message()));
  }
  const SnapInfo* s = vh->header.find_snap(p.snap_id);
  if (!s) {
    co_return Status::NotFound(fmt::format("{}: parent snapshot {} of {}/{} is gone",
                                           spec_.to_string(), p.snap_id, p.pool, vh->header.name));
  }
  if (vh->header.object_size != header_.object_size) {
    co_return Status::NotSupported("clone and parent have different object sizes");
  }
  ImageSpec ps{p.pool, vh->header.name, s->name};
  std::shared_ptr<Image> parent(new Image(c_, *pool, ps));
  parent->header_ = std::move(vh->header);
  parent->gen_ = std::move(vh->gen);
  parent->snap_id_ = p.snap_id;
  parent->size_ = parent->header_.find_snap(p.snap_id)->size;
  parent->read_only_ = true;
  if (Status st = co_await parent->open_parent(depth + 1); !st.ok()) co_return st;
  parent_ = std::move(parent);
  co_return Status::Ok();
}

awaitable<Result<OsdOpReply>> Image::execute(std::string name, std::vector<ObjectOp> op_list) {
  // Every op the image issues may be replayed: writes and truncates are
  // idempotent, exclusive creates and removes treat AlreadyExists/NotFound
  // as done, compare-and-sets re-read on Conflict. So an op that timed out
  // (a PG waiting for a dead OSD longer than the client's op timeout) is
  // retried: I/O stalls instead of failing, up to kMaxLockStallMs.
  uint64_t deadline = net::now_ms() + kMaxLockStallMs;
  for (;;) {
    std::vector<ObjectOp> attempt = op_list;
    auto r = co_await c_.async_execute(pool_, name, std::move(attempt));
    if (!r.ok() && r.status().is(Code::kUnavailable) && !closing_ && net::now_ms() < deadline) {
      spdlog::warn("image {}: {} on {}; retrying", spec_.to_string(), r.status().to_string(), name);
      co_await sleep_ms(100);
      // Replay only under a live lease: once another gateway may own the
      // image, our old writes must not land after its new ones. (Ops are
      // ordered per PG, so the attempt that timed out cannot overtake the
      // replay either.)
      if (!read_only_) {
        if (Status w = co_await check_writable(); !w.ok()) co_return w;
      }
      continue;
    }
    co_return r;
  }
}

awaitable<Status> Image::refresh_header() {
  auto vh = co_await read_header(c_, pool_, header_.id);
  if (!vh.ok()) co_return vh.status();
  header_ = std::move(vh->header);
  gen_ = std::move(vh->gen);
  co_return Status::Ok();
}

awaitable<Status> Image::refresh() {
  if (Status st = co_await refresh_header(); !st.ok()) co_return st;
  // Only a grow happens behind a writer's back (shrinking takes the lock).
  if (snap_id_ == 0 && header_.size > size_) size_ = header_.size;
  co_return Status::Ok();
}

uint64_t Image::parent_bytes(uint64_t objno) const {
  if (!parent_ || !header_.parent) return 0;
  // A snapshot of a clone sees no more of the parent than its own size.
  return parent_extent(header_.object_size, std::min(header_.parent->overlap, size_), objno);
}

awaitable<Status> Image::read_parent(uint64_t objno, uint64_t offset, uint64_t length, char* out,
                                     bool* allocated) {
  *allocated = false;
  uint64_t pb = parent_bytes(objno);
  if (pb <= offset) co_return Status::Ok();  // zeros
  uint64_t n = std::min(length, pb - offset);
  co_return co_await parent_->read_object(objno, offset, n, parent_->snap_id_, out, allocated);
}

awaitable<Status> Image::copy_up(uint64_t objno, uint64_t offset, uint64_t length) {
  uint64_t pb = parent_bytes(objno);
  if (pb == 0 || child_exists_.count(objno)) co_return Status::Ok();
  std::string name = data_object(header_.id, objno);
  auto stat_ops = ops(ObjectOp{.code = OpCode::kStat});
  auto r = co_await execute(name, std::move(stat_ops));
  bool exists = !is_not_found(r);
  if (exists && !op_status(r).ok()) co_return op_status(r);
  if (exists) {
    child_exists_.insert(objno);
    co_return Status::Ok();
  }
  if (length != 0 && !needs_copy_up(false, pb, offset, length)) co_return Status::Ok();
  std::string buf(pb, '\0');
  bool allocated = false;
  if (Status st = co_await read_parent(objno, 0, pb, buf.data(), &allocated); !st.ok()) co_return st;
  if (!allocated) co_return Status::Ok();  // the parent has zeros there too
  // Exclusive create: a concurrent write that already created the object
  // holds newer data than the parent's, so losing the race is fine.
  auto up = ops(ObjectOp{.code = OpCode::kCreate},
                ObjectOp{.code = OpCode::kWriteFull, .data = std::move(buf)});
  Status st = op_status(co_await execute(name, std::move(up)));
  if (!st.ok() && !st.is(Code::kAlreadyExists)) co_return st;
  child_exists_.insert(objno);
  co_return Status::Ok();
}

awaitable<void> Image::renew_loop() {
  auto self = shared_from_this();  // alive until the loop ends (after close)
  uint64_t period = std::max<uint64_t>(lock_opts_.lease_ms / 3, 10);
  uint64_t wait = period;
  while (!closing_ && !fenced_) {
    renew_timer_->expires_after(std::chrono::milliseconds(wait));
    co_await renew_timer_->async_wait(kNoThrow);
    if (closing_) break;
    uint64_t sent = net::now_ms();
    Status st = co_await renew_lock(c_, pool_, header_.id, lock_opts_, &lock_value_);
    if (closing_) break;
    if (st.ok()) {
      lease_valid_until_ms_ = sent + lock_opts_.lease_ms * 3 / 4;
    } else if (st.is(Code::kConflict) || st.is(Code::kNotFound)) {
      spdlog::error("image {}: lost the exclusive lock ({}); refusing further writes",
                    spec_.to_string(), st.to_string());
      fenced_ = true;
      lock_value_.clear();
    } else {
      spdlog::warn("image {}: lock renewal failed: {}", spec_.to_string(), st.to_string());
    }
    // A renewal that took longer than the lease (a PG blocked on a dead OSD)
    // leaves writes waiting: try again at once instead of after a period.
    wait = net::now_ms() < lease_valid_until_ms_ ? period : 50;
    progress_->cancel();
  }
  renew_running_ = false;
  progress_->cancel();
}

awaitable<Status> Image::check_writable() {
  if (read_only_) {
    co_return Status::PermissionDenied(spec_.snap.empty() ? "image is open read-only"
                                                          : "snapshots are read-only");
  }
  // The lease lapsed without a successful renewal (cluster slow, or the
  // header's PG waiting for a dead OSD to be marked down): writes stall
  // until the renewal succeeds or finds the lock taken. Failing them
  // instead would turn an OSD failure into EIO for the filesystem above.
  uint64_t deadline = net::now_ms() + std::max<uint64_t>(lock_opts_.lease_ms, kMaxLockStallMs);
  while (!fenced_ && !closing_ && net::now_ms() >= lease_valid_until_ms_) {
    if (net::now_ms() >= deadline) {
      co_return Status::Unavailable("cannot renew the image lock");
    }
    co_await sleep_ms(20);
  }
  if (fenced_) co_return Status::IoError("image lock was lost to another client; writes are fenced");
  if (closing_) co_return Status::Shutdown("image is closing");
  co_return Status::Ok();
}

// ---- reads ---------------------------------------------------------------------

awaitable<Status> Image::read_object(uint64_t objno, uint64_t offset, uint64_t length,
                                     uint64_t snap_id, char* out, bool* allocated) {
  *allocated = false;
  std::vector<ObjectOp> head_ops;
  if (snap_id != 0) head_ops.push_back(ObjectOp{.code = OpCode::kGetXattrs});
  head_ops.push_back(ObjectOp{.code = OpCode::kRead, .offset = offset, .length = length});
  auto r = co_await execute(data_object(header_.id, objno), std::move(head_ops));
  bool absent = is_not_found(r);
  if (!absent) {
    if (Status st = op_status(r); !st.ok()) co_return st;
  }
  if (snap_id != 0 && !absent) {
    std::optional<uint64_t> head_snap;
    auto it = r->results[0].kvs.find(kSnapXattr);
    if (it != r->results[0].kvs.end()) head_snap = std::strtoull(it->second.c_str(), nullptr, 10);
    SnapReadPlan plan = plan_snap_read(header_, snap_id, head_snap);
    for (int pass = 0; !plan.use_head && pass < 2; ++pass) {
      for (uint64_t id : plan.candidates) {
        auto clone_ops = ops(ObjectOp{.code = OpCode::kGetXattrs},
                             ObjectOp{.code = OpCode::kRead, .offset = offset, .length = length});
        auto cr = co_await execute(clone_object(header_.id, objno, id),
                                            std::move(clone_ops));
        if (is_not_found(cr)) continue;
        if (Status st = op_status(cr); !st.ok()) co_return st;
        // Absent when snapshot id was taken: a clone's parent shows through.
        if (cr->results[0].kvs.count(kAbsentXattr)) {
          co_return co_await read_parent(objno, offset, length, out, allocated);
        }
        const std::string& d = cr->results[1].data;
        std::memcpy(out, d.data(), std::min<size_t>(d.size(), length));
        *allocated = true;
        co_return Status::Ok();
      }
      if (!plan.header_may_be_stale || pass == 1) break;
      // A snapshot newer than our header preserved this object: learn its id.
      if (Status st = co_await refresh_header(); !st.ok()) co_return st;
      plan = plan_snap_read(header_, snap_id, head_snap);
    }
    if (!plan.use_head) {
      co_return Status::Corruption(fmt::format("{}: no clone of object {} holds snapshot {}",
                                               spec_.to_string(), objno, snap_id));
    }
  }
  if (absent) co_return co_await read_parent(objno, offset, length, out, allocated);
  const std::string& d = r->results.back().data;
  std::memcpy(out, d.data(), std::min<size_t>(d.size(), length));
  *allocated = true;
  co_return Status::Ok();
}

awaitable<Result<ReadResult>> Image::read(uint64_t offset, uint64_t length) {
  CAIRN_CHECK(offset <= size_ && length <= size_ - offset);
  ReadResult rr;
  rr.data.assign(length, '\0');
  auto exts = map_extent(header_.object_size, offset, length);
  std::unique_ptr<bool[]> alloc(new bool[exts.size()]);
  std::vector<awaitable<Status>> tasks;
  for (size_t i = 0; i < exts.size(); ++i) {
    const auto& x = exts[i];
    tasks.push_back(read_object(x.objno, x.offset, x.length, snap_id_, rr.data.data() + x.buf_offset,
                                &alloc[i]));
  }
  auto sts = co_await when_all_bounded(std::move(tasks), kFanout);
  for (auto& s : sts) {
    if (!s.ok()) co_return s;
  }
  for (size_t i = 0; i < exts.size(); ++i) {
    if (!rr.extents.empty() && rr.extents.back().allocated == alloc[i]) {
      rr.extents.back().length += exts[i].length;
    } else {
      rr.extents.push_back(AllocExtent{exts[i].buf_offset, exts[i].length, alloc[i]});
    }
  }
  co_return rr;
}

awaitable<Result<std::vector<AllocExtent>>> Image::allocation(uint64_t offset, uint64_t length) {
  CAIRN_CHECK(offset <= size_ && length <= size_ - offset);
  auto exts = map_extent(header_.object_size, offset, length);
  if (exts.size() > kMaxAllocObjects) exts.resize(kMaxAllocObjects);
  std::vector<AllocExtent> out;
  if (snap_id_ != 0) {  // snapshots: report everything as data (correct, not thin)
    uint64_t n = exts.back().buf_offset + exts.back().length;
    out.push_back(AllocExtent{offset, n, true});
    co_return out;
  }
  std::vector<uint64_t> sizes(exts.size(), 0);
  std::vector<uint8_t> exists(exts.size(), 0);
  struct Stat {
    static awaitable<Status> run(client::Client& c, PoolId pool, std::string name, uint64_t* size,
                                 uint8_t* exists) {
      auto ops2 = ops(ObjectOp{.code = OpCode::kStat});
      auto r = co_await c.async_execute(pool, std::move(name), std::move(ops2));
      if (is_not_found(r)) co_return Status::Ok();
      Status st = op_status(r);
      if (!st.ok()) co_return st;
      *exists = 1;
      *size = r->results[0].size;
      co_return Status::Ok();
    }
  };
  std::vector<awaitable<Status>> tasks;
  for (size_t i = 0; i < exts.size(); ++i) {
    tasks.push_back(Stat::run(c_, pool_, data_object(header_.id, exts[i].objno), &sizes[i], &exists[i]));
  }
  auto sts = co_await when_all_bounded(std::move(tasks), kFanout);
  for (auto& s : sts) {
    if (!s.ok()) co_return s;
  }
  auto add = [&out](uint64_t off, uint64_t len, bool a) {
    if (len == 0) return;
    if (!out.empty() && out.back().allocated == a) {
      out.back().length += len;
    } else {
      out.push_back(AllocExtent{off, len, a});
    }
  };
  for (size_t i = 0; i < exts.size(); ++i) {
    const auto& x = exts[i];
    uint64_t abs = offset + x.buf_offset;
    // Bytes past an object's end read as zeros: report them as a hole.
    uint64_t data_end = exists[i] ? std::min(x.offset + x.length, std::max(sizes[i], x.offset)) : x.offset;
    // Absent in a clone: the parent's bytes show through (reported as data).
    if (!exists[i]) data_end = std::min(x.offset + x.length, std::max(parent_bytes(x.objno), x.offset));
    add(abs, data_end - x.offset, true);
    add(abs + (data_end - x.offset), x.offset + x.length - data_end, false);
  }
  co_return out;
}

// ---- writes --------------------------------------------------------------------

awaitable<Status> Image::copy_on_write(uint64_t objno) {
  uint64_t latest = header_.latest_snap();
  std::string head = data_object(header_.id, objno);
  auto ops3 = ops(ObjectOp{.code = OpCode::kGetXattrs},
                                      ObjectOp{.code = OpCode::kRead, .offset = 0, .length = 0});
  auto r = co_await execute(head,
                                     std::move(ops3));
  std::vector<ObjectOp> clone;
  clone.push_back(ObjectOp{.code = OpCode::kCreate});
  if (is_not_found(r)) {
    // A clone's absent object shows its parent: preserve the parent's bytes,
    // so the snapshot stays right after a flatten detaches the parent.
    uint64_t pb = parent_bytes(objno);
    bool allocated = false;
    std::string buf(pb, '\0');
    if (pb > 0) {
      if (Status st = co_await read_parent(objno, 0, pb, buf.data(), &allocated); !st.ok()) {
        co_return st;
      }
    }
    if (allocated) {
      clone.push_back(ObjectOp{.code = OpCode::kWriteFull, .data = std::move(buf)});
    } else {
      clone.push_back(ObjectOp{.code = OpCode::kSetXattr, .key = kAbsentXattr, .value = "1"});
    }
  } else {
    Status st = op_status(r);
    if (!st.ok()) co_return st;
    auto it = r->results[0].kvs.find(kSnapXattr);
    if (it != r->results[0].kvs.end() && std::strtoull(it->second.c_str(), nullptr, 10) >= latest) {
      co_return Status::Ok();  // already preserved for the newest snapshot
    }
    if (!r->results[1].data.empty()) {
      clone.push_back(ObjectOp{.code = OpCode::kWriteFull, .data = std::move(r->results[1].data)});
    }
  }
  Status st = op_status(co_await execute(clone_object(header_.id, objno, latest),
                                                  std::move(clone)));
  // An existing clone was written by an earlier attempt that did not finish:
  // it holds the older content, keep it.
  if (!st.ok() && !st.is(Code::kAlreadyExists)) co_return st;
  auto ops4 = ops(ObjectOp{.code = OpCode::kSetXattr, .key = kSnapXattr, .value = std::to_string(latest)});
  co_return op_status(co_await execute(head, std::move(ops4)));
}

awaitable<Status> Image::prepare_object(uint64_t objno) {
  if (header_.snaps.empty() || prepared_.count(objno)) co_return Status::Ok();
  while (preparing_.count(objno)) co_await progress_->async_wait(kNoThrow);
  if (prepared_.count(objno)) co_return Status::Ok();
  preparing_.insert(objno);
  Status st = co_await copy_on_write(objno);
  preparing_.erase(objno);
  if (st.ok()) prepared_.insert(objno);
  progress_->cancel();
  co_return st;
}

awaitable<Status> Image::write_object(uint64_t objno, uint64_t offset, std::string data) {
  // Copy-up before the snapshot copy-on-write: that one creates the head,
  // which would then hide the parent's bytes.
  if (Status st = co_await copy_up(objno, offset, data.size()); !st.ok()) co_return st;
  if (Status st = co_await prepare_object(objno); !st.ok()) co_return st;
  auto ops5 = ops(ObjectOp{.code = OpCode::kWrite, .offset = offset, .data = std::move(data)});
  Status st = op_status(co_await execute(data_object(header_.id, objno),
                                                  std::move(ops5)));
  if (st.ok() && parent_) child_exists_.insert(objno);
  co_return st;
}

awaitable<Status> Image::write(uint64_t offset, std::string data) {
  if (Status st = co_await check_writable(); !st.ok()) co_return st;
  if (offset > size_ || data.size() > size_ - offset) {
    co_return Status::NoSpace("write past the end of the image");
  }
  WriteGuard guard(this);
  auto exts = map_extent(header_.object_size, offset, data.size());
  if (exts.size() == 1) co_return co_await write_object(exts[0].objno, exts[0].offset, std::move(data));
  std::vector<awaitable<Status>> tasks;
  for (const auto& x : exts) {
    tasks.push_back(write_object(x.objno, x.offset, data.substr(x.buf_offset, x.length)));
  }
  auto results1 = co_await when_all_bounded(std::move(tasks), kFanout);
  for (auto& s : results1) {
    if (!s.ok()) co_return s;
  }
  co_return Status::Ok();
}

awaitable<Status> Image::zero_object(uint64_t objno, uint64_t offset, uint64_t length, bool punch) {
  std::string name = data_object(header_.id, objno);
  uint64_t obj_start = objno * header_.object_size;
  // The whole object, or everything of it that lies inside the image.
  bool whole = offset == 0 && (length == header_.object_size || obj_start + length >= size_);
  uint64_t pb = parent_bytes(objno);
  bool has_snaps = !header_.snaps.empty();
  ZeroPlan plan;
  for (int round = 0; round < 2; ++round) {
    HeadState head;
    if (punch || pb > 0) {  // plain NO_HOLE zeroing needs no probe
      auto stat_ops = ops(ObjectOp{.code = OpCode::kStat});
      auto r = co_await execute(name, std::move(stat_ops));
      if (!is_not_found(r)) {
        if (Status st = op_status(r); !st.ok()) co_return st;
        head = HeadState{true, r->results[0].size};
      }
    }
    plan = plan_zero(head, pb, has_snaps, offset, length, whole, punch);
    if (plan.kind != ZeroKind::kCopyUp) break;
    if (round == 1) co_return Status::IoError("copy-up of " + name + " did not take effect");
    if (Status st = co_await copy_up(objno, 0, 0); !st.ok()) co_return st;
  }
  if (plan.kind == ZeroKind::kNothing) co_return Status::Ok();
  if (Status st = co_await prepare_object(objno); !st.ok()) co_return st;
  std::vector<ObjectOp> zero;
  switch (plan.kind) {
    case ZeroKind::kRemove:
      zero.push_back(ObjectOp{.code = OpCode::kRemove});
      break;
    case ZeroKind::kWhiteout:
      zero.push_back(ObjectOp{.code = OpCode::kTruncate, .offset = 0});
      break;
    case ZeroKind::kTruncate:
      zero.push_back(ObjectOp{.code = OpCode::kTruncate, .offset = plan.offset});
      break;
    default:
      zero.push_back(ObjectOp{.code = OpCode::kWrite, .offset = plan.offset,
                              .data = std::string(plan.length, '\0')});
  }
  Status st = op_status(co_await execute(name, std::move(zero)));
  if (plan.kind == ZeroKind::kRemove && st.is(Code::kNotFound)) st = Status::Ok();
  if (st.ok() && parent_ && plan.kind != ZeroKind::kRemove) child_exists_.insert(objno);
  co_return st;
}

awaitable<Status> Image::write_zeroes(uint64_t offset, uint64_t length, bool punch_holes) {
  if (Status st = co_await check_writable(); !st.ok()) co_return st;
  if (offset > size_ || length > size_ - offset) {
    co_return Status::NoSpace("zeroing past the end of the image");
  }
  WriteGuard guard(this);
  auto exts = map_extent(header_.object_size, offset, length);
  std::vector<awaitable<Status>> tasks;
  for (const auto& x : exts) tasks.push_back(zero_object(x.objno, x.offset, x.length, punch_holes));
  auto results2 = co_await when_all_bounded(std::move(tasks), punch_holes ? kFanout : 4);
  for (auto& s : results2) {
    if (!s.ok()) co_return s;
  }
  co_return Status::Ok();
}

awaitable<Status> Image::discard(uint64_t offset, uint64_t length) {
  co_return co_await write_zeroes(offset, length, true);
}

awaitable<Status> Image::flush() {
  uint64_t mark = writes_started_;
  while (!inflight_ids_.empty() && *inflight_ids_.begin() <= mark) {
    co_await progress_->async_wait(kNoThrow);
  }
  if (fenced_) co_return Status::IoError("image lock was lost to another client");
  co_return Status::Ok();
}

// ---- header changes --------------------------------------------------------------

awaitable<Status> Image::update_header(std::function<Status(ImageHeader&)> mutate) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    ImageHeader h = header_;
    if (Status st = mutate(h); !st.ok()) co_return st;
    Status st = co_await write_header(c_, pool_, h, gen_);
    if (st.ok()) {
      header_ = std::move(h);
      gen_ = std::to_string(std::strtoull(gen_.c_str(), nullptr, 10) + 1);
      co_return Status::Ok();
    }
    if (!st.is(Code::kConflict)) co_return st;
    // Someone changed a field that needs no lock (name, protection): reload.
    auto vh = co_await read_header(c_, pool_, header_.id);
    if (!vh.ok()) co_return vh.status();
    header_ = std::move(vh->header);
    gen_ = std::move(vh->gen);
  }
  co_return Status::Conflict("image header is contended");
}

awaitable<Status> Image::resize(uint64_t new_size) {
  if (Status st = co_await check_writable(); !st.ok()) co_return st;
  if (Status st = validate_image_size(new_size); !st.ok()) co_return st;
  if (new_size < size_) {
    if (Status st = co_await discard(new_size, size_ - new_size); !st.ok()) co_return st;
  }
  std::function<Status(ImageHeader&)> mutate0 = [new_size](ImageHeader& h) {
    h.size = new_size;
    // Growing back must not bring the parent's bytes back.
    if (h.parent) h.parent->overlap = std::min(h.parent->overlap, new_size);
    return Status::Ok();
  };
  Status st = co_await update_header(std::move(mutate0));
  if (st.ok()) size_ = new_size;
  co_return st;
}

awaitable<Status> Image::snap_create(std::string name) {
  if (Status st = co_await check_writable(); !st.ok()) co_return st;
  if (Status st = validate_snap_name(name); !st.ok()) co_return st;
  if (Status st = co_await flush(); !st.ok()) co_return st;
  uint64_t size = size_;
  uint64_t now = net::wall_ns();
  std::function<Status(ImageHeader&)> mutate1 = [name, size, now](ImageHeader& h) {
    if (h.find_snap(name)) return Status::AlreadyExists("snapshot '" + name + "' already exists");
    h.snap_seq++;
    h.snaps.push_back(SnapInfo{h.snap_seq, name, size, now, false});
    return Status::Ok();
  };
  Status st = co_await update_header(std::move(mutate1));
  if (st.ok()) prepared_.clear();
  co_return st;
}

awaitable<Status> Image::snap_remove(std::string name) {
  if (Status st = co_await check_writable(); !st.ok()) co_return st;
  const SnapInfo* s = header_.find_snap(name);
  if (!s) co_return Status::NotFound("snapshot '" + name + "' does not exist");
  uint64_t id = s->id;
  uint64_t objects = object_count(header_.object_size, std::max(s->size, size_));
  bool older_live = header_.snaps.front().id < id;
  // Clones made for this snapshot still serve older live ones: keep them
  // (retired). Without older snapshots they, and older retired ones, are garbage.
  std::vector<uint64_t> garbage;
  if (!older_live) {
    garbage.push_back(id);
    for (uint64_t r : header_.retired_snaps) {
      if (r < id) garbage.push_back(r);
    }
  }
  std::string label = spec_.pool + "/" + spec_.image + "@" + name;
  std::function<Status(ImageHeader&)> mutate2 = [id, older_live, label](ImageHeader& h) {
    // Checked on the header the compare-and-set is based on, not a cached one.
    const SnapInfo* cur = h.find_snap(id);
    if (!cur) return Status::NotFound("snapshot '" + label + "' does not exist");
    if (size_t n = h.children_of(id).size(); n > 0) {
      return Status::InvalidArgument(fmt::format(
          "snapshot '{}' has {} clone(s) (cairnctl rbd children {}); flatten or remove them first",
          label, n, label));
    }
    if (cur->is_protected) {
      return Status::InvalidArgument("snapshot '" + label + "' is protected; unprotect it first");
    }
    std::erase_if(h.snaps, [id](const SnapInfo& x) { return x.id == id; });
    if (older_live) {
      h.retired_snaps.push_back(id);
    } else {
      std::erase_if(h.retired_snaps, [id](uint64_t r) { return r < id; });
    }
    return Status::Ok();
  };
  Status st = co_await update_header(std::move(mutate2));
  if (!st.ok()) co_return st;
  struct Rm {
    static awaitable<Status> run(client::Client& c, PoolId pool, std::string name) {
      auto ops11 = ops(ObjectOp{.code = OpCode::kRemove});
      Status s = op_status(co_await c.async_execute(pool, std::move(name), std::move(ops11)));
      co_return s.is(Code::kNotFound) ? Status::Ok() : s;
    }
  };
  std::vector<awaitable<Status>> tasks;
  for (uint64_t g : garbage) {
    for (uint64_t o = 0; o < objects; ++o) tasks.push_back(Rm::run(c_, pool_, clone_object(header_.id, o, g)));
  }
  auto results3 = co_await when_all_bounded(std::move(tasks), kFanout);
  for (auto& r : results3) {
    if (!r.ok()) co_return r;
  }
  co_return Status::Ok();
}

awaitable<Status> Image::snap_protect(std::string name, bool protect) {
  if (!header_.find_snap(name)) co_return Status::NotFound("snapshot '" + name + "' does not exist");
  std::function<Status(ImageHeader&)> mutate3 = [name, protect](ImageHeader& h) {
    for (auto& s : h.snaps) {
      if (s.name == name) s.is_protected = protect;
    }
    return Status::Ok();
  };
  co_return co_await update_header(std::move(mutate3));
}

awaitable<Status> Image::rollback_object(uint64_t o, uint64_t snap_id, uint64_t snap_size) {
  uint64_t osz = header_.object_size;
  uint64_t len = o * osz < snap_size ? std::min(osz, snap_size - o * osz) : 0;
  std::string buf(len, '\0');
  bool allocated = false;
  if (len > 0) {
    Status st = co_await read_object(o, 0, len, snap_id, buf.data(), &allocated);
    if (!st.ok()) co_return st;
  }
  std::string head = data_object(header_.id, o);
  auto stat_ops = ops(ObjectOp{.code = OpCode::kStat});
  auto r = co_await execute(head, std::move(stat_ops));
  bool head_exists = !is_not_found(r);
  if (head_exists && !op_status(r).ok()) co_return op_status(r);
  if (!allocated && !head_exists) co_return Status::Ok();
  if (Status st = co_await prepare_object(o); !st.ok()) co_return st;
  Status st;
  if (allocated) {
    auto w = ops(ObjectOp{.code = OpCode::kWriteFull, .data = std::move(buf)});
    st = op_status(co_await execute(head, std::move(w)));
  } else {
    // A whiteout, not a removal: heads stay while snapshots exist, and a
    // clone's parent must not show through.
    auto wo = ops(ObjectOp{.code = OpCode::kTruncate, .offset = 0});
    st = op_status(co_await execute(head, std::move(wo)));
  }
  if (st.ok() && parent_) child_exists_.insert(o);
  co_return st;
}

awaitable<Status> Image::snap_rollback(std::string name) {
  if (Status st = co_await check_writable(); !st.ok()) co_return st;
  const SnapInfo* s = header_.find_snap(name);
  if (!s) co_return Status::NotFound("snapshot '" + name + "' does not exist");
  uint64_t snap_id = s->id;
  uint64_t snap_size = s->size;
  if (Status st = co_await flush(); !st.ok()) co_return st;
  WriteGuard guard(this);
  uint64_t objects = object_count(header_.object_size, std::max(snap_size, size_));
  std::vector<awaitable<Status>> tasks;
  for (uint64_t o = 0; o < objects; ++o) tasks.push_back(rollback_object(o, snap_id, snap_size));
  auto results4 = co_await when_all_bounded(std::move(tasks), 8);
  for (auto& r : results4) {
    if (!r.ok()) co_return r;
  }
  std::function<Status(ImageHeader&)> mutate4 = [snap_size](ImageHeader& h) {
    h.size = snap_size;
    return Status::Ok();
  };
  Status st = co_await update_header(std::move(mutate4));
  if (st.ok()) size_ = snap_size;
  co_return st;
}

awaitable<Status> Image::remove_all() {
  if (Status st = co_await check_writable(); !st.ok()) co_return st;
  if (!header_.snaps.empty()) {
    co_return Status::InvalidArgument(fmt::format("image {} has {} snapshot(s); remove them first",
                                                  spec_.to_string(), header_.snaps.size()));
  }
  struct Rm {
    static awaitable<Status> run(client::Client& c, PoolId pool, std::string name) {
      auto ops15 = ops(ObjectOp{.code = OpCode::kRemove});
      Status s = op_status(co_await c.async_execute(pool, std::move(name), std::move(ops15)));
      co_return s.is(Code::kNotFound) ? Status::Ok() : s;
    }
  };
  uint64_t objects = object_count(header_.object_size, size_);
  std::vector<awaitable<Status>> tasks;
  for (uint64_t o = 0; o < objects; ++o) {
    tasks.push_back(Rm::run(c_, pool_, data_object(header_.id, o)));
    for (uint64_t r : header_.retired_snaps) tasks.push_back(Rm::run(c_, pool_, clone_object(header_.id, o, r)));
  }
  auto results5 = co_await when_all_bounded(std::move(tasks), kFanout);
  for (auto& r : results5) {
    if (!r.ok()) co_return r;
  }
  Status st = co_await Rm::run(c_, pool_, header_object(header_.id));
  if (!st.ok()) co_return st;
  lock_value_.clear();  // went with the header
  co_return co_await remove_image_directory_entry(c_, pool_, spec_.image);
}

awaitable<Status> Image::flatten() {
  if (Status st = co_await check_writable(); !st.ok()) co_return st;
  if (!header_.parent || !parent_) {
    co_return Status::InvalidArgument(spec_.to_string() + " is not a clone");
  }
  WriteGuard guard(this);
  uint64_t objects = object_count(header_.object_size, std::min(header_.parent->overlap, size_));
  std::vector<awaitable<Status>> tasks;
  for (uint64_t o = 0; o < objects; ++o) tasks.push_back(copy_up(o, 0, 0));
  auto results = co_await when_all_bounded(std::move(tasks), 8);
  for (auto& r : results) {
    if (!r.ok()) co_return r;
  }
  std::function<Status(ImageHeader&)> detach = [](ImageHeader& h) {
    h.parent.reset();
    return Status::Ok();
  };
  if (Status st = co_await update_header(std::move(detach)); !st.ok()) co_return st;
  parent_.reset();
  child_exists_.clear();
  co_return Status::Ok();
}

awaitable<Status> Image::close() {
  auto self = shared_from_this();  // the caller may drop its reference meanwhile
  if (closing_) co_return Status::Ok();
  Status st = co_await flush();
  closing_ = true;
  renew_timer_->cancel();
  if (!lock_value_.empty()) {
    Status rel = co_await release_lock(c_, pool_, header_.id, lock_value_);
    lock_value_.clear();
    if (st.ok()) st = rel;
  }
  co_return st;
}

}  // namespace cairn::rbd
