/* walk.c — the iterative tree walk: an explicit stack of directories, each holding its sorted
 * names, and a window of open descriptors over the last levels. */
#include "walk.h"

#include "buf.h"
#include "macro.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct frame {
	int fd, sfd;     /* -1 while closed (above the window) or, for sfd, without a shadow */
	char *name;      /* the directory's name in its parent (NULL for the top) */
	struct stat st;  /* its lstat, for its post visit and to check a reopening */
	struct stat sst; /* the shadow directory's, for the same check */
	char *names;     /* its entries, NUL-separated */
	char **v;        /* sorted pointers into names */
	size_t n, i;     /* entries, and the next one to visit */
	size_t path_len; /* the path buffer's length for this directory */
	int tag;
};

struct walker {
	struct frame *f;
	size_t n, cap;
	struct kiln_buf path;
	bool shadow;
	const struct walk_opts *o;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void frame_close(struct frame *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->sfd >= 0)
		close(f->sfd);
	f->fd = f->sfd = -1;
}

static void frame_release(struct frame *f)
{
	frame_close(f);
	free(f->name);
	free(f->names);
	free(f->v);
}

static const char *shown(const struct walker *w)
{
	return w->path.len ? w->path.ptr : (w->o->what ? w->o->what : ".");
}

/* reads and sorts the names of the directory open at f->fd */
static int frame_read(struct walker *w, struct frame *f, struct kiln_err **err)
{
	int rd = dup(f->fd);
	if (rd < 0)
		return kiln_err_errno(err, "dup");
	DIR *d = fdopendir(rd);
	if (!d) {
		close(rd);
		return kiln_err_errno(err, "open directory '%s'", shown(w));
	}
	/* one buffer for the names, then the pointers: one allocation per directory */
	cleanup_buf struct kiln_buf names = KILN_BUF_INIT;
	size_t count = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		kiln_buf_add(&names, de->d_name, strlen(de->d_name) + 1);
		count++;
	}
	int e = errno;
	closedir(d);
	if (e)
		return kiln_err_errnum(err, e, "read directory '%s'", shown(w));
	f->n = count;
	f->v = xreallocarray(NULL, count ? count : 1, sizeof(char *));
	f->names = kiln_buf_detach(&names, NULL);
	char *p = f->names;
	for (size_t i = 0; i < count; i++) {
		f->v[i] = p;
		p += strlen(p) + 1;
	}
	qsort(f->v, count, sizeof(char *), w->o->cmp ? w->o->cmp : cmp_name);
	return 0;
}

static int open_dir_at(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static bool same_dir(int fd, const struct stat *want)
{
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_dev == want->st_dev && st.st_ino == want->st_ino;
}

/* opens, below the directory open at fd, the directories named by frames from..to (the
 * names of frame from, from+1, ... to), without following any link: with openat2, several
 * components per call (paths of up to about 4 KiB), else one openat per component */
static int open_chain(struct walker *w, int fd, size_t from, size_t to)
{
	int cur = -1; /* owned once a first component is open */
	size_t j = from;
	while (j <= to) {
		int base = cur >= 0 ? cur : fd;
		cleanup_buf struct kiln_buf p = KILN_BUF_INIT;
		size_t k = j;
		while (k <= to && (k == j || p.len + 1 + strlen(w->f[k].name) < 4000)) {
			if (p.len)
				kiln_buf_addch(&p, '/');
			kiln_buf_adds(&p, w->f[k].name);
			k++;
		}
		struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		                       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		                                  RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
		int nfd = (int)syscall(SYS_openat2, base, p.ptr, &how, sizeof(how));
		if (nfd < 0 && (errno == ENOSYS || errno == EPERM || errno == EXDEV)) {
			k = j + 1; /* one component at a time */
			nfd = open_dir_at(base, w->f[j].name);
		}
		if (cur >= 0)
			close(cur);
		if (nfd < 0)
			return -1;
		cur = nfd;
		j = k;
	}
	return cur;
}

/* makes the descriptors of frame k open again: from the nearest open level, the levels down
 * to the window in as few calls as it takes, then the last WALK_OPEN_LEVELS one by one, each
 * checked to be the directory that was walked */
static int frame_reopen(struct walker *w, size_t k, struct kiln_err **err)
{
	if (w->f[k].fd >= 0)
		return 0;
	size_t a = k;
	while (w->f[a].fd < 0)
		a--; /* the top is never closed */
	size_t t = k + 1 > a + WALK_OPEN_LEVELS ? k + 1 - WALK_OPEN_LEVELS : a + 1;
	int fd = -1, sfd = -1;
	if (t > a + 1) {
		/* levels a+1 .. t-1 are passed through: only the last one is kept, as the start */
		fd = open_chain(w, w->f[a].fd, a + 1, t - 1);
		if (fd < 0 || !same_dir(fd, &w->f[t - 1].st))
			goto changed;
		if (w->shadow) {
			sfd = open_chain(w, w->f[a].sfd, a + 1, t - 1);
			if (sfd < 0 || !same_dir(sfd, &w->f[t - 1].sst))
				goto changed;
		}
		w->f[t - 1].fd = fd;
		w->f[t - 1].sfd = sfd;
		fd = sfd = -1;
	}
	for (size_t j = t; j <= k; j++) {
		struct frame *f = &w->f[j], *p = &w->f[j - 1];
		f->fd = open_dir_at(p->fd, f->name);
		if (f->fd < 0 || !same_dir(f->fd, &f->st))
			goto changed;
		if (w->shadow) {
			f->sfd = open_dir_at(p->sfd, f->name);
			if (f->sfd < 0 || !same_dir(f->sfd, &f->sst))
				goto changed;
		}
	}
	if (t > a + 1)
		frame_close(&w->f[t - 1]);
	return 0;
changed:
	if (fd >= 0)
		close(fd);
	if (sfd >= 0)
		close(sfd);
	return kiln_err_set(err, "directory '%s' changed during the walk", shown(w));
}

/* enters the directory e names (visited, and asked to be walked) */
static int frame_push(struct walker *w, const struct walk_entry *e, struct kiln_err **err)
{
	struct frame *p = &w->f[w->n - 1];
	int fd = open_dir_at(p->fd, e->name);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0; /* gone since it was visited */
		return kiln_err_errno(err, "open directory '%s'", e->path);
	}
	struct frame nf = {.fd = fd, .sfd = -1, .st = e->st, .tag = e->tag};
	if (w->shadow) {
		nf.sfd = open_dir_at(p->sfd, e->name);
		if (nf.sfd < 0 || fstat(nf.sfd, &nf.sst) < 0) {
			int en = errno;
			frame_close(&nf);
			return kiln_err_errnum(err, en, "open directory '%s' in the destination",
			                       e->path);
		}
	}
	nf.name = xstrdup(e->name);
	nf.path_len = w->path.len;
	XGROW(w->f, w->n + 1, w->cap);
	w->f[w->n++] = nf;
	if (w->n - 1 > WALK_OPEN_LEVELS)
		frame_close(&w->f[w->n - 1 - WALK_OPEN_LEVELS]);
	return frame_read(w, &w->f[w->n - 1], err);
}

