// The Cairn client library: what cairnctl and every gateway link.
//
//   auto cfg = client::load_config("/var/lib/cairn/cairn.conf");
//   auto c = client::Client::connect(*cfg);            // waits for the first map
//   Status st = (*c)->put("rbd", "greeting", "hello");
//   Result<std::string> data = (*c)->get("rbd", "greeting");
//
// The Client owns one io thread that runs the messenger. The sync methods
// block the caller until that thread has the answer; the async ones
// (async_*) are awaitables that must run on executor(). Every operation is
// sent to the PG's primary from the newest map and resent (with the same
// request id, so it applies once) after a map change or a lost connection,
// until ClientOptions::op_timeout.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/cluster_map.h"
#include "common/messages.h"
#include "common/status.h"

namespace cairn::client {

struct ClientOptions {
  std::vector<std::string> mon_addrs;  // "IP:PORT" of the monitors
  std::string key;                     // the cluster key (not the file path)
  // Give up on an operation after this long (rides out OSD failure detection
  // and peering, which take seconds). Default 60 s.
  std::chrono::milliseconds op_timeout{60000};
  // How long connect() waits for the first cluster map. Default 15 s.
  std::chrono::milliseconds connect_timeout{15000};
};

// Reads a cairn.conf (`mon_addrs = ...`, `key_file = ...`). When path is empty
// it uses $CAIRN_CONF. Errors name the file and the missing key.
Result<ClientOptions> load_config(const std::string& path);

struct ObjectInfo {
  uint64_t size = 0;
  uint64_t version = 0;
  uint64_t mtime_ns = 0;
};

struct Placement {
  std::string pg;          // "1.3f"
  std::vector<OsdId> up;   // OSDs that are up, primary first
  std::vector<OsdId> raw;  // placement before removing down OSDs
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> connect(const ClientOptions& opts);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // ---- cluster ----
  ClusterMap map() const;  // a copy of the newest map
  // Sends a map change to the monitor leader.
  Result<CommandReply> command(const MapCommand& cmd);
  Result<std::vector<std::pair<std::string, Result<MonStatus>>>> mon_status();
  // The OSDs' latest PG/usage reports as the monitor leader holds them.
  Result<std::vector<OsdReport>> osd_reports();
  Result<Placement> locate(const std::string& pool, const std::string& name) const;
  // Reads an object's whole copy from one specific OSD, bypassing the primary
  // (for verifying replicas, as `cairnctl obj locate` + scrub tools do).
  // NotFound if that OSD holds no copy.
  Result<ObjectData> read_from_osd(const std::string& pool, const std::string& name, OsdId osd);
  // Asks the primary of pgid ("1.3f") to scrub it (deep: compare data
  // checksums too; repair: overwrite bad copies from a good one).
  Result<ScrubReply> scrub(const std::string& pgid, bool deep, bool repair);
  // Waits (up to timeout) until the client has a map of at least epoch.
  Status wait_for_epoch(Epoch epoch, std::chrono::milliseconds timeout);

  // ---- objects (sync) ----
  Status put(const std::string& pool, const std::string& name, std::string data);
  // length 0 reads to the end. NotFound if the object does not exist.
  Result<std::string> get(const std::string& pool, const std::string& name, uint64_t offset = 0,
                          uint64_t length = 0);
  Status write(const std::string& pool, const std::string& name, uint64_t offset, std::string data);
  Status append(const std::string& pool, const std::string& name, std::string data);
  Status truncate(const std::string& pool, const std::string& name, uint64_t size);
  Result<ObjectInfo> stat(const std::string& pool, const std::string& name);
  Status remove(const std::string& pool, const std::string& name);
  Status setxattr(const std::string& pool, const std::string& name, const std::string& key,
                  std::string value);
  Result<std::string> getxattr(const std::string& pool, const std::string& name,
                               const std::string& key);
  Result<std::map<std::string, std::string>> getxattrs(const std::string& pool,
                                                       const std::string& name);
  Status omap_set(const std::string& pool, const std::string& name,
                  std::map<std::string, std::string> kvs);
  Result<std::map<std::string, std::string>> omap_get(const std::string& pool,
                                                      const std::string& name,
                                                      std::vector<std::string> keys);
  // Up to max keys after `after`; *more says whether there are more.
  Result<std::map<std::string, std::string>> omap_list(const std::string& pool,
                                                       const std::string& name,
                                                       const std::string& after, uint32_t max,
                                                       bool* more = nullptr);
  Status omap_rm(const std::string& pool, const std::string& name, std::vector<std::string> keys);
  // Every object name in the pool (asks each PG's primary).
  Result<std::vector<std::string>> list(const std::string& pool);
  // Runs several ops atomically on one object (e.g. kCmpXattr + kWriteFull).
  Result<OsdOpReply> execute(const std::string& pool, const std::string& name,
                             std::vector<ObjectOp> ops);

  // ---- async: run these on executor() ----
  boost::asio::any_io_executor executor();
  boost::asio::awaitable<Result<OsdOpReply>> async_execute(PoolId pool, std::string name,
                                                           std::vector<ObjectOp> ops);
  Result<PoolId> pool_id(const std::string& pool) const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::client
