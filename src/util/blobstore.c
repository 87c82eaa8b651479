/* blobstore.c — content-addressed blob files with atomic, digest-checked commits. */
#include "blobstore.h"
#include "fsutil.h"
#include "tmpclean.h"
#include "xalloc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct blobstore {
	int dirfd;
	int lockfd; /* <dir>/blobs/lock, held shared while the store is open */
	char *dir;
};

struct blob_writer {
	struct blobstore *bs;
	int fd;
	char tmpname[64];
	int tmpslot; /* tmpclean registration: removed on SIGTERM/SIGINT/SIGHUP */
	struct sha256 hash;
	uint64_t size;
	bool committed;
};

int blobstore_open(const char *dir, struct blobstore **ret, struct kiln_err **err)
{
	cleanup_free char *d = path_join(dir, "blobs/sha256");
	int r = mkdir_p(d, 0755, err);
	if (r < 0)
		return r;
	cleanup_free char *lp = path_join(dir, "blobs/lock");
	cleanup_close int lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lockfd < 0)
		return kiln_err_errno(err, "open '%s'", lp);
	/* waits only while another process trims the store */
	while (flock(lockfd, LOCK_SH) < 0) {
		if (errno != EINTR)
			return kiln_err_errno(err, "lock '%s'", lp);
	}
	int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_errno(err, "open '%s'", d);
	struct blobstore *bs = xcalloc(1, sizeof(*bs));
	bs->dirfd = fd;
	bs->lockfd = TAKE_FD(lockfd);
	bs->dir = TAKE_PTR(d);
	*ret = bs;
	return 0;
}

struct blobstore *blobstore_free(struct blobstore *bs)
{
	if (bs) {
		if (bs->dirfd >= 0)
			close(bs->dirfd);
		if (bs->lockfd >= 0)
			close(bs->lockfd);
		free(bs->dir);
		free(bs);
	}
	return NULL;
}

const char *blobstore_dir(const struct blobstore *bs)
{
	return bs->dir;
}

bool blobstore_has(struct blobstore *bs, const char *digest, uint64_t *ret_size)
{
	if (!digest_valid(digest))
		return false;
	struct stat st;
	if (fstatat(bs->dirfd, digest_hex(digest), &st, 0) < 0 || !S_ISREG(st.st_mode))
		return false;
	if (ret_size)
		*ret_size = (uint64_t)st.st_size;
	return true;
}

char *blobstore_path(struct blobstore *bs, const char *digest)
{
	return path_join(bs->dir, digest_valid(digest) ? digest_hex(digest) : "invalid");
}

