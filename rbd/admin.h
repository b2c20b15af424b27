// Image management: create, list, info, resize, remove, rename, snapshots.
// Every function is a coroutine that runs on client.executor(); Admin wraps
// them for tools that block (cairnctl). Image data I/O lives in image.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/async.h"
#include "client/client.h"
#include "common/lease.h"
#include "rbd/core/header.h"
#include "rbd/core/layout.h"

namespace cairn::rbd {

// The client library's coroutine helpers are rbd's vocabulary too.
namespace asio = boost::asio;
using asio::awaitable;
using client::block_on;
using client::op_status;
using client::ops;
using client::when_all;
using client::when_all_bounded;

struct CreateOptions {
  uint64_t size = 0;                             // bytes; required
  uint64_t object_size = kDefaultObjectSize;     // power of two, 4 KiB .. 32 MiB
  uint64_t features = kFeatureLayering | kFeatureExclusiveLock;
  std::string id;                    // empty: a random one (clones choose theirs first)
  std::optional<ParentSpec> parent;  // a clone's parent snapshot
};

// A header together with the generation it was read at (for compare-and-set).
struct VersionedHeader {
  ImageHeader header;
  std::string gen;
  std::string lock;  // raw lock xattr ("" when free)
};

// Who may hold an image's exclusive lock, and for how long.
struct LockOptions {
  std::string owner;  // unique per process ("nbd.0@host/1a2b3c")
  uint64_t lease_ms = kDefaultLeaseMs;
};

// Unique owner name for this process: "<name>@<hostname>/<random>".
std::string make_lock_owner(const std::string& name);

awaitable<Result<std::string>> lookup_image_id(client::Client& c, PoolId pool, std::string name);
awaitable<Result<VersionedHeader>> read_header(client::Client& c, PoolId pool, std::string image_id);
// Writes h if the header is still at old_gen. Conflict otherwise.
awaitable<Status> write_header(client::Client& c, PoolId pool, ImageHeader h, std::string old_gen);

// Takes (or renews) the lock when free, expired or already ours. Busy holders
// give Conflict naming the holder. On success *held is the value written.
awaitable<Status> acquire_lock(client::Client& c, PoolId pool, std::string image_id,
                               LockOptions opts, std::string* held);
// Renews a lock we hold (value *held) to a fresh lease. Conflict if it was taken.
awaitable<Status> renew_lock(client::Client& c, PoolId pool, std::string image_id,
                             LockOptions opts, std::string* held);
awaitable<Status> release_lock(client::Client& c, PoolId pool, std::string image_id,
                               std::string held);

awaitable<Status> remove_image_directory_entry(client::Client& c, PoolId pool, std::string name);

awaitable<Result<ImageHeader>> create_image(client::Client& c, std::string pool, std::string name,
                                            CreateOptions opts);
awaitable<Result<std::vector<std::string>>> list_images(client::Client& c, std::string pool);
awaitable<Result<VersionedHeader>> image_info(client::Client& c, std::string pool, std::string name);

// Clones: the parent's header lists its children (ChildRef); see Admin::clone.
awaitable<Status> unregister_child(client::Client& c, ParentSpec parent, ChildRef child);

// A clone as `rbd children` shows it.
struct ChildInfo {
  ChildRef ref;
  std::string name;  // the child's image name
};

// Sync API for tools. Operations that change data (resize, remove, snapshot
// create/remove/rollback) take the image's exclusive lock for their duration,
// so they are refused while a gateway is writing the image.
class Admin {
 public:
  explicit Admin(client::Client& c, std::string lock_name = "cairnctl");
  Result<ImageHeader> create(const std::string& pool, const std::string& name, CreateOptions opts);
  Result<std::vector<std::string>> list(const std::string& pool);
  Result<VersionedHeader> info(const std::string& pool, const std::string& name);
  // Bytes in allocated (existing) data objects, counted by listing the pool.
  Result<uint64_t> used_bytes(const std::string& pool, const ImageHeader& h);
  Status resize(const std::string& pool, const std::string& name, uint64_t new_size,
                bool allow_shrink);
  Status remove(const std::string& pool, const std::string& name);
  Status rename(const std::string& pool, const std::string& from, const std::string& to);
  Status snap_create(const std::string& pool, const std::string& name, const std::string& snap);
  Status snap_remove(const std::string& pool, const std::string& name, const std::string& snap);
  Status snap_protect(const std::string& pool, const std::string& name, const std::string& snap,
                      bool protect);
  Status snap_rollback(const std::string& pool, const std::string& name, const std::string& snap);
  // Clones pool/image@snap (a protected snapshot) as child_pool/child.
  // The child is registered in the parent's header first, so a snapshot
  // can never be unprotected or removed while a clone depends on it.
  Status clone(const ImageSpec& parent, const std::string& child_pool, const std::string& child);
  // Copies the parent's data into the clone and detaches it.
  Status flatten(const std::string& pool, const std::string& name);
  // Live clones of pool/image@snap.
  Result<std::vector<ChildInfo>> children(const ImageSpec& parent);
  // "pool/image@snap" of a clone's parent.
  Result<std::string> describe_parent(const ParentSpec& p);
  // Breaks whatever lock the image has (for a holder known to be dead).
  Status lock_break(const std::string& pool, const std::string& name);

 private:
  client::Client& c_;
  LockOptions lock_;
};

}  // namespace cairn::rbd
