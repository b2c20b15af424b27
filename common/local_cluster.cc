#include "common/local_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <tuple>

#include "common/config_file.h"
#include "common/http_server.h"

namespace cairn {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

std::string errno_text(int err) { return std::strerror(err); }

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

int elapsed_ms(Clock::time_point since) {
  return static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count());
}

std::string loopback(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// Port of "127.0.0.1:P", 0 if unparseable.
uint16_t port_of(const std::string& addr) {
  std::string host;
  uint16_t port = 0;
  if (!split_host_port(addr, &host, &port).ok()) return 0;
  return port;
}

bool is_hex_key(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

Result<std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound(path + " does not exist");
    return Status::IoError("cannot open " + path + ": " + errno_text(err));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool healthy(const std::string& http_addr, int timeout_ms) {
  auto r = http_get(http_addr, "/healthz", timeout_ms);
  return r.ok() && r->status == 200;
}

// ordered_json: cluster.json keeps a readable key order (ours first, then the
// keys other tools added, in their order).
nlohmann::ordered_json daemon_to_json(const DaemonInfo& d) {
  nlohmann::ordered_json j = {{"id", d.id}, {"addr", d.addr}, {"http", d.http}};
  if (d.type == DaemonType::kOsd) j["host"] = d.host;
  j["pid"] = d.pid;
  return j;
}

}  // namespace

// ---- DaemonInfo / ClusterInfo ----

namespace {
struct TypeNames {
  DaemonType type;
  const char* prefix;  // "mon."
  const char* binary;  // "cairn-mon"
  const char* json;    // gateways[].type
};
constexpr TypeNames kTypeNames[] = {
    {DaemonType::kMon, "mon.", "cairn-mon", "mon"},
    {DaemonType::kOsd, "osd.", "cairn-osd", "osd"},
    {DaemonType::kS3, "s3.", "cairn-s3", "s3"},
    {DaemonType::kNbd, "nbd.", "cairn-nbd", "nbd"},
    {DaemonType::kMds, "mds.", "cairn-mds", "mds"},
};
const TypeNames& names_of(DaemonType t) {
  for (const TypeNames& n : kTypeNames) {
    if (n.type == t) return n;
  }
  CAIRN_CHECK(false);
  return kTypeNames[0];
}
bool is_gateway(DaemonType t) {
  return t == DaemonType::kS3 || t == DaemonType::kNbd || t == DaemonType::kMds;
}
}  // namespace

std::string DaemonInfo::name() const { return names_of(type).prefix + std::to_string(id); }

std::string DaemonInfo::binary() const { return names_of(type).binary; }

std::string ClusterInfo::mon_addrs() const {
  std::string out;
  for (const DaemonInfo& m : mons) out += (out.empty() ? "" : ",") + m.addr;
  return out;
}

DaemonInfo* ClusterInfo::find(std::string_view name) {
  for (auto* v : {&mons, &osds, &gateways}) {
    for (DaemonInfo& d : *v) {
      if (d.name() == name) return &d;
    }
  }
  return nullptr;
}

Result<std::pair<DaemonType, int>> parse_daemon_name(std::string_view name) {
  const TypeNames* tn = nullptr;
  for (const TypeNames& n : kTypeNames) {
    if (name.starts_with(n.prefix)) tn = &n;
  }
  if (tn == nullptr) {
    return Status::InvalidArgument("'" + std::string(name) +
                                   "' is not a daemon name like mon.0, osd.1 or s3.0");
  }
  DaemonType type = tn->type;
  std::string_view num = name.substr(std::string_view(tn->prefix).size());
  if (num.empty() || num.size() > 6) {
    return Status::InvalidArgument("bad daemon id in '" + std::string(name) + "'");
  }
  int id = 0;
  for (char c : num) {
    if (c < '0' || c > '9')
      return Status::InvalidArgument("bad daemon id in '" + std::string(name) + "'");
    id = id * 10 + (c - '0');
  }
  return std::pair{type, id};
}

// ---- ports, randomness, keys ----

Result<std::vector<uint16_t>> pick_free_ports(int n, const std::set<uint16_t>& avoid) {
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  std::set<uint16_t> taken = avoid;
  Status st;
  for (int attempt = 0; static_cast<int>(ports.size()) < n; ++attempt) {
    if (attempt > n * 20 + 100) {
      st = Status::Unavailable("could not find " + std::to_string(n) + " free loopback ports");
      break;
    }
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      st = Status::IoError(std::string("socket: ") + errno_text(errno));
      break;
    }
    fds.push_back(fd);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      st = Status::IoError(std::string("bind 127.0.0.1:0: ") + errno_text(errno));
      break;
    }
    uint16_t port = ntohs(sa.sin_port);
    if (taken.insert(port).second) ports.push_back(port);
  }
  for (int fd : fds) ::close(fd);
  if (!st.ok()) return st;
  return ports;
}

bool loopback_port_free(uint16_t port) {
  if (port == 0) return false;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  ::close(fd);
  return ok;
}

