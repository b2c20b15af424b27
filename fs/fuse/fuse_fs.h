// cairn-fuse's filesystem: the libfuse3 low-level operations. Metadata goes
// to the MDS; file data is read and written straight to the OSDs, striped
// over kObjectSize objects of the data pool.
#pragma once

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "client/client.h"
#include "fs/client/mds_client.h"
#include "fs/fuse/passthrough.h"
#include "fs/fuse/read_cache.h"
#include "fs/fuse/write_back.h"

namespace cairn::fs {

// How far the kernel reads ahead of a sequential reader: one 1 MiB read in
// flight while the reader consumes the last. (One reader: +30 % over the
// kernel's 128 KiB; 8 MiB gained no more and cost four readers 14 %.)
inline constexpr uint32_t kReadaheadBytes = 1 << 20;

// The kernel caps a FUSE mount's readahead at its 128 KiB default whatever
// the daemon asks for at INIT: raise it in sysfs (the mount's bdi is named
// after its device, found in /proc/self/mountinfo: never stat our own mount).
void set_readahead(const std::string& mountpoint, uint32_t bytes);

struct FuseOptions {
  std::string fs_name = "cairnfs";
  std::string subvolume;  // mount /volumes/NAME as the root
  std::string client_name;
  double attr_timeout = 1.0;   // seconds the kernel may trust attributes
  double entry_timeout = 1.0;  // ... and names; the MDS invalidates sooner
  bool writeback = true;       // acknowledge writes once buffered (WriteBack)
  WriteBackOptions writeback_opts;
  std::string read_cache_dir;  // local copies read through passthrough (ReadCache)
  uint64_t read_cache_bytes = 8ull << 30;
};

class FuseFs {
 public:
  FuseFs(client::Client& cluster, std::string key, FuseOptions opts);
  ~FuseFs();
  // Opens the MDS session and finds the root (the subvolume's, if asked).
  Status connect();
  const fuse_lowlevel_ops& ops() const;
  // Called once the session exists: invalidations need it.
  void attach(fuse_session* se);
  void shutdown();
  // Stops without ending the MDS session (a successor takes it over).
  void detach();
  // Starts the write-back buffer; its table of unstored files lives at
  // `table_path`. A predecessor's leftovers there are files whose last
  // writes were lost: their handles report EIO once (lost_writes()).
  void start_writeback(const std::string& table_path, bool taking_over);
  // Opens the I/O mode table (always: a predecessor may have left
  // passthrough opens) and, if configured, the read cache.
  void start_read_cache(const std::string& modes_path, bool taking_over, int fuse_fd);
  uint64_t mdsc_resume = 0;  // MDS session to resume, set before connect()

  // ---- operations (public for the C callbacks) ----
  struct OpenFile {
    Ino ino = 0;
    bool append = false;
    bool dirty = false;  // written since the last flush: publish mtime
    bool locked = false;  // POSIX locks were taken through it: drop at close
    bool through = false;  // O_SYNC / O_DSYNC / O_DIRECT: stored before the reply
    bool lost = false;     // inherited; the killed predecessor lost writes to it
    bool passthrough = false;  // the kernel reads a local copy; no reads come here
    bool fill_cache = false;   // read-only: its reads fill the read cache
  };
  struct DirHandle {
    std::vector<DirEntry> entries;  // fetched so far, in order
    std::vector<Inode> inodes;      // their attributes (readdirplus), same order
    bool complete = false;
  };

  // File and directory handles live in tables keyed by fi->fh (never raw
  // pointers): a cairn-fuse that takes over a live mount gets requests with
  // its predecessor's handles and rebuilds what it needs from them.
  OpenFile* new_file(Ino ino, bool append, fuse_file_info* fi, bool passthrough = false);
  OpenFile* file(fuse_ino_t ino, fuse_file_info* fi);
  void drop_file(fuse_file_info* fi);
  DirHandle* new_dir(fuse_file_info* fi);
  DirHandle* dir(fuse_file_info* fi);
  void drop_dir(fuse_file_info* fi);

