#include "fs/core/namespace.h"

#include <cerrno>

namespace cairn::fs {

namespace {
constexpr uint32_t kXattrCreate = 1;
constexpr uint32_t kXattrReplace = 2;
constexpr const char* kVolumesDir = "volumes";

bool valid_node_type(uint32_t type) {
  return type == S_IFREG || type == S_IFDIR || type == S_IFIFO || type == S_IFSOCK ||
         type == S_IFCHR || type == S_IFBLK;
}
}  // namespace

Txn Namespace::format(const Caller& c) {
  Inode root;
  root.ino = kRootIno;
  root.mode = S_IFDIR | 0755;
  root.uid = c.uid;
  root.gid = c.gid;
  root.nlink = 2;
  root.atime_ns = root.mtime_ns = root.ctime_ns = c.now_ns;
  root.version = 1;
  root.parent = kRootIno;
  return {Update::put_inode(root), Update::max_ino(kRootIno)};
}

void Namespace::apply(const Update& u) {
  switch (u.kind) {
    case Update::kPutInode:
      inodes_[u.inode.ino] = u.inode;
      if (u.inode.is_dir()) dirs_[u.inode.ino];  // exists even while empty
      max_ino_ = std::max(max_ino_, u.inode.ino);
      break;
    case Update::kRmInode:
      inodes_.erase(u.ino);
      dirs_.erase(u.ino);
      open_refs_.erase(u.ino);
      break;
    case Update::kPutDentry:
      dirs_[u.dir][u.name] = Dentry{u.ino, u.type};
      break;
    case Update::kRmDentry:
      if (auto it = dirs_.find(u.dir); it != dirs_.end()) {
        if (auto e = it->second.find(u.name); e != it->second.end()) it->second.erase(e);
      }
      break;
    case Update::kMaxIno:
      max_ino_ = std::max(max_ino_, u.ino);
      break;
  }
}

void Namespace::collect_orphans(Txn* txn) {
  std::vector<Ino> orphans;
  for (const auto& [ino, i] : inodes_) {
    if (i.nlink == 0 && ino != kRootIno && !open_refs_.contains(ino)) orphans.push_back(ino);
  }
  for (Ino ino : orphans) {
    const Inode& i = inodes_[ino];
    if (i.is_reg() && !i.inlined) purges_.push_back({ino, 0, i.size});
    inodes_.erase(ino);
    dirs_.erase(ino);
    txn->push_back(Update::rm_inode(ino));
  }
}

const Inode* Namespace::find(Ino ino) const {
  auto it = inodes_.find(ino);
  return it == inodes_.end() ? nullptr : &it->second;
}

Inode* Namespace::get(Ino ino) {
  auto it = inodes_.find(ino);
  return it == inodes_.end() ? nullptr : &it->second;
}

uint64_t Namespace::total_bytes() const {
  uint64_t total = 0;
  for (const auto& [ino, i] : inodes_) {
    if (i.is_reg()) total += i.size;
  }
  return total;
}

// ---- reads ----

int Namespace::lookup(Ino dir, std::string_view name, Inode* out) const {
  const Inode* d = find(dir);
  if (d == nullptr) return ENOENT;
  if (!d->is_dir()) return ENOTDIR;
  if (name.size() > kMaxNameLen) return ENAMETOOLONG;
  auto dit = dirs_.find(dir);
  if (dit == dirs_.end()) return ENOENT;
  auto e = dit->second.find(name);
  if (e == dit->second.end()) return ENOENT;
  const Inode* i = find(e->second.ino);
  if (i == nullptr) return ENOENT;
  *out = *i;
  return 0;
}

int Namespace::getattr(Ino ino, Inode* out) const {
  const Inode* i = find(ino);
  if (i == nullptr) return ENOENT;
  *out = *i;
  return 0;
}

int Namespace::readdir(Ino dir, std::string_view after, size_t max, std::vector<DirEntry>* out,
                       bool* more) const {
  const Inode* d = find(dir);
  if (d == nullptr) return ENOENT;
  if (!d->is_dir()) return ENOTDIR;
  *more = false;
  auto dit = dirs_.find(dir);
  if (dit == dirs_.end()) return 0;
  const auto& entries = dit->second;
  auto it = after.empty() ? entries.begin() : entries.upper_bound(after);
  for (; it != entries.end(); ++it) {
    if (out->size() >= max) {
      *more = true;
      break;
    }
    out->push_back(DirEntry{it->first, it->second.ino, it->second.type});
  }
  return 0;
}

int Namespace::getxattr(Ino ino, const std::string& name, std::string* value) const {
  const Inode* i = find(ino);
  if (i == nullptr) return ENOENT;
  auto it = i->xattrs.find(name);
  if (it == i->xattrs.end()) return ENODATA;
  *value = it->second;
  return 0;
}

int Namespace::listxattr(Ino ino, std::vector<std::string>* names) const {
  const Inode* i = find(ino);
  if (i == nullptr) return ENOENT;
  for (const auto& [k, v] : i->xattrs) names->push_back(k);
  return 0;
}

int Namespace::resolve(std::string_view path, Inode* out) const {
  Inode cur = *find(kRootIno);
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    Inode next;
    if (int e = lookup(cur.ino, part, &next)) return e;
    cur = next;
  }
  *out = cur;
  return 0;
}

