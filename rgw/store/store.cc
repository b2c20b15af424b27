#include "rgw/store/store.h"

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <random>

#include <fmt/format.h>

#include "common/local_cluster.h"

namespace cairn::rgw {

namespace asio = boost::asio;
using asio::use_awaitable;

std::vector<Segment> one_segment(std::string inst, uint64_t size) {
  std::vector<Segment> v;
  v.push_back(Segment{std::move(inst), size});
  return v;
}

std::string entry_omap_key(std::string_view key) { return "i" + std::string(key); }

namespace {
constexpr std::string_view kGenXattr = "s3.vgen";  // index shard generation (versioned writes)
constexpr int kVersionRetries = 100;
// Every index write of an object changes its shard's generation; writers
// that read-modify-write (versions, ACLs) apply only if it did not change.
ObjectOp bump_gen_op() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return ObjectOp{.code = OpCode::kSetXattr, .key = std::string(kGenXattr), .value = fmt::format("{:016x}", rng())};
}
}  // namespace
std::string inline_omap_key(std::string_view key) { return "d" + std::string(key); }

namespace {

// GCC 12 miscompiles braced initializer lists of non-trivial types inside
// coroutines (the backing array is freed twice), so coroutine bodies build
// their vectors and maps through these plain functions.
template <typename... T>
std::vector<ObjectOp> make_ops(T... ops) {
  std::vector<ObjectOp> v;
  (v.push_back(std::move(ops)), ...);
  return v;
}
template <typename... T>
std::vector<std::string> make_strs(T... s) {
  std::vector<std::string> v;
  (v.push_back(std::string(std::move(s))), ...);
  return v;
}
std::map<std::string, std::string> make_kvs(std::string k, std::string v) {
  std::map<std::string, std::string> m;
  m.emplace(std::move(k), std::move(v));
  return m;
}

// One cluster operation handed to the client's executor. It lives in the
// awaiting coroutine's frame until the result is back.
struct OpCall {
  client::Client* client;
  PoolId pool;
  std::string name;
  std::vector<ObjectOp> ops;
  std::optional<Result<OsdOpReply>> result;
};

// Runs on the client's executor; takes only a pointer (GCC 12 copies
// coroutine arguments of some class types bitwise, see common/net/blocking.h).
Task<void> run_op(OpCall* call) {
  call->result = co_await call->client->async_execute(call->pool, std::move(call->name),
                                                      std::move(call->ops));
}

// Runs every call concurrently on the client's executor and resumes the
// awaiting coroutine on its own executor when the last one is done. Takes
// pointers only (see run_op). REQUIRES: !calls->empty().
Task<void> exec_parallel(std::vector<OpCall>* calls) {
  std::atomic<size_t> left{calls->size()};
  std::atomic<size_t>* lp = &left;
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      [calls, lp](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        for (OpCall& call : *calls) {
          asio::co_spawn(call.client->executor(), run_op(&call), [h, lp](std::exception_ptr) {
            if (lp->fetch_sub(1) != 1) return;
            auto ex = asio::get_associated_executor(*h);
            asio::post(ex, [h]() mutable { std::move (*h)(); });
          });
        }
      },
      use_awaitable);
}

Status first_error(const OsdOpReply& r) {
  if (!r.head.status.ok()) return r.head.status;
  for (const auto& res : r.results) {
    if (!res.status.ok()) return res.status;
  }
  return Status::Ok();
}

}  // namespace

Store::Store(client::Client* c, PoolNames pools) : client_(c), pools_(std::move(pools)) {}

Status Store::init() {
  CAIRN_RETURN_IF_ERROR(ensure_pools(*client_, pools_));
  auto m = client_->pool_id(pools_.meta);
  auto d = client_->pool_id(pools_.data);
  if (!m.ok()) return m.status();
  if (!d.ok()) return d.status();
  meta_ = *m;
  data_ = *d;
  return Status::Ok();
}

Task<Result<OsdOpReply>> Store::exec(PoolId pool, std::string name, std::vector<ObjectOp> ops) {
  OpCall call{client_, pool, std::move(name), std::move(ops), std::nullopt};
  OpCall* p = &call;
  // co_spawn(..., use_awaitable) would pass the awaitable by value into a
  // coroutine (miscompiled by GCC 12); the initiation below captures only a
  // pointer, and the completion hops back to the awaiting executor by post.
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      [p](auto handler) {
        asio::co_spawn(p->client->executor(), run_op(p),
                       [h = std::move(handler)](std::exception_ptr) mutable {
                         auto ex = asio::get_associated_executor(h);
                         asio::post(ex, [h = std::move(h)]() mutable { std::move(h)(); });
                       });
      },
      use_awaitable);
  if (!call.result) co_return Status::IoError("cluster operation failed with an exception");
  co_return std::move(*call.result);
}

