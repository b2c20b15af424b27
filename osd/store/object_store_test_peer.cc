#include "osd/store/object_store_test_peer.h"

#include "common/crc32c.h"
#include "osd/store/object_store_impl.h"
#include "osd/store/store_format.h"

namespace cairn::osd {
namespace {

Result<format::Onode> onode_of(ObjectStore::Impl& s, CollectionId c, std::string_view name) {
  std::string v;
  rocksdb::Status rs =
      s.db->Get(rocksdb::ReadOptions(), s.onode_cf, format::object_key(c, name), &v);
  CAIRN_RETURN_IF_ERROR(from_rocksdb(rs, "get onode"));
  format::Onode o;
  CAIRN_RETURN_IF_ERROR(format::Onode::decode(v, &o));
  return o;
}

}  // namespace

Result<std::string> ObjectStoreTestPeer::get_raw_block(ObjectStore& s, CollectionId c,
                                                       std::string_view name, uint32_t block) {
  auto o = onode_of(*s.impl_, c, name);
  if (o.ok()) {
    if (auto it = o->extents.find(block); it != o->extents.end()) {
      const format::ExtentRef& ref = it->second;
      std::string v(format::kBlockCrcLen + ref.len, '\0');
      std::memcpy(v.data(), &ref.crc, format::kBlockCrcLen);
      CAIRN_RETURN_IF_ERROR(s.impl_->extents.read(ref.file,
                                                  uint64_t{ref.file_block} * o->block_size,
                                                  ref.len, v.data() + format::kBlockCrcLen));
      return v;
    }
  }
  std::string v;
  std::string key = format::data_key(format::object_key(c, name), block);
  rocksdb::Status rs = s.impl_->db->Get(rocksdb::ReadOptions(), s.impl_->data_cf, key, &v);
  CAIRN_RETURN_IF_ERROR(from_rocksdb(rs, "get raw block"));
  return v;
}

Status ObjectStoreTestPeer::put_raw_block(ObjectStore& s, CollectionId c, std::string_view name,
                                          uint32_t block, std::string_view value) {
  auto o = onode_of(*s.impl_, c, name);
  if (o.ok()) {
    if (auto it = o->extents.find(block); it != o->extents.end()) {
      if (value.size() < format::kBlockCrcLen) return Status::InvalidArgument("value too short");
      return s.impl_->extents.corrupt_for_test(it->second.file,
                                               uint64_t{it->second.file_block} * o->block_size,
                                               value.substr(format::kBlockCrcLen));
    }
  }
  std::string key = format::data_key(format::object_key(c, name), block);
  return from_rocksdb(s.impl_->db->Put(rocksdb::WriteOptions(), s.impl_->data_cf, key, value),
                      "put raw block");
}

Result<std::string> ObjectStoreTestPeer::extent_file(ObjectStore& s, CollectionId c,
                                                     std::string_view name, uint32_t block) {
  auto o = onode_of(*s.impl_, c, name);
  if (!o.ok()) return o.status();
  auto it = o->extents.find(block);
  if (it == o->extents.end()) return Status::NotFound("block is not in an extent file");
  return s.impl_->extents.path(it->second.file);
}

Status ObjectStoreTestPeer::check_extent_invariants(ObjectStore& s, CollectionId c,
                                                    std::string_view name) {
  auto o = onode_of(*s.impl_, c, name);
  if (!o.ok()) return o.status().is(Code::kNotFound) ? Status::Ok() : o.status();
  const std::string okey = format::object_key(c, name);
  for (const auto& [b, ref] : o->extents) {
    std::string v;
    rocksdb::Status rs = s.impl_->db->Get(rocksdb::ReadOptions(), s.impl_->data_cf,
                                          format::data_key(okey, b), &v);
    if (!rs.IsNotFound()) {
      return Status::Corruption("block " + std::to_string(b) + " is in an extent file and the data CF");
    }
  }
  return Status::Ok();
}

std::string ObjectStoreTestPeer::extent_dir(ObjectStore& s) {
  return s.impl_->opts.dir + "/" + format::kExtentDir;
}

Result<uint64_t> ObjectStoreTestPeer::write_orphan_extent(ObjectStore& s, std::string_view data) {
  auto id = s.impl_->extents.allocate();
  if (!id.ok()) return id.status();
  CAIRN_RETURN_IF_ERROR(s.impl_->extents.create(*id, data, true));
  return *id;  // never settled, never referenced: what a crash before the commit leaves
}

}  // namespace cairn::osd
