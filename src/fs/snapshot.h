/* snapshot.h — the stat index of a root directory and the change set between two walks
 * (DESIGN §3): what a RUN created, changed or deleted, without reading file contents. */
#pragma once

#include "util/err.h"

#include <stdbool.h>
#include <stddef.h>

/* path -> {type, mode, uid, gid, size, mtime, ctime, ino, nlink, hash of the xattr names and
 * values}; the root itself is not indexed */
struct fs_index;

/* ignore: same callback shape as extract; ignored paths (and their subtrees) are not indexed */
int fs_index_build(int rootfd, bool (*ignored)(const char *path, void *ud), void *ud,
                   struct fs_index **ret, struct kiln_err **err);
struct fs_index *fs_index_free(struct fs_index *ix);
/* number of indexed paths */
size_t fs_index_size(const struct fs_index *ix);

enum fs_change_kind {
	FS_ADDED,
	FS_MODIFIED,
	FS_DELETED,
};

struct fs_change {
	char *path; /* absolute in the root: "/etc/passwd" */
	enum fs_change_kind kind;
};

struct fs_changes {
	struct fs_change *v;
	size_t n;
};

/* Walks the root again (with the ignore callback given to fs_index_build), compares it with
 * ix, returns the changes sorted by path (byte order), and replaces ix's content with the new
 * state (so the next diff is relative to now).
 *
 * Minimal deletions: a deleted directory is ONE FS_DELETED entry (no children); the children of
 * a directory replaced by a file or link produce no deletions. A path whose type changed is
 * FS_MODIFIED.
 *
 * mode (NULL means "full"):
 *   "full" — any change of type, mode, uid, gid, size, mtime, inode, xattrs (names and
 *            values) or ctime. ctime cannot be set from user space, so content changes hidden
 *            by a restored mtime show. A regular file whose only differences are ctime and
 *            link count (a hard link was made or removed) is not reported by itself. The index
 *            keeps no contents, so a file rewritten with identical bytes and its mtime restored
 *            is reported (never a missed change).
 *   "redo" — kaniko's: type, mode, uid, gid, size or mtime changed.
 *   "time" — kaniko's: mtime changed (misses chmod/chown-only changes, as kaniko does).
 * Directories are compared on type, mode, uid, gid, mtime, inode and (in "full") xattrs in
 * every mode except "time" (their ctime moves with every child).
 *
 * Hard links: when a regular file with more than one link is reported (added or modified),
 * every other path of the same inode is reported too (FS_MODIFIED), in every mode, so that the
 * layer holds them as one file and hard links made by a step survive extraction (an overlay
 * upper directory holds them for the same reason: copy-up). */
int fs_index_diff(struct fs_index *ix, int rootfd, const char *mode, struct fs_changes *ret,
                  struct kiln_err **err);
void fs_changes_release(struct fs_changes *c);

DEFINE_FREEP(struct fs_index, fs_index_free)
