/* err.h — the one error object every fallible function reports through (STYLE.md "Errors"). */
#pragma once

#include "macro.h"

/* What failed, for callers that decide on it (retry, fall back, exit status) instead of on the
 * message text. kiln_err_wrap keeps the kind; setting a new message resets it. */
enum kiln_err_kind {
	KILN_ERR_GENERIC = 0, /* nothing finer is known */
	KILN_ERR_OS,          /* a system call failed: code holds the errno value */
	KILN_ERR_HTTP,        /* a server answered with an error status: http_status holds it */
	KILN_ERR_LIMIT,       /* a size bound (util/limits.h, a buffer's maximum) was exceeded */
	KILN_ERR_EXIT,        /* a command exited unsuccessfully: exit_status holds its status */
};

struct kiln_err {
	enum kiln_err_kind kind;
	int code;        /* errno value, or 0 */
	int exit_status; /* process exit status to propagate (a failed RUN), 0 when none */
	int http_status; /* the HTTP status of a KILN_ERR_HTTP error, 0 otherwise */
	char *msg;       /* outermost context first: "pull 'x': GET /v2/: 401 Unauthorized" */
};

/* Each returns a negative value so that `return kiln_err_*(err, ...)` reads naturally.
 * err may be NULL: the message is then dropped. */
int kiln_err_set(struct kiln_err **err, const char *fmt, ...) _printf_(2, 3);
/* appends ": <strerror(errno)>" and records errno; returns -errno */
int kiln_err_errno(struct kiln_err **err, const char *fmt, ...) _printf_(2, 3);
/* same with an explicit errno value (positive) */
int kiln_err_errnum(struct kiln_err **err, int errnum, const char *fmt, ...) _printf_(3, 4);
/* prefixes "<fmt>: " to an existing error (or sets one) */
int kiln_err_wrap(struct kiln_err **err, const char *fmt, ...) _printf_(2, 3);
/* marks the error with an exit status to propagate (failed RUN) */
int kiln_err_exit(struct kiln_err **err, int status, const char *fmt, ...) _printf_(3, 4);
/* an error status answered by an HTTP server (kind KILN_ERR_HTTP); the message should name it */
int kiln_err_http(struct kiln_err **err, int status, const char *fmt, ...) _printf_(3, 4);
/* a size bound was exceeded (kind KILN_ERR_LIMIT, code EFBIG); returns -EFBIG */
int kiln_err_limit(struct kiln_err **err, const char *fmt, ...) _printf_(2, 3);

struct kiln_err *kiln_err_free(struct kiln_err *e);
static inline void kiln_err_freep(struct kiln_err **e)
{
	kiln_err_free(*e);
}
#define cleanup_err _cleanup_(kiln_err_freep)

/* message of an error, or "unknown error" */
const char *kiln_err_msg(const struct kiln_err *e);
/* the HTTP status of an error a server answered (KILN_ERR_HTTP), else 0; e may be NULL */
int kiln_err_http_status(const struct kiln_err *e);
