/* unicode.h — the little UTF-8 and Unicode classification the Dockerfile parser needs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct df_uni_range {
	uint32_t lo, hi;
};

extern const struct df_uni_range df_uni_print[];
extern const size_t df_uni_print_n;

/* Decodes one code point at s (n > 0 bytes available) the way Go does: an invalid or
 * truncated sequence gives -1 with *ret_len 1, so the caller can treat it as one raw byte. */
int32_t df_utf8_decode(const char *s, size_t n, size_t *ret_len);
/* Unicode White_Space, as Go's unicode.IsSpace */
bool df_uni_isspace(int32_t cp);
/* general category L, M, N, P or S, or U+0020, as Go's strconv.IsPrint */
bool df_uni_isprint(int32_t cp);