Task<Result<ShardPage>> Store::omap_page(PoolId pool, std::string name, std::string after,
                                         std::string prefix, uint32_t max) {
  std::vector<ObjectOp> ops1 = make_ops(ObjectOp{.code = OpCode::kOmapList, .length = max, .key = std::move(after),
                                   .value = std::move(prefix)});
  auto r = co_await exec(pool, std::move(name), std::move(ops1));
  if (!r.ok()) co_return r.status();
  Status st = first_error(*r);
  if (st.is(Code::kNotFound)) co_return ShardPage{};
  if (!st.ok()) co_return st;
  ShardPage page;
  if (!r->results.empty()) {
    for (auto& [k, v] : r->results[0].kvs) page.entries.emplace_back(k, std::move(v));
    page.more = r->results[0].more;
  }
  co_return page;
}

Task<Result<std::vector<ShardPage>>> Store::omap_pages(std::vector<PageRequest> reqs) {
  std::vector<OpCall> calls;
  calls.reserve(reqs.size());
  for (PageRequest& r : reqs) {
    std::vector<ObjectOp> ops = make_ops(ObjectOp{.code = OpCode::kOmapList, .length = r.max,
                                                  .key = std::move(r.after), .value = std::move(r.prefix)});
    calls.push_back(OpCall{client_, meta_, std::move(r.name), std::move(ops), std::nullopt});
  }
  std::vector<ShardPage> pages;
  if (calls.empty()) co_return pages;
  co_await exec_parallel(&calls);
  for (OpCall& call : calls) {
    if (!call.result) co_return Status::IoError("cluster operation failed with an exception");
    if (!call.result->ok()) co_return call.result->status();
    const OsdOpReply& reply = **call.result;
    Status st = first_error(reply);
    ShardPage page;
    if (st.is(Code::kNotFound)) {
      pages.push_back(std::move(page));
      continue;
    }
    if (!st.ok()) co_return st;
    if (!reply.results.empty()) {
      for (const auto& [k, v] : reply.results[0].kvs) page.entries.emplace_back(k, v);
      page.more = reply.results[0].more;
    }
    pages.push_back(std::move(page));
  }
  co_return pages;
}

Task<Result<std::map<std::string, std::string>>> Store::omap_get(PoolId pool, std::string name,
                                                                 std::vector<std::string> keys) {
  std::vector<ObjectOp> ops2 = make_ops(ObjectOp{.code = OpCode::kOmapGet, .keys = std::move(keys)});
  auto r = co_await exec(pool, std::move(name), std::move(ops2));
  if (!r.ok()) co_return r.status();
  Status st = first_error(*r);
  if (st.is(Code::kNotFound)) co_return std::map<std::string, std::string>{};
  if (!st.ok()) co_return st;
  if (r->results.empty()) co_return std::map<std::string, std::string>{};
  co_return std::move(r->results[0].kvs);
}

// ---- users ----

Task<Result<std::pair<std::string, std::string>>> Store::lookup_key(std::string ak) {
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = key_cache_.find(ak);
    if (it != key_cache_.end() && now - it->second.at < key_cache_ttl) {
      co_return std::pair{it->second.user, it->second.secret};
    }
  }
  std::vector<std::string> keys = make_strs(key_omap_key(ak));
  auto kv = co_await omap_get(meta_, std::string(kUsersObject), std::move(keys));
  if (!kv.ok()) co_return kv.status();
  auto it = kv->find(key_omap_key(ak));
  if (it == kv->end()) co_return Status::NotFound("no such access key");
  auto rec = decode_key_record(it->second);
  if (!rec) co_return Status::Corruption("bad key record");
  std::lock_guard lock(mu_);
  if (key_cache_.size() > 10000) key_cache_.clear();
  key_cache_[ak] = CachedKey{rec->first, rec->second, now};
  co_return *rec;
}

// ---- buckets ----

Task<Result<std::vector<BucketInfo>>> Store::list_buckets() {
  std::vector<BucketInfo> out;
  std::string after;
  for (;;) {
    auto page = co_await omap_page(meta_, std::string(kBucketsObject), after, "", 1000);
    if (!page.ok()) co_return page.status();
    for (auto& [k, v] : page->entries) {
      if (auto b = decode_bucket(v)) out.push_back(std::move(*b));
      after = k;
    }
    if (!page->more || page->entries.empty()) break;
  }
  co_return out;
}

Task<Result<BucketInfo>> Store::get_bucket(std::string name) {
  std::vector<std::string> keys = make_strs(name);
  auto kv = co_await omap_get(meta_, std::string(kBucketsObject), std::move(keys));
  if (!kv.ok()) co_return kv.status();
  auto it = kv->find(name);
  if (it == kv->end()) co_return Status::NotFound("no such bucket");
  auto b = decode_bucket(it->second);
  if (!b) co_return Status::Corruption("bucket record of " + name + " does not decode");
  co_return *b;
}

