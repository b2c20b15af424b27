// cairn-fuse's write-back buffer. A write is acknowledged once its bytes
// are here; flusher threads store them to the data objects in the
// background, an object at a time, so a stream of small or 1 MiB writes
// becomes a few whole-object writes in flight together. flush(ino) is what
// close and fsync wait for: it stores everything buffered for the file and
// reports the first error a background write met (like the kernel's
// writeback errors, once).
//
// Unstored files are listed in a small table in /run (UnstoredTable) that
// outlives a killed cairn-fuse, so that its successor can report their loss
// instead of a successful close.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "fs/core/dirty_extents.h"
#include "fs/core/inode.h"

namespace cairn::fs {

// A file of fixed slots shared with the next cairn-fuse of this mount: the
// inodes that have acknowledged bytes not yet stored. Stores to a shared
// mapping survive kill -9 (they are in the page cache, not the process).
class UnstoredTable {
 public:
  static constexpr size_t kSlots = 4096;
  UnstoredTable() = default;
  ~UnstoredTable();
  UnstoredTable(const UnstoredTable&) = delete;
  UnstoredTable& operator=(const UnstoredTable&) = delete;
  // Maps `path` (created if missing). Returns the inodes a killed
  // predecessor left listed, and clears them.
  std::vector<Ino> open(const std::string& path);
  bool usable() const { return slots_ != nullptr; }
  // False if the table is full (the caller then writes through).
  bool add(Ino ino);
  void remove(Ino ino);

 private:
  uint64_t* slots_ = nullptr;
  std::unordered_map<Ino, size_t> where_;
  std::vector<size_t> free_;
};

struct WriteBackOptions {
  uint64_t max_bytes = 256ull << 20;  // buffered and being stored, whole mount
  uint64_t file_bytes = 16ull << 20;  // buffered per file before it is stored at once
  std::chrono::milliseconds max_age{1000};  // oldest unstored byte, then stored
  int flushers = 8;                         // objects stored in parallel
};

class WriteBack {
 public:
  // Stores bytes at `in_obj` of a file's object; returns 0 or an errno.
  using StoreFn = std::function<int(Ino, uint64_t objno, uint64_t in_obj, std::string data)>;
  WriteBack(StoreFn store, UnstoredTable* table, WriteBackOptions opts = {});
  ~WriteBack();

  // Buffers a write, waiting for room if the mount is over max_bytes.
  // Returns a background error of this file not yet reported, or -1 if the
  // write could not be buffered (the caller stores it itself).
  int write(Ino ino, uint64_t off, std::string_view data);
  // Stores everything buffered for `ino` and waits; 0 or the first error.
  int flush(Ino ino);
  // Stores everything (before handing the mount over or unmounting).
  void flush_all();
  // True if `ino` has bytes not yet stored (a read must flush first).
  bool holds(Ino ino);
  uint64_t buffered_bytes();

 private:
  struct File {
    File() : dirty(kObjectSize) {}
    DirtyExtents dirty;
    std::set<uint64_t> queued;     // objects waiting for a flusher
    std::set<uint64_t> storing;    // objects a flusher is writing
    std::set<uint64_t> requeue;    // written again while storing
    int error = 0;                 // first background error, until reported
    std::chrono::steady_clock::time_point since;  // oldest unstored byte
    bool listed = false;           // in the unstored table
  };
  // Under mu_. Urgent jobs (a close or fsync waits) go first.
  void schedule(Ino ino, File& f, uint64_t objno, bool urgent);
  void schedule_all(Ino ino, File& f, bool urgent);
  void maybe_forget(Ino ino);                       // under mu_
  void flusher();
  void ager();

  StoreFn store_;
  UnstoredTable* table_;
  WriteBackOptions opts_;
  std::mutex mu_;
  std::condition_variable work_cv_;  // flushers: a job is queued
  std::condition_variable done_cv_;  // writers and flushes: bytes were stored
  std::condition_variable stop_cv_;  // the ager: stopping
  std::unordered_map<Ino, File> files_;
  std::deque<std::pair<Ino, uint64_t>> jobs_;
  uint64_t bytes_ = 0;  // buffered + being stored
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace cairn::fs