// ---- helpers ----

void Namespace::put(Txn* txn, const Inode& i) { txn->push_back(Update::put_inode(i)); }

void Namespace::put_dentry(Txn* txn, Ino dir, std::string_view name, const Inode& target) {
  uint32_t type = target.mode & S_IFMT;
  dirs_[dir][std::string(name)] = Dentry{target.ino, type};
  txn->push_back(Update::put_dentry(dir, std::string(name), target.ino, type));
}

void Namespace::rm_dentry(Txn* txn, Ino dir, std::string_view name) {
  auto& entries = dirs_[dir];
  if (auto it = entries.find(name); it != entries.end()) entries.erase(it);
  txn->push_back(Update::rm_dentry(dir, std::string(name)));
}

Inode Namespace::new_inode(const Caller& c, const Inode& parent, uint32_t mode, Txn* txn) {
  Inode n;
  if (want_ino_ != 0 && !inodes_.contains(want_ino_)) {
    n.ino = want_ino_;
    max_ino_ = std::max(max_ino_, n.ino);
  } else {
    n.ino = ++max_ino_;
  }
  want_ino_ = 0;
  txn->push_back(Update::max_ino(max_ino_));
  n.mode = mode;
  n.uid = c.uid;
  n.gid = c.gid;
  // BSD group semantics on setgid directories, as ext4 and CephFS do.
  if (parent.mode & S_ISGID) {
    n.gid = parent.gid;
    if (S_ISDIR(mode)) n.mode |= S_ISGID;
  }
  n.nlink = S_ISDIR(mode) ? 2 : 1;
  n.atime_ns = n.mtime_ns = n.ctime_ns = c.now_ns;
  n.version = 1;
  if (S_ISDIR(mode)) n.parent = parent.ino;
  n.subvol = parent.subvol;
  n.inlined = S_ISREG(mode);
  return n;
}

int Namespace::check_name(std::string_view name) const {
  if (name.size() > kMaxNameLen) return ENAMETOOLONG;
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos)
    return EINVAL;
  return 0;
}

int Namespace::dir_for_change(Ino dir, Inode** out) {
  Inode* d = get(dir);
  if (d == nullptr) return ENOENT;
  if (!d->is_dir()) return ENOTDIR;
  if (d->nlink == 0) return ENOENT;  // removed while a client still had it
  *out = d;
  return 0;
}