Task<Result<BucketInfo>> Store::create_bucket(BucketInfo b) {
  // The exclusive create of the marker object decides between racing creators.
  std::vector<ObjectOp> ops3 = make_ops(ObjectOp{.code = OpCode::kCreate},
                          ObjectOp{.code = OpCode::kSetXattr, .key = "owner", .value = b.owner});
  auto r = co_await exec(meta_, bucket_lock_object(b.name), std::move(ops3));
  if (!r.ok()) co_return r.status();
  Status st = first_error(*r);
  if (st.is(Code::kAlreadyExists)) {
    auto existing = co_await get_bucket(b.name);
    if (existing.ok()) co_return Status::AlreadyExists(existing->owner);
    // Marker without a record: a creator crashed half-way, or a delete is in
    // progress. Treat the marker's owner as the owner.
    std::vector<ObjectOp> ops4 = make_ops(ObjectOp{.code = OpCode::kGetXattr, .key = "owner"});
    auto x = co_await exec(meta_, bucket_lock_object(b.name), std::move(ops4));
    if (x.ok() && first_error(*x).ok() && !x->results.empty() && x->results[0].data == b.owner) {
      // Our own leftover: finish the creation.
    } else {
      std::string owner;
      if (x.ok() && !x->results.empty()) owner = x->results[0].data;
      co_return Status::AlreadyExists(owner);
    }
  } else if (!st.ok()) {
    co_return st;
  }
  std::vector<ObjectOp> ops5 = make_ops(ObjectOp{.code = OpCode::kOmapSet, .kvs = make_kvs(b.name, encode(b))});
  auto w = co_await exec(meta_, std::string(kBucketsObject), std::move(ops5));
  if (!w.ok()) co_return w.status();
  if (Status ws = first_error(*w); !ws.ok()) co_return ws;
  co_return b;
}

Task<Status> Store::update_bucket(BucketInfo b) {
  std::vector<ObjectOp> ops6 = make_ops(ObjectOp{.code = OpCode::kOmapSet, .kvs = make_kvs(b.name, encode(b))});
  auto w = co_await exec(meta_, std::string(kBucketsObject), std::move(ops6));
  if (!w.ok()) co_return w.status();
  co_return first_error(*w);
}

Task<Status> Store::delete_bucket(BucketInfo b) {
  for (uint32_t s = 0; s < b.shards; ++s) {
    auto page = co_await omap_page(meta_, index_object(b.id, s), "", "i", 1);
    if (!page.ok()) co_return page.status();
    if (!page->entries.empty()) co_return Status::Conflict("bucket not empty");
    // Versions and delete markers keep a bucket non-empty too (as in S3).
    auto vpage = co_await omap_page(meta_, index_object(b.id, s), "", "v", 1);
    if (!vpage.ok()) co_return vpage.status();
    if (!vpage->entries.empty()) co_return Status::Conflict("bucket holds object versions");
  }
  auto up = co_await omap_page(meta_, uploads_object(b.id), "", "", 1);
  if (!up.ok()) co_return up.status();
  if (!up->entries.empty()) co_return Status::Conflict("bucket has multipart uploads in progress");
  std::vector<ObjectOp> ops7 = make_ops(ObjectOp{.code = OpCode::kOmapRm, .keys = make_strs(b.name)});
  auto w = co_await exec(meta_, std::string(kBucketsObject), std::move(ops7));
  if (!w.ok()) co_return w.status();
  if (Status ws = first_error(*w); !ws.ok()) co_return ws;
  for (uint32_t s = 0; s < b.shards; ++s) {
    std::vector<ObjectOp> ops8 = make_ops(ObjectOp{.code = OpCode::kRemove});
    (void)co_await exec(meta_, index_object(b.id, s), std::move(ops8));
  }
  std::vector<ObjectOp> ops9 = make_ops(ObjectOp{.code = OpCode::kRemove});
  (void)co_await exec(meta_, uploads_object(b.id), std::move(ops9));
  std::vector<ObjectOp> ops10 = make_ops(ObjectOp{.code = OpCode::kRemove});
  (void)co_await exec(meta_, bucket_lock_object(b.name), std::move(ops10));
  co_return Status::Ok();
}

// ---- objects ----

Task<Result<ObjectEntry>> Store::get_entry(BucketInfo b, std::string key, bool with_data) {
  std::vector<std::string> keys = make_strs(entry_omap_key(key));
  if (with_data) keys.push_back(inline_omap_key(key));
  auto kv = co_await omap_get(meta_, index_object(b.id, index_shard(key, b.shards)), std::move(keys));
  if (!kv.ok()) co_return kv.status();
  auto it = kv->find(entry_omap_key(key));
  if (it == kv->end()) co_return Status::NotFound("no such key");
  auto e = decode_entry(it->second);
  if (!e) co_return Status::Corruption("index entry of '" + key + "' does not decode");
  if (with_data) {
    auto d = kv->find(inline_omap_key(key));
    if (d != kv->end()) e->inline_data = std::move(d->second);
  }
  co_return std::move(*e);
}

