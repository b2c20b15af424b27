// Internal: ObjectStore's RocksDB state, shared by object_store.cc (open,
// reads), object_store_write.cc (submit) and the test peer.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/statistics.h>

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "osd/store/object_store.h"

namespace cairn::osd {

// Maps a RocksDB status onto ours; `what` says which operation failed.
Status from_rocksdb(const rocksdb::Status& s, std::string_view what);

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

  ~Impl();
  static size_t stripe_of(CollectionId c, std::string_view name);
  Status submit(Transaction&& t);
};

}  // namespace cairn::osd
