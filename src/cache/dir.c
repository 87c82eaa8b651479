/* dir.c — the base-image cache directory (--cache-dir) on both sides: the warmer writes
 * <dir>/<manifest digest>, a docker-save tarball (layers "<hex>.tar.gz", the config
 * "sha256:<hex>", manifest.json), and <dir>/<manifest digest>.json, the manifest as the registry
 * served it (kaniko's layout, reference §1.6, §6.5); a build reads the tarball's blobs. */
#include "cache.h"
#include "registry/ref.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* the digest a warmer tarball entry holds: "sha256:<hex>" (the config) or "<hex>.tar.gz" */
static bool entry_digest(const char *name, char out[DIGEST_STRING_LEN + 1])
{
	if (digest_valid(name)) {
		memcpy(out, name, DIGEST_STRING_LEN + 1);
		return true;
	}
	if (strlen(name) != SHA256_HEX_LEN + STRLEN(".tar.gz") ||
	    !streq(name + SHA256_HEX_LEN, ".tar.gz"))
		return false;
	snprintf(out, DIGEST_STRING_LEN + 1, "sha256:%.*s", SHA256_HEX_LEN, name);
	return digest_valid(out);
}

static int import_entries(struct archive *a, const char *path, const char *const *want, size_t n,
                          struct blobstore *bs, size_t *ret_found, struct kiln_err **err)
{
	struct archive_entry *e;
	int ar;
	while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		char d[DIGEST_STRING_LEN + 1];
		const char *name = archive_entry_pathname(e);
		if (!name || !entry_digest(name, d))
			continue;
		bool wanted = false;
		for (size_t i = 0; i < n && !wanted; i++)
			wanted = streq(want[i], d);
		if (!wanted || blobstore_has(bs, d, NULL)) {
			*ret_found += wanted;
			continue;
		}
		_cleanup_(blob_writer_freep) struct blob_writer *w = NULL;
		int r = blob_writer_new(bs, &w, err);
		if (r < 0)
			return r;
		char buf[65536];
		for (;;) {
			la_ssize_t got = archive_read_data(a, buf, sizeof(buf));
			if (got < 0)
				return kiln_err_set(err, "read '%s': %s", path,
				                    archive_error_string(a));
			if (got == 0)
				break;
			r = blob_writer_write(w, buf, (size_t)got, err);
			if (r < 0)
				return r;
		}
		r = blob_writer_commit(w, d, NULL, NULL, err);
		if (r < 0)
			return kiln_err_wrap(err, "'%s'", path);
		(*ret_found)++;
	}
	if (ar != ARCHIVE_EOF)
		return kiln_err_set(err, "read '%s': %s", path, archive_error_string(a));
	return 0;
}

int cache_dir_import(const char *dir, const char *manifest_digest, int64_t ttl_ns,
                     const char *const *want, size_t n, struct blobstore *bs)
{
	cleanup_free char *path = path_join(dir, manifest_digest);
	struct stat st;
	if (stat(path, &st) < 0) {
		log_debug("Image %s not found in local cache %s", manifest_digest, dir);
		return 0;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if ((int64_t)(now.tv_sec - st.st_mtim.tv_sec) * 1000000000 +
	        (now.tv_nsec - st.st_mtim.tv_nsec) >
	    ttl_ns) {
		log_debug("Local cache entry %s expired", path);
		return 0;
	}
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	size_t found = 0;
	cleanup_err struct kiln_err *e = NULL;
	int r = 0;
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK)
		r = kiln_err_set(&e, "open '%s': %s", path, archive_error_string(a));
	else
		r = import_entries(a, path, want, n, bs, &found, &e);
	archive_read_free(a);
	if (r < 0) {
		log_error("Error while retrieving image from cache: %s %s", manifest_digest,
		          kiln_err_msg(e));
		return 0;
	}
	log_info("Found %s in local cache", manifest_digest);
	if (found < n)
		log_warn("Local cache entry %s holds %zu of the image's %zu blobs; the rest are "
		         "pulled",
		         path, found, n);
	return 1;
}

/* ---- the warmer's side ---- */

int cache_dir_write(const char *dir, const char *manifest_digest, const char *manifest,
                    size_t manifest_len, const struct manifest *m, const char *tag,
                    struct blobstore *bs, struct kiln_err **err)
{
	cleanup_free char *dest = path_join(dir, manifest_digest);
	cleanup_free char *json = xasprintf("%s.json", dest);
	/* written aside and renamed: a build never reads half a tarball */
	cleanup_free char *tmp = xasprintf("%s.tmp.%d", dest, (int)getpid());
	cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return kiln_err_errno(err, "create '%s'", tmp);
	cleanup_free const char **layers = xcalloc(m->n_layers + 1, sizeof(char *));
	for (size_t i = 0; i < m->n_layers; i++)
		layers[i] = m->layers[i].digest;
	char *tags[] = {(char *)tag, NULL};
	int r = image_save_tarball(fd, dest, bs, m->config_digest, layers, m->n_layers,
	                           tag ? tags : NULL, err);
	if (r >= 0 && (fchmod(fd, 0644) < 0 || close(TAKE_FD(fd)) < 0))
		r = kiln_err_errno(err, "write '%s'", tmp);
	if (r >= 0 && rename(tmp, dest) < 0)
		r = kiln_err_errno(err, "rename '%s'", dest);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return write_file_atomic(json, manifest, manifest_len, 0644, err);
}

int cache_dir_warm(struct registry *reg, const char *dir, const char *image, const char *platform,
                   bool force, struct kiln_err **err)
{
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	int r = image_ref_parse(image, &ref, err);
	if (r < 0)
		return r;
	cleanup_free char *body = NULL, *mt = NULL;
	size_t len = 0;
	char digest[DIGEST_STRING_LEN + 1];
	r = registry_get_manifest(reg, ref, platform, &body, &len, &mt, digest, err);
	if (r < 0)
		return r;
	cleanup_free char *dest = path_join(dir, digest);
	struct stat st;
	if (!force && stat(dest, &st) == 0) {
		log_info("Image already in cache: %s", image);
		return 0;
	}
	_cleanup_(manifest_freep) struct manifest *m = NULL;
	r = manifest_parse(body, len, mt, &m, err);
	if (r < 0)
		return r;
	/* the blobs pass through a private store next to the cache, removed afterwards */
	cleanup_free char *tmpl = path_join(dir, ".warming-XXXXXX");
	if (!mkdtemp(tmpl))
		return kiln_err_errno(err, "create a directory in '%s'", dir);
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	r = blobstore_open(tmpl, &bs, err);
	cleanup_free const char **digests = xcalloc(m->n_layers + 1, sizeof(char *));
	for (size_t i = 0; i < m->n_layers; i++)
		digests[i] = m->layers[i].digest;
	digests[m->n_layers] = m->config_digest;
	if (r >= 0)
		r = registry_fetch_blobs(reg, ref, digests, m->n_layers + 1, bs, err);
	if (r >= 0) {
		cleanup_free char *tag = image_ref_string(ref);
		r = cache_dir_write(dir, digest, body, len, m, tag, bs, err);
	}
	rm_rf(tmpl, NULL);
	if (r < 0)
		return r;
	log_info("Cached %s as %s", image, dest);
	return 0;
}
