// ObjectStore::submit: turns a Transaction into one RocksDB WriteBatch.
//
// Ops are applied in order to an in-memory overlay (onodes and data blocks
// touched so far) so later ops see earlier ones, e.g. two partial writes to
// one block in one transaction. Onodes and blocks are emitted into the batch
// once, at the end, in their final state; omap, meta and range deletions go
// into the batch as they come, which is correct because RocksDB applies a
// batch in order and the final onode/block records never conflict with them.
//
// Large writes go to an extent file instead (Options::extent_min_bytes): the
// file is written and synced while the ops are applied, the onode's extent
// refs point at it, and the batch adds its 'E' key; files an object stops
// referencing are unlinked only after the batch committed.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

#include "common/crc32c.h"
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
  ~TxnBuilder();

  Status apply(Transaction::Op& op);
  // Emits the overlay into the batch; returns it.
  rocksdb::WriteBatch& finish();
  // Before the batch is written: makes the new extent files' names durable.
  Status prepare_commit();
  // The batch committed: releases what it stopped referencing.
  void committed();
  // The batch write failed: it may still be in the WAL, so the new files stay
  // for the next open to judge.
  void commit_failed() { created_.clear(); }

 private:
  struct OnodeState {
    bool existed = false;  // in the DB before this transaction
    bool exists = false;
    bool dirty = false;
    Onode onode;
    std::map<uint32_t, format::ExtentRef> db_extents;  // as loaded from the DB
  };

  Result<OnodeState*> load(CollectionId c, const std::string& okey);
  void create(OnodeState& st);
  // Current payload-with-crc-slot of a block ("" for a hole).
  Result<std::string> load_block(CollectionId c, const std::string& okey, const OnodeState& st,
                                 uint32_t block);
  void put_block(const std::string& okey, OnodeState& st, uint32_t block, std::string value);
  void delete_blocks(const std::string& okey, OnodeState& st, uint32_t from, uint32_t to);
  Status write(CollectionId c, const std::string& okey, OnodeState& st, uint64_t off,
               std::string_view data);
  Status write_blocks(CollectionId c, const std::string& okey, OnodeState& st, uint64_t off,
                      std::string_view data);
  // [off, off + data.size()) to a new extent file; off is block-aligned.
  Status write_extent(const std::string& okey, OnodeState& st, uint64_t off,
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
  int64_t extent_bytes_delta_ = 0;
  std::vector<uint64_t> created_;   // extent files written by this txn (ids in flight)
  std::set<uint64_t> wiped_files_;  // referenced by objects of removed collections
  // Filled by finish(), acted on by committed().
  std::vector<uint64_t> released_;    // no longer referenced: unlink
  std::vector<uint64_t> unused_new_;  // created but referenced by no final onode
  std::vector<std::pair<uint64_t, std::pair<uint64_t, uint64_t>>> punches_;  // file, off, len
};

TxnBuilder::~TxnBuilder() {
  // Not committed (an op failed): nothing references the new files.
  for (uint64_t id : created_) {
    ::unlink(s_.extents.path(id).c_str());
    s_.extents.settle(id);
  }
}

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
      st.db_extents = st.onode.extents;
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

