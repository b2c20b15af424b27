// ObjectStore: open/close, RocksDB tuning, and the read paths. submit() is in
// object_store_write.cc.
#include "osd/store/object_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/table.h>
#include <sys/statvfs.h>

#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "common/crc32c.h"
#include "osd/store/object_store_impl.h"
#include "osd/store/store_format.h"

namespace cairn::osd {
namespace {

using format::Onode;

// Adds signed 64-bit deltas (the object counter): every submit merges its
// delta into the same batch as its onodes, so the count is exact after a crash.
class Int64AddOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& key, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger* logger) const override {
    int64_t a = 0, b = 0;
    if ((existing && existing->size() != sizeof a) || value.size() != sizeof b) return false;
    if (existing) std::memcpy(&a, existing->data(), sizeof a);
    std::memcpy(&b, value.data(), sizeof b);
    a += b;
    new_value->assign(reinterpret_cast<const char*>(&a), sizeof a);
    return true;
  }
  const char* Name() const override { return "cairn.Int64Add"; }
};

rocksdb::CompressionType pick_compression() {
  for (auto t : rocksdb::GetSupportedCompressions()) {
    if (t == rocksdb::kLZ4Compression) return t;
  }
  return rocksdb::kNoCompression;
}

Status validate_options(const Options& o) {
  if (o.dir.empty()) return Status::InvalidArgument("store: dir is empty");
  if (o.block_size < format::kMinBlockSize || o.block_size > format::kMaxBlockSize ||
      (o.block_size & (o.block_size - 1)) != 0) {
    return Status::InvalidArgument("store: block_size must be a power of two in [4K, 4M]");
  }
  return Status::Ok();
}

// Smallest string greater than every string starting with prefix; "" if none.
std::string prefix_successor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xff) s.pop_back();
  if (!s.empty()) s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  return s;
}

Status check_object(CollectionId c, std::string_view name) {
  CAIRN_RETURN_IF_ERROR(format::validate_coll(c));
  return format::validate_name(name);
}

// Reads, decodes and returns an onode; NotFound if absent.
Result<Onode> get_onode(ObjectStore::Impl& s, const rocksdb::ReadOptions& ro,
                        const std::string& okey) {
  rocksdb::PinnableSlice v;
  rocksdb::Status rs = s.db->Get(ro, s.onode_cf, okey, &v);
  if (rs.IsNotFound()) return Status::NotFound("object not found");
  if (!rs.ok()) return from_rocksdb(rs, "get onode");
  Onode o;
  CAIRN_RETURN_IF_ERROR(Onode::decode(v.ToStringView(), &o));
  return o;
}

// Reads and verifies up to this many bytes of one extent file at a time.
constexpr size_t kExtentReadChunk = 2 << 20;

