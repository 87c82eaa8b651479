/* snapshot.c — stat index of a root: a dirfd-relative walk into a sorted array, and a
 * merge-join of two walks into a minimal change list. */
#include "snapshot.h"

#include "util/buf.h"
#include "util/walk.h"
#include "util/xalloc.h"
#include "util/xattr.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ix_ent {
	size_t path; /* offset into the pool: "/etc/passwd" */
	uint64_t size;
	uint64_t ino;
	int64_t mtime; /* ns */
	int64_t ctime; /* ns */
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;
	uint64_t xattrs; /* order-independent hash of names and values; 0: none */
};

/* Entries are kept in walk order: depth first, siblings by byte order. That is the order of
 * path_cmp() below ('/' sorts before every other byte), which the diff merge-joins on. */
struct ix_state {
	struct ix_ent *v;
	size_t n, cap;
	struct kiln_buf pool;
};

/* every path of a root, NUL-separated: tens of millions of files fit */
#define POOL_MAX ((size_t)4 << 30)

struct fs_index {
	struct ix_state st;
	bool (*ignored)(const char *path, void *ud);
	void *ud;
};

struct walker {
	struct ix_state *st;
	bool (*ignored)(const char *path, void *ud);
	void *ud;
	struct kiln_buf path;
	/* the previous state, walked in the same order: an entry whose inode and ctime did not
	 * move keeps its xattr hash (every xattr change moves ctime), which spares a listxattr
	 * per path on every diff */
	const struct ix_state *old;
	size_t old_i;
};

static int64_t ts_ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* byte order, except that '/' sorts before every other byte (so a directory's subtree follows
 * it directly) */
static int path_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
		if (ca == cb) {
			if (!ca)
				return 0;
			continue;
		}
		if (!ca)
			return -1;
		if (!cb)
			return 1;
		if (ca == '/')
			return -1;
		if (cb == '/')
			return 1;
		return ca < cb ? -1 : 1;
	}
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* A hash of the xattrs (names and values): a value rewritten in place moves only ctime, which
 * a directory's children move too and a hard link made elsewhere hides, so the values are
 * compared themselves. security.selinux is a label of the build host, never in a layer. */
static uint64_t xattrs_at(int dfd, const char *name)
{
	cleanup_free char *list = NULL;
	ssize_t ln = xattr_list_at(dfd, name, &list);
	if (ln <= 0)
		return 0;
	uint64_t sum = 0;
	for (ssize_t off = 0; off < ln; off += (ssize_t)strlen(list + off) + 1) {
		const char *key = list + off;
		if (streq(key, "security.selinux"))
			continue;
		cleanup_free char *val = NULL;
		ssize_t vn = xattr_get_at(dfd, name, key, &val);
		uint64_t h = fnv1a(0xcbf29ce484222325ull, key, strlen(key) + 1);
		h = vn >= 0 ? fnv1a(h, val, (size_t)vn) : fnv1a(h, &vn, sizeof(vn));
		sum += h | 1;
	}
	return sum;
}

/* the previous entry for the path being walked, or NULL (the cursor only moves forward) */
static const struct ix_ent *old_entry(struct walker *w)
{
	const struct ix_state *o = w->old;
	if (!o)
		return NULL;
	while (w->old_i < o->n) {
		const struct ix_ent *e = &o->v[w->old_i];
		int c = path_cmp(o->pool.ptr + e->path, w->path.ptr);
		if (c == 0)
			return e;
		if (c > 0)
			return NULL;
		w->old_i++;
	}
	return NULL;
}

/* one entry of the root (walk_tree: iterative, any depth, bounded descriptors) */
static int walk_visit(struct walk_entry *e, void *ud, struct kiln_err **err)
{
	(void)err;
	struct walker *w = ud;
	if (e->post)
		return WALK_NEXT;
	kiln_buf_truncate(&w->path, 0);
	kiln_buf_addch(&w->path, '/');
	kiln_buf_adds(&w->path, e->path);
	if (w->ignored && w->ignored(w->path.ptr, w->ud))
		return WALK_NEXT;
	const struct stat s = e->st;
	struct ix_state *st = w->st;
	XGROW(st->v, st->n + 1, st->cap);
	st->v[st->n++] = (struct ix_ent){
	    .path = st->pool.len,
	    .size = (uint64_t)s.st_size,
	    .ino = (uint64_t)s.st_ino,
	    .mtime = ts_ns(s.st_mtim),
	    .ctime = ts_ns(s.st_ctim),
	    .mode = s.st_mode,
	    .uid = s.st_uid,
	    .gid = s.st_gid,
	    .nlink = (uint32_t)s.st_nlink,
	};
	const struct ix_ent *prev = old_entry(w);
	struct ix_ent *cur = &st->v[st->n - 1];
	if (prev && prev->ino == cur->ino && prev->ctime == cur->ctime)
		cur->xattrs = prev->xattrs;
	else
		cur->xattrs = xattrs_at(e->dirfd, e->name);
	kiln_buf_add(&st->pool, w->path.ptr, w->path.len + 1);
	return S_ISDIR(s.st_mode) ? WALK_DESCEND : WALK_NEXT;
}

