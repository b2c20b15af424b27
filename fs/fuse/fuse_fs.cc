#include "fs/fuse/fuse_fs.h"

#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/xattr.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "common/net/daemon.h"
#include "fs/mds/mds.h"

namespace cairn::fs {

namespace {

FuseFs* self(fuse_req_t r) { return static_cast<FuseFs*>(fuse_req_userdata(r)); }

MdsRequest make(MdsOp op, fuse_req_t r, Ino ino = 0) {
  MdsRequest q;
  q.op = op;
  q.ino = ino;
  if (r != nullptr) {
    const fuse_ctx* ctx = fuse_req_ctx(r);
    q.uid = ctx->uid;
    q.gid = ctx->gid;
  }
  return q;
}

int64_t ts_ns(const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; }
timespec ns_ts(int64_t ns) {
  timespec t;
  t.tv_sec = ns / 1000000000;
  t.tv_nsec = ns % 1000000000;
  return t;
}

// Sends req and answers the kernel with an errno on failure; returns the
// reply only when it succeeded.
std::optional<MdsReply> call_or_reply(fuse_req_t r, MdsRequest req) {
  auto rep = self(r)->mds(std::move(req), r);
  if (!rep.ok()) {
    fuse_reply_err(r, EIO);
    return std::nullopt;
  }
  if (rep->err != 0) {
    fuse_reply_err(r, rep->err);
    return std::nullopt;
  }
  return std::move(*rep);
}

// As call_or_reply, for requests that need the file's data in the objects:
// an inline file is moved there first and the request sent again.
std::optional<MdsReply> call_objects_or_reply(fuse_req_t r, MdsRequest req) {
  FuseFs* fs = self(r);
  MdsRequest again = req;
  auto rep = fs->mds(std::move(req), r);
  if (rep.ok() && rep->err == kEInline) {
    if (int e = fs->uninline(r, again.ino)) {
      fuse_reply_err(r, e);
      return std::nullopt;
    }
    rep = fs->mds(std::move(again), r);
  }
  if (!rep.ok()) {
    fuse_reply_err(r, EIO);
    return std::nullopt;
  }
  if (rep->err != 0) {
    fuse_reply_err(r, rep->err == kEInline ? EIO : rep->err);
    return std::nullopt;
  }
  return std::move(*rep);
}

void op_init(void* userdata, fuse_conn_info* conn) {
  conn->max_write = 1 << 20;
  conn->max_readahead = kReadaheadBytes;
  conn->want |= FUSE_CAP_ASYNC_READ | FUSE_CAP_AUTO_INVAL_DATA;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  // open(O_TRUNC) arrives as open + setattr(size 0), which truncates at the MDS.
  conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
  if (conn->capable & FUSE_CAP_POSIX_LOCKS) conn->want |= FUSE_CAP_POSIX_LOCKS;
  if (conn->capable & FUSE_CAP_FLOCK_LOCKS) conn->want |= FUSE_CAP_FLOCK_LOCKS;
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
  if (conn->capable & FUSE_CAP_SPLICE_MOVE) conn->want |= FUSE_CAP_SPLICE_MOVE;
  (void)userdata;
}

void op_lookup(fuse_req_t r, fuse_ino_t parent, const char* name) {
  if (self(r)->known_absent(self(r)->to_ino(parent), name)) {
    fuse_reply_err(r, ENOENT);
    return;
  }
  MdsRequest q = make(MdsOp::kLookup, r, self(r)->to_ino(parent));
  q.name = name;
  if (auto rep = call_or_reply(r, std::move(q))) self(r)->reply_entry(r, rep->inode);
}

void op_getattr(fuse_req_t r, fuse_ino_t ino, fuse_file_info*) {
  FuseFs* fs = self(r);
  Inode fresh;
  if (fs->fresh_dir_attrs(fs->to_ino(ino), &fresh)) {
    struct stat st;
    fs->fill_stat(fresh, &st);
    fuse_reply_attr(r, &st, fs->opts.attr_timeout);
    return;
  }
  if (auto rep = call_or_reply(r, make(MdsOp::kGetattr, r, fs->to_ino(ino)))) {
    fs->remember(rep->inode);
    struct stat st;
    fs->fill_stat(rep->inode, &st);
    fuse_reply_attr(r, &st, fs->opts.attr_timeout);
  }
}

void op_setattr(fuse_req_t r, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  FuseFs* fs = self(r);
  if (to_set & FUSE_SET_ATTR_SIZE) {
    // Buffered bytes land before the truncate, never after it.
    if (int e = fs->flush_data(fs->to_ino(ino))) {
      fuse_reply_err(r, e);
      return;
    }
  }
  MdsRequest q = make(MdsOp::kSetattr, r, fs->to_ino(ino));
  SetAttr& a = q.attr;
  if (to_set & FUSE_SET_ATTR_MODE) a.valid |= SetAttr::kMode, a.mode = attr->st_mode;
  if (to_set & FUSE_SET_ATTR_UID) a.valid |= SetAttr::kUid, a.uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) a.valid |= SetAttr::kGid, a.gid = attr->st_gid;
  if (to_set & FUSE_SET_ATTR_SIZE) a.valid |= SetAttr::kSize, a.size = attr->st_size;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) a.valid |= SetAttr::kAtimeNow;
  else if (to_set & FUSE_SET_ATTR_ATIME) a.valid |= SetAttr::kAtime, a.atime_ns = ts_ns(attr->st_atim);
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) a.valid |= SetAttr::kMtimeNow;
  else if (to_set & FUSE_SET_ATTR_MTIME) a.valid |= SetAttr::kMtime, a.mtime_ns = ts_ns(attr->st_mtim);
  if (auto rep = call_objects_or_reply(r, std::move(q))) {
    fs->remember(rep->inode);
    struct stat st;
    fs->fill_stat(rep->inode, &st);
    fuse_reply_attr(r, &st, fs->opts.attr_timeout);
  }
}

void op_readlink(fuse_req_t r, fuse_ino_t ino) {
  if (auto rep = call_or_reply(r, make(MdsOp::kGetattr, r, self(r)->to_ino(ino)))) {
    if (!rep->inode.is_symlink()) {
      fuse_reply_err(r, EINVAL);
      return;
    }
    fuse_reply_readlink(r, rep->inode.symlink.c_str());
  }
}

void op_mknod(fuse_req_t r, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  MdsRequest q = make(MdsOp::kMknod, r, self(r)->to_ino(parent));
  q.name = name;
  q.mode = mode & ~fuse_req_ctx(r)->umask;
  q.mode = (mode & S_IFMT) | (q.mode & 07777);
  q.rdev = rdev;
  if (auto rep = call_or_reply(r, std::move(q))) self(r)->reply_entry(r, rep->inode);
}

void op_mkdir(fuse_req_t r, fuse_ino_t parent, const char* name, mode_t mode) {
  op_mknod(r, parent, name, S_IFDIR | (mode & 07777), 0);
}