int Namespace::charge(Txn* txn, Ino subvol, int64_t bytes, int64_t files, bool enforce) {
  if (subvol == 0) return 0;
  Inode* root = get(subvol);
  if (root == nullptr) return 0;
  if (enforce) {
    if (bytes > 0 && root->quota_bytes != 0 &&
        root->used_bytes + static_cast<uint64_t>(bytes) > root->quota_bytes)
      return EDQUOT;
    if (files > 0 && root->quota_files != 0 &&
        root->used_files + static_cast<uint64_t>(files) > root->quota_files)
      return EDQUOT;
  }
  auto adjust = [](uint64_t v, int64_t d) {
    return d < 0 && static_cast<uint64_t>(-d) > v ? 0 : v + d;
  };
  root->used_bytes = adjust(root->used_bytes, bytes);
  root->used_files = adjust(root->used_files, files);
  put(txn, *root);
  return 0;
}

void Namespace::touch_dir(const Caller& c, Inode* dir, Txn* txn) {
  dir->mtime_ns = dir->ctime_ns = c.now_ns;
  ++dir->version;
  put(txn, *dir);
}

void Namespace::drop_link(const Caller& c, Inode* i, Txn* txn) {
  if (i->is_dir()) {
    i->nlink = 0;
  } else if (i->nlink > 0) {
    --i->nlink;
  }
  i->ctime_ns = c.now_ns;
  ++i->version;
  if (i->nlink > 0) {
    put(txn, *i);
    return;
  }
  charge(txn, i->subvol, -static_cast<int64_t>(i->is_reg() ? i->size : 0), -1, false);
  if (auto it = open_refs_.find(i->ino); it != open_refs_.end() && it->second > 0) {
    put(txn, *i);  // kept as a stray until its last close
    return;
  }
  Ino ino = i->ino;
  if (i->is_reg() && !i->inlined && i->size > 0) purges_.push_back({ino, 0, i->size});
  inodes_.erase(ino);
  dirs_.erase(ino);
  txn->push_back(Update::rm_inode(ino));
}

bool Namespace::is_ancestor(Ino ancestor, Ino dir) const {
  for (int depth = 0; depth < 4096; ++depth) {
    if (dir == ancestor) return true;
    if (dir == kRootIno) return false;
    const Inode* d = find(dir);
    if (d == nullptr) return false;
    dir = d->parent;
  }
  return true;  // a cycle cannot exist; refuse rather than loop
}

// ---- mutations ----

int Namespace::mknod(const Caller& c, Ino parent, std::string_view name, uint32_t mode,
                     uint64_t rdev, Inode* out, Txn* txn) {
  Inode* dir = nullptr;
  if (int e = dir_for_change(parent, &dir)) return e;
  if (int e = check_name(name)) return e;
  if ((mode & S_IFMT) == 0) mode |= S_IFREG;
  if (!valid_node_type(mode & S_IFMT)) return EINVAL;
  if (dirs_[parent].contains(name)) return EEXIST;
  if (int e = charge(txn, dir->subvol, 0, 1, true)) return e;
  Inode n = new_inode(c, *dir, mode, txn);
  if (S_ISCHR(mode) || S_ISBLK(mode)) n.rdev = rdev;
  inodes_[n.ino] = n;
  if (n.is_dir()) {
    dirs_[n.ino];
    ++dir->nlink;
  }
  put(txn, n);
  put_dentry(txn, parent, name, n);
  touch_dir(c, dir, txn);
  *out = n;
  return 0;
}

int Namespace::symlink(const Caller& c, Ino parent, std::string_view name,
                       std::string_view target, Inode* out, Txn* txn) {
  Inode* dir = nullptr;
  if (int e = dir_for_change(parent, &dir)) return e;
  if (int e = check_name(name)) return e;
  if (target.empty()) return ENOENT;
  if (target.size() > kMaxSymlinkLen) return ENAMETOOLONG;
  if (dirs_[parent].contains(name)) return EEXIST;
  if (int e = charge(txn, dir->subvol, 0, 1, true)) return e;
  Inode n = new_inode(c, *dir, S_IFLNK | 0777, txn);
  n.symlink = std::string(target);
  n.size = target.size();
  inodes_[n.ino] = n;
  put(txn, n);
  put_dentry(txn, parent, name, n);
  touch_dir(c, dir, txn);
  *out = n;
  return 0;
}

