/* forkguard.c — see forkguard.h for why: writers of executable files hold a process-wide lock
 * shared, a fork holds it exclusively until the child has closed every inherited descriptor. */
#include "forkguard.h"
#include "macro.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

static pthread_rwlock_t guard;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
/* guarded descriptors this thread holds open: the lock is held shared while it is non-zero */
static __thread unsigned held;

static void guard_init(void)
{
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
	/* a fork waits only for the writes in progress, not for a stream of new ones */
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&guard, &a);
	pthread_rwlockattr_destroy(&a);
}

int forkguard_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	pthread_once(&guard_once, guard_init);
	if (held++ == 0)
		pthread_rwlock_rdlock(&guard);
	int fd = openat(dirfd, path, flags | O_CLOEXEC, mode);
	if (fd < 0) {
		int e = errno;
		if (--held == 0)
			pthread_rwlock_unlock(&guard);
		errno = e;
	}
	return fd;
}

int forkguard_close(int fd)
{
	if (fd < 0)
		return 0;
	int r = close(fd);
	int e = errno;
	assert(held > 0);
	if (--held == 0)
		pthread_rwlock_unlock(&guard);
	errno = e;
	return r;
}

void forkguard_closep(int *fd)
{
	int saved = errno;
	forkguard_close(*fd);
	errno = saved;
}

/* in the child: closes [lo, hi] without allocating; close_range, or one by one where the
 * kernel predates it (5.9) */
static void close_span(unsigned lo, unsigned hi, unsigned maxfd)
{
	if (lo > hi)
		return;
	if (close_range(lo, hi, 0) == 0)
		return;
	for (unsigned fd = lo; fd <= hi && fd < maxfd; fd++)
		close((int)fd);
}

pid_t forkguard_fork(const int *keep, size_t n)
{
	assert(held == 0); /* a thread holding a guarded descriptor would wait for itself */
	pthread_once(&guard_once, guard_init);
	/* the descriptors to keep, sorted, computed before fork (the child may not allocate) */
	int sorted[16];
	size_t k = 0;
	assert(n <= ARRAY_SIZE(sorted));
	for (size_t i = 0; i < n && k < ARRAY_SIZE(sorted); i++) {
		if (keep[i] <= 2)
			continue;
		size_t j = k++;
		while (j > 0 && sorted[j - 1] > keep[i]) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = keep[i];
	}
	struct rlimit rl = {0};
	unsigned maxfd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < INT32_MAX
	                     ? (unsigned)rl.rlim_cur
	                     : 65536;
	pthread_rwlock_wrlock(&guard);
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0) {
		int e = errno;
		pthread_rwlock_unlock(&guard);
		errno = e;
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		unsigned lo = 3;
		for (size_t i = 0; i < k; i++) {
			if ((unsigned)sorted[i] >= lo) {
				if ((unsigned)sorted[i] > lo)
					close_span(lo, (unsigned)sorted[i] - 1, maxfd);
				lo = (unsigned)sorted[i] + 1;
			}
		}
		close_span(lo, ~0U, maxfd); /* includes both ends of the ready pipe */
		return 0;
	}
	int e = errno;
	close(ready[1]);
	if (pid > 0) {
		char c;
		while (read(ready[0], &c, 1) < 0 && errno == EINTR)
			;
	}
	pthread_rwlock_unlock(&guard);
	close(ready[0]);
	errno = e;
	return pid;
}
