/* compress.c — layer compression on every core (compress.h).
 *
 * gzip: each member is a pure function of its 1 MiB of input and the level, so the number of
 * threads cannot change a byte of the output: the parallel path only decides who compresses
 * which member, and the members are handed to the sink in input order. The pool is a ring of
 * slots (input member + its compressed form). The feeding thread fills the slot at
 * `submitted`, publishes it, and before it reuses a slot, writes out (in order) the members up
 * to it; workers take published slots in order and compress them.
 *
 * zstd: libzstd's own workers (ZSTD_c_nbWorkers). Its multi-threaded format cuts the input into
 * jobs of ZSTD_JOB bytes that each see the previous job's tail as history, and its output
 * depends on the job size, never on the number of workers (1 or more): one frame, about 2%
 * larger than one thread's single job (40.87 → 41.80 MB on a debian tar), where independent
 * 1 MiB frames would cost 10%. */
#include "compress.h"

#include "util/xalloc.h"

#include <libdeflate.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* incompressible input (media, archives, random test data) is stored, not searched for
 * matches that are not there: a member whose three probe slices each shrink by less than
 * 3% at level 1 is written with stored blocks (libdeflate level 0). The decision is a pure
 * function of the member's bytes, so it changes nothing about thread-independence. */
#define PROBE_SLICE (32 * 1024)
#define PROBE_RATIO 0.97

struct cctx {
	struct libdeflate_compressor *dc;
	struct libdeflate_compressor *probe, *store; /* levels 1 and 0 */
	unsigned char *probe_out;
	size_t probe_cap;
	ZSTD_CCtx *zs;
};

struct slot {
	unsigned char *in;
	size_t in_len;
	unsigned char *out;
	size_t out_len;
	bool done;
	char *err; /* the worker's failure, reported when the slot is written */
};

/* zstd job size: memory ~ 3 jobs per worker, size +2% against one job (header comment) */
#define ZSTD_JOB         (2 * 1024 * 1024)
#define ZSTD_MAX_WORKERS 4
#define ZSTD_OUT         (256 * 1024)

struct compressor {
	enum fs_compression c;
	int level;
	unsigned threads;
	compressor_sink sink;
	void *ud;
	size_t out_cap;
	bool any_member;
	/* serial path, until the pool starts (and for good with one thread) */
	struct cctx main;
	unsigned char *in, *out;
	size_t in_len;
	/* the pool */
	bool pool;
	struct cctx *wctx;
	pthread_t *tids;
	unsigned ntids;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct slot *slots;
	size_t nslots;
	uint64_t submitted, taken, written;
	bool stop;
};

static int cctx_init(struct compressor *cz, struct cctx *x, struct kiln_err **err)
{
	if (cz->c == FS_GZIP) {
		x->dc = libdeflate_alloc_compressor(cz->level);
		x->probe = libdeflate_alloc_compressor(1);
		x->store = libdeflate_alloc_compressor(0);
		if (!x->dc || !x->probe || !x->store)
			return kiln_err_set(err, "gzip: cannot initialise the compressor");
		x->probe_cap = libdeflate_deflate_compress_bound(x->probe, PROBE_SLICE);
		x->probe_out = xmalloc(x->probe_cap);
		return 0;
	}
	x->zs = ZSTD_createCCtx();
	if (!x->zs)
		xalloc_die();
	unsigned workers = MIN(cz->threads, ZSTD_MAX_WORKERS);
	size_t zr = ZSTD_CCtx_setParameter(x->zs, ZSTD_c_compressionLevel, cz->level);
	if (!ZSTD_isError(zr))
		zr = ZSTD_CCtx_setParameter(x->zs, ZSTD_c_nbWorkers, (int)workers);
	if (!ZSTD_isError(zr))
		zr = ZSTD_CCtx_setParameter(x->zs, ZSTD_c_jobSize, ZSTD_JOB);
	if (ZSTD_isError(zr))
		return kiln_err_set(err, "zstd: %s", ZSTD_getErrorName(zr));
	return 0;
}

