/* blobstore.h — the content-addressed store ($KANIKO_DIR/blobs/sha256/<hex>) that pulls,
 * built layers, configs and manifests all live in (DESIGN §1). */
#pragma once

#include "err.h"
#include "sha256.h"

#include <stdbool.h>
#include <stdint.h>

struct blobstore;
struct blob_writer;

/* opens (creating) <dir>/blobs/sha256. Every open store holds <dir>/blobs/lock shared (flock)
 * until it is freed: that is how blobstore_trim knows no other kiln process is using a blob. */
int blobstore_open(const char *dir, struct blobstore **ret, struct kiln_err **err);
struct blobstore *blobstore_free(struct blobstore *bs);
const char *blobstore_dir(const struct blobstore *bs);

bool blobstore_has(struct blobstore *bs, const char *digest, uint64_t *ret_size);
/* heap path of the blob file (it need not exist) */
char *blobstore_path(struct blobstore *bs, const char *digest);
int blobstore_open_read(struct blobstore *bs, const char *digest, int *ret_fd,
                        struct kiln_err **err);
/* reads a small blob whole (max bytes at most) */
int blobstore_read(struct blobstore *bs, const char *digest, size_t max, char **ret,
                   size_t *ret_len, struct kiln_err **err);
/* stores a buffer; writes its digest */
int blobstore_put(struct blobstore *bs, const void *data, size_t len,
                  char ret_digest[DIGEST_STRING_LEN + 1], struct kiln_err **err);

/* streaming writer: bytes are hashed as they are written to a temporary file, which commit
 * renames into place. Freed without commit, the temporary file is removed. */
int blob_writer_new(struct blobstore *bs, struct blob_writer **ret, struct kiln_err **err);
int blob_writer_write(struct blob_writer *w, const void *data, size_t len, struct kiln_err **err);
uint64_t blob_writer_size(const struct blob_writer *w);
/* expected may be NULL; a mismatch is an error and nothing is stored */
int blob_writer_commit(struct blob_writer *w, const char *expected,
                       char ret_digest[DIGEST_STRING_LEN + 1], uint64_t *ret_size,
                       struct kiln_err **err);
struct blob_writer *blob_writer_free(struct blob_writer *w);

/* The store is bounded by size with least-recently-used eviction. A blob is "used" when it is
 * written or opened for reading (its mtime is set to now then: content-addressed files never
 * change, and atime is unreliable under noatime/relatime). */
struct blobstore_trim_stats {
	bool skipped;     /* another process has the store open: nothing was removed */
	uint64_t removed; /* blobs (and stale temporary files) removed */
	uint64_t freed;   /* their bytes */
	uint64_t kept;    /* bytes left */
	uint64_t kept_n;  /* blobs left */
};
/* Removes least recently used blobs until the store holds at most limit bytes (0: empties it),
 * and temporary files that crashed writers left. Only when no other process has the store
 * open (the lock is taken exclusively, without waiting; stats->skipped otherwise): a running
 * build never loses a blob it reads or writes. The caller must be done with its own blobs. */
int blobstore_trim(struct blobstore *bs, uint64_t limit, struct blobstore_trim_stats *ret,
                   struct kiln_err **err);

DEFINE_FREEP(struct blobstore, blobstore_free)
DEFINE_FREEP(struct blob_writer, blob_writer_free)
