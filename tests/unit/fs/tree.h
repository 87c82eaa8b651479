/* tree.h — helpers for the fs tests: temporary directories, and a canonical text rendering of a
 * directory tree (type, mode, owner, size, content digest, link target, xattrs, hardlink
 * groups) so that two trees compare with one string comparison. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* mkdtemp under /tmp (or $KILN_TEST_TMPDIR); heap path */
char *tree_tmpdir(void);
/* rm -rf */
void tree_rm(const char *path);
/* canonical rendering of the tree under root (not including root); with_mtime adds mtimes */
char *tree_describe(const char *root, bool with_mtime);
/* writes a file (creating it) with content and mode */
int tree_write(const char *path, const char *content, unsigned mode);
/* sha256 of a file's bytes ("sha256:..."), or of its gunzipped/unzstd'ed bytes when decompress */
char *tree_file_digest(const char *path, bool decompress);
/* number of entries directly in dir, -1 if missing */
int tree_count(const char *dir);

/* one entry of a hand-made tar: type 'f' file (arg: content), 'd' directory, 'l' symlink
 * (arg: target), 'h' hardlink (arg: target), 'c' character device (arg: "major,minor");
 * names are written verbatim */
struct tar_ent {
	char type;
	const char *name;
	const char *arg;
	unsigned mode; /* 0: 0644 / 0755 */
	long long mtime;
};
/* writes a plain PAX tar of the entries (terminated by type 0); gzip when gz */
int tree_make_tar(const char *path, const struct tar_ent *ents, bool gz);
/* the same in GNU tar format: names and link targets over 100 bytes go into GNU 'L' / 'K'
 * long-name records instead of PAX headers */
int tree_make_tar_gnu(const char *path, const struct tar_ent *ents);
