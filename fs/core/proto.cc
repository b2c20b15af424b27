#include "fs/core/proto.h"

namespace cairn::fs {

std::string MdsRequest::encode() const {
  std::string out;
  Encoder e(&out);
  e.u16(static_cast<uint16_t>(op));
  e.u64(session);
  e.u64(tid);
  e.u32(uid);
  e.u32(gid);
  e.u64(ino);
  e.u64(ino2);
  e.str(name);
  e.str(name2);
  e.u32(mode);
  e.u32(flags);
  e.u64(rdev);
  e.u64(size);
  e.u64(offset);
  e.u64(length);
  e.u32(attr.valid);
  e.u32(attr.mode);
  e.u32(attr.uid);
  e.u32(attr.gid);
  e.u64(attr.size);
  e.i64(attr.atime_ns);
  e.i64(attr.mtime_ns);
  e.bytes(value);
  e.u8(static_cast<uint8_t>(lock_type));
  e.u32(lock_pid);
  e.boolean(lock_flock);
  e.boolean(replay);
  return out;
}

Result<MdsRequest> MdsRequest::decode(std::string_view b) {
  Decoder d(b);
  MdsRequest r;
  r.op = static_cast<MdsOp>(d.u16());
  r.session = d.u64();
  r.tid = d.u64();
  r.uid = d.u32();
  r.gid = d.u32();
  r.ino = d.u64();
  r.ino2 = d.u64();
  r.name = d.str();
  r.name2 = d.str();
  r.mode = d.u32();
  r.flags = d.u32();
  r.rdev = d.u64();
  r.size = d.u64();
  r.offset = d.u64();
  r.length = d.u64();
  r.attr.valid = d.u32();
  r.attr.mode = d.u32();
  r.attr.uid = d.u32();
  r.attr.gid = d.u32();
  r.attr.size = d.u64();
  r.attr.atime_ns = d.i64();
  r.attr.mtime_ns = d.i64();
  r.value = d.bytes();
  uint8_t lt = d.u8();
  if (lt > 2) d.fail();
  r.lock_type = static_cast<LockType>(lt);
  r.lock_pid = d.u32();
  r.lock_flock = d.boolean();
  r.replay = d.boolean();
  if (!d.done()) return Status::Corruption("cannot decode MDS request");
  return r;
}

std::string MdsReply::encode() const {
  std::string out;
  Encoder e(&out);
  e.i32(err);
  inode.encode(e);
  e.u32(static_cast<uint32_t>(entries.size()));
  for (const DirEntry& de : entries) {
    e.str(de.name);
    e.u64(de.ino);
    e.u32(de.type);
  }
  e.u32(static_cast<uint32_t>(inodes.size()));
  for (const Inode& i : inodes) i.encode(e);
  e.boolean(more);
  e.u64(offset);
  e.bytes(value);
  e.u64(statfs.total_bytes);
  e.u64(statfs.free_bytes);
  e.u64(statfs.files);
  e.u8(static_cast<uint8_t>(lock_type));
  e.u64(lock_start);
  e.u64(lock_end);
  e.u32(lock_pid);
  e.boolean(unsafe);
  return out;
}

Result<MdsReply> MdsReply::decode(std::string_view b) {
  Decoder d(b);
  MdsReply r;
  r.err = d.i32();
  r.inode = decode_inode_fields(d);
  for (uint32_t n = d.count(); n > 0 && d.ok(); --n) {
    DirEntry de;
    de.name = d.str();
    de.ino = d.u64();
    de.type = d.u32();
    r.entries.push_back(std::move(de));
  }
  for (uint32_t n = d.count(); n > 0 && d.ok(); --n) r.inodes.push_back(decode_inode_fields(d));
  r.more = d.boolean();
  r.offset = d.u64();
  r.value = d.bytes();
  r.statfs.total_bytes = d.u64();
  r.statfs.free_bytes = d.u64();
  r.statfs.files = d.u64();
  uint8_t lt = d.u8();
  if (lt > 2) d.fail();
  r.lock_type = static_cast<LockType>(lt);
  r.lock_start = d.u64();
  r.lock_end = d.u64();
  r.lock_pid = d.u32();
  r.unsafe = d.boolean();
  if (!d.done()) return Status::Corruption("cannot decode MDS reply");
  return r;
}

std::string MdsNotify::encode() const {
  std::string out;
  Encoder e(&out);
  e.u8(kind);
  e.u64(ino);
  e.str(name);
  e.u64(seq);
  return out;
}

Result<MdsNotify> MdsNotify::decode(std::string_view b) {
  Decoder d(b);
  MdsNotify n;
  uint8_t k = d.u8();
  if (k != kInvalEntry && k != kInvalInode) d.fail();
  n.kind = static_cast<Kind>(k);
  n.ino = d.u64();
  n.name = d.str();
  n.seq = d.u64();
  if (!d.done()) return Status::Corruption("cannot decode MDS notify");
  return n;
}

std::string MdsSafe::encode() const {
  std::string out;
  Encoder e(&out);
  e.u32(static_cast<uint32_t>(tids.size()));
  for (uint64_t t : tids) e.u64(t);
  return out;
}

Result<MdsSafe> MdsSafe::decode(std::string_view b) {
  Decoder d(b);
  MdsSafe s;
  for (uint32_t n = d.count(); n > 0 && d.ok(); --n) s.tids.push_back(d.u64());
  if (!d.done()) return Status::Corruption("cannot decode MDS safe notice");
  return s;
}

}  // namespace cairn::fs
