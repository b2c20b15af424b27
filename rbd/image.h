// An open image: data I/O (read with holes, write, discard, zero, allocation
// map) and snapshots (copy-on-write per object), under the image's
// exclusive lock.
//
// Threading: an Image belongs to client.executor(); every method is a
// coroutine that must run there. Many calls may be in flight at once.
//
// Durability: write()/discard()/write_zeroes() complete only after the object
// cluster acked every piece, and the cluster acks only durable writes, so a
// completed call survives any crash. flush() waits for calls in flight.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "client/client.h"
#include "rbd/admin.h"  // also rbd's names for the client's coroutine helpers
#include "rbd/core/header.h"
#include "rbd/core/layout.h"

namespace cairn::rbd {

enum class OpenMode { kReadOnly, kReadWrite };

struct OpenOptions {
  OpenMode mode = OpenMode::kReadWrite;
  LockOptions lock;  // kReadWrite only: lock.owner must be set
};

// A run of the image: allocated (data may be non-zero) or a hole (reads zeros).
struct AllocExtent {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool allocated = false;
  bool operator==(const AllocExtent&) const = default;
};

struct ReadResult {
  std::string data;                 // the full range; holes are zero-filled
  std::vector<AllocExtent> extents;  // covers the range, offsets relative to its start
};

class Image : public std::enable_shared_from_this<Image> {
 public:
  // Opens spec (a snapshot opens read-only). kReadWrite acquires the
  // exclusive lock (Conflict naming the holder if another live one has it)
  // and starts renewing it.
  static awaitable<Result<std::shared_ptr<Image>>> open(client::Client& c, ImageSpec spec,
                                                        OpenOptions opts);
  ~Image();

  const ImageHeader& header() const { return header_; }
  const ImageSpec& spec() const { return spec_; }
  uint64_t size() const { return size_; }
  bool read_only() const { return read_only_; }

  // REQUIRES: offset + length <= size().
  awaitable<Result<ReadResult>> read(uint64_t offset, uint64_t length);
  awaitable<Status> write(uint64_t offset, std::string data);
  // Frees whole objects in the range and zeroes partial ones.
  awaitable<Status> discard(uint64_t offset, uint64_t length);
  // Zeroes the range; punch_holes frees whole objects, otherwise writes zeros.
  awaitable<Status> write_zeroes(uint64_t offset, uint64_t length, bool punch_holes);
  awaitable<Result<std::vector<AllocExtent>>> allocation(uint64_t offset, uint64_t length);
  // Returns once every write that started before it has completed.
  awaitable<Status> flush();

  // Re-reads the header: picks up a grow done without the lock (resize by
  // cairnctl while a gateway has the image open).
  awaitable<Status> refresh();

  // Header changes; they need the lock (kReadWrite) and update this handle.
  awaitable<Status> resize(uint64_t new_size);
  awaitable<Status> snap_create(std::string name);
  awaitable<Status> snap_remove(std::string name);
  awaitable<Status> snap_protect(std::string name, bool protect);
  awaitable<Status> snap_rollback(std::string name);
  // Removes the image's objects, header and directory entry. REQUIRES: no snapshots.
  awaitable<Status> remove_all();
  // Clones: copies every parent object the image does not have yet, then
  // drops the parent from the header (the caller unregisters the child in
  // the parent's header). InvalidArgument if the image has no parent.
  awaitable<Status> flatten();
  // The open parent snapshot of a clone (nullptr otherwise).
  const std::shared_ptr<Image>& parent() const { return parent_; }

  // Flushes, stops renewing and releases the lock. Idempotent.
  awaitable<Status> close();

  // Writes fail with this once the lease was lost (fenced).
  bool fenced() const { return fenced_; }

 private:
  Image(client::Client& c, PoolId pool, ImageSpec spec);

  // Opens the parent chain of a clone read-only (depth counts the hops).
  awaitable<Status> open_parent(int depth);
  awaitable<Status> refresh_header();
  // c_.async_execute on this image's pool, retrying timeouts (Unavailable).
  awaitable<Result<OsdOpReply>> execute(std::string name, std::vector<ObjectOp> op_list);
  // Bytes [0, n) of objno that fall through to the parent while absent here.
  uint64_t parent_bytes(uint64_t objno) const;
  // Reads [offset, offset + length) of objno from the parent (zeros past its bytes).
  awaitable<Status> read_parent(uint64_t objno, uint64_t offset, uint64_t length, char* out,
                                bool* allocated);
  // Copies the parent's object up into this clone unless a write of
  // [offset, offset + length) makes it unnecessary (length 0: always).
  awaitable<Status> copy_up(uint64_t objno, uint64_t offset, uint64_t length);

  awaitable<Status> check_writable();
  awaitable<Status> write_object(uint64_t objno, uint64_t offset, std::string data);
  awaitable<Status> zero_object(uint64_t objno, uint64_t offset, uint64_t length, bool punch);
  // Preserves objno for the newest snapshot before its first change since it.
  awaitable<Status> prepare_object(uint64_t objno);
  awaitable<Status> copy_on_write(uint64_t objno);
  awaitable<Status> rollback_object(uint64_t objno, uint64_t snap_id, uint64_t snap_size);
  // Reads one object extent of the head (snap 0) or of snapshot snap_id.
  awaitable<Status> read_object(uint64_t objno, uint64_t offset, uint64_t length, uint64_t snap_id,
                                char* out, bool* allocated);
  // Re-reads the header and applies mutate until the compare-and-set wins.
  awaitable<Status> update_header(std::function<Status(ImageHeader&)> mutate);
  awaitable<void> renew_loop();
  void write_done(uint64_t id);

  struct WriteGuard;

  client::Client& c_;
  PoolId pool_;
  ImageSpec spec_;
  ImageHeader header_;
  std::string gen_;
  uint64_t size_ = 0;
  uint64_t snap_id_ = 0;  // 0: the head
  bool read_only_ = true;

  // Lock state.
  LockOptions lock_opts_;
  std::string lock_value_;  // what we wrote; "" when we do not hold it
  uint64_t lease_valid_until_ms_ = 0;  // steady clock
  bool fenced_ = false;
  bool closing_ = false;
  std::unique_ptr<asio::steady_timer> renew_timer_;
  bool renew_running_ = false;

  // Writes in flight (flush waits for them).
  uint64_t writes_started_ = 0;
  uint64_t writes_done_ = 0;
  std::set<uint64_t> inflight_ids_;
  std::unique_ptr<asio::steady_timer> progress_;  // cancelled on every completion

  // Objects known to be ready for writing since the newest snapshot (COW
  // done); reset when a snapshot is taken.
  std::set<uint64_t> prepared_;
  std::set<uint64_t> preparing_;

  // Clones: the parent snapshot, and objects known to exist here (no
  // copy-up needed). Objects are never removed inside the parent's overlap
  // (whiteouts instead), so the set never goes stale.
  std::shared_ptr<Image> parent_;
  std::set<uint64_t> child_exists_;
};

}  // namespace cairn::rbd