Task<Result<std::string>> Store::put_entry(BucketInfo b, std::string key, ObjectEntry e) {
  if (!b.versioning.empty()) co_return co_await put_entry_versioned(std::move(b), std::move(key), std::move(e));
  const std::string shard = index_object(b.id, index_shard(key, b.shards));
  auto old = co_await get_entry(b, key, false);
  if (!old.ok() && !old.status().is(Code::kNotFound)) co_return old.status();
  std::string data = std::move(e.inline_data);
  e.inline_data.clear();
  std::vector<ObjectOp> ops;
  std::map<std::string, std::string> kvs = make_kvs(entry_omap_key(key), encode(e));
  if (!data.empty()) {
    kvs[inline_omap_key(key)] = std::move(data);
  } else {
    ops.push_back(ObjectOp{.code = OpCode::kOmapRm, .keys = make_strs(inline_omap_key(key))});
  }
  ops.insert(ops.begin(), ObjectOp{.code = OpCode::kOmapSet, .kvs = std::move(kvs)});
  ops.push_back(bump_gen_op());
  auto w = co_await exec(meta_, shard, std::move(ops));
  if (!w.ok()) co_return w.status();
  if (Status ws = first_error(*w); !ws.ok()) co_return ws;
  if (old.ok() && !old->segments.empty()) {
    std::vector<Segment> drop;
    for (const Segment& s : old->segments) {
      bool reused = false;
      for (const Segment& n : e.segments) reused |= n.inst == s.inst;
      if (!reused) drop.push_back(s);
    }
    co_await remove_segments(b.id, std::move(drop));
  }
  co_return std::string();
}

Task<Status> Store::delete_entry(BucketInfo b, std::string key) {
  auto old = co_await get_entry(b, key, false);
  if (!old.ok()) co_return old.status();
  std::vector<ObjectOp> ops11 = make_ops(ObjectOp{.code = OpCode::kOmapRm,
                                   .keys = make_strs(entry_omap_key(key), inline_omap_key(key))},
                                         bump_gen_op());
  auto w = co_await exec(meta_, index_object(b.id, index_shard(key, b.shards)), std::move(ops11));
  if (!w.ok()) co_return w.status();
  if (Status ws = first_error(*w); !ws.ok()) co_return ws;
  co_await remove_segments(b.id, old->segments);
  co_return Status::Ok();
}

Task<Status> Store::write_stripe(std::string bucket_id, std::string inst, uint64_t stripe,
                                 std::string data) {
  std::vector<ObjectOp> ops12 = make_ops(ObjectOp{.code = OpCode::kWriteFull, .data = std::move(data)});
  auto w = co_await exec(data_, data_object(bucket_id, inst, stripe), std::move(ops12));
  if (!w.ok()) co_return w.status();
  co_return first_error(*w);
}

Task<Result<std::string>> Store::read_piece(ReadPiece p) {
  std::vector<ObjectOp> ops13 = make_ops(ObjectOp{.code = OpCode::kRead, .offset = p.offset, .length = p.length});
  auto r = co_await exec(data_, p.object, std::move(ops13));
  if (!r.ok()) co_return r.status();
  if (Status st = first_error(*r); !st.ok()) co_return st;
  if (r->results.empty()) co_return std::string();
  std::string d = std::move(r->results[0].data);
  // A stripe shorter than the index says is corruption; pad would hide it.
  if (d.size() != p.length) {
    co_return Status::Corruption("stripe " + p.object + " is short: " + std::to_string(d.size()) +
                                 " of " + std::to_string(p.length) + " bytes");
  }
  co_return d;
}

Task<void> Store::remove_segments(std::string bucket_id, std::vector<Segment> segs) {
  for (const Segment& s : segs) {
    uint64_t stripes = (s.size + kStripeSize - 1) / kStripeSize;
    for (uint64_t i = 0; i < std::max<uint64_t>(stripes, 1); ++i) {
      std::vector<ObjectOp> ops14 = make_ops(ObjectOp{.code = OpCode::kRemove});
      (void)co_await exec(data_, data_object(bucket_id, s.inst, i), std::move(ops14));
    }
  }
}

Task<Result<ListState>> Store::list(BucketInfo b, ListParams p) {
  ListState st = start_listing(p);
  const uint32_t page = std::min<uint32_t>(1000, p.max_keys + 1);
  int rounds = 0;
  while (!st.done) {
    if (++rounds > 100000) co_return Status::IoError("listing did not converge");
    // One page from every shard, fetched concurrently.
    std::vector<PageRequest> reqs;
    for (uint32_t s = 0; s < b.shards; ++s) {
      // Named values: GCC 12 mishandles class temporaries of ?: in coroutines.
      PageRequest r;
      r.name = index_object(b.id, s);
      if (!st.cursor.empty()) r.after = "i" + st.cursor;
      r.prefix = "i" + p.prefix;
      r.max = page;
      reqs.push_back(std::move(r));
    }
    auto pages = co_await omap_pages(std::move(reqs));
    if (!pages.ok()) co_return pages.status();
    for (ShardPage& pg : *pages) {
      for (auto& kv : pg.entries) kv.first.erase(0, 1);  // strip "i"
    }
    merge_round(p, std::move(*pages), &st);
  }
  co_return st;
}

// ---- versions ----

namespace {
int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
std::string versions_prefix(const std::string& key) {
  return "v" + key + kVersionSep;
}
}  // namespace

