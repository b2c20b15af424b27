// ObjectStore: the per-OSD object store, on RocksDB.
//
// Objects live in collections (one per PG). An object has byte data (up to
// kMaxObjectSize, stored in fixed blocks, each with a crc32c), a size, the PG
// log version and mtime that last stamped it, xattrs (small, kept with the
// object's metadata) and an omap (sorted key/values, possibly many). Every
// collection also has its own metadata keys (the OSD keeps PG log and PG info
// there). All changes go through a Transaction, applied atomically and
// durably. The on-disk format is described in docs/on-disk-format.md.
//
// RocksDB stays behind the pimpl: this header is included by the whole OSD.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/cluster_map.h"
#include "common/codec.h"
#include "common/status.h"

namespace cairn::osd {

// One per PG. REQUIRES (checked, InvalidArgument): pool >= 0.
struct CollectionId {
  PoolId pool = 0;
  uint32_t pg = 0;
  auto operator<=>(const CollectionId&) const = default;
};

struct ObjectStat {
  uint64_t size = 0;
  uint64_t version = 0;   // PG log version that last wrote it (set_version)
  uint64_t mtime_ns = 0;  // set by set_version only
};

// A batch of mutations on objects of one or more collections plus collection
// metadata, applied atomically and durably by ObjectStore::submit. Ops apply
// in the order they were added; a later op sees the effect of earlier ones.
// Object names: 1..kMaxObjectNameLen bytes, any byte except NUL.
// If any op is invalid (bad name, size over kMaxObjectSize) submit fails and
// nothing is applied.
class Transaction {
 public:
  enum class OpType : uint8_t {
    kTouch = 1,
    kWrite = 2,
    kWriteFull = 3,
    kTruncate = 4,
    kRemove = 5,
    kSetXattr = 6,
    kRmXattr = 7,
    kOmapSet = 8,
    kOmapRm = 9,
    kOmapClear = 10,
    kSetVersion = 11,
    kMetaPut = 12,
    kMetaRm = 13,
    kRemoveCollection = 14,
  };
  // One op; which fields are meaningful depends on type (see the adders).
  struct Op {
    OpType type = OpType::kTouch;
    CollectionId c;
    std::string name;     // object name; meta key for kMetaPut/kMetaRm
    uint64_t offset = 0;  // write offset, truncate size, version
    uint64_t mtime_ns = 0;
    std::string key;   // xattr key
    std::string data;  // write data, xattr value, meta value
    std::map<std::string, std::string> kvs;
    std::vector<std::string> keys;
  };

  // Creates the object if absent.
  void touch(CollectionId c, std::string name);
  // Writes data at offset: creates the object, extends its size, holes read
  // as zeros. An empty write creates the object but does not extend it.
  void write(CollectionId c, std::string name, uint64_t offset, std::string data);
  // Replaces the contents (xattrs and omap are kept); creates if absent.
  void write_full(CollectionId c, std::string name, std::string data);
  // Shrinks, or zero-extends; creates if absent.
  void truncate(CollectionId c, std::string name, uint64_t size);
  // Removes object, data, xattrs and omap. No-op if absent.
  void remove(CollectionId c, std::string name);
  // Creates the object if absent.
  void setxattr(CollectionId c, std::string name, std::string key, std::string value);
  // No-op if the object or key is absent.
  void rmxattr(CollectionId c, std::string name, std::string key);
  // Creates the object if absent.
  void omap_set(CollectionId c, std::string name, std::map<std::string, std::string> kvs);
  // No-op for absent object or keys.
  void omap_rm(CollectionId c, std::string name, std::vector<std::string> keys);
  void omap_clear(CollectionId c, std::string name);
  // Stamps the object (creates if absent).
  void set_version(CollectionId c, std::string name, uint64_t version, uint64_t mtime_ns);
  void meta_put(CollectionId c, std::string key, std::string value);
  void meta_rm(CollectionId c, std::string key);
  // Everything in the collection: objects, their data, xattrs, omap, and meta.
  // Takes every object lock: meant for the rare "PG moved away" case.
  void remove_collection(CollectionId c);

  bool empty() const { return ops_.empty(); }
  // Approximate payload size (data, keys, values): for throttling.
  size_t bytes() const { return bytes_; }
  const std::vector<Op>& ops() const { return ops_; }
  // Moves the ops out, leaving the transaction empty.
  std::vector<Op> release_ops() {
    bytes_ = 0;
    return std::move(ops_);
  }

  // Wire form, e.g. for a primary to ship to replicas. decode never
  // half-succeeds: Corruption on any malformed input.
  void encode(Encoder& e) const;
  static Result<Transaction> decode(Decoder& d);