void op_symlink(fuse_req_t r, const char* link, fuse_ino_t parent, const char* name) {
  MdsRequest q = make(MdsOp::kSymlink, r, self(r)->to_ino(parent));
  q.name = name;
  q.name2 = link;
  if (auto rep = call_or_reply(r, std::move(q))) self(r)->reply_entry(r, rep->inode);
}

void op_link(fuse_req_t r, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  MdsRequest q = make(MdsOp::kLink, r, self(r)->to_ino(ino));
  q.ino2 = self(r)->to_ino(newparent);
  q.name = newname;
  if (auto rep = call_or_reply(r, std::move(q))) self(r)->reply_entry(r, rep->inode);
}

void op_unlink(fuse_req_t r, fuse_ino_t parent, const char* name) {
  MdsRequest q = make(MdsOp::kUnlink, r, self(r)->to_ino(parent));
  q.name = name;
  if (call_or_reply(r, std::move(q))) fuse_reply_err(r, 0);
}

void op_rmdir(fuse_req_t r, fuse_ino_t parent, const char* name) {
  MdsRequest q = make(MdsOp::kRmdir, r, self(r)->to_ino(parent));
  q.name = name;
  if (call_or_reply(r, std::move(q))) fuse_reply_err(r, 0);
}

void op_rename(fuse_req_t r, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned int flags) {
  MdsRequest q = make(MdsOp::kRename, r, self(r)->to_ino(parent));
  q.name = name;
  q.ino2 = self(r)->to_ino(newparent);
  q.name2 = newname;
  q.flags = flags;
  if (call_or_reply(r, std::move(q))) fuse_reply_err(r, 0);
}

void open_common(fuse_req_t r, const Inode& i, fuse_file_info* fi, bool created,
                 bool passthrough = false) {
  FuseFs* fs = self(r);
  // Keep the kernel's cached pages only if nobody changed the file since
  // this node last saw it: close-to-open consistency across nodes.
  // (The kernel refuses passthrough with keep_cache: EIO.)
  fi->keep_cache = !created && !passthrough && fs->unchanged(i) ? 1 : 0;
  auto* of = fs->new_file(i.ino, (fi->flags & O_APPEND) != 0, fi, passthrough);
  of->through = (fi->flags & (O_SYNC | O_DSYNC | O_DIRECT)) != 0;
  of->passthrough = passthrough;
  of->fill_cache = !passthrough && (fi->flags & O_ACCMODE) == O_RDONLY;
  fs->remember(i);
  fs->mdsc->track_open(i.ino, 1);
}

void op_open(fuse_req_t r, fuse_ino_t ino, fuse_file_info* fi) {
  FuseFs* fs = self(r);
  if (auto rep = call_or_reply(r, make(MdsOp::kOpen, r, fs->to_ino(ino)))) {
    if (rep->inode.is_dir()) {
      fuse_reply_err(r, EISDIR);
      return;
    }
    int backing = 0;
    if (int e = fs->choose_open_mode(rep->inode, fi->flags, &backing)) {
      // Its MDS open is undone as a release would.
      MdsRequest q = make(MdsOp::kRelease, r, rep->inode.ino);
      q.offset = fi->lock_owner;
      auto undo = fs->mds(std::move(q), nullptr);
      (void)undo;
      fuse_reply_err(r, e);
      return;
    }
    open_common(r, rep->inode, fi, false, backing > 0);
    if (backing > 0) reply_open_with_backing(backing);
    int sent = fuse_reply_open(r, fi);
    reply_open_with_backing(0);
    if (sent != 0) {  // interrupted: the kernel holds no such open
      fs->count_release(rep->inode.ino, backing > 0);
      fs->drop_file(fi);
    }
  }
}

void op_create(fuse_req_t r, fuse_ino_t parent, const char* name, mode_t mode,
               fuse_file_info* fi) {
  FuseFs* fs = self(r);
  MdsRequest q = make(MdsOp::kCreate, r, fs->to_ino(parent));
  q.name = name;
  q.mode = S_IFREG | (mode & 07777 & ~fuse_req_ctx(r)->umask);
  auto opened = call_or_reply(r, std::move(q));
  if (!opened) return;
  fs->count_create(opened->inode.ino);
  open_common(r, opened->inode, fi, true);
  fuse_entry_param e;
  std::memset(&e, 0, sizeof e);
  e.ino = fs->to_fuse(opened->inode.ino);
  e.attr_timeout = fs->opts.attr_timeout;
  e.entry_timeout = fs->opts.entry_timeout;
  fs->fill_stat(opened->inode, &e.attr);
  fuse_reply_create(r, &e, fi);
}

// Stores the file's buffered writes, then its size and mtime at the MDS.
// Returns the first write error not reported yet.
int publish(fuse_req_t r, FuseFs::OpenFile* of) {
  FuseFs* fs = self(r);
  int err = fs->flush_data(of->ino);
  if (of->lost) {
    of->lost = false;
    spdlog::error("inode {:x}: writes acknowledged by the previous cairn-fuse were not stored "
                  "before it was killed; reporting EIO to the application",
                  of->ino);
    err = EIO;
  }
  if (!of->dirty) return err;
  MdsRequest q = make(MdsOp::kExtend, r, of->ino);
  q.size = fs->known_size(of->ino);
  q.attr.mtime_ns = static_cast<int64_t>(net::wall_ns());
  auto rep = fs->mds(std::move(q), r);
  if (rep.ok() && rep->err == 0) {
    fs->remember(rep->inode);
    of->dirty = false;
  }
  return err;
}

void op_read(fuse_req_t r, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  FuseFs* fs = self(r);
  auto* of = self(r)->file(ino, fi);
  std::string data;
  int e = fs->read_data(of->ino, static_cast<uint64_t>(off), size, &data);
  if (e != 0) {
    fuse_reply_err(r, e);
    return;
  }
  fuse_reply_buf(r, data.data(), data.size());
  if (of->fill_cache) fs->fill_cache(of->ino, static_cast<uint64_t>(off), data);
}

void op_write(fuse_req_t r, fuse_ino_t ino, const char* buf, size_t size, off_t off,
              fuse_file_info* fi) {
  FuseFs* fs = self(r);
  auto* of = self(r)->file(ino, fi);
  uint64_t at = static_cast<uint64_t>(off);
  // Small files keep their bytes in the inode: one MDS request, no OSD write.
  if (!of->append && at + size <= kInlineMax && fs->maybe_inline(of->ino)) {
    int e = fs->write_inline(r, of->ino, at, buf, size);
    if (e == 0) {
      fuse_reply_write(r, size);
      return;
    }
    if (e != kEInline) {
      fuse_reply_err(r, e);
      return;
    }
  }
  if (fs->maybe_inline(of->ino)) {
    if (int e = fs->uninline(r, of->ino)) {
      fuse_reply_err(r, e);
      return;
    }
  }
  if (of->append) {
    // Another node may have appended: the MDS hands out the real end.
    MdsRequest q = make(MdsOp::kReserveAppend, r, of->ino);
    q.length = size;
    auto rep = call_objects_or_reply(r, std::move(q));
    if (!rep) return;
    at = rep->offset;
    fs->remember(rep->inode);
  } else if (at + size > fs->known_size(of->ino)) {
    // Growing: the MDS checks the quota before any byte lands.
    MdsRequest q = make(MdsOp::kExtend, r, of->ino);
    q.size = at + size;
    q.attr.mtime_ns = static_cast<int64_t>(net::wall_ns());
    auto rep = call_objects_or_reply(r, std::move(q));
    if (!rep) return;
    fs->remember(rep->inode);
  } else {
    of->dirty = true;  // in place: publish the new mtime at flush
  }
  int e = fs->write_data(of->ino, at, buf, size, of->through || of->append);
  if (e != 0) {
    fuse_reply_err(r, e);
    return;
  }
  // The size went to the MDS before the bytes landed (and buffered bytes
  // land later still): close publishes a new version after them, so no
  // node keeps pages or a local copy read in between.
  of->dirty = true;
  fuse_reply_write(r, size);
}