static void cctx_release(struct cctx *x)
{
	if (x->dc)
		libdeflate_free_compressor(x->dc);
	if (x->probe)
		libdeflate_free_compressor(x->probe);
	if (x->store)
		libdeflate_free_compressor(x->store);
	free(x->probe_out);
	ZSTD_freeCCtx(x->zs);
	*x = (struct cctx){0};
}

/* one gzip member; on failure a static message */
static const char *compress_member(const struct compressor *cz, struct cctx *x,
                                   const unsigned char *in, size_t len, unsigned char *out,
                                   size_t *ret_len)
{
	struct libdeflate_compressor *c = x->dc;
	if (len >= 3 * PROBE_SLICE) {
		bool incompressible = true;
		for (int i = 0; i < 3 && incompressible; i++) {
			size_t at = (len - PROBE_SLICE) / 2 * (size_t)i;
			size_t pn = libdeflate_deflate_compress(x->probe, in + at, PROBE_SLICE,
			                                        x->probe_out, x->probe_cap);
			incompressible = pn == 0 || (double)pn >= PROBE_RATIO * PROBE_SLICE;
		}
		if (incompressible)
			c = x->store;
	}
	size_t n = libdeflate_gzip_compress(c, in, len, out, cz->out_cap);
	if (n == 0)
		return "gzip: compressed member larger than its bound";
	*ret_len = n;
	return NULL;
}

/* zstd: feeds libzstd's stream (its workers compress); finish ends the frame */
static int zstd_stream(struct compressor *cz, const void *buf, size_t len, bool finish,
                       struct kiln_err **err)
{
	ZSTD_inBuffer in = {.src = buf, .size = len, .pos = 0};
	for (;;) {
		ZSTD_outBuffer o = {.dst = cz->out, .size = ZSTD_OUT, .pos = 0};
		size_t zr = ZSTD_compressStream2(cz->main.zs, &o, &in,
		                                 finish ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(zr))
			return kiln_err_set(err, "zstd: %s", ZSTD_getErrorName(zr));
		if (o.pos && cz->sink(cz->ud, cz->out, o.pos, err) < 0)
			return -1;
		if (finish ? zr == 0 : in.pos == in.size && o.pos < o.size)
			return 0;
	}
}

unsigned compress_default_threads(void)
{
	const char *v = getenv("KILN_COMPRESS_THREADS");
	if (v && *v) {
		char *end;
		long n = strtol(v, &end, 10);
		if (!*end && n >= 1 && n <= COMPRESS_MAX_THREADS)
			return (unsigned)n;
	}
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	int n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > COMPRESS_MAX_THREADS ? COMPRESS_MAX_THREADS : (unsigned)n;
}

int compressor_new(enum fs_compression c, int level, unsigned threads, compressor_sink sink,
                   void *ud, struct compressor **ret, struct kiln_err **err)
{
	if (c == FS_GZIP) {
		if (level <= 0)
			level = 6;
		if (level > 9)
			return kiln_err_set(err, "invalid gzip compression level %d", level);
	} else {
		if (level <= 0)
			level = 3;
		if (level > ZSTD_maxCLevel())
			return kiln_err_set(err, "invalid zstd compression level %d", level);
	}
	_cleanup_(compressor_freep) struct compressor *cz = xcalloc(1, sizeof(*cz));
	cz->c = c;
	cz->level = level;
	cz->threads = threads ? threads : compress_default_threads();
	if (cz->threads > COMPRESS_MAX_THREADS)
		cz->threads = COMPRESS_MAX_THREADS;
	cz->sink = sink;
	cz->ud = ud;
	if (cctx_init(cz, &cz->main, err) < 0)
		return -1;
	if (c == FS_ZSTD) {
		cz->out = xmalloc(ZSTD_OUT);
	} else {
		cz->out_cap = MAX(libdeflate_gzip_compress_bound(cz->main.dc, COMPRESS_MEMBER),
		                  libdeflate_gzip_compress_bound(cz->main.store, COMPRESS_MEMBER));
		cz->in = xmalloc(COMPRESS_MEMBER);
	}
	*ret = TAKE_PTR(cz);
	return 0;
}

