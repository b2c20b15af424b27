#include "rbd/admin.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "common/net/daemon.h"
#include "rbd/image.h"

namespace cairn::rbd {

namespace {

constexpr const char* kGenXattr = "gen";
constexpr const char* kHeaderKey = "header";
constexpr int kCasRetries = 50;

std::string next_gen(const std::string& gen) {
  uint64_t g = gen.empty() ? 0 : std::strtoull(gen.c_str(), nullptr, 10);
  return std::to_string(g + 1);
}

std::string random_hex(int bytes) {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < bytes; ++i) out += fmt::format("{:02x}", rd() & 0xff);
  return out;
}

uint64_t wall_ms() { return net::wall_ns() / 1000000; }

awaitable<Result<OsdOpReply>> exec(client::Client& c, PoolId pool, std::string name,
                                   std::vector<ObjectOp> ops) {
  co_return co_await c.async_execute(pool, std::move(name), std::move(ops));
}

// The directory's generation and (optionally) the entries for keys.
struct DirState {
  std::string gen;
  std::map<std::string, std::string> kvs;
};
awaitable<Result<DirState>> read_directory(client::Client& c, PoolId pool,
                                           std::vector<std::string> keys) {
  auto ops0 = ops(ObjectOp{.code = OpCode::kGetXattrs},
                          ObjectOp{.code = OpCode::kOmapGet, .keys = std::move(keys)});
  auto r = co_await exec(c, pool, kDirectoryObject,
                         std::move(ops0));
  if (!r.ok()) co_return r.status();
  DirState d;
  if (r->results.size() == 2 && r->results[0].status.is(Code::kNotFound)) co_return d;
  Status st = op_status(r);
  if (!st.ok()) co_return st;
  auto it = r->results[0].kvs.find(kGenXattr);
  if (it != r->results[0].kvs.end()) d.gen = it->second;
  d.kvs = std::move(r->results[1].kvs);
  co_return d;
}

// Applies sets/removals to the directory if it is still at gen.
awaitable<Status> update_directory(client::Client& c, PoolId pool, std::string gen,
                                   std::map<std::string, std::string> set,
                                   std::vector<std::string> rm) {
  std::vector<ObjectOp> ops;
  ops.push_back(ObjectOp{.code = OpCode::kCmpXattr, .key = kGenXattr, .value = gen});
  ops.push_back(ObjectOp{.code = OpCode::kSetXattr, .key = kGenXattr, .value = next_gen(gen)});
  if (!rm.empty()) ops.push_back(ObjectOp{.code = OpCode::kOmapRm, .keys = std::move(rm)});
  if (!set.empty()) ops.push_back(ObjectOp{.code = OpCode::kOmapSet, .kvs = std::move(set)});
  co_return op_status(co_await exec(c, pool, kDirectoryObject, std::move(ops)));
}

}  // namespace

std::string make_lock_owner(const std::string& name) {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  return fmt::format("{}@{}/{}", name, host, random_hex(4));
}

awaitable<Result<std::string>> lookup_image_id(client::Client& c, PoolId pool, std::string name) {
  std::vector<std::string> keys{"name_" + name};
  auto d = co_await read_directory(c, pool, std::move(keys));
  if (!d.ok()) co_return d.status();
  auto it = d->kvs.find("name_" + name);
  if (it == d->kvs.end()) co_return Status::NotFound("image '" + name + "' does not exist");
  co_return it->second;
}

