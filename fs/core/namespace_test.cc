#include "fs/core/namespace.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "fs/core/journal.h"
#include "fs/core/locks.h"
#include "fs/core/proto.h"

namespace cairn::fs {
namespace {

class NamespaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const Update& u : Namespace::format(root_)) {
      ns_.apply(u);
      log_.push_back(u);
    }
  }
  // Runs a mutation and keeps its journal so tests can replay it.
  template <typename F>
  int run(F f) {
    Txn txn;
    int e = f(&txn);
    log_.insert(log_.end(), txn.begin(), txn.end());
    return e;
  }
  Ino mk(Ino parent, const std::string& name, uint32_t mode = S_IFREG | 0644) {
    Inode out;
    EXPECT_EQ(0, run([&](Txn* t) { return ns_.mknod(root_, parent, name, mode, 0, &out, t); }));
    return out.ino;
  }
  // The file's (empty) inline data moves to the objects.
  void uninline(Ino ino) {
    Inode out;
    uint64_t version = ns_.find(ino)->version;
    ASSERT_EQ(0, run([&](Txn* t) { return ns_.uninline(root_, ino, version, &out, t); }));
    ASSERT_FALSE(out.inlined);
  }
  // A second namespace built only from the journal must equal the first.
  void expect_replay_equal() {
    Namespace replayed;
    for (const Update& u : log_) replayed.apply(u);
    ASSERT_EQ(replayed.inode_count(), ns_.inode_count());
    for (Ino ino = 1; ino < 1000; ++ino) {
      const Inode* a = ns_.find(ino);
      const Inode* b = replayed.find(ino);
      ASSERT_EQ(a == nullptr, b == nullptr) << ino;
      if (a != nullptr) {
        EXPECT_EQ(*a, *b) << ino;
        if (a->is_dir()) {
          std::vector<DirEntry> ea, eb;
          bool more;
          ns_.readdir(ino, "", 100000, &ea, &more);
          replayed.readdir(ino, "", 100000, &eb, &more);
          ASSERT_EQ(ea.size(), eb.size());
          for (size_t k = 0; k < ea.size(); ++k) EXPECT_EQ(ea[k].name, eb[k].name);
        }
      }
    }
  }

  Caller root_{0, 0, 1000};
  Namespace ns_;
  Txn log_;
};

TEST_F(NamespaceTest, CreateLookupAndErrnos) {
  Ino d = mk(kRootIno, "dir", S_IFDIR | 0755);
  Ino f = mk(d, "file");
  Inode out;
  EXPECT_EQ(0, ns_.lookup(d, "file", &out));
  EXPECT_EQ(f, out.ino);
  EXPECT_EQ(ENOENT, ns_.lookup(d, "nope", &out));
  EXPECT_EQ(ENOTDIR, ns_.lookup(f, "x", &out));
  EXPECT_EQ(ENAMETOOLONG, ns_.lookup(d, std::string(256, 'a'), &out));
  EXPECT_EQ(EEXIST, run([&](Txn* t) { return ns_.mknod(root_, d, "file", S_IFREG, 0, &out, t); }));
  EXPECT_EQ(ENAMETOOLONG, run([&](Txn* t) {
              return ns_.mknod(root_, d, std::string(256, 'x'), S_IFREG, 0, &out, t);
            }));
  EXPECT_EQ(ENOTDIR, run([&](Txn* t) { return ns_.mknod(root_, f, "x", S_IFREG, 0, &out, t); }));
  EXPECT_EQ(3u, ns_.find(kRootIno)->nlink);  // ".", "..", dir's ".."
  EXPECT_EQ(EISDIR, run([&](Txn* t) { return ns_.unlink(root_, kRootIno, "dir", t); }));
  EXPECT_EQ(ENOTEMPTY, run([&](Txn* t) { return ns_.rmdir(root_, kRootIno, "dir", t); }));
  EXPECT_EQ(ENOTDIR, run([&](Txn* t) { return ns_.rmdir(root_, d, "file", t); }));
  EXPECT_EQ(0, run([&](Txn* t) { return ns_.unlink(root_, d, "file", t); }));
  EXPECT_EQ(0, run([&](Txn* t) { return ns_.rmdir(root_, kRootIno, "dir", t); }));
  EXPECT_EQ(2u, ns_.find(kRootIno)->nlink);
  EXPECT_EQ(nullptr, ns_.find(f));
  expect_replay_equal();
}

