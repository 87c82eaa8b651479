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

/* the directories the walk went through, root first. Only the last CHASE_OPEN_LEVELS hold a
 * descriptor: the others are closed, remembered by name and identity, and reopened (and
 * checked) when '..' climbs back to them, so a path thousands of levels deep costs memory, not
 * descriptors. */
#define CHASE_OPEN_LEVELS 16

struct level {
	int fd;     /* -1 while closed; levels[0].fd is the root (not owned) */
	char *name; /* its name in the level above (NULL for the root) */
	dev_t dev;
	ino_t ino;
};

struct walk {
	struct level *l;
	size_t n, cap;
};

static void walk_pop(struct walk *w)
{
	if (w->n <= 1)
		return;
	struct level *t = &w->l[--w->n];
	if (t->fd >= 0)
		close(t->fd);
	free(t->name);
}

static void walk_reset(struct walk *w)
{
	while (w->n > 1)
		walk_pop(w);
}

static void walk_push(struct walk *w, int fd, const char *name, const struct stat *st)
{
	XGROW(w->l, w->n + 1, w->cap);
	w->l[w->n++] =
	    (struct level){.fd = fd, .name = xstrdup(name), .dev = st->st_dev, .ino = st->st_ino};
	if (w->n > CHASE_OPEN_LEVELS + 1) {
		struct level *old = &w->l[w->n - 1 - CHASE_OPEN_LEVELS];
		if (old->fd >= 0) {
			close(old->fd);
			old->fd = -1;
		}
	}
}

/* the descriptor of the current (last) level: when '..' made it one of the closed ones, the
 * levels from the nearest open one are reopened by name, without following links, each checked
 * to be the directory walked through; the last CHASE_OPEN_LEVELS of them stay open */
static int walk_top(struct walk *w)
{
	size_t k = w->n - 1;
	if (w->l[k].fd >= 0)
		return w->l[k].fd;
	size_t a = k;
	while (w->l[a].fd < 0)
		a--; /* the root is never closed */
	int cur = w->l[a].fd;
	for (size_t j = a + 1; j <= k; j++) {
		int fd = openat(cur, w->l[j].name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		struct stat st;
		if (fstat(fd, &st) < 0 || st.st_dev != w->l[j].dev || st.st_ino != w->l[j].ino) {
			close(fd);
			return -ESTALE; /* renamed or replaced since the walk went through it */
		}
		if (cur != w->l[a].fd && j - 1 + CHASE_OPEN_LEVELS <= k) {
			close(cur);
			w->l[j - 1].fd = -1;
		}
		w->l[j].fd = fd;
		cur = fd;
	}
	return cur;
}

static int chase_walk(int rootfd, const char *rel, int oflags, unsigned flags)
{
	struct walk w = {0};
	XGROW(w.l, 1, w.cap);
	w.l[w.n++] = (struct level){.fd = rootfd};
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
			/* the walk ended on a directory already walked (root, or after '.'/'..') */
			r = walk_top(&w);
			if (r >= 0) {
				r = openat(r, ".", oflags | O_CLOEXEC);
				r = r < 0 ? -errno : r;
			}
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
		int cur = walk_top(&w);
		if (cur < 0) {
			r = cur;
			break;
		}
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
		walk_push(&w, fd, comp, &st);
	}
	walk_reset(&w);
	free(w.l);
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