void op_flush(fuse_req_t r, fuse_ino_t ino, fuse_file_info* fi) {
  auto* of = self(r)->file(ino, fi);
  int err = publish(r, of);  // close-to-open: stored before close returns
  if (!of->locked) {
    fuse_reply_err(r, err);
    return;
  }
  // close() drops this owner's POSIX locks on the file.
  MdsRequest q = make(MdsOp::kSetlk, r, of->ino);
  q.offset = fi->lock_owner;
  q.lock_type = LockType::kUnlock;
  q.size = 0;
  q.length = UINT64_MAX;
  auto rep = self(r)->mds(std::move(q), r);
  (void)rep;
  fuse_reply_err(r, err);
}

void op_fsync(fuse_req_t r, fuse_ino_t ino, int, fuse_file_info* fi) {
  // Stored data writes are durable on every replica; what is left is the
  // size and mtime at the MDS, and every change the MDS answered early.
  if (int e = publish(r, self(r)->file(ino, fi))) {
    fuse_reply_err(r, e);
    return;
  }
  fuse_reply_err(r, self(r)->mdsc->wait_safe() ? 0 : EIO);
}

void op_release(fuse_req_t r, fuse_ino_t ino, fuse_file_info* fi) {
  FuseFs* fs = self(r);
  auto* of = self(r)->file(ino, fi);
  (void)publish(r, of);  // errors went to flush (close); nobody hears a release's
  MdsRequest q = make(MdsOp::kRelease, r, of->ino);
  q.offset = fi->lock_owner;
  Ino released = of->ino;
  fs->count_release(released, of->passthrough);
  fs->drop_file(fi);
  // Nobody waits for a release: answer the kernel first.
  fuse_reply_err(r, 0);
  auto rep = fs->mds(std::move(q), nullptr);
  (void)rep;
  fs->mdsc->track_open(released, -1);
}

void op_opendir(fuse_req_t r, fuse_ino_t ino, fuse_file_info* fi) {
  if (auto rep = call_or_reply(r, make(MdsOp::kGetattr, r, self(r)->to_ino(ino)))) {
    if (!rep->inode.is_dir()) {
      fuse_reply_err(r, ENOTDIR);
      return;
    }
    self(r)->new_dir(fi);
    fuse_reply_open(r, fi);
  }
}

// Offsets: 0 ".", 1 "..", 2+k the k-th entry fetched. With plus, each entry
// carries its attributes, so `ls -l` or a dataset scan needs no lookups.
void readdir_common(fuse_req_t r, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                    bool plus) {
  FuseFs* fs = self(r);
  auto* dh = fs->dir(fi);
  std::string buf(size, '\0');
  size_t used = 0;
  auto add = [&](const char* name, fuse_ino_t i, uint32_t type, off_t next,
                 const Inode* attrs) {
    size_t need = plus ? fuse_add_direntry_plus(r, nullptr, 0, name, nullptr, 0)
                       : fuse_add_direntry(r, nullptr, 0, name, nullptr, 0);
    if (used + need > size) return false;
    if (plus) {
      fuse_entry_param e;
      std::memset(&e, 0, sizeof e);
      if (attrs != nullptr && attrs->ino != 0) {
        fs->remember(*attrs);
        e.ino = i;
        e.attr_timeout = fs->opts.attr_timeout;
        e.entry_timeout = fs->opts.entry_timeout;
        fs->fill_stat(*attrs, &e.attr);
      } else {  // "." and "..": no entry for the kernel to cache
        e.attr.st_ino = i;
        e.attr.st_mode = type;
      }
      fuse_add_direntry_plus(r, buf.data() + used, size - used, name, &e, next);
    } else {
      struct stat st;
      std::memset(&st, 0, sizeof st);
      st.st_ino = i;
      st.st_mode = type;
      fuse_add_direntry(r, buf.data() + used, size - used, name, &st, next);
    }
    used += need;
    return true;
  };
  if (off == 0 && !add(".", ino, S_IFDIR, 1, nullptr)) goto done;
  if (off <= 1 && !add("..", FUSE_ROOT_ID, S_IFDIR, 2, nullptr)) goto done;
  for (size_t k = off > 2 ? static_cast<size_t>(off - 2) : 0;; ++k) {
    while (k >= dh->entries.size() && !dh->complete) {
      MdsRequest q = make(MdsOp::kReaddir, r, fs->to_ino(ino));
      q.name = dh->entries.empty() ? std::string() : dh->entries.back().name;
      q.length = 1024;
      q.flags = plus ? kReaddirPlus : 0;
      auto rep = fs->mds(std::move(q), r);
      if (!rep.ok() || rep->err != 0) {
        if (used == 0) {
          fuse_reply_err(r, rep.ok() ? rep->err : EIO);
          return;
        }
        goto done;
      }
      bool with_attrs = rep->inodes.size() == rep->entries.size();
      for (size_t n = 0; n < rep->entries.size(); ++n) {
        dh->entries.push_back(std::move(rep->entries[n]));
        dh->inodes.push_back(with_attrs ? std::move(rep->inodes[n]) : Inode{});
      }
      if (!rep->more) dh->complete = true;
    }
    if (k >= dh->entries.size()) break;
    const DirEntry& e = dh->entries[k];
    const Inode* attrs = plus && dh->inodes[k].ino != 0 ? &dh->inodes[k] : nullptr;
    if (plus && attrs == nullptr) {
      // Fetched without attributes earlier on this handle: a plain entry
      // would make the kernel cache a dentry without attributes.
      MdsRequest q = make(MdsOp::kGetattr, r, e.ino);
      auto rep = fs->mds(std::move(q), r);
      if (rep.ok() && rep->err == 0) {
        dh->inodes[k] = rep->inode;
        attrs = &dh->inodes[k];
      } else {
        continue;  // gone meanwhile
      }
    }
    if (!add(e.name.c_str(), fs->to_fuse(e.ino), e.type, static_cast<off_t>(k + 3), attrs)) break;
  }
done:
  fuse_reply_buf(r, buf.data(), used);
}

void op_readdir(fuse_req_t r, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  readdir_common(r, ino, size, off, fi, false);
}

