/* timing.c — build timing rows, summary and BENCHMARK_FILE (timing.h). */
#include "timing.h"
#include "log.h"
#include "macro.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct row {
	char *kind, *what;
	int stage, cached;
	int64_t ns, bytes;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct row *rows;
static size_t n_rows;

int64_t timing_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void timing_record(const char *kind, int stage, const char *what, int64_t ns, int cached,
                   int64_t bytes)
{
	pthread_mutex_lock(&lock);
	rows = xreallocarray(rows, n_rows + 1, sizeof(*rows));
	rows[n_rows++] = (struct row){.kind = xstrdup(kind),
	                              .what = xstrdup(what ? what : ""),
	                              .stage = stage,
	                              .cached = cached,
	                              .ns = ns,
	                              .bytes = bytes};
	pthread_mutex_unlock(&lock);
}

static double secs(int64_t ns)
{
	return (double)ns / 1e9;
}

static const char *const phases[] = {"pull", "unpack", "step", "push"};

void timing_summary(int64_t total_ns)
{
	pthread_mutex_lock(&lock);
	bool json = log_format() == LOG_FORMAT_JSON;
	int64_t sum[ARRAY_SIZE(phases)] = {0};
	if (!json)
		log_info("Build timing summary (seconds; cache; layer or blob size):");
	for (size_t i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];
		for (size_t p = 0; p < ARRAY_SIZE(phases); p++)
			if (streq(r->kind, phases[p]))
				sum[p] += r->ns;
		if (json) {
			json_t *f = json_object();
			json_object_set_new(f, "event", json_string(r->kind));
			if (r->stage >= 0)
				json_object_set_new(f, "stage", json_integer(r->stage));
			json_object_set_new(f, streq(r->kind, "step") ? "step" : "what",
			                    json_string(r->what));
			json_object_set_new(f, "duration_ns", json_integer(r->ns));
			json_object_set_new(f, "seconds", json_real(secs(r->ns)));
			if (r->cached >= 0)
				json_object_set_new(f, "cached", json_boolean(r->cached));
			if (r->bytes >= 0)
				json_object_set_new(f,
				                    streq(r->kind, "step") ? "layer_size" : "bytes",
				                    json_integer(r->bytes));
			log_fields(LOG_INFO, f, "timing: %s", r->kind);
			json_decref(f);
			continue;
		}
		char stage[24] = "";
		if (r->stage >= 0)
			snprintf(stage, sizeof(stage), "stage %d", r->stage);
		char size[32] = "";
		if (r->bytes >= 1000000)
			snprintf(size, sizeof(size), "%.1f MB", (double)r->bytes / 1e6);
		else if (r->bytes >= 0)
			snprintf(size, sizeof(size), "%.1f kB", (double)r->bytes / 1e3);
		const char *cache = r->cached < 0 ? "" : r->cached ? "cached" : "built";
		log_info("  %-7s %-8s %8.3f s  %-6s %10s  %s", r->kind, stage, secs(r->ns), cache,
		         size, r->what);
	}
	if (json) {
		json_t *f = json_object();
		json_object_set_new(f, "event", json_string("total"));
		json_object_set_new(f, "duration_ns", json_integer(total_ns));
		json_object_set_new(f, "seconds", json_real(secs(total_ns)));
		for (size_t p = 0; p < ARRAY_SIZE(phases); p++) {
			char k[32];
			snprintf(k, sizeof(k), "%s_ns", phases[p]);
			json_object_set_new(f, k, json_integer(sum[p]));
		}
		log_fields(LOG_INFO, f, "timing: total");
		json_decref(f);
	} else {
		log_info("  total %.3f s: pull %.3f s, unpack %.3f s, steps %.3f s, push %.3f s",
		         secs(total_ns), secs(sum[0]), secs(sum[1]), secs(sum[2]), secs(sum[3]));
	}
	pthread_mutex_unlock(&lock);
}

static void add_ns(json_t *o, const char *k, int64_t ns)
{
	json_t *v = json_object_get(o, k);
	json_object_set_new(o, k, json_integer((v ? json_integer_value(v) : 0) + ns));
}

int timing_write_benchmark(const char *path, int64_t total_ns, struct kiln_err **err)
{
	json_t *o = json_object();
	add_ns(o, "Total Build Time", total_ns);
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];
		if (streq(r->kind, "pull"))
			add_ns(o, "Pulling Base Layers", r->ns);
		else if (streq(r->kind, "unpack"))
			add_ns(o, "Unpacking Rootfs", r->ns);
		else if (streq(r->kind, "push"))
			add_ns(o, "Pushing Image", r->ns);
		else
			add_ns(o, r->what, r->ns);
	}
	pthread_mutex_unlock(&lock);
	cleanup_free char *d = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	if (!d)
		return kiln_err_set(err, "BENCHMARK_FILE: cannot encode the timings");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return kiln_err_errno(err, "write BENCHMARK_FILE '%s'", path);
	size_t len = strlen(d), off = 0;
	while (off < len) {
		ssize_t n = write(fd, d + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int r = kiln_err_errno(err, "write BENCHMARK_FILE '%s'", path);
			close(fd);
			return r;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0)
		return kiln_err_errno(err, "write BENCHMARK_FILE '%s'", path);
	return 0;
}
