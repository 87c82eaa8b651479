/* unicode.h — code point reading and the classes that make up shell variable names. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sh_uni_range {
	uint32_t lo, hi;
};

extern const struct sh_uni_range sh_uni_letter[], sh_uni_digit[];
extern const size_t sh_uni_letter_n, sh_uni_digit_n;

/* one code point at s (n > 0); an invalid or truncated sequence is one byte, returned as
 * -1 - byte so it can never match a real character */
int32_t sh_utf8_decode(const char *s, size_t n, size_t *ret_len);
bool sh_uni_isletter(int32_t cp);
bool sh_uni_isdigit(int32_t cp);
/* Unicode White_Space, as Go's unicode.IsSpace */
bool sh_uni_isspace(int32_t cp);