static void ix_state_release(struct ix_state *st)
{
	free(st->v);
	kiln_buf_release(&st->pool);
	*st = (struct ix_state){.pool = KILN_BUF_INIT_MAX(POOL_MAX)};
}

static int walk_root(int rootfd, bool (*ignored)(const char *path, void *ud), void *ud,
                     const struct ix_state *old, struct ix_state *ret, struct kiln_err **err)
{
	struct ix_state st = {.pool = KILN_BUF_INIT_MAX(POOL_MAX)};
	struct walker w = {
	    .st = &st, .ignored = ignored, .ud = ud, .path = KILN_BUF_INIT, .old = old};
	struct walk_opts o = {.shadow_fd = -1, .cmp = name_cmp, .what = "/"};
	int r = walk_tree(rootfd, &o, walk_visit, &w, err);
	kiln_buf_release(&w.path);
	if (r < 0) {
		ix_state_release(&st);
		return r;
	}
	*ret = st;
	return 0;
}

int fs_index_build(int rootfd, bool (*ignored)(const char *path, void *ud), void *ud,
                   struct fs_index **ret, struct kiln_err **err)
{
	struct ix_state st;
	int r = walk_root(rootfd, ignored, ud, NULL, &st, err);
	if (r < 0)
		return kiln_err_wrap(err, "index root filesystem");
	struct fs_index *ix = xcalloc(1, sizeof(*ix));
	ix->st = st;
	ix->ignored = ignored;
	ix->ud = ud;
	*ret = ix;
	return 0;
}

struct fs_index *fs_index_free(struct fs_index *ix)
{
	if (ix) {
		ix_state_release(&ix->st);
		free(ix);
	}
	return NULL;
}

size_t fs_index_size(const struct fs_index *ix)
{
	return ix->st.n;
}

enum diff_mode {
	DIFF_FULL,
	DIFF_REDO,
	DIFF_TIME,
};

static bool ent_changed(const struct ix_ent *o, const struct ix_ent *n, enum diff_mode m)
{
	if (m == DIFF_TIME)
		return o->mtime != n->mtime;
	if (o->mode != n->mode || o->uid != n->uid || o->gid != n->gid || o->mtime != n->mtime)
		return true;
	if (m == DIFF_FULL && o->xattrs != n->xattrs)
		return true;
	if (S_ISDIR(n->mode))
		return m == DIFF_FULL && o->ino != n->ino;
	if (o->size != n->size)
		return true;
	if (m == DIFF_REDO)
		return false;
	if (o->ino != n->ino)
		return true;
	if (o->ctime != n->ctime)
		/* a hard link made or removed moves ctime and nlink only (symlinks, fifos and
		 * devices can be hard-linked too) */
		return !(!S_ISDIR(n->mode) && o->nlink != n->nlink);
	return false;
}

struct change_list {
	struct fs_change *v;
	size_t n, cap;
};

static void change_add(struct change_list *cl, const char *path, enum fs_change_kind kind)
{
	XGROW(cl->v, cl->n + 1, cl->cap);
	cl->v[cl->n++] = (struct fs_change){.path = xstrdup(path), .kind = kind};
}

static int change_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fs_change *)a)->path, ((const struct fs_change *)b)->path);
}

/* the merge emits paths in walk order, which is byte order unless a name holds a byte below
 * '/' ("a-b" after "a/x"); link partners come last: a sorted list is not sorted again (a
 * step that adds 200,000 paths spares the comparisons of a qsort) */
