/* progress.h — progress of the big transfers (pull, unpack, push of a blob of a few MB or more).
 *
 * On a terminal (stderr a tty, log format color) every blob in flight has a live bar, redrawn at
 * most 5 times a second below the log lines; otherwise (CI logs, --log-format text/json) one
 * plain log line per blob every few seconds (bytes, total, rate), and one when it is done.
 * Updates are cheap (a coarse clock read; output only when the interval has passed), so the
 * transfer never waits for its report. Thread-safe: blobs transfer on several threads. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* blobs smaller than this report nothing */
#define PROGRESS_MIN_BYTES (4 * 1024 * 1024)

/* called once by the CLI after log_setup. tty: live bars; otherwise lines. The environment
 * variable KILN_PROGRESS_INTERVAL (seconds, decimal, default 5) sets the interval of the
 * lines; KILN_PROGRESS=0 turns progress off. */
void progress_setup(bool tty);

struct progress;

/* verb: "Pulling", "Unpacking", "Pushing" (the done line says "Pulled", "Unpacked", "Pushed");
 * name: what (a digest); total: its size. NULL (a no-op handle) below PROGRESS_MIN_BYTES or when
 * progress is off. */
struct progress *progress_start(const char *verb, const char *name, uint64_t total);
/* done: bytes so far (absolute; a retry may go back). Accepts NULL. */
void progress_update(struct progress *p, uint64_t done);
/* the final line (ok) or nothing (failure), and frees; accepts NULL; returns NULL */
struct progress *progress_end(struct progress *p, bool ok);