  Ino to_ino(fuse_ino_t fino) const { return fino == FUSE_ROOT_ID ? root_ : fino; }
  fuse_ino_t to_fuse(Ino ino) const { return ino == root_ ? FUSE_ROOT_ID : ino; }
  void fill_stat(const Inode& i, struct stat* st) const;
  void remember(const Inode& i);  // newest known size, version (and inline bytes)
  bool known_version(Ino ino, uint64_t* version, uint64_t* size);
  bool unchanged(const Inode& i);  // same version as last remembered
  uint64_t known_size(Ino ino);
  Result<MdsReply> mds(MdsRequest req, fuse_req_t r);
  // A directory's attributes from the reply to this node's own change in
  // it, good for one getattr (the kernel asks right after each change)
  // unless the MDS invalidated the directory meanwhile.
  bool fresh_dir_attrs(Ino dir, Inode* out);
  // True if `name` is known not to exist in dir: the directory was made by
  // this node and every change in it since was its own (the MDS invalidates
  // it on any other). Saves the lookup before each create.
  bool known_absent(Ino dir, const std::string& name);
  void reply_entry(fuse_req_t r, const Inode& i);
  int read_data(Ino ino, uint64_t off, size_t len, std::string* out);
  // Buffered in the write-back buffer unless `through`.
  int write_data(Ino ino, uint64_t off, const char* buf, size_t len, bool through);
  int store_data(Ino ino, uint64_t objno, uint64_t in_obj, std::string data);
  // Stores what the write-back buffer holds for ino; 0 or the first error.
  int flush_data(Ino ino);

  // ---- inline files (data kept in the inode, up to kInlineMax) ----
  // A write into an inline file, sent to the MDS (answered early, like any
  // metadata change). kEInline if the file is not inline (any more).
  int write_inline(fuse_req_t r, Ino ino, uint64_t off, const char* buf, size_t len);
  // Moves an inline file's bytes to the data objects, before writes that
  // go there (past kInlineMax, O_APPEND).
  int uninline(fuse_req_t r, Ino ino);
  // False only if the file is known not to be inline.
  bool maybe_inline(Ino ino);

  client::Client& cluster;
  FuseOptions opts;
  std::unique_ptr<MdsClient> mdsc;
  PoolId data_pool = 0;
  Ino root_ = kRootIno;

 private:
  void notify_loop();
  std::string key_;
  fuse_session* se_ = nullptr;
  // The content of an inline file as this node knows it, if it is inline.
  bool inline_content(Ino ino, std::string* out);
  struct Known {
    uint64_t size = 0;
    uint64_t version = 0;
    bool inlined = false;
    bool has_data = false;  // `data` is the inline content
    std::string data;
  };
  mutable std::mutex mu_;
  std::map<Ino, Known> known_;
  uint64_t known_inline_bytes_ = 0;  // bounded: the cache drops contents past 64 MiB
  struct FreshDir {
    Inode attrs;
    std::chrono::steady_clock::time_point at;
  };
  std::map<Ino, FreshDir> fresh_dirs_;
  struct CompleteDir {
    uint64_t connection = 0;  // MdsClient::connections() when it was complete
    std::set<std::string> names;
  };
  std::map<Ino, CompleteDir> complete_dirs_;
  void track_names(const MdsRequest& req, const Result<MdsReply>& rep, bool clean);
  uint64_t invalidations_ = 0;  // MDS invalidations seen (under mu_)
  std::mutex handles_mu_;
  uint64_t next_handle_ = 1;
  std::unordered_map<uint64_t, OpenFile> files_;
  std::unordered_map<uint64_t, DirHandle> dirs_;
  std::mutex notify_mu_;
  std::condition_variable notify_cv_;
  std::deque<MdsNotify> notify_q_;
  bool stop_ = false;
  std::thread notify_thread_;
  UnstoredTable unstored_;
  std::set<Ino> lost_;  // from the predecessor's table (under handles_mu_)
  std::unique_ptr<WriteBack> wb_;

 public:
  // ---- I/O modes and the read cache ----
  // Picks the mode of an open (waiting up to 1 s for closes that free a
  // busy inode) and counts it; returns 0, or the errno to answer.
  // *backing_id > 0: answer with passthrough to it.
  int choose_open_mode(const Inode& i, int flags, int* backing_id);
  void count_create(Ino ino);
  void count_release(Ino ino, bool passthrough);
  void fill_cache(Ino ino, uint64_t off, const std::string& data);

 private:
  std::mutex modes_mu_;
  IoModes modes_;
  bool modes_ok_ = false;
  bool untracked_opens_ = false;  // the table was full once: no new passthrough
  bool passthrough_ok_ = true;    // cleared when the kernel refuses a backing file
  int fuse_fd_ = -1;
  std::unique_ptr<ReadCache> rcache_;
};

}  // namespace cairn::fs