void op_readdirplus(fuse_req_t r, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  readdir_common(r, ino, size, off, fi, true);
}

void op_releasedir(fuse_req_t r, fuse_ino_t, fuse_file_info* fi) {
  self(r)->drop_dir(fi);
  fuse_reply_err(r, 0);
}

void op_fsyncdir(fuse_req_t r, fuse_ino_t, int, fuse_file_info*) {
  // Namespace changes are answered before they are journaled (as CephFS
  // does): fsync on a directory waits until they are durable.
  fuse_reply_err(r, self(r)->mdsc->wait_safe() ? 0 : EIO);
}

void op_statfs(fuse_req_t r, fuse_ino_t) {
  FuseFs* fs = self(r);
  auto rep = call_or_reply(r, make(MdsOp::kStatfs, r));
  if (!rep) return;
  uint64_t total = 0, avail = 0;
  if (auto reports = fs->cluster.osd_reports(); reports.ok()) {
    for (const auto& rp : *reports) {
      total += rp.total_bytes;
      avail += rp.avail_bytes;
    }
  }
  // Replication divides raw space: report what files can actually use.
  auto map = fs->cluster.map();
  uint32_t copies = 1;
  for (const auto& [id, p] : map.pools) {
    if (p.id == fs->data_pool && p.size > 0) copies = p.size;
  }
  struct statvfs sv;
  std::memset(&sv, 0, sizeof sv);
  sv.f_bsize = 4096;
  sv.f_frsize = 4096;
  sv.f_blocks = total / copies / 4096;
  sv.f_bfree = avail / copies / 4096;
  sv.f_bavail = sv.f_bfree;
  sv.f_files = rep->statfs.files + 1000000;
  sv.f_ffree = 1000000;
  sv.f_favail = sv.f_ffree;
  sv.f_namemax = kMaxNameLen;
  fuse_reply_statfs(r, &sv);
}

void op_setxattr(fuse_req_t r, fuse_ino_t ino, const char* name, const char* value, size_t size,
                 int flags) {
  MdsRequest q = make(MdsOp::kSetxattr, r, self(r)->to_ino(ino));
  q.name = name;
  q.value.assign(value, size);
  q.flags = static_cast<uint32_t>(flags);
  if (call_or_reply(r, std::move(q))) fuse_reply_err(r, 0);
}

void op_getxattr(fuse_req_t r, fuse_ino_t ino, const char* name, size_t size) {
  // Never stored (setxattr refuses them), and the kernel asks for
  // security.capability before every write.
  std::string_view n(name);
  if (n.starts_with("security.") || n.starts_with("system.")) {
    fuse_reply_err(r, ENODATA);
    return;
  }
  MdsRequest q = make(MdsOp::kGetxattr, r, self(r)->to_ino(ino));
  q.name = name;
  auto rep = call_or_reply(r, std::move(q));
  if (!rep) return;
  if (size == 0) {
    fuse_reply_xattr(r, rep->value.size());
  } else if (size < rep->value.size()) {
    fuse_reply_err(r, ERANGE);
  } else {
    fuse_reply_buf(r, rep->value.data(), rep->value.size());
  }
}

void op_listxattr(fuse_req_t r, fuse_ino_t ino, size_t size) {
  auto rep = call_or_reply(r, make(MdsOp::kListxattr, r, self(r)->to_ino(ino)));
  if (!rep) return;
  std::string names;
  for (const auto& e : rep->entries) {
    names += e.name;
    names.push_back('\0');
  }
  if (size == 0) {
    fuse_reply_xattr(r, names.size());
  } else if (size < names.size()) {
    fuse_reply_err(r, ERANGE);
  } else {
    fuse_reply_buf(r, names.data(), names.size());
  }
}

void op_removexattr(fuse_req_t r, fuse_ino_t ino, const char* name) {
  MdsRequest q = make(MdsOp::kRemovexattr, r, self(r)->to_ino(ino));
  q.name = name;
  if (call_or_reply(r, std::move(q))) fuse_reply_err(r, 0);
}

LockType lock_type(short t) {
  return t == F_WRLCK ? LockType::kWrite : t == F_RDLCK ? LockType::kRead : LockType::kUnlock;
}

void op_getlk(fuse_req_t r, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock) {
  auto* of = self(r)->file(ino, fi);
  MdsRequest q = make(MdsOp::kGetlk, r, of->ino);
  q.offset = fi->lock_owner;
  q.lock_type = lock_type(lock->l_type);
  q.size = static_cast<uint64_t>(lock->l_start);
  q.length = lock->l_len == 0 ? UINT64_MAX : static_cast<uint64_t>(lock->l_start + lock->l_len - 1);
  auto rep = call_or_reply(r, std::move(q));
  if (!rep) return;
  if (rep->lock_type == LockType::kUnlock) {
    lock->l_type = F_UNLCK;
  } else {
    lock->l_type = rep->lock_type == LockType::kWrite ? F_WRLCK : F_RDLCK;
    lock->l_start = static_cast<off_t>(rep->lock_start);
    lock->l_len = rep->lock_end == UINT64_MAX ? 0 : static_cast<off_t>(rep->lock_end - rep->lock_start + 1);
    lock->l_pid = static_cast<pid_t>(rep->lock_pid);
  }
  fuse_reply_lock(r, lock);
}

// Blocking waits poll the MDS: simple, and a dead waiter holds nothing.
void set_lock(fuse_req_t r, Ino ino, uint64_t owner, LockType type, uint64_t start, uint64_t end,
              bool flock, bool wait) {
  for (int round = 0;; ++round) {
    MdsRequest q = make(MdsOp::kSetlk, r, ino);
    q.offset = owner;
    q.lock_type = type;
    q.size = start;
    q.length = end;
    q.lock_flock = flock;
    q.lock_pid = fuse_req_ctx(r)->pid;
    auto rep = self(r)->mds(std::move(q), r);
    if (!rep.ok()) {
      fuse_reply_err(r, EIO);
      return;
    }
    if (rep->err != EAGAIN || !wait) {
      fuse_reply_err(r, rep->err);
      return;
    }
    if (fuse_req_interrupted(r)) {
      fuse_reply_err(r, EINTR);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(10 + round * 5, 100)));
  }
}

void op_setlk(fuse_req_t r, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock, int sleep) {
  auto* of = self(r)->file(ino, fi);
  // What was written under a lock is stored before the lock goes to another node.
  if (lock->l_type == F_UNLCK) {
    if (int e = self(r)->flush_data(of->ino)) {
      fuse_reply_err(r, e);
      return;
    }
  }
  uint64_t start = static_cast<uint64_t>(lock->l_start);
  uint64_t end = lock->l_len == 0 ? UINT64_MAX : static_cast<uint64_t>(lock->l_start + lock->l_len - 1);
  of->locked = true;
  set_lock(r, of->ino, fi->lock_owner, lock_type(lock->l_type), start, end, false, sleep != 0);
}

