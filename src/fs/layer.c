/* layer.c — layer blobs: libarchive writes PAX tar into our callback, which hashes it
 * (diff_id), compresses it in independent 1 MiB members on every core (compress.c) and streams
 * it into a blob writer (digest). */
#include "layer.h"
#include "chase.h"
#include "compress.h"

#include "util/buf.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/xattr.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define COPY_CAP (128 * 1024)

struct ino_slot {
	uint64_t dev, ino;
	char *name; /* NULL: empty slot */
};

struct layer_writer {
	struct blob_writer *bw;
	struct compressor *cz;
	struct sha256 diff;
	struct archive *a;
	struct archive_entry *e;
	char *copybuf;
	bool reproducible;
	int64_t sde;
	bool discard; /* being freed without finish: the callback drops everything */
	bool finished;
	struct kiln_err *cb_err; /* failure inside the archive callback */
	struct ino_slot *inos;
	size_t inos_n, inos_cap;
	char *cached_parent;
	int cached_rootfd, cached_fd;
};

/* compressed members go straight into the blob, which hashes them (digest) */
static int blob_sink(void *ud, const void *buf, size_t len, struct kiln_err **err)
{
	struct layer_writer *lw = ud;
	return blob_writer_write(lw->bw, buf, len, err);
}

static la_ssize_t tar_write_cb(struct archive *a _unused_, void *ud, const void *buf, size_t len)
{
	struct layer_writer *lw = ud;
	if (lw->discard)
		return (la_ssize_t)len;
	sha256_update(&lw->diff, buf, len);
	if (compressor_write(lw->cz, buf, len, &lw->cb_err) < 0)
		return -1;
	return (la_ssize_t)len;
}

int layer_writer_new(struct blobstore *bs, enum fs_compression c, int level,
                     struct layer_writer **ret, struct kiln_err **err)
{
	_cleanup_(layer_writer_freep) struct layer_writer *lw = xcalloc(1, sizeof(*lw));
	lw->cached_fd = -1;
	lw->copybuf = xmalloc(COPY_CAP);
	sha256_init(&lw->diff);
	lw->discard = true; /* until the writer is complete */
	if (compressor_new(c, level, 0, blob_sink, lw, &lw->cz, err) < 0)
		return -1;
	int r = blob_writer_new(bs, &lw->bw, err);
	if (r < 0)
		return kiln_err_wrap(err, "create layer blob");
	lw->a = archive_write_new();
	lw->e = archive_entry_new();
	if (!lw->a || !lw->e)
		xalloc_die();
	if (archive_write_set_format_pax_restricted(lw->a) != ARCHIVE_OK ||
	    /* xattrs as SCHILY.xattr.* only (what Docker and containerd read), not doubled */
	    archive_write_set_format_option(lw->a, "pax", "xattrheader", "SCHILY") < ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(lw->a, 64 * 1024) != ARCHIVE_OK ||
	    /* no padding after the end-of-archive blocks */
	    archive_write_set_bytes_in_last_block(lw->a, 1) != ARCHIVE_OK ||
	    archive_write_open2(lw->a, lw, NULL, tar_write_cb, NULL, NULL) != ARCHIVE_OK)
		return kiln_err_set(err, "create layer tar: %s", archive_error_string(lw->a));
	lw->discard = false;
	*ret = TAKE_PTR(lw);
	return 0;
}

void layer_writer_set_times(struct layer_writer *lw, bool reproducible, int64_t source_date_epoch)
{
	lw->reproducible = reproducible;
	lw->sde = source_date_epoch > 0 ? source_date_epoch : 0;
}

/* checks that path is absolute and canonical; returns the name without the leading '/' */
static int check_path(const char *path, const char **ret_rel, struct kiln_err **err)
{
	if (path[0] != '/')
		return kiln_err_set(err, "layer path '%s' is not absolute", path);
	if (strlen(path) > LIMIT_PATH)
		return kiln_err_set(err, "layer path '%s' is too long", path);
	const char *p = path + 1;
	while (*p) {
		size_t len = strcspn(p, "/");
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return kiln_err_set(err, "layer path '%s' is not canonical", path);
		p += len;
		if (*p == '/' && !p[1])
			return kiln_err_set(err, "layer path '%s' is not canonical", path);
		if (*p)
			p++;
	}
	*ret_rel = path + 1;
	return 0;
}

static int tar_fail(struct layer_writer *lw, const char *name, struct kiln_err **err)
{
	if (lw->cb_err) {
		int r =
		    kiln_err_set(err, "write layer entry '%s': %s", name, kiln_err_msg(lw->cb_err));
		lw->cb_err = kiln_err_free(lw->cb_err);
		return r;
	}
	return kiln_err_set(err, "write layer entry '%s': %s", name, archive_error_string(lw->a));
}

