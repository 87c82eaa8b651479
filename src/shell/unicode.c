/* unicode.c — UTF-8 reading and Unicode classes for the shell lexer. */
#include "unicode.h"

int32_t sh_utf8_decode(const char *str, size_t n, size_t *ret_len)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t cp, min;
	size_t len;

	*ret_len = 1;
	if (s[0] < 0x80)
		return s[0];
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return -1 - s[0];
	if (n < len)
		return -1 - s[0];
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1 - s[0];
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return -1 - s[0];
	*ret_len = len;
	return (int32_t)cp;
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
	switch (cp) {
	case '\t':
	case '\n':
	case '\v':
	case '\f':
	case '\r':
	case ' ':
	case 0x85:
	case 0xa0:
	case 0x1680:
	case 0x2028:
	case 0x2029:
	case 0x202f:
	case 0x205f:
	case 0x3000:
		return true;
	default:
		return cp >= 0x2000 && cp <= 0x200a;
	}
}
