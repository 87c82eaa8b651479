/* test_forkguard.c — a guarded fork's child holds nothing but what it keeps, and it never
 * starts while another thread holds a file open for writing. */
#include "harness.h"
#include "util/forkguard.h"
#include "util/fsutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

/* exit status of a child that reports which of three descriptors are still open */
static int child_open_mask(int a, int b, int c, const int *keep, size_t n)
{
	pid_t pid = forkguard_fork(keep, n);
	if (pid == 0) {
		int m = (fcntl(a, F_GETFD) >= 0) | (fcntl(b, F_GETFD) >= 0) << 1 |
		        (fcntl(c, F_GETFD) >= 0) << 2 | (fcntl(1, F_GETFD) >= 0) << 3;
		_exit(m);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

TEST(forkguard_child_keeps_only_what_it_asks_for)
{
	/* O_CLOEXEC or not: the child closes them before it execs anything */
	int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int b = open("/dev/null", O_RDONLY);
	int c = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(a > 2 && b > 2 && c > 2);
	ASSERT_EQ(child_open_mask(a, b, c, NULL, 0), 8);
	int keep[] = {c, a};
	ASSERT_EQ(child_open_mask(a, b, c, keep, 2), 8 | 4 | 1);
	close(a);
	close(b);
	close(c);
}

struct writer {
	char path[64];
	atomic_int state; /* 1 once the file is open, 2 once closed */
};

static void *hold_open(void *arg)
{
	struct writer *w = arg;
	int fd = forkguard_openat(AT_FDCWD, w->path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	atomic_store(&w->state, 1);
	struct timespec ts = {0, 200 * 1000 * 1000};
	nanosleep(&ts, NULL);
	atomic_store(&w->state, 2);
	forkguard_close(fd);
	return NULL;
}

TEST(forkguard_fork_waits_for_writers)
{
	struct writer w = {.path = "/tmp/kiln-test-fg-XXXXXX"};
	int tmp = mkstemp(w.path);
	ASSERT_TRUE(tmp >= 0);
	close(tmp);
	pthread_t t;
	ASSERT_EQ(pthread_create(&t, NULL, hold_open, &w), 0);
	while (atomic_load(&w.state) == 0)
		sched_yield();
	/* the writer holds its file for 200 ms: the fork happens only after it closed it, so the
	 * child never holds a writable descriptor of it */
	pid_t pid = forkguard_fork(NULL, 0);
	if (pid == 0)
		_exit(0);
	int closed_at_fork = atomic_load(&w.state);
	int status = 0;
	waitpid(pid, &status, 0);
	pthread_join(t, NULL);
	unlink(w.path);
	ASSERT_EQ(closed_at_fork, 2);
}
