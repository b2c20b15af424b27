#include "fs/fuse/shared_map.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace cairn::fs {

void* map_shared_file(const std::string& path, size_t len, bool keep) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return nullptr;
  void* p = MAP_FAILED;
  if ((keep || ::ftruncate(fd, 0) == 0) && ::ftruncate(fd, static_cast<off_t>(len)) == 0) {
    p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  ::close(fd);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace cairn::fs
