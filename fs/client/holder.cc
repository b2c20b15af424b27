#include "fs/client/holder.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <vector>

namespace cairn::fs {

std::string encode_state(const HeldMount& h);
HeldMount decode_state(const std::string& line);

namespace {

constexpr const char* kHolderDir = "/run/cairn/fuse";

Result<int> connect_unix(const std::string& path) {
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return Status::IoError(std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(s);
    return Status::NotFound("no mount holder at " + path);
  }
  return s;
}

std::string read_line(int s) {
  std::string line;
  char c;
  while (line.size() < 8192 && ::read(s, &c, 1) == 1 && c != '\n') line.push_back(c);
  return line;
}

bool write_all(int s, const std::string& data) {
  return ::send(s, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
}

bool send_with_fd(int s, const std::string& data, int fd) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return ::sendmsg(s, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
}

}  // namespace

std::string mount_path(const std::string& mountpoint) {
  namespace sfs = std::filesystem;
  sfs::path p = sfs::absolute(mountpoint).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return (sfs::weakly_canonical(p.parent_path()) / p.filename()).string();
}

std::string holder_socket(const std::string& mountpoint) {
  std::string canon = mount_path(mountpoint);
  // A readable name when it fits; a hash keeps long paths under sun_path.
  std::string name;
  for (char c : canon) name.push_back(c == '/' ? '_' : c);
  if (name.size() > 80) name = std::to_string(std::hash<std::string>{}(canon));
  return std::string(kHolderDir) + "/" + name + ".sock";
}

bool is_mounted(const std::string& mountpoint) {
  FILE* f = std::fopen("/proc/self/mounts", "r");
  if (f == nullptr) return false;
  std::string want = mount_path(mountpoint);
  char line[4096];
  bool found = false;
  while (std::fgets(line, sizeof line, f)) {
    char dev[1024], dir[2048];
    if (std::sscanf(line, "%1023s %2047s", dev, dir) == 2 && want == dir) found = true;
  }
  std::fclose(f);
  return found;
}

std::string encode_state(const HeldMount& h) {
  return std::to_string(h.session) + " " + h.fs_name + " " +
         (h.subvolume.empty() ? "-" : h.subvolume) + " " +
         (h.options.empty() ? "-" : h.options);
}

HeldMount decode_state(const std::string& line) {
  HeldMount h;
  char fs_name[256] = {}, sub[256] = {}, options[4096] = {};
  unsigned long long session = 0;
  // (A holder started by an older cairn-fuse keeps three fields.)
  if (std::sscanf(line.c_str(), "%llu %255s %255s %4095s", &session, fs_name, sub, options) >= 3) {
    h.session = session;
    h.fs_name = fs_name;
    h.subvolume = std::string(sub) == "-" ? "" : sub;
    h.options = std::string(options) == "-" ? "" : options;
  }
  return h;
}

int run_holder(const std::string& sock, const std::string& mountpoint, int fuse_fd,
               const HeldMount& state) {
  std::string held = encode_state(state);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, SIG_IGN);  // only the unmount ends a holder
  ::mkdir("/run/cairn", 0755);
  ::mkdir(kHolderDir, 0700);
  ::unlink(sock.c_str());
  int ls = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
  if (ls < 0 || ::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(ls, 8) != 0) {
    return 1;
  }
  // The path is ours only while it names this socket: a new mount at the
  // same place binds it again before we notice the old one is gone.
  struct stat bound {};
  ::stat(sock.c_str(), &bound);
  std::vector<int> attached;
  for (;;) {
    std::vector<pollfd> fds;
    fds.push_back({ls, POLLIN, 0});
    for (int a : attached) fds.push_back({a, POLLIN, 0});
    ::poll(fds.data(), fds.size(), 1000);
    // The /dev/fuse descriptor is only checked, never waited on: a poller of
    // it is woken by every request the kernel queues for the daemon.
    pollfd dev{fuse_fd, 0, 0};  // errors only: the kernel ended the connection
    ::poll(&dev, 1, 0);
    // Unmounted, or a new mount sits at the same place while ours is gone.
    if (!is_mounted(mountpoint) || (dev.revents & (POLLERR | POLLHUP | POLLNVAL))) break;
    for (size_t k = 1; k < fds.size(); ++k) {
      if (fds[k].revents != 0) {  // the serving cairn-fuse went away
        ::close(fds[k].fd);
        std::erase(attached, fds[k].fd);
      }
    }
    if (!(fds[0].revents & POLLIN)) continue;
    int c = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    timeval tv{2, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string cmd = read_line(c);
    if (cmd == "GET") {
      send_with_fd(c, held + "\n", fuse_fd);
      ::close(c);
    } else if (cmd == "ATTACH") {
      attached.push_back(c);
    } else if (cmd == "STATUS") {
      write_all(c, attached.empty() ? "orphaned\n" : "attached\n");
      ::close(c);
    } else {
      ::close(c);
    }
  }
  struct stat now {};
  if (::stat(sock.c_str(), &now) == 0 && now.st_ino == bound.st_ino && now.st_dev == bound.st_dev) {
    ::unlink(sock.c_str());
  }
  return 0;
}

Status spawn_holder(const std::string& self_exe, const std::string& mountpoint, int fuse_fd,
                    const HeldMount& state) {
  std::string sock = holder_socket(mountpoint);
  std::string fd_arg = "3";
  std::string state_arg = encode_state(state);
  pid_t pid = ::fork();
  if (pid < 0) return Status::IoError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec (threads exist).
    // Fork again so the holder is nobody's child but init's: it outlives us.
    if (::fork() != 0) ::_exit(0);
    if (fuse_fd != 3) {
      ::dup2(fuse_fd, 3);
    } else {
      ::fcntl(3, F_SETFD, 0);
    }
    ::setsid();
    const char* argv[] = {self_exe.c_str(), "--hold",       sock.c_str(), "--hold-fd", fd_arg.c_str(),
                          "--hold-state", state_arg.c_str(), mountpoint.c_str(), nullptr};
    ::execv(self_exe.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  // Wait until it listens, so a crash right after mounting is survivable.
  for (int i = 0; i < 100; ++i) {
    auto s = connect_unix(sock);
    if (s.ok()) {
      write_all(*s, "STATUS\n");
      read_line(*s);
      ::close(*s);
      return Status::Ok();
    }
    ::usleep(20000);
  }
  return Status::Unavailable("the mount holder did not start");
}

Result<HeldMount> fetch_held(const std::string& mountpoint) {
  auto s = connect_unix(holder_socket(mountpoint));
  if (!s.ok()) return s.status();
  write_all(*s, "GET\n");
  char buf[1024] = {};
  iovec iov{buf, sizeof buf - 1};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  ssize_t n = ::recvmsg(*s, &msg, MSG_CMSG_CLOEXEC);
  ::close(*s);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (n <= 0 || c == nullptr || c->cmsg_type != SCM_RIGHTS) {
    return Status::IoError("the mount holder sent no descriptor");
  }
  HeldMount h = decode_state(buf);
  std::memcpy(&h.fuse_fd, CMSG_DATA(c), sizeof(int));
  return h;
}

Result<std::string> holder_status(const std::string& mountpoint) {
  auto s = connect_unix(holder_socket(mountpoint));
  if (!s.ok()) return s.status();
  write_all(*s, "STATUS\n");
  std::string r = read_line(*s);
  ::close(*s);
  return r;
}

int attach_to_holder(const std::string& mountpoint) {
  auto s = connect_unix(holder_socket(mountpoint));
  if (!s.ok()) return -1;
  write_all(*s, "ATTACH\n");
  return *s;
}

}  // namespace cairn::fs