static void *worker(void *arg);

struct worker_arg {
	struct compressor *cz;
	unsigned idx;
};

/* Starts the workers and moves the full serial member into the first slot. Without any
 * thread (pthread_create failed) the compressor stays serial. */
static void pool_start(struct compressor *cz)
{
	cz->nslots = cz->threads + 2;
	cz->slots = xcalloc(cz->nslots, sizeof(*cz->slots));
	for (size_t i = 0; i < cz->nslots; i++) {
		cz->slots[i].in = i == 0 ? TAKE_PTR(cz->in) : xmalloc(COMPRESS_MEMBER);
		cz->slots[i].out = xmalloc(cz->out_cap);
	}
	cz->slots[0].in_len = cz->in_len;
	cz->in_len = 0;
	pthread_mutex_init(&cz->mu, NULL);
	pthread_cond_init(&cz->work, NULL);
	pthread_cond_init(&cz->done, NULL);
	cz->wctx = xcalloc(cz->threads, sizeof(*cz->wctx));
	cz->tids = xcalloc(cz->threads, sizeof(*cz->tids));
	cz->pool = true;
	for (unsigned i = 0; i < cz->threads; i++) {
		if (cctx_init(cz, &cz->wctx[i], NULL) < 0)
			break;
		struct worker_arg *wa = xmalloc(sizeof(*wa));
		*wa = (struct worker_arg){cz, i};
		if (pthread_create(&cz->tids[i], NULL, worker, wa) != 0) {
			free(wa);
			break;
		}
		cz->ntids++;
	}
	if (cz->ntids)
		return;
	/* no worker: back to the serial path with the member that is in slot 0 */
	cz->pool = false;
	cz->in = TAKE_PTR(cz->slots[0].in);
	cz->in_len = cz->slots[0].in_len;
}

static void *worker(void *arg)
{
	struct worker_arg wa = *(struct worker_arg *)arg;
	free(arg);
	struct compressor *cz = wa.cz;
	struct cctx *x = &cz->wctx[wa.idx];
	pthread_mutex_lock(&cz->mu);
	for (;;) {
		while (!cz->stop && cz->taken == cz->submitted)
			pthread_cond_wait(&cz->work, &cz->mu);
		if (cz->stop)
			break;
		struct slot *s = &cz->slots[cz->taken++ % cz->nslots];
		pthread_mutex_unlock(&cz->mu);
		const char *msg = compress_member(cz, x, s->in, s->in_len, s->out, &s->out_len);
		pthread_mutex_lock(&cz->mu);
		if (msg)
			s->err = xstrdup(msg);
		s->done = true;
		pthread_cond_broadcast(&cz->done);
	}
	pthread_mutex_unlock(&cz->mu);
	return NULL;
}

/* hands finished members to the sink in order, until `until` are written (waiting for them)
 * or, with until 0, as long as the next one is already done */
static int pool_write(struct compressor *cz, uint64_t until, struct kiln_err **err)
{
	pthread_mutex_lock(&cz->mu);
	while (cz->written < cz->submitted) {
		struct slot *s = &cz->slots[cz->written % cz->nslots];
		if (!s->done) {
			if (cz->written >= until)
				break;
			pthread_cond_wait(&cz->done, &cz->mu);
			continue;
		}
		pthread_mutex_unlock(&cz->mu);
		int r = s->err ? kiln_err_set(err, "%s", s->err)
		               : cz->sink(cz->ud, s->out, s->out_len, err);
		if (r < 0)
			return r; /* the compressor is unusable now; free stops the workers */
		pthread_mutex_lock(&cz->mu);
		s->done = false;
		s->in_len = 0;
		cz->written++;
	}
	pthread_mutex_unlock(&cz->mu);
	return 0;
}