static int64_t entry_mtime(struct layer_writer *lw, const struct stat *st)
{
	if (lw->reproducible)
		return lw->sde;
	if (lw->sde > 0 && st->st_mtim.tv_sec > lw->sde)
		return lw->sde;
	return st->st_mtim.tv_sec;
}

int64_t fs_source_date_epoch(struct kiln_err **err)
{
	const char *v = getenv("SOURCE_DATE_EPOCH");
	if (!v || !*v)
		return 0;
	int64_t n = 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9' || n > 253402300799 / 10)
			return kiln_err_set(err,
			                    "invalid SOURCE_DATE_EPOCH '%s': not a number of "
			                    "seconds since 1970",
			                    v);
		n = n * 10 + (*p - '0');
	}
	if (n > 253402300799)
		return kiln_err_set(err, "invalid SOURCE_DATE_EPOCH '%s': after year 9999", v);
	return n;
}

/* fills lw->e's common fields from st; rel is the name without '/', a '/' is added to dirs */
static void entry_fill(struct layer_writer *lw, const char *rel, const struct stat *st)
{
	struct archive_entry *e = lw->e;
	archive_entry_clear(e);
	if (S_ISDIR(st->st_mode)) {
		cleanup_free char *d = xasprintf("%s/", rel);
		archive_entry_copy_pathname(e, d);
	} else {
		archive_entry_copy_pathname(e, rel);
	}
	archive_entry_set_filetype(e, st->st_mode & S_IFMT);
	archive_entry_set_perm(e, st->st_mode & 07777);
	archive_entry_set_uid(e, st->st_uid);
	archive_entry_set_gid(e, st->st_gid);
	archive_entry_set_mtime(e, entry_mtime(lw, st), 0);
	archive_entry_set_size(e, S_ISREG(st->st_mode) ? st->st_size : 0);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		archive_entry_set_rdevmajor(e, major(st->st_rdev));
		archive_entry_set_rdevminor(e, minor(st->st_rdev));
	}
}

/* xattrs of the file: through fd when >= 0, else through /proc/self/fd/<dfd>/<name> */
/* the xattrs of the open file fd, or (fd < 0) of name in dfd, not followed */
static int entry_xattrs(struct layer_writer *lw, int fd, int dfd, const char *name,
                        const char *path, struct kiln_err **err)
{
	cleanup_free char *list = NULL;
	ssize_t n = fd >= 0 ? xattr_list(fd, NULL, &list) : xattr_list_at(dfd, name, &list);
	if (n < 0) {
		if (n == -ENOTSUP || n == -EOPNOTSUPP || n == -ENOENT)
			return 0;
		return kiln_err_errnum(err, (int)-n, "list xattrs of '%s'", path);
	}
	for (ssize_t off = 0; off < n; off += (ssize_t)strlen(list + off) + 1) {
		const char *key = list + off;
		/* labels of the build host, not of the image */
		if (streq(key, "security.selinux"))
			continue;
		cleanup_free char *val = NULL;
		ssize_t vn =
		    fd >= 0 ? xattr_get(fd, NULL, key, &val) : xattr_get_at(dfd, name, key, &val);
		if (vn < 0) {
			if (vn == -ENODATA)
				continue;
			return kiln_err_errnum(err, (int)-vn, "read xattr '%s' of '%s'", key, path);
		}
		archive_entry_xattr_add_entry(lw->e, key, val ? val : "", (size_t)vn);
	}
	return 0;
}

static int write_header(struct layer_writer *lw, const char *path, struct kiln_err **err)
{
	/* ARCHIVE_WARN: a name that is not valid in the locale's charset is written as raw bytes
	 * (hdrcharset=BINARY for that entry), which is what a Linux name is */
	if (archive_write_header(lw->a, lw->e) < ARCHIVE_WARN)
		return tar_fail(lw, path, err);
	return 0;
}

static int write_content(struct layer_writer *lw, int fd, uint64_t size, const char *path,
                         struct kiln_err **err)
{
	uint64_t left = size;
	while (left) {
		ssize_t n = read(fd, lw->copybuf, MIN(left, (uint64_t)COPY_CAP));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return kiln_err_errno(err, "read '%s'", path);
		}
		if (n == 0)
			break; /* shrunk while read: libarchive pads the entry with zeros */
		if (archive_write_data(lw->a, lw->copybuf, (size_t)n) < 0)
			return tar_fail(lw, path, err);
		left -= (uint64_t)n;
	}
	if (archive_write_finish_entry(lw->a) < ARCHIVE_OK)
		return tar_fail(lw, path, err);
	return 0;
}

static uint64_t ino_hash(uint64_t dev, uint64_t ino)
{
	return (ino * 0x9e3779b97f4a7c15ull) ^ (dev * 0xc2b2ae3d27d4eb4full);
}