Result<std::string> random_hex(size_t n) {
  std::string raw(n, '\0');
  std::ifstream in("/dev/urandom", std::ios::binary);
  if (!in.read(raw.data(), static_cast<std::streamsize>(n))) {
    return Status::IoError("cannot read /dev/urandom");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

Result<std::string> random_uuid() {
  auto hex = random_hex(16);
  if (!hex.ok()) return hex.status();
  std::string h = std::move(hex).value();
  h[12] = '4';                                                  // version 4
  h[16] = "89ab"[std::stoi(h.substr(16, 1), nullptr, 16) & 3];  // RFC 4122 variant
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20, 12);
}

Result<std::string> read_keyring(const std::string& path) {
  auto text = read_whole_file(path);
  if (!text.ok()) return text.status();
  std::string_view s = *text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  if (!is_hex_key(s)) {
    return Status::Corruption("keyring " + path + " does not hold a 64-hex-char key");
  }
  return std::string(s);
}

Result<std::string> ensure_keyring(const std::string& path) {
  auto existing = read_keyring(path);
  if (existing.ok() || !existing.status().is(Code::kNotFound)) return existing;
  auto key = random_hex(32);
  if (!key.ok()) return key.status();
  CAIRN_RETURN_IF_ERROR(write_file_atomic(path, *key, 0600));
  return key;
}

// ---- daemon command lines, config files ----

std::vector<std::string> daemon_argv(const std::string& dir, const std::string& bin_dir,
                                     const ClusterInfo& cluster, const DaemonInfo& d) {
  if (is_gateway(d.type)) {
    std::vector<std::string> argv = {bin_dir + "/" + d.binary(), "--id", std::to_string(d.id),
                                     "--addr", d.addr, "--http", d.http, "--conf", cluster.conf};
    if (d.type == DaemonType::kS3) argv.insert(argv.end(), {"--admin-file", dir + "/s3-admin.json"});
    return argv;
  }
  std::vector<std::string> argv = {bin_dir + "/" + d.binary(),
                                   "--id",
                                   std::to_string(d.id),
                                   "--data",
                                   dir + "/" + d.name(),
                                   "--addr",
                                   d.addr,
                                   "--http",
                                   d.http};
  if (d.type == DaemonType::kMon) {
    std::string peers;
    for (const DaemonInfo& m : cluster.mons) {
      peers += (peers.empty() ? "" : ",") + std::to_string(m.id) + "=" + m.addr;
    }
    argv.insert(argv.end(), {"--key", cluster.key_file, "--fsid", cluster.fsid, "--peers", peers});
  } else {
    argv.insert(argv.end(),
                {"--host", d.host, "--key", cluster.key_file, "--mon", cluster.mon_addrs()});
  }
  return argv;
}

std::string render_cairn_conf(const ClusterInfo& c) {
  return "# Cairn cluster configuration, written by `cairn up`.\n"
         "# Clients find it through --conf or the CAIRN_CONF environment variable.\n"
         "fsid = " +
         c.fsid + "\n" + "mon_addrs = " + c.mon_addrs() + "\n" + "key_file = " + c.key_file + "\n";
}

Result<ClusterInfo> parse_cluster_json(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Status::Corruption("cluster.json is not a JSON object");
  ClusterInfo c;
  // Any type mismatch is reported as corruption rather than thrown.
  try {
    c.fsid = j.value("fsid", "");
    c.conf = j.value("conf", "");
    c.key_file = j.value("key_file", "");
    for (auto [key, type, out] : {std::tuple{"mons", DaemonType::kMon, &c.mons},
                                  std::tuple{"osds", DaemonType::kOsd, &c.osds}}) {
      if (!j.contains(key)) continue;
      for (const json& e : j.at(key)) {
        DaemonInfo d;
        d.type = type;
        d.id = e.at("id").get<int>();
        d.addr = e.value("addr", "");
        d.http = e.value("http", "");
        d.host = e.value("host", "");
        d.pid = e.value("pid", 0);
        out->push_back(std::move(d));
      }
    }
    if (j.contains("gateways")) {
      for (const json& e : j.at("gateways")) {
        DaemonInfo d;
        const std::string t = e.at("type").get<std::string>();
        bool known = false;
        for (const TypeNames& n : kTypeNames) {
          if (t == n.json && is_gateway(n.type)) {
            d.type = n.type;
            known = true;
          }
        }
        if (!known) return Status::Corruption("cluster.json: unknown gateway type '" + t + "'");
        d.id = e.at("id").get<int>();
        d.addr = e.value("addr", "");
        d.http = e.value("http", "");
        d.pid = e.value("pid", 0);
        c.gateways.push_back(std::move(d));
      }
    }
    if (j.contains("s3") && j["s3"].is_object()) {
      c.s3_access_key = j["s3"].value("access_key", "");
      c.s3_secret_key = j["s3"].value("secret_key", "");
    }
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("cluster.json: ") + e.what());
  }
  if (c.fsid.empty()) return Status::Corruption("cluster.json has no fsid");
  return c;
}

