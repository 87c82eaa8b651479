/* extract.c — layer extraction: libarchive reads the tar (gzip/zstd/plain), every write goes
 * through a parent directory fd resolved inside the root by chase_open(). */
#include "extract.h"
#include "chase.h"

#include "util/buf.h"
#include "util/forkguard.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/walk.h"
#include "util/xalloc.h"
#include "util/xattr.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* A set of relative paths: what this layer wrote, and every ancestor of it. Whiteouts and
 * opaque markers must leave these alone (they only hide lower layers). */
struct pathset {
	char **slots;
	size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static bool pathset_has(const struct pathset *ps, const char *p)
{
	if (!ps->cap)
		return false;
	for (size_t i = hash_str(p) & (ps->cap - 1);; i = (i + 1) & (ps->cap - 1)) {
		if (!ps->slots[i])
			return false;
		if (streq(ps->slots[i], p))
			return true;
	}
}

static void pathset_insert_owned(struct pathset *ps, char *p)
{
	for (size_t i = hash_str(p) & (ps->cap - 1);; i = (i + 1) & (ps->cap - 1)) {
		if (!ps->slots[i]) {
			ps->slots[i] = p;
			ps->n++;
			return;
		}
	}
}

/* returns false when p was already there */
static bool pathset_add(struct pathset *ps, const char *p, size_t len)
{
	cleanup_free char *k = xstrndup(p, len);
	if (pathset_has(ps, k))
		return false;
	if ((ps->n + 1) * 2 > ps->cap) {
		struct pathset bigger = {.cap = ps->cap ? ps->cap * 2 : 256};
		bigger.slots = xcalloc(bigger.cap, sizeof(char *));
		for (size_t i = 0; i < ps->cap; i++)
			if (ps->slots[i])
				pathset_insert_owned(&bigger, ps->slots[i]);
		free(ps->slots);
		*ps = bigger;
	}
	pathset_insert_owned(ps, TAKE_PTR(k));
	return true;
}

static void pathset_release(struct pathset *ps)
{
	for (size_t i = 0; i < ps->cap; i++)
		free(ps->slots[i]);
	free(ps->slots);
}

/* adds rel and all its ancestors; stops at the first ancestor already known (its own
 * ancestors are then known too) */
static void pathset_add_with_ancestors(struct pathset *ps, const char *rel)
{
	size_t len = strlen(rel);
	while (len > 0) {
		if (!pathset_add(ps, rel, len))
			return;
		while (len > 0 && rel[len - 1] != '/')
			len--;
		if (len > 0)
			len--;
	}
}

struct dirmeta {
	char *rel;
	mode_t mode;
	struct timespec mtime;
};

struct extract {
	int rootfd;
	const char *layer;
	const struct extract_opts *opts;
	struct pathset keep;
	struct dirmeta *dirs;
	size_t ndirs, dirs_cap;
	/* directories this layer writes into, with their mtime from before: an entry replaced
	 * or removed inside a directory the layer does not carry must not move its mtime */
	struct pathset touched;
	struct dirmeta *parents;
	size_t nparents, parents_cap;
	char *cached_parent; /* the relative path whose fd is cached_fd */
	int cached_fd;
	bool stale; /* something was removed: the cached resolution may be wrong from now on */
	const char *entry; /* the entry being applied, for messages */
};

static int x_fail(struct extract *x, struct kiln_err **err, int errnum, const char *what)
{
	if (errnum)
		return kiln_err_errnum(err, errnum, "extract layer %s: entry '%s': %s", x->layer,
		                       x->entry, what);
	return kiln_err_set(err, "extract layer %s: entry '%s': %s", x->layer, x->entry, what);
}

static bool x_ignored(struct extract *x, const char *rel)
{
	if (!x->opts || !x->opts->ignored)
		return false;
	char abs[LIMIT_PATH + 2];
	snprintf(abs, sizeof(abs), "/%s", rel);
	return x->opts->ignored(abs, x->opts->ud);
}

static void x_invalidate(struct extract *x)
{
	if (x->cached_fd >= 0)
		close(x->cached_fd);
	x->cached_fd = -1;
	free(x->cached_parent);
	x->cached_parent = NULL;
}

/* Normalises a tar name into a relative path without leading '/', './', '.' components,
 * doubled or trailing slashes. Returns -1 for a '..' component or an over-long name. */
static int normalize_name(const char *name, struct kiln_buf *out)
{
	kiln_buf_reset(out);
	const char *p = name;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, "/");
		if (len == 1 && p[0] == '.') {
			p += len;
			continue;
		}
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return -1;
		if (out->len)
			kiln_buf_addch(out, '/');
		kiln_buf_add(out, p, len);
		p += len;
	}
	if (out->len > LIMIT_PATH)
		return -1;
	return 0;
}

