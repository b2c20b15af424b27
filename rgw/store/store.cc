#include "rgw/store/store.h"

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

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

Task<Status> Store::set_bucket_acl(BucketInfo b) {
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

Task<Status> Store::put_entry(BucketInfo b, std::string key, ObjectEntry e) {
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
  co_return Status::Ok();
}

Task<Status> Store::delete_entry(BucketInfo b, std::string key) {
  auto old = co_await get_entry(b, key, false);
  if (!old.ok()) co_return old.status();
  std::vector<ObjectOp> ops11 = make_ops(ObjectOp{.code = OpCode::kOmapRm,
                                   .keys = make_strs(entry_omap_key(key), inline_omap_key(key))});
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
    std::vector<ShardPage> pages;
    for (uint32_t s = 0; s < b.shards; ++s) {
      // Named arguments: GCC 12 mishandles class temporaries of ?: in coroutines.
      std::string after;
      if (!st.cursor.empty()) after = "i" + st.cursor;
      std::string pfx = "i" + p.prefix;
      std::string shard = index_object(b.id, s);
      auto pg = co_await omap_page(meta_, std::move(shard), std::move(after), std::move(pfx), page);
      if (!pg.ok()) co_return pg.status();
      for (auto& kv : pg->entries) kv.first.erase(0, 1);  // strip "i"
      pages.push_back(std::move(*pg));
    }
    merge_round(p, std::move(pages), &st);
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
