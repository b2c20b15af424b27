#include "osd/store/object_store_test_peer.h"

#include "osd/store/object_store_impl.h"
#include "osd/store/store_format.h"

namespace cairn::osd {

Result<std::string> ObjectStoreTestPeer::get_raw_block(ObjectStore& s, CollectionId c,
                                                       std::string_view name, uint32_t block) {
  std::string v;
  std::string key = format::data_key(format::object_key(c, name), block);
  rocksdb::Status rs = s.impl_->db->Get(rocksdb::ReadOptions(), s.impl_->data_cf, key, &v);
  CAIRN_RETURN_IF_ERROR(from_rocksdb(rs, "get raw block"));
  return v;
}

Status ObjectStoreTestPeer::put_raw_block(ObjectStore& s, CollectionId c, std::string_view name,
                                          uint32_t block, std::string_view value) {
  std::string key = format::data_key(format::object_key(c, name), block);
  return from_rocksdb(s.impl_->db->Put(rocksdb::WriteOptions(), s.impl_->data_cf, key, value),
                      "put raw block");
}

}  // namespace cairn::osd
