/* test_property.c — random filesystem histories: after every step the snapshot diff becomes a
 * layer exactly as RUN makes one (src/instr/run.c), and the layers applied in order onto a
 * fresh root must reproduce the tree (type, mode, owner, size, content, link target, xattrs,
 * hardlink groups, mtimes). KILN_PROPERTY_SEED replays a run,
 * KILN_PROPERTY_SEQS sets the number of sequences. */
#include "harness.h"
#include "tree.h"

#include "fs/extract.h"
#include "fs/layer.h"
#include "fs/snapshot.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	/* splitmix64 */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned rnd(struct rng *r, unsigned n)
{
	return (unsigned)(rng_next(r) % n);
}

static const char *const names[] = {"a", "b", "c", "d e"};
static const char *const targets[] = {"a",       "../b", "/a/b", "/etc/passwd",
                                      "missing", "c/a",  "..",   "/"};
static const unsigned file_modes[] = {0644, 0600, 0755, 0444, 04755, 02711, 0000, 0640};
static const unsigned dir_modes[] = {0755, 0700, 0555, 01777, 02775, 0711};
static const unsigned ids[] = {0, 1, 1000, 65534};

/* a random path of depth 1..3 ("/a/b") */
static void rnd_path(struct rng *r, char *out, size_t cap)
{
	unsigned depth = 1 + rnd(r, 3);
	size_t len = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < depth; i++)
		len +=
		    (size_t)snprintf(out + len, cap - len, "/%s", names[rnd(r, ARRAY_SIZE(names))]);
}

/* opens the parent directory of path (under rootfd) without following any symlink; returns
 * the fd and points *base at the last component, or -1 */
static int open_parent(int rootfd, const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');
	*base = slash + 1;
	int fd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	const char *p = path + 1;
	while (fd >= 0 && p < *base) {
		size_t n = strcspn(p, "/");
		char comp[64];
		snprintf(comp, sizeof(comp), "%.*s", (int)n, p);
		int sub = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = sub;
		p += n + 1;
	}
	return fd;
}

static void rnd_content(struct rng *r, int fd)
{
	static const size_t sizes[] = {0, 1, 100, 5000, 70000};
	size_t n = sizes[rnd(r, ARRAY_SIZE(sizes))] + rnd(r, 3);
	char buf[4096];
	char c = (char)('a' + rnd(r, 26));
	while (n) {
		size_t k = MIN(n, sizeof(buf));
		for (size_t i = 0; i < k; i++)
			buf[i] = (char)(c + (char)(i % 7));
		if (write_all(fd, buf, k) < 0)
			return;
		n -= k;
	}
}

static void xattr_path(char *out, size_t cap, int pfd, const char *base)
{
	snprintf(out, cap, "/proc/self/fd/%d/%s", pfd, base);
}

enum op {
	OP_CREATE,
	OP_WRITE,
	OP_CHMOD,
	OP_CHOWN,
	OP_RENAME,
	OP_DELETE,
	OP_SYMLINK,
	OP_HARDLINK,
	OP_MKDIR,
	OP_RMDIR,
	OP_REPLACE,
	OP_SETXATTR,
	OP_RMXATTR,
	OP_MKFIFO,
	OP_COUNT,
};

static const char *const op_names[] = {"create",  "write",    "chmod",   "chown", "rename",
                                       "delete",  "symlink",  "link",    "mkdir", "rmdir",
                                       "replace", "setxattr", "rmxattr", "mkfifo"};