std::string merge_cluster_json(std::string_view existing, const ClusterInfo& c) {
  using ojson = nlohmann::ordered_json;
  ojson j = ojson::parse(existing, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) j = ojson::object();
  j["fsid"] = c.fsid;
  j["conf"] = c.conf;
  j["key_file"] = c.key_file;
  j["mons"] = ojson::array();
  for (const DaemonInfo& d : c.mons) j["mons"].push_back(daemon_to_json(d));
  j["osds"] = ojson::array();
  for (const DaemonInfo& d : c.osds) j["osds"].push_back(daemon_to_json(d));
  if (!c.gateways.empty()) {
    j["gateways"] = ojson::array();
    for (const DaemonInfo& d : c.gateways) {
      ojson g = {{"type", names_of(d.type).json}};
      g.update(daemon_to_json(d));
      j["gateways"].push_back(std::move(g));
    }
  } else {
    j.erase("gateways");
  }
  for (const DaemonInfo& d : c.gateways) {
    if (d.type == DaemonType::kS3 && d.id == 0) {
      j["s3"] = {{"endpoint", "http://" + d.addr},
                 {"access_key", c.s3_access_key},
                 {"secret_key", c.s3_secret_key}};
    }
    if (d.type == DaemonType::kNbd && d.id == 0) j["nbd"] = {{"uri", "nbd://" + d.addr}};
    if (d.type == DaemonType::kMds && d.id == 0) j["fs"] = {{"name", "cairnfs"}};
  }
  return j.dump(2) + "\n";
}

Result<ClusterInfo> read_cluster_json(const std::string& path) {
  auto text = read_whole_file(path);
  if (!text.ok()) return text.status();
  auto c = parse_cluster_json(*text);
  if (!c.ok()) return Status::Corruption(path + ": " + c.status().message());
  return c;
}

Status write_cluster_json(const std::string& path, const ClusterInfo& c) {
  auto existing = read_whole_file(path);
  return write_file_atomic(path, merge_cluster_json(existing.ok() ? *existing : "", c));
}

// ---- processes ----

Status write_pid_file(const std::string& path, int pid) {
  return write_file_atomic(path, std::to_string(pid) + "\n");
}

Result<int> read_pid_file(const std::string& path) {
  auto text = read_whole_file(path);
  if (!text.ok()) return text.status();
  char* end = nullptr;
  long pid = std::strtol(text->c_str(), &end, 10);
  if (end == text->c_str() || pid <= 0 || pid > (1 << 22)) {
    return Status::Corruption("pid file " + path + " does not hold a pid");
  }
  return static_cast<int>(pid);
}

bool process_alive(int pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  // A zombie still answers kill(0) but is gone for our purposes.
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  size_t p = line.rfind(')');
  return p != std::string::npos && p + 2 < line.size() && line[p + 2] != 'Z' && line[p + 2] != 'X';
}

std::vector<std::string> process_cmdline(int pid) {
  auto text = read_whole_file("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> argv;
  if (!text.ok()) return argv;
  std::string_view s = *text;
  while (!s.empty()) {
    size_t z = s.find('\0');
    argv.emplace_back(s.substr(0, z));
    if (z == std::string_view::npos) break;
    s.remove_prefix(z + 1);
  }
  return argv;
}

bool process_matches(int pid, std::string_view binary, const std::string& dir) {
  if (!process_alive(pid)) return false;
  std::vector<std::string> argv = process_cmdline(pid);
  if (argv.empty() || fs::path(argv[0]).filename() != binary) return false;
  const std::string prefix = dir + "/";
  for (size_t i = 1; i < argv.size(); ++i) {
    if (argv[i].starts_with(prefix)) return true;
  }
  return false;
}

Result<int> spawn_detached(const std::vector<std::string>& argv, const std::string& log_path) {
  CAIRN_CHECK(!argv.empty());
  // Everything the children need is prepared before fork: after fork only
  // async-signal-safe calls are allowed (the caller may be multi-threaded).
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const char* log = log_path.c_str();

  // The children report over a close-on-exec pipe: {'P', pid} from the
  // intermediate child, {'E', errno} from the daemon if exec fails. EOF means
  // both are done: the intermediate exited and the daemon exec'd (or died).
  struct Msg {
    char tag;
    int value;
  };
  int pfd[2];
  if (::pipe2(pfd, O_CLOEXEC) != 0) return Status::IoError("pipe: " + errno_text(errno));
  pid_t child = ::fork();
  if (child < 0) {
    int err = errno;
    ::close(pfd[0]);
    ::close(pfd[1]);
    return Status::IoError("fork: " + errno_text(err));
  }
  if (child == 0) {
    ::close(pfd[0]);
    ::setsid();
    pid_t daemon = ::fork();
    if (daemon != 0) {
      Msg m{daemon > 0 ? 'P' : 'E', daemon > 0 ? daemon : errno};
      (void)!::write(pfd[1], &m, sizeof(m));
      ::_exit(0);
    }
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) ::signal(sig, SIG_DFL);
    int in = ::open("/dev/null", O_RDONLY);
    int out = ::open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0) {
      Msg m{'E', errno};
      (void)!::write(pfd[1], &m, sizeof(m));
      ::_exit(127);
    }
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    // No fd of the caller (listening sockets, lock files) leaks into the daemon.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execv(cargv[0], cargv.data());
    Msg m{'E', errno};
    (void)!::write(pfd[1], &m, sizeof(m));
    ::_exit(127);
  }
  ::close(pfd[1]);
  int pid = 0, exec_errno = 0;
  Msg m;
  for (;;) {
    ssize_t n = ::read(pfd[0], &m, sizeof(m));
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof(m))) break;
    if (m.tag == 'P') pid = m.value;
    if (m.tag == 'E') exec_errno = m.value;
  }
  ::close(pfd[0]);
  int wstatus = 0;
  while (::waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (exec_errno != 0) {
    return Status::IoError("cannot start " + argv[0] + " (log " + log_path +
                           "): " + errno_text(exec_errno));
  }
  if (pid <= 0) return Status::IoError("cannot start " + argv[0] + ": fork failed");
  return pid;
}