// Calls fn(block, payload) for every stored block in [first, last] in order,
// from the data CF or an extent file, each verified against its crc. Sets
// *from_extent when the failure came from an extent file (which a concurrent
// overwrite may have released or punched after this onode was read).
// dest(block, bytes) may name where the caller wants the `bytes` stored bytes
// from `block` on (nullptr: anywhere): extent data is then read straight
// there and fn's payload points into it.
template <typename Dest, typename Fn>
Status for_each_block(ObjectStore::Impl& s, rocksdb::ReadOptions ro, const std::string& okey,
                      const Onode& o, uint32_t first, uint32_t last, bool* from_extent,
                      Dest&& dest, Fn&& fn) {
  const uint32_t bs = o.block_size;
  auto ext = o.extents.lower_bound(first);
  const auto ext_end = o.extents.upper_bound(last);
  std::string buf;
  // Extent blocks before `until`, a few consecutive ones of a file per read.
  auto extents_before = [&](uint64_t until) -> Status {
    while (ext != ext_end && ext->first < until) {
      auto run_end = std::next(ext);
      size_t bytes = ext->second.len;
      for (auto prev = ext; run_end != ext_end && run_end->first < until &&
                            run_end->first == prev->first + 1 && prev->second.len == bs &&
                            run_end->second.file == ext->second.file &&
                            run_end->second.file_block == prev->second.file_block + 1 &&
                            bytes + run_end->second.len <= kExtentReadChunk;
           prev = run_end++) {
        bytes += run_end->second.len;
      }
      char* to = dest(ext->first, bytes);
      if (to == nullptr) {
        buf.resize(bytes);
        to = buf.data();
      }
      Status st = s.extents.read(ext->second.file, uint64_t{ext->second.file_block} * bs, bytes, to);
      if (!st.ok()) {
        *from_extent = true;
        return st;
      }
      size_t pos = 0;
      for (; ext != run_end; ++ext) {
        std::string_view payload(to + pos, ext->second.len);
        if (crc32c(payload) != ext->second.crc) {
          *from_extent = true;
          return Status::Corruption("extent block: crc32c mismatch");
        }
        fn(ext->first, payload);
        pos += ext->second.len;
      }
    }
    return Status::Ok();
  };

  std::string upper_key = format::data_key(okey, last + 1);
  rocksdb::Slice upper(upper_key);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator(ro, s.data_cf));
  for (it->Seek(format::data_key(okey, first)); it->Valid(); it->Next()) {
    uint32_t block = 0;
    if (it->key().size() != okey.size() + 4 ||
        !format::data_key_block(it->key().ToStringView(), &block)) {
      return Status::Corruption("data block: bad key");
    }
    CAIRN_RETURN_IF_ERROR(extents_before(block));
    if (o.extents.contains(block)) continue;  // never both; the onode wins
    std::string_view payload;
    CAIRN_RETURN_IF_ERROR(format::decode_block(it->value().ToStringView(), bs, &payload));
    fn(block, payload);
  }
  CAIRN_RETURN_IF_ERROR(from_rocksdb(it->status(), "iterate data blocks"));
  return extents_before(uint64_t{last} + 1);
}

// Runs read_once(ro, onode, &from_extent) on a snapshot, without the
// object's lock. If it failed on an extent file — which an overwrite may have
// released or punched after the snapshot was taken — runs it once more under
// the object's stripe lock, which writers hold until their releases are done:
// that answer is final.
template <typename Fn>
Status with_onode_retrying(ObjectStore::Impl& s, CollectionId c, std::string_view name,
                           bool fill_cache, Fn&& read_once) {
  const std::string okey = format::object_key(c, name);
  for (int attempt = 0;; ++attempt) {
    std::unique_lock<std::mutex> lock;
    if (attempt > 0) lock = std::unique_lock(s.stripes[ObjectStore::Impl::stripe_of(c, name)]);
    rocksdb::ManagedSnapshot snap(s.db);
    rocksdb::ReadOptions ro;
    ro.snapshot = snap.snapshot();  // onode and blocks from one point in time
    ro.fill_cache = fill_cache;
    auto o = get_onode(s, ro, okey);
    if (!o.ok()) return o.status();
    bool from_extent = false;
    Status st = read_once(ro, *o, &from_extent);
    if (st.ok() || !from_extent || attempt > 0) {
      // A missing extent file of a committed onode is lost data.
      return st.is(Code::kNotFound) ? Status::Corruption(st.message()) : st;
    }
  }
}

}  // namespace

Status from_rocksdb(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsNoSpace()) return Status::NoSpace(std::move(msg));
  if (s.IsNotFound()) return Status::NotFound(std::move(msg));
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsShutdownInProgress()) return Status::Shutdown(std::move(msg));
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return Status::Unavailable(std::move(msg));
  if (s.IsInvalidArgument()) return Status::InvalidArgument(std::move(msg));
  if (s.IsNotSupported()) return Status::NotSupported(std::move(msg));
  return Status::IoError(std::move(msg));
}

ObjectStore::Impl::~Impl() {
  if (db == nullptr) return;
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  db->Close().PermitUncheckedError();
  delete db;
}

ObjectStore::ObjectStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ObjectStore::~ObjectStore() = default;

