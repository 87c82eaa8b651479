/* tree.c — test helpers: temporary directories and canonical tree renderings. */
#include "tree.h"

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/sha256.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <archive.h>
#include <archive_entry.h>

char *tree_tmpdir(void)
{
	/* KILN_TEST_TMPDIR: somewhere else than /tmp (a tmpfs for speed figures) */
	const char *base = getenv("KILN_TEST_TMPDIR");
	char *tmpl = xasprintf("%s/kiln-fs-test-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpl))
		abort();
	return tmpl;
}

void tree_rm(const char *path)
{
	struct kiln_err *e = NULL;
	rm_rf(path, &e);
	kiln_err_free(e);
}

int tree_write(const char *path, const char *content, unsigned mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	int r = write_all(fd, content, strlen(content));
	if (fchmod(fd, mode) < 0)
		r = -1;
	close(fd);
	return r;
}

int tree_count(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct inogroup {
	dev_t dev;
	ino_t ino;
	char *first;
};

struct desc {
	struct kiln_buf out;
	struct inogroup *g;
	size_t ng, cap;
	bool with_mtime;
};

static void describe_xattrs(struct desc *d, const char *path)
{
	char list[4096];
	ssize_t n = llistxattr(path, list, sizeof(list));
	if (n <= 0)
		return;
	char *names[128];
	size_t k = 0;
	for (ssize_t off = 0; off < n && k < 128; off += (ssize_t)strlen(list + off) + 1)
		names[k++] = list + off;
	qsort(names, k, sizeof(char *), cmpstr);
	for (size_t i = 0; i < k; i++) {
		if (streq(names[i], "security.selinux"))
			continue;
		unsigned char val[4096];
		ssize_t vn = lgetxattr(path, names[i], val, sizeof(val));
		char hex[2 * 4096 + 1];
		hex_encode(val, vn > 0 ? (size_t)vn : 0, hex);
		hex[vn > 0 ? 2 * vn : 0] = '\0';
		kiln_buf_addf(&d->out, " xattr:%s=%s", names[i], hex);
	}
}

static void describe_dir(struct desc *d, const char *root, const char *rel)
{
	cleanup_free char *dir = xasprintf("%s%s", root, rel);
	DIR *dd = opendir(dir);
	if (!dd)
		return;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(dd))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		XGROW(names, n + 1, cap);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dd);
	if (n)
		qsort(names, n, sizeof(char *), cmpstr);
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *r = xasprintf("%s/%s", rel, names[i]);
		cleanup_free char *p = xasprintf("%s%s", root, r);
		struct stat st;
		if (lstat(p, &st) < 0)
			continue;
		kiln_buf_addf(&d->out, "%s %06o %u:%u", r, st.st_mode, st.st_uid, st.st_gid);
		if (d->with_mtime)
			kiln_buf_addf(&d->out, " mtime=%lld", (long long)st.st_mtim.tv_sec);
		if (S_ISREG(st.st_mode)) {
			cleanup_free char *data = NULL;
			size_t len = 0;
			struct kiln_err *e = NULL;
			if (read_file_at(AT_FDCWD, p, 1 << 26, &data, &len, &e) == 0) {
				char dg[DIGEST_STRING_LEN + 1];
				sha256_digest(data, len, dg);
				kiln_buf_addf(&d->out, " size=%zu %s", len, dg + 7);
			}
			kiln_err_free(e);
			if (st.st_nlink > 1) {
				const char *first = NULL;
				for (size_t k = 0; k < d->ng; k++)
					if (d->g[k].dev == st.st_dev && d->g[k].ino == st.st_ino)
						first = d->g[k].first;
				if (!first) {
					XGROW(d->g, d->ng + 1, d->cap);
					d->g[d->ng++] =
					    (struct inogroup){st.st_dev, st.st_ino, xstrdup(r)};
					first = r;
				}
				kiln_buf_addf(&d->out, " link=%s", first);
			}
		} else if (S_ISLNK(st.st_mode)) {
			char t[4096];
			ssize_t tn = readlink(p, t, sizeof(t) - 1);
			t[tn > 0 ? tn : 0] = '\0';
			kiln_buf_addf(&d->out, " -> %s", t);
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			kiln_buf_addf(&d->out, " dev=%u,%u", major(st.st_rdev), minor(st.st_rdev));
		}
		describe_xattrs(d, p);
		kiln_buf_addch(&d->out, '\n');
		if (S_ISDIR(st.st_mode))
			describe_dir(d, root, r);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

char *tree_describe(const char *root, bool with_mtime)
{
	struct desc d = {.out = KILN_BUF_INIT, .with_mtime = with_mtime};
	describe_dir(&d, root, "");
	for (size_t i = 0; i < d.ng; i++)
		free(d.g[i].first);
	free(d.g);
	return kiln_buf_detach(&d.out, NULL);
}

char *tree_file_digest(const char *path, bool decompress)
{
	cleanup_free char *data = NULL;
	size_t len = 0;
	struct kiln_err *e = NULL;
	if (read_file_at(AT_FDCWD, path, 1u << 30, &data, &len, &e) < 0) {
		kiln_err_free(e);
		return NULL;
	}
	char dg[DIGEST_STRING_LEN + 1];
	if (!decompress) {
		sha256_digest(data, len, dg);
		return xstrdup(dg);
	}
	struct sha256 h;
	sha256_init(&h);
	unsigned char out[65536];
	if (len >= 4 && memcmp(data, "\x28\xb5\x2f\xfd", 4) == 0) {
		ZSTD_DStream *ds = ZSTD_createDStream();
		ZSTD_inBuffer in = {data, len, 0};
		while (in.pos < in.size) {
			ZSTD_outBuffer o = {out, sizeof(out), 0};
			size_t zr = ZSTD_decompressStream(ds, &o, &in);
			if (ZSTD_isError(zr)) {
				ZSTD_freeDStream(ds);
				sha256_release(&h);
				return NULL;
			}
			sha256_update(&h, out, o.pos);
		}
		ZSTD_freeDStream(ds);
	} else {
		z_stream z = {0};
		inflateInit2(&z, 15 + 16);
		z.next_in = (Bytef *)data;
		z.avail_in = (uInt)len;
		int zr;
		for (;;) {
			z.next_out = out;
			z.avail_out = sizeof(out);
			zr = inflate(&z, Z_NO_FLUSH);
			if (zr != Z_OK && zr != Z_STREAM_END) {
				inflateEnd(&z);
				sha256_release(&h);
				return NULL;
			}
			sha256_update(&h, out, sizeof(out) - z.avail_out);
			/* a gzip stream may hold several members: read them all */
			if (zr == Z_STREAM_END) {
				if (z.avail_in == 0)
					break;
				inflateReset(&z);
			}
		}
		inflateEnd(&z);
	}
	sha256_final_digest(&h, dg);
	return xstrdup(dg);
}

static int make_tar(const char *path, const struct tar_ent *ents, bool gz, bool gnu)
{
	struct archive *a = archive_write_new();
	if (gnu)
		archive_write_set_format_gnutar(a);
	else
		archive_write_set_format_pax_restricted(a);
	if (gz)
		archive_write_add_filter_gzip(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
		archive_write_free(a);
		return -1;
	}
	struct archive_entry *e = archive_entry_new();
	int r = 0;
	for (const struct tar_ent *t = ents; t->type && r == 0; t++) {
		archive_entry_clear(e);
		archive_entry_copy_pathname(e, t->name);
		archive_entry_set_mtime(e, t->mtime, 0);
		size_t size = 0;
		switch (t->type) {
		case 'f':
			archive_entry_set_filetype(e, AE_IFREG);
			size = t->arg ? strlen(t->arg) : 0;
			break;
		case 'd':
			archive_entry_set_filetype(e, AE_IFDIR);
			break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_copy_symlink(e, t->arg);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_copy_hardlink(e, t->arg);
			break;
		case 'c': {
			unsigned maj = 0, min = 0;
			if (sscanf(t->arg, "%u,%u", &maj, &min) != 2)
				r = -1;
			archive_entry_set_filetype(e, AE_IFCHR);
			archive_entry_set_rdevmajor(e, maj);
			archive_entry_set_rdevminor(e, min);
			break;
		}
		}
		archive_entry_set_perm(e, t->mode ? t->mode : t->type == 'd' ? 0755 : 0644);
		archive_entry_set_size(e, (la_int64_t)size);
		if (archive_write_header(a, e) < ARCHIVE_WARN)
			r = -1;
		if (size && archive_write_data(a, t->arg, size) < 0)
			r = -1;
	}
	archive_entry_free(e);
	if (archive_write_close(a) != ARCHIVE_OK)
		r = -1;
	archive_write_free(a);
	return r;
}

int tree_make_tar(const char *path, const struct tar_ent *ents, bool gz)
{
	return make_tar(path, ents, gz, false);
}

int tree_make_tar_gnu(const char *path, const struct tar_ent *ents)
{
	return make_tar(path, ents, false, true);
}
