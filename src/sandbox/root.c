/* root.c — symlink-safe open inside a root, usable in a forked child. */
#include "root.h"
#include "util/macro.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int walk_open(int rootfd, const char *rel, int flags)
{
	char buf[PATH_MAX];
	size_t n = strlen(rel);
	if (n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, rel, n + 1);
	int cur = -1;
	char *p = buf;
	for (;;) {
		while (*p == '/')
			p++;
		char *slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		bool last = !slash || !slash[1];
		int dir = cur >= 0 ? cur : rootfd;
		if (!*p) { /* "" or "/" means the root itself */
			int fd = openat(dir, ".", flags | O_CLOEXEC);
			if (cur >= 0)
				close(cur);
			return fd;
		}
		if (streq(p, "..")) {
			if (cur >= 0)
				close(cur);
			errno = EXDEV;
			return -1;
		}
		int fd =
		    openat(dir, p, (last ? flags : O_PATH | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC);
		int saved = errno;
		if (cur >= 0)
			close(cur);
		if (fd < 0) {
			errno = saved;
			return -1;
		}
		if (last)
			return fd;
		cur = fd;
		p = slash + 1;
	}
}

int root_open(int rootfd, const char *rel, int flags)
{
	static int have_openat2 = -1;
	if (have_openat2 != 0) {
		struct open_how how = {
		    .flags = (unsigned long long)(flags | O_CLOEXEC),
		    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
		};
		long fd = syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how, sizeof(how));
		if (fd >= 0 || errno != ENOSYS) {
			have_openat2 = 1;
			return (int)fd;
		}
		have_openat2 = 0;
	}
	return walk_open(rootfd, rel, flags);
}
