/* xalloc.h — allocation that aborts on out-of-memory, and overflow-checked sizes. */
#pragma once

#include "macro.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

_noreturn_ void xalloc_die(void);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
char *xvasprintf(const char *fmt, va_list ap) _printf_(1, 0);

/* overflow-checked arithmetic; false on overflow */
static inline bool size_add(size_t a, size_t b, size_t *ret)
{
	return !__builtin_add_overflow(a, b, ret);
}
static inline bool size_mul(size_t a, size_t b, size_t *ret)
{
	return !__builtin_mul_overflow(a, b, ret);
}

/* grow *p (holding *cap elements of size) to at least n elements */
#define XGROW(p, n, cap)                                             \
	do {                                                         \
		if ((size_t)(n) > (cap)) {                           \
			size_t _nc = (cap) ? (cap)*2 : 8;            \
			while (_nc < (size_t)(n))                    \
				_nc *= 2;                            \
			(p) = xreallocarray((p), _nc, sizeof(*(p))); \
			(cap) = _nc;                                 \
		}                                                    \
	} while (0)
