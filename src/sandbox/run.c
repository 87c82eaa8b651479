/* run.c — the chroot isolation mode: fork, new mount/PID/UTS namespaces, /proc /dev /sys and
 * /etc injections mounted through fds opened inside the root, chroot, credentials, exec.
 *
 * Everything the child needs is computed before fork (paths, argv, env, PATH candidates);
 * between fork and exec there is no allocation and no stdio. A setup failure is reported to
 * the parent over a CLOEXEC pipe as {step, errno}. */
#include "sandbox.h"
#include "root.h"
#include "util/forkguard.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

enum setup_step {
	STEP_UNSHARE = 1,
	STEP_MOUNT_PRIVATE,
	STEP_FORK,
	STEP_PROC,
	STEP_DEV,
	STEP_CHROOT,
	STEP_CWD,
	STEP_GROUPS,
	STEP_GID,
	STEP_UID,
	STEP_EXEC,
	STEP_STDIN,
};

static const char *step_name(int s)
{
	switch (s) {
	case STEP_UNSHARE:
		return "create mount and PID namespaces";
	case STEP_MOUNT_PRIVATE:
		return "make mounts private";
	case STEP_FORK:
		return "fork in the new PID namespace";
	case STEP_PROC:
		return "mount /proc in the stage root";
	case STEP_DEV:
		return "set up /dev in the stage root";
	case STEP_CHROOT:
		return "chroot into the stage root";
	case STEP_CWD:
		return "change to the working directory";
	case STEP_GROUPS:
		return "set supplementary groups";
	case STEP_GID:
		return "set gid";
	case STEP_UID:
		return "set uid";
	case STEP_EXEC:
		return "execute";
	case STEP_STDIN:
		return "redirect stdin";
	}
	return "set up the sandbox";
}

struct child_report {
	int step;
	int errnum;
};

_noreturn_ static void child_fail(int pipefd, int step)
{
	struct child_report rep = {step, errno};
	ssize_t n = write(pipefd, &rep, sizeof(rep));
	(void)n;
	_exit(127);
}

/* "/proc/self/fd/<fd>" into buf without stdio */
static const char *fd_path(char buf[32], int fd)
{
	static const char pfx[] = "/proc/self/fd/";
	char digits[12];
	int n = 0;
	do {
		digits[n++] = (char)('0' + fd % 10);
		fd /= 10;
	} while (fd && n < 11);
	memcpy(buf, pfx, sizeof(pfx) - 1);
	int i = sizeof(pfx) - 1;
	while (n)
		buf[i++] = digits[--n];
	buf[i] = '\0';
	return buf;
}

struct dev_node {
	const char *name;
	unsigned int major, minor;
};

