/* fsops.h — creating directories inside a stage root without leaving it. */
#pragma once

#include "util/err.h"

#include <sys/types.h>

/* mkdir -p of path (absolute in the root) inside rootfd; symlinks on the way are resolved
 * inside the root. Directories it creates get mode and uid/gid (-1 keeps root:root) and are
 * appended to *created (absolute paths, outermost first). Returns an O_DIRECTORY fd. */
int root_mkdir_p(int rootfd, const char *path, mode_t mode, uid_t uid, gid_t gid, char ***created,
                 int *ret_fd, struct kiln_err **err);
