// Extent files: the lifecycle of the files large writes go to.
//
// Ids are handed out in chunks: before any id of [Xnext, Xnext + kIdChunk) is
// used, Xnext moves past the chunk in a synced write, together with Xsettled =
// the smallest id still in flight. So after a crash every file that no
// committed batch references has an id in [Xsettled, Xnext) — a bounded range
// (about one chunk) that open checks against the 'E' keys, whatever the
// number of objects. Released files get a 'D' key in the batch that drops
// their last reference and are unlinked after it commits; the 'D' key goes
// only after a directory fsync made the unlink durable.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "osd/store/object_store_impl.h"
#include "osd/store/store_format.h"

namespace cairn::osd {
namespace {

Status get_u64(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string_view key,
               uint64_t* out) {
  std::string v;
  rocksdb::Status rs = db->Get(rocksdb::ReadOptions(), cf, key, &v);
  if (rs.IsNotFound()) {
    *out = 0;
    return Status::Ok();
  }
  CAIRN_RETURN_IF_ERROR(from_rocksdb(rs, "read extent id record"));
  if (v.size() != sizeof *out) return Status::Corruption("store: bad extent id record");
  std::memcpy(out, v.data(), sizeof *out);
  return Status::Ok();
}

std::string u64_value(uint64_t v) {
  std::string s(sizeof v, '\0');
  std::memcpy(s.data(), &v, sizeof v);
  return s;
}

// Calls fn(id) for every extent key in [begin, end) of cf.
template <typename Fn>
Status for_each_extent_key(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const std::string& begin,
                           const std::string& end, Fn&& fn) {
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
  for (it->Seek(begin); it->Valid(); it->Next()) {
    uint64_t id = 0;
    if (!format::decode_extent_key(it->key().ToStringView(), &id)) {
      return Status::Corruption("store: bad extent key");
    }
    CAIRN_RETURN_IF_ERROR(fn(id, it->key()));
  }
  return from_rocksdb(it->status(), "list extent keys");
}

bool unlink_ok(const std::string& path) { return ::unlink(path.c_str()) == 0 || errno == ENOENT; }

// O_DIRECT: the kernel copy into fresh page-cache pages was most of an OSD's
// CPU under 4 MiB writes (perf: copy_folio_from_iter_atomic 68%); copying
// into a reused, aligned buffer and DMA from there costs a fraction of it.
constexpr size_t kDirectAlign = 4096;
constexpr size_t kDirectChunk = 2 << 20;

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};

// Per store thread, reused so its pages stay mapped. nullptr if out of memory.
char* staging_buffer() {
  thread_local std::unique_ptr<char, FreeDeleter> buf(
      static_cast<char*>(std::aligned_alloc(kDirectAlign, kDirectChunk)));
  return buf.get();
}

// Writes all of data at offset; EINTR and short writes retried.
int write_all(int fd, const char* data, size_t len, uint64_t offset) {
  for (size_t done = 0; done < len;) {
    ssize_t n = ::pwrite(fd, data + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

Status from_errno(int err, std::string_view what) {
  std::string msg = std::string(what) + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return Status::NoSpace(std::move(msg));
  if (err == ENOENT) return Status::NotFound(std::move(msg));
  return Status::IoError(std::move(msg));
}

ExtentFiles::~ExtentFiles() {
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

std::string ExtentFiles::path(uint64_t id) const { return dir_ + "/" + format::extent_file_name(id); }

Status ExtentFiles::open(const std::string& db_dir, rocksdb::DB* db,
                         rocksdb::ColumnFamilyHandle* cf) {
  db_ = db;
  cf_ = cf;
  dir_ = db_dir + "/" + format::kExtentDir;
  if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) return from_errno(errno, "mkdir " + dir_);
  dir_fd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) return from_errno(errno, "open " + dir_);

  uint64_t settled = 0, next = 0;
  CAIRN_RETURN_IF_ERROR(get_u64(db, cf, format::kExtentSettledKey, &settled));
  CAIRN_RETURN_IF_ERROR(get_u64(db, cf, format::kExtentNextKey, &next));
  if (settled > next) return Status::Corruption("store: extent ids settled past the next id");

  rocksdb::WriteBatch batch;
  size_t removed = 0;
  // Releases whose unlink may not have happened or not be durable.
  CAIRN_RETURN_IF_ERROR(for_each_extent_key(
      db, cf, format::extent_key(format::kExtentDeletePrefix, 0),
      std::string(1, format::kExtentDeletePrefix + 1), [&](uint64_t id, const rocksdb::Slice& key) {
        if (!unlink_ok(path(id))) return from_errno(errno, "remove " + path(id));
        batch.Delete(cf, key);
        ++removed;
        return Status::Ok();
      }));
  if (settled < next) {  // ids handed out but not known settled: drop unreferenced files
    std::set<uint64_t> referenced;
    CAIRN_RETURN_IF_ERROR(for_each_extent_key(
        db, cf, format::extent_key(format::kExtentRefPrefix, settled),
        format::extent_key(format::kExtentRefPrefix, next), [&](uint64_t id, const rocksdb::Slice&) {
          referenced.insert(id);
          return Status::Ok();
        }));
    for (uint64_t id = settled; id < next; ++id) {
      if (referenced.contains(id)) continue;
      std::string p = path(id);
      if (::unlink(p.c_str()) == 0) {
        ++removed;
      } else if (errno != ENOENT) {
        return from_errno(errno, "remove " + p);
      }
    }
  }
  if (removed > 0) {
    spdlog::info("object store {}: removed {} extent files left over by a crash or an "
                 "unfinished delete",
                 db_dir, removed);
  }
  if (::fsync(dir_fd_) != 0) return from_errno(errno, "fsync " + dir_);
  batch.Put(cf, format::kExtentSettledKey, u64_value(next));
  batch.Put(cf, format::kExtentNextKey, u64_value(next));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  CAIRN_RETURN_IF_ERROR(from_rocksdb(db->Write(wo, &batch), "settle extent ids"));
  next_ = limit_ = next;
  return Status::Ok();
}

Status ExtentFiles::persist_chunk_locked() {
  // Unlinks and never-committed removals before this point become durable
  // first, so their 'D' keys and ids can be forgotten.
  if (::fsync(dir_fd_) != 0) return from_errno(errno, "fsync " + dir_);
  uint64_t settled = in_flight_.empty() ? next_ : std::min(next_, *in_flight_.begin());
  rocksdb::WriteBatch batch;
  batch.Put(cf_, format::kExtentSettledKey, u64_value(settled));
  batch.Put(cf_, format::kExtentNextKey, u64_value(next_ + kIdChunk));
  for (uint64_t id : unlinked_) batch.Delete(cf_, format::extent_key(format::kExtentDeletePrefix, id));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  CAIRN_RETURN_IF_ERROR(from_rocksdb(db_->Write(wo, &batch), "reserve extent ids"));
  unlinked_.clear();
  limit_ = next_ + kIdChunk;
  return Status::Ok();
}

Result<uint64_t> ExtentFiles::allocate() {
  std::lock_guard lock(mu_);
  if (next_ == limit_) CAIRN_RETURN_IF_ERROR(persist_chunk_locked());
  in_flight_.insert(next_);
  return next_++;
}

void ExtentFiles::settle(uint64_t id) {
  std::lock_guard lock(mu_);
  in_flight_.erase(id);
}

Status ExtentFiles::create(uint64_t id, std::string_view data, bool sync) {
  std::string p = path(id);
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0644);
  bool direct = fd >= 0;
  if (fd < 0 && errno == EINVAL) {  // a filesystem without O_DIRECT (older tmpfs)
    fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  }
  if (fd < 0) return from_errno(errno, "create " + p);
  char* buf = direct ? staging_buffer() : nullptr;
  int err = 0;
  if (direct && buf == nullptr && ::fcntl(fd, F_SETFL, O_WRONLY) != 0) err = errno;  // no memory
  size_t done = 0;
  while (buf != nullptr && done < data.size() && err == 0) {
    size_t n = std::min(kDirectChunk, data.size() - done);
    size_t padded = (n + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
    std::memcpy(buf, data.data() + done, n);
    std::memset(buf + n, 0, padded - n);  // the tail is cut off below
    err = write_all(fd, buf, padded, done);
    if (err == EINVAL && done == 0) {  // alignment the device does not take: buffered
      err = 0;
      buf = nullptr;
      if (::fcntl(fd, F_SETFL, O_WRONLY) != 0) err = errno;
      break;
    }
    if (err == 0) done += n;
  }
  if (err == 0 && done < data.size()) {
    err = write_all(fd, data.data() + done, data.size() - done, done);
  } else if (err == 0 && buf != nullptr && data.size() % kDirectAlign != 0 &&
             ::ftruncate(fd, static_cast<off_t>(data.size())) != 0) {
    err = errno;
  }
  Status st = err == 0 ? Status::Ok() : from_errno(err, "write " + p);
  if (st.ok() && sync && ::fdatasync(fd) != 0) st = from_errno(errno, "fdatasync " + p);
  ::close(fd);
  return st;
}

Status ExtentFiles::sync_dir() {
  if (::fsync(dir_fd_) != 0) return from_errno(errno, "fsync " + dir_);
  return Status::Ok();
}

void ExtentFiles::release(uint64_t id) {
  std::string p = path(id);
  if (!unlink_ok(p)) {  // its 'D' key stays: the next open retries
    spdlog::warn("object store: cannot remove released extent file {}: {}", p,
                 std::strerror(errno));
    return;
  }
  std::lock_guard lock(mu_);
  unlinked_.push_back(id);
}

void ExtentFiles::punch(uint64_t id, uint64_t offset, uint64_t len) {
  std::string p = path(id);
  int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  // Best effort: without it the bytes stay allocated until the file goes.
  (void)::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(len));
  ::close(fd);
}

Status ExtentFiles::read(uint64_t id, uint64_t offset, size_t len, char* out) {
  std::string p = path(id);
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return from_errno(errno, "open extent file " + p);
  Status st;
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, out + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = from_errno(errno, "read extent file " + p);
      if (st.is(Code::kNotFound)) st = Status::IoError(st.message());
      break;
    }
    if (n == 0) {
      st = Status::Corruption("extent file " + p + " is shorter than its blocks");
      break;
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return st;
}

Status ExtentFiles::corrupt_for_test(uint64_t id, uint64_t offset, std::string_view bytes) {
  std::string p = path(id);
  int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return from_errno(errno, "open " + p);
  ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(bytes.size())) return from_errno(err, "write " + p);
  return Status::Ok();
}

}  // namespace cairn::osd
