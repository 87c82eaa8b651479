/* selfrss.c — runs a command and writes the peak RSS of that one process (its VmHWM), not of
 * the processes it starts: /usr/bin/time's %M (getrusage of the reaped child) is the largest
 * RSS among the command and every descendant it waited for, which for kiln is often a RUN's
 * apt-get or cc1. ptrace's exit stop (PTRACE_O_TRACEEXIT) holds the process just before its
 * memory is released, where /proc/<pid>/status still has VmHWM; nothing else is traced (no
 * children, no threads: a thread's own exit does not stop it, the process's main thread's does).
 *   selfrss OUT command [args...]   writes "<kB>\n" to OUT ("-" if not seen); exits with the
 *                                   command's status (128+signal when killed)
 * bench/e2e.sh builds it with cc and runs kiln under it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static long vm_hwm_kb(pid_t pid)
{
	char p[64], line[256];
	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	FILE *f = fopen(p, "r");
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: selfrss OUT command [args...]\n");
		return 2;
	}
	int go[2];
	if (pipe(go) < 0) {
		perror("selfrss: pipe");
		return 2;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("selfrss: fork");
		return 2;
	}
	if (pid == 0) {
		char c;
		close(go[1]);
		/* runs only once the parent is attached, so that the exit stop is certain */
		if (read(go[0], &c, 1) != 1)
			_exit(127);
		close(go[0]);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "selfrss: exec %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	close(go[0]);
	if (ptrace(PTRACE_SEIZE, pid, NULL,
	           (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL)) < 0) {
		perror("selfrss: ptrace");
		kill(pid, SIGKILL);
		return 2;
	}
	if (write(go[1], "g", 1) != 1) {
		perror("selfrss: write");
		return 2;
	}
	close(go[1]);
	long kb = -1;
	int status = 0;
	for (;;) {
		if (waitpid(pid, &status, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			perror("selfrss: waitpid");
			return 2;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status))
			break;
		if (!WIFSTOPPED(status))
			continue;
		int sig = 0;
		if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8)))
			kb = vm_hwm_kb(pid);
		else if (status >> 16 == 0)
			sig = WSTOPSIG(status); /* a signal on its way to the command: delivered */
		/* else a group stop (PTRACE_EVENT_STOP): continued */
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
	}
	FILE *out = fopen(argv[1], "w");
	if (out) {
		if (kb >= 0)
			fprintf(out, "%ld\n", kb);
		else
			fprintf(out, "-\n");
		fclose(out);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
