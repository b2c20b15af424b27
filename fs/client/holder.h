// Restart-safe mounts. A small holder process, started with the mount,
// keeps a duplicate of the /dev/fuse descriptor. If cairn-fuse dies or is
// upgraded, the kernel connection stays up (applications stall, they do not
// get ENOTCONN), and a new cairn-fuse fetches the descriptor from the holder
// over a unix socket (SCM_RIGHTS) and resumes serving the same mount.
//
// Protocol on the socket: one line "GET" -> state line + the fd; "ATTACH"
// keeps the connection open while a cairn-fuse serves (the holder reports
// "orphaned" once it closes); "STATUS" -> "attached" or "orphaned".
// The holder exits once the mount is gone (unmounted).
#pragma once

#include <string>

#include "common/status.h"

namespace cairn::fs {

// What a resuming cairn-fuse needs besides the descriptor.
struct HeldMount {
  int fuse_fd = -1;
  uint64_t session = 0;  // the MDS session to resume (keeps opens and locks)
  std::string fs_name;   // what the mount serves: a successor must serve the same
  std::string subvolume;
  std::string options;  // cairn-fuse's own -o options (read cache, write-back), comma-separated
};

// The absolute path of a mount point, resolved without touching the mount
// point itself: a stat there would wait on the very daemon that asks (or on
// one that died).
std::string mount_path(const std::string& mountpoint);
std::string holder_socket(const std::string& mountpoint);
// The state line the holder keeps ("<session> <fs> <subvolume or -> <options or ->").
std::string encode_state(const HeldMount& h);
HeldMount decode_state(const std::string& line);
bool is_mounted(const std::string& mountpoint);

// Runs the holder (as `cairn-fuse --hold`): serves sock until mountpoint is
// unmounted. fuse_fd is the held descriptor.
int run_holder(const std::string& sock, const std::string& mountpoint, int fuse_fd,
               const HeldMount& state);
// Starts a holder process for this mount (fork + exec of this binary).
Status spawn_holder(const std::string& self_exe, const std::string& mountpoint, int fuse_fd,
                    const HeldMount& state);
// From a running holder: the descriptor and state. NotFound if none.
Result<HeldMount> fetch_held(const std::string& mountpoint);
// "attached", "orphaned", or NotFound when no holder runs for it.
Result<std::string> holder_status(const std::string& mountpoint);
// Keeps a connection to the holder open while this process serves the
// mount; returns the socket (closed by process exit).
int attach_to_holder(const std::string& mountpoint);

}  // namespace cairn::fs