Result<std::unique_ptr<ObjectStore>> ObjectStore::open(const Options& opts) {
  CAIRN_RETURN_IF_ERROR(validate_options(opts));
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;

  rocksdb::DBOptions dbo;
  dbo.create_if_missing = opts.create_if_missing;
  dbo.create_missing_column_families = opts.create_if_missing;
  dbo.max_background_jobs = opts.max_background_jobs;
  dbo.max_subcompactions = 1;
  dbo.max_total_wal_size = opts.max_total_wal_bytes;
  dbo.bytes_per_sync = 1 << 20;  // smooth SST/blob writeback instead of big fsync bursts
  dbo.keep_log_file_num = 4;
  // Concurrent submitters share one WAL write + fsync (group commit) and the
  // memtable inserts of a group run in parallel with the next group's WAL write.
  dbo.enable_pipelined_write = true;
  impl->statistics = rocksdb::CreateDBStatistics();
  impl->statistics->set_stats_level(rocksdb::StatsLevel::kExceptTimers);
  dbo.statistics = impl->statistics;

  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(opts.block_cache_bytes);
  auto table = [&](bool bloom) {
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    t.cache_index_and_filter_blocks = true;
    t.pin_l0_filter_and_index_blocks_in_cache = true;
    t.format_version = 5;
    if (bloom) t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    return std::shared_ptr<rocksdb::TableFactory>(rocksdb::NewBlockBasedTableFactory(t));
  };
  rocksdb::ColumnFamilyOptions meta_base;
  meta_base.write_buffer_size = opts.meta_write_buffer_bytes;
  meta_base.max_write_buffer_number = 3;
  meta_base.level_compaction_dynamic_level_bytes = true;
  meta_base.compression = pick_compression();
  meta_base.table_factory = table(false);

  rocksdb::ColumnFamilyOptions def = meta_base;
  def.merge_operator = std::make_shared<Int64AddOperator>();
  def.write_buffer_size = 4 << 20;

  rocksdb::ColumnFamilyOptions onode = meta_base;
  onode.table_factory = table(true);  // point lookups on every write and read
  rocksdb::ColumnFamilyOptions omap = meta_base;
  omap.table_factory = table(true);  // omap_get point lookups
  rocksdb::ColumnFamilyOptions meta = meta_base;

  rocksdb::ColumnFamilyOptions data = meta_base;
  data.write_buffer_size = opts.data_write_buffer_bytes;
  data.max_write_buffer_number = 4;
  data.compression = rocksdb::kNoCompression;  // checkpoints/tensors rarely compress; save CPU
  data.target_file_size_base = 64 << 20;
  data.enable_blob_files = opts.enable_blob_files;
  data.min_blob_size = opts.min_blob_size;
  data.blob_file_size = opts.blob_file_size;
  data.blob_compression_type = rocksdb::kNoCompression;
  data.enable_blob_garbage_collection = true;
  data.blob_garbage_collection_age_cutoff = opts.blob_gc_age_cutoff;
  data.table_factory = table(false);  // reads are range scans over an object's blocks

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, def},
      {format::kOnodeCf, onode},
      {format::kDataCf, data},
      {format::kOmapCf, omap},
      {format::kMetaCf, meta},
  };
  rocksdb::Status rs = rocksdb::DB::Open(dbo, opts.dir, cfs, &impl->handles, &impl->db);
  if (!rs.ok()) return from_rocksdb(rs, "open " + opts.dir);
  impl->default_cf = impl->handles[0];
  impl->onode_cf = impl->handles[1];
  impl->data_cf = impl->handles[2];
  impl->omap_cf = impl->handles[3];
  impl->meta_cf = impl->handles[4];
  impl->write_options.sync = opts.sync;

  std::string fmt;
  rs = impl->db->Get(rocksdb::ReadOptions(), impl->default_cf, format::kFormatKey, &fmt);
  if (rs.IsNotFound()) {
    fmt.assign(sizeof format::kStoreFormat, '\0');
    std::memcpy(fmt.data(), &format::kStoreFormat, sizeof format::kStoreFormat);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    CAIRN_RETURN_IF_ERROR(
        from_rocksdb(impl->db->Put(wo, impl->default_cf, format::kFormatKey, fmt), "init"));
  } else if (!rs.ok()) {
    return from_rocksdb(rs, "read format");
  } else {
    uint64_t v = 0;
    if (fmt.size() != sizeof v) return Status::Corruption("store: bad format record");
    std::memcpy(&v, fmt.data(), sizeof v);
    if (v == 1) {  // format 1 is format 2 without extent files: only the record changes
      fmt.assign(sizeof format::kStoreFormat, '\0');
      std::memcpy(fmt.data(), &format::kStoreFormat, sizeof format::kStoreFormat);
      rocksdb::WriteOptions wo;
      wo.sync = true;
      CAIRN_RETURN_IF_ERROR(from_rocksdb(
          impl->db->Put(wo, impl->default_cf, format::kFormatKey, fmt), "upgrade format"));
    } else if (v != format::kStoreFormat) {
      return Status::NotSupported("store: on-disk format " + std::to_string(v));
    }
  }
  CAIRN_RETURN_IF_ERROR(impl->extents.open(opts.dir, impl->db, impl->default_cf));
  return std::unique_ptr<ObjectStore>(new ObjectStore(std::move(impl)));
}

