/* gzbench.c — gzip implementations on a real (uncompressed) tar: zlib streaming (what the layer
 * writer uses), libdeflate whole-buffer and in 1 MiB gzip members, ISA-L igzip streaming.
 * Prints one line per library and level: MB/s of input, output size, size relative to zlib 6.
 * Usage: gzbench FILE.tar */
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define FEED (64 * 1024) /* the layer writer receives 64 KiB tar blocks */
#define OUTB (256 * 1024)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned char outbuf[OUTB];

static size_t run_zlib(const unsigned char *in, size_t len, int level)
{
	z_stream z = {0};
	if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	size_t out = 0, off = 0;
	for (;;) {
		size_t n = len - off < FEED ? len - off : FEED;
		int fin = off + n == len;
		z.next_in = (Bytef *)(uintptr_t)(in + off);
		z.avail_in = (uInt)n;
		off += n;
		int zr;
		do {
			z.next_out = outbuf;
			z.avail_out = OUTB;
			zr = deflate(&z, fin ? Z_FINISH : Z_NO_FLUSH);
			out += OUTB - z.avail_out;
		} while (fin ? zr != Z_STREAM_END : z.avail_out == 0);
		if (fin)
			break;
	}
	deflateEnd(&z);
	return out;
}

static size_t run_isal(const unsigned char *in, size_t len, int level)
{
	static const uint32_t lvl_size[] = {ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_DEFAULT,
	                                    ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT};
	struct isal_zstream s;
	isal_deflate_init(&s);
	s.gzip_flag = IGZIP_GZIP;
	s.level = (uint32_t)level;
	s.level_buf_size = lvl_size[level];
	s.level_buf = malloc(s.level_buf_size);
	size_t out = 0, off = 0;
	for (;;) {
		size_t n = len - off < FEED ? len - off : FEED;
		int fin = off + n == len;
		s.next_in = (uint8_t *)(uintptr_t)(in + off);
		s.avail_in = (uint32_t)n;
		s.end_of_stream = (uint16_t)fin;
		off += n;
		do {
			s.next_out = outbuf;
			s.avail_out = OUTB;
			if (isal_deflate(&s) != COMP_OK)
				abort();
			out += OUTB - s.avail_out;
		} while (fin ? s.internal_state.state != ZSTATE_END : s.avail_in != 0);
		if (fin)
			break;
	}
	free(s.level_buf);
	return out;
}

/* chunk 0: the whole buffer at once; else independent gzip members of chunk bytes */
static size_t run_libdeflate(const unsigned char *in, size_t len, int level, size_t chunk)
{
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
	size_t step = chunk ? chunk : len;
	size_t cap = libdeflate_gzip_compress_bound(c, step);
	unsigned char *buf = malloc(cap);
	size_t out = 0;
	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;
		size_t r = libdeflate_gzip_compress(c, in + off, n, buf, cap);
		if (!r)
			abort();
		out += r;
	}
	free(buf);
	libdeflate_free_compressor(c);
	return out;
}

struct res {
	const char *lib;
	int level;
	double secs;
	size_t size;
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gzbench FILE\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return 1;
	size_t len = (size_t)st.st_size;
	unsigned char *in = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (in == MAP_FAILED)
		return 1;
	struct res r[16];
	int n = 0;
#define RUN(name, lvl, expr)                                      \
	do {                                                      \
		double t0 = now();                                \
		size_t sz = (expr);                               \
		r[n++] = (struct res){name, lvl, now() - t0, sz}; \
	} while (0)
	RUN("zlib (stream)", 1, run_zlib(in, len, 1));
	RUN("zlib (stream)", 6, run_zlib(in, len, 6));
	RUN("libdeflate (whole buffer)", 1, run_libdeflate(in, len, 1, 0));
	RUN("libdeflate (whole buffer)", 6, run_libdeflate(in, len, 6, 0));
	RUN("libdeflate (1 MiB members)", 1, run_libdeflate(in, len, 1, 1 << 20));
	RUN("libdeflate (1 MiB members)", 6, run_libdeflate(in, len, 6, 1 << 20));
	for (int l = 0; l <= 3; l++)
		RUN("ISA-L igzip (stream)", l, run_isal(in, len, l));
	size_t ref = r[1].size;
	printf("input %s: %.1f MB\n", argv[1], (double)len / 1e6);
	printf("| library | level | MB/s | size (MB) | size vs zlib-6 |\n|---|---|---|---|---|\n");
	for (int i = 0; i < n; i++)
		printf("| %s | %d | %.0f | %.2f | %.3f |\n", r[i].lib, r[i].level,
		       (double)len / 1e6 / r[i].secs, (double)r[i].size / 1e6,
		       (double)r[i].size / (double)ref);
	return 0;
}