/* splits rel into a parent (heap) and the base name (pointer into rel) */
static char *split_parent(const char *rel, const char **ret_base)
{
	const char *slash = strrchr(rel, '/');
	if (!slash) {
		*ret_base = rel;
		return xstrdup("");
	}
	*ret_base = slash + 1;
	return xstrndup(rel, (size_t)(slash - rel));
}

struct x_walk {
	struct extract *x;
	const char *rel; /* of the directory walked */
};

static int remove_visit(struct walk_entry *e, void *ud, struct kiln_err **err)
{
	struct x_walk *w = ud;
	struct extract *x = w->x;
	if (e->post) {
		/* ENOTEMPTY: an ignored descendant stays, and so does this directory */
		if (unlinkat(e->dirfd, e->name, AT_REMOVEDIR) < 0 && errno != ENOTEMPTY &&
		    errno != ENOENT)
			return x_fail(x, err, errno, "remove existing directory");
		return WALK_NEXT;
	}
	cleanup_free char *child = xasprintf("%s/%s", w->rel, e->path);
	if (x_ignored(x, child))
		return WALK_NEXT;
	if (S_ISDIR(e->st.st_mode))
		return WALK_DESCEND;
	if (unlinkat(e->dirfd, e->name, 0) < 0 && errno != ENOENT)
		return x_fail(x, err, errno, "remove existing path");
	return WALK_NEXT;
}

/* Removes dfd/name and everything under it, except ignored paths (and so their ancestors).
 * Iterative (walk_tree): a layer's tree of any depth. */
static int remove_tree(struct extract *x, int dfd, const char *name, const char *rel,
                       struct kiln_err **err)
{
	if (x_ignored(x, rel))
		return 0;
	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return x_fail(x, err, errno, "remove existing path");
	cleanup_close int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		return x_fail(x, err, errno, "open directory to remove");
	struct x_walk w = {.x = x, .rel = rel};
	struct walk_opts o = {.shadow_fd = -1, .what = rel};
	int r = walk_tree(sub, &o, remove_visit, &w, err);
	if (r < 0)
		return r;
	/* ENOTEMPTY: an ignored descendant stays, and so does this directory */
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOTEMPTY && errno != ENOENT)
		return x_fail(x, err, errno, "remove existing directory");
	return 0;
}

/* Opens the parent directory rel (O_PATH), creating missing components when create is set.
 * Returns a borrowed fd (the cache owns it), -ENOENT when missing and !create. */