void op_flock(fuse_req_t r, fuse_ino_t ino, fuse_file_info* fi, int op) {
  auto* of = self(r)->file(ino, fi);
  if (op & LOCK_UN) {
    if (int e = self(r)->flush_data(of->ino)) {
      fuse_reply_err(r, e);
      return;
    }
  }
  LockType t = (op & LOCK_UN) ? LockType::kUnlock
               : (op & LOCK_EX) ? LockType::kWrite
                                : LockType::kRead;
  set_lock(r, of->ino, fi->lock_owner, t, 0, UINT64_MAX, true, (op & LOCK_NB) == 0);
}

void op_fallocate(fuse_req_t r, fuse_ino_t ino, int mode, off_t offset, off_t length,
                  fuse_file_info* fi) {
  if (mode != 0) {
    fuse_reply_err(r, EOPNOTSUPP);  // holes and collapse are not supported
    return;
  }
  FuseFs* fs = self(r);
  auto* of = self(r)->file(ino, fi);
  uint64_t end = static_cast<uint64_t>(offset + length);
  if (end > fs->known_size(of->ino)) {
    MdsRequest q = make(MdsOp::kExtend, r, of->ino);
    q.size = end;
    q.attr.mtime_ns = static_cast<int64_t>(net::wall_ns());
    auto rep = call_objects_or_reply(r, std::move(q));
    if (!rep) return;
    fs->remember(rep->inode);
  }
  fuse_reply_err(r, 0);
}

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops o;
  std::memset(&o, 0, sizeof o);
  o.init = op_init;
  o.lookup = op_lookup;
  o.getattr = op_getattr;
  o.setattr = op_setattr;
  o.readlink = op_readlink;
  o.mknod = op_mknod;
  o.mkdir = op_mkdir;
  o.unlink = op_unlink;
  o.rmdir = op_rmdir;
  o.symlink = op_symlink;
  o.rename = op_rename;
  o.link = op_link;
  o.open = op_open;
  o.read = op_read;
  o.write = op_write;
  o.flush = op_flush;
  o.release = op_release;
  o.fsync = op_fsync;
  o.opendir = op_opendir;
  o.readdir = op_readdir;
  o.readdirplus = op_readdirplus;
  o.releasedir = op_releasedir;
  o.fsyncdir = op_fsyncdir;
  o.statfs = op_statfs;
  o.setxattr = op_setxattr;
  o.getxattr = op_getxattr;
  o.listxattr = op_listxattr;
  o.removexattr = op_removexattr;
  o.create = op_create;
  o.getlk = op_getlk;
  o.setlk = op_setlk;
  o.flock = op_flock;
  o.fallocate = op_fallocate;
  return o;
}();

}  // namespace

void set_readahead(const std::string& mountpoint, uint32_t bytes) {
  std::ifstream info("/proc/self/mountinfo");
  std::string line, dev;
  while (std::getline(info, line)) {
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...", with spaces in paths as \040
    std::istringstream fields(line);
    std::string id, parent, majmin, root, point;
    fields >> id >> parent >> majmin >> root >> point;
    std::string unescaped;
    for (size_t k = 0; k < point.size(); ++k) {
      auto octal = [&](size_t at) { return at < point.size() && point[at] >= '0' && point[at] <= '7'; };
      if (point[k] == '\\' && octal(k + 1) && octal(k + 2) && octal(k + 3)) {
        unescaped.push_back(static_cast<char>((point[k + 1] - '0') * 64 + (point[k + 2] - '0') * 8 +
                                              (point[k + 3] - '0')));
        k += 3;
      } else {
        unescaped.push_back(point[k]);
      }
    }
    if (unescaped == mountpoint) dev = majmin;  // the last one: mounts stack
  }
  if (dev.empty()) {
    spdlog::warn("readahead left at the kernel's default: {} is not in /proc/self/mountinfo",
                 mountpoint);
    return;
  }
  std::string path = "/sys/class/bdi/" + dev + "/read_ahead_kb";
  std::ofstream ra(path);
  ra << bytes / 1024 << "\n";
  ra.flush();
  if (!ra) spdlog::warn("readahead left at the kernel's default: cannot write {}", path);
}

FuseFs::FuseFs(client::Client& c, std::string key, FuseOptions o)
    : cluster(c), opts(std::move(o)), key_(std::move(key)) {
  // Handles from a predecessor (after a takeover) must not collide with ours.
  std::random_device rd;
  next_handle_ = ((static_cast<uint64_t>(rd()) << 24) | 1) & ((1ull << 56) - 1);
}

FuseFs::~FuseFs() { shutdown(); }

const fuse_lowlevel_ops& FuseFs::ops() const { return kOps; }

Status FuseFs::connect() {
  auto pool = cluster.pool_id(data_pool_name(opts.fs_name));
  if (!pool.ok()) {
    return Status::NotFound("filesystem '" + opts.fs_name + "' does not exist (no pool " +
                            data_pool_name(opts.fs_name) + "; create it with `cairnctl fs new`)");
  }
  data_pool = *pool;
  mdsc = std::make_unique<MdsClient>(cluster, opts.fs_name, opts.client_name, key_,
                                     [this](const MdsNotify& n) {
                                       {
                                         // At once, on the io thread: before
                                         // any later reply is handed over.
                                         std::lock_guard g(mu_);
                                         ++invalidations_;
                                         fresh_dirs_.erase(n.ino);
                                         complete_dirs_.erase(n.ino);
                                       }
                                       std::lock_guard lock(notify_mu_);
                                       notify_q_.push_back(n);
                                       notify_cv_.notify_one();
                                     });
  if (mdsc_resume != 0) mdsc->resume(mdsc_resume);
  MdsRequest q;
  q.op = MdsOp::kResolve;
  q.name = opts.subvolume.empty() ? "" : "volumes/" + opts.subvolume;
  auto rep = mdsc->call(std::move(q), std::chrono::seconds(30));
  if (!rep.ok()) return rep.status();
  if (rep->err != 0) {
    return Status::NotFound(opts.subvolume.empty()
                                ? "cannot read the filesystem root: " + std::string(strerror(rep->err))
                                : "subvolume '" + opts.subvolume + "' does not exist");
  }
  if (!opts.subvolume.empty() && rep->inode.subvol != rep->inode.ino) {
    return Status::NotFound("'" + opts.subvolume + "' is not a subvolume");
  }
  root_ = rep->inode.ino;
  notify_thread_ = std::thread([this] { notify_loop(); });
  return Status::Ok();
}

void FuseFs::attach(fuse_session* se) { se_ = se; }

void FuseFs::detach() {
  // The successor resumes our session but not our buffers or our list of
  // unsafe changes: store and confirm them first.
  if (wb_) wb_->flush_all();
  if (mdsc && !mdsc->wait_safe(std::chrono::seconds(60))) {
    spdlog::warn("handing over with {} changes not yet confirmed durable", mdsc->unsafe_count());
  }
  {
    std::lock_guard lock(notify_mu_);
    if (stop_) return;
    stop_ = true;
    notify_cv_.notify_all();
  }
  if (notify_thread_.joinable()) notify_thread_.join();
}

