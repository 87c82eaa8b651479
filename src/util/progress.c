/* progress.c — live bars on a terminal, periodic log lines elsewhere (progress.h).
 *
 * Lock order: the log's output lock, then `lock` here (log_msg calls clear/redraw with its
 * lock held; a bar redraw takes the output lock first). Lines mode never holds `lock` while it
 * logs. */
#include "progress.h"
#include "log.h"
#include "macro.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BAR_INTERVAL_NS (200 * 1000000LL)
#define BAR_WIDTH       30
#define MAX_BARS        16

struct progress {
	char *verb, *name;
	uint64_t total, done;
	int64_t start_ns, next_ns;
	uint64_t last_line_done; /* lines mode: bytes at the last line */
};

static struct {
	bool on, tty;
	int64_t interval_ns;
	pthread_mutex_t lock;
	struct progress *bars[MAX_BARS];
	size_t n_bars;
	size_t drawn; /* bar lines on the screen below the log */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void human(uint64_t n, char out[16])
{
	if (n >= 1000ULL * 1000 * 1000)
		snprintf(out, 16, "%.2f GB", (double)n / 1e9);
	else
		snprintf(out, 16, "%.1f MB", (double)n / 1e6);
}

static double rate(const struct progress *p, int64_t now)
{
	double s = (double)(now - p->start_ns) / 1e9;
	return s > 0.001 ? (double)__atomic_load_n(&p->done, __ATOMIC_RELAXED) / s / 1e6 : 0;
}

/* with g.lock held: moves up over the bars and clears them */
static void bars_clear_locked(void)
{
	if (g.drawn)
		fprintf(stderr, "\033[%zuA\033[J", g.drawn);
	g.drawn = 0;
}

static void bars_draw_locked(void)
{
	int64_t now = now_ns();
	for (size_t i = 0; i < g.n_bars; i++) {
		const struct progress *p = g.bars[i];
		uint64_t done = __atomic_load_n(&p->done, __ATOMIC_RELAXED);
		int fill = p->total ? (int)((double)done * BAR_WIDTH / (double)p->total) : 0;
		fill = MIN(fill, BAR_WIDTH);
		char bar[BAR_WIDTH + 1];
		memset(bar, '=', (size_t)fill);
		memset(bar + fill, ' ', (size_t)(BAR_WIDTH - fill));
		if (fill < BAR_WIDTH)
			bar[fill] = '>';
		bar[BAR_WIDTH] = 0;
		char d[16], t[16];
		human(done, d);
		human(p->total, t);
		fprintf(stderr, "\033[2K%-9s %.19s [%s] %s / %s %.1f MB/s\n", p->verb, p->name, bar,
		        d, t, rate(p, now));
	}
	g.drawn = g.n_bars;
	fflush(stderr);
}

static void display_clear(void)
{
	pthread_mutex_lock(&g.lock);
	bars_clear_locked();
	pthread_mutex_unlock(&g.lock);
}

static void display_redraw(void)
{
	pthread_mutex_lock(&g.lock);
	bars_draw_locked();
	pthread_mutex_unlock(&g.lock);
}

void progress_setup(bool tty)
{
	const char *off = getenv("KILN_PROGRESS");
	g.on = !(off && streq(off, "0"));
	g.tty = tty;
	g.interval_ns = 5 * 1000000000LL;
	const char *iv = getenv("KILN_PROGRESS_INTERVAL");
	if (iv && *iv) {
		char *end;
		double s = strtod(iv, &end);
		if (!*end && s >= 0 && s < 86400)
			g.interval_ns = (int64_t)(s * 1e9);
	}
	if (g.on && g.tty)
		log_set_display(display_clear, display_redraw);
}

struct progress *progress_start(const char *verb, const char *name, uint64_t total)
{
	if (!g.on || total < PROGRESS_MIN_BYTES)
		return NULL;
	struct progress *p = xcalloc(1, sizeof(*p));
	p->verb = xstrdup(verb);
	p->name = xstrdup(name);
	p->total = total;
	p->start_ns = now_ns();
	p->next_ns = p->start_ns + (g.tty ? BAR_INTERVAL_NS : g.interval_ns);
	if (g.tty) {
		log_lock_output();
		pthread_mutex_lock(&g.lock);
		if (g.n_bars < MAX_BARS) {
			g.bars[g.n_bars++] = p;
			bars_clear_locked();
			bars_draw_locked();
		}
		pthread_mutex_unlock(&g.lock);
		log_unlock_output();
	}
	return p;
}

void progress_update(struct progress *p, uint64_t done)
{
	if (!p)
		return;
	__atomic_store_n(&p->done, done, __ATOMIC_RELAXED); /* other threads draw every bar */
	int64_t now = now_ns();
	if (now < p->next_ns)
		return;
	if (g.tty) {
		p->next_ns = now + BAR_INTERVAL_NS;
		log_lock_output();
		pthread_mutex_lock(&g.lock);
		bars_clear_locked();
		bars_draw_locked();
		pthread_mutex_unlock(&g.lock);
		log_unlock_output();
		return;
	}
	p->next_ns = now + g.interval_ns;
	char d[16], t[16];
	human(done, d);
	human(p->total, t);
	log_info("%s %s: %s of %s (%d%%), %.1f MB/s", p->verb, p->name, d, t,
	         (int)((double)done * 100 / (double)p->total), rate(p, now));
}

/* "Pulling" -> "Pulled", "Unpacking" -> "Unpacked", "Pushing" -> "Pushed" */
static char *past(const char *verb)
{
	size_t n = strlen(verb);
	if (n > 4 && streq(verb + n - 3, "ing"))
		return xasprintf("%.*sed", (int)(n - 3), verb);
	return xstrdup(verb);
}

struct progress *progress_end(struct progress *p, bool ok)
{
	if (!p)
		return NULL;
	if (g.tty) {
		log_lock_output();
		pthread_mutex_lock(&g.lock);
		bars_clear_locked();
		for (size_t i = 0; i < g.n_bars; i++) {
			if (g.bars[i] == p) {
				memmove(&g.bars[i], &g.bars[i + 1],
				        (g.n_bars - i - 1) * sizeof(g.bars[0]));
				g.n_bars--;
				break;
			}
		}
		bars_draw_locked();
		pthread_mutex_unlock(&g.lock);
		log_unlock_output();
	}
	if (ok) {
		int64_t now = now_ns();
		__atomic_store_n(&p->done, p->total, __ATOMIC_RELAXED);
		char t[16];
		human(p->total, t);
		cleanup_free char *v = past(p->verb);
		log_info("%s %s: %s in %.2f s, %.1f MB/s", v, p->name, t,
		         (double)(now - p->start_ns) / 1e9, rate(p, now));
	}
	free(p->verb);
	free(p->name);
	free(p);
	return NULL;
}