static int get_parent(struct extract *x, const char *rel, bool create, struct kiln_err **err)
{
	if (!x->stale && x->cached_parent && streq(x->cached_parent, rel))
		return x->cached_fd;
	x->stale = false;
	x_invalidate(x);
	int fd = chase_open(x->rootfd, rel, O_PATH | O_DIRECTORY, 0);
	if (fd == -ENOENT && create) {
		/* create what is missing, one component at a time, each resolved inside the root */
		size_t len = strlen(rel);
		for (size_t i = 0; i <= len; i++) {
			if (rel[i] != '/' && rel[i] != '\0')
				continue;
			cleanup_free char *prefix = xstrndup(rel, i);
			cleanup_close int pfd =
			    chase_open(x->rootfd, prefix, O_PATH | O_DIRECTORY, 0);
			if (pfd >= 0)
				continue;
			if (pfd != -ENOENT)
				return x_fail(x, err, -pfd, "open parent directory");
			const char *base;
			cleanup_free char *pp = split_parent(prefix, &base);
			cleanup_close int ppfd = chase_open(x->rootfd, pp, O_PATH | O_DIRECTORY, 0);
			if (ppfd < 0)
				return x_fail(x, err, -ppfd, "open parent directory");
			if (mkdirat(ppfd, base, 0755) < 0) {
				if (errno == EEXIST)
					return x_fail(x, err, 0,
					              "parent directory is a dangling symlink");
				return x_fail(x, err, errno, "create parent directory");
			}
			pathset_add_with_ancestors(&x->keep, prefix);
		}
		fd = chase_open(x->rootfd, rel, O_PATH | O_DIRECTORY, 0);
	}
	if (fd == -ENOENT && !create)
		return -ENOENT;
	if (fd < 0)
		return x_fail(x, err, -fd, "open parent directory");
	struct stat st;
	if (pathset_add(&x->touched, rel, strlen(rel)) && fstat(fd, &st) == 0) {
		XGROW(x->parents, x->nparents + 1, x->parents_cap);
		x->parents[x->nparents++] =
		    (struct dirmeta){.rel = xstrdup(rel), .mtime = st.st_mtim};
	}
	x->cached_fd = fd;
	x->cached_parent = xstrdup(rel);
	return fd;
}

static bool xattr_skippable(int e)
{
	return e == ENOTSUP || e == EOPNOTSUPP || e == EPERM;
}

/* fd: an open (non-O_PATH) fd of the file, or -1 to go through /proc/self/fd/<dfd>/<name> */
static int apply_xattrs(struct extract *x, struct archive_entry *e, int fd, int dfd,
                        const char *name, struct kiln_err **err)
{
	if (archive_entry_xattr_reset(e) == 0)
		return 0;
	const char *key;
	const void *val;
	size_t size;
	char proc[64 + LIMIT_PATH];
	if (fd < 0)
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dfd, name);
	while (archive_entry_xattr_next(e, &key, &val, &size) == ARCHIVE_OK) {
		if (!key || !*key)
			continue;
		int r =
		    fd >= 0 ? fsetxattr(fd, key, val, size, 0) : lsetxattr(proc, key, val, size, 0);
		if (r < 0) {
			if (xattr_skippable(errno)) {
				log_debug("extract layer %s: entry '%s': xattr '%s' not set: %s",
				          x->layer, x->entry, key, strerror(errno));
				continue;
			}
			cleanup_free char *what = xasprintf("set xattr '%s'", key);
			return x_fail(x, err, errno, what);
		}
	}
	return 0;
}

static bool entry_has_xattr(struct archive_entry *e, const char *key)
{
	const char *k;
	const void *val;
	size_t size;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &k, &val, &size) == ARCHIVE_OK)
		if (k && streq(k, key))
			return true;
	return false;
}

/* A directory entry over an existing directory replaces its metadata, xattrs included (as an
 * overlay upper directory does): the ones the entry does not carry go, except the host's
 * security.selinux label, which layers never carry. */
static int drop_stale_xattrs(struct extract *x, struct archive_entry *e, int fd,
                             struct kiln_err **err)
{
	cleanup_free char *list = NULL;
	ssize_t n = xattr_list(fd, NULL, &list);
	if (n < 0) {
		if (xattr_skippable((int)-n))
			return 0;
		return x_fail(x, err, (int)-n, "list xattrs");
	}
	for (ssize_t off = 0; off < n; off += (ssize_t)strlen(list + off) + 1) {
		const char *key = list + off;
		if (streq(key, "security.selinux") || entry_has_xattr(e, key))
			continue;
		if (fremovexattr(fd, key) < 0 && errno != ENODATA && !xattr_skippable(errno)) {
			cleanup_free char *what = xasprintf("remove xattr '%s'", key);
			return x_fail(x, err, errno, what);
		}
	}
	return 0;
}

