// ObjectStore::submit: turns a Transaction into one RocksDB WriteBatch.
//
// Ops are applied in order to an in-memory overlay (onodes and data blocks
// touched so far) so later ops see earlier ones, e.g. two partial writes to
// one block in one transaction. Onodes and blocks are emitted into the batch
// once, at the end, in their final state; omap, meta and range deletions go
// into the batch as they come, which is correct because RocksDB applies a
// batch in order and the final onode/block records never conflict with them.
#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

#include "osd/store/object_store_impl.h"
#include "osd/store/store_format.h"

namespace cairn::osd {
namespace {

using format::Onode;

// Drops trailing zeros of a block value's payload: zeros are implied, so a
// zero-filled block costs nothing. Returns false if nothing remains.
bool trim_zeros(std::string* value) {
  size_t n = value->size();
  while (n > format::kBlockCrcLen && (*value)[n - 1] == '\0') --n;
  value->resize(n);
  return n > format::kBlockCrcLen;
}

class TxnBuilder {
 public:
  explicit TxnBuilder(ObjectStore::Impl& s) : s_(s) {}

  Status apply(Transaction::Op& op);
  // Emits the overlay into the batch; returns it.
  rocksdb::WriteBatch& finish();

 private:
  struct OnodeState {
    bool existed = false;  // in the DB before this transaction
    bool exists = false;
    bool dirty = false;
    Onode onode;
  };

  Result<OnodeState*> load(CollectionId c, const std::string& okey);
  void create(OnodeState& st);
  // Current payload-with-crc-slot of a block ("" for a hole).
  Result<std::string> load_block(CollectionId c, const std::string& okey, uint32_t bs,
                                 uint32_t block);
  void put_block(const std::string& okey, uint32_t block, std::string value);
  void delete_blocks(const std::string& okey, uint32_t from, uint32_t to);
  Status write(CollectionId c, const std::string& okey, OnodeState& st, uint64_t off,
               std::string_view data);
  Status truncate(CollectionId c, const std::string& okey, OnodeState& st, uint64_t size);
  void remove(const std::string& okey, OnodeState& st);
  Status remove_collection(CollectionId c);

