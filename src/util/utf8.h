/* utf8.h — strict UTF-8 decoding and Go's unicode.IsSpace, shared by the Dockerfile parser,
 * the shell expander and the .dockerignore matcher (all follow Go's string handling). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* decodes the code point at s (n > 0 bytes) and sets *ret_len; an invalid sequence (overlong,
 * surrogate, past U+10FFFF, truncated) returns -1 with *ret_len = 1 */
int32_t utf8_decode(const char *s, size_t n, size_t *ret_len);
/* Go's unicode.IsSpace */
bool unicode_isspace(int32_t cp);
