/* tmpclean.c — see tmpclean.h. The table is a fixed array: a slot is claimed with a
 * compare-and-swap, filled, then published; the handler reads only published slots, so a
 * signal arriving in any thread at any time sees either a whole entry or none. */
#include "tmpclean.h"

#include "macro.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 128

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY };

static struct {
	atomic_int state;
	int dirfd;
	pid_t pid; /* a forked child must not remove its parent's files */
	char name[64];
} slots[SLOTS];

static const int signals[] = {SIGTERM, SIGINT, SIGHUP};
static struct sigaction previous[ARRAY_SIZE(signals)];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void on_signal(int sig, siginfo_t *info, void *uctx)
{
	int saved = errno;
	pid_t me = getpid();
	for (size_t i = 0; i < SLOTS; i++)
		if (atomic_load(&slots[i].state) == SLOT_READY && slots[i].pid == me)
			unlinkat(slots[i].dirfd, slots[i].name, 0);
	errno = saved;
	for (size_t i = 0; i < ARRAY_SIZE(signals); i++) {
		if (signals[i] != sig)
			continue;
		const struct sigaction *old = &previous[i];
		if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
			old->sa_sigaction(sig, info, uctx);
			return;
		}
		if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
			old->sa_handler(sig);
			return;
		}
	}
	/* the default action: die of the signal, as without us */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(signals); i++) {
		struct sigaction old;
		if (sigaction(signals[i], NULL, &old) < 0 || old.sa_handler == SIG_IGN)
			continue;
		previous[i] = old;
		struct sigaction sa = {.sa_sigaction = on_signal,
		                       .sa_flags = SA_SIGINFO | SA_RESTART};
		sigemptyset(&sa.sa_mask);
		sigaction(signals[i], &sa, NULL);
	}
}

int tmpclean_register(int dirfd, const char *name)
{
	if (strlen(name) >= sizeof(slots[0].name))
		return -1;
	pthread_once(&once, install);
	for (int i = 0; i < SLOTS; i++) {
		int expect = SLOT_FREE;
		if (!atomic_compare_exchange_strong(&slots[i].state, &expect, SLOT_FILLING))
			continue;
		slots[i].dirfd = dirfd;
		slots[i].pid = getpid();
		memcpy(slots[i].name, name, strlen(name) + 1);
		atomic_store(&slots[i].state, SLOT_READY);
		return i;
	}
	return -1;
}

void tmpclean_forget(int slot)
{
	if (slot >= 0 && slot < SLOTS)
		atomic_store(&slots[slot].state, SLOT_FREE);
}
