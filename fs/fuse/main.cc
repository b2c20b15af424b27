// cairn-fuse: mounts a Cairn filesystem.
//   cairn-fuse MOUNTPOINT --conf DIR/cairn.conf [--fs NAME] [--subvolume NAME] [-o OPTS]
//   cairn-fuse FS[/SUBVOLUME] MOUNTPOINT -o conf=FILE[,...]   (mount.fuse3 / fstab form:
//   `cairnfs/train /mnt/train fuse.cairn-fuse conf=/etc/cairn/cairn.conf,_netdev 0 0`)
// Returns once the mount is live (or with an error), leaving a daemon that
// serves it until `umount MOUNTPOINT` / `cairnctl fs umount`.
#include "fs/fuse/fuse_fs.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <filesystem>
#include <optional>

#include "common/net/daemon.h"
#include "fs/client/holder.h"
#include "fs/fuse/resume.h"

using namespace cairn;

namespace {

// Tells the waiting parent how the mount went: "" for success.
void report(int fd, const std::string& error) {
  if (fd < 0) return;
  std::string msg = error.empty() ? "OK" : error;
  ssize_t n = write(fd, msg.data(), msg.size());
  (void)n;
  close(fd);
}

// "a,b,,c" -> {"a", "b", "", "c"}; "" -> {}.
std::vector<std::string> split_options(const std::string& list) {
  std::vector<std::string> out;
  if (list.empty()) return out;
  size_t pos = 0;
  while (true) {
    size_t comma = list.find(',', pos);
    out.push_back(list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) return out;
    pos = comma + 1;
  }
}

// cairn-fuse's own -o options: 0 taken, 1 not ours, 2 malformed. A
// successor taking a mount over gets them back from the holder.
int own_option(const std::string& opt, fs::FuseOptions& fo) {
  auto number = [&](size_t prefix, uint64_t* out) {
    try {
      size_t used = 0;
      *out = std::stoull(opt.substr(prefix), &used);
      return used == opt.size() - prefix ? 0 : 2;
    } catch (const std::exception&) {
      return 2;
    }
  };
  uint64_t n = 0;
  if (opt.find_first_of(" \t\n") != std::string::npos) return 2;  // the holder keeps them space-separated
  if (opt == "writeback=0" || opt == "nowriteback") fo.writeback = false;
  else if (opt == "writeback=1" || opt == "writeback") fo.writeback = true;
  else if (opt.rfind("read_cache=", 0) == 0) fo.read_cache_dir = opt.substr(11);
  else if (opt.rfind("read_cache_mb=", 0) == 0) {
    if (number(14, &n) != 0) return 2;
    fo.read_cache_bytes = n << 20;
  } else if (opt.rfind("writeback_age_ms=", 0) == 0) {
    if (number(17, &n) != 0) return 2;
    fo.writeback_opts.max_age = std::chrono::milliseconds(n);
  } else {
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cairn-fuse: mount a Cairn filesystem", "cairn-fuse"};
  std::string mountpoint;
  std::string conf;
  std::string log_file;
  std::string extra_opts;
  std::string own_opts;  // ours among them (kept by the holder for a successor)
  bool foreground = false;
  fs::FuseOptions fo;
  std::vector<std::string> positional;
  app.add_option("source_and_mountpoint", positional,
                 "[FS[/SUBVOLUME]] MOUNTPOINT (two arguments: as mount.fuse3 passes them)")
      ->required()
      ->expected(1, 2);
  app.add_option("--conf", conf, "Cluster config (default $CAIRN_CONF)")->envname("CAIRN_CONF");
  app.add_option("--fs", fo.fs_name, "Filesystem name (default cairnfs)");
  app.add_option("--subvolume", fo.subvolume, "Mount this subvolume as the root");
  app.add_option("--name", fo.client_name, "Client name shown by `cairnctl fs status`");
  app.add_option("--log", log_file, "Log file once in the background (default: none)");
  app.add_option("-o", extra_opts, "Extra FUSE mount options (comma-separated)");
  app.add_flag("-f,--foreground", foreground, "Stay in the foreground");
  std::string hold_sock;
  int hold_fd = -1;
  std::string hold_state;
  app.add_option("--hold", hold_sock, "(internal) run as the mount's descriptor holder")
      ->group("");
  app.add_option("--hold-fd", hold_fd, "")->group("");
  app.add_option("--hold-state", hold_state, "")->group("");
  CLI11_PARSE(app, argc, argv);
  mountpoint = positional.back();
  if (positional.size() == 2) {  // fstab: `cairnfs/sub /mnt fuse.cairn-fuse conf=... 0 0`
    const std::string& source = positional.front();
    size_t slash = source.find('/');
    fo.fs_name = source.substr(0, slash);
    if (slash != std::string::npos) fo.subvolume = source.substr(slash + 1);
  }
  // Our own -o options (conf=, fs=, subvolume=) and fstab-only words are
  // taken out; the rest goes to FUSE.
  {
    std::string rest;
    for (const std::string& opt : split_options(extra_opts)) {
      if (opt.rfind("conf=", 0) == 0) conf = opt.substr(5);
      else if (opt.rfind("fs=", 0) == 0) fo.fs_name = opt.substr(3);
      else if (opt.rfind("subvolume=", 0) == 0) fo.subvolume = opt.substr(10);
      else if (int own = own_option(opt, fo); own != 1) {
        if (own == 2) {
          std::fprintf(stderr, "cairn-fuse: bad option %s\n", opt.c_str());
          return 2;
        }
        own_opts += (own_opts.empty() ? "" : ",") + opt;
      }
      else if (opt.empty() || opt == "defaults" || opt == "_netdev" || opt == "nofail" ||
               opt == "noauto" || opt == "auto" || opt == "user" || opt == "nouser") continue;
      else rest += (rest.empty() ? "" : ",") + opt;
    }
    extra_opts = rest;
  }
  mountpoint = fs::mount_path(mountpoint);
  if (!hold_sock.empty()) {
    int null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, STDIN_FILENO);
    dup2(null_fd, STDOUT_FILENO);
    dup2(null_fd, STDERR_FILENO);
    return fs::run_holder(hold_sock, mountpoint, hold_fd, fs::decode_state(hold_state));
  }
  // A mount whose cairn-fuse died or was stopped for an upgrade: take it over.
  // (A holder whose mount was just unmounted lingers for up to a second;
  // only a mount that is still there can be taken over.)
  std::optional<fs::HeldMount> held;
  if (auto st = fs::holder_status(mountpoint); st.ok() && fs::is_mounted(mountpoint)) {
    if (*st == "attached") {
      std::fprintf(stderr, "cairn-fuse: %s is mounted and served already\n", mountpoint.c_str());
      return 1;
    }
    auto h = fs::fetch_held(mountpoint);
    if (!h.ok()) {
      std::fprintf(stderr, "cairn-fuse: %s\n", h.status().to_string().c_str());
      return 1;
    }
    held = *h;
    fo.fs_name = held->fs_name;  // serve exactly what the mount served
    fo.subvolume = held->subvolume;
    if (own_opts.empty() && !held->options.empty()) {  // ... as it served it
      own_opts = held->options;
      for (const std::string& opt : split_options(own_opts)) own_option(opt, fo);
    }
  }
  if (fo.client_name.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    fo.client_name = std::string(host) + ":" + mountpoint;
  }

  // Fork before any thread exists; the parent waits for the child's verdict.
  int ready_fd = -1;
  if (!foreground) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
      std::perror("pipe");
      return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("fork");
      return 1;
    }
    if (pid > 0) {
      close(p[1]);
      std::string msg;
      char buf[512];
      ssize_t n;
      while ((n = read(p[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
      if (msg == "OK") return 0;
      std::fprintf(stderr, "cairn-fuse: %s\n",
                   msg.empty() ? "the mount daemon died before mounting" : msg.c_str());
      return 1;
    }
    close(p[0]);
    ready_fd = p[1];
    setsid();
  }
  net::setup_logging("fuse");
  signal(SIGPIPE, SIG_IGN);

  auto opts = client::load_config(conf);
  if (!opts.ok()) {
    report(ready_fd, opts.status().to_string());
    return 1;
  }
  opts->connect_timeout = std::chrono::seconds(20);
  auto cluster = client::Client::connect(*opts);
  if (!cluster.ok()) {
    report(ready_fd, "cannot reach the cluster: " + cluster.status().to_string());
    return 1;
  }
  fs::FuseFs fs(**cluster, opts->key, fo);
  if (held) fs.mdsc_resume = held->session;
  if (Status st = fs.connect(); !st.ok()) {
    report(ready_fd, st.to_string());
    return 1;
  }

  std::string mount_opts = "default_permissions,allow_other,fsname=cairn:" + fo.fs_name +
                           (fo.subvolume.empty() ? "" : "/" + fo.subvolume) + ",subtype=cairn";
  if (!extra_opts.empty()) mount_opts += "," + extra_opts;
  std::vector<std::string> fargs = {"cairn-fuse", "-o", mount_opts};
  std::vector<char*> fargv;
  for (auto& a : fargs) fargv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(fargv.size()), fargv.data());
  fuse_session* se = fuse_session_new(&args, &fs.ops(), sizeof(fuse_lowlevel_ops), &fs);
  if (se == nullptr) {
    report(ready_fd, "invalid mount options: " + mount_opts);
    return 1;
  }
  if (fuse_set_signal_handlers(se) != 0) {
    report(ready_fd, "cannot install signal handlers");
    return 1;
  }
  std::string self_exe = std::filesystem::read_symlink("/proc/self/exe").string();
  if (held) {
    std::string fd_path = "/dev/fd/" + std::to_string(held->fuse_fd);
    if (fuse_session_mount(se, fd_path.c_str()) != 0) {
      report(ready_fd, "cannot take over the descriptor of " + mountpoint);
      return 1;
    }
    fs::inject_init(se);
  } else {
    if (fuse_session_mount(se, mountpoint.c_str()) != 0) {
      report(ready_fd, "cannot mount on " + mountpoint + " (does it exist? is /dev/fuse there?)");
      return 1;
    }
    fs::HeldMount state;
    state.session = fs.mdsc->session();
    state.fs_name = fo.fs_name;
    state.subvolume = fo.subvolume;
    state.options = own_opts;
    if (Status st = fs::spawn_holder(self_exe, mountpoint, fuse_session_fd(se), state);
        !st.ok()) {
      spdlog::warn("{}: this mount will not survive a cairn-fuse restart", st.to_string());
    }
  }
  fs::set_readahead(mountpoint, fs::kReadaheadBytes);
  ::mkdir("/run/cairn", 0755);
  ::mkdir("/run/cairn/fuse", 0700);
  fs.start_writeback(fs::holder_socket(mountpoint) + ".unstored", held.has_value());
  // Session I/O through the passthrough hooks (fs/fuse/passthrough.h); the
  // INIT of a fresh mount asks for passthrough when a read cache is wanted.
  fs::install_passthrough_hooks(se, !fo.read_cache_dir.empty() && !held);
  fs.start_read_cache(fs::holder_socket(mountpoint) + ".modes", held.has_value(),
                      fuse_session_fd(se));
  int holder_conn = fs::attach_to_holder(mountpoint);
  fs.attach(se);
  bool resent = held && fs::request_resend(fuse_session_fd(se));
  if (!foreground) {
    int null_fd = open("/dev/null", O_RDWR);
    int log_fd = log_file.empty() ? null_fd
                                  : open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log_fd < 0) log_fd = null_fd;
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    if (chdir("/") != 0) spdlog::warn("chdir /: {}", std::strerror(errno));
    report(ready_fd, "");
  }
  if (held) {
    spdlog::info("took over the live mount on {} (MDS session {}){}", mountpoint, held->session,
                 resent ? "; the kernel re-sent the requests in flight"
                        : "; this kernel cannot re-send requests in flight");
  } else {
    spdlog::info("mounted filesystem {}{} on {}", fo.fs_name,
                 fo.subvolume.empty() ? "" : " subvolume " + fo.subvolume, mountpoint);
  }
  fuse_loop_config cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.clone_fd = 0;
  cfg.max_idle_threads = 16;
  int rc = fuse_session_loop_mt(se, &cfg);
  // Stopped by a signal while still mounted: leave the mount to the holder
  // (applications stall) for the next cairn-fuse to take over.
  bool handed_over = holder_conn >= 0 && fs::is_mounted(mountpoint);
  if (handed_over) {
    spdlog::info("stopping; {} stays mounted for the next cairn-fuse to take over", mountpoint);
    fs.detach();
  } else {
    spdlog::info("unmounted {}", mountpoint);
    fs.shutdown();
    ::unlink((fs::holder_socket(mountpoint) + ".unstored").c_str());
    ::unlink((fs::holder_socket(mountpoint) + ".modes").c_str());
    fuse_session_unmount(se);
  }
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  fuse_opt_free_args(&args);
  return rc == 0 ? 0 : 1;
}
