/* test_extract.c — layer application semantics: whiteouts, opaque directories, type changes,
 * ignored paths, directory mtimes, hard links, compression detection. */
#include "harness.h"
#include "tree.h"

#include "fs/extract.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define F(n, c)                 \
	{                       \
		'f', n, c, 0, 0 \
	}
#define D(n)                       \
	{                          \
		'd', n, NULL, 0, 0 \
	}
#define DT(n, t)                   \
	{                          \
		'd', n, NULL, 0, t \
	}
#define L(n, t)                 \
	{                       \
		'l', n, t, 0, 0 \
	}
#define H(n, t)                 \
	{                       \
		'h', n, t, 0, 0 \
	}
#define END                         \
	{                           \
		0, NULL, NULL, 0, 0 \
	}

struct fixture {
	char *dir, *root;
	int rootfd;
	int n;
};

static void fixture_release(struct fixture *f)
{
	if (f->rootfd >= 0)
		close(f->rootfd);
	if (f->dir)
		tree_rm(f->dir);
	free(f->dir);
	free(f->root);
}
#define cleanup_fixture _cleanup_(fixture_release)

static struct fixture fixture_new(void)
{
	struct fixture f = {.dir = tree_tmpdir()};
	f.root = path_join(f.dir, "root");
	mkdir(f.root, 0755);
	f.rootfd = open(f.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return f;
}

static bool ignore_proc(const char *path, void *ud)
{
	(void)ud;
	return streq(path, "/proc") || startswith(path, "/proc/");
}

/* applies a hand-made layer (gzip when gz) */
static int apply(struct fixture *f, const struct tar_ent *ents, bool gz, struct kiln_err **err)
{
	cleanup_free char *tar = xasprintf("%s/layer%d.tar", f->dir, f->n++);
	if (tree_make_tar(tar, ents, gz) < 0)
		return kiln_err_set(err, "cannot make tar");
	cleanup_close int fd = open(tar, O_RDONLY | O_CLOEXEC);
	struct extract_opts o = {.ignored = ignore_proc};
	return fs_extract_layer(f->rootfd, fd, "sha256:test", &o, err);
}

static char *describe(struct fixture *f)
{
	return tree_describe(f->root, false);
}

/* strips the "mode uid:gid ..." details: just the paths and link targets */
static char *paths(struct fixture *f)
{
	cleanup_free char *d = describe(f);
	struct kiln_buf b = KILN_BUF_INIT;
	for (char *line = d; *line;) {
		char *nl = strchr(line, '\n');
		size_t len = strcspn(line, " ");
		kiln_buf_add(&b, line, len);
		char *arrow = strstr(line, " -> ");
		if (arrow && arrow < nl)
			kiln_buf_add(&b, arrow, (size_t)(nl - arrow));
		kiln_buf_addch(&b, '\n');
		line = nl + 1;
	}
	return kiln_buf_detach(&b, NULL);
}

TEST(extract_whiteouts_and_opaque)
{
	cleanup_fixture struct fixture f = fixture_new();
	cleanup_err struct kiln_err *err = NULL;
	const struct tar_ent lower[] = {
	    D("a"),     F("a/x", "x"),        F("a/y", "y"), D("b"),           F("b/old", "o"),
	    D("b/sub"), F("b/sub/deep", "d"), D("c"),        F("c/kept", "k"), F("keep", "k"),
	    END,
	};
	ASSERT_OK(apply(&f, lower, true, &err), err);
	const struct tar_ent upper[] = {
	    F("a/.wh.x", ""),
	    D("b"),
	    F("b/-first", "1"), /* sorts before the marker: must survive it */
	    F("b/.wh..wh..opq", ""),
	    D("b/sub"), /* this layer's b/sub: the lower b/sub/deep is hidden */
	    F("b/sub/new", "n"),
	    F("b/zlast", "z"),
	    F(".wh.nope", ""), /* whiteout of something that does not exist */
	    F("c/new", "n"),
	    F("c/.wh.new", ""), /* same layer: does not remove c/new */
	    END,
	};
	ASSERT_OK(apply(&f, upper, false, &err), err);
	cleanup_free char *got = paths(&f);
	ASSERT_STREQ(got, "/a\n/a/y\n/b\n/b/-first\n/b/sub\n/b/sub/new\n/b/zlast\n/c\n/c/kept\n"
	                  "/c/new\n/keep\n");
}

TEST(extract_type_changes)
{
	cleanup_fixture struct fixture f = fixture_new();
	cleanup_err struct kiln_err *err = NULL;
	const struct tar_ent l1[] = {
	    D("d"), F("d/child", "c"), F("f", "file"), D("s"), F("s/in", "i"), F("orig", "a"), END};
	ASSERT_OK(apply(&f, l1, false, &err), err);
	/* dir -> file, file -> dir, dir -> symlink, and a write to a hardlink's name does not
	 * write through to the other name */
	const struct tar_ent l2[] = {
	    F("d", "now a file"), D("f"), F("f/inner", "in"), L("s", "/tmp"), H("hl", "orig"),
	    F("hl", "b"),         END};
	ASSERT_OK(apply(&f, l2, false, &err), err);
	cleanup_free char *got = paths(&f);
	ASSERT_STREQ(got, "/d\n/f\n/f/inner\n/hl\n/orig\n/s -> /tmp\n");
	cleanup_free char *orig = path_join(f.root, "orig");
	cleanup_free char *content = NULL;
	size_t len;
	ASSERT_OK(read_file_at(AT_FDCWD, orig, 100, &content, &len, &err), err);
	ASSERT_STREQ(content, "a");
	/* and back: symlink -> dir */
	const struct tar_ent l3[] = {D("s"), F("s/q", "q"), END};
	ASSERT_OK(apply(&f, l3, false, &err), err);
	cleanup_free char *got3 = paths(&f);
	ASSERT_STREQ(got3, "/d\n/f\n/f/inner\n/hl\n/orig\n/s\n/s/q\n");
	struct stat st;
	cleanup_free char *s = path_join(f.root, "s");
	ASSERT_EQ(lstat(s, &st), 0);
	ASSERT_TRUE(S_ISDIR(st.st_mode));
}

TEST(extract_hardlinks_and_parents)
{
	cleanup_fixture struct fixture f = fixture_new();
	cleanup_err struct kiln_err *err = NULL;
	/* parents missing from the tar are created; a hardlink to an earlier entry */
	const struct tar_ent l[] = {F("usr/bin/perl", "#!"), H("usr/bin/perl5", "usr/bin/perl"),
	                            H("./usr/bin/perl6", "/usr/bin/perl"), END};
	ASSERT_OK(apply(&f, l, false, &err), err);
	struct stat a, b, c;
	cleanup_free char *pa = path_join(f.root, "usr/bin/perl");
	cleanup_free char *pb = path_join(f.root, "usr/bin/perl5");
	cleanup_free char *pc = path_join(f.root, "usr/bin/perl6");
	ASSERT_EQ(stat(pa, &a), 0);
	ASSERT_EQ(stat(pb, &b), 0);
	ASSERT_EQ(stat(pc, &c), 0);
	ASSERT_EQ(a.st_ino, b.st_ino);
	ASSERT_EQ(a.st_ino, c.st_ino);
	ASSERT_EQ(a.st_nlink, 3);
	cleanup_free char *usr = path_join(f.root, "usr");
	ASSERT_EQ(stat(usr, &a), 0);
	ASSERT_EQ(a.st_mode & 07777, 0755);
	/* a hardlink to a missing target is an error naming the entry */
	const struct tar_ent bad[] = {H("x", "nothere"), END};
	ASSERT_FAIL(apply(&f, bad, false, &err));
	ASSERT_TRUE(strstr(kiln_err_msg(err), "entry 'x'") != NULL);
}

TEST(extract_ignored_paths)
{
	cleanup_fixture struct fixture f = fixture_new();
	cleanup_err struct kiln_err *err = NULL;
	cleanup_free char *proc = path_join(f.root, "proc");
	ASSERT_EQ(mkdir(proc, 0555), 0);
	cleanup_free char *pf = path_join(f.root, "proc/mounted");
	ASSERT_EQ(tree_write(pf, "m", 0644), 0);
	const struct tar_ent l[] = {F("proc/x", "x"), F(".wh.proc", ""), F("etc/ok", "ok"), END};
	ASSERT_OK(apply(&f, l, false, &err), err);
	cleanup_free char *got = paths(&f);
	ASSERT_STREQ(got, "/etc\n/etc/ok\n/proc\n/proc/mounted\n");
	/* an opaque root keeps ignored paths too */
	const struct tar_ent l2[] = {F(".wh..wh..opq", ""), F("new", "n"), END};
	ASSERT_OK(apply(&f, l2, false, &err), err);
	cleanup_free char *got2 = paths(&f);
	ASSERT_STREQ(got2, "/new\n/proc\n/proc/mounted\n");
}

TEST(extract_dir_mtime_and_mode_after_content)
{
	cleanup_fixture struct fixture f = fixture_new();
	cleanup_err struct kiln_err *err = NULL;
	struct tar_ent l[] = {DT("d", 1000000000),
	                      {'f', "d/f", "x", 0600, 1100000000},
	                      DT("d/e", 1200000000),
	                      {'f', "d/e/g", "y", 0, 5},
	                      END};
	l[0].mode = 0555;
	ASSERT_OK(apply(&f, l, false, &err), err);
	struct stat st;
	cleanup_free char *d = path_join(f.root, "d");
	cleanup_free char *e = path_join(f.root, "d/e");
	cleanup_free char *ff = path_join(f.root, "d/f");
	ASSERT_EQ(stat(d, &st), 0);
	ASSERT_EQ(st.st_mtim.tv_sec, 1000000000);
	ASSERT_EQ(st.st_mode & 07777, 0555);
	ASSERT_EQ(stat(e, &st), 0);
	ASSERT_EQ(st.st_mtim.tv_sec, 1200000000);
	ASSERT_EQ(stat(ff, &st), 0);
	ASSERT_EQ(st.st_mtim.tv_sec, 1100000000);
	ASSERT_EQ(st.st_mode & 07777, 0600);
}

TEST(extract_keeps_untouched_parent_mtime)
{
	/* a layer that replaces an entry (or whites one out) inside a directory it carries no
	 * entry for: the directory keeps its mtime (the snapshot did not report it changed) */
	cleanup_fixture struct fixture f = fixture_new();
	cleanup_err struct kiln_err *err = NULL;
	struct tar_ent base[] = {
	    DT("d", 1000000000), {'l', "d/l", "a", 0777, 5}, F("d/gone", "x"), END};
	ASSERT_OK(apply(&f, base, false, &err), err);
	struct tar_ent next[] = {
	    {'l', "d/l", "b", 0777, 7}, F("d/.wh.gone", ""), F("d/new", "n"), END};
	ASSERT_OK(apply(&f, next, false, &err), err);
	struct stat st;
	cleanup_free char *d = path_join(f.root, "d");
	cleanup_free char *gone = path_join(f.root, "d/gone");
	ASSERT_EQ(stat(d, &st), 0);
	ASSERT_EQ(st.st_mtim.tv_sec, 1000000000);
	ASSERT_TRUE(access(gone, F_OK) < 0);
	/* an entry for the directory still wins */
	struct tar_ent third[] = {F("d/more", "m"), DT("d", 1300000000), END};
	ASSERT_OK(apply(&f, third, false, &err), err);
	ASSERT_EQ(stat(d, &st), 0);
	ASSERT_EQ(st.st_mtim.tv_sec, 1300000000);
}

TEST(extract_root_entry_and_garbage)
{
	cleanup_fixture struct fixture f = fixture_new();
	cleanup_err struct kiln_err *err = NULL;
	/* kaniko layers start with an entry for the root itself */
	struct tar_ent l[] = {
	    {'d', "/", NULL, 0750, 0}, {'d', "./", NULL, 0750, 0}, F("x", "x"), END};
	ASSERT_OK(apply(&f, l, true, &err), err);
	struct stat st;
	ASSERT_EQ(fstat(f.rootfd, &st), 0);
	ASSERT_EQ(st.st_mode & 07777, 0750);
	/* not a tar at all */
	cleanup_free char *junk = path_join(f.dir, "junk");
	ASSERT_EQ(tree_write(junk, "this is not a layer, just some text that is long enough", 0644),
	          0);
	cleanup_close int fd = open(junk, O_RDONLY | O_CLOEXEC);
	ASSERT_FAIL(fs_extract_layer(f.rootfd, fd, "sha256:junk", NULL, &err));
	ASSERT_TRUE(strstr(kiln_err_msg(err), "sha256:junk") != NULL);
}