TEST_F(NamespaceTest, HardLinksAndUnlinkWhileOpen) {
  Ino f = mk(kRootIno, "a");
  Inode out;
  uninline(f);
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.link(root_, f, kRootIno, "b", &out, t); }));
  EXPECT_EQ(2u, out.nlink);
  Ino d = mk(kRootIno, "d", S_IFDIR | 0755);
  EXPECT_EQ(EPERM, run([&](Txn* t) { return ns_.link(root_, d, kRootIno, "d2", &out, t); }));
  SetAttr grow;
  grow.valid = SetAttr::kSize;
  grow.size = 100;
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.setattr(root_, f, grow, &out, t); }));
  ns_.open_ref(f);
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.unlink(root_, kRootIno, "a", t); }));
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.unlink(root_, kRootIno, "b", t); }));
  ASSERT_NE(nullptr, ns_.find(f));  // open: kept as a stray
  EXPECT_EQ(0u, ns_.find(f)->nlink);
  EXPECT_TRUE(ns_.take_purges().empty());
  run([&](Txn* t) {
    ns_.close_ref(f, t);
    return 0;
  });
  EXPECT_EQ(nullptr, ns_.find(f));
  auto purges = ns_.take_purges();
  ASSERT_EQ(1u, purges.size());
  EXPECT_EQ(f, purges[0].ino);
  EXPECT_EQ(100u, purges[0].to);
  expect_replay_equal();
}

TEST_F(NamespaceTest, RenameRules) {
  Ino a = mk(kRootIno, "a", S_IFDIR | 0755);
  Ino b = mk(a, "b", S_IFDIR | 0755);
  Ino f = mk(kRootIno, "f");
  Ino g = mk(kRootIno, "g");
  auto rn = [&](Ino p, const char* n, Ino np, const char* nn, uint32_t flags = 0) {
    return run([&](Txn* t) { return ns_.rename(root_, p, n, np, nn, flags, t); });
  };
  EXPECT_EQ(EINVAL, rn(kRootIno, "a", b, "x"));  // into its own subtree
  EXPECT_EQ(EINVAL, rn(kRootIno, "a", a, "x"));
  EXPECT_EQ(ENOENT, rn(kRootIno, "zz", kRootIno, "x"));
  EXPECT_EQ(EISDIR, rn(kRootIno, "f", a, "b"));
  EXPECT_EQ(ENOTDIR, rn(a, "b", kRootIno, "f"));
  EXPECT_EQ(EEXIST, rn(kRootIno, "f", kRootIno, "g", kRenameNoReplace));
  mk(b, "inside");
  Ino e = mk(kRootIno, "e", S_IFDIR | 0755);
  EXPECT_EQ(ENOTEMPTY, rn(kRootIno, "e", a, "b"));
  // Over an existing file: the target is replaced and freed.
  ASSERT_EQ(0, rn(kRootIno, "f", kRootIno, "g"));
  Inode out;
  ASSERT_EQ(0, ns_.lookup(kRootIno, "g", &out));
  EXPECT_EQ(f, out.ino);
  EXPECT_EQ(nullptr, ns_.find(g));
  // A directory moves between parents: link counts and parent follow.
  uint32_t root_links = ns_.find(kRootIno)->nlink;
  ASSERT_EQ(0, rn(a, "b", kRootIno, "b2"));
  EXPECT_EQ(root_links + 1, ns_.find(kRootIno)->nlink);
  EXPECT_EQ(2u, ns_.find(a)->nlink);
  EXPECT_EQ(kRootIno, ns_.find(b)->parent);
  // Over an empty directory.
  ASSERT_EQ(0, rn(kRootIno, "b2", kRootIno, "e"));
  EXPECT_EQ(nullptr, ns_.find(e));
  EXPECT_EQ(root_links, ns_.find(kRootIno)->nlink);
  // Exchange.
  Ino h = mk(a, "h");
  ASSERT_EQ(0, rn(kRootIno, "g", a, "h", kRenameExchange));
  ASSERT_EQ(0, ns_.lookup(a, "h", &out));
  EXPECT_EQ(f, out.ino);
  ASSERT_EQ(0, ns_.lookup(kRootIno, "g", &out));
  EXPECT_EQ(h, out.ino);
  expect_replay_equal();
}