awaitable<Result<VersionedHeader>> read_header(client::Client& c, PoolId pool,
                                               std::string image_id) {
  std::vector<std::string> keys{kHeaderKey};
  auto ops1 = ops(ObjectOp{.code = OpCode::kGetXattrs},
                             ObjectOp{.code = OpCode::kOmapGet, .keys = std::move(keys)});
  auto r = co_await exec(c, pool, header_object(image_id),
                         std::move(ops1));
  Status st = op_status(r);
  if (st.is(Code::kNotFound)) co_return Status::NotFound("image header " + image_id + " is missing");
  if (!st.ok()) co_return st;
  VersionedHeader vh;
  auto& x = r->results[0].kvs;
  if (auto it = x.find(kGenXattr); it != x.end()) vh.gen = it->second;
  if (auto it = x.find(kLockXattr); it != x.end()) vh.lock = it->second;
  auto it = r->results[1].kvs.find(kHeaderKey);
  if (it == r->results[1].kvs.end()) co_return Status::Corruption("image header has no header key");
  auto h = decode_header(it->second);
  if (!h.ok()) co_return h.status();
  vh.header = std::move(*h);
  co_return vh;
}

awaitable<Status> write_header(client::Client& c, PoolId pool, ImageHeader h, std::string old_gen) {
  std::string name = header_object(h.id);
  std::map<std::string, std::string> kvs{{kHeaderKey, encode_header(h)}};
  auto ops2 = ops(ObjectOp{.code = OpCode::kCmpXattr, .key = kGenXattr, .value = old_gen},
       ObjectOp{.code = OpCode::kSetXattr, .key = kGenXattr, .value = next_gen(old_gen)},
       ObjectOp{.code = OpCode::kOmapSet, .kvs = std::move(kvs)});
  co_return op_status(co_await exec(
      c, pool, std::move(name),
      std::move(ops2)));
}

awaitable<Status> acquire_lock(client::Client& c, PoolId pool, std::string image_id,
                               LockOptions opts, std::string* held) {
  for (int attempt = 0; attempt < kCasRetries; ++attempt) {
    auto ops3 = ops(ObjectOp{.code = OpCode::kGetXattrs});
    auto r = co_await exec(c, pool, header_object(image_id),
                           std::move(ops3));
    Status st = op_status(r);
    if (st.is(Code::kNotFound)) co_return Status::NotFound("image header " + image_id + " is missing");
    if (!st.ok()) co_return st;
    std::string old;
    if (auto it = r->results[0].kvs.find(kLockXattr); it != r->results[0].kvs.end()) old = it->second;
    auto cur = decode_lock(old);
    uint64_t now = wall_ms();
    if (decide_lock(cur, opts.owner, now) == LockDecision::kBusy) {
      co_return Status::Conflict(fmt::format("image is locked by {} (lease ends in {} ms)",
                                             cur->owner, cur->expires_ms - now));
    }
    std::string value = encode_lock(LockHolder{opts.owner, now + opts.lease_ms});
    auto ops4 = ops(ObjectOp{.code = OpCode::kCmpXattr, .key = kLockXattr, .value = old},
         ObjectOp{.code = OpCode::kSetXattr, .key = kLockXattr, .value = value});
    st = op_status(co_await exec(
        c, pool, header_object(image_id),
        std::move(ops4)));
    if (st.ok()) {
      *held = value;
      co_return Status::Ok();
    }
    if (!st.is(Code::kConflict)) co_return st;
  }
  co_return Status::Conflict("image lock is contended");
}

awaitable<Status> renew_lock(client::Client& c, PoolId pool, std::string image_id,
                             LockOptions opts, std::string* held) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::string value = encode_lock(LockHolder{opts.owner, wall_ms() + opts.lease_ms});
    auto ops5 = ops(ObjectOp{.code = OpCode::kCmpXattr, .key = kLockXattr, .value = *held},
                    ObjectOp{.code = OpCode::kSetXattr, .key = kLockXattr, .value = value});
    Status st = op_status(co_await exec(c, pool, header_object(image_id), std::move(ops5)));
    if (st.ok()) *held = value;
    if (!st.is(Code::kConflict)) co_return st;
    // An earlier renewal that timed out on our side may still have been
    // applied: the lock then holds our own newer value. Owners are unique
    // per process, so a value naming us was written by us: adopt it.
    auto ops6 = ops(ObjectOp{.code = OpCode::kGetXattrs});
    auto r = co_await exec(c, pool, header_object(image_id), std::move(ops6));
    if (Status rs = op_status(r); !rs.ok()) co_return rs;
    std::string cur;
    if (auto it = r->results[0].kvs.find(kLockXattr); it != r->results[0].kvs.end()) cur = it->second;
    auto holder = decode_lock(cur);
    if (!holder || holder->owner != opts.owner) co_return st;
    *held = cur;
  }
  co_return Status::Conflict("image lock is contended");
}

