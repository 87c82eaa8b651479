/* test_ignore.c — the inplace mode's ignore list (kaniko §4.2), its root wipe, and kaniko's
 * container heuristic, all on temporary directories standing in for "/". */
#include "harness.h"
#include "sandbox/ignore.h"
#include "sandbox/sandbox.h"
#include "util/fsutil.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char mountinfo[] = "22 1 0:21 / / rw,relatime - overlay overlay rw\n"
                                "23 22 0:22 / /proc rw,nosuid - proc proc rw\n"
                                "24 22 0:23 / /dev rw,nosuid - tmpfs tmpfs rw\n"
                                "25 22 0:24 / /builds/my\\040project rw - ext4 /dev/vda rw\n"
                                "26 22 0:25 / /etc/resolv.conf rw - ext4 /dev/vda rw\n";

static int make_list(struct ignore_list **ret, struct kiln_err **err)
{
	char path[] = "/tmp/kiln-mountinfo-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	int r = write_all(fd, mountinfo, sizeof(mountinfo) - 1);
	close(fd);
	if (r < 0)
		return r;
	char *paths[] = {(char *)"/data/*.log", NULL};
	r = ignore_list_new("/kaniko", true, paths, path, ret, err);
	unlink(path);
	return r;
}

TEST(ignore_list_follows_kaniko)
{
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(ignore_list_freep) struct ignore_list *l = NULL;
	ASSERT_OK(make_list(&l, &err), err);
	static const struct {
		const char *path;
		bool ignored;
	} cases[] = {
	    {"/proc", true},
	    {"/proc/1/status", true},
	    {"/procfs", false},
	    {"/kaniko/executor", true},
	    {"/kaniko", true},
	    {"/var/run", true},
	    {"/var/run/x.pid", true},
	    {"/var/lib", false},
	    {"/etc/mtab", true},
	    {"/etc/resolv.conf", true},
	    {"/etc/hosts", false},
	    {"/builds/my project/a", true},
	    {"/builds/my", false},
	    {"/data/app.log", true},
	    {"/data/app.txt", false},
	    {"/data/app.log/inner", true},
	    {"/tmp/apt-key-gpghome", false},
	    {"/tmp/apt-key-gpghome/k", true},
	    {"/", false},
	    {"/usr/bin/sh", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (ignore_list_match(cases[i].path, l) != cases[i].ignored) {
			test_fail(__FILE__, __LINE__, "%s: expected %s", cases[i].path,
			          cases[i].ignored ? "ignored" : "not ignored");
			return;
		}
	}
	ignore_list_add_children(l, "/vol");
	ASSERT_FALSE(ignore_list_match("/vol", l));
	ASSERT_TRUE(ignore_list_match("/vol/data", l));
}

static int touch(const char *root, const char *rel)
{
	cleanup_free char *p = path_join(root, rel);
	cleanup_free char *dir = xstrdup(p);
	*strrchr(dir, '/') = '\0';
	if (mkdir_p(dir, 0755, NULL) < 0)
		return -1;
	return write_file_atomic(p, "x", 1, 0644, NULL);
}

static bool present(const char *root, const char *rel)
{
	cleanup_free char *p = path_join(root, rel);
	struct stat st;
	return lstat(p, &st) == 0;
}

TEST(inplace_wipe_keeps_ignored_paths_and_their_ancestors)
{
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(ignore_list_freep) struct ignore_list *l = NULL;
	ASSERT_OK(make_list(&l, &err), err);
	char tmpl[] = "/tmp/kiln-wipe-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	const char *files[] = {"kaniko/executor", "etc/resolv.conf", "etc/passwd", "usr/bin/sh",
	                       "proc/1/status",   "var/run/a.pid",   "var/lib/x",  "top"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		ASSERT_EQ(touch(tmpl, files[i]), 0);
	cleanup_close int rootfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_OK(inplace_wipe(rootfd, l, &err), err);
	ASSERT_TRUE(present(tmpl, "kaniko/executor"));
	ASSERT_TRUE(present(tmpl, "etc/resolv.conf"));
	ASSERT_TRUE(present(tmpl, "proc/1/status"));
	ASSERT_TRUE(present(tmpl, "var/run/a.pid"));
	ASSERT_FALSE(present(tmpl, "etc/passwd"));
	ASSERT_FALSE(present(tmpl, "usr"));
	ASSERT_FALSE(present(tmpl, "var/lib"));
	ASSERT_FALSE(present(tmpl, "top"));
	rm_rf(tmpl, NULL);
}

TEST(container_heuristic_reads_kaniko_markers)
{
	unsetenv("container");
	char tmpl[] = "/tmp/kiln-ctr-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	ASSERT_EQ(touch(tmpl, "proc/self/cgroup"), 0);
	ASSERT_EQ(touch(tmpl, "proc/1/cmdline"), 0);
	ASSERT_FALSE(sandbox_in_container(tmpl));
	ASSERT_EQ(touch(tmpl, ".dockerenv"), 0);
	ASSERT_TRUE(sandbox_in_container(tmpl));
	cleanup_free char *de = path_join(tmpl, ".dockerenv");
	unlink(de);
	cleanup_free char *cg = path_join(tmpl, "proc/self/cgroup");
	ASSERT_EQ(write_file_atomic(cg, "0::/kubepods/burstable/pod1\n", 28, 0644, NULL), 0);
	ASSERT_TRUE(sandbox_in_container(tmpl));
	ASSERT_EQ(write_file_atomic(cg, "0::/\n", 5, 0644, NULL), 0);
	ASSERT_FALSE(sandbox_in_container(tmpl));
	setenv("container", "podman", 1);
	ASSERT_TRUE(sandbox_in_container(tmpl));
	unsetenv("container");
	rm_rf(tmpl, NULL);
}
