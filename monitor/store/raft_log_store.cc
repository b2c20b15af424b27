#include "monitor/store/raft_log_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <limits>

#include "common/codec.h"

namespace cairn::mon {

namespace {

constexpr std::string_view kHardStateKey = "h";
constexpr std::string_view kSnapshotKey = "s";
constexpr char kEntryPrefix = 'e';
constexpr std::string_view kEntryEnd = "f";  // just past every "e..." key
constexpr char kMetaPrefix = 'm';
// Truncations longer than this use one range tombstone instead of point deletes.
constexpr raft::Index kMaxPointDeletes = 1024;

std::string entry_key(raft::Index index) {
  std::string k(9, '\0');
  k[0] = kEntryPrefix;
  for (int i = 0; i < 8; ++i) k[1 + i] = static_cast<char>(index >> (8 * (7 - i)));
  return k;
}

bool parse_entry_key(const rocksdb::Slice& k, raft::Index* index) {
  if (k.size() != 9 || k[0] != kEntryPrefix) return false;
  raft::Index v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(k[1 + i]);
  *index = v;
  return true;
}

std::string meta_key(std::string_view key) {
  std::string k(1, kMetaPrefix);
  k.append(key);
  return k;
}

Status from_rocksdb(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsNotFound()) return Status::NotFound(std::move(msg));
  return Status::IoError(std::move(msg));
}

std::string encode_entry(const raft::Entry& e) {
  std::string v;
  Encoder enc(&v);
  e.encode(enc);
  return v;
}

std::string encode_snapshot(const raft::Snapshot& s) {
  std::string v;
  Encoder enc(&v);
  s.encode(enc);
  return v;
}

std::string encode_hard_state(const raft::HardState& hs) {
  std::string v;
  Encoder enc(&v);
  hs.encode(enc);
  return v;
}

Result<raft::Snapshot> decode_snapshot(std::string_view v) {
  Decoder dec(v);
  raft::Snapshot s;
  if (!raft::Snapshot::decode(dec, &s) || !dec.done()) {
    return Status::Corruption("cannot decode stored raft snapshot");
  }
  return s;
}

}  // namespace

struct RaftLogStore::Impl {
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::WriteOptions sync_write;

  // Adds deletes of entries [lo, hi] to `batch`.
  void delete_entries(rocksdb::WriteBatch* batch, raft::Index lo, raft::Index hi) {
    if (lo > hi) return;
    if (hi - lo < kMaxPointDeletes) {
      for (raft::Index i = lo; i <= hi; ++i) batch->Delete(entry_key(i));
    } else {
      batch->DeleteRange(entry_key(lo), hi == std::numeric_limits<raft::Index>::max()
                                            ? std::string(kEntryEnd)
                                            : entry_key(hi + 1));
    }
  }
};

RaftLogStore::RaftLogStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RaftLogStore::~RaftLogStore() = default;

Result<std::unique_ptr<RaftLogStore>> RaftLogStore::open(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  // A monitor's log is small and write-latency bound.
  options.OptimizeForSmallDb();
  options.keep_log_file_num = 4;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) return from_rocksdb(s, "open raft log store " + dir);
  auto impl = std::make_unique<Impl>();
  impl->db.reset(raw);
  impl->sync_write.sync = true;
  std::unique_ptr<RaftLogStore> store(new RaftLogStore(std::move(impl)));
  CAIRN_RETURN_IF_ERROR(store->scan_bounds());
  return store;
}

// Finds the stored snapshot index and last entry index.
Status RaftLogStore::scan_bounds() {
  std::string v;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), kSnapshotKey, &v);
  snap_index_ = 0;
  if (s.ok()) {
    auto snap = decode_snapshot(v);
    if (!snap.ok()) return snap.status();
    snap_index_ = snap->index;
  } else if (!s.IsNotFound()) {
    return from_rocksdb(s, "read raft snapshot");
  }
  last_index_ = snap_index_;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
  it->SeekForPrev(entry_key(std::numeric_limits<raft::Index>::max()));
  raft::Index idx = 0;
  if (it->Valid() && parse_entry_key(it->key(), &idx)) last_index_ = std::max(last_index_, idx);
  return from_rocksdb(it->status(), "scan raft log");
}

