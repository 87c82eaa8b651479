/* log.c — formats log lines exactly as kaniko's logrus set-up does (reference §8.1). */
#include "log.h"
#include "buf.h"
#include "xalloc.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static struct {
	enum log_level level;
	enum log_format format;
	bool timestamp;
	struct timespec start;
} cfg = {.level = LOG_INFO, .format = LOG_FORMAT_COLOR};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*display_clear)(void), (*display_redraw)(void);

void log_set_display(void (*clear)(void), void (*redraw)(void))
{
	pthread_mutex_lock(&log_lock);
	display_clear = clear;
	display_redraw = redraw;
	pthread_mutex_unlock(&log_lock);
}

void log_lock_output(void)
{
	pthread_mutex_lock(&log_lock);
}

void log_unlock_output(void)
{
	pthread_mutex_unlock(&log_lock);
}

static const char *const level_names[] = {"panic", "fatal", "error", "warning",
                                          "info",  "debug", "trace"};
static const char *const level_tags[] = {"PANI", "FATA", "ERRO", "WARN", "INFO", "DEBU", "TRAC"};
static const int level_colors[] = {31, 31, 31, 33, 36, 37, 37};

__attribute__((constructor)) static void log_init_clock(void)
{
	clock_gettime(CLOCK_MONOTONIC, &cfg.start);
}

int log_level_parse(const char *s)
{
	if (!strcasecmp(s, "warn"))
		return LOG_WARN;
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (!strcasecmp(s, level_names[i]))
			return (int)i;
	}
	return -1;
}

int log_format_parse(const char *s)
{
	if (streq(s, "color"))
		return LOG_FORMAT_COLOR;
	if (streq(s, "text"))
		return LOG_FORMAT_TEXT;
	if (streq(s, "json"))
		return LOG_FORMAT_JSON;
	return -1;
}

void log_setup(enum log_level level, enum log_format format, bool timestamp)
{
	cfg.level = level;
	cfg.format = format;
	cfg.timestamp = timestamp;
}

enum log_format log_format(void)
{
	return cfg.format;
}

bool log_enabled(enum log_level level)
{
	return level <= cfg.level;
}

/* RFC 3339 local time with a numeric offset, "Z" for UTC, as Go prints it */
static void rfc3339(char out[40])
{
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	if (tm.tm_gmtoff == 0) {
		snprintf(out + n, 40 - n, "Z");
	} else {
		long off = tm.tm_gmtoff / 60;
		char sign = off < 0 ? '-' : '+';
		if (off < 0)
			off = -off;
		snprintf(out + n, 40 - n, "%c%02ld:%02ld", sign, off / 60, off % 60);
	}
}

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool needs_quote(const char *s)
{
	if (!*s)
		return true;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("-._/@^+", c)))
			return true;
	}
	return false;
}

/* " key=value" for each field in key order, as logrus's text formatter writes them */
static void add_fields_text(struct kiln_buf *b, const json_t *fields, bool color, int c)
{
	const char **keys = xcalloc(json_object_size(fields) + 1, sizeof(char *));
	size_t n = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)fields, k, v) keys[n++] = k;
	qsort(keys, n, sizeof(*keys), strcmp_ptr);
	for (size_t i = 0; i < n; i++) {
		v = json_object_get(fields, keys[i]);
		if (color)
			kiln_buf_addf(b, " \033[%dm%s\033[0m=", c, keys[i]);
		else
			kiln_buf_addf(b, " %s=", keys[i]);
		if (json_is_string(v)) {
			const char *sv = json_string_value(v);
			if (needs_quote(sv))
				kiln_buf_add_quoted(b, sv, false);
			else
				kiln_buf_adds(b, sv);
		} else if (json_is_real(v)) {
			kiln_buf_addf(b, "%.3f", json_real_value(v));
		} else {
			cleanup_free char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			kiln_buf_adds(b, d ? d : "null");
		}
	}
	free(keys);
}

_printf_(3, 0) static void log_vfields(enum log_level level, const json_t *fields, const char *fmt,
                                       va_list ap)
{
	if (!log_enabled(level))
		return;
	cleanup_free char *msg = xvasprintf(fmt, ap);
	size_t ml = strlen(msg);
	if (ml && msg[ml - 1] == '\n')
		msg[--ml] = '\0';
	if (fields && !json_object_size(fields))
		fields = NULL;

	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	char ts[40];
	switch (cfg.format) {
	case LOG_FORMAT_COLOR:
		kiln_buf_addf(&b, "\033[%dm%s\033[0m", level_colors[level], level_tags[level]);
		if (cfg.timestamp) {
			rfc3339(ts);
			kiln_buf_addf(&b, "[%s]", ts);
		} else {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			long secs = (long)(now.tv_sec - cfg.start.tv_sec);
			kiln_buf_addf(&b, "[%04ld]", secs);
		}
		kiln_buf_addf(&b, " %-44s", msg);
		if (fields)
			add_fields_text(&b, fields, true, level_colors[level]);
		kiln_buf_adds(&b, " \n");
		break;
	case LOG_FORMAT_TEXT:
		rfc3339(ts);
		kiln_buf_addf(&b, "time=\"%s\" level=%s msg=", ts, level_names[level]);
		if (needs_quote(msg))
			kiln_buf_add_quoted(&b, msg, false);
		else
			kiln_buf_adds(&b, msg);
		if (fields)
			add_fields_text(&b, fields, false, 0);
		kiln_buf_addch(&b, '\n');
		break;
	case LOG_FORMAT_JSON:
		rfc3339(ts);
		if (fields) {
			/* logrus marshals one map: the keys come out sorted */
			json_t *o = json_deep_copy(fields);
			json_object_set_new(o, "level", json_string(level_names[level]));
			json_object_set_new(o, "msg", json_string(msg));
			json_object_set_new(o, "time", json_string(ts));
			cleanup_free char *d =
			    json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
			json_decref(o);
			kiln_buf_addf(&b, "%s\n", d ? d : "{}");
			break;
		}
		kiln_buf_addf(&b, "{\"level\":\"%s\",\"msg\":", level_names[level]);
		kiln_buf_add_quoted(&b, msg, true);
		kiln_buf_addf(&b, ",\"time\":\"%s\"}\n", ts);
		break;
	}
	pthread_mutex_lock(&log_lock);
	if (display_clear)
		display_clear();
	fwrite(b.ptr, 1, b.len, stderr);
	fflush(stderr);
	if (display_redraw)
		display_redraw();
	pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vfields(level, NULL, fmt, ap);
	va_end(ap);
}

void log_fields(enum log_level level, const struct json_t *fields, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vfields(level, fields, fmt, ap);
	va_end(ap);
}
