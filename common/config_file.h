// Cluster config files: `key = value` lines, as written by `cairn up` to
// DIR/cairn.conf and read by the client library and tools.
//
//   # written by cairn up
//   fsid = 6f1c...
//   mon_addrs = 127.0.0.1:40001,127.0.0.1:40002,127.0.0.1:40003
//   key_file = /abs/dir/keyring
//
// Format: one `key = value` per line; whitespace around key and value is
// trimmed; blank lines and lines whose first non-blank character is '#' are
// ignored. There are no inline comments ('#' inside a value is part of it), no
// sections, no quoting, no continuation lines. Keys are [A-Za-z0-9_.-]+ and
// may appear only once.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cairn {

using ConfigMap = std::map<std::string, std::string>;

// Parses config text. `origin` names the source in error messages
// ("path:LINE: ..."). Errors are InvalidArgument.
Result<ConfigMap> parse_config(std::string_view text, const std::string& origin = "config");

// Reads and parses a file: NotFound if it does not exist, IoError if it cannot
// be read, InvalidArgument if malformed.
Result<ConfigMap> read_config_file(const std::string& path);

// Writes `config` (keys sorted) after `header` comment lines, atomically
// (temp file + fsync + rename). REQUIRES: keys valid, values without newlines.
Status write_config_file(const std::string& path, const ConfigMap& config,
                         const std::string& header = "");

// Replaces path with data atomically: writes path.tmp.PID, fsyncs it, renames
// it over path and fsyncs the directory. mode applies to the new file.
Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode = 0644);

// The environment variable that names the config file for clients and tools.
inline constexpr const char* kConfigEnvVar = "CAIRN_CONF";

// $CAIRN_CONF if set and non-empty.
std::optional<std::string> config_path_from_env();

}  // namespace cairn
