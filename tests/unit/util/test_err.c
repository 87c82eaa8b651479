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