Status ObjectStore::submit(Transaction&& t) { return impl_->submit(std::move(t)); }

Result<std::string> ObjectStore::read(CollectionId c, std::string_view name, uint64_t offset,
                                      uint64_t length) {
  CAIRN_RETURN_IF_ERROR(check_object(c, name));
  const std::string okey = format::object_key(c, name);
  std::string out;
  Status st = with_onode_retrying(
      *impl_, c, name, true, [&](const rocksdb::ReadOptions& ro, const Onode& o, bool* from_extent) {
        out.clear();
        if (offset >= o.size) return Status::Ok();
        uint64_t end = (length == 0 || length > o.size - offset) ? o.size : offset + length;
        out.assign(end - offset, '\0');  // holes stay zero
        const uint32_t bs = o.block_size;
        // Blocks wholly inside the range are read in place: no copy.
        auto dest = [&](uint32_t block, size_t bytes) -> char* {
          uint64_t b0 = uint64_t{block} * bs;
          return b0 >= offset && b0 + bytes <= end ? out.data() + (b0 - offset) : nullptr;
        };
        return for_each_block(*impl_, ro, okey, o, static_cast<uint32_t>(offset / bs),
                              static_cast<uint32_t>((end - 1) / bs), from_extent, dest,
                              [&](uint32_t block, std::string_view payload) {
                                uint64_t b0 = uint64_t{block} * bs;
                                uint64_t from = std::max(b0, offset);
                                uint64_t to = std::min(b0 + payload.size(), end);
                                char* at = out.data() + (from - offset);
                                const char* src = payload.data() + (from - b0);
                                if (from < to && at != src) std::memcpy(at, src, to - from);
                              });
      });
  if (!st.ok()) return st;
  return out;
}

Result<uint32_t> ObjectStore::checksum(CollectionId c, std::string_view name) {
  CAIRN_RETURN_IF_ERROR(check_object(c, name));
  const std::string okey = format::object_key(c, name);
  static const std::string kZeros(64 * 1024, '\0');
  uint32_t crc = 0;
  uint64_t pos = 0;  // bytes covered so far
  auto add_zeros = [&](uint64_t n) {
    for (; n > 0; n -= std::min<uint64_t>(n, kZeros.size())) {
      crc = crc32c(std::string_view(kZeros).substr(0, std::min<uint64_t>(n, kZeros.size())), crc);
    }
  };
  // A scrub should not evict the working set: no block cache fill.
  Status st = with_onode_retrying(
      *impl_, c, name, false, [&](const rocksdb::ReadOptions& ro, const Onode& o, bool* from_extent) {
        crc = 0;
        pos = 0;
        const uint32_t bs = o.block_size;
        if (o.size > 0) {
          CAIRN_RETURN_IF_ERROR(for_each_block(
              *impl_, ro, okey, o, 0, o.num_blocks() - 1, from_extent,
              [](uint32_t, size_t) -> char* { return nullptr; },
              [&](uint32_t block, std::string_view p) {
                uint64_t b0 = uint64_t{block} * bs;
                add_zeros(b0 - pos);
                p = p.substr(0, std::min<uint64_t>(p.size(), o.size - b0));
                crc = crc32c(p, crc);
                pos = b0 + p.size();
              }));
        }
        add_zeros(o.size - pos);
        return Status::Ok();
      });
  if (!st.ok()) return st;
  return crc;
}

Result<ObjectStat> ObjectStore::stat(CollectionId c, std::string_view name) {
  CAIRN_RETURN_IF_ERROR(check_object(c, name));
  auto o = get_onode(*impl_, rocksdb::ReadOptions(), format::object_key(c, name));
  if (!o.ok()) return o.status();
  return ObjectStat{o->size, o->version, o->mtime_ns};
}

