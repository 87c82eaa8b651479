/* test_buf.c — struct kiln_buf and sha256 helpers. */
#include "harness.h"
#include "util/buf.h"
#include "util/sha256.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

TEST(buf_starts_empty_and_terminated)
{
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	ASSERT_TRUE(b.ptr != NULL);
	ASSERT_STREQ(b.ptr, "");
	kiln_buf_adds(&b, "abc");
	kiln_buf_addf(&b, "-%d-", 42);
	kiln_buf_addch(&b, 'z');
	ASSERT_STREQ(b.ptr, "abc-42-z");
	ASSERT_EQ(b.len, 8);
	kiln_buf_truncate(&b, 3);
	ASSERT_STREQ(b.ptr, "abc");
}

TEST(buf_grows_past_initial_capacity)
{
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	for (int i = 0; i < 10000; i++)
		kiln_buf_addch(&b, (char)('a' + i % 26));
	ASSERT_EQ(b.len, 10000);
	ASSERT_EQ(b.ptr[10000], 0);
	ASSERT_EQ(b.ptr[9999], 'a' + 9999 % 26);
}

TEST(buf_try_add_stops_at_the_maximum)
{
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT_MAX(8);
	cleanup_err struct kiln_err *err = NULL;
	ASSERT_EQ(kiln_buf_max(&b), 8);
	ASSERT_EQ(kiln_buf_try_add(&b, "12345", 5, "reply", &err), 0);
	ASSERT_EQ(kiln_buf_try_add(&b, "678", 3, "reply", &err), 0);
	ASSERT_TRUE(err == NULL);
	ASSERT_EQ(kiln_buf_try_add(&b, "9", 1, "reply", &err), -EFBIG);
	ASSERT_STREQ(err->msg, "'reply' is larger than 8 bytes");
	ASSERT_EQ(err->kind, KILN_ERR_LIMIT);
	/* nothing of the refused data was added */
	ASSERT_STREQ(b.ptr, "12345678");
	ASSERT_EQ(b.len, 8);
	/* the bound survives a reset and a release */
	kiln_buf_reset(&b);
	kiln_buf_release(&b);
	ASSERT_EQ(kiln_buf_max(&b), 8);
	struct kiln_buf d = KILN_BUF_INIT;
	ASSERT_EQ(kiln_buf_max(&d), KILN_BUF_MAX_DEFAULT);
}

TEST(buf_past_its_maximum_aborts_loudly)
{
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		/* the child's abort message is expected: keep it out of the TAP stream */
		if (!freopen("/dev/null", "w", stderr))
			_exit(3);
		struct kiln_buf b = KILN_BUF_INIT_MAX(4);
		kiln_buf_adds(&b, "1234");
		kiln_buf_addf(&b, "%d", 5); /* one byte too many */
		_exit(0);
	}
	int status = 0;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGABRT);
}

TEST(sha256_known_vectors)
{
	char d[DIGEST_STRING_LEN + 1];
	sha256_digest("", 0, d);
	ASSERT_STREQ(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_digest("abc", 3, d);
	ASSERT_STREQ(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ASSERT_TRUE(digest_valid(d));
	ASSERT_FALSE(digest_valid(
	    "sha256:BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	ASSERT_FALSE(digest_valid("sha256:abc"));
	ASSERT_FALSE(
	    digest_valid("md5:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}
