#include "rgw/core/model.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <random>

#include "rgw/core/crypto.h"

namespace cairn::rgw {

using nlohmann::json;

namespace {

template <typename F>
auto safe_decode(std::string_view s, F f) -> decltype(f(json())) {
  json j = json::parse(s, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    return f(j);
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

json entry_json(const ObjectEntry& e) {
  json j = {{"s", e.size}, {"e", e.etag}, {"m", e.mtime_ms}};
  if (!e.content_type.empty()) j["ct"] = e.content_type;
  if (!e.meta.empty()) j["md"] = e.meta;
  if (!e.headers.empty()) j["h"] = e.headers;
  if (!e.segments.empty()) {
    json segs = json::array();
    for (const Segment& s : e.segments) segs.push_back({s.inst, s.size});
    j["sg"] = std::move(segs);
  }
  if (!e.inline_data.empty()) j["d"] = base64_encode(e.inline_data);
  if (!e.owner.empty()) j["o"] = e.owner;
  if (e.acl != "private") j["a"] = e.acl;
  if (e.parts) j["p"] = e.parts;
  if (!e.version_id.empty()) j["v"] = e.version_id;
  if (e.delete_marker) j["dm"] = true;
  return j;
}

ObjectEntry entry_from(const json& j) {
  ObjectEntry e;
  e.size = j.at("s").get<uint64_t>();
  e.etag = j.at("e").get<std::string>();
  e.mtime_ms = j.at("m").get<int64_t>();
  e.content_type = j.value("ct", "");
  if (j.contains("md")) e.meta = j["md"].get<std::map<std::string, std::string>>();
  if (j.contains("h")) e.headers = j["h"].get<std::map<std::string, std::string>>();
  if (j.contains("sg")) {
    for (const json& s : j["sg"]) e.segments.push_back({s.at(0).get<std::string>(), s.at(1).get<uint64_t>()});
  }
  if (j.contains("d")) {
    if (!base64_decode(j["d"].get<std::string>(), &e.inline_data)) throw json::other_error::create(0, "bad base64", nullptr);
  }
  e.owner = j.value("o", "");
  e.acl = j.value("a", "private");
  e.parts = j.value("p", 0u);
  e.version_id = j.value("v", "");
  e.delete_marker = j.value("dm", false);
  return e;
}

}  // namespace

std::string encode(const ObjectEntry& e) { return entry_json(e).dump(); }

std::optional<ObjectEntry> decode_entry(std::string_view s) {
  return safe_decode(s, [](const json& j) -> std::optional<ObjectEntry> { return entry_from(j); });
}

std::string encode(const BucketInfo& b) {
  json j = {{"name", b.name}, {"id", b.id}, {"owner", b.owner}, {"region", b.region},
            {"created_ms", b.created_ms}, {"shards", b.shards}, {"acl", b.acl}};
  if (!b.versioning.empty()) j["versioning"] = b.versioning;
  if (!b.policy.empty()) j["policy"] = b.policy;
  return j.dump();
}

std::optional<BucketInfo> decode_bucket(std::string_view s) {
  return safe_decode(s, [](const json& j) -> std::optional<BucketInfo> {
    BucketInfo b;
    b.name = j.at("name").get<std::string>();
    b.id = j.at("id").get<std::string>();
    b.owner = j.value("owner", "");
    b.region = j.value("region", "us-east-1");
    b.created_ms = j.value("created_ms", int64_t{0});
    b.shards = j.value("shards", 8u);
    b.acl = j.value("acl", "private");
    b.versioning = j.value("versioning", "");
    b.policy = j.value("policy", "");
    if (b.shards == 0) return std::nullopt;
    return b;
  });
}

std::string encode(const UserInfo& u) {
  json keys = json::array();
  for (const AccessKey& k : u.keys) keys.push_back({{"access_key", k.access_key}, {"secret_key", k.secret_key}});
  return json{{"user", u.name}, {"keys", keys}, {"created_ms", u.created_ms}}.dump();
}

std::optional<UserInfo> decode_user(std::string_view s) {
  return safe_decode(s, [](const json& j) -> std::optional<UserInfo> {
    UserInfo u;
    u.name = j.at("user").get<std::string>();
    for (const json& k : j.value("keys", json::array())) {
      u.keys.push_back({k.at("access_key").get<std::string>(), k.at("secret_key").get<std::string>()});
    }
    u.created_ms = j.value("created_ms", int64_t{0});
    return u;
  });
}

std::string encode(const UploadInfo& u) {
  return json{{"key", u.key}, {"id", u.upload_id}, {"t", u.initiated_ms}, {"proto", entry_json(u.proto)}}
      .dump();
}

std::optional<UploadInfo> decode_upload(std::string_view s) {
  return safe_decode(s, [](const json& j) -> std::optional<UploadInfo> {
    UploadInfo u;
    u.key = j.at("key").get<std::string>();
    u.upload_id = j.at("id").get<std::string>();
    u.initiated_ms = j.at("t").get<int64_t>();
    u.proto = entry_from(j.at("proto"));
    return u;
  });
}

std::string encode(const PartInfo& p) {
  return json{{"n", p.number}, {"i", p.inst}, {"s", p.size}, {"e", p.etag}, {"m", p.mtime_ms}}.dump();
}

std::optional<PartInfo> decode_part(std::string_view s) {
  return safe_decode(s, [](const json& j) -> std::optional<PartInfo> {
    PartInfo p;
    p.number = j.at("n").get<uint32_t>();
    p.inst = j.at("i").get<std::string>();
    p.size = j.at("s").get<uint64_t>();
    p.etag = j.at("e").get<std::string>();
    p.mtime_ms = j.value("m", int64_t{0});
    return p;
  });
}

std::string data_object(std::string_view bucket_id, std::string_view inst, uint64_t stripe) {
  return fmt::format("s3d.{}.{}.{}", bucket_id, inst, stripe);
}
std::string index_object(std::string_view bucket_id, uint32_t shard) {
  return fmt::format("s3.index.{}.{}", bucket_id, shard);
}
std::string uploads_object(std::string_view bucket_id) {
  return fmt::format("s3.uploads.{}", bucket_id);
}
std::string parts_object(std::string_view bucket_id, std::string_view upload_id) {
  return fmt::format("s3.parts.{}.{}", bucket_id, upload_id);
}
std::string bucket_lock_object(std::string_view bucket) { return fmt::format("s3.bucket.{}", bucket); }

uint32_t index_shard(std::string_view key, uint32_t shards) {
  // FNV-1a: stable across processes and versions.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<uint32_t>(h % shards);
}

std::string upload_omap_key(std::string_view key, std::string_view upload_id) {
  return std::string(key) + '\x01' + std::string(upload_id);
}

std::string new_version_key(int64_t unix_us) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}{:016x}", ~static_cast<uint64_t>(unix_us), rng());
}

bool valid_version_key(std::string_view v) {
  if (v.size() != 32) return false;
  for (char c : v) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string version_omap_key(std::string_view key, std::string_view vkey) {
  return "v" + std::string(key) + kVersionSep + std::string(vkey);
}
std::string version_data_omap_key(std::string_view key, std::string_view vkey) {
  return "w" + std::string(key) + kVersionSep + std::string(vkey);
}
std::string null_version_omap_key(std::string_view key) { return "n" + std::string(key); }

std::pair<std::string, std::string> split_version_sort_key(std::string_view s) {
  size_t p = s.rfind(kVersionSep);
  if (p == std::string_view::npos) return {std::string(s), ""};
  return {std::string(s.substr(0, p)), std::string(s.substr(p + 1))};
}

std::string part_omap_key(uint32_t number) { return fmt::format("{:05d}", number); }

std::string multipart_etag(const std::vector<std::string>& part_md5_hex) {
  std::string cat;
  for (const std::string& h : part_md5_hex) {
    for (size_t i = 0; i + 1 < h.size(); i += 2) {
      cat += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
    }
  }
  return to_hex(md5(cat)) + "-" + std::to_string(part_md5_hex.size());
}

}  // namespace cairn::rgw

namespace cairn::rgw {

std::vector<ReadPiece> plan_reads(std::string_view bucket_id, const ObjectEntry& e, uint64_t first,
                                  uint64_t length) {
  std::vector<ReadPiece> out;
  uint64_t seg_start = 0;
  const uint64_t end = first + length;
  for (const Segment& s : e.segments) {
    uint64_t seg_end = seg_start + s.size;
    if (seg_end > first && seg_start < end) {
      uint64_t a = std::max(first, seg_start) - seg_start;
      uint64_t b = std::min(end, seg_end) - seg_start;
      while (a < b) {
        uint64_t stripe = a / kStripeSize;
        uint64_t off = a % kStripeSize;
        uint64_t n = std::min(b - a, kStripeSize - off);
        out.push_back({data_object(bucket_id, s.inst, stripe), off, n});
        a += n;
      }
    }
    seg_start = seg_end;
    if (seg_start >= end) break;
  }
  return out;
}

}  // namespace cairn::rgw