TEST_F(NamespaceTest, XattrsSymlinksAndSetattr) {
  Ino f = mk(kRootIno, "f");
  auto sx = [&](const char* n, const char* v, uint32_t flags) {
    return run([&](Txn* t) { return ns_.setxattr(root_, f, n, v, flags, t); });
  };
  EXPECT_EQ(0, sx("user.a", "1", 0));
  EXPECT_EQ(EEXIST, sx("user.a", "2", 1));
  EXPECT_EQ(ENODATA, sx("user.b", "2", 2));
  EXPECT_EQ(EOPNOTSUPP, sx("system.posix_acl_access", "x", 0));
  std::string v;
  EXPECT_EQ(0, ns_.getxattr(f, "user.a", &v));
  EXPECT_EQ("1", v);
  EXPECT_EQ(ENODATA, ns_.getxattr(f, "user.zz", &v));
  EXPECT_EQ(ENODATA, run([&](Txn* t) { return ns_.removexattr(root_, f, "user.zz", t); }));
  Inode out;
  EXPECT_EQ(0, run([&](Txn* t) { return ns_.symlink(root_, kRootIno, "l", "f", &out, t); }));
  EXPECT_EQ("f", out.symlink);
  EXPECT_TRUE(out.is_symlink());
  SetAttr a;
  a.valid = SetAttr::kMode | SetAttr::kUid | SetAttr::kMtime;
  a.mode = 0600;
  a.uid = 42;
  a.mtime_ns = 7;
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.setattr(root_, f, a, &out, t); }));
  EXPECT_EQ(S_IFREG | 0600u, out.mode);
  EXPECT_EQ(42u, out.uid);
  EXPECT_EQ(7, out.mtime_ns);
  SetAttr trunc;
  trunc.valid = SetAttr::kSize;
  trunc.size = 10;
  Ino d = mk(kRootIno, "d", S_IFDIR | 0755);
  EXPECT_EQ(EISDIR, run([&](Txn* t) { return ns_.setattr(root_, d, trunc, &out, t); }));
  expect_replay_equal();
}

TEST_F(NamespaceTest, SubvolumeQuotasAndExdev) {
  Inode sub;
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.subvolume_create(root_, "vol1", 1000, 2, &sub, t); }));
  EXPECT_EQ(sub.ino, sub.subvol);
  Ino f = mk(sub.ino, "f");
  Inode out;
  uninline(f);
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.extend(root_, f, 900, 5, &out, t); }));
  EXPECT_EQ(EDQUOT, run([&](Txn* t) { return ns_.extend(root_, f, 1001, 5, &out, t); }));
  uint64_t off = 0;
  EXPECT_EQ(EDQUOT, run([&](Txn* t) { return ns_.reserve_append(root_, f, 101, &off, &out, t); }));
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.reserve_append(root_, f, 100, &off, &out, t); }));
  EXPECT_EQ(900u, off);
  EXPECT_EQ(1000u, out.size);
  mk(sub.ino, "g");
  EXPECT_EQ(EDQUOT, run([&](Txn* t) { return ns_.mknod(root_, sub.ino, "h", S_IFREG, 0, &out, t); }));
  EXPECT_EQ(EXDEV, run([&](Txn* t) { return ns_.rename(root_, sub.ino, "g", kRootIno, "g", 0, t); }));
  EXPECT_EQ(EXDEV, run([&](Txn* t) { return ns_.link(root_, f, kRootIno, "f2", &out, t); }));
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.unlink(root_, sub.ino, "f", t); }));
  EXPECT_EQ(0u, ns_.find(sub.ino)->used_bytes);
  EXPECT_EQ(1u, ns_.find(sub.ino)->used_files);  // g
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.subvolume_resize(root_, "vol1", 0, 0, &out, t); }));
  std::vector<Inode> subs;
  ns_.subvolume_list(&subs);
  ASSERT_EQ(1u, subs.size());
  EXPECT_EQ(EBUSY, run([&](Txn* t) { return ns_.rmdir(root_, ns_.find(sub.ino)->parent, "vol1", t); }));
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.subvolume_remove(root_, "vol1", t); }));
  subs.clear();
  ns_.subvolume_list(&subs);
  EXPECT_TRUE(subs.empty());
  EXPECT_EQ(ENOENT, ns_.resolve("volumes/vol1", &out));
  expect_replay_equal();
}

TEST_F(NamespaceTest, InodeNumbersAreNeverReused) {
  Ino a = mk(kRootIno, "a");
  run([&](Txn* t) { return ns_.unlink(root_, kRootIno, "a", t); });
  Namespace replayed;
  for (const Update& u : log_) replayed.apply(u);
  Inode out;
  Txn txn;
  ASSERT_EQ(0, replayed.mknod(root_, kRootIno, "b", S_IFREG, 0, &out, &txn));
  EXPECT_GT(out.ino, a);
}

