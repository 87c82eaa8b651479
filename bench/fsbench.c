/* fsbench.c — times the fs engine on real trees (bench/run-fs.sh drives it):
 *   fsbench snapshot ROOT STORE   index ROOT, make a RUN-like change of 10 files, then time
 *                                 fs_index_diff + the layer write (gzip, default level)
 *   fsbench extract DEST BLOB...  applies the layer blobs in order onto DEST
 *   fsbench layer DIR STORE       writes one layer of every path under DIR
 *   fsbench manyfiles ROOT STORE [DIRS FILES]  w8 without the shell: index ROOT, create
 *                                 DIRS x FILES empty files under ROOT/m (default 200 x 1000),
 *                                 time diff + layer, change two files, time diff + layer again
 * Prints "<what> <seconds> s" lines; peak RSS comes from /usr/bin/time -v around it. */
#include "fs/extract.h"
#include "fs/layer.h"
#include "fs/snapshot.h"
#include "util/blobstore.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(struct kiln_err *err)
{
	fprintf(stderr, "fsbench: %s\n", kiln_err_msg(err));
	return 1;
}

static int write_layer(struct blobstore *bs, int rootfd, const struct fs_changes *ch,
                       struct layer_info *info, struct kiln_err **err)
{
	_cleanup_(layer_writer_freep) struct layer_writer *lw = NULL;
	int r = layer_writer_new(bs, FS_GZIP, 0, &lw, err);
	for (size_t i = 0; r >= 0 && i < ch->n; i++) {
		if (ch->v[i].kind == FS_DELETED)
			r = layer_writer_add_whiteout(lw, ch->v[i].path, err);
		else
			r = layer_writer_add_path(lw, rootfd, ch->v[i].path, err);
	}
	if (r >= 0)
		r = layer_writer_finish(lw, info, err);
	return r;
}

/* the change a small RUN makes: 5 new files, 3 appended to, 2 deleted */
static int run_like_change(const char *root)
{
	cleanup_free char *dir = path_join(root, "opt/bench");
	if (mkdir(dir, 0755) < 0)
		return -1;
	for (int i = 0; i < 5; i++) {
		cleanup_free char *p = xasprintf("%s/new%d", dir, i);
		cleanup_free char *c = xasprintf("generated file %d\n", i);
		if (write_file_atomic(p, c, strlen(c), 0644, NULL) < 0)
			return -1;
	}
	static const char *const append[] = {"etc/passwd", "etc/group", "etc/shells"};
	for (size_t i = 0; i < 3; i++) {
		cleanup_free char *p = path_join(root, append[i]);
		cleanup_close int fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0 || write_all(fd, "bench\n", 6) < 0)
			return -1;
	}
	static const char *const del[] = {"etc/issue", "etc/issue.net"};
	for (size_t i = 0; i < 2; i++) {
		cleanup_free char *p = path_join(root, del[i]);
		if (unlink(p) < 0)
			return -1;
	}
	return 0;
}