static int apply_owner(struct extract *x, struct archive_entry *e, int dfd, const char *name,
                       struct kiln_err **err)
{
	if (x->opts && x->opts->no_chown)
		return 0;
	if (fchownat(dfd, name, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
	             AT_SYMLINK_NOFOLLOW) < 0)
		return x_fail(x, err, errno, "chown");
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_is_set(e) ? archive_entry_mtime_nsec(e) : 0;
	if (!archive_entry_mtime_is_set(e))
		ts[1].tv_sec = 0;
	ts[0] = ts[1];
}

/* makes room for a non-directory at dfd/name: whatever is there goes (a directory with its
 * content, except ignored paths) */
static int clear_path(struct extract *x, int dfd, const char *name, const char *rel,
                      struct kiln_err **err)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return x_fail(x, err, errno, "stat existing path");
	}
	if (S_ISDIR(st.st_mode)) {
		int r = remove_tree(x, dfd, name, rel, err);
		if (r < 0)
			return r;
		/* it may have been on the way to the cached parent */
		x->stale = true;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return x_fail(x, err, ENOTEMPTY, "replace directory holding ignored paths");
		return 0;
	}
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return x_fail(x, err, errno, "remove existing path");
	if (S_ISLNK(st.st_mode))
		x->stale = true;
	return 0;
}

static int write_regular(struct extract *x, struct archive *a, struct archive_entry *e, int dfd,
                         const char *name, struct kiln_err **err)
{
	/* guarded: no RUN child forked meanwhile by another stage may inherit it (ETXTBSY) */
	cleanup_guarded_close int fd =
	    forkguard_openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return x_fail(x, err, errno, "create file");
	const void *buf;
	size_t size;
	int64_t off;
	int64_t end = 0;
	for (;;) {
		int r = archive_read_data_block(a, &buf, &size, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return x_fail(x, err, 0, archive_error_string(a));
		const char *p = buf;
		while (size) {
			ssize_t n = pwrite(fd, p, size, (off_t)off);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return x_fail(x, err, errno, "write file");
			}
			p += n;
			size -= (size_t)n;
			off += n;
		}
		if (off > end)
			end = off;
	}
	/* sparse files: the holes at the end are not in any data block */
	int64_t want = archive_entry_size_is_set(e) ? archive_entry_size(e) : end;
	if (want > end && ftruncate(fd, (off_t)want) < 0)
		return x_fail(x, err, errno, "extend sparse file");
	if (!(x->opts && x->opts->no_chown) &&
	    fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
		return x_fail(x, err, errno, "chown");
	/* after chown, which clears setuid/setgid */
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return x_fail(x, err, errno, "chmod");
	/* after chown, which drops security.capability */
	int r = apply_xattrs(x, e, fd, dfd, name, err);
	if (r < 0)
		return r;
	struct timespec ts[2];
	entry_times(e, ts);
	if (futimens(fd, ts) < 0)
		return x_fail(x, err, errno, "set times");
	return 0;
}

static int write_dir(struct extract *x, struct archive_entry *e, int dfd, const char *name,
                     const char *rel, struct kiln_err **err)
{
	struct stat st;
	bool exists = false;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode)) {
			exists = true;
		} else {
			if (unlinkat(dfd, name, 0) < 0)
				return x_fail(x, err, errno, "remove existing path");
			x->stale = true;
		}
	}
	if (!exists && mkdirat(dfd, name, 0700) < 0)
		return x_fail(x, err, errno, "create directory");
	int r = apply_owner(x, e, dfd, name, err);
	if (r < 0)
		return r;
	if (exists || archive_entry_xattr_count(e) > 0) {
		cleanup_close int fd =
		    openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return x_fail(x, err, errno, "open directory");
		if (exists) {
			r = drop_stale_xattrs(x, e, fd, err);
			if (r < 0)
				return r;
		}
		r = apply_xattrs(x, e, fd, dfd, name, err);
		if (r < 0)
			return r;
	}
	/* mode and mtime last: writing the content would change the mtime, and a read-only
	 * directory could not receive it when extracting unprivileged */
	XGROW(x->dirs, x->ndirs + 1, x->dirs_cap);
	struct timespec ts[2];
	entry_times(e, ts);
	x->dirs[x->ndirs++] = (struct dirmeta){
	    .rel = xstrdup(rel), .mode = archive_entry_perm(e) & 07777, .mtime = ts[1]};
	return 0;
}

