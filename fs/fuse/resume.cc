#include "fs/fuse/resume.h"

#include <linux/fuse.h>
#include <unistd.h>

#include <cstring>

namespace cairn::fs {

namespace {
constexpr int kNotifyResend = 7;  // FUSE_NOTIFY_RESEND, newer than these headers
}

void inject_init(fuse_session* se) {
  struct {
    fuse_in_header h;
    fuse_init_in i;
  } msg;
  std::memset(&msg, 0, sizeof msg);
  msg.h.len = sizeof msg;
  msg.h.opcode = FUSE_INIT;
  msg.h.unique = ~0ull >> 2;  // an id the kernel never issued
  msg.i.major = FUSE_KERNEL_VERSION;
  msg.i.minor = 31;
  msg.i.max_readahead = 8 << 20;
  // What the kernel offers; op_init picks from these exactly as at mount.
  msg.i.flags = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_BIG_WRITES | FUSE_FLOCK_LOCKS |
                FUSE_AUTO_INVAL_DATA | FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE | FUSE_MAX_PAGES |
                FUSE_DONT_MASK | FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT |
                FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO;
  fuse_buf buf;
  std::memset(&buf, 0, sizeof buf);
  buf.mem = &msg;
  buf.size = sizeof msg;
  fuse_session_process_buf(se, &buf);
}

bool request_resend(int fuse_fd) {
  fuse_out_header oh;
  std::memset(&oh, 0, sizeof oh);
  oh.len = sizeof oh;
  oh.error = kNotifyResend;
  oh.unique = 0;
  return ::write(fuse_fd, &oh, sizeof oh) == static_cast<ssize_t>(sizeof oh);
}

}  // namespace cairn::fs