void FuseFs::shutdown() {
  if (wb_) wb_->flush_all();
  {
    std::lock_guard lock(notify_mu_);
    if (stop_) return;
    stop_ = true;
    notify_cv_.notify_all();
  }
  if (notify_thread_.joinable()) notify_thread_.join();
  if (mdsc) mdsc->close_session();
}

// Invalidations run on their own thread: the kernel may need a FUSE worker
// to finish before it can drop an entry, so they must never block one.
void FuseFs::notify_loop() {
  std::unique_lock lock(notify_mu_);
  while (!stop_) {
    if (notify_q_.empty()) {
      notify_cv_.wait(lock);
      continue;
    }
    MdsNotify n = std::move(notify_q_.front());
    notify_q_.pop_front();
    lock.unlock();
    if (se_ != nullptr) {
      if (n.kind == MdsNotify::kInvalEntry) {
        fuse_lowlevel_notify_inval_entry(se_, to_fuse(n.ino), n.name.c_str(), n.name.size());
      } else {
        {
          std::lock_guard g(mu_);
          if (auto it = known_.find(n.ino); it != known_.end()) {
            known_inline_bytes_ -= it->second.data.size();
            known_.erase(it);
          }
        }
        fuse_lowlevel_notify_inval_inode(se_, to_fuse(n.ino), 0, 0);
        if (rcache_) rcache_->drop(n.ino);  // changed on another node
      }
    }
    lock.lock();
    // The MDS holds the answer to the change back until we have applied it
    // (one ack covers a burst).
    if (notify_q_.empty() && n.seq != 0 && !stop_) {
      lock.unlock();
      MdsRequest ack;
      ack.op = MdsOp::kNotifyAck;
      ack.offset = n.seq;
      auto r = mdsc->call(std::move(ack), std::chrono::seconds(5));
      (void)r;
      lock.lock();
    }
  }
}

void FuseFs::fill_stat(const Inode& i, struct stat* st) const {
  std::memset(st, 0, sizeof *st);
  st->st_ino = to_fuse(i.ino);
  st->st_mode = i.mode;
  st->st_nlink = i.nlink;
  st->st_uid = i.uid;
  st->st_gid = i.gid;
  st->st_rdev = i.rdev;
  st->st_size = static_cast<off_t>(i.size);
  st->st_blksize = 1 << 20;
  st->st_blocks = static_cast<blkcnt_t>((i.size + 511) / 512);
  st->st_atim = ns_ts(i.atime_ns);
  st->st_mtim = ns_ts(i.mtime_ns);
  st->st_ctim = ns_ts(i.ctime_ns);
}

FuseFs::OpenFile* FuseFs::new_file(Ino ino, bool append, fuse_file_info* fi, bool passthrough) {
  std::lock_guard lock(handles_mu_);
  uint64_t id = next_handle_++;
  // The mode bits let a successor account for the handles it inherits.
  bool writable = (fi->flags & O_ACCMODE) != O_RDONLY;
  fi->fh = (id << 3) | (writable ? 4 : 0) | (passthrough ? 2 : 0) | (append ? 1 : 0);
  OpenFile& f = files_[fi->fh];
  f.ino = ino;
  f.append = append;
  return &f;
}

FuseFs::OpenFile* FuseFs::file(fuse_ino_t ino, fuse_file_info* fi) {
  std::lock_guard lock(handles_mu_);
  auto [it, fresh] = files_.try_emplace(fi->fh);
  if (fresh) {  // opened by the cairn-fuse we took over from
    it->second.ino = to_ino(ino);
    it->second.append = (fi->fh & 1) != 0;
    it->second.passthrough = (fi->fh & 2) != 0;
    it->second.dirty = true;  // it may have written: publish mtime at close
    // Only a handle that could write has writes to lose.
    it->second.lost = (fi->fh & 4) != 0 && lost_.count(it->second.ino) != 0;
  }
  return &it->second;
}

void FuseFs::drop_file(fuse_file_info* fi) {
  std::lock_guard lock(handles_mu_);
  files_.erase(fi->fh);
}

FuseFs::DirHandle* FuseFs::new_dir(fuse_file_info* fi) {
  std::lock_guard lock(handles_mu_);
  fi->fh = next_handle_++ << 1;
  return &dirs_[fi->fh];
}

FuseFs::DirHandle* FuseFs::dir(fuse_file_info* fi) {
  std::lock_guard lock(handles_mu_);
  return &dirs_[fi->fh];  // unknown after a takeover: listed afresh
}

void FuseFs::drop_dir(fuse_file_info* fi) {
  std::lock_guard lock(handles_mu_);
  dirs_.erase(fi->fh);
}

bool FuseFs::unchanged(const Inode& i) {
  std::lock_guard lock(mu_);
  auto it = known_.find(i.ino);
  return it != known_.end() && it->second.version == i.version;
}

void FuseFs::remember(const Inode& i) {
  std::lock_guard lock(mu_);
  Known& k = known_[i.ino];
  known_inline_bytes_ -= k.data.size();
  k.size = i.size;
  k.version = i.version;
  k.inlined = i.inlined;
  // Listings leave the bytes out: then they are fetched on the first read.
  k.has_data = i.inlined && i.inline_data.size() == i.size;
  k.data = k.has_data ? i.inline_data : std::string();
  known_inline_bytes_ += k.data.size();
  if (known_inline_bytes_ > (64u << 20)) {  // a bounded cache: forget every content
    for (auto& [ino, other] : known_) {
      other.has_data = false;
      other.data = std::string();
    }
    known_inline_bytes_ = 0;
  }
}

bool FuseFs::maybe_inline(Ino ino) {
  std::lock_guard lock(mu_);
  auto it = known_.find(ino);
  return it == known_.end() || it->second.inlined;
}

bool FuseFs::inline_content(Ino ino, std::string* out) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    {
      std::lock_guard lock(mu_);
      auto it = known_.find(ino);
      if (it != known_.end()) {
        if (!it->second.inlined) return false;
        if (it->second.has_data) {
          *out = it->second.data;
          return true;
        }
      }
    }
    MdsRequest q;
    q.op = MdsOp::kGetattr;
    q.ino = ino;
    auto rep = mdsc->call(std::move(q));
    if (!rep.ok() || rep->err != 0) return false;
    if (!rep->inode.inlined) {
      remember(rep->inode);
      return false;
    }
    *out = rep->inode.inline_data;
    remember(rep->inode);
    return true;
  }
  return false;
}

int FuseFs::write_inline(fuse_req_t r, Ino ino, uint64_t off, const char* buf, size_t len) {
  MdsRequest q = make(MdsOp::kWriteInline, r, ino);
  q.offset = off;
  q.value.assign(buf, len);
  q.attr.mtime_ns = static_cast<int64_t>(net::wall_ns());
  auto rep = mds(std::move(q), r);
  if (!rep.ok()) return EIO;
  if (rep->err != 0) return rep->err;
  remember(rep->inode);  // without the bytes: a read fetches them
  return 0;
}

