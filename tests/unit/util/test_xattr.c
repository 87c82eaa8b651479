/* test_xattr.c — xattrs read at their real size (a 16 KiB value on tmpfs). */
#include "harness.h"
#include "util/fsutil.h"
#include "util/xattr.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/xattr.h>
#include <unistd.h>

TEST(xattr_reads_values_larger_than_a_page)
{
	/* /dev/shm is a tmpfs: user.* xattrs of any size since Linux 6.6 (ext4 keeps them to
	 * one block) */
	char path[] = "/dev/shm/kiln-xattr-test.XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	size_t big = 16384;
	char *val = xmalloc(big);
	memset(val, 'v', big);
	int r = fsetxattr(fd, "user.big", val, big, 0);
	int e = errno;
	free(val);
	if (r < 0) {
		close(fd);
		unlink(path);
		if (e == ENOTSUP || e == EOPNOTSUPP)
			SKIP("user xattrs on tmpfs need Linux 6.6");
		ASSERT_EQ(e, 0);
	}
	ASSERT_EQ(fsetxattr(fd, "user.small", "s", 1, 0), 0);
	cleanup_free char *names = NULL, *v = NULL, *lv = NULL, *nv = NULL;
	ssize_t n = xattr_list(fd, NULL, &names);
	ssize_t vn = xattr_get(fd, NULL, "user.big", &v);
	ssize_t ln = xattr_get(-1, path, "user.big", &lv);
	ssize_t none = xattr_get(fd, NULL, "user.none", &nv);
	close(fd);
	unlink(path);
	ASSERT_EQ(n, strlen("user.big") + 1 + strlen("user.small") + 1);
	ASSERT_TRUE(memmem(names, (size_t)n, "user.big", 9) != NULL);
	ASSERT_EQ(vn, big);
	ASSERT_EQ(v[0], 'v');
	ASSERT_EQ(v[big - 1], 'v');
	ASSERT_EQ(v[big], '\0');
	ASSERT_EQ(ln, big);
	ASSERT_EQ(none, -ENODATA);
	ASSERT_TRUE(nv == NULL);
	ASSERT_EQ(lv[big - 1], 'v');
}