Status terminate_process(int pid, int grace_ms, int kill_wait_ms) {
  if (!process_alive(pid)) return Status::Ok();
  ::kill(pid, SIGTERM);
  auto start = Clock::now();
  while (process_alive(pid)) {
    if (elapsed_ms(start) >= grace_ms) {
      ::kill(pid, SIGKILL);
      auto kstart = Clock::now();
      while (process_alive(pid)) {
        if (elapsed_ms(kstart) >= kill_wait_ms) {
          return Status::TimedOut("pid " + std::to_string(pid) + " survived SIGKILL");
        }
        sleep_ms(20);
      }
      break;
    }
    sleep_ms(20);
  }
  return Status::Ok();
}

std::string tail_file(const std::string& path, int lines) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  constexpr std::streamoff kMaxTail = 64 * 1024;
  std::streamoff size = in.tellg();
  std::streamoff from = size > kMaxTail ? size - kMaxTail : 0;
  in.seekg(from);
  std::string text(static_cast<size_t>(size - from), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (!text.empty() && text.back() == '\n') text.pop_back();
  size_t pos = text.size();
  for (int i = 0; i < lines && pos != std::string::npos && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
  }
  std::string out = pos == std::string::npos ? text : text.substr(pos + 1);
  return out.empty() ? out : out + "\n";
}

// ---- LocalCluster ----

// flock on DIR/run/lock, so concurrent `cairn` commands on one dir serialize.
// The fd is close-on-exec: daemons never inherit the lock.
class LocalCluster::Lock {
 public:
  static Result<std::unique_ptr<Lock>> acquire(const std::string& dir) {
    std::error_code ec;
    fs::create_directories(dir + "/run", ec);
    const std::string path = dir + "/run/lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IoError("open " + path + ": " + errno_text(errno));
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        int err = errno;
        ::close(fd);
        return Status::IoError("flock " + path + ": " + errno_text(err));
      }
    }
    return std::unique_ptr<Lock>(new Lock(fd));
  }
  ~Lock() { ::close(fd_); }

 private:
  explicit Lock(int fd) : fd_(fd) {}
  int fd_;
};

LocalCluster::LocalCluster(LocalClusterOptions options) : opts_(std::move(options)) {
  std::error_code ec;
  fs::path p = fs::absolute(opts_.dir, ec).lexically_normal();
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  opts_.dir = s;
  if (opts_.bin_dir.empty()) {
    opts_.bin_dir = fs::read_symlink("/proc/self/exe", ec).parent_path().string();
  } else {
    opts_.bin_dir = fs::absolute(opts_.bin_dir, ec).lexically_normal().string();
  }
}

std::string LocalCluster::log_path(std::string_view name) const {
  return opts_.dir + "/log/" + std::string(name) + ".log";
}
std::string LocalCluster::pid_path(std::string_view name) const {
  return opts_.dir + "/run/" + std::string(name) + ".pid";
}
std::string LocalCluster::data_path(std::string_view name) const {
  return opts_.dir + "/" + std::string(name);
}

void LocalCluster::say(std::string_view text) const {
  if (opts_.progress) opts_.progress(text);
}

Status LocalCluster::load() {
  auto c = read_cluster_json(cluster_json_path());
  if (!c.ok()) {
    if (c.status().is(Code::kNotFound)) {
      return Status::NotFound("no cluster in " + opts_.dir +
                              " (no cluster.json; run `cairn up --dir " + opts_.dir + "` first)");
    }
    return c.status();
  }
  info_ = std::move(c).value();
  return Status::Ok();
}

Status LocalCluster::save() const { return write_cluster_json(cluster_json_path(), info_); }

int LocalCluster::running_pid(const DaemonInfo& d) const {
  auto pid = read_pid_file(pid_path(d.name()));
  if (!pid.ok()) return 0;
  return process_matches(*pid, d.binary(), opts_.dir) ? *pid : 0;
}