int Namespace::link(const Caller& c, Ino ino, Ino parent, std::string_view name, Inode* out,
                    Txn* txn) {
  Inode* i = get(ino);
  if (i == nullptr) return ENOENT;
  if (i->is_dir()) return EPERM;
  Inode* dir = nullptr;
  if (int e = dir_for_change(parent, &dir)) return e;
  if (int e = check_name(name)) return e;
  if (i->nlink == 0) return ENOENT;
  if (i->subvol != dir->subvol) return EXDEV;
  if (dirs_[parent].contains(name)) return EEXIST;
  if (i->nlink >= 65000) return EMLINK;
  ++i->nlink;
  i->ctime_ns = c.now_ns;
  ++i->version;
  put(txn, *i);
  put_dentry(txn, parent, name, *i);
  touch_dir(c, dir, txn);
  *out = *i;
  return 0;
}

int Namespace::entry_for_removal(Ino parent, std::string_view name, Inode** dir, Inode** target) {
  if (int e = dir_for_change(parent, dir)) return e;
  if (name.size() > kMaxNameLen) return ENAMETOOLONG;
  auto& entries = dirs_[parent];
  auto it = entries.find(name);
  if (it == entries.end()) return ENOENT;
  *target = get(it->second.ino);
  return *target == nullptr ? ENOENT : 0;
}

int Namespace::unlink(const Caller& c, Ino parent, std::string_view name, Txn* txn) {
  Inode* dir = nullptr;
  Inode* i = nullptr;
  if (int e = entry_for_removal(parent, name, &dir, &i)) return e;
  if (i->is_dir()) return EISDIR;
  rm_dentry(txn, parent, name);
  touch_dir(c, dir, txn);
  drop_link(c, i, txn);
  return 0;
}

int Namespace::rmdir(const Caller& c, Ino parent, std::string_view name, Txn* txn) {
  Inode* dir = nullptr;
  Inode* i = nullptr;
  if (int e = entry_for_removal(parent, name, &dir, &i)) return e;
  if (!i->is_dir()) return ENOTDIR;
  if (i->subvol == i->ino) return EBUSY;  // subvolumes go through subvolume_remove
  if (!dirs_[i->ino].empty()) return ENOTEMPTY;
  rm_dentry(txn, parent, name);
  --dir->nlink;
  touch_dir(c, dir, txn);
  drop_link(c, i, txn);
  return 0;
}

