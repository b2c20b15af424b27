#include "fs/fuse/read_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace cairn::fs {

ReadCache::~ReadCache() {
  std::lock_guard lock(mu_);
  for (auto& [ino, f] : filling_) {
    if (f.fd >= 0) ::close(f.fd);
  }
}

bool ReadCache::open(bool keep) {
  namespace sfs = std::filesystem;
  std::error_code ec;
  sfs::create_directories(dir_, ec);
  if (!sfs::is_directory(dir_, ec)) {
    spdlog::warn("read cache: cannot create {}: {}", dir_, ec.message());
    return false;
  }
  for (const auto& entry : sfs::directory_iterator(dir_, ec)) {
    std::string name = entry.path().filename().string();
    unsigned long long ino = 0, version = 0;
    char tail = 0;
    // <ino hex16>.<version hex16>: a finished copy a predecessor may be using.
    if (keep && std::sscanf(name.c_str(), "%16llx.%16llx%c", &ino, &version, &tail) == 2 &&
        name.size() == 33) {
      uint64_t size = static_cast<uint64_t>(entry.file_size(ec));
      lru_.push_back(ino);
      copies_[ino] = Copy{version, size, std::prev(lru_.end())};
      bytes_ += size;
      continue;
    }
    sfs::remove(entry.path(), ec);
  }
  spdlog::info("read cache in {} ({} MiB, {} MiB in use)", dir_, capacity_ >> 20, bytes_ >> 20);
  return true;
}

std::string ReadCache::path(Ino ino, uint64_t version, bool part) const {
  char name[64];
  std::snprintf(name, sizeof name, "%016llx.%016llx%s", static_cast<unsigned long long>(ino),
                static_cast<unsigned long long>(version), part ? ".part" : "");
  return dir_ + "/" + name;
}

void ReadCache::fill(Ino ino, uint64_t version, uint64_t size, uint64_t off,
                     std::string_view data) {
  if (data.empty() || size == 0 || size > capacity_ / 2) return;
  std::lock_guard lock(mu_);
  auto c = copies_.find(ino);
  if (c != copies_.end() && c->second.version == version) return;  // have it
  auto it = filling_.find(ino);
  if (it != filling_.end() && (it->second.version != version || it->second.size != size)) {
    abandon(ino);  // the file changed meanwhile
    it = filling_.end();
  }
  if (it == filling_.end()) {
    if (!make_room(size)) return;
    int fd = ::open(path(ino, version, true).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return;
    bytes_ += size;
    it = filling_.emplace(ino, Filling{version, size, fd, {}, 0}).first;
  }
  Filling& f = it->second;
  uint64_t n = std::min<uint64_t>(data.size(), size > off ? size - off : 0);
  if (n == 0) return;
  if (::pwrite(f.fd, data.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) {
    spdlog::warn("read cache: writing {}: {}; not caching inode {:x}", dir_, std::strerror(errno), ino);
    abandon(ino);
    return;
  }
  add_range(f, off, off + n);
  if (f.filled < f.size) return;
  // Whole: it becomes the copy of this version.
  ::close(f.fd);
  f.fd = -1;
  if (::rename(path(ino, version, true).c_str(), path(ino, version, false).c_str()) != 0) {
    abandon(ino);
    return;
  }
  filling_.erase(ino);
  if (auto old = copies_.find(ino); old != copies_.end()) {
    ::unlink(path(ino, old->second.version, false).c_str());
    bytes_ -= old->second.size;
    lru_.erase(old->second.lru);
    copies_.erase(old);
  }
  lru_.push_front(ino);
  copies_[ino] = Copy{version, size, lru_.begin()};
  spdlog::info("read cache: inode {:x} ({} bytes) is whole locally; later opens read it from {}",
               ino, size, dir_);
}

void ReadCache::add_range(Filling& f, uint64_t start, uint64_t end) {
  auto it = f.have.upper_bound(start);
  if (it != f.have.begin() && std::prev(it)->second >= start) {
    --it;
    start = it->first;
  }
  while (it != f.have.end() && it->first <= end) {
    end = std::max(end, it->second);
    f.filled -= it->second - it->first;
    it = f.have.erase(it);
  }
  f.have[start] = end;
  f.filled += end - start;
}

int ReadCache::open_copy(Ino ino, uint64_t version, uint64_t size) {
  std::lock_guard lock(mu_);
  auto c = copies_.find(ino);
  if (c == copies_.end() || c->second.version != version || c->second.size != size) return -1;
  int fd = ::open(path(ino, version, false).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  lru_.splice(lru_.begin(), lru_, c->second.lru);
  return fd;
}

bool ReadCache::has_copy(Ino ino, uint64_t version, uint64_t size) {
  std::lock_guard lock(mu_);
  auto c = copies_.find(ino);
  return c != copies_.end() && c->second.version == version && c->second.size == size;
}

void ReadCache::drop(Ino ino) {
  std::lock_guard lock(mu_);
  abandon(ino);
  if (auto c = copies_.find(ino); c != copies_.end()) {
    ::unlink(path(ino, c->second.version, false).c_str());  // open backing files live on
    bytes_ -= c->second.size;
    lru_.erase(c->second.lru);
    copies_.erase(c);
  }
}

uint64_t ReadCache::bytes() {
  std::lock_guard lock(mu_);
  return bytes_;
}

void ReadCache::abandon(Ino ino) {
  auto it = filling_.find(ino);
  if (it == filling_.end()) return;
  if (it->second.fd >= 0) ::close(it->second.fd);
  ::unlink(path(ino, it->second.version, true).c_str());
  bytes_ -= it->second.size;
  filling_.erase(it);
}

bool ReadCache::make_room(uint64_t size) {
  while (bytes_ + size > capacity_ && !lru_.empty()) {
    Ino victim = lru_.back();
    auto c = copies_.find(victim);
    ::unlink(path(victim, c->second.version, false).c_str());
    bytes_ -= c->second.size;
    lru_.pop_back();
    copies_.erase(c);
  }
  // Then files nobody read to the end (random readers never fill them).
  while (bytes_ + size > capacity_ && !filling_.empty()) abandon(filling_.begin()->first);
  return bytes_ + size <= capacity_;
}

}  // namespace cairn::fs