int FuseFs::uninline(fuse_req_t r, Ino ino) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto cur = mds(make(MdsOp::kGetattr, r, ino), r);
    if (!cur.ok()) return EIO;
    if (cur->err != 0) return cur->err;
    if (!cur->inode.inlined) {
      remember(cur->inode);
      return 0;
    }
    // The bytes reach the object first; only then does the MDS say they live there.
    Status st = cluster.put(data_pool_name(opts.fs_name), data_object(ino, 0),
                            cur->inode.inline_data);
    if (!st.ok()) {
      spdlog::warn("moving inline data of {:x} to its object: {}", ino, st.to_string());
      return st.to_errno();
    }
    MdsRequest q = make(MdsOp::kUninline, r, ino);
    q.size = cur->inode.version;
    auto rep = mds(std::move(q), r);
    if (!rep.ok()) return EIO;
    if (rep->err == EAGAIN) continue;  // written meanwhile: copy again
    if (rep->err != 0) return rep->err;
    remember(rep->inode);
    return 0;
  }
  return EIO;
}

uint64_t FuseFs::known_size(Ino ino) {
  {
    std::lock_guard lock(mu_);
    if (auto it = known_.find(ino); it != known_.end()) return it->second.size;
  }
  MdsRequest q;
  q.op = MdsOp::kGetattr;
  q.ino = ino;
  auto rep = mdsc->call(std::move(q));
  if (!rep.ok() || rep->err != 0) return 0;
  remember(rep->inode);
  return rep->inode.size;
}


Result<MdsReply> FuseFs::mds(MdsRequest req, fuse_req_t) {
  bool changes_dirs = req.op == MdsOp::kCreate || req.op == MdsOp::kMknod ||
                      req.op == MdsOp::kSymlink || req.op == MdsOp::kLink ||
                      req.op == MdsOp::kUnlink || req.op == MdsOp::kRmdir ||
                      req.op == MdsOp::kRename;
  uint64_t seen = 0;
  if (changes_dirs) {
    std::lock_guard lock(mu_);
    seen = invalidations_;
  }
  MdsRequest sent;
  if (changes_dirs) sent = req;
  auto rep = mdsc->call(std::move(req));
  if (changes_dirs) {
    std::lock_guard lock(mu_);
    // An invalidation that arrived meanwhile may concern these directories
    // and have been applied before we got here: then ask the MDS next time.
    bool clean = invalidations_ == seen;
    if (clean && rep.ok() && rep->err == 0) {
      auto now = std::chrono::steady_clock::now();
      for (const Inode& d : rep->inodes) fresh_dirs_[d.ino] = FreshDir{d, now};
    }
    track_names(sent, rep, clean);
  }
  return rep;
}

// Under mu_.
void FuseFs::track_names(const MdsRequest& req, const Result<MdsReply>& rep, bool clean) {
  bool ok = rep.ok() && rep->err == 0;
  uint64_t conn = mdsc->connections();
  if (ok && clean && req.op == MdsOp::kMknod && S_ISDIR(req.mode)) {
    complete_dirs_[rep->inode.ino] = CompleteDir{conn, {}};
  }
  auto change = [&](Ino dir, const std::string& name, bool add) {
    auto it = complete_dirs_.find(dir);
    if (it == complete_dirs_.end()) return;
    // A failure may mean our picture was wrong: stop answering for it.
    if (!ok || it->second.connection != conn || it->second.names.size() >= 100000) {
      complete_dirs_.erase(it);
    } else if (add) {
      it->second.names.insert(name);
    } else {
      it->second.names.erase(name);
    }
  };
  switch (req.op) {
    case MdsOp::kCreate: case MdsOp::kMknod: case MdsOp::kSymlink:
      change(req.ino, req.name, true);
      break;
    case MdsOp::kLink: change(req.ino2, req.name, true); break;
    case MdsOp::kUnlink: case MdsOp::kRmdir: change(req.ino, req.name, false); break;
    case MdsOp::kRename:
      if (req.flags & kRenameExchange) {
        change(req.ino, req.name, true);  // both names stay
        change(req.ino2, req.name2, true);
      } else {
        change(req.ino, req.name, false);
        change(req.ino2, req.name2, true);
      }
      break;
    default: break;
  }
}

bool FuseFs::known_absent(Ino dir, const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = complete_dirs_.find(dir);
  if (it == complete_dirs_.end()) return false;
  if (it->second.connection != mdsc->connections()) {
    complete_dirs_.erase(it);
    return false;
  }
  return !it->second.names.contains(name);
}

bool FuseFs::fresh_dir_attrs(Ino dir, Inode* out) {
  std::lock_guard lock(mu_);
  auto it = fresh_dirs_.find(dir);
  if (it == fresh_dirs_.end()) return false;
  bool fresh = std::chrono::steady_clock::now() - it->second.at <
               std::chrono::duration<double>(opts.attr_timeout);
  if (fresh) *out = std::move(it->second.attrs);
  fresh_dirs_.erase(it);
  return fresh;
}

void FuseFs::reply_entry(fuse_req_t r, const Inode& i) {
  remember(i);
  fuse_entry_param e;
  std::memset(&e, 0, sizeof e);
  e.ino = to_fuse(i.ino);
  e.attr_timeout = opts.attr_timeout;
  e.entry_timeout = opts.entry_timeout;
  fill_stat(i, &e.attr);
  fuse_reply_entry(r, &e);
}

int FuseFs::read_data(Ino ino, uint64_t off, size_t len, std::string* out) {
  // Reads see this node's own buffered writes: store them first (the
  // kernel's page cache answers most such reads before they get here).
  if (wb_ && wb_->holds(ino)) {
    if (int e = wb_->flush(ino)) return e;
  }
  std::string content;
  if (inline_content(ino, &content)) {
    if (off < content.size()) *out = content.substr(off, len);
    return 0;
  }
  uint64_t size = known_size(ino);
  if (off >= size) return 0;
  len = static_cast<size_t>(std::min<uint64_t>(len, size - off));
  if (len > 0 && off / kObjectSize == (off + len - 1) / kObjectSize) {
    // Within one object (every aligned read up to 1 MiB): hand the object's
    // bytes on as they came, without a zero-filled copy.
    auto data = cluster.get(data_pool_name(opts.fs_name), data_object(ino, off / kObjectSize),
                            off % kObjectSize, len);
    if (data.ok()) {
      *out = std::move(*data);
      out->resize(len, '\0');  // a short object: the rest is a hole
      return 0;
    }
    if (!data.status().is(Code::kNotFound)) {
      spdlog::warn("read {}: {}", data_object(ino, off / kObjectSize), data.status().to_string());
      return data.status().to_errno();
    }
    out->assign(len, '\0');
    return 0;
  }
  out->assign(len, '\0');  // holes and never-written objects read as zeros
  uint64_t pos = off;
  while (pos < off + len) {
    uint64_t objno = pos / kObjectSize;
    uint64_t in_obj = pos % kObjectSize;
    uint64_t n = std::min<uint64_t>(kObjectSize - in_obj, off + len - pos);
    auto data = cluster.get(data_pool_name(opts.fs_name), data_object(ino, objno), in_obj, n);
    if (data.ok()) {
      std::memcpy(out->data() + (pos - off), data->data(), std::min<size_t>(data->size(), n));
    } else if (!data.status().is(Code::kNotFound)) {
      spdlog::warn("read {}: {}", data_object(ino, objno), data.status().to_string());
      return data.status().to_errno();
    }
    pos += n;
  }
  return 0;
}

