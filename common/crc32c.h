// CRC32C (Castagnoli), hardware-accelerated through ISA-L.
#pragma once

#include <cstdint>
#include <string_view>

namespace cairn {

// crc32c of data, continuing from seed (0 to start).
uint32_t crc32c(std::string_view data, uint32_t seed = 0);

}  // namespace cairn