int Namespace::rename(const Caller& c, Ino parent, std::string_view name, Ino newparent,
                      std::string_view newname, uint32_t flags, Txn* txn) {
  if ((flags & ~(kRenameNoReplace | kRenameExchange)) != 0) return EINVAL;
  if ((flags & kRenameNoReplace) && (flags & kRenameExchange)) return EINVAL;
  Inode* src_dir = nullptr;
  Inode* dst_dir = nullptr;
  if (int e = dir_for_change(parent, &src_dir)) return e;
  if (int e = dir_for_change(newparent, &dst_dir)) return e;
  if (name.size() > kMaxNameLen) return ENAMETOOLONG;
  if (int e = check_name(newname)) return e;
  auto& src_entries = dirs_[parent];
  auto sit = src_entries.find(name);
  if (sit == src_entries.end()) return ENOENT;
  Inode* src = get(sit->second.ino);
  if (src == nullptr) return ENOENT;
  auto& dst_entries = dirs_[newparent];
  auto dit = dst_entries.find(newname);
  Inode* dst = dit == dst_entries.end() ? nullptr : get(dit->second.ino);

  if (src->subvol != dst_dir->subvol) return EXDEV;
  if (src->subvol == src->ino) return EBUSY;  // a subvolume root stays where it is
  if (flags & kRenameExchange) {
    if (dst == nullptr) return ENOENT;
    if (dst->subvol != src_dir->subvol) return EXDEV;
  }
  if (dst != nullptr && (flags & kRenameNoReplace)) return EEXIST;
  // Moving a directory into itself or below itself would detach a cycle.
  if (src->is_dir() && parent != newparent && is_ancestor(src->ino, newparent)) return EINVAL;
  if ((flags & kRenameExchange) && dst->is_dir() && parent != newparent &&
      is_ancestor(dst->ino, parent))
    return EINVAL;
  if (dst == src) return 0;  // same inode (hard links or same name): POSIX no-op

  if (flags & kRenameExchange) {
    Inode s = *src;
    Inode d = *dst;
    put_dentry(txn, newparent, newname, s);
    put_dentry(txn, parent, name, d);
    if (s.is_dir() != d.is_dir() && parent != newparent) {
      if (s.is_dir()) {
        --src_dir->nlink;
        ++dst_dir->nlink;
      } else {
        ++src_dir->nlink;
        --dst_dir->nlink;
      }
    }
    src->ctime_ns = dst->ctime_ns = c.now_ns;
    ++src->version;
    ++dst->version;
    if (src->is_dir()) src->parent = newparent;
    if (dst->is_dir()) dst->parent = parent;
    put(txn, *src);
    put(txn, *dst);
    touch_dir(c, src_dir, txn);
    if (dst_dir != src_dir) touch_dir(c, dst_dir, txn);
    return 0;
  }

  if (dst != nullptr) {
    if (src->is_dir() && !dst->is_dir()) return ENOTDIR;
    if (!src->is_dir() && dst->is_dir()) return EISDIR;
    if (dst->is_dir() && !dirs_[dst->ino].empty()) return ENOTEMPTY;
    if (dst->subvol == dst->ino) return EBUSY;
  }
  Inode moved = *src;
  rm_dentry(txn, parent, name);
  if (dst != nullptr) {
    rm_dentry(txn, newparent, newname);
    if (dst->is_dir()) --dst_dir->nlink;
    drop_link(c, dst, txn);
  }
  put_dentry(txn, newparent, newname, moved);
  if (src->is_dir() && parent != newparent) {
    --src_dir->nlink;
    ++dst_dir->nlink;
    src->parent = newparent;
  }
  src->ctime_ns = c.now_ns;
  ++src->version;
  put(txn, *src);
  touch_dir(c, src_dir, txn);
  if (dst_dir != src_dir) touch_dir(c, dst_dir, txn);
  return 0;
}

int Namespace::setattr(const Caller& c, Ino ino, const SetAttr& a, Inode* out, Txn* txn) {
  Inode* i = get(ino);
  if (i == nullptr) return ENOENT;
  if (a.valid & SetAttr::kSize) {
    if (i->is_dir()) return EISDIR;
    if (!i->is_reg()) return EINVAL;
    if (i->inlined && a.size > kInlineMax) return kEInline;
    if (a.size > i->size) {
      if (int e = charge(txn, i->subvol, static_cast<int64_t>(a.size - i->size), 0, true))
        return e;
    } else if (a.size < i->size) {
      charge(txn, i->subvol, -static_cast<int64_t>(i->size - a.size), 0, false);
      if (!i->inlined) purges_.push_back({ino, a.size, i->size});
    }
    if (i->inlined) i->inline_data.resize(a.size, '\0');
    if (a.size != i->size) i->mtime_ns = c.now_ns;
    i->size = a.size;
  }
  if (a.valid & SetAttr::kMode) i->mode = (i->mode & S_IFMT) | (a.mode & 07777);
  if (a.valid & SetAttr::kUid) i->uid = a.uid;
  if (a.valid & SetAttr::kGid) i->gid = a.gid;
  if (a.valid & SetAttr::kAtimeNow) i->atime_ns = c.now_ns;
  else if (a.valid & SetAttr::kAtime) i->atime_ns = a.atime_ns;
  if (a.valid & SetAttr::kMtimeNow) i->mtime_ns = c.now_ns;
  else if (a.valid & SetAttr::kMtime) i->mtime_ns = a.mtime_ns;
  i->ctime_ns = c.now_ns;
  ++i->version;
  put(txn, *i);
  *out = *i;
  return 0;
}

