/* test_snapshot.c — the stat index: exact change lists for every kind of change, modes, the
 * ignore callback, and a speed figure. */
#include "harness.h"
#include "tree.h"

#include "fs/snapshot.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *render(const struct fs_changes *c)
{
	static const char kinds[] = {'A', 'M', 'D'};
	struct kiln_buf b = KILN_BUF_INIT;
	for (size_t i = 0; i < c->n; i++)
		kiln_buf_addf(&b, "%c %s\n", kinds[c->v[i].kind], c->v[i].path);
	return kiln_buf_detach(&b, NULL);
}

struct snap {
	char *root;
	int fd;
};
static void snap_release(struct snap *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->root)
		tree_rm(s->root);
	free(s->root);
}
#define cleanup_snap _cleanup_(snap_release)

static struct snap snap_new(void)
{
	struct snap s = {.root = tree_tmpdir()};
	s.fd = open(s.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return s;
}

/* p(s, "a/b") → "<root>/a/b" in a rotating static buffer */
static const char *p(struct snap *s, const char *rel)
{
	static char bufs[4][4096];
	static int k;
	k = (k + 1) % 4;
	snprintf(bufs[k], sizeof(bufs[k]), "%s/%s", s->root, rel);
	return bufs[k];
}

/* timestamps are taken from a coarse clock: let it tick between the snapshot and the change */
static void tick(void)
{
	usleep(20000);
}

static char *diff(struct fs_index *ix, struct snap *s, const char *mode, struct kiln_err **err)
{
	struct fs_changes c = {0};
	if (fs_index_diff(ix, s->fd, mode, &c, err) < 0)
		return NULL;
	char *r = render(&c);
	fs_changes_release(&c);
	return r;
}

TEST(snapshot_change_kinds)
{
	cleanup_snap struct snap s = snap_new();
	cleanup_err struct kiln_err *err = NULL;
	ASSERT_EQ(mkdir(p(&s, "a"), 0755), 0);
	ASSERT_EQ(tree_write(p(&s, "a/f1"), "one", 0644), 0);
	ASSERT_EQ(tree_write(p(&s, "a/f2"), "two", 0644), 0);
	ASSERT_EQ(mkdir(p(&s, "b"), 0755), 0);
	ASSERT_EQ(mkdir(p(&s, "b/sub"), 0755), 0);
	ASSERT_EQ(mkdir(p(&s, "b/sub/deep"), 0755), 0);
	ASSERT_EQ(tree_write(p(&s, "b/sub/deep/x"), "x", 0644), 0);
	ASSERT_EQ(tree_write(p(&s, "b/y"), "y", 0644), 0);
	ASSERT_EQ(tree_write(p(&s, "c"), "file", 0644), 0);
	ASSERT_EQ(tree_write(p(&s, "ch"), "chmod me", 0644), 0);
	ASSERT_EQ(mkdir(p(&s, "d"), 0755), 0);
	ASSERT_EQ(tree_write(p(&s, "d/y"), "y", 0644), 0);
	ASSERT_EQ(mkdir(p(&s, "e"), 0755), 0);
	ASSERT_EQ(tree_write(p(&s, "e/z"), "z", 0644), 0);
	ASSERT_EQ(tree_write(p(&s, "keep"), "k", 0644), 0);
	ASSERT_EQ(tree_write(p(&s, "m"), "same size", 0644), 0);
	ASSERT_EQ(tree_write(p(&s, "r"), "rename me", 0644), 0);
	ASSERT_EQ(symlink("keep", p(&s, "sl")), 0);

	_cleanup_(fs_index_freep) struct fs_index *ix = NULL;
	ASSERT_OK(fs_index_build(s.fd, NULL, NULL, &ix, &err), err);
	ASSERT_EQ(fs_index_size(ix), 18);
	cleanup_free char *none = diff(ix, &s, "full", &err);
	ASSERT_STREQ(none, "");
	tick();

	struct stat old;
	ASSERT_EQ(stat(p(&s, "m"), &old), 0);
	ASSERT_EQ(tree_write(p(&s, "new"), "new", 0644), 0);       /* create */
	ASSERT_EQ(tree_write(p(&s, "a/f1"), "one more", 0644), 0); /* content */
	ASSERT_EQ(chmod(p(&s, "ch"), 0600), 0);                    /* chmod only */
	ASSERT_EQ(tree_write(p(&s, "m"), "SAME SIZE", 0644), 0);   /* touch -r */
	struct timespec ts[2] = {old.st_atim, old.st_mtim};
	ASSERT_EQ(utimensat(AT_FDCWD, p(&s, "m"), ts, 0), 0);
	ASSERT_EQ(rename(p(&s, "r"), p(&s, "r2")), 0); /* rename */
	ASSERT_EQ(unlink(p(&s, "a/f2")), 0);           /* delete file */
	tree_rm(p(&s, "b"));                           /* delete tree */
	tree_rm(p(&s, "c"));                           /* file -> dir */
	ASSERT_EQ(mkdir(p(&s, "c"), 0755), 0);
	ASSERT_EQ(tree_write(p(&s, "c/z"), "z", 0644), 0);
	tree_rm(p(&s, "d")); /* dir -> file */
	ASSERT_EQ(tree_write(p(&s, "d"), "now a file", 0644), 0);
	tree_rm(p(&s, "e")); /* dir -> symlink */
	ASSERT_EQ(symlink("keep", p(&s, "e")), 0);
	ASSERT_EQ(unlink(p(&s, "sl")), 0); /* symlink retarget */
	ASSERT_EQ(symlink("new", p(&s, "sl")), 0);

	cleanup_free char *got = diff(ix, &s, "full", &err);
	ASSERT_TRUE(got != NULL);
	ASSERT_STREQ(got, "M /a\n"
	                  "M /a/f1\n"
	                  "D /a/f2\n"
	                  "D /b\n"
	                  "M /c\n"
	                  "A /c/z\n"
	                  "M /ch\n"
	                  "M /d\n"
	                  "M /e\n"
	                  "M /m\n"
	                  "A /new\n"
	                  "D /r\n"
	                  "A /r2\n"
	                  "M /sl\n");
	/* the index now holds the new state */
	cleanup_free char *again = diff(ix, &s, "full", &err);
	ASSERT_STREQ(again, "");
}

TEST(snapshot_modes)
{
	cleanup_snap struct snap s = snap_new();
	cleanup_err struct kiln_err *err = NULL;
	ASSERT_EQ(tree_write(p(&s, "f"), "content", 0644), 0);
	ASSERT_EQ(tree_write(p(&s, "g"), "content", 0644), 0);
	_cleanup_(fs_index_freep) struct fs_index *ix = NULL;
	ASSERT_OK(fs_index_build(s.fd, NULL, NULL, &ix, &err), err);
	tick();
	/* chmod: seen by full and redo, not by time */
	ASSERT_EQ(chmod(p(&s, "f"), 0600), 0);
	cleanup_free char *t = diff(ix, &s, "time", &err);
	ASSERT_STREQ(t, "");
	ASSERT_EQ(chmod(p(&s, "f"), 0644), 0);
	ASSERT_EQ(chmod(p(&s, "f"), 0640), 0);
	cleanup_free char *r = diff(ix, &s, "redo", &err);
	ASSERT_STREQ(r, "M /f\n");
	tick();
	/* same size, mtime restored: only full (through ctime) sees it */
	struct stat old;
	ASSERT_EQ(stat(p(&s, "g"), &old), 0);
	ASSERT_EQ(tree_write(p(&s, "g"), "CONTENT", 0644), 0);
	struct timespec ts[2] = {old.st_atim, old.st_mtim};
	ASSERT_EQ(utimensat(AT_FDCWD, p(&s, "g"), ts, 0), 0);
	cleanup_free char *r2 = diff(ix, &s, "redo", &err);
	ASSERT_STREQ(r2, "");
	tick();
	ASSERT_EQ(tree_write(p(&s, "g"), "CoNTENT", 0644), 0);
	ASSERT_EQ(utimensat(AT_FDCWD, p(&s, "g"), ts, 0), 0);
	cleanup_free char *full = diff(ix, &s, "full", &err);
	ASSERT_STREQ(full, "M /g\n");
	tick();
	/* a new hard link: the new name and every other name of the inode, so the layer holds
	 * the link (as an overlay upper directory would after copy-up) */
	ASSERT_EQ(link(p(&s, "f"), p(&s, "f2")), 0);
	cleanup_free char *hl = diff(ix, &s, NULL, &err);
	ASSERT_STREQ(hl, "M /f\nA /f2\n");
	tick();
	/* a hard link removed: the other name only lost a link, nothing to report */
	ASSERT_EQ(unlink(p(&s, "f2")), 0);
	cleanup_free char *hl2 = diff(ix, &s, NULL, &err);
	ASSERT_STREQ(hl2, "D /f2\n");
	struct fs_changes c = {0};
	ASSERT_FAIL(fs_index_diff(ix, s.fd, "fast", &c, &err));
}

static bool ignore_cache(const char *path, void *ud)
{
	(void)ud;
	return streq(path, "/cache") || startswith(path, "/cache/");
}

TEST(snapshot_ignored_and_order)
{
	cleanup_snap struct snap s = snap_new();
	cleanup_err struct kiln_err *err = NULL;
	ASSERT_EQ(mkdir(p(&s, "cache"), 0755), 0);
	ASSERT_EQ(mkdir(p(&s, "a"), 0755), 0);
	_cleanup_(fs_index_freep) struct fs_index *ix = NULL;
	ASSERT_OK(fs_index_build(s.fd, ignore_cache, NULL, &ix, &err), err);
	ASSERT_EQ(fs_index_size(ix), 1);
	tick();
	ASSERT_EQ(tree_write(p(&s, "cache/junk"), "j", 0644), 0);
	/* byte order: "a-b" < "a/x" < "a0" although the walk visits a/ first */
	ASSERT_EQ(tree_write(p(&s, "a/x"), "x", 0644), 0);
	ASSERT_EQ(tree_write(p(&s, "a-b"), "x", 0644), 0);
	ASSERT_EQ(tree_write(p(&s, "a0"), "x", 0644), 0);
	cleanup_free char *got = diff(ix, &s, "full", &err);
	ASSERT_STREQ(got, "M /a\nA /a-b\nA /a/x\nA /a0\n");
	/* deleting a/x and a-b next to each other: no confusion between siblings */
	tick();
	ASSERT_EQ(unlink(p(&s, "a-b")), 0);
	tree_rm(p(&s, "a"));
	cleanup_free char *got2 = diff(ix, &s, "full", &err);
	ASSERT_STREQ(got2, "D /a\nD /a-b\n");
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* speed figure on the host's /usr (a Debian tree), read only */
TEST(snapshot_speed_usr)
{
	cleanup_close int fd = open("/usr", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(fs_index_freep) struct fs_index *ix = NULL;
	double t0 = now_s();
	ASSERT_OK(fs_index_build(fd, NULL, NULL, &ix, &err), err);
	double t1 = now_s();
	struct fs_changes c = {0};
	ASSERT_OK(fs_index_diff(ix, fd, "full", &c, &err), err);
	double t2 = now_s();
	test_note("/usr: %zu paths, index %.3f s, diff %.3f s, %zu changes", fs_index_size(ix),
	          t1 - t0, t2 - t1, c.n);
	fs_changes_release(&c);
}