Result<std::string> ObjectStore::getxattr(CollectionId c, std::string_view name,
                                          std::string_view key) {
  auto all = getxattrs(c, name);
  if (!all.ok()) return all.status();
  auto it = all->find(std::string(key));
  if (it == all->end()) return Status::NotFound("xattr not found");
  return std::move(it->second);
}

Result<std::map<std::string, std::string>> ObjectStore::getxattrs(CollectionId c,
                                                                  std::string_view name) {
  CAIRN_RETURN_IF_ERROR(check_object(c, name));
  auto o = get_onode(*impl_, rocksdb::ReadOptions(), format::object_key(c, name));
  if (!o.ok()) return o.status();
  return std::move(o->xattrs);
}

Result<std::map<std::string, std::string>> ObjectStore::omap_get(
    CollectionId c, std::string_view name, const std::vector<std::string>& keys) {
  CAIRN_RETURN_IF_ERROR(check_object(c, name));
  rocksdb::ManagedSnapshot snap(impl_->db);
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.snapshot();
  const std::string okey = format::object_key(c, name);
  auto o = get_onode(*impl_, ro, okey);
  if (!o.ok()) return o.status();
  std::map<std::string, std::string> out;
  if (!(o->flags & Onode::kFlagOmap) || keys.empty()) return out;
  std::vector<std::string> dbkeys;
  dbkeys.reserve(keys.size());
  for (const auto& k : keys) dbkeys.push_back(format::omap_key(okey, k));
  std::vector<rocksdb::Slice> slices(dbkeys.begin(), dbkeys.end());
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  impl_->db->MultiGet(ro, impl_->omap_cf, keys.size(), slices.data(), values.data(),
                      statuses.data());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    CAIRN_RETURN_IF_ERROR(from_rocksdb(statuses[i], "omap get"));
    out[keys[i]] = values[i].ToString();
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> ObjectStore::omap_list(
    CollectionId c, std::string_view name, std::string_view after, std::string_view prefix,
    size_t max, bool* more) {
  CAIRN_RETURN_IF_ERROR(check_object(c, name));
  if (max == 0) return Status::InvalidArgument("omap_list: max must be > 0");
  if (more) *more = false;
  rocksdb::ManagedSnapshot snap(impl_->db);
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.snapshot();
  const std::string okey = format::object_key(c, name);
  auto o = get_onode(*impl_, ro, okey);
  if (!o.ok()) return o.status();
  std::vector<std::pair<std::string, std::string>> out;
  if (!(o->flags & Onode::kFlagOmap)) return out;

  std::string succ = prefix_successor(prefix);
  std::string upper_key = succ.empty() ? format::object_end(c, name) : okey + succ;
  rocksdb::Slice upper(upper_key);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->omap_cf));
  const std::string after_key = okey + std::string(after);
  it->Seek(after > prefix ? after_key : okey + std::string(prefix));
  if (it->Valid() && !after.empty() && it->key() == after_key) it->Next();
  for (; it->Valid(); it->Next()) {
    if (out.size() == max) {
      if (more) *more = true;
      break;
    }
    out.emplace_back(it->key().ToString().substr(okey.size()), it->value().ToString());
  }
  CAIRN_RETURN_IF_ERROR(from_rocksdb(it->status(), "omap list"));
  return out;
}

Result<std::vector<std::pair<std::string, ObjectStat>>> ObjectStore::list_objects(
    CollectionId c, std::string_view after, size_t max, bool* more) {
  CAIRN_RETURN_IF_ERROR(format::validate_coll(c));
  if (max == 0) return Status::InvalidArgument("list_objects: max must be > 0");
  if (more) *more = false;
  std::string upper_key = format::coll_end(c);
  rocksdb::Slice upper(upper_key);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->onode_cf));
  const std::string after_key = format::object_key(c, after);
  it->Seek(after.empty() ? format::coll_prefix(c) : after_key);
  if (it->Valid() && !after.empty() && it->key() == after_key) it->Next();
  std::vector<std::pair<std::string, ObjectStat>> out;
  for (; it->Valid(); it->Next()) {
    if (out.size() == max) {
      if (more) *more = true;
      break;
    }
    Onode o;
    CAIRN_RETURN_IF_ERROR(Onode::decode(it->value().ToStringView(), &o));
    out.emplace_back(std::string(format::object_name(it->key().ToStringView())),
                     ObjectStat{o.size, o.version, o.mtime_ns});
  }
  CAIRN_RETURN_IF_ERROR(from_rocksdb(it->status(), "list objects"));
  return out;
}

