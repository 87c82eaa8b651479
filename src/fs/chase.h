/* chase.h — symlink-safe lookup of paths inside a root directory, shared by the fs module:
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), or a component walk that resolves every
 * symlink as if the root were '/' (forced with KILN_NO_OPENAT2=1, used when openat2 is missing). */
#pragma once

#include <stdbool.h>

enum {
	CHASE_NOFOLLOW_LAST =
	    1 << 0,                 /* the last component is not followed (O_PATH gets the link) */
	CHASE_NO_SYMLINKS = 1 << 1, /* any symlink on the way is an error (-ELOOP) */
};

/* opens rel (relative to rootfd, no leading '/'; "" is the root itself) with oflags (O_PATH,
 * O_DIRECTORY, O_RDONLY...; O_CLOEXEC is added). Symlinks met on the way, and '..', never
 * leave the root. flags: CHASE_*. Returns an fd, or -errno. */
int chase_open(int rootfd, const char *rel, int oflags, unsigned flags);

/* true when openat2 is in use (not forced off and not missing) */
bool chase_uses_openat2(void);