static int write_symlink(struct extract *x, struct archive_entry *e, int dfd, const char *name,
                         struct kiln_err **err)
{
	const char *target = archive_entry_symlink(e);
	if (!target)
		return x_fail(x, err, 0, "symlink without target");
	if (symlinkat(target, dfd, name) < 0)
		return x_fail(x, err, errno, "create symlink");
	int r = apply_owner(x, e, dfd, name, err);
	if (r < 0)
		return r;
	r = apply_xattrs(x, e, -1, dfd, name, err);
	if (r < 0)
		return r;
	struct timespec ts[2];
	entry_times(e, ts);
	if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return x_fail(x, err, errno, "set times");
	return 0;
}

static int write_hardlink(struct extract *x, struct archive_entry *e, int dfd, const char *name,
                          const char *rel, struct kiln_err **err)
{
	cleanup_buf struct kiln_buf target = KILN_BUF_INIT;
	if (normalize_name(archive_entry_hardlink(e), &target) < 0 || !target.len)
		return x_fail(x, err, 0, "hardlink target escapes the root");
	if (streq(target.ptr, rel))
		return 0;
	if (x_ignored(x, target.ptr))
		return 0;
	const char *tbase;
	cleanup_free char *tparent = split_parent(target.ptr, &tbase);
	cleanup_close int tfd = chase_open(x->rootfd, tparent, O_PATH | O_DIRECTORY, 0);
	if (tfd < 0)
		return x_fail(x, err, -tfd, "open hardlink target directory");
	/* no AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself */
	if (linkat(tfd, tbase, dfd, name, 0) < 0) {
		cleanup_free char *what = xasprintf("hardlink to '%s'", target.ptr);
		return x_fail(x, err, errno, what);
	}
	return 0;
}

static int write_node(struct extract *x, struct archive_entry *e, int dfd, const char *name,
                      struct kiln_err **err)
{
	mode_t type = archive_entry_filetype(e);
	dev_t dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
	if (mknodat(dfd, name, type | 0600, type == AE_IFIFO ? 0 : dev) < 0) {
		if (errno == EPERM) {
			log_debug("extract layer %s: entry '%s': device node skipped: %s", x->layer,
			          x->entry, strerror(errno));
			return 0;
		}
		return x_fail(x, err, errno, "create device node");
	}
	int r = apply_owner(x, e, dfd, name, err);
	if (r < 0)
		return r;
	if (fchmodat(dfd, name, archive_entry_perm(e) & 07777, 0) < 0)
		return x_fail(x, err, errno, "chmod");
	r = apply_xattrs(x, e, -1, dfd, name, err);
	if (r < 0)
		return r;
	struct timespec ts[2];
	entry_times(e, ts);
	if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return x_fail(x, err, errno, "set times");
	return 0;
}

static int clear_visit(struct walk_entry *e, void *ud, struct kiln_err **err)
{
	struct x_walk *w = ud;
	if (e->post)
		return WALK_NEXT;
	cleanup_free char *child = *w->rel ? xasprintf("%s/%s", w->rel, e->path) : xstrdup(e->path);
	if (!pathset_has(&w->x->keep, child)) {
		int r = remove_tree(w->x, e->dirfd, e->name, child, err);
		return r < 0 ? r : WALK_NEXT;
	}
	return S_ISDIR(e->st.st_mode) ? WALK_DESCEND : WALK_NEXT;
}

/* Opaque marker in directory rel: everything below it that this layer did not write goes. */
static int clear_lower(struct extract *x, int dfd, const char *rel, struct kiln_err **err)
{
	struct x_walk w = {.x = x, .rel = rel};
	struct walk_opts o = {.shadow_fd = -1, .what = rel};
	return walk_tree(dfd, &o, clear_visit, &w, err);
}