Result<raft::PersistentState> RaftLogStore::load() {
  raft::PersistentState ps;
  rocksdb::ReadOptions ro;
  std::string v;
  rocksdb::Status s = impl_->db->Get(ro, kHardStateKey, &v);
  if (s.ok()) {
    auto hs = raft::HardState::decode(v);
    if (!hs.ok()) return hs.status();
    ps.hard_state = *hs;
  } else if (!s.IsNotFound()) {
    return from_rocksdb(s, "read raft hard state");
  }
  s = impl_->db->Get(ro, kSnapshotKey, &v);
  if (s.ok()) {
    auto snap = decode_snapshot(v);
    if (!snap.ok()) return snap.status();
    ps.snapshot = std::move(*snap);
  } else if (!s.IsNotFound()) {
    return from_rocksdb(s, "read raft snapshot");
  }

  raft::Index snap_index = ps.snapshot ? ps.snapshot->index : 0;
  rocksdb::Slice upper(kEntryEnd);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
  for (it->Seek(entry_key(snap_index + 1)); it->Valid(); it->Next()) {
    raft::Index idx = 0;
    if (!parse_entry_key(it->key(), &idx)) return Status::Corruption("bad raft log key");
    Decoder dec(std::string_view(it->value().data(), it->value().size()));
    raft::Entry e;
    if (!raft::Entry::decode(dec, &e) || !dec.done() || e.index != idx) {
      return Status::Corruption("cannot decode raft log entry " + std::to_string(idx));
    }
    raft::Index expect = ps.entries.empty() ? snap_index + 1 : ps.entries.back().index + 1;
    if (idx != expect) {
      return Status::Corruption("raft log gap: expected entry " + std::to_string(expect) +
                                ", found " + std::to_string(idx));
    }
    ps.entries.push_back(std::move(e));
  }
  CAIRN_RETURN_IF_ERROR(from_rocksdb(it->status(), "scan raft log"));
  if (ps.hard_state.commit > (ps.entries.empty() ? snap_index : ps.entries.back().index)) {
    return Status::Corruption("raft hard state commits past the stored log");
  }
  return ps;
}

Status RaftLogStore::save(const raft::Ready& rd) {
  if (!rd.hard_state && rd.entries.empty() && !rd.snapshot) return Status::Ok();
  rocksdb::WriteBatch batch;
  raft::Index snap_index = snap_index_;
  raft::Index last = last_index_;
  if (rd.snapshot) {
    // The follower replaced its whole log with the snapshot.
    impl_->delete_entries(&batch, snap_index + 1, last);
    batch.Put(kSnapshotKey, encode_snapshot(*rd.snapshot));
    snap_index = rd.snapshot->index;
    last = snap_index;
  }
  if (!rd.entries.empty()) {
    raft::Index first = rd.entries.front().index;
    if (first <= snap_index || first > last + 1) {
      return Status::InvalidArgument("raft entries at " + std::to_string(first) +
                                     " do not follow the stored log ending at " +
                                     std::to_string(last));
    }
    // Drop the conflicting suffix the new entries replace.
    impl_->delete_entries(&batch, first, last);
    for (const raft::Entry& e : rd.entries) batch.Put(entry_key(e.index), encode_entry(e));
    last = rd.entries.back().index;
  }
  if (rd.hard_state) batch.Put(kHardStateKey, encode_hard_state(*rd.hard_state));
  CAIRN_RETURN_IF_ERROR(
      from_rocksdb(impl_->db->Write(impl_->sync_write, &batch), "write raft log"));
  snap_index_ = snap_index;
  last_index_ = last;
  return Status::Ok();
}

Status RaftLogStore::compact(const raft::Snapshot& snap) {
  if (snap.index <= snap_index_) return Status::Ok();  // already covered
  rocksdb::WriteBatch batch;
  batch.Put(kSnapshotKey, encode_snapshot(snap));
  // Entries up to the snapshot are no longer needed; one range tombstone.
  batch.DeleteRange(entry_key(0), entry_key(snap.index + 1));
  CAIRN_RETURN_IF_ERROR(
      from_rocksdb(impl_->db->Write(impl_->sync_write, &batch), "compact raft log"));
  snap_index_ = snap.index;
  last_index_ = std::max(last_index_, snap.index);
  return Status::Ok();
}

Status RaftLogStore::put_meta(std::string_view key, std::string_view value) {
  return from_rocksdb(
      impl_->db->Put(impl_->sync_write, meta_key(key), rocksdb::Slice(value.data(), value.size())),
      "write raft store metadata");
}

Result<std::string> RaftLogStore::get_meta(std::string_view key) {
  std::string v;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), meta_key(key), &v);
  if (s.IsNotFound()) return Status::NotFound("no metadata '" + std::string(key) + "'");
  if (!s.ok()) return from_rocksdb(s, "read raft store metadata");
  return v;
}

}  // namespace cairn::mon