awaitable<Status> release_lock(client::Client& c, PoolId pool, std::string image_id,
                               std::string held) {
  auto ops6 = ops(ObjectOp{.code = OpCode::kCmpXattr, .key = kLockXattr, .value = held},
       ObjectOp{.code = OpCode::kRmXattr, .key = kLockXattr});
  Status st = op_status(co_await exec(
      c, pool, header_object(image_id),
      std::move(ops6)));
  // Someone broke it already, or the image is gone: nothing left to release.
  if (st.is(Code::kConflict) || st.is(Code::kNotFound)) co_return Status::Ok();
  co_return st;
}

awaitable<Result<ImageHeader>> create_image(client::Client& c, std::string pool_name,
                                            std::string name, CreateOptions opts) {
  if (Status s = validate_image_name(name); !s.ok()) co_return s;
  if (Status s = validate_image_size(opts.size); !s.ok()) co_return s;
  if (Status s = validate_object_size(opts.object_size); !s.ok()) co_return s;
  if (opts.features & ~kKnownFeatures) co_return Status::InvalidArgument("unknown image features");
  auto pool = c.pool_id(pool_name);
  if (!pool.ok()) co_return pool.status();
  ImageHeader h;
  h.id = opts.id.empty() ? random_hex(6) : opts.id;
  h.parent = opts.parent;
  h.name = name;
  h.size = opts.size;
  h.object_size = opts.object_size;
  h.features = opts.features;
  h.created_ns = net::wall_ns();
  // Claim the name first: of two concurrent creators, exactly one wins.
  Status claimed = Status::Conflict("image directory is contended");
  for (int attempt = 0; attempt < kCasRetries; ++attempt) {
    std::vector<std::string> keys{"name_" + name};
    auto d = co_await read_directory(c, *pool, std::move(keys));
    if (!d.ok()) co_return d.status();
    if (d->kvs.count("name_" + name)) {
      co_return Status::AlreadyExists(fmt::format("image '{}/{}' already exists", pool_name, name));
    }
    std::map<std::string, std::string> set{{"name_" + name, h.id}, {"id_" + h.id, name}};
    claimed = co_await update_directory(c, *pool, d->gen, std::move(set), std::vector<std::string>());
    if (!claimed.is(Code::kConflict)) break;
  }
  if (!claimed.ok()) co_return claimed;
  std::map<std::string, std::string> hkvs{{kHeaderKey, encode_header(h)}};
  auto ops7 = ops(ObjectOp{.code = OpCode::kCreate},
       ObjectOp{.code = OpCode::kSetXattr, .key = kGenXattr, .value = "1"},
       ObjectOp{.code = OpCode::kOmapSet, .kvs = std::move(hkvs)});
  Status st = op_status(co_await exec(
      c, *pool, header_object(h.id),
      std::move(ops7)));
  if (!st.ok()) {
    for (int attempt = 0; attempt < kCasRetries; ++attempt) {
      auto d = co_await read_directory(c, *pool, std::vector<std::string>());
      if (!d.ok()) break;
      std::vector<std::string> rm{"name_" + name, "id_" + h.id};
      Status u = co_await update_directory(c, *pool, d->gen, std::map<std::string, std::string>(),
                                           std::move(rm));
      if (!u.is(Code::kConflict)) break;
    }
    co_return st;
  }
  co_return h;
}