Task<Status> Store::omap_write(std::string name, std::map<std::string, std::string> set,
                               std::vector<std::string> rm, const std::string* gen) {
  // Set first: it creates the shard object if needed (an rm on an absent
  // object fails). The two key sets never overlap.
  std::vector<ObjectOp> ops;
  if (gen) ops.push_back(ObjectOp{.code = OpCode::kCmpXattr, .key = std::string(kGenXattr), .value = *gen});
  ops.push_back(bump_gen_op());
  if (!set.empty()) ops.push_back(ObjectOp{.code = OpCode::kOmapSet, .kvs = std::move(set)});
  if (!rm.empty()) ops.push_back(ObjectOp{.code = OpCode::kOmapRm, .keys = std::move(rm)});
  if (ops.empty()) co_return Status::Ok();
  auto w = co_await exec(meta_, std::move(name), std::move(ops));
  if (!w.ok()) co_return w.status();
  co_return first_error(*w);
}

Task<Result<std::map<std::string, std::string>>> Store::shard_get(std::string shard,
                                                                  std::vector<std::string> keys,
                                                                  std::string* gen) {
  std::vector<ObjectOp> ops = make_ops(ObjectOp{.code = OpCode::kGetXattrs},
                                       ObjectOp{.code = OpCode::kOmapGet, .keys = std::move(keys)});
  auto r = co_await exec(meta_, std::move(shard), std::move(ops));
  if (!r.ok()) co_return r.status();
  gen->clear();
  if (r->results.size() == 2 && r->results[0].status.is(Code::kNotFound)) {
    co_return std::map<std::string, std::string>{};
  }
  if (Status st = first_error(*r); !st.ok()) co_return st;
  if (r->results.size() != 2) co_return Status::IoError("short reply to an index read");
  if (auto it = r->results[0].kvs.find(std::string(kGenXattr)); it != r->results[0].kvs.end()) {
    *gen = it->second;
  }
  co_return std::move(r->results[1].kvs);
}

Task<Result<std::string>> Store::put_entry_versioned(BucketInfo b, std::string key, ObjectEntry e) {
  for (int attempt = 0;; ++attempt) {
    auto r = co_await put_version(b, key, e);
    if (r.ok() || !r.status().is(Code::kConflict) || attempt >= kVersionRetries) co_return r;
  }
}

Task<Result<ObjectEntry>> Store::delete_version(BucketInfo b, std::string key, std::string vid) {
  for (int attempt = 0;; ++attempt) {
    auto r = co_await delete_version_once(b, key, vid);
    if (r.ok() || !r.status().is(Code::kConflict) || attempt >= kVersionRetries) co_return r;
  }
}

// All of one key's index changes go to its shard in one write (one omap
// transaction on the OSD), so readers see the old or the new state; the
// shard's generation xattr makes the read-modify-write atomic against other
// writers of versioned keys in the shard (on any gateway).
Task<Result<std::string>> Store::put_version(BucketInfo b, std::string key, ObjectEntry e) {
  const bool suspended = b.versioning == "Suspended";
  const std::string shard = index_object(b.id, index_shard(key, b.shards));
  std::vector<std::string> keys =
      make_strs(entry_omap_key(key), inline_omap_key(key), null_version_omap_key(key));
  std::string gen;
  auto kv = co_await shard_get(shard, std::move(keys), &gen);
  if (!kv.ok()) co_return kv.status();
  std::optional<ObjectEntry> head;
  if (auto it = kv->find(entry_omap_key(key)); it != kv->end()) {
    head = decode_entry(it->second);
    if (!head) co_return Status::Corruption("index entry of '" + key + "' does not decode");
    if (auto d = kv->find(inline_omap_key(key)); d != kv->end()) head->inline_data = d->second;
  }
  std::string null_vkey;
  if (auto it = kv->find(null_version_omap_key(key)); it != kv->end()) null_vkey = it->second;

  const std::string vkey = new_version_key(wall_us());
  std::string vid = vkey;
  if (suspended) vid = "null";
  e.version_id = vid;
  std::string data = std::move(e.inline_data);
  e.inline_data.clear();
  std::map<std::string, std::string> set;
  std::vector<std::string> rm;
  std::vector<Segment> drop;
  set[version_omap_key(key, vkey)] = encode(e);
  if (!data.empty()) set[version_data_omap_key(key, vkey)] = data;
  if (e.delete_marker) {
    rm.push_back(entry_omap_key(key));
    rm.push_back(inline_omap_key(key));
  } else {
    set[entry_omap_key(key)] = encode(e);
    if (!data.empty()) {
      set[inline_omap_key(key)] = std::move(data);
    } else {
      rm.push_back(inline_omap_key(key));
    }
  }
  // An object written before versioning was turned on is the null version.
  if (head && head->version_id.empty()) {
    if (suspended) {
      drop = head->segments;  // replaced by the new null version
    } else {
      const std::string nk = new_version_key(head->mtime_ms * 1000);
      ObjectEntry old = std::move(*head);
      old.version_id = "null";
      std::string od = std::move(old.inline_data);
      old.inline_data.clear();
      set[version_omap_key(key, nk)] = encode(old);
      if (!od.empty()) set[version_data_omap_key(key, nk)] = std::move(od);
      set[null_version_omap_key(key)] = nk;
    }
  }
  if (suspended) {
    if (!null_vkey.empty()) {  // the null version this one replaces
      std::vector<std::string> nkeys = make_strs(version_omap_key(key, null_vkey));
      auto old = co_await omap_get(meta_, shard, std::move(nkeys));
      if (!old.ok()) co_return old.status();
      if (auto it = old->find(version_omap_key(key, null_vkey)); it != old->end()) {
        if (auto oe = decode_entry(it->second)) drop = oe->segments;
      }
      rm.push_back(version_omap_key(key, null_vkey));
      rm.push_back(version_data_omap_key(key, null_vkey));
    }
    set[null_version_omap_key(key)] = vkey;
  }
  Status st = co_await omap_write(shard, std::move(set), std::move(rm), &gen);
  if (!st.ok()) co_return st;
  if (!drop.empty()) co_await remove_segments(b.id, std::move(drop));
  co_return vid;
}

