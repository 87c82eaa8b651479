/* xattr.h — reading extended attributes at their real size (a value may be up to 64 KiB, a
 * name list as long): no fixed buffer that silently drops what does not fit. */
#pragma once

#include <sys/types.h>

/* the NUL-separated names of the xattrs of fd, or of path (not followed) when fd < 0, in a
 * heap buffer (*ret, NUL-terminated; NULL when there are none). Returns the list's length,
 * 0 when there are none, -errno on failure */
ssize_t xattr_list(int fd, const char *path, char **ret);
/* the value of one xattr, likewise (*ret NUL-terminated after the value's length; returns
 * its length, -errno on failure, -ENODATA when it is gone) */
ssize_t xattr_get(int fd, const char *path, const char *key, char **ret);

/* the same for the entry name in the directory dfd, not followed: listxattrat/getxattrat
 * (Linux 6.13) when the kernel has them, else through "/proc/self/fd/<dfd>/<name>" (a path
 * walk through /proc per call, several times the cost) */
ssize_t xattr_list_at(int dfd, const char *name, char **ret);
ssize_t xattr_get_at(int dfd, const char *name, const char *key, char **ret);