Status LocalCluster::check_binaries(bool mons, bool osds) const {
  for (auto [need, bin] : {std::pair{mons, "cairn-mon"}, std::pair{osds, "cairn-osd"}}) {
    if (!need) continue;
    const std::string path = opts_.bin_dir + "/" + bin;
    if (::access(path.c_str(), X_OK) != 0) {
      return Status::NotFound("cannot find the " + std::string(bin) + " executable at " + path +
                              " (build it, or pass --bin-dir)");
    }
  }
  return Status::Ok();
}

bool LocalCluster::has_binary(DaemonType type) const {
  const std::string path = opts_.bin_dir + "/" + names_of(type).binary;
  return ::access(path.c_str(), X_OK) == 0;
}

Status LocalCluster::plan_gateways() {
  for (DaemonType t : {DaemonType::kS3, DaemonType::kNbd}) {
    bool present = false;
    for (const DaemonInfo& d : info_.gateways) present |= d.type == t;
    if (!present && has_binary(t)) info_.gateways.push_back({t, 0, "", "", "", 0});
  }
  // The filesystem: an active MDS and a standby that takes over from it.
  int mds_count = 0;
  for (const DaemonInfo& d : info_.gateways) mds_count += d.type == DaemonType::kMds ? 1 : 0;
  for (int id = mds_count; id < 2 && has_binary(DaemonType::kMds); ++id) {
    info_.gateways.push_back({DaemonType::kMds, id, "", "", "", 0});
  }
  bool s3 = false;
  for (const DaemonInfo& d : info_.gateways) s3 |= d.type == DaemonType::kS3;
  if (!s3) return Status::Ok();
  if (info_.s3_access_key.empty() || info_.s3_secret_key.empty()) {
    auto ak = random_hex(10);
    auto sk = random_hex(20);
    if (!ak.ok()) return ak.status();
    if (!sk.ok()) return sk.status();
    info_.s3_access_key = *ak;
    for (char& c : info_.s3_access_key) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    info_.s3_secret_key = *sk;
  }
  json admin = {{"user", "admin"},
                {"access_key", info_.s3_access_key},
                {"secret_key", info_.s3_secret_key}};
  return write_file_atomic(s3_admin_path(), admin.dump() + "\n", 0600);
}

Status LocalCluster::assign_ports(std::vector<DaemonInfo*> ds, bool any_mon_running) {
  // Every port recorded for any daemon stays reserved, running or not.
  std::set<uint16_t> reserved;
  for (auto* v : {&info_.mons, &info_.osds, &info_.gateways}) {
    for (const DaemonInfo& d : *v) {
      reserved.insert(port_of(d.addr));
      reserved.insert(port_of(d.http));
    }
  }
  reserved.erase(0);
  int need = 0;
  for (DaemonInfo* d : ds) {
    for (std::string* a : {&d->addr, &d->http}) {
      if (loopback_port_free(port_of(*a))) continue;
      // Other monitors know a monitor by its address (--peers), so it cannot
      // move while any of them runs. Everything else registers its address
      // at boot and may move.
      if (d->type == DaemonType::kMon && a == &d->addr && !d->addr.empty()) {
        if (any_mon_running) {
          return Status::Unavailable("port " + d->addr + " of " + d->name() +
                                     " is in use by another process; free it and retry");
        }
        say(d->name() + ": port " + d->addr + " is taken, moving it\n");
      }
      a->clear();
      ++need;
    }
  }
  auto ports = pick_free_ports(need, reserved);
  if (!ports.ok()) return ports.status();
  size_t next = 0;
  for (DaemonInfo* d : ds) {
    for (std::string* a : {&d->addr, &d->http}) {
      if (a->empty()) *a = loopback((*ports)[next++]);
    }
  }
  return Status::Ok();
}

Status LocalCluster::spawn(DaemonInfo& d) {
  std::error_code ec;
  fs::create_directories(data_path(d.name()), ec);
  if (ec) return Status::IoError("mkdir " + data_path(d.name()) + ": " + ec.message());
  const std::string log = log_path(d.name());
  {
    // A marker in the log separates this run's output from earlier ones.
    std::ofstream(log, std::ios::app) << "==== cairn: starting " << d.name() << " ====\n";
  }
  auto pid = spawn_detached(daemon_argv(opts_.dir, opts_.bin_dir, info_, d), log);
  if (!pid.ok()) return pid.status();
  d.pid = *pid;
  CAIRN_RETURN_IF_ERROR(write_pid_file(pid_path(d.name()), d.pid));
  return Status::Ok();
}

