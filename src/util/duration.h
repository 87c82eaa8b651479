/* duration.h — Go-style durations ("1h30m", "336h0m0s", "250ms", "30s") as nanoseconds. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* false on a malformed value or overflow */
bool duration_parse(const char *s, int64_t *ret_ns);