int Namespace::extend(const Caller& c, Ino ino, uint64_t size, int64_t mtime_ns, Inode* out,
                      Txn* txn) {
  Inode* i = get(ino);
  if (i == nullptr) return ENOENT;
  if (!i->is_reg()) return EINVAL;
  if (i->inlined) return kEInline;  // its bytes must reach the objects first
  if (size > i->size) {
    if (int e = charge(txn, i->subvol, static_cast<int64_t>(size - i->size), 0, true)) return e;
    i->size = size;
  }
  i->mtime_ns = std::max(i->mtime_ns, mtime_ns);
  i->ctime_ns = c.now_ns;
  ++i->version;
  put(txn, *i);
  *out = *i;
  return 0;
}

int Namespace::reserve_append(const Caller& c, Ino ino, uint64_t len, uint64_t* offset,
                              Inode* out, Txn* txn) {
  Inode* i = get(ino);
  if (i == nullptr) return ENOENT;
  if (!i->is_reg()) return EINVAL;
  if (i->inlined) return kEInline;
  if (int e = charge(txn, i->subvol, static_cast<int64_t>(len), 0, true)) return e;
  *offset = i->size;
  i->size += len;
  i->mtime_ns = i->ctime_ns = c.now_ns;
  ++i->version;
  put(txn, *i);
  *out = *i;
  return 0;
}

int Namespace::write_inline(const Caller& c, Ino ino, uint64_t offset, std::string_view data,
                            int64_t mtime_ns, Inode* out, Txn* txn) {
  Inode* i = get(ino);
  if (i == nullptr) return ENOENT;
  if (!i->is_reg()) return EINVAL;
  if (!i->inlined || offset > kInlineMax || data.size() > kInlineMax - offset) return kEInline;
  uint64_t end = offset + data.size();
  if (end > i->size) {
    if (int e = charge(txn, i->subvol, static_cast<int64_t>(end - i->size), 0, true)) return e;
    i->size = end;
    i->inline_data.resize(end, '\0');
  }
  i->inline_data.replace(offset, data.size(), data);
  i->mtime_ns = std::max(i->mtime_ns, mtime_ns);
  i->ctime_ns = c.now_ns;
  ++i->version;
  put(txn, *i);
  *out = *i;
  return 0;
}

int Namespace::uninline(const Caller& c, Ino ino, uint64_t version, Inode* out, Txn* txn) {
  Inode* i = get(ino);
  if (i == nullptr) return ENOENT;
  if (!i->is_reg()) return EINVAL;
  if (i->inlined) {
    if (i->version != version) return EAGAIN;
    i->inlined = false;
    i->inline_data.clear();
    i->ctime_ns = c.now_ns;
    ++i->version;
    put(txn, *i);
  }
  *out = *i;
  return 0;
}

int Namespace::setxattr(const Caller& c, Ino ino, const std::string& name, std::string value,
                        uint32_t flags, Txn* txn) {
  Inode* i = get(ino);
  if (i == nullptr) return ENOENT;
  if (name.empty() || name.size() > kMaxNameLen) return ERANGE;
  if (value.size() > kMaxXattrValue) return E2BIG;
  // POSIX ACLs and security labels are not kept: say so instead of ignoring.
  if (name.starts_with("system.") || name.starts_with("security.")) return EOPNOTSUPP;
  bool exists = i->xattrs.contains(name);
  if ((flags & kXattrCreate) && exists) return EEXIST;
  if ((flags & kXattrReplace) && !exists) return ENODATA;
  i->xattrs[name] = std::move(value);
  i->ctime_ns = c.now_ns;
  ++i->version;
  put(txn, *i);
  return 0;
}

int Namespace::removexattr(const Caller& c, Ino ino, const std::string& name, Txn* txn) {
  Inode* i = get(ino);
  if (i == nullptr) return ENOENT;
  if (i->xattrs.erase(name) == 0) return ENODATA;
  i->ctime_ns = c.now_ns;
  ++i->version;
  put(txn, *i);
  return 0;
}

// ---- subvolumes ----

