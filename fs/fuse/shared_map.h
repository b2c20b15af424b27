// A fixed-size file under /run mapped MAP_SHARED: what cairn-fuse writes
// there (plain stores) outlives a kill -9 of the process, for the
// cairn-fuse that takes the mount over (UnstoredTable, IoModes).
#pragma once

#include <cstddef>
#include <string>

namespace cairn::fs {

// Maps `len` bytes of `path` (created if missing); unless `keep`, starts it
// zeroed. nullptr on failure (errno set).
void* map_shared_file(const std::string& path, size_t len, bool keep);

}  // namespace cairn::fs
