// cairn-rbd-fuse: exposes one NBD export as the file MOUNTPOINT/nbd, for a
// loop device (`cairnctl rbd map` on nodes without kernel NBD). Like
// nbdfuse, plus the two things an attached volume needs from its helper:
//
//  - reconnect: when a connection dies (gateway killed, restarted, upgraded)
//    the request is not failed; the helper reconnects, retrying until a
//    gateway answers again (and has taken the image's lock over), and then
//    replays the request. I/O stalls; it does not fail. Replaying is safe:
//    NBD writes are idempotent, and Cairn acknowledges only durable writes,
//    so nothing acknowledged before the failure can be lost.
//  - resize: SIGUSR1 makes every connection reconnect before its next
//    request and the file take the export's new size (then `losetup -c`
//    lets the loop device see it). `cairnctl rbd resize` does both.
//
// Usage: cairn-rbd-fuse [-r] [-C CONNS] [-P PIDFILE] MOUNTPOINT URI
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <libnbd.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr const char* kFile = "/nbd";

struct Conn {
  nbd_handle* h = nullptr;
  uint64_t generation = 0;  // resize generation it was opened in
};

struct State {
  std::string uri;
  bool read_only = false;
  std::string pidfile;
  std::atomic<uint64_t> size{0};
  std::atomic<uint64_t> generation{0};  // bumped by SIGUSR1
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Conn*> idle;
  std::vector<Conn> conns;
};
State g;

void log(const char* fmt, const std::string& a, const std::string& b = "") {
  std::fprintf(stderr, "cairn-rbd-fuse: ");
  std::fprintf(stderr, fmt, a.c_str(), b.c_str());
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

// Connects c, retrying (with backoff) until a gateway accepts: refused
// connections and a lock still held by a dead gateway both mean "wait".
// False only when the helper is stopping.
bool connect(Conn* c) {
  if (c->h) nbd_close(c->h);
  c->h = nullptr;
  int delay_ms = 50;
  bool logged = false;
  while (!g.stopping) {
    uint64_t gen = g.generation;
    nbd_handle* h = nbd_create();
    if (h && nbd_connect_uri(h, g.uri.c_str()) == 0) {
      int64_t sz = nbd_get_size(h);
      if (sz >= 0) {
        g.size = static_cast<uint64_t>(sz);
        c->h = h;
        c->generation = gen;
        if (logged) log("reconnected to %s%s", g.uri);
        return true;
      }
    }
    if (!logged) {
      log("connect %s: %s; retrying", g.uri, nbd_get_error() ? nbd_get_error() : "?");
      logged = true;
    }
    if (h) nbd_close(h);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    delay_ms = std::min(delay_ms * 2, 1000);
  }
  return false;
}

Conn* acquire() {
  std::unique_lock<std::mutex> l(g.mu);
  g.cv.wait(l, [] { return !g.idle.empty(); });
  Conn* c = g.idle.back();
  g.idle.pop_back();
  return c;
}

void release(Conn* c) {
  {
    std::lock_guard<std::mutex> l(g.mu);
    g.idle.push_back(c);
  }
  g.cv.notify_one();
}

// Runs op on a live connection; a connection that died is replaced and the
// op replayed. Errors the server answered with are returned as -errno.
template <typename Op>
int with_conn(Op op) {
  for (;;) {
    Conn* c = acquire();
    if (!c->h || c->generation != g.generation || nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h)) {
      if (!connect(c)) {
        release(c);
        return -EIO;
      }
    }
    if (op(c->h) == 0) {
      release(c);
      return 0;
    }
    int err = nbd_get_errno();
    bool dead = nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h);
    if (!dead) {
      release(c);
      return -(err ? err : EIO);
    }
    log("connection lost (%s); reconnecting", nbd_get_error() ? nbd_get_error() : "?");
    nbd_close(c->h);
    c->h = nullptr;
    release(c);
    if (g.stopping) return -EIO;
  }
}

