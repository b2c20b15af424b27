#include "osd/store/object_store.h"

namespace cairn::osd {

Transaction::Op& Transaction::add(OpType type, CollectionId c, std::string name) {
  bytes_ += name.size();
  Op& op = ops_.emplace_back();
  op.type = type;
  op.c = c;
  op.name = std::move(name);
  return op;
}

void Transaction::touch(CollectionId c, std::string name) {
  add(OpType::kTouch, c, std::move(name));
}

void Transaction::write(CollectionId c, std::string name, uint64_t offset, std::string data) {
  bytes_ += data.size();
  Op& op = add(OpType::kWrite, c, std::move(name));
  op.offset = offset;
  op.data = std::move(data);
}

void Transaction::write_full(CollectionId c, std::string name, std::string data) {
  bytes_ += data.size();
  add(OpType::kWriteFull, c, std::move(name)).data = std::move(data);
}

void Transaction::truncate(CollectionId c, std::string name, uint64_t size) {
  add(OpType::kTruncate, c, std::move(name)).offset = size;
}

void Transaction::remove(CollectionId c, std::string name) {
  add(OpType::kRemove, c, std::move(name));
}

void Transaction::setxattr(CollectionId c, std::string name, std::string key, std::string value) {
  bytes_ += key.size() + value.size();
  Op& op = add(OpType::kSetXattr, c, std::move(name));
  op.key = std::move(key);
  op.data = std::move(value);
}

void Transaction::rmxattr(CollectionId c, std::string name, std::string key) {
  bytes_ += key.size();
  add(OpType::kRmXattr, c, std::move(name)).key = std::move(key);
}

void Transaction::omap_set(CollectionId c, std::string name,
                           std::map<std::string, std::string> kvs) {
  for (const auto& [k, v] : kvs) bytes_ += k.size() + v.size();
  add(OpType::kOmapSet, c, std::move(name)).kvs = std::move(kvs);
}

void Transaction::omap_rm(CollectionId c, std::string name, std::vector<std::string> keys) {
  for (const auto& k : keys) bytes_ += k.size();
  add(OpType::kOmapRm, c, std::move(name)).keys = std::move(keys);
}

void Transaction::omap_clear(CollectionId c, std::string name) {
  add(OpType::kOmapClear, c, std::move(name));
}

void Transaction::set_version(CollectionId c, std::string name, uint64_t version,
                              uint64_t mtime_ns) {
  Op& op = add(OpType::kSetVersion, c, std::move(name));
  op.offset = version;
  op.mtime_ns = mtime_ns;
}

void Transaction::meta_put(CollectionId c, std::string key, std::string value) {
  bytes_ += value.size();
  add(OpType::kMetaPut, c, std::move(key)).data = std::move(value);
}

void Transaction::meta_rm(CollectionId c, std::string key) {
  add(OpType::kMetaRm, c, std::move(key));
}

void Transaction::remove_collection(CollectionId c) { add(OpType::kRemoveCollection, c, {}); }

// Wire form: u32 op count, then per op: u8 type, i32 pool, u32 pg, bytes name,
// then the type's fields. Only meaningful fields are encoded.
void Transaction::encode(Encoder& e) const {
  e.u32(static_cast<uint32_t>(ops_.size()));
  for (const Op& op : ops_) {
    e.u8(static_cast<uint8_t>(op.type));
    e.i32(op.c.pool);
    e.u32(op.c.pg);
    e.bytes(op.name);
    switch (op.type) {
      case OpType::kWrite:
        e.u64(op.offset);
        e.bytes(op.data);
        break;
      case OpType::kWriteFull:
      case OpType::kMetaPut:
        e.bytes(op.data);
        break;
      case OpType::kTruncate:
        e.u64(op.offset);
        break;
      case OpType::kSetXattr:
        e.bytes(op.key);
        e.bytes(op.data);
        break;
      case OpType::kRmXattr:
        e.bytes(op.key);
        break;
      case OpType::kOmapSet:
        e.u32(static_cast<uint32_t>(op.kvs.size()));
        for (const auto& [k, v] : op.kvs) {
          e.bytes(k);
          e.bytes(v);
        }
        break;
      case OpType::kOmapRm:
        e.u32(static_cast<uint32_t>(op.keys.size()));
        for (const auto& k : op.keys) e.bytes(k);
        break;
      case OpType::kSetVersion:
        e.u64(op.offset);
        e.u64(op.mtime_ns);
        break;
      case OpType::kTouch:
      case OpType::kRemove:
      case OpType::kOmapClear:
      case OpType::kMetaRm:
      case OpType::kRemoveCollection:
        break;
    }
  }
}

Result<Transaction> Transaction::decode(Decoder& d) {
  Transaction t;
  uint32_t n = d.count();
  for (uint32_t i = 0; i < n && d.ok(); ++i) {
    auto type = static_cast<OpType>(d.u8());
    CollectionId c;
    c.pool = d.i32();
    c.pg = d.u32();
    std::string name = d.bytes();
    switch (type) {
      case OpType::kTouch:
        t.touch(c, std::move(name));
        break;
      case OpType::kWrite: {
        uint64_t off = d.u64();
        t.write(c, std::move(name), off, d.bytes());
        break;
      }
      case OpType::kWriteFull:
        t.write_full(c, std::move(name), d.bytes());
        break;
      case OpType::kTruncate:
        t.truncate(c, std::move(name), d.u64());
        break;
      case OpType::kRemove:
        t.remove(c, std::move(name));
        break;
      case OpType::kSetXattr: {
        std::string k = d.bytes();
        t.setxattr(c, std::move(name), std::move(k), d.bytes());
        break;
      }
      case OpType::kRmXattr:
        t.rmxattr(c, std::move(name), d.bytes());
        break;
      case OpType::kOmapSet: {
        std::map<std::string, std::string> kvs;
        uint32_t m = d.count();
        for (uint32_t j = 0; j < m && d.ok(); ++j) {
          std::string k = d.bytes();
          kvs[std::move(k)] = d.bytes();
        }
        t.omap_set(c, std::move(name), std::move(kvs));
        break;
      }
      case OpType::kOmapRm: {
        std::vector<std::string> keys;
        uint32_t m = d.count();
        for (uint32_t j = 0; j < m && d.ok(); ++j) keys.push_back(d.bytes());
        t.omap_rm(c, std::move(name), std::move(keys));
        break;
      }
      case OpType::kOmapClear:
        t.omap_clear(c, std::move(name));
        break;
      case OpType::kSetVersion: {
        uint64_t v = d.u64();
        t.set_version(c, std::move(name), v, d.u64());
        break;
      }
      case OpType::kMetaPut:
        t.meta_put(c, std::move(name), d.bytes());
        break;
      case OpType::kMetaRm:
        t.meta_rm(c, std::move(name));
        break;
      case OpType::kRemoveCollection:
        t.remove_collection(c);
        break;
      default:
        return Status::Corruption("transaction: unknown op type");
    }
  }
  CAIRN_RETURN_IF_ERROR(d.status("transaction"));
  return t;
}

}  // namespace cairn::osd