static int apply_opaque(struct extract *x, const char *dir, struct kiln_err **err)
{
	if (*dir)
		pathset_add_with_ancestors(&x->keep, dir);
	/* no symlinks on the way: a marker under a symlink names no directory of the image */
	cleanup_close int fd =
	    chase_open(x->rootfd, dir, O_RDONLY | O_DIRECTORY, CHASE_NO_SYMLINKS);
	if (fd == -ENOENT || fd == -ENOTDIR)
		return 0;
	if (fd == -ELOOP) {
		log_debug("extract layer %s: entry '%s': opaque marker under a symlink ignored",
		          x->layer, x->entry);
		return 0;
	}
	if (fd < 0)
		return x_fail(x, err, -fd, "open opaque directory");
	x->stale = true;
	return clear_lower(x, fd, dir, err);
}

static int apply_whiteout(struct extract *x, const char *parent, const char *name,
                          struct kiln_err **err)
{
	if (!*name || streq(name, ".") || streq(name, ".."))
		return x_fail(x, err, 0, "invalid whiteout name");
	cleanup_free char *target = *parent ? xasprintf("%s/%s", parent, name) : xstrdup(name);
	if (pathset_has(&x->keep, target))
		return 0;
	/* no symlinks on the way: a whiteout under a symlink names no path of the image */
	cleanup_close int dfd =
	    chase_open(x->rootfd, parent, O_PATH | O_DIRECTORY, CHASE_NO_SYMLINKS);
	if (dfd == -ENOENT || dfd == -ENOTDIR)
		return 0;
	if (dfd == -ELOOP) {
		log_debug("extract layer %s: entry '%s': whiteout under a symlink ignored",
		          x->layer, x->entry);
		return 0;
	}
	if (dfd < 0)
		return x_fail(x, err, -dfd, "open whiteout directory");
	x->stale = true;
	return remove_tree(x, dfd, name, target, err);
}