static bool changes_sorted(const struct change_list *cl)
{
	for (size_t i = 1; i < cl->n; i++)
		if (strcmp(cl->v[i - 1].path, cl->v[i].path) > 0)
			return false;
	return true;
}

static bool under(const char *path, const char *dir, size_t dirlen)
{
	return dirlen && strneq(path, dir, dirlen) && path[dirlen] == '/';
}

static int ino_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* A hard link lives in a layer only as a link between two entries of that layer: when a path
 * of a multiply-linked file is reported, every other path of that inode is reported too
 * (overlayfs copies the file up for the same reason), or the layers would rebuild separate
 * files. Inode numbers are matched without the device: a collision across mounts only adds
 * an entry, and the layer writer links by (dev, ino). */
static void add_link_partners(const struct ix_state *now, const bool *reported,
                              struct change_list *cl)
{
	cleanup_free uint64_t *inos = NULL;
	size_t n = 0, cap = 0;
	for (size_t j = 0; j < now->n; j++) {
		const struct ix_ent *e = &now->v[j];
		if (reported[j] && !S_ISDIR(e->mode) && e->nlink > 1) {
			XGROW(inos, n + 1, cap);
			inos[n++] = e->ino;
		}
	}
	if (!n)
		return;
	qsort(inos, n, sizeof(*inos), ino_cmp);
	for (size_t j = 0; j < now->n; j++) {
		const struct ix_ent *e = &now->v[j];
		if (!reported[j] && !S_ISDIR(e->mode) && e->nlink > 1 &&
		    bsearch(&e->ino, inos, n, sizeof(*inos), ino_cmp))
			change_add(cl, now->pool.ptr + e->path, FS_MODIFIED);
	}
}

int fs_index_diff(struct fs_index *ix, int rootfd, const char *mode, struct fs_changes *ret,
                  struct kiln_err **err)
{
	enum diff_mode m;
	if (!mode || streq(mode, "full"))
		m = DIFF_FULL;
	else if (streq(mode, "redo"))
		m = DIFF_REDO;
	else if (streq(mode, "time"))
		m = DIFF_TIME;
	else
		return kiln_err_set(err, "unknown snapshot mode '%s'", mode);

	struct ix_state now;
	int r = walk_root(rootfd, ix->ignored, ix->ud, &ix->st, &now, err);
	if (r < 0)
		return kiln_err_wrap(err, "snapshot root filesystem");

	struct change_list cl = {0};
	cleanup_free bool *reported = xcalloc(now.n ? now.n : 1, sizeof(bool));
	const struct ix_state *old = &ix->st;
	/* an old directory that is gone or no longer a directory: its subtree is not reported */
	const char *gone = NULL;
	size_t gone_len = 0;
	size_t i = 0, j = 0;
	while (i < old->n || j < now.n) {
		const char *op = i < old->n ? old->pool.ptr + old->v[i].path : NULL;
		const char *np = j < now.n ? now.pool.ptr + now.v[j].path : NULL;
		int c = !op ? 1 : !np ? -1 : path_cmp(op, np);
		if (c < 0) {
			if (!under(op, gone, gone_len)) {
				change_add(&cl, op, FS_DELETED);
				if (S_ISDIR(old->v[i].mode)) {
					gone = op;
					gone_len = strlen(op);
				}
			}
			i++;
		} else if (c > 0) {
			change_add(&cl, np, FS_ADDED);
			reported[j] = true;
			j++;
		} else {
			const struct ix_ent *o = &old->v[i], *n = &now.v[j];
			if ((o->mode & S_IFMT) != (n->mode & S_IFMT)) {
				change_add(&cl, np, FS_MODIFIED);
				reported[j] = true;
				if (S_ISDIR(o->mode)) {
					gone = op;
					gone_len = strlen(op);
				}
			} else if (ent_changed(o, n, m)) {
				change_add(&cl, np, FS_MODIFIED);
				reported[j] = true;
			}
			i++;
			j++;
		}
	}
	add_link_partners(&now, reported, &cl);
	if (!changes_sorted(&cl))
		qsort(cl.v, cl.n, sizeof(*cl.v), change_cmp);
	ix_state_release(&ix->st);
	ix->st = now;
	*ret = (struct fs_changes){.v = cl.v, .n = cl.n};
	return 0;
}

void fs_changes_release(struct fs_changes *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].path);
	free(c->v);
	*c = (struct fs_changes){0};
}
