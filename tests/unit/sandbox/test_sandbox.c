/* test_sandbox.c — RUN in a real chroot with namespaces: user lookup in the root, /proc and
 * /dev present during the run, nothing injected left behind, exit status propagation. */
#include "harness.h"
#include "sandbox/sandbox.h"
#include "util/fsutil.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

static char *make_root(void)
{
	char tmpl[] = "/tmp/kiln-sbx-XXXXXX";
	if (!mkdtemp(tmpl))
		return NULL;
	chmod(tmpl, 0755);
	char *root = xstrdup(tmpl);
	cleanup_free char *bin = path_join(root, "bin");
	cleanup_free char *etc = path_join(root, "etc");
	cleanup_free char *tmp = path_join(root, "tmp");
	mkdir(bin, 0755);
	mkdir(etc, 0755);
	mkdir(tmp, 01777);
	cleanup_free char *bb = path_join(bin, "busybox");
	cleanup_free char *cmd =
	    xasprintf("cp /bin/busybox '%s' && ln -s busybox '%s/sh'", bb, bin);
	if (access("/bin/busybox", X_OK) < 0 || WEXITSTATUS(system(cmd)) != 0) /* test-only */
		return NULL;
	const char *passwd =
	    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n";
	const char *group = "root:x:0:\napp:x:1000:\nextra:x:2000:app,other\n";
	cleanup_free char *pw = path_join(etc, "passwd");
	cleanup_free char *gr = path_join(etc, "group");
	if (write_file_atomic(pw, passwd, strlen(passwd), 0644, NULL) < 0 ||
	    write_file_atomic(gr, group, strlen(group), 0644, NULL) < 0)
		return NULL;
	return root;
}

static int run_sh(const char *root, const char *script, const struct sandbox_user *u, int *status,
                  struct kiln_err **err)
{
	char *argv[] = {(char *)"/bin/busybox", (char *)"sh", (char *)"-c", (char *)script, NULL};
	char *env[] = {(char *)"PATH=/bin", NULL};
	struct sandbox_run_opts o = {.root = root, .argv = argv, .env = env, .user = u, .cwd = "/"};
	return sandbox_run(&o, status, err);
}

TEST(sandbox_user_resolution_uses_the_roots_files)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_free char *root = make_root();
	ASSERT_TRUE(root != NULL);
	cleanup_close int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct sandbox_user u = {0};
	ASSERT_OK(sandbox_user_resolve(rootfd, "app", &u, &err), err);
	ASSERT_EQ(u.uid, 1000);
	ASSERT_EQ(u.gid, 1000);
	/* the memberships /etc/group lists, the primary group not added (Docker, runc) */
	ASSERT_EQ(u.n_groups, 1);
	ASSERT_EQ(u.groups[0], 2000);
	ASSERT_STREQ(u.home, "/home/app");
	sandbox_user_release(&u);
	/* a numeric uid found in /etc/passwd: that user's memberships */
	ASSERT_OK(sandbox_user_resolve(rootfd, "1000", &u, &err), err);
	ASSERT_EQ(u.gid, 1000);
	ASSERT_EQ(u.n_groups, 1);
	ASSERT_EQ(u.groups[0], 2000);
	sandbox_user_release(&u);
	/* root is listed in no group: none */
	ASSERT_OK(sandbox_user_resolve(rootfd, "root", &u, &err), err);
	ASSERT_EQ(u.uid, 0);
	ASSERT_EQ(u.n_groups, 0);
	sandbox_user_release(&u);
	ASSERT_OK(sandbox_user_resolve(rootfd, "1000:extra", &u, &err), err);
	ASSERT_EQ(u.uid, 1000);
	ASSERT_EQ(u.gid, 2000);
	ASSERT_EQ(u.n_groups, 0);
	sandbox_user_release(&u);
	ASSERT_OK(sandbox_user_resolve(rootfd, "4242", &u, &err), err);
	ASSERT_EQ(u.uid, 4242);
	ASSERT_EQ(u.gid, 0);
	ASSERT_EQ(u.n_groups, 0);
	ASSERT_TRUE(u.name == NULL);
	sandbox_user_release(&u);
	ASSERT_FAIL(sandbox_user_resolve(rootfd, "nobody-here", &u, &err));
	ASSERT_STREQ(err->msg,
	             "unable to find user nobody-here: no matching entries in passwd file");
	ASSERT_FAIL(sandbox_user_resolve(rootfd, "app:nogroup", &u, NULL));
	rm_rf(root, NULL);
}

