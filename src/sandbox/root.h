/* root.h — opening a path inside a root directory without ever leaving it. */
#pragma once

/* openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) on rel (relative to rootfd), or, where the
 * kernel lacks openat2, a component walk that refuses symlinks and "..". Allocation-free and
 * async-signal-safe: used between fork and exec. Returns an fd or -1 with errno set. */
int root_open(int rootfd, const char *rel, int flags);
