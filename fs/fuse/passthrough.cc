#include "fs/fuse/passthrough.h"

#include "fs/fuse/shared_map.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace cairn::fs {
namespace {

// From the kernel's uapi fuse.h (7.40); libfuse 3.14's copy predates them.
constexpr uint32_t kOpInit = 26;
constexpr uint32_t kInitExt = 1u << 30;          // FUSE_INIT_EXT: flags2 is valid
constexpr uint32_t kPassthroughFlag2 = 1u << 5;  // FUSE_PASSTHROUGH (bit 37) in flags2
constexpr uint32_t kOpenPassthrough = 1u << 7;   // FOPEN_PASSTHROUGH
struct BackingMap {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
constexpr unsigned long kIocBackingOpen = _IOW(229, 1, BackingMap);
constexpr unsigned long kIocBackingClose = _IOW(229, 2, uint32_t);
// Offsets in struct fuse_in_header / fuse_init_in / fuse_init_out / fuse_open_out.
constexpr size_t kInHeader = 40;
constexpr size_t kInitInFlags2 = kInHeader + 16;
constexpr size_t kInitOutFlags = 12, kInitOutFlags2 = 32, kInitOutStackDepth = 36;
constexpr size_t kOpenOutFlags = 8, kOpenOutBackingId = 12;

std::atomic<bool> g_offer{false};
std::atomic<uint64_t> g_init_unique{0};
thread_local int t_backing_id = 0;

uint32_t load32(const void* p, size_t off) {
  uint32_t v;
  std::memcpy(&v, static_cast<const char*>(p) + off, 4);
  return v;
}
void store32(void* p, size_t off, uint32_t v) { std::memcpy(static_cast<char*>(p) + off, &v, 4); }

ssize_t hook_read(int fd, void* buf, size_t len, void*) {
  ssize_t n = ::read(fd, buf, len);
  if (n >= static_cast<ssize_t>(kInitInFlags2 + 4) && load32(buf, 4) == kOpInit) {
    bool offered = (load32(buf, kInitInFlags2) & kPassthroughFlag2) != 0;
    if (g_offer && offered) {
      uint64_t unique;
      std::memcpy(&unique, static_cast<char*>(buf) + 8, 8);
      g_init_unique = unique;
    } else if (g_offer) {
      spdlog::warn("read cache: this kernel offers no FUSE passthrough; reads stay in cairn-fuse");
    }
  }
  return n;
}

ssize_t hook_writev(int fd, struct iovec* iov, int count, void*) {
  if (count >= 2 && iov[0].iov_len >= 16) {
    uint64_t unique;
    std::memcpy(&unique, static_cast<char*>(iov[0].iov_base) + 8, 8);
    uint64_t init = g_init_unique.load();
    if (init != 0 && unique == init && iov[1].iov_len >= kInitOutStackDepth + 4) {
      void* out = iov[1].iov_base;
      store32(out, kInitOutFlags, load32(out, kInitOutFlags) | kInitExt);
      store32(out, kInitOutFlags2, load32(out, kInitOutFlags2) | kPassthroughFlag2);
      store32(out, kInitOutStackDepth, 1);  // backing files live on a plain local filesystem
      g_init_unique = 0;
    } else if (t_backing_id > 0 && iov[1].iov_len == 16) {
      void* out = iov[1].iov_base;
      store32(out, kOpenOutFlags, load32(out, kOpenOutFlags) | kOpenPassthrough);
      store32(out, kOpenOutBackingId, static_cast<uint32_t>(t_backing_id));
      t_backing_id = 0;
    }
  }
  return ::writev(fd, iov, count);
}

}  // namespace

void install_passthrough_hooks(fuse_session* se, bool offer) {
  g_offer = offer;
  fuse_custom_io io{};
  io.read = hook_read;
  io.writev = hook_writev;
  if (fuse_session_custom_io(se, &io, fuse_session_fd(se)) != 0) {
    spdlog::warn("read cache: cannot hook the FUSE session; reads stay in cairn-fuse");
  }
}

int backing_open(int fuse_fd, int fd) {
  BackingMap m{fd, 0, 0};
  int id = ::ioctl(fuse_fd, kIocBackingOpen, &m);
  return id < 0 ? -errno : id;
}

void backing_close(int fuse_fd, int id) {
  uint32_t v = static_cast<uint32_t>(id);
  if (::ioctl(fuse_fd, kIocBackingClose, &v) != 0) {
    spdlog::warn("read cache: closing backing file {}: {}", id, std::strerror(errno));
  }
}

void reply_open_with_backing(int id) { t_backing_id = id; }

// ---- IoModes ----

IoModes::~IoModes() {
  if (slots_ != nullptr) ::munmap(slots_, kSlots * sizeof(Entry));
}

bool IoModes::open(const std::string& path, bool keep) {
  void* p = map_shared_file(path, kSlots * sizeof(Entry), keep);
  if (p == nullptr) return false;
  slots_ = static_cast<Entry*>(p);
  for (size_t i = kSlots; i-- > 0;) {
    if (slots_[i].ino != 0) {
      where_[slots_[i].ino] = i;
    } else {
      free_.push_back(i);
    }
  }
  return true;
}

IoModes::Entry* IoModes::find(uint64_t ino) {
  auto it = where_.find(ino);
  return it == where_.end() ? nullptr : &slots_[it->second];
}

IoModes::Entry* IoModes::get(uint64_t ino) {
  if (Entry* e = find(ino)) return e;
  if (slots_ == nullptr || free_.empty()) return nullptr;
  size_t i = free_.back();
  free_.pop_back();
  slots_[i] = Entry{ino, 0, 0, 0, 0, 0};
  where_[ino] = i;
  return &slots_[i];
}

void IoModes::release_if_unused(Entry* e) {
  if (e == nullptr || e->passthrough != 0 || e->cached != 0) return;
  size_t i = static_cast<size_t>(e - slots_);
  where_.erase(e->ino);
  *e = Entry{};
  free_.push_back(i);
}

OpenMode decide_open(const IoModes::Entry* e, bool read_only, bool cached_copy, uint64_t version) {
  bool pt_open = e != nullptr && e->passthrough > 0;
  if (read_only && pt_open && e->version == version) return OpenMode::kPassthrough;
  if (pt_open) return OpenMode::kBusy;
  if (read_only && cached_copy && (e == nullptr || e->cached == 0)) return OpenMode::kPassthrough;
  return OpenMode::kCached;
}

}  // namespace cairn::fs
