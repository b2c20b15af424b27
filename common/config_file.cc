#include "common/config_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace cairn {

namespace {

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

bool valid_key(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

Result<ConfigMap> parse_config(std::string_view text, const std::string& origin) {
  ConfigMap out;
  int lineno = 0;
  while (!text.empty()) {
    ++lineno;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    auto where = [&] { return origin + ":" + std::to_string(lineno) + ": "; };
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return Status::InvalidArgument(where() + "expected 'key = value', got '" + std::string(line) +
                                     "'");
    }
    std::string_view key = trim(line.substr(0, eq));
    std::string_view value = trim(line.substr(eq + 1));
    if (!valid_key(key)) {
      return Status::InvalidArgument(where() + "bad key '" + std::string(key) + "'");
    }
    if (!out.emplace(std::string(key), std::string(value)).second) {
      return Status::InvalidArgument(where() + "duplicate key '" + std::string(key) + "'");
    }
  }
  return out;
}

Result<ConfigMap> read_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound("config file " + path + " does not exist");
    return Status::IoError("cannot open config file " + path + ": " + errno_text(err));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::IoError("cannot read config file " + path);
  return parse_config(ss.str(), path);
}

Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::IoError("create " + tmp + ": " + errno_text(errno));
  // open() applies the umask; the caller's mode (e.g. 0600 for keys) is the contract.
  ::fchmod(fd, mode);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Status::IoError("write " + tmp + ": " + errno_text(err));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Status::IoError("sync " + tmp + ": " + errno_text(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Status::IoError("rename " + tmp + " to " + path + ": " + errno_text(err));
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

Status write_config_file(const std::string& path, const ConfigMap& config,
                         const std::string& header) {
  std::string text;
  std::istringstream hs(header);
  for (std::string line; std::getline(hs, line);) text += "# " + line + "\n";
  for (const auto& [k, v] : config) {
    if (!valid_key(k) || v.find('\n') != std::string::npos) {
      return Status::InvalidArgument("config entry '" + k + "' cannot be written");
    }
    text += k + " = " + v + "\n";
  }
  return write_file_atomic(path, text);
}

std::optional<std::string> config_path_from_env() {
  const char* v = std::getenv(kConfigEnvVar);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

}  // namespace cairn