Task<Status> Store::set_object_acl(BucketInfo b, std::string key, std::string acl) {
  const std::string shard = index_object(b.id, index_shard(key, b.shards));
  for (int attempt = 0;; ++attempt) {
    std::vector<std::string> keys = make_strs(entry_omap_key(key), null_version_omap_key(key));
    std::string gen;
    auto kv = co_await shard_get(shard, std::move(keys), &gen);
    if (!kv.ok()) co_return kv.status();
    auto it = kv->find(entry_omap_key(key));
    if (it == kv->end()) co_return Status::NotFound("no such key");
    auto e = decode_entry(it->second);
    if (!e) co_return Status::Corruption("index entry of '" + key + "' does not decode");
    e->acl = acl;
    // The version entry it mirrors changes with it.
    std::string vkey;
    if (e->version_id == "null") {
      if (auto n = kv->find(null_version_omap_key(key)); n != kv->end()) vkey = n->second;
    } else if (!e->version_id.empty()) {
      vkey = e->version_id;
    }
    std::map<std::string, std::string> set = make_kvs(entry_omap_key(key), encode(*e));
    if (!vkey.empty()) set[version_omap_key(key, vkey)] = encode(*e);
    std::vector<std::string> none;
    Status st = co_await omap_write(shard, std::move(set), std::move(none), &gen);
    if (!st.is(Code::kConflict) || attempt >= kVersionRetries) co_return st;
  }
}

Task<Result<ObjectEntry>> Store::get_version(BucketInfo b, std::string key, std::string vid,
                                             bool with_data) {
  const std::string shard = index_object(b.id, index_shard(key, b.shards));
  std::string vkey = vid;
  if (vid == "null") {
    std::vector<std::string> keys =
        make_strs(null_version_omap_key(key), entry_omap_key(key), inline_omap_key(key));
    auto kv = co_await omap_get(meta_, shard, std::move(keys));
    if (!kv.ok()) co_return kv.status();
    if (auto it = kv->find(null_version_omap_key(key)); it != kv->end()) {
      vkey = it->second;
    } else {
      // No null version record: an object from before versioning, if any.
      auto it2 = kv->find(entry_omap_key(key));
      if (it2 == kv->end()) co_return Status::NotFound("no such version");
      auto e = decode_entry(it2->second);
      if (!e) co_return Status::Corruption("index entry of '" + key + "' does not decode");
      if (!e->version_id.empty()) co_return Status::NotFound("no such version");
      e->version_id = "null";
      if (auto d = kv->find(inline_omap_key(key)); with_data && d != kv->end()) e->inline_data = d->second;
      co_return std::move(*e);
    }
  }
  std::vector<std::string> keys = make_strs(version_omap_key(key, vkey));
  if (with_data) keys.push_back(version_data_omap_key(key, vkey));
  auto kv = co_await omap_get(meta_, shard, std::move(keys));
  if (!kv.ok()) co_return kv.status();
  auto it = kv->find(version_omap_key(key, vkey));
  if (it == kv->end()) co_return Status::NotFound("no such version");
  auto e = decode_entry(it->second);
  if (!e) co_return Status::Corruption("version entry of '" + key + "' does not decode");
  if (auto d = kv->find(version_data_omap_key(key, vkey)); d != kv->end()) e->inline_data = std::move(d->second);
  co_return std::move(*e);
}

Task<Result<std::string>> Store::null_version_key(BucketInfo b, std::string key) {
  std::vector<std::string> keys = make_strs(null_version_omap_key(key), entry_omap_key(key));
  auto kv = co_await omap_get(meta_, index_object(b.id, index_shard(key, b.shards)), std::move(keys));
  if (!kv.ok()) co_return kv.status();
  if (auto it = kv->find(null_version_omap_key(key)); it != kv->end()) co_return it->second;
  if (auto it = kv->find(entry_omap_key(key)); it != kv->end()) {
    auto e = decode_entry(it->second);
    if (e && e->version_id.empty()) co_return std::string("null");
  }
  co_return Status::NotFound("no null version");
}

Task<Result<ObjectEntry>> Store::newest_version(BucketInfo b, std::string key) {
  const std::string pfx = versions_prefix(key);
  auto page = co_await omap_page(meta_, index_object(b.id, index_shard(key, b.shards)), pfx, pfx, 1);
  if (!page.ok()) co_return page.status();
  if (page->entries.empty()) co_return Status::NotFound("no versions");
  auto e = decode_entry(page->entries[0].second);
  if (!e) co_return Status::Corruption("version entry of '" + key + "' does not decode");
  co_return std::move(*e);
}

