// Taking over a live FUSE connection from a dead or upgraded cairn-fuse.
#pragma once

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

namespace cairn::fs {

// The kernel negotiated FUSE_INIT with the previous daemon and will not send
// it again; libfuse refuses every request before INIT. Feeding the session a
// synthetic INIT puts it in the negotiated state (its reply goes to the
// kernel under an unknown id, which the kernel drops and libfuse ignores).
void inject_init(fuse_session* se);

// Asks the kernel (6.9+: FUSE_NOTIFY_RESEND) to send again the requests the
// previous daemon read but never answered, so callers blocked in them
// resume. Older kernels refuse it; those requests then wait until
// interrupted. Returns whether the kernel accepted.
bool request_resend(int fuse_fd);

}  // namespace cairn::fs
