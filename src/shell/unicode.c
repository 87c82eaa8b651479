/* unicode.c — UTF-8 reading and Unicode classes for the shell lexer. */
#include "unicode.h"
#include "util/utf8.h"

int32_t sh_utf8_decode(const char *str, size_t n, size_t *ret_len)
{
	int32_t cp = utf8_decode(str, n, ret_len);
	/* an invalid byte b stands as -1 - b, so it still compares only with itself */
	return cp < 0 ? -1 - (int32_t)(unsigned char)str[0] : cp;
}

static bool in_ranges(const struct sh_uni_range *r, size_t n, int32_t cp)
{
	size_t lo = 0, hi = n;
	if (cp < 0)
		return false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((uint32_t)cp < r[mid].lo)
			hi = mid;
		else if ((uint32_t)cp > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

bool sh_uni_isletter(int32_t cp)
{
	return in_ranges(sh_uni_letter, sh_uni_letter_n, cp);
}

bool sh_uni_isdigit(int32_t cp)
{
	return in_ranges(sh_uni_digit, sh_uni_digit_n, cp);
}

bool sh_uni_isspace(int32_t cp)
{
	return unicode_isspace(cp);
}