awaitable<Result<std::vector<std::string>>> list_images(client::Client& c, std::string pool_name) {
  auto pool = c.pool_id(pool_name);
  if (!pool.ok()) co_return pool.status();
  std::vector<std::string> names;
  std::string after;
  for (;;) {
    auto ops8 = ops(ObjectOp{.code = OpCode::kOmapList, .length = 1000, .key = after,
                                     .value = "name_"});
    auto r = co_await exec(c, *pool, kDirectoryObject,
                           std::move(ops8));
    Status st = op_status(r);
    if (st.is(Code::kNotFound)) break;
    if (!st.ok()) co_return st;
    for (const auto& [k, v] : r->results[0].kvs) {
      if (k.rfind("name_", 0) == 0) names.push_back(k.substr(5));
      after = k;
    }
    if (!r->results[0].more || r->results[0].kvs.empty()) break;
  }
  co_return names;
}

awaitable<Result<VersionedHeader>> image_info(client::Client& c, std::string pool_name,
                                              std::string name) {
  auto pool = c.pool_id(pool_name);
  if (!pool.ok()) co_return pool.status();
  auto id = co_await lookup_image_id(c, *pool, name);
  if (!id.ok()) co_return id.status();
  co_return co_await read_header(c, *pool, *id);
}

// ---- Admin -------------------------------------------------------------------

