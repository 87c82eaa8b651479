/* forkguard.h — no child process ever holds a file that another thread is writing.
 *
 * A fork copies every descriptor of the whole process, O_CLOEXEC or not, including those that
 * other threads have open for writing at that instant; the kernel refuses to exec a file while
 * any process holds it open for writing (ETXTBSY). A RUN's sandbox child lives for the whole
 * command (it waits for it in the PID namespace), so a stage extracting /bin/busybox while
 * another stage forks would make its own `/bin/sh -c` fail with "Text file busy".
 *
 * The scheme, airtight rather than timing-dependent:
 *  - whoever opens a file for writing that a build may later execute (anything in a stage
 *    root) opens it with forkguard_openat and closes it with forkguard_close: between the two
 *    the thread holds a process-wide rwlock shared (writers do not wait for each other);
 *  - forkguard_fork takes the lock exclusively, so no such descriptor exists at fork time
 *    in the child, and since the child then closes every descriptor it was not asked to keep
 *    (close_range) before it does anything else, descriptors opened afterwards are never
 *    inherited either: the lock is released as soon as the child reports, over a pipe, that it
 *    has closed them (the pipe's write end is one of the descriptors it closes: EOF is the
 *    report, and a child that dies early reports just the same).
 * The shared hold is counted per thread, so nested opens never wait on a pending fork (which
 * would deadlock a reader-vs-writer-preferring lock); a thread must not fork while it holds a
 * guarded descriptor (asserted). */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* openat with flags that include O_WRONLY or O_RDWR; -1 with errno on failure (nothing held) */
int forkguard_openat(int dirfd, const char *path, int flags, mode_t mode);
/* closes a descriptor from forkguard_openat; returns close's result. Accepts -1. */
int forkguard_close(int fd);
void forkguard_closep(int *fd);
#define cleanup_guarded_close __attribute__((cleanup(forkguard_closep)))

/* fork(2) that returns in the child with only 0, 1, 2 and the n descriptors of keep still
 * open (async-signal-safe: the child may go on to exec or _exit only); in the parent once the
 * child has closed everything else. -1 with errno when fork fails. */
pid_t forkguard_fork(const int *keep, size_t n);
