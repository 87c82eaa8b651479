/* macro.h — cleanup attributes, ownership transfer and small helpers used everywhere. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define cleanup_free   _cleanup_(freep)
#define cleanup_close  _cleanup_(closep)
#define cleanup_fclose _cleanup_(fclosep)
/* cleanup_with(fn): fn takes a pointer to the variable, e.g. void foo_freep(struct foo **) */
#define cleanup_with(fn) _cleanup_(fn)

/* Declare `name##p` that calls `fn(*p)`, for types whose free function takes the pointer. */
#define DEFINE_FREEP(type, fn)             \
	static inline void fn##p(type **p) \
	{                                  \
		if (*p)                    \
			fn(*p);            \
	}

#define TAKE_PTR(p)                  \
	({                           \
		typeof(p) _tp = (p); \
		(p) = NULL;          \
		_tp;                 \
	})

#define TAKE_FD(fd)             \
	({                      \
		int _tf = (fd); \
		(fd) = -1;      \
		_tf;            \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STRLEN(s)     (sizeof(s) - 1)
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

#define streq(a, b)        (strcmp((a), (b)) == 0)
#define strneq(a, b, n)    (strncmp((a), (b), (n)) == 0)
#define startswith(s, pfx) (strncmp((s), (pfx), STRLEN(pfx)) == 0)

#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_     __attribute__((noreturn))
#define _unused_       __attribute__((unused))
