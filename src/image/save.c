/* save.c — the docker-save tarball, read straight from the blob store: each layer as
 * <hex>.tar.gz, the config under its digest, then manifest.json. kiln's --tar-path writes it and
 * the warmer's --cache-dir holds one per image (what `docker load` and kaniko read). */
#include "image.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int ar_fail(struct archive *a, const char *path, struct kiln_err **err)
{
	return kiln_err_set(err, "write '%s': %s", path, archive_error_string(a));
}

static int add_entry(struct archive *a, const char *name, int64_t size, const char *path,
                     struct kiln_err **err)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	int r = archive_write_header(a, e);
	archive_entry_free(e);
	return r == ARCHIVE_OK ? 0 : ar_fail(a, path, err);
}

static int add_blob(struct archive *a, struct blobstore *bs, const char *name, const char *digest,
                    const char *path, struct kiln_err **err)
{
	cleanup_close int fd = -1;
	int r = blobstore_open_read(bs, digest, &fd, err);
	if (r < 0)
		return r;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return kiln_err_errno(err, "stat blob %s", digest);
	r = add_entry(a, name, st.st_size, path, err);
	if (r < 0)
		return r;
	char buf[1 << 16];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_err_errno(err, "read blob %s", digest);
		if (n == 0)
			return 0;
		if (archive_write_data(a, buf, (size_t)n) < 0)
			return ar_fail(a, path, err);
	}
}

int image_save_tarball(int fd, const char *path, struct blobstore *bs, const char *config_digest,
                       const char *const *layer_digests, size_t n_layers, char *const *repo_tags,
                       struct kiln_err **err)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		int r = kiln_err_set(err, "create '%s': %s", path, archive_error_string(a));
		archive_write_free(a);
		return r;
	}
	cleanup_json json_t *layers = json_array();
	int r = 0;
	for (size_t i = 0; i < n_layers && r >= 0; i++) {
		cleanup_free char *name = xasprintf("%s.tar.gz", digest_hex(layer_digests[i]));
		json_array_append_new(layers, json_string(name));
		r = add_blob(a, bs, name, layer_digests[i], path, err);
	}
	if (r >= 0)
		r = add_blob(a, bs, config_digest, config_digest, path, err);
	if (r >= 0) {
		json_t *tags = json_array();
		strv_foreach (t, repo_tags)
			json_array_append_new(tags, json_string(t));
		cleanup_json json_t *m = json_pack("[{s:s, s:o, s:O}]", "Config", config_digest,
		                                   "RepoTags", tags, "Layers", layers);
		cleanup_free char *body = kjson_dump(m);
		size_t len = strlen(body);
		r = add_entry(a, "manifest.json", (int64_t)len, path, err);
		if (r >= 0 && len && archive_write_data(a, body, len) < 0)
			r = ar_fail(a, path, err);
	}
	if (r >= 0 && archive_write_close(a) != ARCHIVE_OK)
		r = ar_fail(a, path, err);
	archive_write_free(a);
	return r;
}