static double cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kb(void)
{
	struct rusage ru;
	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static int make_many(const char *root, int dirs, int files)
{
	cleanup_free char *m = path_join(root, "m");
	if (mkdir(m, 0755) < 0)
		return -1;
	for (int d = 0; d < dirs; d++) {
		cleanup_free char *dp = xasprintf("%s/d%d", m, d);
		if (mkdir(dp, 0755) < 0)
			return -1;
		for (int f = 1; f <= files; f++) {
			cleanup_free char *fp = xasprintf("%s/%d", dp, f);
			int fd = open(fp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (fd < 0)
				return -1;
			close(fd);
		}
	}
	return 0;
}

static int manyfiles(int argc, char **argv)
{
	cleanup_err struct kiln_err *err = NULL;
	int dirs = argc >= 6 ? atoi(argv[4]) : 200, files = argc >= 6 ? atoi(argv[5]) : 1000;
	cleanup_close int rfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	if (rfd < 0 || blobstore_open(argv[3], &bs, &err) < 0)
		return err ? die(err) : 1;
	_cleanup_(fs_index_freep) struct fs_index *ix = NULL;
	if (fs_index_build(rfd, NULL, NULL, &ix, &err) < 0)
		return die(err);
	double t0 = now();
	if (make_many(argv[2], dirs, files) < 0) {
		perror("fsbench: create");
		return 1;
	}
	double t1 = now();
	for (int round = 1; round <= 2; round++) {
		if (round == 2) {
			cleanup_free char *a = xasprintf("%s/m/d0/1", argv[2]);
			cleanup_free char *b = xasprintf("%s/m/d%d/new", argv[2], dirs - 1);
			if (write_file_atomic(a, "changed\n", 8, 0644, NULL) < 0 ||
			    write_file_atomic(b, "", 0, 0644, NULL) < 0) {
				perror("fsbench: change");
				return 1;
			}
		}
		double a = now(), ac = cpu();
		struct fs_changes ch = {0};
		if (fs_index_diff(ix, rfd, "full", &ch, &err) < 0)
			return die(err);
		double b = now(), bc = cpu();
		struct layer_info info;
		if (write_layer(bs, rfd, &ch, &info, &err) < 0)
			return die(err);
		double c = now(), cc = cpu();
		printf("run %d: paths %zu changes %zu layer %llu bytes; wall (CPU): diff %.3f "
		       "(%.3f) s, "
		       "layer %.3f (%.3f) s, diff+layer %.3f (%.3f) s; peak RSS %ld KB\n",
		       round, fs_index_size(ix), ch.n, (unsigned long long)info.size, b - a,
		       bc - ac, c - b, cc - bc, c - a, cc - ac, peak_rss_kb());
		fs_changes_release(&ch);
	}
	printf("create %.3f s\n", t1 - t0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "manyfiles") == 0)
		return manyfiles(argc, argv);
	cleanup_err struct kiln_err *err = NULL;
	if (argc >= 4 && strcmp(argv[1], "snapshot") == 0) {
		cleanup_close int rfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
		if (rfd < 0 || blobstore_open(argv[3], &bs, &err) < 0)
			return err ? die(err) : 1;
		double t0 = now();
		_cleanup_(fs_index_freep) struct fs_index *ix = NULL;
		if (fs_index_build(rfd, NULL, NULL, &ix, &err) < 0)
			return die(err);
		double t1 = now();
		if (run_like_change(argv[2]) < 0) {
			perror("fsbench: change");
			return 1;
		}
		double t2 = now();
		struct fs_changes ch = {0};
		if (fs_index_diff(ix, rfd, "full", &ch, &err) < 0)
			return die(err);
		double t3 = now();
		struct layer_info info;
		if (write_layer(bs, rfd, &ch, &info, &err) < 0)
			return die(err);
		double t4 = now();
		printf("paths %zu changes %zu layer %s %llu bytes\n", fs_index_size(ix), ch.n,
		       info.digest, (unsigned long long)info.size);
		printf("index %.3f s\ndiff %.3f s\nlayer %.3f s\ndiff+layer %.3f s\n", t1 - t0,
		       t3 - t2, t4 - t3, t4 - t2);
		fs_changes_release(&ch);
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "extract") == 0) {
		cleanup_close int rfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rfd < 0) {
			perror("fsbench: open dest");
			return 1;
		}
		double t0 = now();
		for (int i = 3; i < argc; i++) {
			cleanup_close int lfd = open(argv[i], O_RDONLY | O_CLOEXEC);
			if (lfd < 0 || fs_extract_layer(rfd, lfd, argv[i], NULL, &err) < 0)
				return err ? die(err) : 1;
		}
		printf("extract %.3f s\n", now() - t0);
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "layer") == 0) {
		cleanup_close int rfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
		if (rfd < 0 || blobstore_open(argv[3], &bs, &err) < 0)
			return err ? die(err) : 1;
		/* every path: the diff of an empty index against the tree */
		cleanup_free char *empty = xasprintf("%s/empty", argv[3]);
		mkdir(empty, 0755);
		cleanup_close int efd = open(empty, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		double t0 = now();
		_cleanup_(fs_index_freep) struct fs_index *ix = NULL;
		struct fs_changes ch = {0};
		if (fs_index_build(efd, NULL, NULL, &ix, &err) < 0 ||
		    fs_index_diff(ix, rfd, "full", &ch, &err) < 0)
			return die(err);
		double t1 = now();
		struct layer_info info;
		if (write_layer(bs, rfd, &ch, &info, &err) < 0)
			return die(err);
		double t2 = now();
		printf("paths %zu layer %s %llu bytes\nwalk %.3f s\nlayer %.3f s\ntotal %.3f s\n",
		       ch.n, info.digest, (unsigned long long)info.size, t1 - t0, t2 - t1, t2 - t0);
		fs_changes_release(&ch);
		return 0;
	}
	fprintf(stderr, "usage: fsbench snapshot ROOT STORE | extract DEST BLOB... | layer DIR "
	                "STORE | manyfiles ROOT STORE [DIRS FILES]\n");
	return 2;
}
