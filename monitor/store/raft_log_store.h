// Durable storage for one monitor's Raft state, over RocksDB.
//
// Holds exactly what raft::Node needs to restart (hard state, latest
// snapshot, log entries after it) plus a few small app metadata keys. Every
// write is one WriteBatch with a synced WAL: after save() returns, a crash
// loses nothing, and a crash during save() leaves either all or none of it.
//
// Key layout (one column family; big-endian indexes sort numerically):
//   "h"                 HardState
//   "s"                 Snapshot (index, term, voters, data)
//   "e" + be64(index)   Entry
//   "m" + key           app metadata (e.g. "my id")
//
// Not thread-safe: owned by the monitor's single executor (calls block on
// fsync, so the shell runs them on its blocking pool).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "monitor/core/raft.h"

namespace cairn::mon {

class RaftLogStore {
 public:
  // Opens (creating if needed) the store in `dir`. IoError if RocksDB
  // cannot open it (e.g. another process holds its lock).
  static Result<std::unique_ptr<RaftLogStore>> open(const std::string& dir);
  ~RaftLogStore();
  RaftLogStore(const RaftLogStore&) = delete;
  RaftLogStore& operator=(const RaftLogStore&) = delete;

  // Everything needed to restart the node. initial_voters is left empty: the
  // caller fills it in when bootstrapping a brand-new cluster. Corruption if
  // a record does not decode or the entries are not contiguous.
  Result<raft::PersistentState> load();

  // Persists a Ready's snapshot (which replaces every stored entry), entries
  // (dropping stored entries >= entries[0].index first) and hard state, in
  // that order, atomically and durably. Call before sending rd.messages.
  Status save(const raft::Ready& rd);

  // After raft::Node::compact(): stores `snap` and deletes entries <= snap.index.
  Status compact(const raft::Snapshot& snap);

  // Small app metadata. get_meta: NotFound if absent.
  Status put_meta(std::string_view key, std::string_view value);
  Result<std::string> get_meta(std::string_view key);

  // Indexes of the stored log (first_index() == last_index() + 1 when empty).
  raft::Index first_index() const { return snap_index_ + 1; }
  raft::Index last_index() const { return last_index_; }

 private:
  struct Impl;
  explicit RaftLogStore(std::unique_ptr<Impl> impl);
  Status scan_bounds();

  std::unique_ptr<Impl> impl_;
  raft::Index snap_index_ = 0;
  raft::Index last_index_ = 0;
};

}  // namespace cairn::mon