TEST(sandbox_user_root_without_passwd_or_group)
{
	cleanup_err struct kiln_err *err = NULL;
	char tmpl[] = "/tmp/kiln-nopasswd.XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	cleanup_close int rootfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct sandbox_user u = {.uid = 7};
	ASSERT_OK(sandbox_user_resolve(rootfd, "root", &u, &err), err);
	ASSERT_EQ(u.uid, 0);
	ASSERT_EQ(u.gid, 0);
	ASSERT_EQ(u.n_groups, 0);
	ASSERT_STREQ(u.home, "/root");
	sandbox_user_release(&u);
	ASSERT_OK(sandbox_user_resolve(rootfd, "root:root", &u, &err), err);
	ASSERT_EQ(u.uid, 0);
	ASSERT_EQ(u.gid, 0);
	sandbox_user_release(&u);
	ASSERT_OK(sandbox_user_resolve(rootfd, "0:root", &u, &err), err);
	ASSERT_EQ(u.gid, 0);
	sandbox_user_release(&u);
	/* any other name still needs an entry */
	ASSERT_FAIL(sandbox_user_resolve(rootfd, "daemon", &u, &err));
	ASSERT_STREQ(err->msg, "unable to find user daemon: no matching entries in passwd file");
	rmdir(tmpl);
}

TEST(sandbox_runs_in_the_root_with_proc_and_dev)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_free char *root = make_root();
	ASSERT_TRUE(root != NULL);
	int status = -1;
	ASSERT_OK(run_sh(root,
	                 "test -r /proc/self/status && test -c /dev/null && echo x > /dev/null && "
	                 "test ! -e /bin/bash-on-host-only && echo ran > /tmp/out && "
	                 "test \"$(cat /proc/1/comm)\" = busybox",
	                 NULL, &status, &err),
	          err);
	ASSERT_EQ(status, 0);
	cleanup_free char *out = path_join(root, "tmp/out");
	struct stat st;
	ASSERT_EQ(stat(out, &st), 0);
	/* mount points and /etc files that kiln created are gone again */
	cleanup_free char *proc = path_join(root, "proc");
	cleanup_free char *resolv = path_join(root, "etc/resolv.conf");
	ASSERT_TRUE(lstat(proc, &st) < 0);
	ASSERT_TRUE(lstat(resolv, &st) < 0);
	rm_rf(root, NULL);
}

TEST(sandbox_exit_status_and_user)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_free char *root = make_root();
	ASSERT_TRUE(root != NULL);
	cleanup_close int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int status = -1;
	ASSERT_OK(run_sh(root, "exit 42", NULL, &status, &err), err);
	ASSERT_EQ(status, 42);
	struct sandbox_user u = {0};
	ASSERT_OK(sandbox_user_resolve(rootfd, "app", &u, &err), err);
	ASSERT_OK(run_sh(root, "test \"$(id -u):$(id -g)\" = 1000:1000 && id -G | grep -q 2000", &u,
	                 &status, &err),
	          err);
	sandbox_user_release(&u);
	ASSERT_EQ(status, 0);
	rm_rf(root, NULL);
}

TEST(sandbox_missing_executable_is_an_error)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_free char *root = make_root();
	ASSERT_TRUE(root != NULL);
	char *argv[] = {(char *)"no-such-tool", NULL};
	char *env[] = {(char *)"PATH=/bin:/usr/bin", NULL};
	struct sandbox_run_opts o = {.root = root, .argv = argv, .env = env, .cwd = "/"};
	int status = -1;
	ASSERT_FAIL(sandbox_run(&o, &status, &err));
	ASSERT_STREQ(err->msg, "exec 'no-such-tool': No such file or directory");
	rm_rf(root, NULL);
}

TEST(sandbox_injects_resolv_conf_and_hosts_without_leaving_them)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_free char *root = make_root();
	ASSERT_TRUE(root != NULL);
	char tmpl[] = "/tmp/kiln-sbx-files-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	cleanup_free char *resolv = path_join(tmpl, "resolv.conf");
	cleanup_free char *hosts = path_join(tmpl, "hosts");
	ASSERT_OK(write_file_atomic(resolv, "nameserver 192.0.2.53\n", 22, 0644, &err), err);
	ASSERT_OK(write_file_atomic(hosts, "127.0.0.1 localhost\n", 20, 0644, &err), err);
	char *argv[] = {
	    (char *)"/bin/busybox", (char *)"sh", (char *)"-c",
	    (char *)"grep -q 192.0.2.53 /etc/resolv.conf && grep -q localhost /etc/hosts && "
	            "echo x >> /etc/resolv.conf",
	    NULL};
	char *env[] = {(char *)"PATH=/bin", NULL};
	struct sandbox_run_opts o = {.root = root,
	                             .argv = argv,
	                             .env = env,
	                             .cwd = "/",
	                             .resolv_conf = resolv,
	                             .hosts = hosts};
	int status = -1;
	ASSERT_OK(sandbox_run(&o, &status, &err), err);
	ASSERT_EQ(status, 0);
	cleanup_free char *inroot = path_join(root, "etc/resolv.conf");
	struct stat st;
	ASSERT_TRUE(lstat(inroot, &st) < 0);
	/* what the RUN wrote went to kiln's copy, never to the host's file */
	ASSERT_EQ(stat(resolv, &st), 0);
	ASSERT_EQ(st.st_size, 24);
	rm_rf(root, NULL);
	rm_rf(tmpl, NULL);
}
