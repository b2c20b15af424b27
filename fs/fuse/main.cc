// cairn-fuse: mounts a Cairn filesystem.
//   cairn-fuse MOUNTPOINT --conf DIR/cairn.conf [--fs NAME] [--subvolume NAME] [-o OPTS]
// Returns once the mount is live (or with an error), leaving a daemon that
// serves it until `umount MOUNTPOINT` / `cairnctl fs umount`.
#include "fs/fuse/fuse_fs.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>

#include "common/net/daemon.h"

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cairn-fuse: mount a Cairn filesystem", "cairn-fuse"};
  std::string mountpoint;
  std::string conf;
  std::string log_file;
  std::string extra_opts;
  bool foreground = false;
  fs::FuseOptions fo;
  app.add_option("mountpoint", mountpoint, "Where to mount")->required();
  app.add_option("--conf", conf, "Cluster config (default $CAIRN_CONF)")->envname("CAIRN_CONF");
  app.add_option("--fs", fo.fs_name, "Filesystem name (default cairnfs)");
  app.add_option("--subvolume", fo.subvolume, "Mount this subvolume as the root");
  app.add_option("--name", fo.client_name, "Client name shown by `cairnctl fs status`");
  app.add_option("--log", log_file, "Log file once in the background (default: none)");
  app.add_option("-o", extra_opts, "Extra FUSE mount options (comma-separated)");
  app.add_flag("-f,--foreground", foreground, "Stay in the foreground");
  CLI11_PARSE(app, argc, argv);
  if (fo.client_name.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    fo.client_name = std::string(host) + ":" + mountpoint;
  }

  // Fork before any thread exists; the parent waits for the child's verdict.
  int ready_fd = -1;
  if (!foreground) {
    int p[2];
    if (pipe(p) != 0) {
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
  if (fuse_session_mount(se, mountpoint.c_str()) != 0) {
    report(ready_fd, "cannot mount on " + mountpoint + " (does it exist? is /dev/fuse there?)");
    return 1;
  }
  fs.attach(se);
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
  spdlog::info("mounted filesystem {}{} on {}", fo.fs_name,
               fo.subvolume.empty() ? "" : " subvolume " + fo.subvolume, mountpoint);
  fuse_loop_config cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.clone_fd = 0;
  cfg.max_idle_threads = 16;
  int rc = fuse_session_loop_mt(se, &cfg);
  spdlog::info("unmounted {}", mountpoint);
  fs.shutdown();
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  fuse_opt_free_args(&args);
  return rc == 0 ? 0 : 1;
}
