#include "common/crc32c.h"

#include <isa-l/crc.h>

namespace cairn {

uint32_t crc32c(std::string_view data, uint32_t seed) {
  // ISA-L's crc32_iscsi takes and returns the raw (non-inverted) register.
  return ~crc32_iscsi(reinterpret_cast<unsigned char*>(const_cast<char*>(data.data())),
                      static_cast<int>(data.size()), ~seed);
}

}  // namespace cairn