int fs_getattr(const char* path, struct stat* st, fuse_file_info*) {
  memset(st, 0, sizeof *st);
  st->st_uid = getuid();
  st->st_gid = getgid();
  if (strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  if (strcmp(path, kFile) == 0) {
    st->st_mode = S_IFREG | (g.read_only ? 0444 : 0644);
    st->st_nlink = 1;
    st->st_size = static_cast<off_t>(g.size.load());
    return 0;
  }
  return -ENOENT;
}

int fs_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
               fuse_readdir_flags) {
  if (strcmp(path, "/") != 0) return -ENOENT;
  fill(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buf, kFile + 1, nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  return 0;
}

int fs_open(const char* path, fuse_file_info* fi) {
  if (strcmp(path, kFile) != 0) return -ENOENT;
  if (g.read_only && (fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  return 0;
}

int fs_read(const char*, char* buf, size_t n, off_t off, fuse_file_info*) {
  uint64_t size = g.size;
  if (static_cast<uint64_t>(off) >= size) return 0;
  n = std::min<uint64_t>(n, size - off);
  int r = with_conn([&](nbd_handle* h) { return nbd_pread(h, buf, n, off, 0); });
  return r < 0 ? r : static_cast<int>(n);
}

int fs_write(const char*, const char* buf, size_t n, off_t off, fuse_file_info*) {
  if (g.read_only) return -EROFS;
  if (static_cast<uint64_t>(off) + n > g.size) return -ENOSPC;
  int r = with_conn([&](nbd_handle* h) { return nbd_pwrite(h, buf, n, off, 0); });
  return r < 0 ? r : static_cast<int>(n);
}

int fs_fsync(const char*, int, fuse_file_info*) {
  if (g.read_only) return 0;
  return with_conn([](nbd_handle* h) { return nbd_flush(h, 0); });
}

int fs_fallocate(const char*, int mode, off_t off, off_t len, fuse_file_info*) {
  if (g.read_only) return -EROFS;
  if (!(mode & FALLOC_FL_KEEP_SIZE) && !(mode & FALLOC_FL_PUNCH_HOLE)) return -EOPNOTSUPP;
  if (static_cast<uint64_t>(off + len) > g.size) return -ENOSPC;
  if (mode & FALLOC_FL_PUNCH_HOLE) {
    return with_conn([&](nbd_handle* h) { return nbd_trim(h, len, off, 0); });
  }
  if (mode & FALLOC_FL_ZERO_RANGE) {
    return with_conn([&](nbd_handle* h) { return nbd_zero(h, len, off, 0); });
  }
  return -EOPNOTSUPP;
}

void* fs_init(fuse_conn_info*, fuse_config* cfg) {
  // The size changes on resize: never let the kernel cache it.
  cfg->attr_timeout = 0;
  cfg->entry_timeout = 0;
  cfg->negative_timeout = 0;
  if (!g.pidfile.empty()) {
    std::string tmp = g.pidfile + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fprintf(f, "%d\n", getpid());
      std::fclose(f);
      std::rename(tmp.c_str(), g.pidfile.c_str());
    }
  }
  return nullptr;
}

void on_usr1(int) { g.generation.fetch_add(1); }

// After SIGUSR1, take the new size right away (stat sees it without waiting
// for the next request).
void resize_watcher() {
  uint64_t seen = g.generation;
  while (!g.stopping) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (g.generation == seen) continue;
    seen = g.generation;
    (void)with_conn([](nbd_handle*) { return 0; });
  }
}

int usage() {
  std::fprintf(stderr, "usage: cairn-rbd-fuse [-r] [-C CONNS] [-P PIDFILE] MOUNTPOINT URI\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int nconn = 4;
  int opt;
  while ((opt = getopt(argc, argv, "rC:P:")) != -1) {
    switch (opt) {
      case 'r': g.read_only = true; break;
      case 'C': nconn = std::atoi(optarg); break;
      case 'P': g.pidfile = optarg; break;
      default: return usage();
    }
  }
  if (argc - optind != 2 || nconn < 1 || nconn > 64) return usage();
  std::string mountpoint = argv[optind];
  g.uri = argv[optind + 1];
  g.conns.resize(nconn);
  // The first connection must work now: a bad URI or unknown export is an
  // error for `map`, not something to wait for.
  g.conns[0].h = nbd_create();
  if (!g.conns[0].h || nbd_connect_uri(g.conns[0].h, g.uri.c_str()) == -1) {
    std::fprintf(stderr, "cairn-rbd-fuse: %s: %s\n", g.uri.c_str(), nbd_get_error());
    return 1;
  }
  g.size = static_cast<uint64_t>(nbd_get_size(g.conns[0].h));
  if (!g.read_only && nbd_is_read_only(g.conns[0].h) == 1) g.read_only = true;
  for (auto& c : g.conns) g.idle.push_back(&c);
  signal(SIGUSR1, on_usr1);

  static fuse_operations ops = {};
  ops.getattr = fs_getattr;
  ops.readdir = fs_readdir;
  ops.open = fs_open;
  ops.read = fs_read;
  ops.write = fs_write;
  ops.fsync = fs_fsync;
  ops.fallocate = fs_fallocate;
  ops.init = fs_init;
  std::vector<std::string> args = {"cairn-rbd-fuse", "-f", "-o", "fsname=cairn-rbd,subtype=cairn",
                                   mountpoint};
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  std::thread watcher(resize_watcher);
  int rc = fuse_main(static_cast<int>(av.size()), av.data(), &ops, nullptr);
  g.stopping = true;
  watcher.join();
  for (auto& c : g.conns) {
    if (c.h) {
      if (!g.read_only && nbd_aio_is_ready(c.h)) nbd_flush(c.h, 0);
      nbd_shutdown(c.h, 0);
      nbd_close(c.h);
    }
  }
  return rc;
}
