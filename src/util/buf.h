/* buf.h — growable, always NUL-terminated byte buffer (never NULL after init). */
#pragma once

#include "macro.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct kiln_buf {
	char *ptr; /* points at a static "" until the first byte is added */
	size_t len;
	size_t cap;
};

extern char kiln_buf_empty[];
#define KILN_BUF_INIT                                     \
	{                                                 \
		.ptr = kiln_buf_empty, .len = 0, .cap = 0 \
	}

void kiln_buf_init(struct kiln_buf *b);
void kiln_buf_release(struct kiln_buf *b);
void kiln_buf_reset(struct kiln_buf *b);
void kiln_buf_grow(struct kiln_buf *b, size_t extra);
void kiln_buf_add(struct kiln_buf *b, const void *data, size_t len);
void kiln_buf_adds(struct kiln_buf *b, const char *s);
void kiln_buf_addch(struct kiln_buf *b, char c);
void kiln_buf_addf(struct kiln_buf *b, const char *fmt, ...) _printf_(2, 3);
void kiln_buf_vaddf(struct kiln_buf *b, const char *fmt, va_list ap) _printf_(2, 0);
void kiln_buf_truncate(struct kiln_buf *b, size_t len);
/* s quoted as Go's %q does for the characters logs and messages carry (json: as a JSON string,
 * with < > & escaped as Go's encoder does) */
void kiln_buf_add_quoted(struct kiln_buf *b, const char *s, bool json);
/* gives the heap string to the caller (a fresh "" when empty); the buffer is re-initialised */
char *kiln_buf_detach(struct kiln_buf *b, size_t *ret_len);

static inline void kiln_buf_releasep(struct kiln_buf *b)
{
	kiln_buf_release(b);
}
#define cleanup_buf _cleanup_(kiln_buf_releasep)
