/* log.h — kaniko-look log lines on stderr (logrus text/color/json, reference §8). */
#pragma once

#include "macro.h"

#include <stdbool.h>

enum log_level {
	LOG_PANIC,
	LOG_FATAL,
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
	LOG_TRACE,
};

enum log_format {
	LOG_FORMAT_COLOR,
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};

/* parse "info", "WARNING", ...; -1 when unknown */
int log_level_parse(const char *s);
/* parse "text" | "color" | "json"; -1 when unknown */
int log_format_parse(const char *s);

void log_setup(enum log_level level, enum log_format format, bool timestamp);
bool log_enabled(enum log_level level);
enum log_format log_format(void);
void log_msg(enum log_level level, const char *fmt, ...) _printf_(2, 3);

/* a live terminal display below the log (progress bars): clear is called before each log line
 * is written and redraw after it, with the output lock held */
void log_set_display(void (*clear)(void), void (*redraw)(void));
/* the lock every write to stderr holds, for a display that writes on its own */
void log_lock_output(void);
void log_unlock_output(void);
/* one line with fields: JSON members in --log-format json (logrus WithFields), " key=value"
 * after the message otherwise; fields is a JSON object (may be NULL), not consumed */
struct json_t;
void log_fields(enum log_level level, const struct json_t *fields, const char *fmt, ...)
    _printf_(3, 4);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                   \
	do {                                             \
		if (log_enabled(LOG_DEBUG))              \
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)
#define log_trace(...)                                   \
	do {                                             \
		if (log_enabled(LOG_TRACE))              \
			log_msg(LOG_TRACE, __VA_ARGS__); \
	} while (0)
