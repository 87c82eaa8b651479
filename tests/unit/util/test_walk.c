/* test_walk.c — the iterative tree walk: order, post visits, a shadow tree, and a tree far
 * deeper than any stack or descriptor limit would allow a recursive walk. */
#include "harness.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/walk.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	size_t n = 0;
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

struct log_ud {
	struct kiln_buf log;
	size_t max_depth, max_fds, entries;
};

static int log_visit(struct walk_entry *e, void *ud, struct kiln_err **err)
{
	(void)err;
	struct log_ud *l = ud;
	l->entries += !e->post;
	if (e->depth > l->max_depth)
		l->max_depth = e->depth;
	size_t fds = open_fds();
	if (fds > l->max_fds)
		l->max_fds = fds;
	if (l->entries < 100)
		kiln_buf_addf(&l->log, "%s%s%s\n", e->post ? "post " : "", e->path,
		              S_ISDIR(e->st.st_mode) ? "/" : "");
	if (!e->post && S_ISDIR(e->st.st_mode)) {
		e->tag = 7;
		return WALK_DESCEND;
	}
	if (e->post && e->tag != 7)
		return kiln_err_set(err, "lost tag");
	return WALK_NEXT;
}

TEST(walk_order_and_post_visits)
{
	cleanup_err struct kiln_err *err = NULL;
	char tmpl[] = "/tmp/kiln-test-walk-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	cleanup_free char *b = path_join(tmpl, "b/c");
	ASSERT_OK(mkdir_p(b, 0755, &err), err);
	cleanup_free char *a = path_join(tmpl, "a");
	ASSERT_OK(write_file_atomic(a, "x", 1, 0644, &err), err);
	cleanup_free char *f = path_join(tmpl, "b/c/f");
	ASSERT_OK(write_file_atomic(f, "x", 1, 0644, &err), err);
	cleanup_free char *l = path_join(tmpl, "b/l");
	ASSERT_EQ(symlink("/", l), 0);
	cleanup_close int fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct log_ud ud = {.log = KILN_BUF_INIT};
	struct walk_opts o = {.shadow_fd = -1};
	ASSERT_OK(walk_tree(fd, &o, log_visit, &ud, &err), err);
	/* links are entries, never followed */
	ASSERT_STREQ(ud.log.ptr, "a\nb/\nb/c/\nb/c/f\npost b/c/\nb/l\npost b/\n");
	kiln_buf_release(&ud.log);
	ASSERT_OK(rm_rf(tmpl, &err), err);
}

/* 3,000 levels under "ulimit -n 64": a recursive walk holding a descriptor per level fails at
 * about 60, and with the stack at 8 MiB a recursion this deep is on the edge */
TEST(walk_deeper_than_descriptors_allow)
{
	cleanup_err struct kiln_err *err = NULL;
	char tmpl[] = "/tmp/kiln-test-walkdeep-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	size_t depth = 3000;
	int fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = 0; i < depth; i++) {
		ASSERT_EQ(mkdirat(fd, "d", 0755), 0);
		int sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ASSERT_TRUE(sub >= 0);
		if (i == depth - 1)
			ASSERT_EQ(mknodat(sub, "leaf", S_IFREG | 0644, 0), 0);
		close(fd);
		fd = sub;
	}
	close(fd);
	struct rlimit old, low = {.rlim_cur = 64, .rlim_max = 0};
	ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	low.rlim_max = old.rlim_max;
	ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	size_t base = open_fds();
	cleanup_close int top = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct log_ud ud = {.log = KILN_BUF_INIT};
	struct walk_opts o = {.shadow_fd = -1};
	int r = walk_tree(top, &o, log_visit, &ud, &err);
	kiln_buf_release(&ud.log);
	/* and rm_rf_at walks the same way */
	int r2 = r < 0 ? 0 : rm_rf(tmpl, &err);
	setrlimit(RLIMIT_NOFILE, &old);
	ASSERT_OK(r, err);
	ASSERT_OK(r2, err);
	ASSERT_EQ(ud.entries, depth + 1);
	ASSERT_EQ(ud.max_depth, depth + 1);
	ASSERT_TRUE(ud.max_fds <= base + 2 * WALK_OPEN_LEVELS + 4);
	struct stat st;
	ASSERT_TRUE(stat(tmpl, &st) < 0);
}
