/* buf.c — struct kiln_buf. */
#include "buf.h"
#include "xalloc.h"

#include <stdio.h>
#include <string.h>

char kiln_buf_empty[1];

void kiln_buf_init(struct kiln_buf *b)
{
	b->ptr = kiln_buf_empty;
	b->len = 0;
	b->cap = 0;
	b->max = 0;
}

void kiln_buf_init_max(struct kiln_buf *b, size_t max)
{
	kiln_buf_init(b);
	b->max = max;
}

size_t kiln_buf_max(const struct kiln_buf *b)
{
	return b->max ? b->max : KILN_BUF_MAX_DEFAULT;
}

static void buf_reinit(struct kiln_buf *b)
{
	size_t max = b->max;
	kiln_buf_init(b);
	b->max = max;
}

void kiln_buf_release(struct kiln_buf *b)
{
	if (b->cap)
		free(b->ptr);
	buf_reinit(b);
}

_noreturn_ static void buf_over_max(const struct kiln_buf *b, size_t need)
{
	fprintf(stderr, "kiln: internal buffer of %zu bytes would grow past its maximum of %zu\n",
	        need, kiln_buf_max(b));
	abort();
}

void kiln_buf_reset(struct kiln_buf *b)
{
	b->len = 0;
	if (b->cap)
		b->ptr[0] = '\0';
}

void kiln_buf_grow(struct kiln_buf *b, size_t extra)
{
	size_t need;
	if (!size_add(b->len, extra, &need))
		xalloc_die();
	if (need > kiln_buf_max(b))
		buf_over_max(b, need);
	if (!size_add(need, 1, &need))
		xalloc_die();
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need) {
		if (!size_mul(cap, 2, &cap))
			xalloc_die();
	}
	/* no more than the bound allows (plus the NUL) */
	if (cap - 1 > kiln_buf_max(b))
		cap = kiln_buf_max(b) + 1;
	if (!b->cap) {
		b->ptr = xmalloc(cap);
		b->ptr[0] = '\0';
	} else {
		b->ptr = xrealloc(b->ptr, cap);
	}
	b->cap = cap;
}

void kiln_buf_add(struct kiln_buf *b, const void *data, size_t len)
{
	if (!len)
		return;
	kiln_buf_grow(b, len);
	memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
}

int kiln_buf_try_add(struct kiln_buf *b, const void *data, size_t len, const char *what,
                     struct kiln_err **err)
{
	if (len > kiln_buf_max(b) - b->len)
		return kiln_err_limit(err, "'%s' is larger than %zu bytes", what, kiln_buf_max(b));
	kiln_buf_add(b, data, len);
	return 0;
}

void kiln_buf_adds(struct kiln_buf *b, const char *s)
{
	kiln_buf_add(b, s, strlen(s));
}

void kiln_buf_addch(struct kiln_buf *b, char c)
{
	kiln_buf_add(b, &c, 1);
}

void kiln_buf_vaddf(struct kiln_buf *b, const char *fmt, va_list ap)
{
	/* most messages fit a stack buffer: one formatting pass */
	char small[256];
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(small, sizeof(small), fmt, cp);
	va_end(cp);
	if (n <= 0)
		return;
	if ((size_t)n < sizeof(small)) {
		kiln_buf_add(b, small, (size_t)n);
		return;
	}
	kiln_buf_grow(b, (size_t)n);
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void kiln_buf_addf(struct kiln_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kiln_buf_vaddf(b, fmt, ap);
	va_end(ap);
}

void kiln_buf_truncate(struct kiln_buf *b, size_t len)
{
	if (len >= b->len)
		return;
	b->len = len;
	b->ptr[len] = '\0';
}

char *kiln_buf_detach(struct kiln_buf *b, size_t *ret_len)
{
	char *p = b->cap ? b->ptr : xstrdup("");
	if (ret_len)
		*ret_len = b->len;
	buf_reinit(b);
	return p;
}

/* Go-style %q (and JSON string) escaping */
void kiln_buf_add_quoted(struct kiln_buf *b, const char *s, bool json)
{
	kiln_buf_addch(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '"':
			kiln_buf_adds(b, "\\\"");
			break;
		case '\\':
			kiln_buf_adds(b, "\\\\");
			break;
		case '\n':
			kiln_buf_adds(b, "\\n");
			break;
		case '\t':
			kiln_buf_adds(b, "\\t");
			break;
		case '\r':
			kiln_buf_adds(b, "\\r");
			break;
		default:
			if (json && (c == '<' || c == '>' || c == '&'))
				kiln_buf_addf(b, "\\u%04x", c);
			else if (c < 0x20 || c == 0x7f)
				kiln_buf_addf(b, json ? "\\u%04x" : "\\x%02x", c);
			else
				kiln_buf_addch(b, (char)c);
		}
	}
	kiln_buf_addch(b, '"');
}
