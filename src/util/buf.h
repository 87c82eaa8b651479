/* buf.h — growable, always NUL-terminated byte buffer (never NULL after init), bounded.
 *
 * Every buffer has a maximum length: KILN_BUF_MAX_DEFAULT unless set at init. The plain adders
 * treat the maximum as an invariant, like the xmalloc family treats memory: growing past it is
 * a bug that aborts with a message naming the bound, not a silent truncation. Buffers filled
 * from outside (network, files, child processes) set the bound of what they may hold and add
 * through kiln_buf_try_add, which fails with a KILN_ERR_LIMIT error instead. */
#pragma once

#include "macro.h"
#include "err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct kiln_buf {
	char *ptr; /* points at a static "" until the first byte is added */
	size_t len;
	size_t cap;
	size_t max; /* the longest len allowed; 0 means KILN_BUF_MAX_DEFAULT */
};

/* no buffer built from kiln's own data comes near it: reaching it means runaway growth */
#define KILN_BUF_MAX_DEFAULT ((size_t)256 << 20)

extern char kiln_buf_empty[];
#define KILN_BUF_INIT                                     \
	{                                                 \
		.ptr = kiln_buf_empty, .len = 0, .cap = 0 \
	}
#define KILN_BUF_INIT_MAX(m)                                          \
	{                                                             \
		.ptr = kiln_buf_empty, .len = 0, .cap = 0, .max = (m) \
	}

void kiln_buf_init(struct kiln_buf *b);
void kiln_buf_init_max(struct kiln_buf *b, size_t max);
/* the buffer's bound (KILN_BUF_MAX_DEFAULT when none was set) */
size_t kiln_buf_max(const struct kiln_buf *b);
/* appends data unless that would take the buffer past its maximum: then nothing is added and
 * the error is "'<what>' is larger than <max> bytes" (KILN_ERR_LIMIT, -EFBIG) */
int kiln_buf_try_add(struct kiln_buf *b, const void *data, size_t len, const char *what,
                     struct kiln_err **err);
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
/* gives the heap string to the caller (a fresh "" when empty); the buffer is re-initialised
 * (its maximum is kept, as it is by kiln_buf_release and kiln_buf_reset) */
char *kiln_buf_detach(struct kiln_buf *b, size_t *ret_len);

static inline void kiln_buf_releasep(struct kiln_buf *b)
{
	kiln_buf_release(b);
}
#define cleanup_buf _cleanup_(kiln_buf_releasep)