/* times_only: the parents' old mtimes (first), else the directory entries' mode and mtime */
static int apply_dir_meta(struct extract *x, const struct dirmeta *v, size_t n, bool times_only,
                          struct kiln_err **err)
{
	for (size_t i = 0; i < n; i++) {
		const struct dirmeta *m = &v[i];
		x->entry = m->rel;
		const char *base;
		cleanup_free char *parent = split_parent(m->rel, &base);
		cleanup_close int dfd = -1;
		if (!*m->rel) {
			base = ".";
			dfd = dup(x->rootfd);
		} else {
			dfd = chase_open(x->rootfd, parent, O_PATH | O_DIRECTORY, 0);
		}
		if (dfd < 0)
			continue; /* removed later in the same layer */
		struct stat st;
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue; /* replaced later in the same layer */
		if (!times_only && fchmodat(dfd, base, m->mode, 0) < 0)
			return x_fail(x, err, errno, "chmod directory");
		struct timespec ts[2] = {m->mtime, m->mtime};
		if (utimensat(dfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return x_fail(x, err, errno, "set directory times");
	}
	return 0;
}

static int apply_entry(struct extract *x, struct archive *a, struct archive_entry *e,
                       struct kiln_buf *rel, struct kiln_err **err)
{
	const char *raw = archive_entry_pathname(e);
	if (!raw)
		raw = archive_entry_pathname_utf8(e);
	if (!raw)
		return kiln_err_set(err, "extract layer %s: entry without a name", x->layer);
	x->entry = raw;
	if (normalize_name(raw, rel) < 0)
		return x_fail(x, err, 0, "path escapes the root or is too long");
	const char *base;
	cleanup_free char *parent = split_parent(rel->ptr, &base);

	if (startswith(base, WH_PREFIX)) {
		if (streq(base, WH_OPAQUE))
			return apply_opaque(x, parent, err);
		return apply_whiteout(x, parent, base + STRLEN(WH_PREFIX), err);
	}
	if (x_ignored(x, rel->ptr))
		return 0;

	mode_t type = archive_entry_filetype(e);
	if (archive_entry_hardlink(e))
		type = 0; /* hardlink, whatever the type bits say */

	if (!rel->len) {
		/* the root itself ("/" or "./", written by kaniko): only its metadata applies */
		if (type != AE_IFDIR)
			return x_fail(x, err, 0, "the root must be a directory");
		if (x->opts && x->opts->keep_root_meta)
			return 0;
		if (!(x->opts && x->opts->no_chown) &&
		    fchownat(x->rootfd, ".", (uid_t)archive_entry_uid(e),
		             (gid_t)archive_entry_gid(e), 0) < 0)
			return x_fail(x, err, errno, "chown");
		XGROW(x->dirs, x->ndirs + 1, x->dirs_cap);
		struct timespec ts[2];
		entry_times(e, ts);
		x->dirs[x->ndirs++] = (struct dirmeta){
		    .rel = xstrdup(""), .mode = archive_entry_perm(e) & 07777, .mtime = ts[1]};
		return 0;
	}

	int dfd = get_parent(x, parent, true, err);
	if (dfd < 0)
		return dfd;
	int r;
	if (type == AE_IFDIR) {
		r = write_dir(x, e, dfd, base, rel->ptr, err);
	} else {
		r = clear_path(x, dfd, base, rel->ptr, err);
		if (r < 0)
			return r;
		switch (type) {
		case 0:
			r = write_hardlink(x, e, dfd, base, rel->ptr, err);
			break;
		case AE_IFREG:
			r = write_regular(x, a, e, dfd, base, err);
			break;
		case AE_IFLNK:
			r = write_symlink(x, e, dfd, base, err);
			break;
		case AE_IFCHR:
		case AE_IFBLK:
		case AE_IFIFO:
			r = write_node(x, e, dfd, base, err);
			break;
		default:
			r = x_fail(x, err, 0, "unsupported entry type");
			break;
		}
	}
	if (r < 0)
		return r;
	pathset_add_with_ancestors(&x->keep, rel->ptr);
	return 0;
}

int fs_extract_layer(int rootfd, int layer_fd, const char *layer_name,
                     const struct extract_opts *opts, struct kiln_err **err)
{
	struct archive *a = archive_read_new();
	if (!a)
		xalloc_die();
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	/* ADD unpacks these too; image layers only come as gzip, zstd or plain */
	archive_read_support_filter_xz(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_format_tar(a);
	/* names are bytes: no conversion through the (C) locale */
	archive_read_set_options(a, "hdrcharset=BINARY");
	struct extract x = {
	    .rootfd = rootfd, .layer = layer_name, .opts = opts, .cached_fd = -1, .entry = ""};
	cleanup_buf struct kiln_buf rel = KILN_BUF_INIT;
	int r = 0;
	if (archive_read_open_fd(a, layer_fd, 128 * 1024) != ARCHIVE_OK) {
		r = kiln_err_set(err, "extract layer %s: %s", layer_name, archive_error_string(a));
	} else {
		for (;;) {
			struct archive_entry *e;
			int ar = archive_read_next_header(a, &e);
			if (ar == ARCHIVE_EOF)
				break;
			if (ar < ARCHIVE_WARN) {
				r = kiln_err_set(err, "extract layer %s: %s", layer_name,
				                 archive_error_string(a));
				break;
			}
			r = apply_entry(&x, a, e, &rel, err);
			if (r < 0)
				break;
			if (opts && opts->progress)
				progress_update(opts->progress,
				                (uint64_t)archive_filter_bytes(a, -1));
		}
	}
	if (r >= 0)
		r = apply_dir_meta(&x, x.parents, x.nparents, true, err);
	if (r >= 0)
		r = apply_dir_meta(&x, x.dirs, x.ndirs, false, err);
	archive_read_free(a);
	x_invalidate(&x);
	for (size_t i = 0; i < x.ndirs; i++)
		free(x.dirs[i].rel);
	free(x.dirs);
	for (size_t i = 0; i < x.nparents; i++)
		free(x.parents[i].rel);
	free(x.parents);
	pathset_release(&x.touched);
	pathset_release(&x.keep);
	return r < 0 ? r : 0;
}

bool fs_is_tar_archive(int fd)
{
	struct archive *a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	struct archive_entry *e = NULL;
	bool is = archive_read_open_fd(a, fd, 65536) == ARCHIVE_OK &&
	          archive_read_next_header(a, &e) == ARCHIVE_OK;
	archive_read_free(a);
	lseek(fd, 0, SEEK_SET);
	return is;
}
