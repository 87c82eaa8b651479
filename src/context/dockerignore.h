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

struct dockerignore *dockerignore_free(struct dockerignore *di);
DEFINE_FREEP(struct dockerignore, dockerignore_free)
#define cleanup_dockerignore _cleanup_(dockerignore_freep)

/* Loads "<dockerfile_path>.dockerignore" when it exists (dockerfile_path may be NULL), else
 * "<context_dir>/.dockerignore", else sets *ret = NULL: nothing is ignored. Logs kaniko's
 * "Using dockerignore file: <path>". Either file larger than LIMIT_SMALL_FILE is an error. */
int dockerignore_load(const char *context_dir, const char *dockerfile_path,
                      struct dockerignore **ret, struct kiln_err **err);
