/* shell.h — BuildKit-compatible expansion of Dockerfile words: quotes, escapes and the
 * $x ${x} ${x:-d} ${x-d} ${x:+d} ${x+d} ${x:?msg} ${x?msg} ${x#p} ${x##p} ${x%p} ${x%%p}
 * ${x/p/r} ${x//p/r} forms, with a configurable escape character ('\\' or '`').
 *
 * env holds "KEY=VALUE" strings (an entry without '=' sets KEY to the empty string). Names are
 * case-sensitive. When a key appears twice the LAST entry wins, as an ENV that redefines a
 * variable does (the conformance data has no duplicates, so it does not decide this).
 * Unset variables expand to "". Results longer than LIMIT_WORD are an error. */
#pragma once

#include "util/err.h"

#include <stddef.h>

/* one word, no splitting (BuildKit ProcessWord): WORKDIR $x, ENV a=$b, ... */
int shell_expand_word(const char *word, char *const *env, char escape, char **ret,
                      struct kiln_err **err);
/* expands and splits into words (BuildKit ProcessWords): white space splits when it comes
 * from unquoted literal text or from an unquoted $ expansion; never from quotes or an
 * escaped white space character; empty words are dropped. *ret is NULL-terminated. */
int shell_expand_words(const char *word, char *const *env, char escape, char ***ret,
                       struct kiln_err **err);

/* the value of the variable name (nl bytes, not NUL-terminated), or NULL when it is unset */
typedef const char *(*shell_lookup_fn)(void *ud, const char *name, size_t nl);
/* the same two, with variables from a look-up function instead of a list (the caller keeps
 * a map: each reference costs O(1) however many variables there are) */
int shell_expand_word_fn(const char *word, shell_lookup_fn lookup, void *ud, char escape,
                         char **ret, struct kiln_err **err);
int shell_expand_words_fn(const char *word, shell_lookup_fn lookup, void *ud, char escape,
                          char ***ret, struct kiln_err **err);