int blobstore_open_read(struct blobstore *bs, const char *digest, int *ret_fd,
                        struct kiln_err **err)
{
	if (!digest_valid(digest))
		return kiln_err_set(err, "invalid digest '%s'", digest);
	int fd = openat(bs->dirfd, digest_hex(digest), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_errno(err, "open blob %s", digest);
	futimens(fd, NULL); /* used now: last in line for eviction */
	*ret_fd = fd;
	return 0;
}

int blobstore_read(struct blobstore *bs, const char *digest, size_t max, char **ret,
                   size_t *ret_len, struct kiln_err **err)
{
	cleanup_close int fd = -1;
	int r = blobstore_open_read(bs, digest, &fd, err);
	if (r < 0)
		return r;
	return read_fd_all(fd, digest, max, ret, ret_len, err);
}

int blob_writer_new(struct blobstore *bs, struct blob_writer **ret, struct kiln_err **err)
{
	struct blob_writer *w = xcalloc(1, sizeof(*w));
	w->bs = bs;
	for (int attempt = 0;; attempt++) {
		uint64_t rnd = 0;
		int ufd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		if (ufd >= 0) {
			if (read(ufd, &rnd, sizeof(rnd)) < 0)
				rnd = 0;
			close(ufd);
		}
		rnd ^= (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)w ^ (uint64_t)attempt;
		snprintf(w->tmpname, sizeof(w->tmpname), ".tmp-%016llx", (unsigned long long)rnd);
		w->fd =
		    openat(bs->dirfd, w->tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (w->fd >= 0) {
			w->tmpslot = tmpclean_register(bs->dirfd, w->tmpname);
			break;
		}
		if (errno != EEXIST || attempt > 16) {
			int r = kiln_err_errno(err, "create temporary blob in '%s'", bs->dir);
			free(w);
			return r;
		}
	}
	sha256_init(&w->hash);
	*ret = w;
	return 0;
}

int blob_writer_write(struct blob_writer *w, const void *data, size_t len, struct kiln_err **err)
{
	int r = write_all(w->fd, data, len);
	if (r < 0)
		return kiln_err_errnum(err, -r, "write blob");
	sha256_update(&w->hash, data, len);
	w->size += len;
	return 0;
}

uint64_t blob_writer_size(const struct blob_writer *w)
{
	return w->size;
}

int blob_writer_commit(struct blob_writer *w, const char *expected,
                       char ret_digest[DIGEST_STRING_LEN + 1], uint64_t *ret_size,
                       struct kiln_err **err)
{
	char digest[DIGEST_STRING_LEN + 1];
	sha256_final_digest(&w->hash, digest);
	if (expected && !streq(expected, digest))
		return kiln_err_set(err, "digest mismatch: expected %s, got %s", expected, digest);
	if (close(TAKE_FD(w->fd)) < 0)
		return kiln_err_errno(err, "write blob %s", digest);
	if (renameat(w->bs->dirfd, w->tmpname, w->bs->dirfd, digest_hex(digest)) < 0)
		return kiln_err_errno(err, "store blob %s", digest);
	w->committed = true;
	tmpclean_forget(w->tmpslot);
	w->tmpslot = -1;
	if (ret_digest)
		memcpy(ret_digest, digest, sizeof(digest));
	if (ret_size)
		*ret_size = w->size;
	return 0;
}

struct blob_writer *blob_writer_free(struct blob_writer *w)
{
	if (!w)
		return NULL;
	if (w->fd >= 0)
		close(w->fd);
	if (!w->committed)
		unlinkat(w->bs->dirfd, w->tmpname, 0);
	tmpclean_forget(w->tmpslot);
	sha256_release(&w->hash);
	free(w);
	return NULL;
}

int blobstore_put(struct blobstore *bs, const void *data, size_t len,
                  char ret_digest[DIGEST_STRING_LEN + 1], struct kiln_err **err)
{
	char digest[DIGEST_STRING_LEN + 1];
	sha256_digest(data, len, digest);
	if (blobstore_has(bs, digest, NULL)) {
		memcpy(ret_digest, digest, sizeof(digest));
		return 0;
	}
	_cleanup_(blob_writer_freep) struct blob_writer *w = NULL;
	int r = blob_writer_new(bs, &w, err);
	if (r < 0)
		return r;
	r = blob_writer_write(w, data, len, err);
	if (r < 0)
		return r;
	return blob_writer_commit(w, digest, ret_digest, NULL, err);
}

struct trim_entry {
	char name[DIGEST_STRING_LEN];
	struct timespec used;
	uint64_t size;
};

static int cmp_used(const void *a, const void *b)
{
	const struct trim_entry *x = a, *y = b;
	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* the work of blobstore_trim, with the lock held exclusively */
static int trim_locked(struct blobstore *bs, uint64_t limit, struct blobstore_trim_stats *st,
                       struct kiln_err **err)
{
	cleanup_free struct trim_entry *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	int dfd = dup(bs->dirfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		int r = kiln_err_errno(err, "read the blob store '%s'", bs->dir);
		if (dfd >= 0)
			close(dfd);
		return r;
	}
	rewinddir(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat sb;
		if (fstatat(bs->dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		if (startswith(de->d_name, ".tmp-")) {
			/* no writer is running: a crashed one left it */
			if (unlinkat(bs->dirfd, de->d_name, 0) == 0) {
				st->removed++;
				st->freed += (uint64_t)sb.st_size;
			}
			continue;
		}
		if (strlen(de->d_name) != DIGEST_STRING_LEN - STRLEN("sha256:"))
			continue;
		XGROW(v, n + 1, cap);
		memcpy(v[n].name, de->d_name, strlen(de->d_name) + 1);
		v[n].used = sb.st_mtim;
		v[n].size = (uint64_t)sb.st_size;
		total += v[n].size;
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_used);
	size_t i = 0;
	for (; i < n && total > limit; i++) {
		if (unlinkat(bs->dirfd, v[i].name, 0) < 0 && errno != ENOENT)
			return kiln_err_errno(err, "remove blob sha256:%s", v[i].name);
		total -= v[i].size;
		st->removed++;
		st->freed += v[i].size;
	}
	st->kept_n = n - i;
	st->kept = total;
	return 0;
}

int blobstore_trim(struct blobstore *bs, uint64_t limit, struct blobstore_trim_stats *ret,
                   struct kiln_err **err)
{
	struct blobstore_trim_stats st = {0};
	/* Exclusive, without waiting: any other process with the store open holds it shared
	 * for its whole build, so holding it exclusively means no blob is being read or
	 * written by anyone else. flock converts shared to exclusive non-atomically, so the
	 * shared lock is taken again afterwards either way. */
	if (flock(bs->lockfd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		while (flock(bs->lockfd, LOCK_SH) < 0 && errno == EINTR)
			;
		if (e != EWOULDBLOCK && e != EINTR)
			return kiln_err_errnum(err, e, "lock the blob store '%s'", bs->dir);
		st.skipped = true;
		*ret = st;
		return 0;
	}
	int r = trim_locked(bs, limit, &st, err);
	while (flock(bs->lockfd, LOCK_SH) < 0 && errno == EINTR)
		;
	if (r >= 0)
		*ret = st;
	return r;
}
