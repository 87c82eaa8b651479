/* compress.h — a layer's compressor, on every core, with output that does not depend on the
 * number of threads. gzip: the input is cut into members of 1 MiB compressed independently
 * (RFC 1952 §2.2) by a pool of workers; zstd: libzstd's multi-threaded mode with a fixed job
 * size. The compressed bytes reach the sink in order, from the thread that feeds the input. */
#pragma once

#include "layer.h"

#include "util/err.h"

#include <stddef.h>

/* input bytes per member */
#define COMPRESS_MEMBER (1024 * 1024)
/* most worker threads a compressor starts, whatever the number of cores: gzip memory stays
 * below COMPRESS_MAX_THREADS + 2 members in and out (zstd uses at most 4 workers) */
#define COMPRESS_MAX_THREADS 8

struct compressor;

/* receives compressed bytes in order; < 0 with err set stops the compressor */
typedef int (*compressor_sink)(void *ud, const void *buf, size_t len, struct kiln_err **err);

/* level <= 0: the default (gzip 6, zstd 3); threads 0: compress_default_threads(). gzip: with
 * threads 1 every member is compressed by the calling thread; with more, worker threads start
 * once the input passes one member (a small layer never starts any). zstd: libzstd starts
 * min(threads, 4) workers (at least one, so that one thread writes what several write). */
int compressor_new(enum fs_compression c, int level, unsigned threads, compressor_sink sink,
                   void *ud, struct compressor **ret, struct kiln_err **err);
int compressor_write(struct compressor *cz, const void *buf, size_t len, struct kiln_err **err);
/* compresses what is left (a stream has at least one member, even for no input) and hands every
 * member to the sink */
int compressor_finish(struct compressor *cz, struct kiln_err **err);
/* stops and joins the workers; what was not finished is dropped */
struct compressor *compressor_free(struct compressor *cz);

/* the cores this process may run on (sched_getaffinity), at most COMPRESS_MAX_THREADS; the
 * environment variable KILN_COMPRESS_THREADS (1..COMPRESS_MAX_THREADS) overrides it */
unsigned compress_default_threads(void);

DEFINE_FREEP(struct compressor, compressor_free)
