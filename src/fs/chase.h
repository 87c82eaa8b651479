/* chase.h — symlink-safe lookup of paths inside a root directory, shared by the fs module:
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), or a component walk that resolves every
 * symlink as if the root were '/' (forced with KILN_NO_OPENAT2=1, used when openat2 is missing). */
#pragma once

#include <stdbool.h>

/* opens rel (relative to rootfd, no leading '/'; "" is the root itself) with oflags (O_PATH,
 * O_DIRECTORY, O_RDONLY...; O_CLOEXEC is added). Symlinks met on the way, including '..', never
 * leave the root. With nofollow_last the last component is not followed (use O_PATH to get the
 * link itself). Returns an fd, or -errno. */
int chase_open(int rootfd, const char *rel, int oflags, bool nofollow_last);

/* true when openat2 is in use (not forced off and not missing) */
bool chase_uses_openat2(void);
