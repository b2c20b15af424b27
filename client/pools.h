// Creating the pools a service needs on its first start.
#pragma once

#include <cstdint>
#include <string>

#include "client/client.h"

namespace cairn::client {

// Creates pool `name` unless it exists: size min(3, OSDs in), min_size 2
// (1 below three copies), host failure domain. Waits until the map has it.
// Creating concurrently with another process is fine.
Status ensure_pool(Client& c, const std::string& name, uint32_t pg_num);

}  // namespace cairn::client