  ObjectStore::Impl& s_;
  rocksdb::WriteBatch batch_;
  std::map<std::string, OnodeState> onodes_;                  // by onode key
  std::map<std::string, std::optional<std::string>> blocks_;  // by data key; nullopt = delete
  std::set<CollectionId> wiped_;  // removed earlier in this txn: DB contents are gone
  int64_t object_delta_ = 0;      // from remove_collection; per-onode deltas added in finish
};

Result<TxnBuilder::OnodeState*> TxnBuilder::load(CollectionId c, const std::string& okey) {
  auto it = onodes_.find(okey);
  if (it != onodes_.end()) return &it->second;
  OnodeState st;
  if (!wiped_.contains(c)) {
    std::string v;
    rocksdb::Status rs = s_.db->Get(rocksdb::ReadOptions(), s_.onode_cf, okey, &v);
    if (rs.ok()) {
      CAIRN_RETURN_IF_ERROR(Onode::decode(v, &st.onode));
      st.existed = st.exists = true;
    } else if (!rs.IsNotFound()) {
      return from_rocksdb(rs, "get onode");
    }
  }
  return &onodes_.emplace(okey, std::move(st)).first->second;
}

void TxnBuilder::create(OnodeState& st) {
  if (st.exists) return;
  st.exists = st.dirty = true;
  st.onode = Onode{};
  st.onode.block_size = s_.opts.block_size;
}

Result<std::string> TxnBuilder::load_block(CollectionId c, const std::string& okey, uint32_t bs,
                                           uint32_t block) {
  std::string key = format::data_key(okey, block);
  auto it = blocks_.find(key);
  if (it != blocks_.end()) return it->second ? *it->second : std::string();
  if (wiped_.contains(c)) return std::string();
  rocksdb::PinnableSlice v;
  rocksdb::Status rs = s_.db->Get(rocksdb::ReadOptions(), s_.data_cf, key, &v);
  if (rs.IsNotFound()) return std::string();
  if (!rs.ok()) return from_rocksdb(rs, "get data block");
  std::string_view payload;
  CAIRN_RETURN_IF_ERROR(format::decode_block(v.ToStringView(), bs, &payload));
  return std::string(v.ToStringView());
}

void TxnBuilder::put_block(const std::string& okey, uint32_t block, std::string value) {
  if (trim_zeros(&value)) {
    blocks_[format::data_key(okey, block)] = std::move(value);
  } else {
    blocks_[format::data_key(okey, block)] = std::nullopt;
  }
}

void TxnBuilder::delete_blocks(const std::string& okey, uint32_t from, uint32_t to) {
  // Point deletes, not DeleteRange: the range is bounded by the object size,
  // and many range tombstones slow down every read of the column family.
  std::string key = format::data_key(okey, 0);
  for (uint32_t b = from; b < to; ++b) {
    format::set_data_key_block(&key, b);
    blocks_[key] = std::nullopt;
  }
}

Status TxnBuilder::write(CollectionId c, const std::string& okey, OnodeState& st, uint64_t off,
                         std::string_view data) {
  const uint32_t bs = st.onode.block_size;
  size_t pos = 0;
  while (pos < data.size()) {
    uint64_t abs = off + pos;
    auto block = static_cast<uint32_t>(abs / bs);
    size_t in_off = abs % bs;
    size_t n = std::min<size_t>(bs - in_off, data.size() - pos);
    std::string value;
    if (in_off == 0 && n == bs) {
      value.reserve(format::kBlockCrcLen + n);
      value.resize(format::kBlockCrcLen);
    } else {  // partial block: read-modify-write
      auto old = load_block(c, okey, bs, block);
      if (!old.ok()) return old.status();
      value = std::move(*old);
      if (value.empty()) value.resize(format::kBlockCrcLen);
    }
    size_t end = format::kBlockCrcLen + in_off + n;
    if (value.size() < end) value.resize(end, '\0');
    std::memcpy(value.data() + format::kBlockCrcLen + in_off, data.data() + pos, n);
    put_block(okey, block, std::move(value));
    pos += n;
  }
  if (!data.empty()) st.onode.size = std::max(st.onode.size, off + data.size());
  st.dirty = true;
  return Status::Ok();
}

Status TxnBuilder::truncate(CollectionId c, const std::string& okey, OnodeState& st,
                            uint64_t size) {
  Onode& o = st.onode;
  if (size < o.size) {
    const uint32_t bs = o.block_size;
    auto keep = static_cast<uint32_t>((size + bs - 1) / bs);
    delete_blocks(okey, keep, o.num_blocks());
    if (size % bs != 0) {  // trim the new last block so a later grow reads zeros
      auto block = static_cast<uint32_t>(size / bs);
      auto old = load_block(c, okey, bs, block);
      if (!old.ok()) return old.status();
      std::string value = std::move(*old);
      if (value.size() > format::kBlockCrcLen + size % bs) {
        value.resize(format::kBlockCrcLen + size % bs);
        put_block(okey, block, std::move(value));
      }
    }
  }
  o.size = size;
  st.dirty = true;
  return Status::Ok();
}

void TxnBuilder::remove(const std::string& okey, OnodeState& st) {
  if (!st.exists) return;
  delete_blocks(okey, 0, st.onode.num_blocks());
  if (st.onode.flags & Onode::kFlagOmap) {
    std::string end = okey;
    end.back() = '\1';
    batch_.DeleteRange(s_.omap_cf, okey, end);
  }
  st.exists = false;
  st.dirty = true;
  st.onode = Onode{};
}

Status TxnBuilder::remove_collection(CollectionId c) {
  const std::string begin = format::coll_prefix(c);
  const std::string end = format::coll_end(c);
  if (!wiped_.contains(c)) {
    // Count the objects going away; keys only are read (onodes are small).
    rocksdb::ReadOptions ro;
    rocksdb::Slice upper(end);
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(s_.db->NewIterator(ro, s_.onode_cf));
    int64_t n = 0;
    for (it->Seek(begin); it->Valid(); it->Next()) ++n;
    if (!it->status().ok()) return from_rocksdb(it->status(), "list collection");
    object_delta_ -= n;
  }
  // Overlay entries of c disappear with it; their own deltas are dropped,
  // which together with the DB count above takes c's count to zero.
  onodes_.erase(onodes_.lower_bound(begin), onodes_.lower_bound(end));
  blocks_.erase(blocks_.lower_bound(begin), blocks_.lower_bound(end));
  for (auto* cf : {s_.onode_cf, s_.data_cf, s_.omap_cf, s_.meta_cf}) {
    batch_.DeleteRange(cf, begin, end);
  }
  wiped_.insert(c);
  return Status::Ok();
}

Status TxnBuilder::apply(Transaction::Op& op) {
  using T = Transaction::OpType;
  const CollectionId c = op.c;
  switch (op.type) {
    case T::kMetaPut:
      batch_.Put(s_.meta_cf, format::meta_key(c, op.name), op.data);
      return Status::Ok();
    case T::kMetaRm:
      batch_.Delete(s_.meta_cf, format::meta_key(c, op.name));
      return Status::Ok();
    case T::kRemoveCollection:
      return remove_collection(c);
    default:
      break;
  }

  const std::string okey = format::object_key(c, op.name);
  auto loaded = load(c, okey);
  if (!loaded.ok()) return loaded.status();
  OnodeState& st = **loaded;
  switch (op.type) {
    case T::kTouch:
      create(st);
      return Status::Ok();
    case T::kWrite:
      create(st);
      return write(c, okey, st, op.offset, op.data);
    case T::kWriteFull:
      create(st);
      CAIRN_RETURN_IF_ERROR(truncate(c, okey, st, 0));
      return write(c, okey, st, 0, op.data);
    case T::kTruncate:
      create(st);
      return truncate(c, okey, st, op.offset);
    case T::kRemove:
      remove(okey, st);
      return Status::Ok();
    case T::kSetXattr:
      create(st);
      st.onode.xattrs[std::move(op.key)] = std::move(op.data);
      st.dirty = true;
      return Status::Ok();
    case T::kRmXattr:
      if (st.exists && st.onode.xattrs.erase(op.key) > 0) st.dirty = true;
      return Status::Ok();
    case T::kOmapSet:
      create(st);
      if (!(st.onode.flags & Onode::kFlagOmap)) {
        st.onode.flags |= Onode::kFlagOmap;
        st.dirty = true;
      }
      for (const auto& [k, v] : op.kvs) batch_.Put(s_.omap_cf, format::omap_key(okey, k), v);
      return Status::Ok();
    case T::kOmapRm:
      if (st.exists && (st.onode.flags & Onode::kFlagOmap)) {
        for (const auto& k : op.keys) batch_.Delete(s_.omap_cf, format::omap_key(okey, k));
      }
      return Status::Ok();
    case T::kOmapClear:
      if (st.exists && (st.onode.flags & Onode::kFlagOmap)) {
        batch_.DeleteRange(s_.omap_cf, okey, format::object_end(c, op.name));
        st.onode.flags &= ~Onode::kFlagOmap;
        st.dirty = true;
      }
      return Status::Ok();
    case T::kSetVersion:
      create(st);
      st.onode.version = op.offset;
      st.onode.mtime_ns = op.mtime_ns;
      st.dirty = true;
      return Status::Ok();
    default:
      return Status::InvalidArgument("transaction: unknown op");
  }
}

rocksdb::WriteBatch& TxnBuilder::finish() {
  for (auto& [key, value] : blocks_) {
    if (value) {
      format::seal_block(&*value);
      batch_.Put(s_.data_cf, key, *value);
    } else {
      batch_.Delete(s_.data_cf, key);
    }
  }
  for (const auto& [key, st] : onodes_) {
    if (!st.dirty) continue;
    if (st.exists) {
      batch_.Put(s_.onode_cf, key, st.onode.encode());
    } else if (st.existed) {
      batch_.Delete(s_.onode_cf, key);
    }
    object_delta_ += int64_t{st.exists} - int64_t{st.existed};
  }
  if (object_delta_ != 0) {
    std::string v(sizeof object_delta_, '\0');
    std::memcpy(v.data(), &object_delta_, sizeof object_delta_);
    batch_.Merge(s_.default_cf, format::kObjectCountKey, v);
  }
  return batch_;
}

Status validate(const Transaction::Op& op) {
  using T = Transaction::OpType;
  CAIRN_RETURN_IF_ERROR(format::validate_coll(op.c));
  switch (op.type) {
    case T::kMetaPut:
    case T::kMetaRm:
    case T::kRemoveCollection:
      return Status::Ok();
    case T::kWrite:
      if (op.offset > kMaxObjectSize || op.data.size() > kMaxObjectSize - op.offset) {
        return Status::TooLarge("write past kMaxObjectSize");
      }
      break;
    case T::kWriteFull:
      if (op.data.size() > kMaxObjectSize) return Status::TooLarge("object over kMaxObjectSize");
      break;
    case T::kTruncate:
      if (op.offset > kMaxObjectSize) return Status::TooLarge("truncate past kMaxObjectSize");
      break;
    default:
      break;
  }
  return format::validate_name(op.name);
}

}  // namespace

size_t ObjectStore::Impl::stripe_of(CollectionId c, std::string_view name) {
  size_t h = std::hash<std::string_view>()(name);
  h ^= (static_cast<size_t>(static_cast<uint32_t>(c.pool)) << 32 | c.pg) * 0x9e3779b97f4a7c15ull;
  return (h ^ (h >> 29)) & (kLockStripes - 1);
}

Status ObjectStore::Impl::submit(Transaction&& t) {
  std::vector<Transaction::Op> ops = t.release_ops();
  bool all = false;
  std::vector<size_t> locks;
  for (const auto& op : ops) {
    CAIRN_RETURN_IF_ERROR(validate(op));
    using T = Transaction::OpType;
    if (op.type == T::kRemoveCollection) all = true;
    if (op.type != T::kMetaPut && op.type != T::kMetaRm) locks.push_back(stripe_of(op.c, op.name));
  }
  if (all) {
    locks.resize(kLockStripes);
    for (size_t i = 0; i < kLockStripes; ++i) locks[i] = i;
  } else {
    std::sort(locks.begin(), locks.end());  // one global order: no deadlock
    locks.erase(std::unique(locks.begin(), locks.end()), locks.end());
  }
  std::vector<std::unique_lock<std::mutex>> held;
  held.reserve(locks.size());
  for (size_t i : locks) held.emplace_back(stripes[i]);

  TxnBuilder builder(*this);
  for (auto& op : ops) CAIRN_RETURN_IF_ERROR(builder.apply(op));
  rocksdb::WriteBatch& batch = builder.finish();
  if (batch.Count() == 0) return Status::Ok();
  return from_rocksdb(db->Write(write_options, &batch), "write");
}

}  // namespace cairn::osd