Result<std::string> TxnBuilder::load_block(CollectionId c, const std::string& okey,
                                           const OnodeState& st, uint32_t block) {
  const uint32_t bs = st.onode.block_size;
  if (auto ref = st.onode.extents.find(block); ref != st.onode.extents.end()) {
    std::string value(format::kBlockCrcLen + ref->second.len, '\0');
    CAIRN_RETURN_IF_ERROR(s_.extents.read(ref->second.file, uint64_t{ref->second.file_block} * bs,
                                          ref->second.len, value.data() + format::kBlockCrcLen));
    if (crc32c(std::string_view(value).substr(format::kBlockCrcLen)) != ref->second.crc) {
      return Status::Corruption("extent block: crc32c mismatch");
    }
    return value;
  }
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

void TxnBuilder::put_block(const std::string& okey, OnodeState& st, uint32_t block,
                           std::string value) {
  st.onode.extents.erase(block);
  if (trim_zeros(&value)) {
    blocks_[format::data_key(okey, block)] = std::move(value);
  } else {
    blocks_[format::data_key(okey, block)] = std::nullopt;
  }
}

void TxnBuilder::delete_blocks(const std::string& okey, OnodeState& st, uint32_t from,
                               uint32_t to) {
  auto& ext = st.onode.extents;
  // Point deletes, not DeleteRange: the range is bounded by the object size,
  // and many range tombstones slow down every read of the column family.
  // None for blocks in extent files: they have no data CF record (or already
  // a pending delete).
  std::string key = format::data_key(okey, 0);
  for (uint32_t b = from; b < to; ++b) {
    if (ext.contains(b)) continue;
    format::set_data_key_block(&key, b);
    blocks_[key] = std::nullopt;
  }
  ext.erase(ext.lower_bound(from), ext.lower_bound(to));
}

Status TxnBuilder::write(CollectionId c, const std::string& okey, OnodeState& st, uint64_t off,
                         std::string_view data) {
  const uint32_t bs = st.onode.block_size;
  const uint64_t end = off + data.size();
  // The extent part: whole blocks, and a short last block when the write
  // reaches the object's end (no stored byte follows it in that block).
  const uint64_t ext_begin = (off + bs - 1) / bs * bs;
  const uint64_t ext_end = end >= st.onode.size ? end : end / bs * bs;
  const uint64_t min = s_.opts.extent_min_bytes;
  if (min == 0 || ext_end <= ext_begin || ext_end - ext_begin < min) {
    return write_blocks(c, okey, st, off, data);
  }
  CAIRN_RETURN_IF_ERROR(write_blocks(c, okey, st, off, data.substr(0, ext_begin - off)));
  CAIRN_RETURN_IF_ERROR(
      write_extent(okey, st, ext_begin, data.substr(ext_begin - off, ext_end - ext_begin)));
  return write_blocks(c, okey, st, ext_end, data.substr(ext_end - off));
}

Status TxnBuilder::write_extent(const std::string& okey, OnodeState& st, uint64_t off,
                                std::string_view data) {
  auto id = s_.extents.allocate();
  if (!id.ok()) return id.status();
  created_.push_back(*id);
  CAIRN_RETURN_IF_ERROR(s_.extents.create(*id, data, s_.opts.sync));
  const uint32_t bs = st.onode.block_size;
  std::string key = format::data_key(okey, 0);
  const auto first = static_cast<uint32_t>(off / bs);
  for (uint32_t i = 0; uint64_t{i} * bs < data.size(); ++i) {
    std::string_view piece = data.substr(uint64_t{i} * bs, bs);
    format::ExtentRef ref{*id, i, static_cast<uint32_t>(piece.size()), crc32c(piece)};
    st.onode.extents[first + i] = ref;
    format::set_data_key_block(&key, first + i);
    // A block lives in one place. A new object has no data CF records, only
    // maybe overlay ones from earlier ops.
    if (st.existed) {
      blocks_[key] = std::nullopt;
    } else {
      blocks_.erase(key);
    }
  }
  st.onode.size = std::max(st.onode.size, off + data.size());
  st.dirty = true;
  return Status::Ok();
}

Status TxnBuilder::write_blocks(CollectionId c, const std::string& okey, OnodeState& st,
                                uint64_t off, std::string_view data) {
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
      auto old = load_block(c, okey, st, block);
      if (!old.ok()) return old.status();
      value = std::move(*old);
      if (value.empty()) value.resize(format::kBlockCrcLen);
    }
    size_t end = format::kBlockCrcLen + in_off + n;
    if (value.size() < end) value.resize(end, '\0');
    std::memcpy(value.data() + format::kBlockCrcLen + in_off, data.data() + pos, n);
    put_block(okey, st, block, std::move(value));
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
    delete_blocks(okey, st, keep, o.num_blocks());
    if (size % bs != 0) {  // trim the new last block so a later grow reads zeros
      auto block = static_cast<uint32_t>(size / bs);
      auto old = load_block(c, okey, st, block);
      if (!old.ok()) return old.status();
      std::string value = std::move(*old);
      if (value.size() > format::kBlockCrcLen + size % bs) {
        value.resize(format::kBlockCrcLen + size % bs);
        put_block(okey, st, block, std::move(value));
      }
    }
  }
  o.size = size;
  st.dirty = true;
  return Status::Ok();
}