TEST_F(NamespaceTest, SmallFilesKeepTheirDataInline) {
  Inode sub;
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.subvolume_create(root_, "v", 3000, 0, &sub, t); }));
  Ino f = mk(sub.ino, "f");
  EXPECT_TRUE(ns_.find(f)->inlined);
  EXPECT_FALSE(ns_.find(mk(kRootIno, "d", S_IFDIR | 0755))->inlined);
  Inode out;
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.write_inline(root_, f, 0, "hexlo", 7, &out, t); }));
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.write_inline(root_, f, 2, "l", 7, &out, t); }));
  EXPECT_EQ(5u, out.size);
  EXPECT_EQ("hello", ns_.find(f)->inline_data);
  EXPECT_EQ(5u, ns_.find(sub.ino)->used_bytes);
  EXPECT_EQ(EDQUOT, run([&](Txn* t) { return ns_.write_inline(root_, f, 0, std::string(3001, 'x'), 7, &out, t); }));
  EXPECT_EQ(kEInline, run([&](Txn* t) { return ns_.write_inline(root_, f, 1, std::string(kInlineMax, 'x'), 7, &out, t); }));
  // Truncates within the limit stay inline; growing past it, extending or
  // appending needs the bytes in the objects first.
  SetAttr a;
  a.valid = SetAttr::kSize;
  a.size = 8;
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.setattr(root_, f, a, &out, t); }));
  EXPECT_EQ(std::string("hello\0\0\0", 8), ns_.find(f)->inline_data);
  a.size = kInlineMax + 1;
  EXPECT_EQ(kEInline, run([&](Txn* t) { return ns_.setattr(root_, f, a, &out, t); }));
  EXPECT_EQ(kEInline, run([&](Txn* t) { return ns_.extend(root_, f, 100, 7, &out, t); }));
  uint64_t off = 0;
  EXPECT_EQ(kEInline, run([&](Txn* t) { return ns_.reserve_append(root_, f, 1, &off, &out, t); }));
  // Uninline only from the version whose bytes the client copied.
  uint64_t v = ns_.find(f)->version;
  EXPECT_EQ(EAGAIN, run([&](Txn* t) { return ns_.uninline(root_, f, v - 1, &out, t); }));
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.uninline(root_, f, v, &out, t); }));
  EXPECT_FALSE(out.inlined);
  EXPECT_EQ(8u, out.size);
  EXPECT_EQ(kEInline, run([&](Txn* t) { return ns_.write_inline(root_, f, 0, "x", 7, &out, t); }));
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.extend(root_, f, 100, 7, &out, t); }));
  // Deleting an inline file has no objects to purge; an uninlined one has.
  Ino g = mk(kRootIno, "g");
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.write_inline(root_, g, 0, "data", 7, &out, t); }));
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.unlink(root_, kRootIno, "g", t); }));
  EXPECT_TRUE(ns_.take_purges().empty());
  ASSERT_EQ(0, run([&](Txn* t) { return ns_.unlink(root_, sub.ino, "f", t); }));
  EXPECT_EQ(1u, ns_.take_purges().size());
  // Inodes written before inline data existed (format 1) still decode.
  std::string old = Inode{}.encode();
  old[0] = 1;
  old.resize(old.size() - 5);  // no inlined flag, no inline bytes
  EXPECT_TRUE(Inode::decode(old).ok());
  expect_replay_equal();
}

TEST_F(NamespaceTest, ReplayedCreateKeepsItsInodeNumberIfFree) {
  Ino a = mk(kRootIno, "a");
  // A create an old MDS answered with 50 but never journaled, resent to a new one.
  ns_.prefer_ino(50);
  Ino b = mk(kRootIno, "b");
  EXPECT_EQ(50u, b);
  EXPECT_GT(mk(kRootIno, "c"), 50u);  // later numbers stay above it
  ns_.prefer_ino(a);                  // taken meanwhile: a fresh number instead
  Ino d = mk(kRootIno, "d");
  EXPECT_NE(a, d);
  EXPECT_GT(d, 50u);
  expect_replay_equal();
}