 private:
  Op& add(OpType type, CollectionId c, std::string name);
  std::vector<Op> ops_;
  size_t bytes_ = 0;
};

struct StoreStats {
  // Live SST + blob file bytes (physical, incl. garbage not yet collected)
  // plus the referenced bytes of extent files.
  uint64_t used_bytes = 0;
  uint64_t objects = 0;  // exact count of objects
  uint64_t fs_total_bytes = 0;  // of the filesystem holding Options::dir
  uint64_t fs_avail_bytes = 0;
};

struct Options {
  // Directory of the RocksDB instance. Required.
  std::string dir;
  // Create the store if dir holds none. Default: true.
  bool create_if_missing = true;
  // fsync the WAL before submit returns. Default: true (never false in production).
  bool sync = true;
  // Data block size for objects created from now on (each object remembers
  // its own). Power of two in [4 KiB, 4 MiB]. Default: 64 KiB.
  uint32_t block_size = 64 * 1024;
  // LRU block cache shared by all column families. Default: 256 MiB.
  size_t block_cache_bytes = 256 << 20;
  // Data block values at least this big go to blob files (written once, not
  // rewritten by compaction). Default: 16 KiB.
  uint64_t min_blob_size = 16 * 1024;
  // Writes that put at least this many bytes into whole blocks (or into
  // blocks up to the object's end, e.g. any write_full this big) go to an
  // extent file beside RocksDB: written once and synced before the commit
  // that references it, instead of going through the WAL and then a blob
  // file. Below it, a file per write (create, sync, inode, 4 KiB rounding,
  // an open per read) costs more than RocksDB's group-committed path.
  // 0 = never. Default: 256 KiB.
  uint64_t extent_min_bytes = 256 * 1024;
  // Store big data blocks in blob files (BlobDB). Default: true. The
  // benchmark turns it off to measure what it saves.
  bool enable_blob_files = true;
  // Blob GC: blobs in the oldest this fraction of blob files are relocated
  // when compaction touches their keys, reclaiming overwritten/removed data.
  // Higher reclaims space sooner but rewrites live data more. Default: 0.25.
  double blob_gc_age_cutoff = 0.25;
  // Target size of one blob file. Default: 256 MiB.
  uint64_t blob_file_size = 256ull << 20;
  // Memtable size of the data column family. Default: 64 MiB.
  size_t data_write_buffer_bytes = 64 << 20;
  // Memtable size of each metadata column family (onode, omap, meta). Default: 16 MiB.
  size_t meta_write_buffer_bytes = 16 << 20;
  // Flush CFs that pin old WAL files once the WAL exceeds this. Default: 512 MiB.
  uint64_t max_total_wal_bytes = 512ull << 20;
  // RocksDB background flush + compaction threads (sized for a 2-core box). Default: 2.
  int max_background_jobs = 2;
};

class ObjectStore {
 public:
  // Opens (or creates, see Options::create_if_missing) the store in opts.dir.
  static Result<std::unique_ptr<ObjectStore>> open(const Options& opts);
  ~ObjectStore();
  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

  // Thread-safe. Applies t atomically and (opts.sync) durably before
  // returning. Concurrent submits group-commit in RocksDB's write group.
  // Transactions touching the same object are serialized by striped
  // per-object locks (held across the RocksDB write), so read-modify-write of
  // partial blocks is safe; the order of transactions on one object is the
  // caller's job. Errors: InvalidArgument, TooLarge (validation, nothing
  // applied), Corruption (a block to be partially rewritten fails its crc),
  // NoSpace, IoError.
  Status submit(Transaction&& t);

  // Reads [offset, offset+length) clipped to the object's size; length 0
  // means to the end; offset >= size gives an empty string. NotFound if
  // absent. Every block read is verified against its crc32c: Corruption on
  // mismatch, never bad bytes.
  Result<std::string> read(CollectionId c, std::string_view name, uint64_t offset, uint64_t length);
  Result<ObjectStat> stat(CollectionId c, std::string_view name);
  // NotFound if the object or key is absent.
  Result<std::string> getxattr(CollectionId c, std::string_view name, std::string_view key);
  Result<std::map<std::string, std::string>> getxattrs(CollectionId c, std::string_view name);
  // Missing keys are omitted. NotFound if the object is absent.
  Result<std::map<std::string, std::string>> omap_get(CollectionId c, std::string_view name,
                                                      const std::vector<std::string>& keys);
  // Up to max (> 0) entries with key > after and starting with prefix, in key
  // order; *more (if non-null) says whether more follow. NotFound if absent.
  Result<std::vector<std::pair<std::string, std::string>>> omap_list(CollectionId c,
                                                                     std::string_view name,
                                                                     std::string_view after,
                                                                     std::string_view prefix,
                                                                     size_t max, bool* more);
  // Up to max (> 0) objects with name > after, in bytewise name order.
  Result<std::vector<std::pair<std::string, ObjectStat>>> list_objects(CollectionId c,
                                                                       std::string_view after,
                                                                       size_t max, bool* more);
  // NotFound if absent.
  Result<std::string> meta_get(CollectionId c, std::string_view key);
  // All meta entries of c whose key starts with prefix, in key order.
  Result<std::vector<std::pair<std::string, std::string>>> meta_list(CollectionId c,
                                                                     std::string_view prefix);
  // Collections that hold at least one object or meta key, in order.
  Result<std::vector<CollectionId>> list_collections();
  Result<StoreStats> stats();
  // Deep-scrub helper: crc32c (seed 0) of the whole object data, holes as
  // zeros, verifying every block on the way. Corruption on mismatch.
  Result<uint32_t> checksum(CollectionId c, std::string_view name);

  // Store-wide identity records (osd id, fsid), applied durably.
  Status put_superblock(std::string key, std::string value);
  Result<std::string> get_superblock(std::string_view key);  // NotFound if absent

  // For metrics/debug: "name value" lines of RocksDB counters (user, WAL,
  // flush, compaction and blob bytes written; blob GC).
  std::string rocksdb_stats();
  // Flushes all memtables and waits until no flush or compaction is pending
  // or running. For benchmarks and tests that measure steady-state I/O.
  Status quiesce();
  // Gives the space of removed objects back to the filesystem: flushes
  // every memtable (which releases the WAL files holding them) and compacts
  // the data column family, rewriting live blobs out of files that hold
  // garbage. Rewrites every blob file when the filesystem has room for the
  // live data, else only the oldest quarter. Blocks; for an OSD that is
  // full and has seen removals.
  Status reclaim_space();

  struct Impl;  // opaque: the RocksDB side, object_store_impl.h

 private:
  friend class ObjectStoreTestPeer;
  explicit ObjectStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::osd