static struct ino_slot *ino_find(struct layer_writer *lw, uint64_t dev, uint64_t ino)
{
	if (!lw->inos_cap)
		return NULL;
	for (size_t i = ino_hash(dev, ino) & (lw->inos_cap - 1);;
	     i = (i + 1) & (lw->inos_cap - 1)) {
		struct ino_slot *s = &lw->inos[i];
		if (!s->name || (s->dev == dev && s->ino == ino))
			return s;
	}
}

static void ino_add(struct layer_writer *lw, uint64_t dev, uint64_t ino, const char *rel)
{
	if ((lw->inos_n + 1) * 2 > lw->inos_cap) {
		size_t old_cap = lw->inos_cap;
		struct ino_slot *old = lw->inos;
		lw->inos_cap = old_cap ? old_cap * 2 : 64;
		lw->inos = xcalloc(lw->inos_cap, sizeof(*lw->inos));
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].name)
				*ino_find(lw, old[i].dev, old[i].ino) = old[i];
		free(old);
	}
	struct ino_slot *s = ino_find(lw, dev, ino);
	*s = (struct ino_slot){.dev = dev, .ino = ino, .name = xstrdup(rel)};
	lw->inos_n++;
}

/* borrowed fd of the parent directory of rel inside rootfd (cached: callers add sorted) */
/* a further name of an inode already in the layer becomes a hardlink entry to its first name:
 * 1 when written so, 0 when this is the inode's first name (now remembered), < 0 on error */
static int entry_hardlink(struct layer_writer *lw, const struct stat *st, const char *rel,
                          const char *path, struct kiln_err **err)
{
	if (st->st_nlink < 2)
		return 0;
	struct ino_slot *s = ino_find(lw, st->st_dev, st->st_ino);
	if (!s || !s->name) {
		ino_add(lw, st->st_dev, st->st_ino, rel);
		return 0;
	}
	archive_entry_set_size(lw->e, 0);
	archive_entry_copy_hardlink(lw->e, s->name);
	int r = write_header(lw, path, err);
	if (r < 0)
		return r;
	if (archive_write_finish_entry(lw->a) < ARCHIVE_OK)
		return tar_fail(lw, path, err);
	return 1;
}

static int parent_fd(struct layer_writer *lw, int rootfd, const char *parent, const char *path,
                     struct kiln_err **err)
{
	if (lw->cached_fd >= 0 && lw->cached_rootfd == rootfd && streq(lw->cached_parent, parent))
		return lw->cached_fd;
	if (lw->cached_fd >= 0)
		close(lw->cached_fd);
	free(lw->cached_parent);
	lw->cached_parent = NULL;
	lw->cached_fd = chase_open(rootfd, parent, O_PATH | O_DIRECTORY, 0);
	if (lw->cached_fd < 0) {
		int e = -lw->cached_fd;
		lw->cached_fd = -1;
		return kiln_err_errnum(err, e, "open parent directory of '%s'", path);
	}
	lw->cached_parent = xstrdup(parent);
	lw->cached_rootfd = rootfd;
	return lw->cached_fd;
}

int layer_writer_add_path(struct layer_writer *lw, int rootfd, const char *path,
                          struct kiln_err **err)
{
	const char *rel;
	int r = check_path(path, &rel, err);
	if (r < 0)
		return r;
	if (!*rel)
		return 0;
	const char *slash = strrchr(rel, '/');
	const char *base = slash ? slash + 1 : rel;
	cleanup_free char *parent = xstrndup(rel, slash ? (size_t)(slash - rel) : 0);
	int dfd = parent_fd(lw, rootfd, parent, path, err);
	if (dfd < 0)
		return dfd;
	struct stat st;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return kiln_err_errno(err, "stat '%s'", path);
	if (S_ISSOCK(st.st_mode)) {
		log_info("Ignoring socket %s, not adding to tar", base);
		return 0;
	}
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		cleanup_close int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return kiln_err_errno(err, "open '%s'", path);
		if (fstat(fd, &st) < 0)
			return kiln_err_errno(err, "stat '%s'", path);
		entry_fill(lw, rel, &st);
		r = entry_hardlink(lw, &st, rel, path, err);
		if (r != 0)
			return r < 0 ? r : 0;
		r = entry_xattrs(lw, fd, dfd, base, path, err);
		if (r < 0)
			return r;
		r = write_header(lw, path, err);
		if (r < 0)
			return r;
		return write_content(lw, fd, (uint64_t)st.st_size, path, err);
	}
	/* an empty regular file has no content to read: it is not opened (three system calls
	 * fewer per file, which counts in a step that creates 200,000 of them) */
	entry_fill(lw, rel, &st);
	/* a symlink, fifo or device node with more than one name (cp -al links symlinks too) is
	 * linked like a regular file: one entry, then hardlink entries to its first name */
	if (!S_ISDIR(st.st_mode)) {
		r = entry_hardlink(lw, &st, rel, path, err);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	if (S_ISLNK(st.st_mode)) {
		char target[LIMIT_PATH + 1];
		ssize_t n = readlinkat(dfd, base, target, sizeof(target));
		if (n < 0)
			return kiln_err_errno(err, "read link '%s'", path);
		if ((size_t)n >= sizeof(target))
			return kiln_err_set(err, "link target of '%s' is too long", path);
		target[n] = '\0';
		archive_entry_copy_symlink(lw->e, target);
	}
	r = entry_xattrs(lw, -1, dfd, base, path, err);
	if (r < 0)
		return r;
	r = write_header(lw, path, err);
	if (r < 0)
		return r;
	if (archive_write_finish_entry(lw->a) < ARCHIVE_OK)
		return tar_fail(lw, path, err);
	return 0;
}

