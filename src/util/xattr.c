/* xattr.c — extended attributes read at their real size. */
#include "xattr.h"
#include "xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/xattr.h>

/* asks for the size, then reads; a size that grew in between (ERANGE) asks again */
#define XATTR_READ(call_size, call_read)                       \
	do {                                                   \
		*ret = NULL;                                   \
		for (;;) {                                     \
			ssize_t size = (call_size);            \
			if (size < 0)                          \
				return -errno;                 \
			if (size == 0)                         \
				return 0;                      \
			char *buf = xmalloc((size_t)size + 1); \
			ssize_t n = (call_read);               \
			if (n >= 0) {                          \
				buf[n] = '\0';                 \
				*ret = buf;                    \
				return n;                      \
			}                                      \
			int e = errno;                         \
			free(buf);                             \
			if (e != ERANGE)                       \
				return -e;                     \
		}                                              \
	} while (0)

ssize_t xattr_list(int fd, const char *path, char **ret)
{
	if (fd >= 0)
		XATTR_READ(flistxattr(fd, NULL, 0), flistxattr(fd, buf, (size_t)size));
	XATTR_READ(llistxattr(path, NULL, 0), llistxattr(path, buf, (size_t)size));
}

ssize_t xattr_get(int fd, const char *path, const char *key, char **ret)
{
	if (fd >= 0)
		XATTR_READ(fgetxattr(fd, key, NULL, 0), fgetxattr(fd, key, buf, (size_t)size));
	XATTR_READ(lgetxattr(path, key, NULL, 0), lgetxattr(path, key, buf, (size_t)size));
}