namespace {
awaitable<Status> rename_impl(client::Client& c, PoolId pool, std::string from, std::string to) {
  if (Status s = validate_image_name(to); !s.ok()) co_return s;
  std::string id;
  Status st = Status::Conflict("image directory is contended");
  for (int attempt = 0; attempt < kCasRetries; ++attempt) {
    std::vector<std::string> keys{"name_" + from, "name_" + to};
    auto d = co_await read_directory(c, pool, std::move(keys));
    if (!d.ok()) co_return d.status();
    auto it = d->kvs.find("name_" + from);
    if (it == d->kvs.end()) co_return Status::NotFound("image '" + from + "' does not exist");
    if (d->kvs.count("name_" + to)) co_return Status::AlreadyExists("image '" + to + "' already exists");
    id = it->second;
    std::map<std::string, std::string> set{{"name_" + to, id}, {"id_" + id, to}};
    std::vector<std::string> rm{"name_" + from};
    st = co_await update_directory(c, pool, d->gen, std::move(set), std::move(rm));
    if (!st.is(Code::kConflict)) break;
  }
  if (!st.ok()) co_return st;
  // The name in the header is informational; the directory is the truth.
  for (int attempt = 0; attempt < kCasRetries; ++attempt) {
    auto vh = co_await read_header(c, pool, id);
    if (!vh.ok()) co_return vh.status();
    vh->header.name = to;
    st = co_await write_header(c, pool, vh->header, vh->gen);
    if (!st.is(Code::kConflict)) break;
  }
  co_return st;
}

// The child's "pool/name" if ref is a live clone of parent (or one being
// created: named in the directory, header not written yet); "" if the
// registration is stale.
awaitable<Result<std::string>> child_state(client::Client& c, ChildRef ref, ParentSpec parent) {
  auto pool = c.pool_id(ref.pool);
  if (!pool.ok()) co_return std::string();  // the pool is gone
  auto vh = co_await read_header(c, *pool, ref.image_id);
  if (vh.ok()) {
    const auto& p = vh->header.parent;
    bool mine = p && p->pool == parent.pool && p->image_id == parent.image_id &&
                p->snap_id == parent.snap_id;
    co_return mine ? ref.pool + "/" + vh->header.name : std::string();
  }
  if (!vh.status().is(Code::kNotFound)) co_return vh.status();
  std::vector<std::string> keys{"id_" + ref.image_id};
  auto d = co_await read_directory(c, *pool, std::move(keys));
  if (!d.ok()) co_return d.status();
  auto it = d->kvs.find("id_" + ref.image_id);
  co_return it == d->kvs.end() ? std::string() : ref.pool + "/" + it->second;
}

awaitable<Status> clone_impl(client::Client& c, ImageSpec parent, std::string child_pool,
                             std::string child_name) {
  if (Status s = validate_image_name(child_name); !s.ok()) co_return s;
  auto ppool = c.pool_id(parent.pool);
  if (!ppool.ok()) co_return ppool.status();
  auto cpool = c.pool_id(child_pool);
  if (!cpool.ok()) co_return cpool.status();
  auto pid = co_await lookup_image_id(c, *ppool, parent.image);
  if (!pid.ok()) co_return pid.status();
  ChildRef ref{child_pool, random_hex(6), 0};
  ImageHeader ph;
  // 1. Register the child while the snapshot is protected (compare-and-set
  //    on the parent header's gen, the same one unprotect changes).
  Status st = Status::Conflict("parent header is contended");
  for (int attempt = 0; attempt < kCasRetries; ++attempt) {
    auto vh = co_await read_header(c, *ppool, *pid);
    if (!vh.ok()) co_return vh.status();
    const SnapInfo* s = vh->header.find_snap(parent.snap);
    if (!s) co_return Status::NotFound("snapshot '" + parent.to_string() + "' does not exist");
    if (!s->is_protected) {
      co_return Status::InvalidArgument(fmt::format(
          "snapshot '{}' is not protected; protect it first (cairnctl rbd snap protect {})",
          parent.to_string(), parent.to_string()));
    }
    if (!(vh->header.features & kFeatureLayering)) {
      co_return Status::NotSupported(parent.image + " does not have the layering feature");
    }
    ref.snap_id = s->id;
    vh->header.children.push_back(ref);
    st = co_await write_header(c, *ppool, vh->header, vh->gen);
    if (st.ok()) {
      ph = std::move(vh->header);
      break;
    }
    if (!st.is(Code::kConflict)) co_return st;
  }
  if (!st.ok()) co_return st;
  ParentSpec pspec{parent.pool, ph.id, ref.snap_id, ph.find_snap(ref.snap_id)->size};
  // 2. Create the child pointing at the parent snapshot.
  CreateOptions o;
  o.size = pspec.overlap;
  o.object_size = ph.object_size;
  o.features = ph.features;
  o.id = ref.image_id;
  o.parent = pspec;
  auto created = co_await create_image(c, child_pool, child_name, o);
  if (!created.ok()) {
    (void)co_await unregister_child(c, pspec, ref);
    co_return created.status();
  }
  // 3. Confirm: an unprotect that ran between 1 and 2 may have dropped the
  //    registration as stale; this compare-and-set orders us after it.
  for (int attempt = 0; attempt < kCasRetries; ++attempt) {
    auto vh = co_await read_header(c, *ppool, ph.id);
    if (!vh.ok()) co_return vh.status();
    const auto& kids = vh->header.children;
    if (std::find(kids.begin(), kids.end(), ref) == kids.end()) {
      auto rm = ops(ObjectOp{.code = OpCode::kRemove});
      (void)co_await exec(c, *cpool, header_object(ref.image_id), std::move(rm));
      (void)co_await remove_image_directory_entry(c, *cpool, child_name);
      co_return Status::Conflict("snapshot '" + parent.to_string() + "' was unprotected meanwhile");
    }
    st = co_await write_header(c, *ppool, vh->header, vh->gen);
    if (!st.is(Code::kConflict)) break;
  }
  co_return st;
}

awaitable<Status> protect_impl(client::Client& c, PoolId pool, std::string image,
                               std::string snap, bool protect) {
  auto id = co_await lookup_image_id(c, pool, image);
  if (!id.ok()) co_return id.status();
  Status st = Status::Conflict("image header is contended");
  for (int attempt = 0; attempt < kCasRetries; ++attempt) {
    auto vh = co_await read_header(c, pool, *id);
    if (!vh.ok()) co_return vh.status();
    const SnapInfo* si = vh->header.find_snap(snap);
    if (!si) co_return Status::NotFound("snapshot '" + snap + "' does not exist");
    uint64_t snap_id = si->id;
    if (!protect) {
      // Refuse while live clones depend on it; drop registrations of clones
      // that never got created or are gone (a crash mid-clone or mid-rm).
      ParentSpec me{c.map().pools.at(pool).name, vh->header.id, snap_id, 0};
      std::vector<std::string> live;
      std::vector<ChildRef> stale;
      for (const auto& ref : vh->header.children_of(snap_id)) {
        auto state = co_await child_state(c, ref, me);
        if (!state.ok()) co_return state.status();
        if (state->empty()) {
          stale.push_back(ref);
        } else {
          live.push_back(*state);
        }
      }
      if (!live.empty()) {
        co_return Status::InvalidArgument(fmt::format(
            "snapshot '{}@{}' has {} clone(s) ({}); flatten or remove them first", image, snap,
            live.size(), fmt::join(live, ", ")));
      }
      std::erase_if(vh->header.children, [&stale](const ChildRef& r) {
        return std::find(stale.begin(), stale.end(), r) != stale.end();
      });
    }
    for (auto& s : vh->header.snaps) {
      if (s.id == snap_id) s.is_protected = protect;
    }
    st = co_await write_header(c, pool, vh->header, vh->gen);
    if (!st.is(Code::kConflict)) break;
  }
  co_return st;
}

awaitable<Status> break_impl(client::Client& c, PoolId pool, std::string image) {
  auto id = co_await lookup_image_id(c, pool, image);
  if (!id.ok()) co_return id.status();
  auto ops9 = ops(ObjectOp{.code = OpCode::kRmXattr, .key = kLockXattr});
  co_return op_status(co_await exec(c, pool, header_object(*id),
                                    std::move(ops9)));
}

awaitable<Status> remove_directory_entry(client::Client& c, PoolId pool, std::string name) {
  Status st = Status::Conflict("image directory is contended");
  for (int attempt = 0; attempt < kCasRetries; ++attempt) {
    std::vector<std::string> keys{"name_" + name};
    auto d = co_await read_directory(c, pool, std::move(keys));
    if (!d.ok()) co_return d.status();
    auto it = d->kvs.find("name_" + name);
    if (it == d->kvs.end()) co_return Status::Ok();
    std::vector<std::string> rm{"name_" + name, "id_" + it->second};
    st = co_await update_directory(c, pool, d->gen, std::map<std::string, std::string>(),
                                   std::move(rm));
    if (!st.is(Code::kConflict)) break;
  }
  co_return st;
}

}  // namespace

