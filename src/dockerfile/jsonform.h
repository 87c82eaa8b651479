/* jsonform.h — the exec (JSON) form of Dockerfile arguments, parsed as Go's encoding/json
 * would parse it into a list (internal to the dockerfile module). */
#pragma once

#include <stddef.h>

/* Returns 1 and the decoded strings (NULL-terminated, with byte lengths, since "\u0000" may
 * occur) when s (after leading white space) is one valid JSON array of strings; 0 when it is
 * not JSON at all (the caller falls back to the shell form); -1 when it is a valid JSON array
 * holding something other than strings (an error upstream too). */
int df_json_strings(const char *s, size_t len, char ***ret, size_t **ret_lens, size_t *ret_n);
