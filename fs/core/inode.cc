#include "fs/core/inode.h"

#include <fmt/format.h>

namespace cairn::fs {

namespace {
constexpr uint8_t kInodeFormatV1 = 1;  // before inline data
constexpr uint8_t kInodeFormat = 2;
}

void Inode::encode(Encoder& e) const {
  e.u8(kInodeFormat);
  e.u64(ino);
  e.u32(mode);
  e.u32(uid);
  e.u32(gid);
  e.u32(nlink);
  e.u64(size);
  e.u64(rdev);
  e.i64(atime_ns);
  e.i64(mtime_ns);
  e.i64(ctime_ns);
  e.u64(version);
  e.u64(parent);
  e.u64(subvol);
  e.u64(quota_bytes);
  e.u64(quota_files);
  e.u64(used_bytes);
  e.u64(used_files);
  e.str(symlink);
  e.u32(static_cast<uint32_t>(xattrs.size()));
  for (const auto& [k, v] : xattrs) {
    e.str(k);
    e.bytes(v);
  }
  e.boolean(inlined);
  e.bytes(inline_data);
}

std::string Inode::encode() const {
  std::string out;
  Encoder e(&out);
  encode(e);
  return out;
}

Inode decode_inode_fields(Decoder& d) {
  Inode i;
  uint8_t format = d.u8();
  if (format != kInodeFormat && format != kInodeFormatV1) {
    d.fail();
    return i;
  }
  i.ino = d.u64();
  i.mode = d.u32();
  i.uid = d.u32();
  i.gid = d.u32();
  i.nlink = d.u32();
  i.size = d.u64();
  i.rdev = d.u64();
  i.atime_ns = d.i64();
  i.mtime_ns = d.i64();
  i.ctime_ns = d.i64();
  i.version = d.u64();
  i.parent = d.u64();
  i.subvol = d.u64();
  i.quota_bytes = d.u64();
  i.quota_files = d.u64();
  i.used_bytes = d.u64();
  i.used_files = d.u64();
  i.symlink = d.str();
  for (uint32_t n = d.count(); n > 0 && d.ok(); --n) {
    std::string k = d.str();
    i.xattrs[k] = d.bytes();
  }
  if (format >= 2) {
    i.inlined = d.boolean();
    i.inline_data = d.bytes();
  }
  return i;
}

Result<Inode> Inode::decode(std::string_view b) {
  Decoder d(b);
  Inode i = decode_inode_fields(d);
  if (!d.done()) return Status::Corruption("cannot decode inode");
  return i;
}

std::string Dentry::encode() const {
  std::string out;
  Encoder e(&out);
  e.u64(ino);
  e.u32(type);
  return out;
}

Result<Dentry> Dentry::decode(std::string_view b) {
  Decoder d(b);
  Dentry de;
  de.ino = d.u64();
  de.type = d.u32();
  if (!d.done()) return Status::Corruption("cannot decode dentry");
  return de;
}

Update Update::put_inode(const Inode& i) {
  Update u;
  u.kind = kPutInode;
  u.inode = i;
  return u;
}
Update Update::rm_inode(Ino ino) {
  Update u;
  u.kind = kRmInode;
  u.ino = ino;
  return u;
}
Update Update::put_dentry(Ino dir, std::string name, Ino ino, uint32_t type) {
  Update u;
  u.kind = kPutDentry;
  u.dir = dir;
  u.name = std::move(name);
  u.ino = ino;
  u.type = type;
  return u;
}
Update Update::rm_dentry(Ino dir, std::string name) {
  Update u;
  u.kind = kRmDentry;
  u.dir = dir;
  u.name = std::move(name);
  return u;
}

Update Update::max_ino(Ino ino) {
  Update u;
  u.kind = kMaxIno;
  u.ino = ino;
  return u;
}

void Update::encode(Encoder& e) const {
  e.u8(kind);
  switch (kind) {
    case kPutInode:
      inode.encode(e);
      break;
    case kRmInode:
    case kMaxIno:
      e.u64(ino);
      break;
    case kPutDentry:
      e.u64(dir);
      e.str(name);
      e.u64(ino);
      e.u32(type);
      break;
    case kRmDentry:
      e.u64(dir);
      e.str(name);
      break;
  }
}

Update Update::decode(Decoder& d) {
  Update u;
  u.kind = static_cast<Kind>(d.u8());
  switch (u.kind) {
    case kPutInode:
      u.inode = decode_inode_fields(d);
      break;
    case kRmInode:
    case kMaxIno:
      u.ino = d.u64();
      break;
    case kPutDentry:
      u.dir = d.u64();
      u.name = d.str();
      u.ino = d.u64();
      u.type = d.u32();
      break;
    case kRmDentry:
      u.dir = d.u64();
      u.name = d.str();
      break;
    default:
      d.fail();
  }
  return u;
}

std::string inode_key(Ino ino) { return fmt::format("{:016x}", ino); }
std::string inode_shard_object(Ino ino) {
  return fmt::format("fs.inodes.{:02x}", ino % kInodeShards);
}
std::string dir_object(Ino dir) { return fmt::format("fs.dir.{:016x}", dir); }
std::string data_object(Ino ino, uint64_t objno) { return fmt::format("{:016x}.{:08x}", ino, objno); }
std::string journal_object(uint64_t segment) { return fmt::format("fs.journal.{:016x}", segment); }

}  // namespace cairn::fs
