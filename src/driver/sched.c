/* sched.c — stages built concurrently: each as soon as the stages it reads are done, up to one
 * per CPU (four at most), one at a time in place. */
#include "driver.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct sched {
	struct builder *b;
	size_t n;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool *done, *running;
	size_t active;
	struct kiln_err *err; /* the first failure */
};

struct stage_job {
	struct sched *sc;
	size_t idx;
};

static void *stage_thread(void *arg)
{
	struct stage_job *job = arg;
	struct sched *sc = job->sc;
	struct kiln_err *e = NULL;
	int r = build_stage(sc->b, job->idx, job->idx == sc->n - 1, &e);
	pthread_mutex_lock(&sc->lock);
	sc->done[job->idx] = true;
	sc->running[job->idx] = false;
	sc->active--;
	if (r < 0 && !sc->err)
		sc->err = e;
	else
		kiln_err_free(e);
	pthread_cond_broadcast(&sc->cv);
	pthread_mutex_unlock(&sc->lock);
	free(job);
	return NULL;
}

/* Builds every stage that is not skipped, each as soon as the stages it reads are done; up to
 * one per CPU at a time (one at a time in place, where all share "/"). A failure stops new
 * stages from starting; the ones running finish their current work. */
int build_stages(struct builder *b, size_t n, struct kiln_err **err)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t max = b->inplace ? 1 : (size_t)(cpus < 1 ? 1 : cpus > 4 ? 4 : cpus);
	struct sched sc = {.b = b, .n = n};
	pthread_mutex_init(&sc.lock, NULL);
	pthread_cond_init(&sc.cv, NULL);
	cleanup_free bool *done = xcalloc(n, sizeof(bool));
	cleanup_free bool *running = xcalloc(n, sizeof(bool));
	sc.done = done;
	sc.running = running;
	for (size_t i = 0; i < n; i++)
		done[i] = b->stages[i]->skipped;
	cleanup_free pthread_t *threads = xcalloc(n, sizeof(pthread_t));
	cleanup_free bool *started = xcalloc(n, sizeof(bool));
	pthread_mutex_lock(&sc.lock);
	for (;;) {
		bool all = true;
		for (size_t i = 0; i < n; i++)
			all = all && done[i];
		if (all || (sc.err && sc.active == 0))
			break;
		bool launched = false;
		for (size_t i = 0; i < n && !sc.err && sc.active < max; i++) {
			if (done[i] || running[i])
				continue;
			const struct plan_stage *ps = &b->plan->stages[i];
			bool ready = true;
			if (ps->reads_any) {
				for (size_t j = 0; j < i && ready; j++)
					ready = done[j];
			}
			for (size_t k = 0; k < ps->n_reads && ready; k++)
				ready = done[ps->reads[k]];
			/* with one worker, keep kaniko's order */
			if (!ready || (max == 1 && i > 0 && !done[i - 1]))
				continue;
			struct stage_job *job = xcalloc(1, sizeof(*job));
			job->sc = &sc;
			job->idx = i;
			running[i] = true;
			sc.active++;
			if (pthread_create(&threads[i], NULL, stage_thread, job) != 0) {
				running[i] = false;
				sc.active--;
				free(job);
				sc.err = NULL;
				kiln_err_set(&sc.err, "cannot start a thread for stage %zu", i);
				break;
			}
			started[i] = true;
			launched = true;
		}
		if (!launched || sc.active >= max)
			pthread_cond_wait(&sc.cv, &sc.lock);
	}
	pthread_mutex_unlock(&sc.lock);
	for (size_t i = 0; i < n; i++) {
		if (started[i])
			pthread_join(threads[i], NULL);
	}
	pthread_cond_destroy(&sc.cv);
	pthread_mutex_destroy(&sc.lock);
	if (sc.err) {
		kiln_err_free(*err);
		*err = sc.err;
		return -1;
	}
	return 0;
}