Status LocalCluster::wait_healthy(const std::vector<DaemonInfo*>& ds, int timeout_ms) {
  std::vector<DaemonInfo*> pending = ds;
  auto start = Clock::now();
  while (!pending.empty()) {
    std::vector<DaemonInfo*> still;
    for (DaemonInfo* d : pending) {
      if (healthy(d->http, 1000)) continue;
      if (!process_alive(d->pid)) {
        say("failed\n");
        return Status::Unavailable(d->name() + " exited during start-up; last lines of " +
                                   log_path(d->name()) + ":\n" +
                                   tail_file(log_path(d->name()), 20));
      }
      still.push_back(d);
    }
    pending.swap(still);
    if (pending.empty()) break;
    if (elapsed_ms(start) >= timeout_ms) {
      say("timed out\n");
      std::string msg;
      for (DaemonInfo* d : pending) {
        msg += "\n" + d->name() + " (pid " + std::to_string(d->pid) + ", http " + d->http +
               ") is not healthy; last lines of " + log_path(d->name()) + ":\n" +
               tail_file(log_path(d->name()), 10);
      }
      return Status::TimedOut("gave up after " + std::to_string(timeout_ms / 1000) + " s:" + msg);
    }
    sleep_ms(200);
  }
  say(fmt::format("ok ({:.1f} s)\n", elapsed_ms(start) / 1000.0));
  return Status::Ok();
}

namespace {

// An operator may prepare DIR/osd.N before the first `up`: an empty
// directory, or a link to one, where a disk of its own is mounted (a fresh
// ext4 has only lost+found). That is not daemon data.
bool is_prepared_data_dir(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_directory(p, ec)) return false;
  for (const auto& e : fs::directory_iterator(p, ec)) {
    if (e.path().filename() != "lost+found") return false;
  }
  return !ec;
}

}  // namespace

Status LocalCluster::up(std::optional<int> mons, std::optional<int> osds) {
  std::error_code ec;
  for (const char* sub : {"", "/log", "/run"}) {
    fs::create_directories(opts_.dir + sub, ec);
    if (ec) return Status::IoError("mkdir " + opts_.dir + sub + ": " + ec.message());
  }
  auto lock = Lock::acquire(opts_.dir);
  if (!lock.ok()) return lock.status();

  Status loaded = load();
  const bool fresh = loaded.is(Code::kNotFound);
  if (!fresh && !loaded.ok()) return loaded;
  if (fresh) {
    // Without cluster.json the fsid and ports are lost; starting over on top of
    // old daemon data would make daemons of two different clusters.
    for (const auto& e : fs::directory_iterator(opts_.dir, ec)) {
      std::string n = e.path().filename().string();
      if (parse_daemon_name(n).ok() && !is_prepared_data_dir(e.path())) {
        return Status::AlreadyExists(opts_.dir + " holds daemon data (" + n +
                                     ") but no cluster.json; use an empty directory");
      }
    }
    int nm = mons.value_or(3), no = osds.value_or(3);
    if (nm < 1 || nm > 7) return Status::InvalidArgument("--mons must be 1..7");
    if (no < 0 || no > 64) return Status::InvalidArgument("--osds must be 0..64");
    auto fsid = random_uuid();
    if (!fsid.ok()) return fsid.status();
    info_ = ClusterInfo{};
    info_.fsid = *fsid;
    for (int i = 0; i < nm; ++i) info_.mons.push_back({DaemonType::kMon, i, "", "", "", 0});
    for (int i = 0; i < no; ++i) {
      info_.osds.push_back({DaemonType::kOsd, i, "", "", "node-" + std::to_string(i), 0});
    }
    say("creating a new cluster in " + opts_.dir + " (fsid " + info_.fsid + ")\n");
  } else {
    if (mons && *mons != static_cast<int>(info_.mons.size())) {
      return Status::InvalidArgument("the cluster in " + opts_.dir + " has " +
                                     std::to_string(info_.mons.size()) +
                                     " monitors; changing the monitor count is not supported");
    }
    if (osds && *osds < static_cast<int>(info_.osds.size())) {
      return Status::InvalidArgument(
          "the cluster in " + opts_.dir + " has " + std::to_string(info_.osds.size()) +
          " OSDs; use `cairn stop` to stop some instead of shrinking it");
    }
    int next_id = 0;
    for (const DaemonInfo& d : info_.osds) next_id = std::max(next_id, d.id + 1);
    while (osds && static_cast<int>(info_.osds.size()) < *osds) {
      info_.osds.push_back(
          {DaemonType::kOsd, next_id, "", "", "node-" + std::to_string(next_id), 0});
      ++next_id;
    }
    say("restarting the cluster in " + opts_.dir + " (fsid " + info_.fsid + ")\n");
  }
  CAIRN_RETURN_IF_ERROR(check_binaries(!info_.mons.empty(), !info_.osds.empty()));

  auto key = ensure_keyring(keyring_path());
  if (!key.ok()) return key.status();
  info_.key_file = keyring_path();
  info_.conf = conf_path();

  // Which daemons already run; the rest get (possibly new) ports.
  std::vector<DaemonInfo*> start_mons, start_osds;
  bool any_mon_running = false;
  for (DaemonInfo& d : info_.mons) {
    d.pid = running_pid(d);
    any_mon_running |= d.pid != 0;
    if (d.pid == 0) start_mons.push_back(&d);
  }
  for (DaemonInfo& d : info_.osds) {
    d.pid = running_pid(d);
    if (d.pid == 0) start_osds.push_back(&d);
  }
  std::vector<DaemonInfo*> to_start = start_mons;
  to_start.insert(to_start.end(), start_osds.begin(), start_osds.end());
  CAIRN_RETURN_IF_ERROR(assign_ports(to_start, any_mon_running));
  CAIRN_RETURN_IF_ERROR(write_file_atomic(conf_path(), render_cairn_conf(info_)));
  CAIRN_RETURN_IF_ERROR(save());

  auto count = [](size_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
  };
  if (!start_mons.empty()) {
    say("starting " + count(start_mons.size(), "monitor") + "\n");
    for (DaemonInfo* d : start_mons) {
      Status st = spawn(*d);
      if (!st.ok()) {
        (void)save();
        return st;
      }
    }
    CAIRN_RETURN_IF_ERROR(save());
  }
  std::vector<DaemonInfo*> all_mons;
  for (DaemonInfo& d : info_.mons) all_mons.push_back(&d);
  say("waiting for " + count(all_mons.size(), "monitor") + " to form a quorum... ");
  CAIRN_RETURN_IF_ERROR(wait_healthy(all_mons, opts_.mon_timeout_ms));

  if (!start_osds.empty()) {
    say("starting " + count(start_osds.size(), "OSD") + "\n");
    for (DaemonInfo* d : start_osds) {
      Status st = spawn(*d);
      if (!st.ok()) {
        (void)save();
        return st;
      }
    }
    CAIRN_RETURN_IF_ERROR(save());
  }
  if (!info_.osds.empty()) {
    std::vector<DaemonInfo*> all_osds;
    for (DaemonInfo& d : info_.osds) all_osds.push_back(&d);
    say("waiting for " + count(all_osds.size(), "OSD") + " to boot and be marked up... ");
    CAIRN_RETURN_IF_ERROR(wait_healthy(all_osds, opts_.osd_timeout_ms));
  }

  // Gateways need OSDs (they create their pools on first start).
  if (!info_.osds.empty() && opts_.gateways) {
    CAIRN_RETURN_IF_ERROR(plan_gateways());
    std::vector<DaemonInfo*> start_gws, all_gws;
    for (DaemonInfo& d : info_.gateways) {
      if (!has_binary(d.type)) continue;  // e.g. a build without it: skip, keep the record
      all_gws.push_back(&d);
      d.pid = running_pid(d);
      if (d.pid == 0) start_gws.push_back(&d);
    }
    CAIRN_RETURN_IF_ERROR(assign_ports(start_gws, true));
    CAIRN_RETURN_IF_ERROR(save());
    if (!start_gws.empty()) {
      say("starting " + count(start_gws.size(), "gateway") + "\n");
      for (DaemonInfo* d : start_gws) {
        Status st = spawn(*d);
        if (!st.ok()) {
          (void)save();
          return st;
        }
      }
      CAIRN_RETURN_IF_ERROR(save());
    }
    if (!all_gws.empty()) {
      say("waiting for " + count(all_gws.size(), "gateway") + " to become healthy... ");
      CAIRN_RETURN_IF_ERROR(wait_healthy(all_gws, opts_.gateway_timeout_ms));
    }
  }
  return save();
}