Task<Result<ObjectEntry>> Store::delete_version_once(BucketInfo b, std::string key, std::string vid) {
  const std::string shard = index_object(b.id, index_shard(key, b.shards));
  std::string vkey = vid;
  std::string gen;
  if (vid == "null") {
    std::vector<std::string> keys = make_strs(null_version_omap_key(key), entry_omap_key(key));
    auto kv = co_await shard_get(shard, std::move(keys), &gen);
    if (!kv.ok()) co_return kv.status();
    if (auto it = kv->find(null_version_omap_key(key)); it != kv->end()) {
      vkey = it->second;
    } else {
      auto it2 = kv->find(entry_omap_key(key));
      if (it2 == kv->end()) co_return Status::NotFound("no such version");
      auto e = decode_entry(it2->second);
      if (!e || !e->version_id.empty()) co_return Status::NotFound("no such version");
      // An object from before versioning: only its current entry exists.
      std::map<std::string, std::string> none;
      std::vector<std::string> rm = make_strs(entry_omap_key(key), inline_omap_key(key));
      Status st = co_await omap_write(shard, std::move(none), std::move(rm), &gen);
      if (!st.ok()) co_return st;
      if (!e->segments.empty()) co_await remove_segments(b.id, e->segments);
      e->version_id = "null";
      co_return std::move(*e);
    }
  }
  std::vector<std::string> keys = make_strs(version_omap_key(key, vkey));
  std::string gen2;
  auto kv = co_await shard_get(shard, std::move(keys), &gen2);
  if (!kv.ok()) co_return kv.status();
  // The pointer read (null) and this one must see one state.
  if (vid == "null" && gen2 != gen) co_return Status::Conflict("index shard changed");
  gen = gen2;
  auto it = kv->find(version_omap_key(key, vkey));
  if (it == kv->end()) co_return Status::NotFound("no such version");
  auto gone = decode_entry(it->second);
  if (!gone) co_return Status::Corruption("version entry of '" + key + "' does not decode");
  // The two newest versions: is this one current, and what replaces it?
  const std::string pfx = versions_prefix(key);
  auto page = co_await omap_page(meta_, shard, pfx, pfx, 2);
  if (!page.ok()) co_return page.status();
  std::map<std::string, std::string> set;
  std::vector<std::string> rm = make_strs(version_omap_key(key, vkey), version_data_omap_key(key, vkey));
  if (vid == "null") rm.push_back(null_version_omap_key(key));
  if (!page->entries.empty() && page->entries[0].first == version_omap_key(key, vkey)) {
    std::optional<ObjectEntry> next;
    std::string next_vkey;
    if (page->entries.size() > 1) {
      next = decode_entry(page->entries[1].second);
      next_vkey = split_version_sort_key(page->entries[1].first).second;
    }
    if (next && !next->delete_marker) {
      set[entry_omap_key(key)] = page->entries[1].second;
      std::vector<std::string> dk = make_strs(version_data_omap_key(key, next_vkey));
      auto d = co_await omap_get(meta_, shard, std::move(dk));
      if (!d.ok()) co_return d.status();
      if (auto di = d->find(version_data_omap_key(key, next_vkey)); di != d->end()) {
        set[inline_omap_key(key)] = std::move(di->second);
      } else {
        rm.push_back(inline_omap_key(key));
      }
    } else {
      rm.push_back(entry_omap_key(key));
      rm.push_back(inline_omap_key(key));
    }
  }
  Status st = co_await omap_write(shard, std::move(set), std::move(rm), &gen);
  if (!st.ok()) co_return st;
  if (!gone->segments.empty()) co_await remove_segments(b.id, gone->segments);
  co_return std::move(*gone);
}

Task<Result<ListState>> Store::list_versions(BucketInfo b, ListParams p) {
  ListState st = start_listing(p);
  const uint32_t page = std::min<uint32_t>(1000, p.max_keys + 1);
  int rounds = 0;
  while (!st.done) {
    if (++rounds > 100000) co_return Status::IoError("listing did not converge");
    // Per shard, its versions ("v") and its current entries ("i"): objects
    // from before versioning have no version entries, their current entry
    // is their (null) version; current entries of versioned keys are
    // placeholders that only keep the merge bounded. All fetched concurrently.
    std::vector<PageRequest> reqs;
    for (uint32_t s = 0; s < b.shards; ++s) {
      PageRequest v;
      v.name = index_object(b.id, s);
      if (!st.cursor.empty()) v.after = "v" + st.cursor;
      v.prefix = "v" + p.prefix;
      v.max = page;
      PageRequest i;
      i.name = index_object(b.id, s);
      if (!st.cursor.empty()) i.after = "i" + split_version_sort_key(st.cursor).first;
      i.prefix = "i" + p.prefix;
      i.max = page;
      reqs.push_back(std::move(v));
      reqs.push_back(std::move(i));
    }
    auto pages = co_await omap_pages(std::move(reqs));
    if (!pages.ok()) co_return pages.status();
    for (size_t n = 0; n < pages->size(); n += 2) {
      for (auto& kv : (*pages)[n].entries) kv.first.erase(0, 1);
      for (auto& kv : (*pages)[n + 1].entries) {
        kv.first.erase(0, 1);
        auto e = decode_entry(kv.second);
        if (e && e->version_id.empty()) {
          e->version_id = "null";
          kv.first += kVersionSep;
          kv.first += "null";
          kv.second = encode(*e);
        } else {
          kv.first += kVersionSep;
          kv.second.clear();
        }
      }
    }
    merge_round(p, std::move(*pages), &st);
  }
  co_return st;
}

