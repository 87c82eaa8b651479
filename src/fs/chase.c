/* chase.c — root-confined path lookup: openat2 fast path and an O_NOFOLLOW component walk. */
#include "chase.h"

#include "util/buf.h"
#include "util/macro.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHASE_MAX_SYMLINKS 40
#define CHASE_MAX_DEPTH    2048

/* 0 unknown, 1 works, -1 missing (ENOSYS, or EPERM from a seccomp filter) */
static int openat2_state;

bool chase_uses_openat2(void)
{
	const char *e = getenv("KILN_NO_OPENAT2");
	if (e && streq(e, "1"))
		return false;
	return __atomic_load_n(&openat2_state, __ATOMIC_RELAXED) >= 0;
}

static int chase_openat2(int rootfd, const char *rel, int oflags, unsigned flags)
{
	struct open_how how = {
	    .flags =
	        (unsigned)(oflags | O_CLOEXEC | ((flags & CHASE_NOFOLLOW_LAST) ? O_NOFOLLOW : 0)),
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS |
	               ((flags & CHASE_NO_SYMLINKS) ? RESOLVE_NO_SYMLINKS : 0),
	};
	const char *p = *rel ? rel : ".";
	for (int attempt = 0;; attempt++) {
		long fd = syscall(SYS_openat2, rootfd, p, &how, sizeof(how));
		if (fd >= 0) {
			__atomic_store_n(&openat2_state, 1, __ATOMIC_RELAXED);
			return (int)fd;
		}
		/* EAGAIN: a concurrent rename somewhere in the filesystem; the kernel asks to retry */
		if (errno == EAGAIN && attempt < 16)
			continue;
		if ((errno == ENOSYS || errno == EPERM) &&
		    __atomic_load_n(&openat2_state, __ATOMIC_RELAXED) == 0) {
			__atomic_store_n(&openat2_state, -1, __ATOMIC_RELAXED);
			return -ENOSYS;
		}
		return -errno;
	}
}

struct walk {
	int *fds; /* fds[0] is the root (not owned) */
	size_t n, cap;
};

static void walk_pop(struct walk *w)
{
	if (w->n > 1)
		close(w->fds[--w->n]);
}

static void walk_reset(struct walk *w)
{
	while (w->n > 1)
		walk_pop(w);
}

static int chase_walk(int rootfd, const char *rel, int oflags, unsigned flags)
{
	struct walk w = {0};
	XGROW(w.fds, 1, w.cap);
	w.fds[w.n++] = rootfd;
	/* todo holds the components still to resolve; a symlink's target is spliced in front */
	cleanup_buf struct kiln_buf todo = KILN_BUF_INIT;
	kiln_buf_adds(&todo, rel);
	size_t pos = 0;
	int links = 0;
	int r;

	for (;;) {
		while (todo.ptr[pos] == '/')
			pos++;
		if (!todo.ptr[pos]) {
			/* the walk ended on a directory already open (root, or after '.'/'..') */
			r = openat(w.fds[w.n - 1], ".", oflags | O_CLOEXEC);
			r = r < 0 ? -errno : r;
			break;
		}
		const char *c = todo.ptr + pos;
		size_t len = strcspn(c, "/");
		cleanup_free char *comp = xstrndup(c, len);
		pos += len;
		size_t rest = pos;
		while (todo.ptr[rest] == '/')
			rest++;
		bool last = !todo.ptr[rest];

		if (streq(comp, ".")) {
			continue;
		}
		if (streq(comp, "..")) {
			walk_pop(&w);
			continue;
		}
		int cur = w.fds[w.n - 1];
		int fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			break;
		}
		struct stat st;
		if (fstat(fd, &st) < 0) {
			r = -errno;
			close(fd);
			break;
		}
		if (S_ISLNK(st.st_mode) && (flags & CHASE_NO_SYMLINKS)) {
			close(fd);
			r = -ELOOP;
			break;
		}
		if (S_ISLNK(st.st_mode) && !(last && (flags & CHASE_NOFOLLOW_LAST))) {
			char target[4096];
			ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
			close(fd);
			if (n < 0) {
				r = -errno;
				break;
			}
			if (++links > CHASE_MAX_SYMLINKS) {
				r = -ELOOP;
				break;
			}
			target[n] = '\0';
			if (target[0] == '/')
				walk_reset(&w);
			struct kiln_buf next = KILN_BUF_INIT;
			kiln_buf_adds(&next, target);
			kiln_buf_addch(&next, '/');
			kiln_buf_adds(&next, todo.ptr + pos);
			kiln_buf_release(&todo);
			todo = next;
			pos = 0;
			continue;
		}
		if (last) {
			if ((oflags & O_PATH) || S_ISLNK(st.st_mode)) {
				if ((oflags & O_DIRECTORY) && !S_ISDIR(st.st_mode)) {
					close(fd);
					r = S_ISLNK(st.st_mode) ? -ELOOP : -ENOTDIR;
					break;
				}
				r = fd;
				break;
			}
			close(fd);
			r = openat(cur, comp, oflags | O_NOFOLLOW | O_CLOEXEC);
			r = r < 0 ? -errno : r;
			break;
		}
		if (!S_ISDIR(st.st_mode)) {
			close(fd);
			r = -ENOTDIR;
			break;
		}
		if (w.n >= CHASE_MAX_DEPTH) {
			close(fd);
			r = -ENAMETOOLONG;
			break;
		}
		XGROW(w.fds, w.n + 1, w.cap);
		w.fds[w.n++] = fd;
	}
	walk_reset(&w);
	free(w.fds);
	return r;
}

int chase_open(int rootfd, const char *rel, int oflags, unsigned flags)
{
	if (chase_uses_openat2()) {
		int r = chase_openat2(rootfd, rel, oflags, flags);
		if (r != -ENOSYS)
			return r;
	}
	return chase_walk(rootfd, rel, oflags, flags);
}
