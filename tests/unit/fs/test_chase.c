/* test_chase.c — the component-walk fallback of chase_open (KILN_NO_OPENAT2=1) on a path far
 * deeper than the descriptors it may hold, with '..' climbing back above the levels it keeps
 * open. */
#include "harness.h"

#include "fs/chase.h"
#include "util/buf.h"
#include "util/fsutil.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

TEST(chase_walk_deep_path_bounded_fds)
{
	cleanup_err struct kiln_err *err = NULL;
	char tmpl[] = "/tmp/kiln-test-chase-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	/* d/d/.../d (1,500 levels); at level 1,000 a file "mark"; at the bottom a link that
	 * climbs 500 levels back to it */
	size_t depth = 1500, up = 500;
	int fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = 1; i <= depth; i++) {
		ASSERT_EQ(mkdirat(fd, "d", 0755), 0);
		int sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ASSERT_TRUE(sub >= 0);
		close(fd);
		fd = sub;
		if (i == depth - up) {
			int m = openat(fd, "mark", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
			ASSERT_TRUE(m >= 0);
			ASSERT_EQ(write(m, "here", 4), 4);
			close(m);
		}
	}
	cleanup_buf struct kiln_buf target = KILN_BUF_INIT;
	for (size_t i = 0; i < up; i++)
		kiln_buf_adds(&target, "../");
	kiln_buf_adds(&target, "mark");
	ASSERT_EQ(symlinkat(target.ptr, fd, "link"), 0);
	close(fd);
	cleanup_buf struct kiln_buf path = KILN_BUF_INIT;
	for (size_t i = 0; i < depth; i++)
		kiln_buf_adds(&path, "d/");
	kiln_buf_adds(&path, "link");

	struct rlimit old, low;
	ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = (struct rlimit){.rlim_cur = 64, .rlim_max = old.rlim_max};
	ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	setenv("KILN_NO_OPENAT2", "1", 1);
	cleanup_close int root = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int got = chase_open(root, path.ptr, O_RDONLY, 0);
	unsetenv("KILN_NO_OPENAT2");
	setrlimit(RLIMIT_NOFILE, &old);
	ASSERT_TRUE(got >= 0);
	char buf[8] = {0};
	ssize_t n = read(got, buf, sizeof(buf) - 1);
	close(got);
	ASSERT_EQ(n, 4);
	ASSERT_STREQ(buf, "here");
	ASSERT_OK(rm_rf(tmpl, &err), err);
}