int layer_writer_add_whiteout(struct layer_writer *lw, const char *path, struct kiln_err **err)
{
	const char *rel;
	int r = check_path(path, &rel, err);
	if (r < 0)
		return r;
	if (!*rel)
		return kiln_err_set(err, "cannot write a whiteout for the root");
	const char *slash = strrchr(rel, '/');
	cleanup_free char *name = slash
	                              ? xasprintf("%.*s/.wh.%s", (int)(slash - rel), rel, slash + 1)
	                              : xasprintf(".wh.%s", rel);
	struct archive_entry *e = lw->e;
	archive_entry_clear(e);
	archive_entry_copy_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, 0, 0);
	archive_entry_set_size(e, 0);
	r = write_header(lw, path, err);
	if (r < 0)
		return r;
	if (archive_write_finish_entry(lw->a) < ARCHIVE_OK)
		return tar_fail(lw, path, err);
	return 0;
}

int layer_writer_add_entry(struct layer_writer *lw, const char *path, const struct stat *st,
                           const char *link_target, int fd, struct kiln_err **err)
{
	const char *rel;
	int r = check_path(path, &rel, err);
	if (r < 0)
		return r;
	if (!*rel || S_ISSOCK(st->st_mode))
		return 0;
	entry_fill(lw, rel, st);
	if (S_ISLNK(st->st_mode)) {
		if (!link_target)
			return kiln_err_set(err, "symlink '%s' without a target", path);
		archive_entry_copy_symlink(lw->e, link_target);
	} else if (S_ISREG(st->st_mode) && link_target) {
		const char *trel;
		r = check_path(link_target, &trel, err);
		if (r < 0)
			return r;
		archive_entry_set_size(lw->e, 0);
		archive_entry_copy_hardlink(lw->e, trel);
	}
	r = write_header(lw, path, err);
	if (r < 0)
		return r;
	if (S_ISREG(st->st_mode) && !link_target)
		return write_content(lw, fd, (uint64_t)st->st_size, path, err);
	if (archive_write_finish_entry(lw->a) < ARCHIVE_OK)
		return tar_fail(lw, path, err);
	return 0;
}

int layer_writer_finish(struct layer_writer *lw, struct layer_info *ret, struct kiln_err **err)
{
	if (lw->finished)
		return kiln_err_set(err, "layer already finished");
	lw->finished = true;
	if (archive_write_close(lw->a) != ARCHIVE_OK)
		return tar_fail(lw, "end of archive", err);
	if (compressor_finish(lw->cz, &lw->cb_err) < 0) {
		int r = kiln_err_set(err, "write layer: %s", kiln_err_msg(lw->cb_err));
		lw->cb_err = kiln_err_free(lw->cb_err);
		return r;
	}
	struct layer_info info = {0};
	sha256_final_digest(&lw->diff, info.diff_id);
	int r = blob_writer_commit(lw->bw, NULL, info.digest, &info.size, err);
	if (r < 0)
		return kiln_err_wrap(err, "store layer");
	*ret = info;
	return 0;
}

struct layer_writer *layer_writer_free(struct layer_writer *lw)
{
	if (!lw)
		return NULL;
	lw->discard = true;
	if (lw->a)
		archive_write_free(lw->a);
	if (lw->e)
		archive_entry_free(lw->e);
	compressor_free(lw->cz);
	blob_writer_free(lw->bw);
	sha256_release(&lw->diff);
	for (size_t i = 0; i < lw->inos_cap; i++)
		free(lw->inos[i].name);
	free(lw->inos);
	if (lw->cached_fd >= 0)
		close(lw->cached_fd);
	free(lw->cached_parent);
	kiln_err_free(lw->cb_err);
	free(lw->copybuf);
	free(lw);
	return NULL;
}