awaitable<Status> unregister_child(client::Client& c, ParentSpec parent, ChildRef child) {
  auto pool = c.pool_id(parent.pool);
  if (!pool.ok()) co_return pool.status();
  for (int attempt = 0; attempt < kCasRetries; ++attempt) {
    auto vh = co_await read_header(c, *pool, parent.image_id);
    if (!vh.ok()) co_return vh.status();
    auto& kids = vh->header.children;
    auto it = std::find(kids.begin(), kids.end(), child);
    if (it == kids.end()) co_return Status::Ok();
    kids.erase(it);
    Status st = co_await write_header(c, *pool, vh->header, vh->gen);
    if (!st.is(Code::kConflict)) co_return st;
  }
  co_return Status::Conflict("parent header is contended");
}

namespace {

// Opens pool/name read-write under lock, runs op, closes.
template <typename Op>
Status with_image(client::Client& c, const LockOptions& lock, const std::string& pool,
                  const std::string& name, Op op) {
  ImageSpec spec{pool, name, ""};
  auto img = block_on(c, Image::open(c, spec, OpenOptions{OpenMode::kReadWrite, lock}));
  if (!img.ok()) return img.status();
  Status st = op(**img);
  Status cl = block_on(c, (*img)->close());
  return st.ok() ? cl : st;
}
}  // namespace

Admin::Admin(client::Client& c, std::string lock_name) : c_(c) {
  lock_.owner = make_lock_owner(lock_name);
}