TEST(JournalTest, RecordsRoundTripAndStopAtATornTail) {
  std::string seg;
  JournalEntry e1{1, {Update::put_dentry(1, "x", 5, S_IFREG), Update::max_ino(5)}};
  Inode i;
  i.ino = 5;
  i.mode = S_IFREG | 0644;
  i.xattrs["user.k"] = std::string("v\0w", 3);
  JournalEntry e2{2, {Update::put_inode(i), Update::rm_dentry(1, "y"), Update::rm_inode(9)}};
  append_record(e1, &seg);
  append_record(e2, &seg);
  bool clean = false;
  auto entries = decode_records(seg, &clean);
  EXPECT_TRUE(clean);
  ASSERT_EQ(2u, entries.size());
  EXPECT_EQ(2u, entries[1].seq);
  EXPECT_EQ(i, entries[1].updates[0].inode);
  EXPECT_EQ("y", entries[1].updates[1].name);
  entries = decode_records(std::string_view(seg).substr(0, seg.size() - 3), &clean);
  EXPECT_FALSE(clean);
  EXPECT_EQ(1u, entries.size());
  std::string bad = seg;
  bad[bad.size() - 1] ^= 1;
  entries = decode_records(bad, &clean);
  EXPECT_FALSE(clean);
  EXPECT_EQ(1u, entries.size());
}

TEST(LockTableTest, PosixRangesAndFlock) {
  LockTable t;
  LockRange a{{1, 10}, LockType::kWrite, 0, 99};
  LockRange b{{2, 20}, LockType::kWrite, 50, 149};
  EXPECT_EQ(0, t.set(7, a));
  EXPECT_EQ(EAGAIN, t.set(7, b));
  LockRange conflict;
  EXPECT_TRUE(t.test(7, b, &conflict));
  EXPECT_EQ(0u, conflict.start);
  // Readers share; a flock never conflicts with a POSIX lock.
  LockRange fl{{2, 20}, LockType::kWrite, 0, UINT64_MAX, 0, true};
  EXPECT_EQ(0, t.set(7, fl));
  LockRange fl2{{3, 30}, LockType::kRead, 0, UINT64_MAX, 0, true};
  EXPECT_EQ(EAGAIN, t.set(7, fl2));
  // Unlocking the middle splits the owner's lock.
  LockRange un{{1, 10}, LockType::kUnlock, 40, 59};
  EXPECT_EQ(0, t.set(7, un));
  LockRange mid{{2, 20}, LockType::kWrite, 45, 55};
  EXPECT_EQ(0, t.set(7, mid));
  t.release_session(1);
  EXPECT_EQ(0, t.set(7, b));
  t.release_owner(7, {2, 20}, true);
  EXPECT_EQ(0, t.set(7, fl2));
}

TEST(ProtoTest, RequestAndReplyRoundTrip) {
  MdsRequest r;
  r.op = MdsOp::kRename;
  r.ino = 3;
  r.name = "a";
  r.name2 = "b";
  r.attr.valid = SetAttr::kSize;
  r.attr.size = 77;
  r.lock_type = LockType::kWrite;
  r.replay = true;
  auto d = MdsRequest::decode(r.encode());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(MdsOp::kRename, d->op);
  EXPECT_EQ("b", d->name2);
  EXPECT_EQ(77u, d->attr.size);
  EXPECT_TRUE(d->replay);
  MdsReply rep;
  rep.unsafe = true;
  rep.err = ENOENT;
  rep.inode.ino = 9;
  rep.entries.push_back({"x", 4, S_IFDIR});
  rep.inodes.push_back(rep.inode);
  auto dr = MdsReply::decode(rep.encode());
  ASSERT_TRUE(dr.ok());
  EXPECT_EQ(ENOENT, dr->err);
  EXPECT_EQ(9u, dr->inodes[0].ino);
  EXPECT_TRUE(dr->unsafe);
  MdsNotify inval;
  inval.kind = MdsNotify::kInvalEntry;
  inval.ino = 4;
  inval.name = "x";
  inval.seq = 77;
  auto dn = MdsNotify::decode(inval.encode());
  ASSERT_TRUE(dn.ok());
  EXPECT_EQ(77u, dn->seq);
  EXPECT_EQ("x", dn->name);
  MdsSafe safe;
  safe.tids = {7, 9};
  auto ds = MdsSafe::decode(safe.encode());
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(safe.tids, ds->tids);
  EXPECT_FALSE(MdsReply::decode("garbage").ok());
  EXPECT_FALSE(MdsRequest::decode("").ok());
}

}  // namespace
}  // namespace cairn::fs
