/* err.c — construction, wrapping and release of struct kiln_err. */
#include "err.h"
#include "xalloc.h"

#include <stdarg.h>
#include <string.h>

static struct kiln_err *err_get(struct kiln_err **err)
{
	if (!*err)
		*err = xcalloc(1, sizeof(**err));
	return *err;
}

_printf_(3, 0) static void err_vset(struct kiln_err **err, int errnum, const char *fmt, va_list ap)
{
	struct kiln_err *e = err_get(err);
	/* a new message is a new error: nothing of the previous one's kind survives */
	e->kind = errnum > 0 ? KILN_ERR_OS : KILN_ERR_GENERIC;
	e->exit_status = 0;
	e->http_status = 0;
	char *m = xvasprintf(fmt, ap);
	free(e->msg);
	if (errnum > 0) {
		e->msg = xasprintf("%s: %s", m, strerror(errnum));
		free(m);
	} else {
		e->msg = m;
	}
	e->code = errnum;
}

int kiln_err_set(struct kiln_err **err, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	err_vset(err, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int kiln_err_errnum(struct kiln_err **err, int errnum, const char *fmt, ...)
{
	if (errnum <= 0)
		errnum = EIO;
	if (!err)
		return -errnum;
	va_list ap;
	va_start(ap, fmt);
	err_vset(err, errnum, fmt, ap);
	va_end(ap);
	return -errnum;
}

int kiln_err_errno(struct kiln_err **err, const char *fmt, ...)
{
	int errnum = errno > 0 ? errno : EIO;
	if (!err)
		return -errnum;
	va_list ap;
	va_start(ap, fmt);
	err_vset(err, errnum, fmt, ap);
	va_end(ap);
	return -errnum;
}

int kiln_err_exit(struct kiln_err **err, int status, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	err_vset(err, 0, fmt, ap);
	va_end(ap);
	(*err)->kind = KILN_ERR_EXIT;
	(*err)->exit_status = status;
	return -1;
}

int kiln_err_http(struct kiln_err **err, int status, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	err_vset(err, 0, fmt, ap);
	va_end(ap);
	(*err)->kind = KILN_ERR_HTTP;
	(*err)->http_status = status;
	return -1;
}

int kiln_err_limit(struct kiln_err **err, const char *fmt, ...)
{
	if (!err)
		return -EFBIG;
	va_list ap;
	va_start(ap, fmt);
	err_vset(err, 0, fmt, ap);
	va_end(ap);
	(*err)->kind = KILN_ERR_LIMIT;
	(*err)->code = EFBIG;
	return -EFBIG;
}

int kiln_err_wrap(struct kiln_err **err, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	char *ctx = xvasprintf(fmt, ap);
	va_end(ap);
	struct kiln_err *e = err_get(err);
	char *m = xasprintf("%s: %s", ctx, e->msg ? e->msg : "unknown error");
	free(ctx);
	free(e->msg);
	e->msg = m;
	return e->code > 0 ? -e->code : -1;
}

struct kiln_err *kiln_err_free(struct kiln_err *e)
{
	if (e) {
		free(e->msg);
		free(e);
	}
	return NULL;
}

const char *kiln_err_msg(const struct kiln_err *e)
{
	return e && e->msg ? e->msg : "unknown error";
}

int kiln_err_http_status(const struct kiln_err *e)
{
	return e && e->kind == KILN_ERR_HTTP ? e->http_status : 0;
}
