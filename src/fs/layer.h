/* layer.h — writes a layer blob in one streaming pass: tar entries → compressor → two SHA-256
 * (uncompressed → diff_id, compressed → digest) → blob store. Memory does not grow with the
 * layer's size (only with the number of hard-linked inodes). */
#pragma once

#include "util/blobstore.h"
#include "util/err.h"
#include "util/sha256.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

enum fs_compression {
	FS_GZIP,
	FS_ZSTD,
};

struct layer_info {
	char digest[DIGEST_STRING_LEN + 1];  /* of the compressed blob */
	char diff_id[DIGEST_STRING_LEN + 1]; /* of the uncompressed tar */
	uint64_t size;                       /* compressed */
};

struct layer_writer;

/* level <= 0: the default — gzip 6 (libdeflate; docs/fs.md), zstd 3. Compression runs on
 * compress_default_threads() threads (compress.h); the output does not depend on their number. */
int layer_writer_new(struct blobstore *bs, enum fs_compression c, int level,
                     struct layer_writer **ret, struct kiln_err **err);

/* Entry mtimes (whiteouts always have mtime 0):
 *   reproducible                  every mtime is source_date_epoch when > 0, else 0 (kaniko's
 *                                 --reproducible);
 *   !reproducible, epoch > 0      clamped as BuildKit does with SOURCE_DATE_EPOCH: an mtime
 *                                 newer than the epoch is written as the epoch, an older one
 *                                 is kept (so files a step did not make keep their dates);
 *   !reproducible, epoch <= 0     the files' own mtimes (whole seconds).
 * The default is the last. */
void layer_writer_set_times(struct layer_writer *lw, bool reproducible, int64_t source_date_epoch);

/* SOURCE_DATE_EPOCH from the environment, for layer_writer_set_times: unset or empty → 0 (no
 * epoch); a decimal number of seconds (digits only, at most 253402300799, the end of year
 * 9999) → that number; anything else is an error (-1, err set) rather than silently ignored.
 * "0" is returned as 0 and therefore means no clamping. */
int64_t fs_source_date_epoch(struct kiln_err **err);

/* Entries are written in the order the caller adds them: callers add parents before children
 * and sorted paths (byte order) for reproducible layers. Headers are deterministic: PAX
 * (restricted: extended headers only where ustar cannot hold a value), whole-second mtimes, no
 * atime/ctime, numeric uid/gid only (no uname/gname), names never start with '/', directories
 * end with '/'. The root itself ("/") is never written. */

/* Adds the path (absolute in the root, e.g. "/etc/passwd") as it is on disk under rootfd
 * (parent directories resolved inside the root): type, mode, uid, gid, mtime, size, content,
 * link target, xattrs (all but security.selinux, as SCHILY.xattr.*), device numbers. A regular
 * file with nlink > 1 whose (dev, ino) was already written in this layer becomes a hardlink
 * entry whose target is relative to the root. Sockets are skipped. */
int layer_writer_add_path(struct layer_writer *lw, int rootfd, const char *path,
                          struct kiln_err **err);

/* adds a whiteout entry for path (".wh.<base>" in its parent), mode 0, uid/gid 0, mtime 0 */
int layer_writer_add_whiteout(struct layer_writer *lw, const char *path, struct kiln_err **err);

/* Adds an entry with explicit metadata and content from an fd (COPY streams context files
 * straight into the layer): st supplies type, mode, uid, gid, size, mtime and st_rdev; for
 * symlinks link_target is the target; for a regular file a non-NULL link_target (absolute in
 * the root) makes a hardlink entry; otherwise fd is read for st_size bytes. */
int layer_writer_add_entry(struct layer_writer *lw, const char *path, const struct stat *st,
                           const char *link_target, int fd, struct kiln_err **err);

/* finishes the tar, flushes the compressor, commits the blob; fills info */
int layer_writer_finish(struct layer_writer *lw, struct layer_info *ret, struct kiln_err **err);

/* without finish: discards */
struct layer_writer *layer_writer_free(struct layer_writer *lw);

DEFINE_FREEP(struct layer_writer, layer_writer_free)