/* one random operation; failures (no such parent, wrong type...) are part of the game */
static void do_op(struct rng *r, int rootfd, struct kiln_buf *log)
{
	char path[64], path2[64];
	rnd_path(r, path, sizeof(path));
	enum op op = (enum op)rnd(r, OP_COUNT);
	const char *base;
	cleanup_close int pfd = open_parent(rootfd, path, &base);
	if (pfd < 0)
		return;
	struct stat st;
	bool exists = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	int rc = 0;
	char xp[128];
	xattr_path(xp, sizeof(xp), pfd, base);
	switch (op) {
	case OP_CREATE: {
		cleanup_close int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		                              file_modes[rnd(r, ARRAY_SIZE(file_modes))]);
		rc = fd;
		if (fd >= 0)
			rnd_content(r, fd);
		break;
	}
	case OP_WRITE: {
		int fl = rnd(r, 2) ? O_TRUNC : O_APPEND;
		cleanup_close int fd =
		    openat(pfd, base, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | fl);
		rc = fd;
		if (fd >= 0)
			rnd_content(r, fd);
		break;
	}
	case OP_CHMOD:
		if (!exists || S_ISLNK(st.st_mode))
			return;
		rc = fchmodat(pfd, base,
		              S_ISDIR(st.st_mode) ? dir_modes[rnd(r, ARRAY_SIZE(dir_modes))]
		                                  : file_modes[rnd(r, ARRAY_SIZE(file_modes))],
		              0);
		break;
	case OP_CHOWN:
		rc = fchownat(pfd, base, ids[rnd(r, ARRAY_SIZE(ids))], ids[rnd(r, ARRAY_SIZE(ids))],
		              AT_SYMLINK_NOFOLLOW);
		break;
	case OP_RENAME:
	case OP_HARDLINK: {
		rnd_path(r, path2, sizeof(path2));
		const char *base2;
		cleanup_close int pfd2 = open_parent(rootfd, path2, &base2);
		if (pfd2 < 0)
			return;
		if (op == OP_RENAME) {
			rc = renameat(pfd, base, pfd2, base2);
		} else {
			if (!exists || !S_ISREG(st.st_mode))
				return;
			rc = linkat(pfd, base, pfd2, base2, 0);
		}
		kiln_buf_addf(log, "  %s %s %s -> %d\n", op_names[op], path, path2,
		              rc < 0 ? -errno : rc);
		return;
	}
	case OP_DELETE:
		if (!exists)
			return;
		if (S_ISDIR(st.st_mode)) {
			struct kiln_err *e = NULL;
			rc = rm_rf_at(pfd, base, &e);
			kiln_err_free(e);
		} else {
			rc = unlinkat(pfd, base, 0);
		}
		break;
	case OP_SYMLINK: {
		const char *t = targets[rnd(r, ARRAY_SIZE(targets))];
		rc = symlinkat(t, pfd, base);
		kiln_buf_addf(log, "  symlink %s -> %s: %d\n", path, t, rc < 0 ? -errno : rc);
		return;
	}
	case OP_MKDIR:
		rc = mkdirat(pfd, base, dir_modes[rnd(r, ARRAY_SIZE(dir_modes))]);
		break;
	case OP_RMDIR:
		rc = unlinkat(pfd, base, AT_REMOVEDIR);
		break;
	case OP_REPLACE: {
		if (!exists)
			return;
		if (S_ISDIR(st.st_mode)) {
			struct kiln_err *e = NULL;
			rc = rm_rf_at(pfd, base, &e);
			kiln_err_free(e);
			cleanup_close int fd =
			    openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (fd >= 0)
				rnd_content(r, fd);
		} else {
			rc = unlinkat(pfd, base, 0);
			if (rc == 0 && mkdirat(pfd, base, 0755) == 0) {
				cleanup_close int dfd = openat(
				    pfd, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				cleanup_close int fd =
				    openat(dfd, "c", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
				if (fd >= 0)
					rnd_content(r, fd);
			}
		}
		break;
	}
	case OP_SETXATTR:
	case OP_RMXATTR: {
		if (!exists)
			return;
		/* user.* is refused on symlinks and special files: trusted.* there */
		char key[32];
		snprintf(key, sizeof(key), "%s.k%u", S_ISLNK(st.st_mode) ? "trusted" : "user",
		         rnd(r, 2));
		if (op == OP_RMXATTR) {
			rc = lremovexattr(xp, key);
		} else {
			char val[32];
			size_t n = rnd(r, 20);
			for (size_t i = 0; i < n; i++)
				val[i] = (char)rnd(r, 256);
			rc = lsetxattr(xp, key, val, n, 0);
		}
		break;
	}
	case OP_MKFIFO:
		rc = mkfifoat(pfd, base, 0640);
		break;
	case OP_COUNT:
		break;
	}
	kiln_buf_addf(log, "  %s %s: %d\n", op_names[op], path, rc < 0 ? -errno : 0);
}

struct seq_ctx {
	struct blobstore *bs;
	int srcfd, dstfd;
	const char *src, *dst;
	struct fs_index *ix;
	struct kiln_buf log;
	unsigned layers;
};

/* diff -> layer (as run.c does) -> extract onto dst; then compares the trees */
static int step(struct seq_ctx *c, unsigned idx, bool *ret_same, struct kiln_err **err)
{
	struct fs_changes ch = {0};
	int r = fs_index_diff(c->ix, c->srcfd, "full", &ch, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ch.n; i++)
		kiln_buf_addf(&c->log, "    %s %s\n",
		              ch.v[i].kind == FS_DELETED ? "D"
		              : ch.v[i].kind == FS_ADDED ? "A"
		                                         : "M",
		              ch.v[i].path);
	_cleanup_(layer_writer_freep) struct layer_writer *lw = NULL;
	r = layer_writer_new(c->bs, idx % 2 ? FS_ZSTD : FS_GZIP, 0, &lw, err);
	if (r >= 0)
		layer_writer_set_times(lw, false, 0);
	for (size_t i = 0; r >= 0 && i < ch.n; i++) {
		if (ch.v[i].kind == FS_DELETED)
			r = layer_writer_add_whiteout(lw, ch.v[i].path, err);
		else
			r = layer_writer_add_path(lw, c->srcfd, ch.v[i].path, err);
	}
	fs_changes_release(&ch);
	struct layer_info info;
	if (r >= 0)
		r = layer_writer_finish(lw, &info, err);
	if (r < 0)
		return r;
	cleanup_close int lfd = -1;
	r = blobstore_open_read(c->bs, info.digest, &lfd, err);
	if (r < 0)
		return r;
	r = fs_extract_layer(c->dstfd, lfd, info.digest, NULL, err);
	if (r < 0)
		return r;
	c->layers++;
	cleanup_free char *a = tree_describe(c->src, true);
	cleanup_free char *b = tree_describe(c->dst, true);
	*ret_same = streq(a, b);
	if (!*ret_same)
		kiln_buf_addf(&c->log, "source:\n%s\nrebuilt:\n%s", a, b);
	return 0;
}

static uint64_t seed_from_env(void)
{
	const char *s = getenv("KILN_PROPERTY_SEED");
	if (s && *s)
		return strtoull(s, NULL, 0);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
}

/* a tmpfs is much faster than this VM's ext4; KILN_TEST_TMPDIR wins */
static char *prop_tmpdir(void)
{
	const char *t = getenv("KILN_TEST_TMPDIR");
	if ((!t || !*t) && access("/dev/shm", W_OK) == 0) {
		char *d = xstrdup("/dev/shm/kiln-fs-prop-XXXXXX");
		if (mkdtemp(d))
			return d;
		free(d);
	}
	return tree_tmpdir();
}

TEST(property_snapshot_layers_rebuild_tree)
{
	uint64_t seed = seed_from_env();
	const char *ns = getenv("KILN_PROPERTY_SEQS");
	unsigned nseq = ns && *ns ? (unsigned)strtoul(ns, NULL, 10) : 300;
	test_note("property seed %" PRIu64 " (KILN_PROPERTY_SEED=%" PRIu64 " replays it), %u "
	          "sequences",
	          seed, seed, nseq);
	cleanup_free char *t = prop_tmpdir();
	cleanup_free char *store = path_join(t, "store");
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	ASSERT_OK(blobstore_open(store, &bs, &err), err);
	unsigned total_layers = 0, total_ops = 0;
	for (unsigned s = 0; s < nseq; s++) {
		struct rng r = {seed ^ (0x632be59bd9b4e019ull * (s + 1))};
		cleanup_free char *src = xasprintf("%s/src%u", t, s);
		cleanup_free char *dst = xasprintf("%s/dst%u", t, s);
		ASSERT_EQ(mkdir(src, 0755), 0);
		ASSERT_EQ(mkdir(dst, 0755), 0);
		cleanup_close int srcfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		cleanup_close int dstfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct seq_ctx c = {.bs = bs,
		                    .srcfd = srcfd,
		                    .dstfd = dstfd,
		                    .src = src,
		                    .dst = dst,
		                    .log = KILN_BUF_INIT};
		ASSERT_OK(fs_index_build(srcfd, NULL, NULL, &c.ix, &err), err);
		bool same = true;
		int rc = 0;
		unsigned nsteps = 1 + 2 + rnd(&r, 5);
		for (unsigned k = 0; k < nsteps && same && rc >= 0; k++) {
			/* step 0 is the base layer: a bigger population */
			unsigned nops = k == 0 ? 10 + rnd(&r, 30) : 1 + rnd(&r, 6);
			kiln_buf_addf(&c.log, "step %u:\n", k);
			for (unsigned o = 0; o < nops; o++)
				do_op(&r, srcfd, &c.log);
			total_ops += nops;
			rc = step(&c, k, &same, &err);
		}
		fs_index_free(c.ix);
		total_layers += c.layers;
		if (rc < 0 || !same) {
			test_note("sequence %u of seed %" PRIu64 " failed; history:\n%s", s, seed,
			          c.log.ptr);
			kiln_buf_release(&c.log);
			tree_rm(t);
			ASSERT_OK(rc, err);
			ASSERT_TRUE(same);
		}
		kiln_buf_release(&c.log);
		tree_rm(src);
		tree_rm(dst);
	}
	test_note("%u sequences, %u operations, %u layers", nseq, total_ops, total_layers);
	tree_rm(t);
}