Status LocalCluster::stop_all(std::vector<DaemonInfo*> ds) {
  // SIGTERM everyone first so they shut down in parallel, then wait.
  std::vector<std::pair<DaemonInfo*, int>> victims;
  for (DaemonInfo* d : ds) {
    int pid = running_pid(*d);
    if (pid != 0) {
      ::kill(pid, SIGTERM);
      victims.emplace_back(d, pid);
    }
  }
  Status result;
  auto start = Clock::now();
  for (auto [d, pid] : victims) {
    int left = std::max(0, opts_.stop_grace_ms - elapsed_ms(start));
    Status st = terminate_process(pid, left);
    if (st.ok()) {
      say("stopped " + d->name() + " (pid " + std::to_string(pid) + ")\n");
    } else if (result.ok()) {
      result = Status(st.code(), d->name() + ": " + st.message());
    }
  }
  for (DaemonInfo* d : ds) {
    if (running_pid(*d) == 0) {
      std::error_code ec;
      fs::remove(pid_path(d->name()), ec);
      d->pid = 0;
    }
  }
  return result;
}

Status LocalCluster::down() {
  CAIRN_RETURN_IF_ERROR(load());
  auto lock = Lock::acquire(opts_.dir);
  if (!lock.ok()) return lock.status();
  CAIRN_RETURN_IF_ERROR(load());  // again, under the lock
  std::vector<DaemonInfo*> gws, osds, mons;
  for (DaemonInfo& d : info_.gateways) gws.push_back(&d);
  for (DaemonInfo& d : info_.osds) osds.push_back(&d);
  for (DaemonInfo& d : info_.mons) mons.push_back(&d);
  // Gateways first (they are clients), then OSDs: they report to the
  // monitors while shutting down.
  Status st0 = stop_all(gws);
  Status st = stop_all(osds);
  Status st2 = stop_all(mons);
  CAIRN_RETURN_IF_ERROR(save());
  if (!st0.ok()) return st0;
  return st.ok() ? st2 : st;
}

