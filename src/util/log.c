/* log.c — formats log lines exactly as kaniko's logrus set-up does (reference §8.1). */
#include "log.h"
#include "buf.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
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

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	va_list ap;
	va_start(ap, fmt);
	cleanup_free char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	size_t ml = strlen(msg);
	if (ml && msg[ml - 1] == '\n')
		msg[--ml] = '\0';

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
		kiln_buf_addf(&b, " %-44s \n", msg);
		break;
	case LOG_FORMAT_TEXT:
		rfc3339(ts);
		kiln_buf_addf(&b, "time=\"%s\" level=%s msg=", ts, level_names[level]);
		if (needs_quote(msg))
			kiln_buf_add_quoted(&b, msg, false);
		else
			kiln_buf_adds(&b, msg);
		kiln_buf_addch(&b, '\n');
		break;
	case LOG_FORMAT_JSON:
		rfc3339(ts);
		kiln_buf_addf(&b, "{\"level\":\"%s\",\"msg\":", level_names[level]);
		kiln_buf_add_quoted(&b, msg, true);
		kiln_buf_addf(&b, ",\"time\":\"%s\"}\n", ts);
		break;
	}
	pthread_mutex_lock(&log_lock);
	fwrite(b.ptr, 1, b.len, stderr);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}
