/* err.h — the one error object every fallible function reports through (STYLE.md "Errors"). */
#pragma once

#include "macro.h"

struct kiln_err {
	int code;        /* errno value, or 0 */
	int exit_status; /* process exit status to propagate (a failed RUN), 0 when none */
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

struct kiln_err *kiln_err_free(struct kiln_err *e);
static inline void kiln_err_freep(struct kiln_err **e)
{
	kiln_err_free(*e);
}
#define cleanup_err _cleanup_(kiln_err_freep)

/* message of an error, or "unknown error" */
const char *kiln_err_msg(const struct kiln_err *e);