void TxnBuilder::remove(const std::string& okey, OnodeState& st) {
  if (!st.exists) return;
  delete_blocks(okey, st, 0, st.onode.num_blocks());
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
    // Count the objects going away and collect their extent files.
    rocksdb::ReadOptions ro;
    rocksdb::Slice upper(end);
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(s_.db->NewIterator(ro, s_.onode_cf));
    int64_t n = 0;
    for (it->Seek(begin); it->Valid(); it->Next()) {
      ++n;
      Onode o;
      CAIRN_RETURN_IF_ERROR(Onode::decode(it->value().ToStringView(), &o));
      for (const auto& [b, ref] : o.extents) {
        wiped_files_.insert(ref.file);
        extent_bytes_delta_ -= ref.len;
      }
    }
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
  // Extent files: which the final state references, which it dropped.
  std::set<uint64_t> live;
  for (const auto& [key, st] : onodes_) {
    if (!st.exists) continue;
    for (const auto& [b, ref] : st.onode.extents) live.insert(ref.file);
  }
  std::set<uint64_t> dropped = wiped_files_;
  for (const auto& [key, st] : onodes_) {
    if (!st.dirty) continue;
    const auto none = std::map<uint32_t, format::ExtentRef>();
    const auto& now = st.exists ? st.onode.extents : none;
    for (const auto& [b, ref] : st.db_extents) {
      extent_bytes_delta_ -= ref.len;
      if (!live.contains(ref.file)) {
        dropped.insert(ref.file);
      } else if (auto it = now.find(b); it == now.end() || !(it->second == ref)) {
        // The file lives on for other blocks: give this block's bytes back.
        uint64_t bs = st.onode.block_size;
        punches_.push_back({ref.file, {ref.file_block * bs, ref.len}});
      }
    }
    for (const auto& [b, ref] : now) extent_bytes_delta_ += ref.len;
  }
  for (uint64_t id : dropped) {
    batch_.Delete(s_.default_cf, format::extent_key(format::kExtentRefPrefix, id));
    batch_.Put(s_.default_cf, format::extent_key(format::kExtentDeletePrefix, id), "");
    released_.push_back(id);
  }
  for (uint64_t id : created_) {
    if (!live.contains(id)) {
      unused_new_.push_back(id);
      continue;
    }
    for (const auto& [key, st] : onodes_) {  // its owner: the one onode referencing it
      if (!st.exists) continue;
      bool mine = std::any_of(st.onode.extents.begin(), st.onode.extents.end(),
                              [&](const auto& e) { return e.second.file == id; });
      if (mine) {
        batch_.Put(s_.default_cf, format::extent_key(format::kExtentRefPrefix, id), key);
        break;
      }
    }
  }
  if (extent_bytes_delta_ != 0) {
    std::string v(sizeof extent_bytes_delta_, '\0');
    std::memcpy(v.data(), &extent_bytes_delta_, sizeof extent_bytes_delta_);
    batch_.Merge(s_.default_cf, format::kExtentBytesKey, v);
  }
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

Status TxnBuilder::prepare_commit() {
  if (created_.empty() || !s_.opts.sync) return Status::Ok();
  return s_.extents.sync_dir();
}

void TxnBuilder::committed() {
  for (uint64_t id : released_) s_.extents.release(id);
  for (const auto& [id, range] : punches_) s_.extents.punch(id, range.first, range.second);
  for (uint64_t id : unused_new_) ::unlink(s_.extents.path(id).c_str());
  for (uint64_t id : created_) s_.extents.settle(id);
  created_.clear();
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
  CAIRN_RETURN_IF_ERROR(builder.prepare_commit());
  Status st = from_rocksdb(db->Write(write_options, &batch), "write");
  if (!st.ok()) {
    builder.commit_failed();
    return st;
  }
  builder.committed();
  return Status::Ok();
}

}  // namespace cairn::osd