int FuseFs::write_data(Ino ino, uint64_t off, const char* buf, size_t len, bool through) {
  int e = wb_ && !through ? wb_->write(ino, off, std::string_view(buf, len)) : -1;
  if (e > 0) return e;  // an earlier buffered write to this file failed
  if (e < 0) {
    if (wb_) {
      // Stored here and now: whatever is buffered for the range must not land later.
      if (int f = wb_->flush(ino)) return f;
    }
    uint64_t pos = off;
    while (pos < off + len) {
      uint64_t objno = pos / kObjectSize;
      uint64_t in_obj = pos % kObjectSize;
      uint64_t n = std::min<uint64_t>(kObjectSize - in_obj, off + len - pos);
      if (int s = store_data(ino, objno, in_obj, std::string(buf + (pos - off), n))) return s;
      pos += n;
    }
  }
  std::lock_guard lock(mu_);
  auto& k = known_[ino];
  k.size = std::max(k.size, off + len);
  return 0;
}

int FuseFs::store_data(Ino ino, uint64_t objno, uint64_t in_obj, std::string data) {
  Status st = cluster.write(data_pool_name(opts.fs_name), data_object(ino, objno), in_obj,
                            std::move(data));
  if (!st.ok()) {
    spdlog::warn("write {}: {}", data_object(ino, objno), st.to_string());
    return st.to_errno();
  }
  return 0;
}

int FuseFs::flush_data(Ino ino) { return wb_ ? wb_->flush(ino) : 0; }

void FuseFs::start_writeback(const std::string& table_path, bool taking_over) {
  if (!opts.writeback) return;
  std::vector<Ino> left = unstored_.open(table_path);
  if (!left.empty()) {
    std::lock_guard lock(handles_mu_);
    lost_.insert(left.begin(), left.end());
    spdlog::error("the previous cairn-fuse of this mount was killed with acknowledged writes to {} "
                  "file(s) not stored; {}",
                  left.size(),
                  taking_over ? "their open handles report EIO at the next close or fsync"
                              : "they were lost (no handle is left to report it)");
  }
  if (!unstored_.usable()) return;
  wb_ = std::make_unique<WriteBack>(
      [this](Ino ino, uint64_t objno, uint64_t in_obj, std::string data) {
        return store_data(ino, objno, in_obj, std::move(data));
      },
      &unstored_, opts.writeback_opts);
}

bool FuseFs::known_version(Ino ino, uint64_t* version, uint64_t* size) {
  std::lock_guard lock(mu_);
  auto it = known_.find(ino);
  if (it == known_.end() || it->second.inlined) return false;
  *version = it->second.version;
  *size = it->second.size;
  return true;
}

void FuseFs::start_read_cache(const std::string& modes_path, bool taking_over, int fuse_fd) {
  fuse_fd_ = fuse_fd;
  {
    std::lock_guard lock(modes_mu_);
    modes_ok_ = modes_.open(modes_path, taking_over);
  }
  if (!modes_ok_) {
    spdlog::warn("cannot map {}: no read cache", modes_path);
    return;
  }
  if (opts.read_cache_dir.empty()) return;
  auto cache = std::make_unique<ReadCache>(opts.read_cache_dir, opts.read_cache_bytes);
  if (cache->open(taking_over)) rcache_ = std::move(cache);
}

int FuseFs::choose_open_mode(const Inode& i, int flags, int* backing_id) {
  *backing_id = 0;
  if (!modes_ok_) return 0;
  bool read_only = (flags & O_ACCMODE) == O_RDONLY && (flags & O_DIRECT) == 0;
  for (int attempt = 0;; ++attempt) {
    bool copy = read_only && rcache_ && !i.inlined && rcache_->has_copy(i.ino, i.version, i.size);
    std::unique_lock lock(modes_mu_);
    IoModes::Entry* e = modes_.find(i.ino);
    OpenMode m = decide_open(e, read_only, copy && passthrough_ok_ && !untracked_opens_, i.version);
    if (m == OpenMode::kPassthrough) {
      if (e != nullptr && e->passthrough > 0) {
        ++e->passthrough;
        *backing_id = e->backing_id;
        return 0;
      }
      int fd = rcache_ ? rcache_->open_copy(i.ino, i.version, i.size) : -1;
      int id = fd >= 0 ? backing_open(fuse_fd_, fd) : -ENOENT;
      if (fd >= 0) ::close(fd);
      e = id > 0 ? modes_.get(i.ino) : nullptr;
      if (e != nullptr) {
        e->version = i.version;
        e->backing_id = id;
        e->passthrough = 1;
        *backing_id = id;
        return 0;
      }
      if (id > 0) backing_close(fuse_fd_, id);
      if (fd >= 0 && id < 0 && passthrough_ok_) {
        passthrough_ok_ = false;
        spdlog::warn("read cache: the kernel refuses FUSE passthrough ({}); reads stay in cairn-fuse",
                     std::strerror(-id));
      }
      m = OpenMode::kCached;
    }
    if (m == OpenMode::kCached) {
      if (IoModes::Entry* c = modes_.get(i.ino)) {
        ++c->cached;
      } else {
        untracked_opens_ = true;
      }
      return 0;
    }
    // Busy: open for passthrough reads of another version, or this open
    // writes. Those readers' releases may be in flight: wait a little.
    lock.unlock();
    if (attempt == 100) {
      spdlog::warn("inode {:x} is open for local-copy reads on this node; refusing a {} open",
                   i.ino, read_only ? "read (of a newer version)" : "write");
      return read_only ? ESTALE : ETXTBSY;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void FuseFs::count_create(Ino ino) {
  if (!modes_ok_) return;
  std::lock_guard lock(modes_mu_);
  if (IoModes::Entry* c = modes_.get(ino)) {
    ++c->cached;
  } else {
    untracked_opens_ = true;
  }
}

void FuseFs::count_release(Ino ino, bool passthrough) {
  if (!modes_ok_) return;
  std::lock_guard lock(modes_mu_);
  IoModes::Entry* e = modes_.find(ino);
  if (e == nullptr) return;
  if (passthrough && e->passthrough > 0) {
    if (--e->passthrough == 0) {
      backing_close(fuse_fd_, e->backing_id);
      e->backing_id = 0;
    }
  } else if (!passthrough && e->cached > 0) {
    --e->cached;
  }
  modes_.release_if_unused(e);
}

void FuseFs::fill_cache(Ino ino, uint64_t off, const std::string& data) {
  if (!rcache_ || !passthrough_ok_) return;
  uint64_t version = 0, size = 0;
  if (known_version(ino, &version, &size)) rcache_->fill(ino, version, size, off, data);
}

}  // namespace cairn::fs