Result<std::string> ObjectStore::meta_get(CollectionId c, std::string_view key) {
  CAIRN_RETURN_IF_ERROR(format::validate_coll(c));
  std::string v;
  rocksdb::Status rs =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->meta_cf, format::meta_key(c, key), &v);
  if (rs.IsNotFound()) return Status::NotFound("meta key not found");
  CAIRN_RETURN_IF_ERROR(from_rocksdb(rs, "meta get"));
  return v;
}

Result<std::vector<std::pair<std::string, std::string>>> ObjectStore::meta_list(
    CollectionId c, std::string_view prefix) {
  CAIRN_RETURN_IF_ERROR(format::validate_coll(c));
  const std::string start = format::meta_key(c, prefix);
  std::string succ = prefix_successor(start);  // never empty: the pool byte is < 0x80
  rocksdb::Slice upper(succ);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->meta_cf));
  std::vector<std::pair<std::string, std::string>> out;
  for (it->Seek(start); it->Valid(); it->Next()) {
    out.emplace_back(it->key().ToString().substr(format::kCollPrefixLen), it->value().ToString());
  }
  CAIRN_RETURN_IF_ERROR(from_rocksdb(it->status(), "meta list"));
  return out;
}

Result<std::vector<CollectionId>> ObjectStore::list_collections() {
  // Skip-scan: one seek per collection, not one step per key.
  std::set<CollectionId> found;
  rocksdb::ManagedSnapshot snap(impl_->db);
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.snapshot();
  for (auto* cf : {impl_->onode_cf, impl_->meta_cf}) {
    std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, cf));
    for (it->SeekToFirst(); it->Valid();) {
      CollectionId c;
      if (!format::decode_coll(it->key().ToStringView(), &c) || c.pool < 0) {
        return Status::Corruption("bad collection key");
      }
      found.insert(c);
      it->Seek(format::coll_end(c));
    }
    CAIRN_RETURN_IF_ERROR(from_rocksdb(it->status(), "list collections"));
  }
  return std::vector<CollectionId>(found.begin(), found.end());
}

Result<StoreStats> ObjectStore::stats() {
  StoreStats st;
  for (auto* cf : impl_->handles) {
    uint64_t v = 0;
    if (impl_->db->GetIntProperty(cf, rocksdb::DB::Properties::kLiveSstFilesSize, &v)) {
      st.used_bytes += v;
    }
    if (impl_->db->GetIntProperty(cf, rocksdb::DB::Properties::kLiveBlobFileSize, &v)) {
      st.used_bytes += v;
    }
  }
  auto counter = [&](std::string_view key, uint64_t* out) -> Status {
    std::string v;
    rocksdb::Status rs = impl_->db->Get(rocksdb::ReadOptions(), impl_->default_cf, key, &v);
    if (rs.IsNotFound()) return Status::Ok();
    CAIRN_RETURN_IF_ERROR(from_rocksdb(rs, "read counter"));
    int64_t n = 0;
    if (v.size() != sizeof n) return Status::Corruption("bad counter " + std::string(key));
    std::memcpy(&n, v.data(), sizeof n);
    *out = n > 0 ? static_cast<uint64_t>(n) : 0;
    return Status::Ok();
  };
  CAIRN_RETURN_IF_ERROR(counter(format::kObjectCountKey, &st.objects));
  uint64_t extent_bytes = 0;
  CAIRN_RETURN_IF_ERROR(counter(format::kExtentBytesKey, &extent_bytes));
  st.used_bytes += extent_bytes;
  struct statvfs fs;
  if (::statvfs(impl_->opts.dir.c_str(), &fs) != 0) {
    return Status::IoError("statvfs " + impl_->opts.dir + ": " + std::strerror(errno));
  }
  st.fs_total_bytes = uint64_t{fs.f_blocks} * fs.f_frsize;
  st.fs_avail_bytes = uint64_t{fs.f_bavail} * fs.f_frsize;
  return st;
}

