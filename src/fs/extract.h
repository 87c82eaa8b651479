/* extract.h — applies image layers onto a root directory the Docker/OCI way: every entry type,
 * numeric owners, modes, mtimes, xattrs, whiteouts and opaque directories, never writing
 * outside the root. */
#pragma once

#include "util/err.h"

#include <stdbool.h>

struct extract_opts {
	/* true when path (absolute inside the root, e.g. "/proc") must not be written; ignored
	 * paths are also never removed by whiteouts or replacements. May be NULL. */
	bool (*ignored)(const char *path, void *ud);
	void *ud;
	bool no_chown; /* when not root: keep the extracting user as owner */
	/* ADD of a local archive: the archive's own root entry ("./") changes nothing, so the
	 * destination keeps the owner and mode it was made or found with (Docker) */
	bool keep_root_meta;
	/* when set, the layer bytes read so far are reported to it (util/progress.h) */
	struct progress *progress;
};

/* Applies one layer (fd of a gzip, zstd or plain tar — detected by magic bytes) onto the
 * directory rootfd. layer_name is used in messages ("extract layer sha256:...: entry 'x': ...").
 *
 * Entry names: a leading '/' and './' are dropped (the name is always relative to the root, as
 * GNU tar and Docker read it); a name with a '..' component is refused, as are hardlink
 * targets and whiteouts with one. Parent directories are resolved with every symlink confined
 * to the root; missing parents are created (0755, root-owned). Directory modes and mtimes are
 * applied after all entries; a directory the layer writes into (or removes from) without
 * carrying an entry for it keeps the mtime it had before the layer. Whiteouts and opaque
 * markers only remove content from lower layers, never entries of this same layer. Device
 * nodes that cannot be created (EPERM) and xattrs the filesystem refuses (ENOTSUP, EPERM) are
 * skipped with a debug log line. A directory entry over an existing directory replaces its
 * xattrs: those the entry does not carry are removed (except security.selinux). */
int fs_extract_layer(int rootfd, int layer_fd, const char *layer_name,
                     const struct extract_opts *opts, struct kiln_err **err);

/* whether fd (rewound afterwards) holds a tar archive, plain or compressed with gzip, bzip2,
 * xz or zstd: what ADD unpacks. A compressed file that is not a tar is not an archive. */
bool fs_is_tar_archive(int fd);
