#include "fs/fuse/write_back.h"

#include "fs/fuse/shared_map.h"

#include <sys/mman.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cstring>

namespace cairn::fs {

// ---- UnstoredTable ----

UnstoredTable::~UnstoredTable() {
  if (slots_ != nullptr) ::munmap(slots_, kSlots * sizeof(uint64_t));
}

std::vector<Ino> UnstoredTable::open(const std::string& path) {
  std::vector<Ino> left;
  void* p = map_shared_file(path, kSlots * sizeof(uint64_t), true);
  if (p == nullptr) {
    spdlog::warn("cannot map {}: {}; writes go straight to the cluster", path, std::strerror(errno));
    return left;
  }
  slots_ = static_cast<uint64_t*>(p);
  for (size_t i = 0; i < kSlots; ++i) {
    if (slots_[i] != 0) left.push_back(slots_[i]);
    slots_[i] = 0;
  }
  for (size_t i = kSlots; i-- > 0;) free_.push_back(i);
  return left;
}

bool UnstoredTable::add(Ino ino) {
  if (slots_ == nullptr) return false;
  if (where_.count(ino)) return true;
  if (free_.empty()) return false;
  size_t slot = free_.back();
  free_.pop_back();
  slots_[slot] = ino;
  where_[ino] = slot;
  return true;
}

void UnstoredTable::remove(Ino ino) {
  auto it = where_.find(ino);
  if (it == where_.end()) return;
  slots_[it->second] = 0;
  free_.push_back(it->second);
  where_.erase(it);
}

// ---- WriteBack ----

WriteBack::WriteBack(StoreFn store, UnstoredTable* table, WriteBackOptions opts)
    : store_(std::move(store)), table_(table), opts_(opts) {
  for (int i = 0; i < opts_.flushers; ++i) threads_.emplace_back([this] { flusher(); });
  threads_.emplace_back([this] { ager(); });
}

WriteBack::~WriteBack() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  done_cv_.notify_all();
  stop_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

int WriteBack::write(Ino ino, uint64_t off, std::string_view data) {
  std::unique_lock lock(mu_);
  while (!stop_ && bytes_ >= opts_.max_bytes) {
    // Over budget: everything buffered goes out, and the writer waits.
    for (auto& [i, f] : files_) schedule_all(i, f, false);
    done_cv_.wait(lock);
  }
  if (stop_) return -1;
  File& f = files_[ino];
  if (f.error != 0) {
    int e = f.error;
    f.error = 0;
    maybe_forget(ino);
    return e;
  }
  if (!f.listed) {
    if (table_ == nullptr || !table_->add(ino)) {
      maybe_forget(ino);
      return -1;  // a killed cairn-fuse could not own up to these bytes
    }
    f.listed = true;
  }
  if (f.dirty.empty()) f.since = std::chrono::steady_clock::now();
  uint64_t before = f.dirty.bytes();
  f.dirty.add(off, data);
  bytes_ += f.dirty.bytes() - before;

  uint64_t first = off / kObjectSize;
  uint64_t last = (off + data.size() - 1) / kObjectSize;
  for (uint64_t objno : f.dirty.objects()) {
    // Whole objects, and those a sequential writer has moved past, go now.
    if (objno < first || (objno <= last && f.dirty.covers(objno))) schedule(ino, f, objno, false);
  }
  if (f.dirty.bytes() >= opts_.file_bytes) schedule_all(ino, f, false);
  return 0;
}

int WriteBack::flush(Ino ino) {
  std::unique_lock lock(mu_);
  while (true) {
    auto it = files_.find(ino);
    if (it == files_.end()) return 0;
    File& f = it->second;
    if (f.dirty.empty() && f.queued.empty() && f.storing.empty()) {
      int e = f.error;
      f.error = 0;
      maybe_forget(ino);
      return e;
    }
    if (stop_) return EIO;
    schedule_all(ino, f, true);
    done_cv_.wait(lock);
  }
}

void WriteBack::flush_all() {
  std::vector<Ino> inos;
  {
    std::lock_guard lock(mu_);
    for (auto& [ino, f] : files_) inos.push_back(ino);
  }
  for (Ino ino : inos) {
    if (int e = flush(ino)) spdlog::error("storing the last writes to inode {:x} failed: {}", ino, std::strerror(e));
  }
}

bool WriteBack::holds(Ino ino) {
  std::lock_guard lock(mu_);
  auto it = files_.find(ino);
  if (it == files_.end()) return false;
  const File& f = it->second;
  return !f.dirty.empty() || !f.queued.empty() || !f.storing.empty();
}

uint64_t WriteBack::buffered_bytes() {
  std::lock_guard lock(mu_);
  return bytes_;
}

void WriteBack::schedule(Ino ino, File& f, uint64_t objno, bool urgent) {
  if (f.storing.count(objno)) {
    f.requeue.insert(objno);  // one write per object at a time keeps them in order
    return;
  }
  if (!f.queued.insert(objno).second) return;
  if (urgent) {
    jobs_.emplace_front(ino, objno);
  } else {
    jobs_.emplace_back(ino, objno);
  }
  work_cv_.notify_one();
}

void WriteBack::schedule_all(Ino ino, File& f, bool urgent) {
  for (uint64_t objno : f.dirty.objects()) schedule(ino, f, objno, urgent);
}

void WriteBack::maybe_forget(Ino ino) {
  auto it = files_.find(ino);
  if (it == files_.end()) return;
  File& f = it->second;
  // An unreported error keeps the file listed: its bytes are lost until said.
  if (!f.dirty.empty() || !f.queued.empty() || !f.storing.empty() || f.error != 0) return;
  if (f.listed) table_->remove(ino);
  files_.erase(it);
}

void WriteBack::flusher() {
  std::unique_lock lock(mu_);
  while (true) {
    work_cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping
    auto [ino, objno] = jobs_.front();
    jobs_.pop_front();
    auto it = files_.find(ino);
    if (it == files_.end()) continue;
    File& f = it->second;
    f.queued.erase(objno);
    if (f.storing.count(objno)) {
      f.requeue.insert(objno);
      continue;
    }
    std::vector<DirtyExtents::Piece> pieces = f.dirty.take(objno);
    if (pieces.empty()) {
      maybe_forget(ino);
      done_cv_.notify_all();
      continue;
    }
    f.storing.insert(objno);
    uint64_t n = 0;
    for (const auto& p : pieces) n += p.data.size();
    lock.unlock();
    int err = 0;
    for (auto& p : pieces) {
      int e = store_(ino, objno, p.in_obj, std::move(p.data));
      if (e != 0 && err == 0) err = e;
    }
    lock.lock();
    bytes_ -= n;
    File& g = files_.at(ino);  // kept while storing
    g.storing.erase(objno);
    if (err != 0 && g.error == 0) g.error = err;
    if (g.requeue.erase(objno) && g.dirty.has(objno)) schedule(ino, g, objno, false);
    maybe_forget(ino);
    done_cv_.notify_all();
  }
}

void WriteBack::ager() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    stop_cv_.wait_for(lock, std::chrono::milliseconds(100));
    auto now = std::chrono::steady_clock::now();
    for (auto& [ino, f] : files_) {
      if (!f.dirty.empty() && now - f.since >= opts_.max_age) schedule_all(ino, f, false);
    }
  }
}

}  // namespace cairn::fs