Status ObjectStore::put_superblock(std::string key, std::string value) {
  rocksdb::WriteOptions wo;
  wo.sync = true;  // identity must survive a crash regardless of opts.sync
  return from_rocksdb(impl_->db->Put(wo, impl_->default_cf, format::kSuperblockPrefix + key, value),
                      "put superblock");
}

Result<std::string> ObjectStore::get_superblock(std::string_view key) {
  std::string v;
  rocksdb::Status rs = impl_->db->Get(rocksdb::ReadOptions(), impl_->default_cf,
                                      format::kSuperblockPrefix + std::string(key), &v);
  if (rs.IsNotFound()) return Status::NotFound("superblock key not found");
  CAIRN_RETURN_IF_ERROR(from_rocksdb(rs, "get superblock"));
  return v;
}

std::string ObjectStore::rocksdb_stats() {
  static const std::pair<rocksdb::Tickers, const char*> kTickers[] = {
      {rocksdb::BYTES_WRITTEN, "user_bytes_written"},
      {rocksdb::WAL_FILE_BYTES, "wal_bytes_written"},
      {rocksdb::WAL_FILE_SYNCED, "wal_syncs"},
      {rocksdb::WRITE_DONE_BY_SELF, "write_groups_led"},
      {rocksdb::WRITE_DONE_BY_OTHER, "writes_joined_group"},
      {rocksdb::FLUSH_WRITE_BYTES, "flush_bytes_written"},
      {rocksdb::COMPACT_READ_BYTES, "compaction_bytes_read"},
      {rocksdb::COMPACT_WRITE_BYTES, "compaction_bytes_written"},
      {rocksdb::BLOB_DB_BLOB_FILE_BYTES_WRITTEN, "blob_file_bytes_written"},
      {rocksdb::BLOB_DB_GC_NUM_KEYS_RELOCATED, "blob_gc_keys_relocated"},
      {rocksdb::BLOB_DB_GC_BYTES_RELOCATED, "blob_gc_bytes_relocated"},
      {rocksdb::STALL_MICROS, "write_stall_micros"},
  };
  std::string out;
  for (const auto& [t, name] : kTickers) {
    out += name;
    out += ' ';
    out += std::to_string(impl_->statistics->getTickerCount(t));
    out += '\n';
  }
  return out;
}

Status ObjectStore::reclaim_space() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  CAIRN_RETURN_IF_ERROR(from_rocksdb(impl_->db->Flush(fo, impl_->handles), "flush"));
  auto st = stats();
  if (!st.ok()) return st.status();
  uint64_t blob_bytes = 0;
  impl_->db->GetIntProperty(impl_->data_cf, rocksdb::DB::Properties::kLiveBlobFileSize, &blob_bytes);
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  co.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
  // Rewriting a blob file needs room for its live part before the old file goes.
  co.blob_garbage_collection_age_cutoff = st->fs_avail_bytes > blob_bytes + (blob_bytes >> 3) ? 1.0 : 0.25;
  return from_rocksdb(impl_->db->CompactRange(co, impl_->data_cf, nullptr, nullptr), "compact");
}

Status ObjectStore::quiesce() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  CAIRN_RETURN_IF_ERROR(from_rocksdb(impl_->db->Flush(fo, impl_->handles), "flush"));
  auto busy = [&] {
    uint64_t v = 0;
    for (auto* cf : impl_->handles) {
      for (const auto* p : {&rocksdb::DB::Properties::kCompactionPending,
                            &rocksdb::DB::Properties::kMemTableFlushPending}) {
        if (impl_->db->GetIntProperty(cf, *p, &v) && v > 0) return true;
      }
    }
    for (const auto* p : {&rocksdb::DB::Properties::kNumRunningCompactions,
                          &rocksdb::DB::Properties::kNumRunningFlushes}) {
      if (impl_->db->GetIntProperty(*p, &v) && v > 0) return true;
    }
    return false;
  };
  // Bounded: background work that never settles is reported, not waited on forever.
  for (int i = 0; i < 6000; ++i) {
    if (!busy()) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::TimedOut("quiesce: background work still running after 5 minutes");
}

}  // namespace cairn::osd
