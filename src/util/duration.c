/* duration.c — parses Go's time.ParseDuration syntax (used by kaniko's flags and by
 * HEALTHCHECK options). */
#include "duration.h"
#include "macro.h"

#include <string.h>

static const struct {
	const char *unit;
	int64_t ns;
} units[] = {
    {"ns", 1},           {"us", 1000},         {"µs", 1000},           {"ms", 1000000},
    {"s", 1000000000LL}, {"m", 60000000000LL}, {"h", 3600000000000LL},
};

bool duration_parse(const char *s, int64_t *ret_ns)
{
	bool neg = false;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (streq(s, "0")) {
		*ret_ns = 0;
		return true;
	}
	if (!*s)
		return false;
	double total = 0;
	while (*s) {
		if (!(*s >= '0' && *s <= '9') && *s != '.')
			return false;
		double v = 0, scale = 1;
		bool digits = false, frac = false;
		for (; (*s >= '0' && *s <= '9') || *s == '.'; s++) {
			if (*s == '.') {
				if (frac)
					return false;
				frac = true;
				continue;
			}
			digits = true;
			if (frac) {
				scale /= 10;
				v += (*s - '0') * scale;
			} else {
				v = v * 10 + (*s - '0');
			}
		}
		if (!digits)
			return false;
		size_t best = 0;
		int64_t mult = 0;
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			size_t n = strlen(units[i].unit);
			if (strncmp(s, units[i].unit, n) == 0 && n > best) {
				best = n;
				mult = units[i].ns;
			}
		}
		if (!best)
			return false;
		s += best;
		total += v * (double)mult;
		if (total > 9.2e18)
			return false;
	}
	*ret_ns = (int64_t)(neg ? -total : total);
	return true;
}
