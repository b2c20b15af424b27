// S3 users and access keys, kept in the omap of object "s3.users" in the
// gateway's metadata pool:
//   "user/NAME" -> UserInfo JSON (name, keys, created)
//   "key/AK"    -> {"user": NAME, "secret_key": SECRET}
// Synchronous (client sync API): cairnctl and gateway start-up use these.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "rgw/core/model.h"

namespace cairn::rgw {

struct PoolNames {
  std::string meta = "s3-meta";  // buckets, index, users, uploads
  std::string data = "s3-data";  // object stripes
  uint32_t meta_pg = 16;
  uint32_t data_pg = 32;
};

// Creates the gateway's pools if missing (size = min(3, OSDs in the map)) and
// waits until the client's map has them.
Status ensure_pools(client::Client& c, const PoolNames& pools);

// A fresh key pair: 20-char uppercase access key, 40-char secret.
AccessKey generate_key();

// Creates user `name` with one new key (or with `key` if given).
// AlreadyExists if the user exists; InvalidArgument for a bad name.
Result<UserInfo> create_user(client::Client& c, const PoolNames& pools, const std::string& name,
                             std::optional<AccessKey> key = std::nullopt);
// Like create_user, but Ok when the user already has exactly this key.
Status ensure_user_key(client::Client& c, const PoolNames& pools, const std::string& name,
                       const AccessKey& key);
Result<std::vector<UserInfo>> list_users(client::Client& c, const PoolNames& pools);
Result<UserInfo> get_user(client::Client& c, const PoolNames& pools, const std::string& name);
Status remove_user(client::Client& c, const PoolNames& pools, const std::string& name);
Result<AccessKey> add_key(client::Client& c, const PoolNames& pools, const std::string& name);
Status remove_key(client::Client& c, const PoolNames& pools, const std::string& name,
                  const std::string& access_key);

// omap keys and the key record codec, shared with the gateway's lookups.
std::string user_omap_key(const std::string& name);
std::string key_omap_key(const std::string& access_key);
std::string encode_key_record(const std::string& user, const std::string& secret);
// (user, secret) or nullopt.
std::optional<std::pair<std::string, std::string>> decode_key_record(std::string_view s);
bool valid_user_name(std::string_view name);

}  // namespace cairn::rgw
