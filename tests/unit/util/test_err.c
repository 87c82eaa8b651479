/* test_err.c — error construction and wrapping read outermost first. */
#include "harness.h"
#include "util/err.h"

static int inner(struct kiln_err **err)
{
	errno = ENOENT;
	return kiln_err_errno(err, "open '%s'", "/x");
}

TEST(err_wrap_reads_outermost_first)
{
	cleanup_err struct kiln_err *err = NULL;
	int r = inner(&err);
	ASSERT_EQ(r, -ENOENT);
	kiln_err_wrap(&err, "pull '%s'", "img");
	ASSERT_STREQ(err->msg, "pull 'img': open '/x': No such file or directory");
	ASSERT_EQ(err->code, ENOENT);
}

TEST(err_null_is_allowed)
{
	ASSERT_TRUE(kiln_err_set(NULL, "x") < 0);
	ASSERT_STREQ(kiln_err_msg(NULL), "unknown error");
}

TEST(err_exit_status_kept)
{
	cleanup_err struct kiln_err *err = NULL;
	kiln_err_exit(&err, 42, "RUN exit 42: exit status 42");
	kiln_err_wrap(&err, "build");
	ASSERT_EQ(err->exit_status, 42);
}

TEST(err_kinds)
{
	cleanup_err struct kiln_err *os = NULL, *http = NULL, *lim = NULL, *gen = NULL, *ex = NULL;
	inner(&os);
	ASSERT_EQ(os->kind, KILN_ERR_OS);
	ASSERT_EQ(kiln_err_http_status(os), 0);

	ASSERT_EQ(kiln_err_http(&http, 404, "GET %s: 404 Not Found", "https://x/y"), -1);
	kiln_err_wrap(&http, "fetch '%s'", "y");
	ASSERT_EQ(http->kind, KILN_ERR_HTTP);
	ASSERT_EQ(kiln_err_http_status(http), 404);
	ASSERT_STREQ(http->msg, "fetch 'y': GET https://x/y: 404 Not Found");

	ASSERT_EQ(kiln_err_limit(&lim, "body larger than %d bytes", 10), -EFBIG);
	ASSERT_EQ(lim->kind, KILN_ERR_LIMIT);
	ASSERT_EQ(lim->code, EFBIG);

	ASSERT_EQ(kiln_err_exit(&ex, 3, "exit status 3"), -1);
	ASSERT_EQ(ex->kind, KILN_ERR_EXIT);
	ASSERT_EQ(kiln_err_http_status(NULL), 0);

	/* a new message on an existing error is a new error: the old kind and status go */
	kiln_err_http(&gen, 500, "GET x: 500 Internal Server Error");
	kiln_err_set(&gen, "something else");
	ASSERT_EQ(gen->kind, KILN_ERR_GENERIC);
	ASSERT_EQ(kiln_err_http_status(gen), 0);
}