// ---- multipart ----

Task<Status> Store::create_upload(BucketInfo b, UploadInfo u) {
  std::vector<ObjectOp> ops15 = make_ops(ObjectOp{.code = OpCode::kOmapSet,
                                   .kvs = make_kvs(upload_omap_key(u.key, u.upload_id), encode(u))});
  auto w = co_await exec(meta_, uploads_object(b.id), std::move(ops15));
  if (!w.ok()) co_return w.status();
  co_return first_error(*w);
}

Task<Result<UploadInfo>> Store::get_upload(BucketInfo b, std::string key, std::string upload_id) {
  const std::string k = upload_omap_key(key, upload_id);
  std::vector<std::string> keys = make_strs(k);
  auto kv = co_await omap_get(meta_, uploads_object(b.id), std::move(keys));
  if (!kv.ok()) co_return kv.status();
  auto it = kv->find(k);
  if (it == kv->end()) co_return Status::NotFound("no such upload");
  auto u = decode_upload(it->second);
  if (!u) co_return Status::Corruption("upload record does not decode");
  co_return std::move(*u);
}

Task<Status> Store::put_part(BucketInfo b, std::string upload_id, PartInfo p) {
  const std::string obj = parts_object(b.id, upload_id);
  std::vector<std::string> keys = make_strs(part_omap_key(p.number));
  auto old = co_await omap_get(meta_, obj, std::move(keys));
  if (!old.ok()) co_return old.status();
  std::vector<ObjectOp> ops16 = make_ops(ObjectOp{.code = OpCode::kOmapSet, .kvs = make_kvs(part_omap_key(p.number), encode(p))});
  auto w = co_await exec(meta_, obj, std::move(ops16));
  if (!w.ok()) co_return w.status();
  if (Status ws = first_error(*w); !ws.ok()) co_return ws;
  if (auto it = old->find(part_omap_key(p.number)); it != old->end()) {
    if (auto op = decode_part(it->second); op && op->inst != p.inst) {
      std::vector<Segment> drop = one_segment(op->inst, op->size);
      co_await remove_segments(b.id, std::move(drop));
    }
  }
  co_return Status::Ok();
}

Task<Result<std::vector<PartInfo>>> Store::list_parts(BucketInfo b, std::string upload_id) {
  std::vector<PartInfo> out;
  std::string after;
  for (;;) {
    auto page = co_await omap_page(meta_, parts_object(b.id, upload_id), after, "", 1000);
    if (!page.ok()) co_return page.status();
    for (auto& [k, v] : page->entries) {
      if (auto p = decode_part(v)) out.push_back(std::move(*p));
      after = k;
    }
    if (!page->more || page->entries.empty()) break;
  }
  co_return out;
}

Task<Status> Store::finish_upload(BucketInfo b, std::string key, std::string upload_id,
                                  std::vector<std::string> data_keep) {
  auto parts = co_await list_parts(b, upload_id);
  if (!parts.ok()) co_return parts.status();
  std::vector<ObjectOp> ops17 = make_ops(ObjectOp{.code = OpCode::kOmapRm, .keys = make_strs(upload_omap_key(key, upload_id))});
  auto w = co_await exec(meta_, uploads_object(b.id), std::move(ops17));
  if (!w.ok()) co_return w.status();
  if (Status ws = first_error(*w); !ws.ok()) co_return ws;
  std::vector<Segment> drop;
  for (const PartInfo& p : *parts) {
    if (std::find(data_keep.begin(), data_keep.end(), p.inst) == data_keep.end()) {
      drop.push_back({p.inst, p.size});
    }
  }
  co_await remove_segments(b.id, std::move(drop));
  std::vector<ObjectOp> ops18 = make_ops(ObjectOp{.code = OpCode::kRemove});
  (void)co_await exec(meta_, parts_object(b.id, upload_id), std::move(ops18));
  co_return Status::Ok();
}

Task<Result<std::vector<UploadInfo>>> Store::list_uploads(BucketInfo b, std::string prefix,
                                                          std::string key_marker, uint32_t max,
                                                          bool* truncated) {
  std::vector<UploadInfo> out;
  *truncated = false;
  std::string after;
  if (!key_marker.empty()) after = key_marker + '\x02';
  for (;;) {
    auto page = co_await omap_page(meta_, uploads_object(b.id), after, prefix, 1000);
    if (!page.ok()) co_return page.status();
    for (auto& [k, v] : page->entries) {
      if (out.size() >= max) {
        *truncated = true;
        co_return out;
      }
      if (auto u = decode_upload(v)) out.push_back(std::move(*u));
      after = k;
    }
    if (!page->more || page->entries.empty()) break;
  }
  co_return out;
}

}  // namespace cairn::rgw