static const struct dev_node dev_nodes[] = {
    {"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

static const char *const dev_links[][2] = {
    {"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
    {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"},
};

/* a minimal /dev on a tmpfs: nodes by mknod, or bind mounts of the host's where mknod is
 * not permitted */
static int setup_dev(int rootfd)
{
	char p[32], q[32];
	int fd = root_open(rootfd, "dev", O_PATH | O_DIRECTORY);
	if (fd < 0)
		return -1;
	if (mount("tmpfs", fd_path(p, fd), "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755") < 0)
		return -1;
	close(fd);
	int devfd = root_open(rootfd, "dev", O_RDONLY | O_DIRECTORY);
	if (devfd < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
		const struct dev_node *d = &dev_nodes[i];
		if (mknodat(devfd, d->name, S_IFCHR | 0666, makedev(d->major, d->minor)) == 0) {
			fchmodat(devfd, d->name, 0666, 0);
			continue;
		}
		/* no CAP_MKNOD: bind the host's node over an empty file */
		int f = openat(devfd, d->name, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
		if (f < 0)
			return -1;
		char host[32] = "/dev/";
		memcpy(host + 5, d->name, strlen(d->name) + 1);
		if (mount(host, fd_path(q, f), NULL, MS_BIND, NULL) < 0) {
			close(f);
			return -1;
		}
		close(f);
	}
	for (size_t i = 0; i < ARRAY_SIZE(dev_links); i++)
		symlinkat(dev_links[i][1], devfd, dev_links[i][0]);
	if (mkdirat(devfd, "pts", 0755) == 0) {
		int pts = openat(devfd, "pts", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (pts >= 0) {
			mount("devpts", fd_path(p, pts), "devpts", MS_NOSUID | MS_NOEXEC,
			      "newinstance,ptmxmode=0666,mode=0620");
			close(pts);
		}
	}
	if (mkdirat(devfd, "shm", 01777) == 0) {
		int shm = openat(devfd, "shm", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (shm >= 0) {
			mount("shm", fd_path(p, shm), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			      "mode=1777,size=65536k");
			close(shm);
		}
	}
	close(devfd);
	return 0;
}

/* binds src_fd (a host file) over rel inside the root, when rel is a regular file there */
static void bind_file(int rootfd, const char *rel, int src_fd)
{
	char p[32], q[32];
	if (src_fd < 0)
		return;
	int fd = root_open(rootfd, rel, O_PATH);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		mount(fd_path(p, src_fd), fd_path(q, fd), NULL, MS_BIND, NULL);
	close(fd);
}

struct child_plan {
	const char *root; /* reopened after unshare: fds from the old mount namespace cannot be
			     mount targets */
	int rootfd;
	int errpipe;
	int stdin_fd;
	const char *resolv_path, *hosts_path; /* opened after unshare, like root */
	const char *cwd;
	char *const *candidates; /* executable paths to try, in order */
	char *const *argv;
	char *const *env;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t n_groups;
	bool namespaces;
	bool inplace; /* no chroot; own process group, killed with its leftovers afterwards */
	bool suppress_sync;
};

/* The build root is thrown away or turned into a layer by reading it back; a crash loses the
 * build whatever was synced. So RUN's sync calls (dpkg alone makes one per unpacked file) need
 * not wait for the disk: a seccomp filter makes sync, syncfs, fsync, fdatasync and
 * sync_file_range return 0 at once, as systemd-nspawn's --suppress-sync does. Installed while
 * still privileged (no NO_NEW_PRIVS, so setuid programs in RUN keep working); where seccomp is
 * not allowed the syncs simply happen. */
static void suppress_sync(void)
{
#if defined(__x86_64__)
#define KILN_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define KILN_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif
#ifdef KILN_AUDIT_ARCH
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, KILN_AUDIT_ARCH, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __NR_sync
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sync, 5, 0),
#else
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_syncfs, 5, 0),
#endif
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_syncfs, 4, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fsync, 3, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fdatasync, 2, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sync_file_range, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 0),
	};
	struct sock_fprog prog = {.len = (unsigned short)ARRAY_SIZE(f), .filter = f};
	prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
#endif
}

_noreturn_ static void run_inner(struct child_plan *c)
{
	char p[32];
	if (c->namespaces) {
		c->rootfd = open(c->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (c->rootfd < 0)
			child_fail(c->errpipe, STEP_CHROOT);
		int fd = root_open(c->rootfd, "proc", O_PATH | O_DIRECTORY);
		if (fd < 0 || mount("proc", fd_path(p, fd), "proc",
		                    MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			child_fail(c->errpipe, STEP_PROC);
		close(fd);
		if (setup_dev(c->rootfd) < 0)
			child_fail(c->errpipe, STEP_DEV);
		fd = root_open(c->rootfd, "sys", O_PATH | O_DIRECTORY);
		if (fd >= 0) {
			if (mount("sysfs", fd_path(p, fd), "sysfs",
			          MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
				mount("/sys", p, NULL, MS_BIND | MS_REC | MS_RDONLY, NULL);
			close(fd);
		}
		int src = open(c->resolv_path, O_PATH | O_CLOEXEC);
		bind_file(c->rootfd, "etc/resolv.conf", src);
		if (src >= 0)
			close(src);
		src = open(c->hosts_path, O_PATH | O_CLOEXEC);
		bind_file(c->rootfd, "etc/hosts", src);
		if (src >= 0)
			close(src);
		sethostname("buildkitsandbox", STRLEN("buildkitsandbox"));
	}
	if (dup2(c->stdin_fd, 0) < 0)
		child_fail(c->errpipe, STEP_STDIN);
	if (c->inplace)
		setpgid(0, 0);
	else if (fchdir(c->rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0)
		child_fail(c->errpipe, STEP_CHROOT);
	if (chdir(c->cwd) < 0)
		child_fail(c->errpipe, STEP_CWD);
	if (c->suppress_sync)
		suppress_sync();
	if (setgroups(c->n_groups, c->groups) < 0)
		child_fail(c->errpipe, STEP_GROUPS);
	if (setresgid(c->gid, c->gid, c->gid) < 0)
		child_fail(c->errpipe, STEP_GID);
	if (setresuid(c->uid, c->uid, c->uid) < 0)
		child_fail(c->errpipe, STEP_UID);
	int last = ENOENT;
	for (char *const *cand = c->candidates; *cand; cand++) {
		execve(*cand, c->argv, c->env);
		if (errno != ENOENT && errno != ENOTDIR)
			last = errno;
	}
	errno = last;
	child_fail(c->errpipe, STEP_EXEC);
}

_noreturn_ static void run_outer(struct child_plan *c)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (c->namespaces) {
		if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC) < 0)
			child_fail(c->errpipe, STEP_UNSHARE);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			child_fail(c->errpipe, STEP_MOUNT_PRIVATE);
		pid_t pid = fork();
		if (pid < 0)
			child_fail(c->errpipe, STEP_FORK);
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			run_inner(c);
		}
		close(c->errpipe);
		int status;
		while (waitpid(pid, &status, 0) < 0) {
			if (errno != EINTR)
				_exit(127);
		}
		if (WIFEXITED(status))
			_exit(WEXITSTATUS(status));
		_exit(128 + WTERMSIG(status));
	}
	run_inner(c);
}

/* Mount points and injected files that the image lacks are created for the run and removed
 * afterwards, so that they never show up in the step's changes. */
struct injected {
	bool dir[3];
	bool file[2];
	int etcfd;
	struct timespec etc_before[2]; /* /etc's times before kiln touched it */
	struct timespec etc_after;     /* its mtime once kiln created the files */
};
static const char *const inject_dirs[] = {"proc", "dev", "sys"};
static const char *const inject_files[] = {"resolv.conf", "hosts"};

static void inject_prepare(int rootfd, bool namespaces, struct injected *in)
{
	memset(in, 0, sizeof(*in));
	in->etcfd = -1;
	if (!namespaces)
		return;
	struct stat st;
	for (size_t i = 0; i < ARRAY_SIZE(inject_dirs); i++) {
		if (fstatat(rootfd, inject_dirs[i], &st, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT && mkdirat(rootfd, inject_dirs[i], 0755) == 0)
			in->dir[i] = true;
	}
	in->etcfd = root_open(rootfd, "etc", O_RDONLY | O_DIRECTORY);
	if (in->etcfd < 0)
		return;
	if (fstat(in->etcfd, &st) == 0) {
		in->etc_before[0] = st.st_atim;
		in->etc_before[1] = st.st_mtim;
	}
	for (size_t i = 0; i < ARRAY_SIZE(inject_files); i++) {
		int fd =
		    forkguard_openat(in->etcfd, inject_files[i],
		                     O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0) {
			in->file[i] = true;
			forkguard_close(fd);
		}
	}
	if (fstat(in->etcfd, &st) == 0)
		in->etc_after = st.st_mtim;
}

static void inject_cleanup(int rootfd, struct injected *in)
{
	struct stat st;
	for (size_t i = 0; i < ARRAY_SIZE(inject_dirs); i++) {
		if (in->dir[i])
			unlinkat(rootfd, inject_dirs[i], AT_REMOVEDIR);
	}
	/* when the command left /etc's entries alone, its mtime goes back to what the image had,
	 * so that kiln's own mount points do not put /etc into the layer */
	bool restore = (in->file[0] || in->file[1]) && in->etcfd >= 0 &&
	               fstat(in->etcfd, &st) == 0 && st.st_mtim.tv_sec == in->etc_after.tv_sec &&
	               st.st_mtim.tv_nsec == in->etc_after.tv_nsec;
	for (size_t i = 0; in->etcfd >= 0 && i < ARRAY_SIZE(inject_files); i++) {
		if (in->file[i] &&
		    fstatat(in->etcfd, inject_files[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_size == 0)
			unlinkat(in->etcfd, inject_files[i], 0);
	}
	if (restore)
		futimens(in->etcfd, in->etc_before);
	if (in->etcfd >= 0)
		close(in->etcfd);
	in->etcfd = -1;
}

/* the executables to try for argv[0], following the command's own PATH */
static char **exec_candidates(const char *argv0, char *const *env)
{
	char **v = NULL;
	if (strchr(argv0, '/')) {
		strv_push(&v, xstrdup(argv0));
		return v;
	}
	const char *path = strv_env_get(env, "PATH");
	if (!path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	cleanup_free char *copy = xstrdup(path);
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
		strv_pushf(&v, "%s/%s", *d ? d : ".", argv0);
	if (!v)
		strv_push(&v, xstrdup(argv0));
	return v;
}

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static struct sandbox_caps probed;

/* a fork of the whole process and its exit: a few milliseconds, so once per process */
static void probe_caps(void)
{
	pid_t pid = forkguard_fork(NULL, 0);
	if (pid == 0) {
		int bits = 0;
		if (unshare(CLONE_NEWNS | CLONE_NEWPID) == 0 &&
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
			bits |= 1;
		if (chroot("/") == 0)
			bits |= 2;
		_exit(bits);
	}
	int status = 0;
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
		probed.namespaces = WEXITSTATUS(status) & 1;
		probed.chroot = WEXITSTATUS(status) & 2;
	}
}

void sandbox_probe(struct sandbox_caps *ret)
{
	pthread_once(&probe_once, probe_caps);
	*ret = probed;
}

int sandbox_run(const struct sandbox_run_opts *o, int *ret_status, struct kiln_err **err)
{
	/* probed once per process (build.c's choice of isolation asked first) */
	struct sandbox_caps caps;
	sandbox_probe(&caps);
	bool have_ns = caps.namespaces, have_chroot = caps.chroot;
	if (!o->inplace && !have_chroot)
		return kiln_err_set(err,
		                    "the chroot isolation mode needs CAP_SYS_CHROOT, which this "
		                    "environment does not allow");
	if (!o->inplace && !have_ns)
		return kiln_err_set(err, "the chroot isolation mode needs mount and PID namespaces "
		                         "(CAP_SYS_ADMIN), which this environment does not allow; "
		                         "inside a container use --isolation=inplace");
	bool ns = !o->inplace;
	cleanup_close int rootfd = open(o->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return kiln_err_errno(err, "open stage root '%s'", o->root);
	cleanup_close int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nullfd < 0)
		return kiln_err_errno(err, "open /dev/null");
	cleanup_strv char **candidates = exec_candidates(o->argv[0], o->env);
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return kiln_err_errno(err, "pipe");

	struct child_plan plan = {
	    .root = o->root,
	    .rootfd = rootfd,
	    .errpipe = pipefd[1],
	    .stdin_fd = nullfd,
	    .resolv_path = o->resolv_conf ? o->resolv_conf : "/etc/resolv.conf",
	    .hosts_path = o->hosts ? o->hosts : "/etc/hosts",
	    .cwd = o->cwd && *o->cwd ? o->cwd : "/",
	    .candidates = candidates,
	    .argv = o->argv,
	    .env = o->env,
	    .uid = o->user ? o->user->uid : 0,
	    .gid = o->user ? o->user->gid : 0,
	    .groups = o->user ? o->user->groups : NULL,
	    .n_groups = o->user ? o->user->n_groups : 0,
	    .namespaces = ns,
	    .inplace = o->inplace,
	    .suppress_sync = !getenv("KILN_RUN_SYNC"),
	};
	struct injected in;
	inject_prepare(rootfd, ns, &in);
	fflush(stdout);
	fflush(stderr);
	/* the child keeps only what it needs: the outer child lives as long as the command, and
	 * any other descriptor it held (another stage's file being written) would make that
	 * stage's exec fail with "Text file busy" (util/forkguard.h) */
	const int keep[] = {pipefd[1], nullfd, rootfd};
	pid_t pid = forkguard_fork(keep, ARRAY_SIZE(keep));
	if (pid < 0) {
		int e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		inject_cleanup(rootfd, &in);
		return kiln_err_errnum(err, e, "fork");
	}
	if (pid == 0)
		run_outer(&plan);
	close(pipefd[1]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			int e = errno;
			close(pipefd[0]);
			inject_cleanup(rootfd, &in);
			return kiln_err_errnum(err, e, "wait for RUN");
		}
	}
	if (plan.inplace)
		kill(-pid, SIGKILL); /* daemons the command left behind, as kaniko does */
	inject_cleanup(rootfd, &in);
	struct child_report rep = {0};
	ssize_t n = read(pipefd[0], &rep, sizeof(rep));
	close(pipefd[0]);
	if (n == (ssize_t)sizeof(rep)) {
		if (rep.step == STEP_EXEC)
			return kiln_err_errnum(err, rep.errnum, "exec '%s'", o->argv[0]);
		if (rep.step == STEP_CWD)
			return kiln_err_errnum(err, rep.errnum, "change to working directory '%s'",
			                       plan.cwd);
		return kiln_err_errnum(err, rep.errnum, "%s", step_name(rep.step));
	}
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}
