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

/* the entry in its directory, not followed: what the path functions on the entry read */
TEST(xattr_at_reads_the_entry_not_its_target)
{
	char dir[] = "/dev/shm/kiln-xattr-at.XXXXXX";
	ASSERT_TRUE(mkdtemp(dir) != NULL);
	cleanup_free char *file = path_join(dir, "file");
	cleanup_free char *bare = path_join(dir, "bare");
	cleanup_free char *link = path_join(dir, "link");
	ASSERT_EQ(write_file_atomic(file, "x", 1, 0644, NULL), 0);
	ASSERT_EQ(write_file_atomic(bare, "", 0, 0644, NULL), 0);
	ASSERT_EQ(symlink("file", link), 0);
	int r = setxattr(file, "user.one", "1", 1, 0);
	int e = errno;
	if (r < 0) {
		unlink(file);
		unlink(bare);
		unlink(link);
		rmdir(dir);
		if (e == ENOTSUP || e == EOPNOTSUPP)
			SKIP("user xattrs on tmpfs need Linux 6.6");
		ASSERT_EQ(e, 0);
	}
	ASSERT_EQ(setxattr(file, "user.two", "22", 2, 0), 0);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_TRUE(dfd >= 0);
	cleanup_free char *names = NULL, *v = NULL, *none = NULL, *lnames = NULL, *gone = NULL;
	ssize_t n = xattr_list_at(dfd, "file", &names);
	ssize_t vn = xattr_get_at(dfd, "file", "user.two", &v);
	ssize_t bn = xattr_list_at(dfd, "bare", &none);
	ssize_t ln = xattr_list_at(dfd, "link", &lnames); /* the link's own: none */
	ssize_t mn = xattr_get_at(dfd, "file", "user.missing", &gone);
	ssize_t en = xattr_list_at(dfd, "no-such-entry", &gone);
	close(dfd);
	unlink(file);
	unlink(bare);
	unlink(link);
	rmdir(dir);
	ASSERT_EQ(n, strlen("user.one") + 1 + strlen("user.two") + 1);
	ASSERT_TRUE(memmem(names, (size_t)n, "user.two", 9) != NULL);
	ASSERT_EQ(vn, 2);
	ASSERT_STREQ(v, "22");
	ASSERT_EQ(bn, 0);
	ASSERT_TRUE(none == NULL);
	ASSERT_TRUE(ln <= 0 || memmem(lnames, (size_t)ln, "user.one", 9) == NULL);
	ASSERT_EQ(mn, -ENODATA);
	ASSERT_EQ(en, -ENOENT);
}
