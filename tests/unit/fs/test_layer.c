/* test_layer.c — layer writer: full round trips through extract, digests, header shape,
 * reproducibility. */
#include "harness.h"
#include "tree.h"

#include "fs/extract.h"
#include "fs/layer.h"
#include "fs/snapshot.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

struct tmp {
	char *dir;
};
static void tmp_release(struct tmp *t)
{
	if (t->dir)
		tree_rm(t->dir);
	free(t->dir);
}
#define cleanup_tmp _cleanup_(tmp_release)

/* a tree with every entry type and the tricky metadata */
static int make_tree(const char *root)
{
	char p[4096], q[4096];
#define P(s) (snprintf(p, sizeof(p), "%s/%s", root, s), p)
#define Q(s) (snprintf(q, sizeof(q), "%s/%s", root, s), q)
	if (mkdir(P("dir"), 0755) < 0 || tree_write(P("dir/file"), "hello\n", 0644) < 0 ||
	    chown(P("dir/file"), 1000, 1001) < 0 ||
	    tree_write(P("suid"), "#!/bin/sh\n", 04755) < 0 ||
	    tree_write(P("sgid"), "x", 02711) < 0 || mkdir(P("sticky"), 0755) < 0 ||
	    chmod(P("sticky"), 01777) < 0 || tree_write(P("cap"), "ELF", 0755) < 0 ||
	    tree_write(P("user-xattr"), "u", 0600) < 0 ||
	    tree_write(P("empty-xattr"), "", 0640) < 0 || symlink("dir/file", P("link")) < 0 ||
	    symlink("/etc/passwd", P("abslink")) < 0 || symlink("missing", P("dangling")) < 0 ||
	    tree_write(P("h1"), "linked content", 0640) < 0 || link(Q("h1"), P("dir/h2")) < 0 ||
	    link(Q("h1"), P("h3")) < 0 || mknod(P("null"), S_IFCHR | 0666, makedev(1, 3)) < 0 ||
	    mknod(P("blk"), S_IFBLK | 0660, makedev(7, 0)) < 0 || mkfifo(P("fifo"), 0620) < 0 ||
	    mkdir(P("empty"), 0700) < 0 || mkdir(P("ro"), 0755) < 0 ||
	    tree_write(P("ro/inside"), "ro", 0444) < 0 || chmod(P("ro"), 0555) < 0 ||
	    tree_write(P("h\xc3\xa9llo w\xc3\xb6rld"), "utf8", 0644) < 0 ||
	    mkdir(P("owned"), 0750) < 0 || chown(P("owned"), 65534, 65534) < 0 ||
	    lchown(P("link"), 7, 8) < 0)
		return -1;
	/* cap_net_bind_service+ep (VFS_CAP_REVISION_2) */
	uint32_t cap[5] = {0x02000001, 1u << 10, 0, 0, 0};
	if (setxattr(P("cap"), "security.capability", cap, sizeof(cap), 0) < 0)
		return -1;
	/* an empty file is written without being opened (layer.c): its xattrs still count */
	if (setxattr(P("user-xattr"), "user.kiln", "v\0al", 4, 0) < 0 ||
	    setxattr(P("empty-xattr"), "user.empty", "e", 1, 0) < 0 ||
	    setxattr(P("dir"), "user.dirattr", "d", 1, 0) < 0)
		return -1;
	/* a long name (more than ustar's 100 bytes) in a deep directory */
	char deep[600] = "";
	for (int i = 0; i < 8; i++) {
		strcat(deep, i ? "/abcdefghijklmnopqrstuvwxyz0123456789" : "deep");
		if (mkdir(P(deep), 0755) < 0)
			return -1;
	}
	strcat(deep, "/a-file-name-that-is-quite-long-too.txt");
	if (tree_write(P(deep), "deep", 0644) < 0)
		return -1;
	/* a larger file */
	cleanup_free char *big = xmalloc(300001);
	for (int i = 0; i < 300000; i++)
		big[i] = (char)('a' + (i * 7 + i / 13) % 26);
	big[300000] = '\0';
	if (tree_write(P("big"), big, 0644) < 0)
		return -1;
	/* fixed, distinct mtimes on everything that is not a directory, then the directories */
	struct timespec ts[2] = {{1600000000, 0}, {1600000000, 123456789}};
	if (utimensat(AT_FDCWD, P("dir/file"), ts, 0) < 0 ||
	    utimensat(AT_FDCWD, P("link"), ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	ts[0].tv_sec = ts[1].tv_sec = 1500000000;
	if (utimensat(AT_FDCWD, P("dir"), ts, 0) < 0 || utimensat(AT_FDCWD, P("sticky"), ts, 0) < 0)
		return -1;
#undef P
#undef Q
	return 0;
}

/* every path of the tree, sorted, parents first: a diff against an empty index */
static int list_paths(const char *root, struct fs_changes *ret, struct kiln_err **err)
{
	cleanup_free char *empty = tree_tmpdir();
	cleanup_close int efd = open(empty, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_(fs_index_freep) struct fs_index *ix = NULL;
	int r = fs_index_build(efd, NULL, NULL, &ix, err);
	if (r >= 0)
		r = fs_index_diff(ix, rfd, "full", ret, err);
	tree_rm(empty);
	return r;
}

static int write_tree_layer(struct blobstore *bs, const char *root, enum fs_compression c,
                            bool reproducible, struct layer_info *info, struct kiln_err **err)
{
	struct fs_changes ch = {0};
	int r = list_paths(root, &ch, err);
	if (r < 0)
		return r;
	cleanup_close int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_(layer_writer_freep) struct layer_writer *lw = NULL;
	r = layer_writer_new(bs, c, 0, &lw, err);
	if (r >= 0)
		layer_writer_set_times(lw, reproducible, 0);
	for (size_t i = 0; r >= 0 && i < ch.n; i++)
		r = layer_writer_add_path(lw, rfd, ch.v[i].path, err);
	if (r >= 0)
		r = layer_writer_finish(lw, info, err);
	fs_changes_release(&ch);
	return r;
}

static void round_trip(enum fs_compression c, bool no_openat2)
{
	cleanup_tmp struct tmp t = {tree_tmpdir()};
	cleanup_free char *src = path_join(t.dir, "src");
	cleanup_free char *dst = path_join(t.dir, "dst");
	cleanup_free char *store = path_join(t.dir, "store");
	ASSERT_EQ(mkdir(src, 0755), 0);
	ASSERT_EQ(mkdir(dst, 0755), 0);
	ASSERT_EQ(make_tree(src), 0);
	/* a socket is not written */
	cleanup_free char *sock = path_join(src, "sock");
	int sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	ASSERT_EQ(bind(sfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(sfd);

	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	ASSERT_OK(blobstore_open(store, &bs, &err), err);
	struct layer_info info;
	ASSERT_OK(write_tree_layer(bs, src, c, false, &info, &err), err);

	if (no_openat2)
		setenv("KILN_NO_OPENAT2", "1", 1);
	cleanup_close int dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int lfd = -1;
	ASSERT_OK(blobstore_open_read(bs, info.digest, &lfd, &err), err);
	struct extract_opts o = {0};
	int r = fs_extract_layer(dfd, lfd, info.digest, &o, &err);
	unsetenv("KILN_NO_OPENAT2");
	ASSERT_OK(r, err);

	ASSERT_EQ(access(sock, F_OK), 0);
	cleanup_free char *dsock = path_join(dst, "sock");
	ASSERT_EQ(access(dsock, F_OK), -1);
	unlink(sock);
	cleanup_free char *a = tree_describe(src, true);
	cleanup_free char *b = tree_describe(dst, true);
	if (!streq(a, b))
		test_note("src:\n%s\ndst:\n%s", a, b);
	ASSERT_STREQ(a, b);
	/* the rendering does see what it must compare */
	ASSERT_TRUE(strstr(a, "security.capability=01000002000400"));
	ASSERT_TRUE(strstr(a, "user.kiln=7600616c"));
	ASSERT_TRUE(strstr(a, "user.empty=65"));
	ASSERT_TRUE(strstr(a, "dir/h2 100640 0:0 mtime="));
	ASSERT_TRUE(strstr(a, "link=/dir/h2"));
	ASSERT_TRUE(strstr(a, "/suid 104755"));
	ASSERT_TRUE(strstr(a, "/sticky 041777"));
	ASSERT_TRUE(strstr(a, "/null 0206"));
	ASSERT_TRUE(strstr(a, "dev=1,3"));
	ASSERT_TRUE(strstr(a, "/link 120777 7:8 mtime=1600000000 -> dir/file"));
}

TEST(layer_round_trip_gzip)
{
	round_trip(FS_GZIP, false);
}

TEST(layer_round_trip_zstd)
{
	round_trip(FS_ZSTD, false);
}

TEST(layer_round_trip_no_openat2)
{
	round_trip(FS_GZIP, true);
}

static void check_digests(enum fs_compression c, bool big)
{
	cleanup_tmp struct tmp t = {tree_tmpdir()};
	cleanup_free char *src = path_join(t.dir, "src");
	cleanup_free char *store = path_join(t.dir, "store");
	ASSERT_EQ(mkdir(src, 0755), 0);
	ASSERT_EQ(make_tree(src), 0);
	if (big) {
		/* 3.5 MiB of varied bytes: a gzip stream of several members */
		cleanup_free char *path = path_join(src, "big.bin");
		size_t n = 3584 * 1024;
		cleanup_free unsigned char *data = xmalloc(n);
		uint32_t x = 2463534242u;
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			data[i] = (unsigned char)(i % 7 ? x : 'k');
		}
		ASSERT_EQ(write_file_atomic(path, data, n, 0644, NULL), 0);
	}
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	ASSERT_OK(blobstore_open(store, &bs, &err), err);
	struct layer_info info;
	ASSERT_OK(write_tree_layer(bs, src, c, false, &info, &err), err);
	cleanup_free char *blob = blobstore_path(bs, info.digest);
	cleanup_free char *dg = tree_file_digest(blob, false);
	cleanup_free char *diff = tree_file_digest(blob, true);
	ASSERT_STREQ(dg, info.digest);
	ASSERT_STREQ(diff, info.diff_id);
	struct stat st;
	ASSERT_EQ(stat(blob, &st), 0);
	ASSERT_EQ(st.st_size, info.size);
	ASSERT_FALSE(streq(info.digest, info.diff_id));
	/* nothing but the blob in the store */
	cleanup_free char *sd = path_join(store, "blobs/sha256");
	ASSERT_EQ(tree_count(sd), 1);
}

TEST(layer_digests_gzip)
{
	check_digests(FS_GZIP, false);
}

TEST(layer_digests_gzip_several_members)
{
	check_digests(FS_GZIP, true);
}

TEST(layer_digests_zstd)
{
	check_digests(FS_ZSTD, false);
}

/* reads the layer back with libarchive and checks the header shape */
TEST(layer_header_shape)
{
	cleanup_tmp struct tmp t = {tree_tmpdir()};
	cleanup_free char *src = path_join(t.dir, "src");
	cleanup_free char *store = path_join(t.dir, "store");
	ASSERT_EQ(mkdir(src, 0755), 0);
	ASSERT_EQ(make_tree(src), 0);
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	ASSERT_OK(blobstore_open(store, &bs, &err), err);
	struct layer_info info;
	ASSERT_OK(write_tree_layer(bs, src, FS_GZIP, false, &info, &err), err);
	cleanup_free char *blob = blobstore_path(bs, info.digest);

	struct archive *a = archive_read_new();
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	ASSERT_EQ(archive_read_open_filename(a, blob, 65536), ARCHIVE_OK);
	struct archive_entry *e;
	int n = 0, dirs = 0, hardlinks = 0, caps = 0;
	bool ok = true;
	char bad[512] = "";
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		n++;
		const char *un = archive_entry_uname(e), *gn = archive_entry_gname(e);
		if (name[0] == '/' || (un && *un) || (gn && *gn) || archive_entry_atime_is_set(e) ||
		    archive_entry_ctime_is_set(e) || archive_entry_mtime_nsec(e) != 0) {
			ok = false;
			snprintf(bad, sizeof(bad), "%s", name);
		}
		if (archive_entry_filetype(e) == AE_IFDIR) {
			dirs++;
			if (name[strlen(name) - 1] != '/') {
				ok = false;
				snprintf(bad, sizeof(bad), "dir %s", name);
			}
		}
		const char *hl = archive_entry_hardlink(e);
		if (hl) {
			hardlinks++;
			if (!streq(hl, "dir/h2") || archive_entry_size(e) != 0) {
				ok = false;
				snprintf(bad, sizeof(bad), "hardlink %s -> %s", name, hl);
			}
		}
		const char *xn;
		const void *xv;
		size_t xs;
		archive_entry_xattr_reset(e);
		while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK)
			if (streq(xn, "security.capability") && xs == 20)
				caps++;
	}
	archive_read_free(a);
	if (!ok)
		test_note("bad entry: %s", bad);
	ASSERT_TRUE(ok);
	ASSERT_EQ(hardlinks, 2);
	ASSERT_EQ(caps, 1);
	ASSERT_EQ(dirs, 13);
	ASSERT_TRUE(n > 30);

	/* the raw tar: SCHILY.xattr only (no LIBARCHIVE.xattr duplicates), no atime/ctime
	 * records, and no padding beyond the two end blocks */
	cleanup_free char *raw = NULL;
	size_t rawlen = 0;
	{
		cleanup_free char *gz = NULL;
		size_t gzlen = 0;
		ASSERT_OK(read_file_at(AT_FDCWD, blob, 1 << 26, &gz, &gzlen, &err), err);
		raw = xmalloc(1 << 24);
		z_stream z = {0};
		inflateInit2(&z, 15 + 16);
		z.next_in = (Bytef *)gz;
		z.avail_in = (uInt)gzlen;
		z.next_out = (Bytef *)raw;
		z.avail_out = 1 << 24;
		ASSERT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
		rawlen = z.total_out;
		inflateEnd(&z);
	}
	ASSERT_TRUE(memmem(raw, rawlen, "SCHILY.xattr.security.capability", 32) != NULL);
	ASSERT_TRUE(memmem(raw, rawlen, "LIBARCHIVE", 10) == NULL);
	ASSERT_TRUE(memmem(raw, rawlen, "atime=", 6) == NULL);
	ASSERT_TRUE(memmem(raw, rawlen, "ctime=", 6) == NULL);
	ASSERT_EQ(rawlen % 512, 0);
	static const char zero[1024];
	ASSERT_TRUE(memcmp(raw + rawlen - 1024, zero, 1024) == 0);
	ASSERT_TRUE(memcmp(raw + rawlen - 1536, zero, 512) != 0);
}

/* same tree twice: same digest; other mtimes: another digest, unless reproducible */
TEST(layer_reproducible)
{
	cleanup_tmp struct tmp t = {tree_tmpdir()};
	cleanup_free char *src = path_join(t.dir, "src");
	cleanup_free char *store = path_join(t.dir, "store");
	ASSERT_EQ(mkdir(src, 0755), 0);
	ASSERT_EQ(make_tree(src), 0);
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	ASSERT_OK(blobstore_open(store, &bs, &err), err);
	struct layer_info a, b, c, d, e;
	ASSERT_OK(write_tree_layer(bs, src, FS_GZIP, false, &a, &err), err);
	ASSERT_OK(write_tree_layer(bs, src, FS_GZIP, false, &b, &err), err);
	ASSERT_STREQ(a.digest, b.digest);
	ASSERT_OK(write_tree_layer(bs, src, FS_ZSTD, true, &c, &err), err);
	cleanup_free char *f = path_join(src, "dir/file");
	struct timespec ts[2] = {{1700000000, 0}, {1700000000, 0}};
	ASSERT_EQ(utimensat(AT_FDCWD, f, ts, 0), 0);
	ASSERT_OK(write_tree_layer(bs, src, FS_GZIP, false, &d, &err), err);
	ASSERT_FALSE(streq(a.diff_id, d.diff_id));
	ASSERT_OK(write_tree_layer(bs, src, FS_ZSTD, true, &e, &err), err);
	ASSERT_STREQ(c.digest, e.digest);
	ASSERT_STREQ(c.diff_id, e.diff_id);
}

/* add_entry and add_whiteout, read back by extract */
TEST(layer_add_entry_and_whiteout)
{
	cleanup_tmp struct tmp t = {tree_tmpdir()};
	cleanup_free char *dst = path_join(t.dir, "dst");
	cleanup_free char *store = path_join(t.dir, "store");
	cleanup_free char *content = path_join(t.dir, "content");
	ASSERT_EQ(mkdir(dst, 0755), 0);
	ASSERT_EQ(tree_write(content, "streamed bytes", 0600), 0);
	cleanup_free char *gone = path_join(dst, "gone");
	ASSERT_EQ(mkdir(gone, 0755), 0);
	cleanup_free char *gone2 = path_join(dst, "gone/x");
	ASSERT_EQ(tree_write(gone2, "x", 0644), 0);

	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	ASSERT_OK(blobstore_open(store, &bs, &err), err);
	_cleanup_(layer_writer_freep) struct layer_writer *lw = NULL;
	ASSERT_OK(layer_writer_new(bs, FS_GZIP, 9, &lw, &err), err);
	struct stat st = {.st_mode = S_IFDIR | 0710, .st_uid = 3, .st_gid = 4};
	st.st_mtim.tv_sec = 1234567890;
	ASSERT_OK(layer_writer_add_entry(lw, "/app", &st, NULL, -1, &err), err);
	cleanup_close int cfd = open(content, O_RDONLY | O_CLOEXEC);
	st.st_mode = S_IFREG | 0640;
	st.st_size = 14;
	ASSERT_OK(layer_writer_add_entry(lw, "/app/f", &st, NULL, cfd, &err), err);
	ASSERT_OK(layer_writer_add_entry(lw, "/app/hl", &st, "/app/f", -1, &err), err);
	st.st_mode = S_IFLNK | 0777;
	st.st_size = 0;
	ASSERT_OK(layer_writer_add_entry(lw, "/app/l", &st, "f", -1, &err), err);
	ASSERT_OK(layer_writer_add_whiteout(lw, "/gone", &err), err);
	ASSERT_FAIL(layer_writer_add_whiteout(lw, "relative", &err));
	ASSERT_FAIL(layer_writer_add_entry(lw, "/a/../b", &st, "f", -1, &err));
	ASSERT_FAIL(layer_writer_add_entry(lw, "/a//b", &st, "f", -1, &err));
	kiln_err_free(TAKE_PTR(err));
	struct layer_info info;
	ASSERT_OK(layer_writer_finish(lw, &info, &err), err);

	cleanup_close int dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int lfd = -1;
	ASSERT_OK(blobstore_open_read(bs, info.digest, &lfd, &err), err);
	ASSERT_OK(fs_extract_layer(dfd, lfd, info.digest, NULL, &err), err);
	cleanup_free char *d = tree_describe(dst, true);
	ASSERT_TRUE(strstr(d, "/app 040710 3:4 mtime=1234567890\n"));
	ASSERT_TRUE(strstr(d, "/app/f 100640 3:4 mtime=1234567890 size=14 "));
	ASSERT_TRUE(strstr(d, "link=/app/f\n/app/hl 100640 3:4 mtime=1234567890 size=14 "));
	ASSERT_TRUE(strstr(d, "/app/l 120777 3:4 mtime=1234567890 -> f\n"));
	ASSERT_TRUE(!strstr(d, "gone"));
}

/* freed without finish: nothing stays in the store */
TEST(layer_discard)
{
	cleanup_tmp struct tmp t = {tree_tmpdir()};
	cleanup_free char *store = path_join(t.dir, "store");
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	ASSERT_OK(blobstore_open(store, &bs, &err), err);
	struct layer_writer *lw = NULL;
	ASSERT_OK(layer_writer_new(bs, FS_ZSTD, 0, &lw, &err), err);
	ASSERT_OK(layer_writer_add_whiteout(lw, "/x", &err), err);
	layer_writer_free(lw);
	cleanup_free char *sd = path_join(store, "blobs/sha256");
	ASSERT_EQ(tree_count(sd), 0);
	ASSERT_FAIL(layer_writer_new(bs, FS_GZIP, 10, &lw, &err));
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* speed figure: 20,000 small files in 200 directories */
TEST(layer_speed_20k_files)
{
	cleanup_tmp struct tmp t = {tree_tmpdir()};
	cleanup_free char *src = path_join(t.dir, "src");
	cleanup_free char *dst = path_join(t.dir, "dst");
	cleanup_free char *store = path_join(t.dir, "store");
	ASSERT_EQ(mkdir(src, 0755), 0);
	ASSERT_EQ(mkdir(dst, 0755), 0);
	char p[4096], body[256];
	for (int d = 0; d < 200; d++) {
		snprintf(p, sizeof(p), "%s/d%03d", src, d);
		ASSERT_EQ(mkdir(p, 0755), 0);
		for (int f = 0; f < 100; f++) {
			snprintf(p, sizeof(p), "%s/d%03d/file-%03d.txt", src, d, f);
			snprintf(body, sizeof(body),
			         "file %d/%d: some small content, like a config\n", d, f);
			ASSERT_EQ(tree_write(p, body, 0644), 0);
		}
	}
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	ASSERT_OK(blobstore_open(store, &bs, &err), err);
	struct layer_info info;
	double t0 = now_s();
	ASSERT_OK(write_tree_layer(bs, src, FS_GZIP, false, &info, &err), err);
	double t1 = now_s();
	cleanup_close int dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int lfd = -1;
	ASSERT_OK(blobstore_open_read(bs, info.digest, &lfd, &err), err);
	ASSERT_OK(fs_extract_layer(dfd, lfd, info.digest, NULL, &err), err);
	double t2 = now_s();
	test_note("20,200 entries: list+write gzip layer %.3f s (%llu bytes), extract %.3f s",
	          t1 - t0, (unsigned long long)info.size, t2 - t1);
	snprintf(p, sizeof(p), "%s/d199", dst);
	ASSERT_EQ(tree_count(p), 100);
}

/* mtimes of the entries of a layer written from root with the given time settings, as
 * "name=mtime;" in tar order */
static char *layer_mtimes(const char *root, const char *store, bool reproducible, int64_t sde)
{
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	if (blobstore_open(store, &bs, &err) < 0)
		return NULL;
	struct fs_changes ch = {0};
	if (list_paths(root, &ch, &err) < 0)
		return NULL;
	cleanup_close int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_(layer_writer_freep) struct layer_writer *lw = NULL;
	int r = layer_writer_new(bs, FS_GZIP, 0, &lw, &err);
	if (r >= 0)
		layer_writer_set_times(lw, reproducible, sde);
	for (size_t i = 0; r >= 0 && i < ch.n; i++)
		r = layer_writer_add_path(lw, rfd, ch.v[i].path, &err);
	if (r >= 0)
		r = layer_writer_add_whiteout(lw, "/gone", &err);
	struct layer_info info;
	if (r >= 0)
		r = layer_writer_finish(lw, &info, &err);
	fs_changes_release(&ch);
	if (r < 0)
		return NULL;
	cleanup_free char *blob = blobstore_path(bs, info.digest);
	struct archive *a = archive_read_new();
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	struct kiln_buf out = KILN_BUF_INIT;
	if (archive_read_open_filename(a, blob, 65536) == ARCHIVE_OK) {
		struct archive_entry *e;
		while (archive_read_next_header(a, &e) == ARCHIVE_OK)
			kiln_buf_addf(&out, "%s=%lld;", archive_entry_pathname(e),
			              (long long)archive_entry_mtime(e));
	}
	archive_read_free(a);
	return kiln_buf_detach(&out, NULL);
}

TEST(layer_source_date_epoch_clamp)
{
	cleanup_tmp struct tmp t = {tree_tmpdir()};
	cleanup_free char *src = path_join(t.dir, "src");
	cleanup_free char *store = path_join(t.dir, "store");
	cleanup_free char *old = path_join(src, "old");
	cleanup_free char *new = path_join(src, "new");
	ASSERT_EQ(mkdir(src, 0755), 0);
	ASSERT_EQ(tree_write(old, "o", 0644), 0);
	ASSERT_EQ(tree_write(new, "n", 0644), 0);
	struct timespec t_old[2] = {{1000, 5}, {1000, 5}},
	                t_new[2] = {{2000000000, 0}, {2000000000, 0}};
	ASSERT_EQ(utimensat(AT_FDCWD, old, t_old, 0), 0);
	ASSERT_EQ(utimensat(AT_FDCWD, new, t_new, 0), 0);

	cleanup_free char *plain = layer_mtimes(src, store, false, 0);
	ASSERT_STREQ(plain, "new=2000000000;old=1000;.wh.gone=0;");
	/* SOURCE_DATE_EPOCH without --reproducible: newer clamped, older kept */
	cleanup_free char *clamped = layer_mtimes(src, store, false, 1500000000);
	ASSERT_STREQ(clamped, "new=1500000000;old=1000;.wh.gone=0;");
	/* the epoch itself is not newer: kept */
	cleanup_free char *edge = layer_mtimes(src, store, false, 2000000000);
	ASSERT_STREQ(edge, "new=2000000000;old=1000;.wh.gone=0;");
	cleanup_free char *repro = layer_mtimes(src, store, true, 1500000000);
	ASSERT_STREQ(repro, "new=1500000000;old=1500000000;.wh.gone=0;");
	cleanup_free char *repro0 = layer_mtimes(src, store, true, 0);
	ASSERT_STREQ(repro0, "new=0;old=0;.wh.gone=0;");
}

TEST(layer_source_date_epoch_env)
{
	cleanup_err struct kiln_err *err = NULL;
	unsetenv("SOURCE_DATE_EPOCH");
	ASSERT_EQ(fs_source_date_epoch(&err), 0);
	setenv("SOURCE_DATE_EPOCH", "", 1);
	ASSERT_EQ(fs_source_date_epoch(&err), 0);
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	ASSERT_EQ(fs_source_date_epoch(&err), 1700000000);
	setenv("SOURCE_DATE_EPOCH", "0", 1);
	ASSERT_EQ(fs_source_date_epoch(&err), 0);
	setenv("SOURCE_DATE_EPOCH", "253402300799", 1);
	ASSERT_EQ(fs_source_date_epoch(&err), 253402300799LL);
	ASSERT_TRUE(err == NULL);
	static const char *const bad[] = {"-1",  "12a",          " 5",
	                                  "1.5", "253402300800", "99999999999999999999999"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		setenv("SOURCE_DATE_EPOCH", bad[i], 1);
		ASSERT_TRUE(fs_source_date_epoch(&err) < 0);
		ASSERT_TRUE(err && strstr(kiln_err_msg(err), "invalid SOURCE_DATE_EPOCH") != NULL);
		err = kiln_err_free(err);
	}
	unsetenv("SOURCE_DATE_EPOCH");
}

/* cp -al links symlinks (and fifos) too: a new name of a lower-layer symlink must reach the
 * layer as a hard link with its partner, as overlayfs copy-up (Docker) gives, not as two
 * separate symlinks */
TEST(layer_hardlinked_symlink_and_fifo)
{
	cleanup_tmp struct tmp t = {tree_tmpdir()};
	cleanup_free char *root = path_join(t.dir, "root");
	cleanup_free char *store = path_join(t.dir, "store");
	ASSERT_EQ(mkdir(root, 0755), 0);
	char p[4096], q[4096];
#define P(s) (snprintf(p, sizeof(p), "%s/%s", root, s), p)
#define Q(s) (snprintf(q, sizeof(q), "%s/%s", root, s), q)
	ASSERT_EQ(symlink("target", P("sl")), 0);
	ASSERT_EQ(mkfifo(P("fifo"), 0600), 0);
	ASSERT_EQ(tree_write(P("other"), "x", 0644), 0);
	cleanup_close int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(fs_index_freep) struct fs_index *ix = NULL;
	ASSERT_OK(fs_index_build(rfd, NULL, NULL, &ix, &err), err);
	usleep(20000);
	/* the new names only: the old ones change nothing but ctime and nlink */
	ASSERT_EQ(mkdir(P("new"), 0755), 0);
	ASSERT_EQ(linkat(AT_FDCWD, Q("sl"), AT_FDCWD, P("new/sl2"), 0), 0);
	ASSERT_EQ(linkat(AT_FDCWD, Q("fifo"), AT_FDCWD, P("new/fifo2"), 0), 0);
#undef P
#undef Q
	struct fs_changes ch = {0};
	ASSERT_OK(fs_index_diff(ix, rfd, "full", &ch, &err), err);
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	ASSERT_OK(blobstore_open(store, &bs, &err), err);
	_cleanup_(layer_writer_freep) struct layer_writer *lw = NULL;
	ASSERT_OK(layer_writer_new(bs, FS_GZIP, 0, &lw, &err), err);
	for (size_t i = 0; i < ch.n; i++)
		ASSERT_OK(layer_writer_add_path(lw, rfd, ch.v[i].path, &err), err);
	fs_changes_release(&ch);
	struct layer_info info;
	ASSERT_OK(layer_writer_finish(lw, &info, &err), err);

	cleanup_free char *blob = blobstore_path(bs, info.digest);
	struct archive *a = archive_read_new();
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	ASSERT_EQ(archive_read_open_filename(a, blob, 65536), ARCHIVE_OK);
	struct archive_entry *e;
	char got[1024] = "";
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *hl = archive_entry_hardlink(e);
		size_t n = strlen(got);
		snprintf(got + n, sizeof(got) - n, "%s%s%s;", archive_entry_pathname(e),
		         hl ? " => " : "", hl ? hl : "");
	}
	archive_read_free(a);
	ASSERT_STREQ(got, "fifo;new/;new/fifo2 => fifo;new/sl2;sl => new/sl2;");
}

/* the digest of a layer of src written with the given compression on n threads */
static int threaded_layer(const char *src, const char *store, enum fs_compression c,
                          const char *threads, struct layer_info *info, struct kiln_err **err)
{
	setenv("KILN_COMPRESS_THREADS", threads, 1);
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	int r = blobstore_open(store, &bs, err);
	if (r >= 0)
		r = write_tree_layer(bs, src, c, true, info, err);
	unsetenv("KILN_COMPRESS_THREADS");
	return r;
}

/* compression on 1, 2 and 3 threads writes the same bytes, for gzip (independent members
 * written in order) and zstd (libzstd's jobs of a fixed size), over several members and jobs,
 * and the parallel layer extracts to the same tree */
TEST(layer_parallel_compression_identical)
{
	cleanup_tmp struct tmp t = {tree_tmpdir()};
	cleanup_free char *src = path_join(t.dir, "src");
	cleanup_free char *dst = path_join(t.dir, "dst");
	cleanup_free char *store = path_join(t.dir, "store");
	ASSERT_EQ(mkdir(src, 0755), 0);
	ASSERT_EQ(mkdir(dst, 0755), 0);
	/* 9.5 MiB of compressible but not uniform text (so members differ), then small files */
	size_t big = 9 * 1024 * 1024 + 512 * 1024;
	cleanup_free char *body = xmalloc(big + 1);
	uint32_t x = 12345;
	for (size_t i = 0; i < big; i++) {
		x = x * 1103515245u + 12345u;
		body[i] = (char)((x >> 16) % 7 == 0 ? '\n' : 'a' + (x >> 20) % 16);
	}
	body[big] = 0;
	cleanup_free char *bigf = path_join(src, "big.txt");
	ASSERT_EQ(tree_write(bigf, body, 0644), 0);
	/* and 3 MiB of noise: members that are stored rather than compressed */
	cleanup_free char *noise = xmalloc(3 * 1024 * 1024 + 1);
	for (size_t i = 0; i < 3 * 1024 * 1024; i++) {
		x = x * 1103515245u + 12345u;
		noise[i] = (char)(1 + (x >> 16) % 255);
	}
	noise[3 * 1024 * 1024] = 0;
	cleanup_free char *noisef = path_join(src, "noise.bin");
	ASSERT_EQ(tree_write(noisef, noise, 0644), 0);
	char p[4096];
	for (int f = 0; f < 50; f++) {
		snprintf(p, sizeof(p), "%s/small-%02d", src, f);
		ASSERT_EQ(tree_write(p, p, 0600), 0);
	}
	cleanup_err struct kiln_err *err = NULL;
	for (int c = FS_GZIP; c <= FS_ZSTD; c++) {
		struct layer_info one, two, three;
		ASSERT_OK(threaded_layer(src, store, c, "1", &one, &err), err);
		ASSERT_OK(threaded_layer(src, store, c, "2", &two, &err), err);
		ASSERT_OK(threaded_layer(src, store, c, "3", &three, &err), err);
		ASSERT_STREQ(one.digest, two.digest);
		ASSERT_STREQ(one.digest, three.digest);
		ASSERT_STREQ(one.diff_id, two.diff_id);
		ASSERT_EQ(one.size, three.size);
		{
			/* both formats extract to the source tree (gzip: stored members too) */
			_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
			ASSERT_OK(blobstore_open(store, &bs, &err), err);
			tree_rm(dst);
			ASSERT_EQ(mkdir(dst, 0755), 0);
			cleanup_close int dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			cleanup_close int lfd = -1;
			ASSERT_OK(blobstore_open_read(bs, three.digest, &lfd, &err), err);
			ASSERT_OK(fs_extract_layer(dfd, lfd, three.digest, NULL, &err), err);
			cleanup_free char *a = tree_describe(src, false);
			cleanup_free char *b = tree_describe(dst, false);
			ASSERT_STREQ(a, b);
		}
	}
}