Status LocalCluster::start_daemon(std::string_view name, bool wait) {
  auto parsed = parse_daemon_name(name);
  if (!parsed.ok()) return parsed.status();
  CAIRN_RETURN_IF_ERROR(load());
  auto lock = Lock::acquire(opts_.dir);
  if (!lock.ok()) return lock.status();
  CAIRN_RETURN_IF_ERROR(load());
  DaemonInfo* d = info_.find(name);
  if (d == nullptr) {
    return Status::NotFound("no daemon " + std::string(name) + " in the cluster in " + opts_.dir);
  }
  if (int pid = running_pid(*d); pid != 0) {
    d->pid = pid;
    say(std::string(name) + " is already running (pid " + std::to_string(pid) + ")\n");
    return save();
  }
  CAIRN_RETURN_IF_ERROR(check_binaries(d->type == DaemonType::kMon, d->type == DaemonType::kOsd));
  if (is_gateway(d->type) && !has_binary(d->type)) {
    return Status::NotFound("cannot find the " + d->binary() + " executable in " + opts_.bin_dir);
  }
  bool any_mon_running = false;
  for (const DaemonInfo& m : info_.mons) any_mon_running |= running_pid(m) != 0;
  CAIRN_RETURN_IF_ERROR(assign_ports({d}, any_mon_running));
  CAIRN_RETURN_IF_ERROR(spawn(*d));
  CAIRN_RETURN_IF_ERROR(save());
  if (!wait) return Status::Ok();
  say("waiting for " + std::string(name) + " to become healthy... ");
  return wait_healthy({d}, d->type == DaemonType::kMon   ? opts_.mon_timeout_ms
                          : d->type == DaemonType::kOsd ? opts_.osd_timeout_ms
                                                        : opts_.gateway_timeout_ms);
}

Status LocalCluster::stop_daemon(std::string_view name) {
  auto parsed = parse_daemon_name(name);
  if (!parsed.ok()) return parsed.status();
  CAIRN_RETURN_IF_ERROR(load());
  auto lock = Lock::acquire(opts_.dir);
  if (!lock.ok()) return lock.status();
  CAIRN_RETURN_IF_ERROR(load());
  DaemonInfo* d = info_.find(name);
  if (d == nullptr) {
    return Status::NotFound("no daemon " + std::string(name) + " in the cluster in " + opts_.dir);
  }
  Status st = stop_all({d});
  CAIRN_RETURN_IF_ERROR(save());
  return st;
}

Result<std::vector<DaemonStatus>> LocalCluster::status() const {
  auto c = read_cluster_json(cluster_json_path());
  if (!c.ok()) {
    if (c.status().is(Code::kNotFound)) return Status::NotFound("no cluster in " + opts_.dir);
    return c.status();
  }
  std::vector<DaemonStatus> out;
  for (auto* v : {&c->mons, &c->osds, &c->gateways}) {
    for (const DaemonInfo& d : *v) {
      DaemonStatus s;
      s.info = d;
      s.info.pid = running_pid(d);
      s.running = s.info.pid != 0;
      s.healthy = s.running && healthy(d.http, 1000);
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::string LocalCluster::summary() const {
  const std::string& d = opts_.dir;
  std::string s;
  s += "\nCairn cluster " + info_.fsid + " is up: " + std::to_string(info_.mons.size()) +
       " monitors, " + std::to_string(info_.osds.size()) + " OSDs.\n\n";
  s += "  monitors:  " + info_.mon_addrs() + "\n";
  s += "  config:    " + conf_path() + "\n";
  s += "  key:       " + info_.key_file + "\n";
  s += "  daemons:   " + cluster_json_path() + "\n";
  s += "  logs:      " + d + "/log/\n";
  for (const DaemonInfo& g : info_.gateways) {
    if (g.type == DaemonType::kS3 && g.id == 0) {
      s += "  s3:        http://" + g.addr + " (access key " + info_.s3_access_key +
           ", secret in cluster.json)\n";
    }
    if (g.type == DaemonType::kNbd && g.id == 0) s += "  nbd:       nbd://" + g.addr + "\n";
    if (g.type == DaemonType::kMds && g.id == 0) {
      s += "  fs:        cairnfs (mds.0 and mds.1; mount with `cairnctl fs mount /mnt/cairn`)\n";
    }
  }
  if (!info_.mons.empty()) {
    s += "  metrics:   http://" + info_.mons[0].http +
         "/metrics (mon.0; see cluster.json for all)\n";
  }
  s += "\nUse it:\n";
  s += "  export CAIRN_CONF=" + conf_path() + "\n";
  s += "  cairnctl status\n";
  s += "  cairn status --dir " + d + "          # daemons, pids, health\n";
  s += "  cairn stop --dir " + d + " osd.1      # stop one daemon (start brings it back)\n";
  s += "  cairn down --dir " + d + "            # stop everything; `cairn up` restarts it\n";
  s += "\nLocal mode gives each OSD its own simulated host (node-N), so the default\n"
       "host failure domain spreads replicas across OSDs on this one machine.\n";
  return s;
}

}  // namespace cairn