int Namespace::subvolume_create(const Caller& c, std::string_view name, uint64_t quota_bytes,
                                uint64_t quota_files, Inode* out, Txn* txn) {
  if (int e = check_name(name)) return e;
  Inode volumes;
  int e = lookup(kRootIno, kVolumesDir, &volumes);
  if (e == ENOENT) e = mknod(c, kRootIno, kVolumesDir, S_IFDIR | 0755, 0, &volumes, txn);
  if (e != 0) return e;
  Inode sub;
  // Pods of any uid write into a volume; the CSI layer narrows it if asked.
  if (int e2 = mknod(c, volumes.ino, name, S_IFDIR | 0777, 0, &sub, txn)) return e2;
  Inode* s = get(sub.ino);
  s->subvol = s->ino;
  s->quota_bytes = quota_bytes;
  s->quota_files = quota_files;
  put(txn, *s);
  *out = *s;
  return 0;
}

int Namespace::subvolume_resize(const Caller& c, std::string_view name, uint64_t quota_bytes,
                                uint64_t quota_files, Inode* out, Txn* txn) {
  Inode volumes, sub;
  if (int e = lookup(kRootIno, kVolumesDir, &volumes)) return e;
  if (int e = lookup(volumes.ino, name, &sub)) return e;
  if (sub.subvol != sub.ino) return ENOENT;
  Inode* s = get(sub.ino);
  s->quota_bytes = quota_bytes;
  s->quota_files = quota_files;
  s->ctime_ns = c.now_ns;
  ++s->version;
  put(txn, *s);
  *out = *s;
  return 0;
}

void Namespace::remove_tree(const Caller& c, Ino dir, Txn* txn) {
  std::vector<std::pair<std::string, Ino>> children;
  for (const auto& [n, d] : dirs_[dir]) children.emplace_back(n, d.ino);
  Inode* self = get(dir);
  for (const auto& [n, child] : children) {
    Inode* i = get(child);
    rm_dentry(txn, dir, n);
    if (i == nullptr) continue;
    if (i->is_dir()) {
      remove_tree(c, child, txn);
      --self->nlink;
    }
    drop_link(c, i, txn);
  }
}

int Namespace::subvolume_remove(const Caller& c, std::string_view name, Txn* txn) {
  Inode volumes, sub;
  if (int e = lookup(kRootIno, kVolumesDir, &volumes)) return e;
  if (int e = lookup(volumes.ino, name, &sub)) return e;
  if (sub.subvol != sub.ino) return ENOENT;
  remove_tree(c, sub.ino, txn);
  Inode* vol_dir = get(volumes.ino);
  Inode* s = get(sub.ino);
  rm_dentry(txn, volumes.ino, name);
  --vol_dir->nlink;
  touch_dir(c, vol_dir, txn);
  drop_link(c, s, txn);
  return 0;
}

int Namespace::subvolume_list(std::vector<Inode>* out) const {
  Inode volumes;
  if (lookup(kRootIno, kVolumesDir, &volumes) != 0) return 0;
  for (const auto& [n, d] : dirs_.at(volumes.ino)) {
    const Inode* i = find(d.ino);
    if (i != nullptr && i->subvol == i->ino) out->push_back(*i);
  }
  return 0;
}

// ---- open files ----

void Namespace::open_ref(Ino ino) { ++open_refs_[ino]; }

void Namespace::close_ref(Ino ino, Txn* txn) {
  auto it = open_refs_.find(ino);
  if (it == open_refs_.end()) return;
  if (--it->second > 0) return;
  open_refs_.erase(it);
  Inode* i = get(ino);
  if (i == nullptr || i->nlink > 0) return;
  if (i->is_reg() && !i->inlined && i->size > 0) purges_.push_back({ino, 0, i->size});
  inodes_.erase(ino);
  dirs_.erase(ino);
  txn->push_back(Update::rm_inode(ino));
}

std::vector<Purge> Namespace::take_purges() { return std::exchange(purges_, {}); }

}  // namespace cairn::fs