Result<ImageHeader> Admin::create(const std::string& pool, const std::string& name,
                                  CreateOptions opts) {
  return block_on(c_, create_image(c_, pool, name, opts));
}

Result<std::vector<std::string>> Admin::list(const std::string& pool) {
  return block_on(c_, list_images(c_, pool));
}

Result<VersionedHeader> Admin::info(const std::string& pool, const std::string& name) {
  return block_on(c_, image_info(c_, pool, name));
}

Result<uint64_t> Admin::used_bytes(const std::string& pool, const ImageHeader& h) {
  auto names = c_.list(pool);
  if (!names.ok()) return names.status();
  std::string prefix = data_prefix(h.id);
  uint64_t total = 0;
  for (const auto& n : *names) {
    if (n.rfind(prefix, 0) != 0) continue;
    auto st = c_.stat(pool, n);
    if (st.ok()) total += st->size;
  }
  return total;
}

namespace {
// Growing changes no data, so it needs no lock: a gateway writing the image
// keeps going and sees the new size on its next connection (the attach
// helper reconnects for that). Conflict-safe through the header's gen.
awaitable<Status> grow_impl(client::Client& c, PoolId pool, std::string name, uint64_t new_size,
                            bool* grown) {
  *grown = false;
  if (Status s = validate_image_size(new_size); !s.ok()) co_return s;
  auto id = co_await lookup_image_id(c, pool, name);
  if (!id.ok()) co_return id.status();
  for (int attempt = 0; attempt < kCasRetries; ++attempt) {
    auto vh = co_await read_header(c, pool, *id);
    if (!vh.ok()) co_return vh.status();
    if (new_size < vh->header.size) co_return Status::Ok();  // a shrink: not ours
    vh->header.size = new_size;
    Status st = co_await write_header(c, pool, vh->header, vh->gen);
    if (st.ok()) *grown = true;
    if (!st.is(Code::kConflict)) co_return st;
  }
  co_return Status::Conflict("image header is contended");
}
}  // namespace

Status Admin::resize(const std::string& pool, const std::string& name, uint64_t new_size,
                     bool allow_shrink) {
  auto pid = c_.pool_id(pool);
  if (!pid.ok()) return pid.status();
  bool grown = false;
  Status g = block_on(c_, grow_impl(c_, *pid, name, new_size, &grown));
  if (!g.ok() || grown) return g;
  return with_image(c_, lock_, pool, name, [&](Image& img) -> Status {
    if (new_size < img.size() && !allow_shrink) {
      return Status::InvalidArgument(fmt::format(
          "shrinking {} from {} to {} bytes discards data; pass --allow-shrink", name, img.size(),
          new_size));
    }
    return block_on(c_, img.resize(new_size));
  });
}

Status Admin::remove(const std::string& pool, const std::string& name) {
  auto id = c_.pool_id(pool);
  if (!id.ok()) return id.status();
  std::optional<ParentSpec> parent;
  std::string image_id;
  Status st = with_image(c_, lock_, pool, name, [&](Image& img) -> Status {
    parent = img.header().parent;
    image_id = img.header().id;
    return block_on(c_, img.remove_all());
  });
  // remove_all walks the objects below the current size; heads past it
  // (whiteouts kept for snapshots of a larger size, since removed) and
  // leftovers of an interrupted rm are found by listing.
  if (st.ok()) {
    auto names = c_.list(pool);
    if (!names.ok()) return names.status();
    std::string prefix = data_prefix(image_id);
    for (const auto& n : *names) {
      if (n.rfind(prefix, 0) != 0) continue;
      Status r = c_.remove(pool, n);
      if (!r.ok() && !r.is(Code::kNotFound)) return r;
    }
  }
  // A clone leaves its parent's list last (a crash before that leaves a
  // stale entry, which unprotect recognises and drops).
  if (st.ok() && parent) {
    return block_on(c_, unregister_child(c_, *parent, ChildRef{pool, image_id, parent->snap_id}));
  }
  // A name whose header is gone (half-created image) can still be removed.
  if (st.is(Code::kNotFound)) {
    auto iid = block_on(c_, lookup_image_id(c_, *id, name));
    if (!iid.ok()) return iid.status();
    return block_on(c_, remove_directory_entry(c_, *id, name));
  }
  return st;
}

