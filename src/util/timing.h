/* timing.h — where a build's time went: the rows of the end-of-build summary (kaniko log look,
 * or one JSON event per row with --log-format json) and kaniko's BENCHMARK_FILE. Thread-safe:
 * stages build in parallel. */
#pragma once

#include "err.h"

#include <stdint.h>

int64_t timing_now_ns(void);

/* one row. kind: "pull", "unpack", "step", "push"; stage: its index, -1 for none; cached: -1
 * when it does not apply, 0 or 1 for a step; bytes: the layer's or the blobs' size, -1 none */
void timing_record(const char *kind, int stage, const char *what, int64_t ns, int cached,
                   int64_t bytes);

/* logs the summary: every row in order, then the totals per phase and the build's */
void timing_summary(int64_t total_ns);

/* BENCHMARK_FILE: a JSON object, category → nanoseconds ("Total Build Time", "Pulling Base
 * Layers", "Unpacking Rootfs", "Pushing Image", and each step by its instruction) */
int timing_write_benchmark(const char *path, int64_t total_ns, struct kiln_err **err);
