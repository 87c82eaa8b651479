/* blobstore.c — content-addressed blob files with atomic, digest-checked commits. */
#include "blobstore.h"
#include "fsutil.h"
#include "tmpclean.h"
#include "xalloc.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct blobstore {
	int dirfd;
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
	int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_errno(err, "open '%s'", d);
	struct blobstore *bs = xcalloc(1, sizeof(*bs));
	bs->dirfd = fd;
	bs->dir = TAKE_PTR(d);
	*ret = bs;
	return 0;
}

struct blobstore *blobstore_free(struct blobstore *bs)
{
	if (bs) {
		if (bs->dirfd >= 0)
			close(bs->dirfd);
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
	*ret_fd = fd;
	return 0;
}

int blobstore_read(struct blobstore *bs, const char *digest, size_t max, char **ret,
                   size_t *ret_len, struct kiln_err **err)
{
	if (!digest_valid(digest))
		return kiln_err_set(err, "invalid digest '%s'", digest);
	return read_file_at(bs->dirfd, digest_hex(digest), max, ret, ret_len, err);
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