Status Admin::rename(const std::string& pool, const std::string& from, const std::string& to) {
  auto id = c_.pool_id(pool);
  if (!id.ok()) return id.status();
  return block_on(c_, rename_impl(c_, *id, from, to));
}

Status Admin::snap_create(const std::string& pool, const std::string& name,
                          const std::string& snap) {
  return with_image(c_, lock_, pool, name,
                    [&](Image& img) -> Status { return block_on(c_, img.snap_create(snap)); });
}

Status Admin::snap_remove(const std::string& pool, const std::string& name,
                          const std::string& snap) {
  return with_image(c_, lock_, pool, name,
                    [&](Image& img) -> Status { return block_on(c_, img.snap_remove(snap)); });
}

Status Admin::snap_protect(const std::string& pool, const std::string& name,
                           const std::string& snap, bool protect) {
  auto id = c_.pool_id(pool);
  if (!id.ok()) return id.status();
  return block_on(c_, protect_impl(c_, *id, name, snap, protect));
}

Status Admin::snap_rollback(const std::string& pool, const std::string& name,
                            const std::string& snap) {
  return with_image(c_, lock_, pool, name,
                    [&](Image& img) -> Status { return block_on(c_, img.snap_rollback(snap)); });
}

Status Admin::clone(const ImageSpec& parent, const std::string& child_pool,
                    const std::string& child) {
  return block_on(c_, clone_impl(c_, parent, child_pool, child));
}

Status Admin::flatten(const std::string& pool, const std::string& name) {
  std::optional<ParentSpec> parent;
  std::string image_id;
  Status st = with_image(c_, lock_, pool, name, [&](Image& img) -> Status {
    parent = img.header().parent;
    image_id = img.header().id;
    return block_on(c_, img.flatten());
  });
  if (!st.ok()) return st;
  return block_on(c_, unregister_child(c_, *parent, ChildRef{pool, image_id, parent->snap_id}));
}

Result<std::vector<ChildInfo>> Admin::children(const ImageSpec& parent) {
  auto vh = info(parent.pool, parent.image);
  if (!vh.ok()) return vh.status();
  const SnapInfo* s = vh->header.find_snap(parent.snap);
  if (!s) return Status::NotFound("snapshot '" + parent.to_string() + "' does not exist");
  ParentSpec me{parent.pool, vh->header.id, s->id, 0};
  std::vector<ChildInfo> out;
  for (const auto& ref : vh->header.children_of(s->id)) {
    auto state = block_on(c_, child_state(c_, ref, me));
    if (!state.ok()) return state.status();
    if (!state->empty()) out.push_back(ChildInfo{ref, *state});
  }
  return out;
}

Result<std::string> Admin::describe_parent(const ParentSpec& p) {
  auto pool = c_.pool_id(p.pool);
  if (!pool.ok()) return pool.status();
  auto vh = block_on(c_, read_header(c_, *pool, p.image_id));
  if (!vh.ok()) return vh.status();
  const SnapInfo* s = vh->header.find_snap(p.snap_id);
  return fmt::format("{}/{}@{}", p.pool, vh->header.name,
                     s ? s->name : "<snapshot " + std::to_string(p.snap_id) + ">");
}

Status Admin::lock_break(const std::string& pool, const std::string& name) {
  auto id = c_.pool_id(pool);
  if (!id.ok()) return id.status();
  return block_on(c_, break_impl(c_, *id, name));
}

// Used by Image::remove_all.
awaitable<Status> remove_image_directory_entry(client::Client& c, PoolId pool, std::string name) {
  return remove_directory_entry(c, pool, std::move(name));
}

}  // namespace cairn::rbd
