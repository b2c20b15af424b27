// Test-only access to an ObjectStore's raw records, for corruption tests.
// Production code must not use it.
#pragma once

#include <string>
#include <string_view>

#include "osd/store/object_store.h"

namespace cairn::osd {

class ObjectStoreTestPeer {
 public:
  // The stored value (crc + payload) of data block `block`, from the data CF
  // or its extent file; NotFound for a hole.
  static Result<std::string> get_raw_block(ObjectStore& s, CollectionId c, std::string_view name,
                                           uint32_t block);
  // Overwrites the stored value of data block `block`, bypassing all checks.
  // For a block in an extent file the payload bytes are written over the
  // file's (the crc in the onode stays): bit rot on disk.
  static Status put_raw_block(ObjectStore& s, CollectionId c, std::string_view name, uint32_t block,
                              std::string_view value);
  // Path of the extent file holding `block`; NotFound if it is not in one.
  static Result<std::string> extent_file(ObjectStore& s, CollectionId c, std::string_view name,
                                         uint32_t block);
  static std::string extent_dir(ObjectStore& s);
  // Corruption unless every block in an extent file has no data CF record
  // (reads would hide such a stale record, a later truncate could expose it).
  static Status check_extent_invariants(ObjectStore& s, CollectionId c, std::string_view name);
  // Writes an extent file the way submit does but never commits a batch
  // referencing it: the state a crash between the two leaves. Returns its id.
  static Result<uint64_t> write_orphan_extent(ObjectStore& s, std::string_view data);
};

}  // namespace cairn::osd
