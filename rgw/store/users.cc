#include "rgw/store/users.h"

#include "client/pools.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/local_cluster.h"

namespace cairn::rgw {

using nlohmann::json;

namespace {
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

std::string user_omap_key(const std::string& name) { return "user/" + name; }
std::string key_omap_key(const std::string& ak) { return "key/" + ak; }

std::string encode_key_record(const std::string& user, const std::string& secret) {
  return json{{"user", user}, {"secret_key", secret}}.dump();
}

std::optional<std::pair<std::string, std::string>> decode_key_record(std::string_view s) {
  json j = json::parse(s, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("user") || !j.contains("secret_key") ||
      !j["user"].is_string() || !j["secret_key"].is_string()) {
    return std::nullopt;
  }
  return std::pair{j["user"].get<std::string>(), j["secret_key"].get<std::string>()};
}

bool valid_user_name(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == '@')) {
      return false;
    }
  }
  return true;
}

Status ensure_pools(client::Client& c, const PoolNames& pools) {
  CAIRN_RETURN_IF_ERROR(client::ensure_pool(c, pools.meta, pools.meta_pg));
  return client::ensure_pool(c, pools.data, pools.data_pg);
}

AccessKey generate_key() {
  static constexpr char kAk[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  static constexpr char kSk[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto hex = random_hex(60);
  CAIRN_CHECK(hex.ok());
  std::string raw;
  for (size_t i = 0; i + 1 < hex->size(); i += 2) {
    raw += static_cast<char>(std::stoi(hex->substr(i, 2), nullptr, 16));
  }
  AccessKey k;
  k.access_key = "CAIRN";
  for (int i = 0; i < 15; ++i) k.access_key += kAk[static_cast<unsigned char>(raw[i]) % 32];
  for (int i = 0; i < 40; ++i) k.secret_key += kSk[static_cast<unsigned char>(raw[20 + i]) % 64];
  return k;
}

Result<UserInfo> get_user(client::Client& c, const PoolNames& pools, const std::string& name) {
  auto r = c.omap_get(pools.meta, std::string(kUsersObject), {user_omap_key(name)});
  if (!r.ok() && !r.status().is(Code::kNotFound)) return r.status();
  if (!r.ok() || r->count(user_omap_key(name)) == 0) {
    return Status::NotFound("S3 user '" + name + "' does not exist");
  }
  auto u = decode_user(r->at(user_omap_key(name)));
  if (!u) return Status::Corruption("user record of '" + name + "' does not decode");
  return *u;
}

Result<UserInfo> create_user(client::Client& c, const PoolNames& pools, const std::string& name,
                             std::optional<AccessKey> key) {
  if (!valid_user_name(name)) {
    return Status::InvalidArgument("bad user name '" + name +
                                   "': use 1-64 letters, digits, '-', '_', '.', '@'");
  }
  CAIRN_RETURN_IF_ERROR(ensure_pools(c, pools));
  auto existing = get_user(c, pools, name);
  if (existing.ok()) return Status::AlreadyExists("S3 user '" + name + "' already exists");
  if (!existing.status().is(Code::kNotFound)) return existing.status();
  UserInfo u;
  u.name = name;
  u.created_ms = now_ms();
  u.keys.push_back(key.value_or(generate_key()));
  CAIRN_RETURN_IF_ERROR(c.omap_set(pools.meta, std::string(kUsersObject),
                                   {{user_omap_key(name), encode(u)},
                                    {key_omap_key(u.keys[0].access_key),
                                     encode_key_record(name, u.keys[0].secret_key)}}));
  return u;
}

Status ensure_user_key(client::Client& c, const PoolNames& pools, const std::string& name,
                       const AccessKey& key) {
  auto u = get_user(c, pools, name);
  if (!u.ok() && u.status().is(Code::kNotFound)) return create_user(c, pools, name, key).status();
  if (!u.ok()) return u.status();
  for (const AccessKey& k : u->keys) {
    if (k.access_key == key.access_key && k.secret_key == key.secret_key) return Status::Ok();
  }
  u->keys.push_back(key);
  return c.omap_set(pools.meta, std::string(kUsersObject),
                    {{user_omap_key(name), encode(*u)},
                     {key_omap_key(key.access_key), encode_key_record(name, key.secret_key)}});
}

Result<std::vector<UserInfo>> list_users(client::Client& c, const PoolNames& pools) {
  std::vector<UserInfo> out;
  if (!c.pool_id(pools.meta).ok()) return out;
  std::string after = "user/";
  for (;;) {
    bool more = false;
    auto r = c.omap_list(pools.meta, std::string(kUsersObject), after, 1000, &more);
    if (!r.ok()) {
      if (r.status().is(Code::kNotFound)) return out;
      return r.status();
    }
    for (const auto& [k, v] : *r) {
      if (!k.starts_with("user/")) {
        more = false;
        break;
      }
      if (auto u = decode_user(v)) out.push_back(std::move(*u));
      after = k;
    }
    if (!more || r->empty()) break;
  }
  return out;
}

Status remove_user(client::Client& c, const PoolNames& pools, const std::string& name) {
  auto u = get_user(c, pools, name);
  if (!u.ok()) return u.status();
  std::vector<std::string> keys = {user_omap_key(name)};
  for (const AccessKey& k : u->keys) keys.push_back(key_omap_key(k.access_key));
  return c.omap_rm(pools.meta, std::string(kUsersObject), keys);
}

Result<AccessKey> add_key(client::Client& c, const PoolNames& pools, const std::string& name) {
  auto u = get_user(c, pools, name);
  if (!u.ok()) return u.status();
  AccessKey k = generate_key();
  u->keys.push_back(k);
  CAIRN_RETURN_IF_ERROR(c.omap_set(pools.meta, std::string(kUsersObject),
                                   {{user_omap_key(name), encode(*u)},
                                    {key_omap_key(k.access_key), encode_key_record(name, k.secret_key)}}));
  return k;
}

Status remove_key(client::Client& c, const PoolNames& pools, const std::string& name,
                  const std::string& access_key) {
  auto u = get_user(c, pools, name);
  if (!u.ok()) return u.status();
  auto it = std::find_if(u->keys.begin(), u->keys.end(),
                         [&](const AccessKey& k) { return k.access_key == access_key; });
  if (it == u->keys.end()) {
    return Status::NotFound("S3 user '" + name + "' has no key " + access_key);
  }
  u->keys.erase(it);
  CAIRN_RETURN_IF_ERROR(
      c.omap_set(pools.meta, std::string(kUsersObject), {{user_omap_key(name), encode(*u)}}));
  return c.omap_rm(pools.meta, std::string(kUsersObject), {key_omap_key(access_key)});
}

}  // namespace cairn::rgw