int walk_tree(int topfd, const struct walk_opts *o, walk_fn fn, void *ud, struct kiln_err **err)
{
	struct walker w = {.path = KILN_BUF_INIT, .shadow = o->shadow_fd >= 0, .o = o};
	XGROW(w.f, 1, w.cap);
	w.f[0] =
	    (struct frame){.fd = openat(topfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), .sfd = -1};
	w.n = 1;
	int r = 0;
	if (w.f[0].fd < 0)
		r = kiln_err_errno(err, "open directory '%s'", shown(&w));
	if (r >= 0 && w.shadow &&
	    (w.f[0].sfd = openat(o->shadow_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = kiln_err_errno(err, "open the destination of '%s'", shown(&w));
	if (r >= 0)
		r = frame_read(&w, &w.f[0], err);

	while (r >= 0 && w.n > 0) {
		size_t k = w.n - 1;
		struct frame *f = &w.f[k];
		if (f->i == f->n) {
			/* done with this directory: close it, then its post visit from its parent */
			struct frame done = *f;
			w.n--;
			frame_close(&done);
			if (k == 0) {
				frame_release(&done);
				break;
			}
			r = frame_reopen(&w, k - 1, err);
			if (r >= 0) {
				struct walk_entry e = {.dirfd = w.f[k - 1].fd,
				                       .shadow_dirfd = w.f[k - 1].sfd,
				                       .name = done.name,
				                       .path = w.path.ptr,
				                       .depth = k,
				                       .st = done.st,
				                       .post = true,
				                       .tag = done.tag};
				r = fn(&e, ud, err);
			}
			kiln_buf_truncate(&w.path, done.path_len);
			frame_release(&done);
			continue;
		}
		r = frame_reopen(&w, k, err);
		if (r < 0)
			break;
		f = &w.f[k];
		const char *name = f->v[f->i++];
		size_t mark = w.path.len;
		if (mark)
			kiln_buf_addch(&w.path, '/');
		kiln_buf_adds(&w.path, name);
		struct walk_entry e = {.dirfd = f->fd,
		                       .shadow_dirfd = f->sfd,
		                       .name = name,
		                       .path = w.path.ptr,
		                       .depth = k + 1};
		if (fstatat(f->fd, name, &e.st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				r = kiln_err_errno(err, "stat '%s'", w.path.ptr);
			kiln_buf_truncate(&w.path, mark);
			continue;
		}
		r = fn(&e, ud, err);
		if (r == WALK_DESCEND && S_ISDIR(e.st.st_mode)) {
			/* the path stays extended while the directory is walked */
			size_t before = w.n;
			r = frame_push(&w, &e, err);
			if (r >= 0 && w.n > before) {
				w.f[w.n - 1].path_len = mark;
				continue;
			}
		}
		kiln_buf_truncate(&w.path, mark);
	}
	for (size_t i = 0; i < w.n; i++)
		frame_release(&w.f[i]);
	free(w.f);
	kiln_buf_release(&w.path);
	return r < 0 ? r : 0;
}