/* publishes the slot being filled and makes sure the next one is free */
static int pool_submit(struct compressor *cz, struct kiln_err **err)
{
	pthread_mutex_lock(&cz->mu);
	cz->submitted++;
	pthread_cond_signal(&cz->work);
	pthread_mutex_unlock(&cz->mu);
	cz->any_member = true;
	/* the slot to fill next was used nslots members ago: it must be written first */
	uint64_t need = cz->submitted + 1 > cz->nslots ? cz->submitted + 1 - cz->nslots : 0;
	return pool_write(cz, need, err);
}

static int serial_member(struct compressor *cz, struct kiln_err **err)
{
	if (!cz->out)
		cz->out = xmalloc(cz->out_cap);
	size_t n = 0;
	const char *msg = compress_member(cz, &cz->main, cz->in, cz->in_len, cz->out, &n);
	if (msg)
		return kiln_err_set(err, "%s", msg);
	cz->in_len = 0;
	cz->any_member = true;
	return cz->sink(cz->ud, cz->out, n, err);
}

int compressor_write(struct compressor *cz, const void *buf, size_t len, struct kiln_err **err)
{
	if (cz->c == FS_ZSTD)
		return zstd_stream(cz, buf, len, false, err);
	const unsigned char *p = buf;
	while (len) {
		if (cz->pool) {
			struct slot *s = &cz->slots[cz->submitted % cz->nslots];
			size_t take = MIN(len, COMPRESS_MEMBER - s->in_len);
			memcpy(s->in + s->in_len, p, take);
			s->in_len += take;
			p += take;
			len -= take;
			if (s->in_len == COMPRESS_MEMBER && pool_submit(cz, err) < 0)
				return -1;
			continue;
		}
		size_t take = MIN(len, COMPRESS_MEMBER - cz->in_len);
		memcpy(cz->in + cz->in_len, p, take);
		cz->in_len += take;
		p += take;
		len -= take;
		if (cz->in_len < COMPRESS_MEMBER)
			continue;
		/* the first full member: from here on the workers compress, if there are any */
		if (cz->threads > 1 && !cz->slots)
			pool_start(cz);
		if (cz->pool) {
			if (pool_submit(cz, err) < 0)
				return -1;
		} else if (serial_member(cz, err) < 0) {
			return -1;
		}
	}
	return 0;
}

int compressor_finish(struct compressor *cz, struct kiln_err **err)
{
	if (cz->c == FS_ZSTD)
		return zstd_stream(cz, NULL, 0, true, err);
	if (cz->pool) {
		struct slot *s = &cz->slots[cz->submitted % cz->nslots];
		if (s->in_len && pool_submit(cz, err) < 0)
			return -1;
		return pool_write(cz, cz->submitted, err);
	}
	if (cz->in_len || !cz->any_member)
		return serial_member(cz, err);
	return 0;
}

struct compressor *compressor_free(struct compressor *cz)
{
	if (!cz)
		return NULL;
	if (cz->slots && cz->tids) {
		pthread_mutex_lock(&cz->mu);
		cz->stop = true;
		pthread_cond_broadcast(&cz->work);
		pthread_mutex_unlock(&cz->mu);
		for (unsigned i = 0; i < cz->ntids; i++)
			pthread_join(cz->tids[i], NULL);
		pthread_mutex_destroy(&cz->mu);
		pthread_cond_destroy(&cz->work);
		pthread_cond_destroy(&cz->done);
	}
	for (size_t i = 0; i < cz->nslots; i++) {
		free(cz->slots[i].in);
		free(cz->slots[i].out);
		free(cz->slots[i].err);
	}
	free(cz->slots);
	if (cz->wctx)
		for (unsigned i = 0; i < cz->threads; i++)
			cctx_release(&cz->wctx[i]);
	free(cz->wctx);
	free(cz->tids);
	cctx_release(&cz->main);
	free(cz->in);
	free(cz->out);
	free(cz);
	return NULL;
}
