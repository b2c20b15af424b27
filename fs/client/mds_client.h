// The FUSE client's link to the active MDS: finds it from the lease object,
// keeps a session open across reconnects and MDS failovers (re-registering
// open files on a new session), and hands MDS invalidations to a callback.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "client/client.h"
#include "fs/core/proto.h"

namespace cairn::fs {

class MdsClient {
 public:
  using NotifyFn = std::function<void(const MdsNotify&)>;
  MdsClient(client::Client& cluster, std::string fs_name, std::string client_name,
            std::string key, NotifyFn on_notify);
  ~MdsClient();

  // Sends req (with this client's session) and waits for the reply,
  // retrying through reconnects and failovers until timeout. Thread-safe;
  // must not be called from the cluster client's io thread.
  Result<MdsReply> call(MdsRequest req,
                        std::chrono::milliseconds timeout = std::chrono::seconds(120));
  // Waits until every mutation this client was answered for so far is
  // durable at the MDS (fsync, unmount). Resends them through a failover.
  // False if that did not happen within timeout.
  bool wait_safe(std::chrono::milliseconds timeout = std::chrono::seconds(120));
  // Mutations answered early and not yet confirmed durable.
  size_t unsafe_count() const;
  // Open files are replayed to a new session after an MDS failover.
  void track_open(Ino ino, int delta);
  void close_session();
  // The MDS session id (0 before the first call).
  uint64_t session() const;
  // How many times the session was (re)opened on a connection: a client
  // caching on the strength of MDS invalidations drops that cache when it
  // changes (invalidations sent meanwhile are lost).
  uint64_t connections() const;
  // Resume this session on the first call (a restarted cairn-fuse taking
  // over a live mount keeps its predecessor's opens and locks).
  void resume(uint64_t session);

  struct State;  // shared with the io-thread coroutines

 private:
  std::shared_ptr<State> state_;
  client::Client& cluster_;
};

}  // namespace cairn::fs
