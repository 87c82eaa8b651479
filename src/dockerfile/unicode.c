/* unicode.c — UTF-8 decoding and the Unicode classes used by the Dockerfile parser and dump. */
#include "unicode.h"
#include "util/utf8.h"

int32_t df_utf8_decode(const char *str, size_t n, size_t *ret_len)
{
	return utf8_decode(str, n, ret_len);
}

bool df_uni_isspace(int32_t cp)
{
	return unicode_isspace(cp);
}

bool df_uni_isprint(int32_t cp)
{
	size_t lo = 0, hi = df_uni_print_n;

	if (cp < 0)
		return false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((uint32_t)cp < df_uni_print[mid].lo)
			hi = mid;
		else if ((uint32_t)cp > df_uni_print[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}
