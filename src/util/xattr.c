/* xattr.c — extended attributes read at their real size. */
#include "xattr.h"
#include "xalloc.h"

#include "limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Linux 6.13; one number on every architecture but alpha (as every syscall since 424) */
#if !defined(__NR_getxattrat) && !defined(__alpha__)
#define __NR_getxattrat 464
#endif
#if !defined(__NR_listxattrat) && !defined(__alpha__)
#define __NR_listxattrat 465
#endif

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

#if defined(__NR_getxattrat) && defined(__NR_listxattrat)
/* 1 until a call says the kernel (or a seccomp filter: EPERM) does not have them */
static atomic_int have_at = 1;

struct xattr_args_k { /* the kernel's struct xattr_args */
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

static ssize_t list_at(int dfd, const char *name, char *buf, size_t size)
{
	return syscall(__NR_listxattrat, dfd, name, AT_SYMLINK_NOFOLLOW, buf, size);
}

static ssize_t get_at(int dfd, const char *name, const char *key, char *buf, size_t size)
{
	struct xattr_args_k a = {.value = (uint64_t)(uintptr_t)buf, .size = (uint32_t)size};
	return syscall(__NR_getxattrat, dfd, name, AT_SYMLINK_NOFOLLOW, key, &a, sizeof(a));
}

/* the syscall is there: an answer other than ENOSYS/EPERM from its size query */
static bool at_works(ssize_t r)
{
	if (r >= 0 || (errno != ENOSYS && errno != EPERM))
		return true;
	atomic_store(&have_at, 0);
	return false;
}
#endif

static int proc_path(char *out, size_t cap, int dfd, const char *name)
{
	int n = snprintf(out, cap, "/proc/self/fd/%d/%s", dfd, name);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

ssize_t xattr_list_at(int dfd, const char *name, char **ret)
{
#ifdef __NR_listxattrat
	if (atomic_load(&have_at)) {
		ssize_t probe = list_at(dfd, name, NULL, 0);
		if (at_works(probe)) {
			if (probe <= 0) { /* an error, or none: the common answer, one call */
				*ret = NULL;
				return probe < 0 ? -errno : 0;
			}
			XATTR_READ(list_at(dfd, name, NULL, 0),
			           list_at(dfd, name, buf, (size_t)size));
		}
	}
#endif
	char proc[64 + LIMIT_PATH];
	int r = proc_path(proc, sizeof(proc), dfd, name);
	if (r < 0) {
		*ret = NULL;
		return r;
	}
	return xattr_list(-1, proc, ret);
}

ssize_t xattr_get_at(int dfd, const char *name, const char *key, char **ret)
{
#ifdef __NR_getxattrat
	if (atomic_load(&have_at)) {
		ssize_t probe = get_at(dfd, name, key, NULL, 0);
		if (at_works(probe)) {
			if (probe <= 0) { /* an error, or none: the common answer, one call */
				*ret = NULL;
				return probe < 0 ? -errno : 0;
			}
			XATTR_READ(get_at(dfd, name, key, NULL, 0),
			           get_at(dfd, name, key, buf, (size_t)size));
		}
	}
#endif
	char proc[64 + LIMIT_PATH];
	int r = proc_path(proc, sizeof(proc), dfd, name);
	if (r < 0) {
		*ret = NULL;
		return r;
	}
	return xattr_get(-1, proc, key, ret);
}
