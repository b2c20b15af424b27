// Internal: ObjectStore's RocksDB state, shared by object_store.cc (open,
// reads), object_store_write.cc (submit) and the test peer.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/statistics.h>

#include <array>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "osd/store/object_store.h"

namespace cairn::osd {

// Maps a RocksDB status onto ours; `what` says which operation failed.
Status from_rocksdb(const rocksdb::Status& s, std::string_view what);
// Maps an errno onto ours (ENOSPC/EDQUOT: NoSpace).
Status from_errno(int err, std::string_view what);

// Extent files: large writes go to <dir>/extents/<16 hex id>, written and
// synced before the batch that references them commits (extent_files.cc,
// docs/on-disk-format.md). A file belongs to one object and is immutable.
class ExtentFiles {
 public:
  // How many ids one persisted Xnext record covers: bounds the ids the next
  // open must check for orphans.
  static constexpr uint64_t kIdChunk = 1024;

  // Creates the directory, removes what a crash left behind (files with a
  // pending delete, files never referenced) and settles every id.
  Status open(const std::string& db_dir, rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf);
  ~ExtentFiles();

  std::string path(uint64_t id) const;
  // A new id, in flight until settle(); persists a new id chunk when needed.
  Result<uint64_t> allocate();
  // The file of an in-flight id was committed, or removed before any batch
  // referenced it.
  void settle(uint64_t id);
  // Creates the file with data, synced (file and directory) when sync.
  Status create(uint64_t id, std::string_view data, bool sync);
  // Makes the directory entries of files created so far durable.
  Status sync_dir();
  // After the batch that dropped the last reference (and put its 'D' key) committed.
  void release(uint64_t id);
  // Gives back the bytes of blocks no longer referenced, in a live file.
  void punch(uint64_t id, uint64_t offset, uint64_t len);
  // Reads exactly len bytes at offset; Corruption if the file is shorter,
  // NotFound if it is gone (released under a reader that must retry).
  Status read(uint64_t id, uint64_t offset, size_t len, char* out);
  // Overwrites bytes in place, bypassing every check: corruption tests only.
  Status corrupt_for_test(uint64_t id, uint64_t offset, std::string_view bytes);

 private:
  Status persist_chunk_locked();

  std::string dir_;
  int dir_fd_ = -1;
  rocksdb::DB* db_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_ = nullptr;
  std::mutex mu_;
  uint64_t next_ = 0;   // next id to hand out
  uint64_t limit_ = 0;  // persisted Xnext: ids below it may be in use
  std::set<uint64_t> in_flight_;
  std::vector<uint64_t> unlinked_;  // released files whose 'D' key can go
};

struct ObjectStore::Impl {
  // Enough stripes that unrelated objects rarely share one; a power of two.
  static constexpr size_t kLockStripes = 256;

  Options opts;
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // owned; freed before db
  rocksdb::ColumnFamilyHandle* default_cf = nullptr;
  rocksdb::ColumnFamilyHandle* onode_cf = nullptr;
  rocksdb::ColumnFamilyHandle* data_cf = nullptr;
  rocksdb::ColumnFamilyHandle* omap_cf = nullptr;
  rocksdb::ColumnFamilyHandle* meta_cf = nullptr;
  std::shared_ptr<rocksdb::Statistics> statistics;
  rocksdb::WriteOptions write_options;
  std::array<std::mutex, kLockStripes> stripes;
  ExtentFiles extents;

  ~Impl();
  static size_t stripe_of(CollectionId c, std::string_view name);
  Status submit(Transaction&& t);
};

}  // namespace cairn::osd
