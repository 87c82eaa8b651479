/* dockerignore.h — .dockerignore files: parsing, Docker's matching rules, and which file applies
 * (reference §3.5; Docker's "Build context" documentation). */
#pragma once

#include "util/err.h"

#include <stdbool.h>
#include <stddef.h>

struct dockerignore;

/* Parses the text of an ignore file the way Docker reads it: a UTF-8 BOM is dropped; a line whose
 * first byte is '#' is a comment; lines are trimmed of white space and blank ones skipped; a
 * leading '!' makes an exception; each pattern is cleaned like Go's filepath.Clean and a leading
 * '/' dropped; "**" matches any number of directories, otherwise filepath.Match syntax
 * ('*' '?' '[...]' '[^...]' and '\\' escapes). path_for_msgs only names the file in errors:
 * "'.dockerignore':3: bad pattern '[a'". */
int dockerignore_parse(const char *path_for_msgs, const char *text, size_t len,
                       struct dockerignore **ret, struct kiln_err **err);

/* Whether rel (relative to the context root, '/'-separated, cleaned, no leading '/') is excluded.
 * The last pattern that matches rel or one of its parent directories decides ("dir" excludes
 * "dir/x"); an exception re-includes. */
bool dockerignore_match(const struct dockerignore *di, const char *rel);

/* Whether some exception could re-include a path strictly below the directory rel, so that a walk
 * must descend into rel even though rel itself is excluded. May answer true when unsure. */
bool dockerignore_may_include_below(const struct dockerignore *di, const char *rel);

/* Whether the file has any exception ('!') pattern at all. */
bool dockerignore_has_exceptions(const struct dockerignore *di);

/* What a lookup found at one cleaned, symlink-free path relative to the root. */
enum dockerignore_ent {
	DOCKERIGNORE_ENT_MISSING, /* nothing there (or not a directory on the way) */
	DOCKERIGNORE_ENT_DIR,
	DOCKERIGNORE_ENT_LINK, /* a symbolic link; its target is written to the buffer */
	DOCKERIGNORE_ENT_OTHER,
};

/* Looks at path (relative to the root, "" is the root); for a link writes its target,
 * NUL-terminated, into buf of size bytes. Returns an enum dockerignore_ent, or -errno. */
typedef int (*dockerignore_lookup_fn)(void *ud, const char *path, char *buf, size_t size);

/* Resolves rel (as a COPY source names it) inside a root that holds only what the ignore file
 * lets through (di may be NULL: nothing is ignored), the way a lookup in BuildKit's filtered
 * context goes: '..' never climbs above the root, an absolute link target starts again at the
 * root, and every path the lookup reaches, through a link or not, is checked against the
 * patterns: an ignored one does not exist (an ignored directory may still be walked through
 * when an exception can re-include something below it). follow_last: resolve a link in the last
 * component too. On success *ret is the resolved path, cleaned, relative, free of links (but a
 * last one with !follow_last), "" for the root. Returns 0, -ENOENT (missing or ignored),
 * -ENOTDIR, -ELOOP (over 40 links), -ENAMETOOLONG, or the lookup's -errno. */
int dockerignore_resolve(const struct dockerignore *di, const char *rel, bool follow_last,
                         dockerignore_lookup_fn lookup, void *ud, char **ret);

struct dockerignore *dockerignore_free(struct dockerignore *di);
DEFINE_FREEP(struct dockerignore, dockerignore_free)
#define cleanup_dockerignore _cleanup_(dockerignore_freep)

/* Loads "<dockerfile_path>.dockerignore" when it exists (dockerfile_path may be NULL), else
 * "<context_dir>/.dockerignore", else sets *ret = NULL: nothing is ignored. Logs kaniko's
 * "Using dockerignore file: <path>". Either file larger than LIMIT_SMALL_FILE is an error. */
int dockerignore_load(const char *context_dir, const char *dockerfile_path,
                      struct dockerignore **ret, struct kiln_err **err);
