#include "client/pools.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace cairn::client {

Status ensure_pool(Client& c, const std::string& name, uint32_t pg_num) {
  if (c.pool_id(name).ok()) return Status::Ok();
  ClusterMap m = c.map();
  uint32_t osds = 0;
  for (const auto& [id, o] : m.osds) osds += o.in ? 1 : 0;
  uint32_t size = std::max<uint32_t>(1, std::min<uint32_t>(3, osds));
  MapCommand cmd{.op = MapOp::kPoolCreate};
  cmd.pool.name = name;
  cmd.pool.size = size;
  cmd.pool.min_size = size >= 3 ? 2 : 1;
  cmd.pool.pg_num = pg_num;
  cmd.pool.failure_domain = FailureDomain::kHost;
  auto r = c.command(cmd);
  Status st = r.ok() ? r->head.status : r.status();
  if (!st.ok() && !st.is(Code::kAlreadyExists)) {
    return Status(st.code(), "create pool " + name + ": " + st.message());
  }
  for (int i = 0; i < 150 && !c.pool_id(name).ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!c.pool_id(name).ok()) return Status::TimedOut("pool " + name + " did not appear in the map");
  return Status::Ok();
}

}  // namespace cairn::client
