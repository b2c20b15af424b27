#include "osd/store/store_format.h"

#include <cstdio>
#include <cstring>
#include <iterator>

#include "common/codec.h"
#include "common/crc32c.h"

namespace cairn::osd::format {
namespace {

void put_be32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out->append(b, 4);
}

uint32_t get_be32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

uint64_t get_be64(const char* p) { return uint64_t{get_be32(p)} << 32 | get_be32(p + 4); }

uint32_t get_le32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

void append_coll(std::string* out, CollectionId c) {
  put_be32(out, static_cast<uint32_t>(c.pool));
  put_be32(out, c.pg);
}

std::string coll_prefix(CollectionId c) {
  std::string k;
  append_coll(&k, c);
  return k;
}

std::string coll_end(CollectionId c) {
  // 64-bit big-endian increment; pool >= 0 keeps the top bit clear, so no overflow.
  uint64_t v = (uint64_t{static_cast<uint32_t>(c.pool)} << 32 | c.pg) + 1;
  std::string k;
  put_be32(&k, static_cast<uint32_t>(v >> 32));
  put_be32(&k, static_cast<uint32_t>(v));
  return k;
}

bool decode_coll(std::string_view key, CollectionId* c) {
  if (key.size() < kCollPrefixLen) return false;
  c->pool = static_cast<PoolId>(get_be32(key.data()));
  c->pg = get_be32(key.data() + 4);
  return true;
}

std::string object_key(CollectionId c, std::string_view name) {
  std::string k;
  k.reserve(kCollPrefixLen + name.size() + 1 + 4);
  append_coll(&k, c);
  k.append(name);
  k.push_back('\0');
  return k;
}

std::string object_end(CollectionId c, std::string_view name) {
  std::string k = object_key(c, name);
  k.back() = '\1';
  return k;
}

std::string_view object_name(std::string_view onode_key) {
  return onode_key.substr(kCollPrefixLen, onode_key.size() - kCollPrefixLen - 1);
}

std::string data_key(std::string_view object_key, uint32_t block) {
  std::string k(object_key);
  put_be32(&k, block);
  return k;
}

void set_data_key_block(std::string* data_key, uint32_t block) {
  data_key->resize(data_key->size() - 4);
  put_be32(data_key, block);
}

bool data_key_block(std::string_view data_key, uint32_t* block) {
  if (data_key.size() < kCollPrefixLen + 2 + 4) return false;
  *block = get_be32(data_key.data() + data_key.size() - 4);
  return true;
}

std::string omap_key(std::string_view object_key, std::string_view key) {
  std::string k;
  k.reserve(object_key.size() + key.size());
  k.append(object_key);
  k.append(key);
  return k;
}

std::string meta_key(CollectionId c, std::string_view key) {
  std::string k;
  k.reserve(kCollPrefixLen + key.size());
  append_coll(&k, c);
  k.append(key);
  return k;
}

std::string extent_key(char prefix, uint64_t id) {
  std::string k(1, prefix);
  put_be32(&k, static_cast<uint32_t>(id >> 32));
  put_be32(&k, static_cast<uint32_t>(id));
  return k;
}

bool decode_extent_key(std::string_view key, uint64_t* id) {
  if (key.size() != 9) return false;
  *id = get_be64(key.data() + 1);
  return true;
}

std::string extent_file_name(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

std::string Onode::encode() const {
  std::string out;
  Encoder e(&out);
  e.u8(extents.empty() ? kOnodeVersion : kOnodeVersionExtents);
  e.u8(flags);
  e.u32(block_size);
  e.u64(size);
  e.u64(version);
  e.u64(mtime_ns);
  e.u32(static_cast<uint32_t>(xattrs.size()));
  for (const auto& [k, v] : xattrs) {
    e.bytes(k);
    e.bytes(v);
  }
  if (extents.empty()) return out;
  // Runs: one header per stretch of consecutive blocks of one file.
  std::string runs;
  Encoder r(&runs);
  uint32_t nruns = 0;
  for (auto it = extents.begin(); it != extents.end();) {
    auto end = std::next(it);
    auto last = it;
    while (end != extents.end() && last->second.len == block_size &&
           end->first == last->first + 1 && end->second.file == it->second.file &&
           end->second.file_block == last->second.file_block + 1) {
      last = end++;
    }
    r.u64(it->second.file);
    r.u32(it->first);
    r.u32(it->second.file_block);
    r.u32(static_cast<uint32_t>(std::distance(it, end)));
    r.u32(last->second.len);
    for (auto b = it; b != end; ++b) r.u32(b->second.crc);
    ++nruns;
    it = end;
  }
  e.u32(nruns);
  e.raw(runs);
  return out;
}

Status Onode::decode(std::string_view v, Onode* out) {
  Decoder d(v);
  uint8_t ver = d.u8();
  if (d.ok() && ver != kOnodeVersion && ver != kOnodeVersionExtents) {
    return Status::Corruption("onode: unknown version " + std::to_string(ver));
  }
  out->flags = d.u8();
  out->block_size = d.u32();
  out->size = d.u64();
  out->version = d.u64();
  out->mtime_ns = d.u64();
  uint32_t n = d.count();
  out->xattrs.clear();
  for (uint32_t i = 0; i < n && d.ok(); ++i) {
    std::string k = d.bytes();
    out->xattrs[std::move(k)] = d.bytes();
  }
  out->extents.clear();
  if (d.ok() && out->block_size >= kMinBlockSize && out->block_size <= kMaxBlockSize &&
      (out->block_size & (out->block_size - 1)) == 0 && out->size <= kMaxObjectSize) {
    const uint32_t bs = out->block_size;
    uint32_t nruns = ver == kOnodeVersionExtents ? d.count() : 0;
    uint64_t next_free = 0;  // runs are in block order and never overlap
    for (uint32_t i = 0; i < nruns && d.ok(); ++i) {
      ExtentRef ref;
      ref.file = d.u64();
      uint32_t first = d.u32();
      ref.file_block = d.u32();
      uint32_t n = d.count();
      uint32_t last_len = d.u32();
      if (!d.ok() || n == 0 || first < next_free || last_len == 0 || last_len > bs ||
          (uint64_t{first} + n - 1) * bs + last_len > out->size ||
          uint64_t{ref.file_block} + n > UINT32_MAX) {
        return Status::Corruption("onode: bad extent run");
      }
      for (uint32_t b = 0; b < n && d.ok(); ++b) {
        ref.len = b + 1 == n ? last_len : bs;
        ref.crc = d.u32();
        out->extents.emplace_hint(out->extents.end(), first + b, ref);
        ++ref.file_block;
      }
      next_free = uint64_t{first} + n;
    }
  }
  if (!d.done()) return Status::Corruption("onode: cannot decode");
  if (out->block_size < kMinBlockSize || out->block_size > kMaxBlockSize ||
      (out->block_size & (out->block_size - 1)) != 0 || out->size > kMaxObjectSize) {
    return Status::Corruption("onode: bad block size or object size");
  }
  return Status::Ok();
}

Status decode_block(std::string_view value, uint32_t block_size, std::string_view* payload) {
  if (value.size() < kBlockCrcLen || value.size() - kBlockCrcLen > block_size) {
    return Status::Corruption("data block: bad length " + std::to_string(value.size()));
  }
  *payload = value.substr(kBlockCrcLen);
  if (crc32c(*payload) != get_le32(value.data())) {
    return Status::Corruption("data block: crc32c mismatch");
  }
  return Status::Ok();
}

void seal_block(std::string* value) {
  uint32_t crc = crc32c(std::string_view(*value).substr(kBlockCrcLen));
  std::memcpy(value->data(), &crc, 4);
}

Status validate_coll(CollectionId c) {
  if (c.pool < 0) return Status::InvalidArgument("collection: negative pool id");
  return Status::Ok();
}

Status validate_name(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("object name is empty");
  if (name.size() > kMaxObjectNameLen) return Status::TooLarge("object name too long");
  if (name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("object name contains NUL");
  }
  return Status::Ok();
}

}  // namespace cairn::osd::format
