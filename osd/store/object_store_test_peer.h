// Test-only access to an ObjectStore's raw records, for corruption tests.
// Production code must not use it.
#pragma once

#include <string>
#include <string_view>

#include "osd/store/object_store.h"

namespace cairn::osd {

class ObjectStoreTestPeer {
 public:
  // The stored value (crc + payload) of data block `block`; NotFound for a hole.
  static Result<std::string> get_raw_block(ObjectStore& s, CollectionId c, std::string_view name,
                                           uint32_t block);
  // Overwrites the stored value of data block `block`, bypassing all checks.
  static Status put_raw_block(ObjectStore& s, CollectionId c, std::string_view name, uint32_t block,
                              std::string_view value);
};

}  // namespace cairn::osd
