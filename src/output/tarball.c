/* tarball.c — the docker-save tarball (--tar-path) and the OCI image layout
 * (--oci-layout-path), both read straight from the blob store. */
#include "output.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int ar_fail(struct archive *a, const char *path, struct kiln_err **err)
{
	return kiln_err_set(err, "write '%s': %s", path, archive_error_string(a));
}

static int add_buffer(struct archive *a, const char *name, const void *data, size_t len,
                      const char *path, struct kiln_err **err)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	int r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK || (len && archive_write_data(a, data, len) < 0))
		return ar_fail(a, path, err);
	return 0;
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
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, st.st_size);
	r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return ar_fail(a, path, err);
	char buf[1 << 16];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return kiln_err_errno(err, "read blob %s", digest);
		}
		if (n == 0)
			break;
		if (archive_write_data(a, buf, (size_t)n) < 0)
			return ar_fail(a, path, err);
	}
	return 0;
}

int output_write_tarball(const char *path, struct blobstore *bs, const struct build_result *res,
                         char *const *repo_tags, struct kiln_err **err)
{
	_cleanup_(output_file_release) struct output_file f = {.fd = -1};
	int r0 = output_file_open(path, &f, err);
	if (r0 < 0)
		return r0;
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_fd(a, f.fd) != ARCHIVE_OK) {
		int r = kiln_err_set(err, "create '%s': %s", path, archive_error_string(a));
		archive_write_free(a);
		return r;
	}
	cleanup_json json_t *layers = json_array();
	int r = 0;
	for (size_t i = 0; i < res->n_layers && r >= 0; i++) {
		cleanup_free char *name = xasprintf("%s.tar.gz", digest_hex(res->layers[i].digest));
		json_array_append_new(layers, json_string(name));
		r = add_blob(a, bs, name, res->layers[i].digest, path, err);
	}
	if (r >= 0)
		r = add_blob(a, bs, res->config_digest, res->config_digest, path, err);
	if (r >= 0) {
		json_t *tags = json_array();
		strv_foreach (t, repo_tags)
			json_array_append_new(tags, json_string(t));
		cleanup_json json_t *m =
		    json_pack("[{s:s, s:o, s:O}]", "Config", res->config_digest, "RepoTags", tags,
		              "Layers", layers);
		cleanup_free char *body = kjson_dump(m);
		r = add_buffer(a, "manifest.json", body, strlen(body), path, err);
	}
	if (r >= 0 && archive_write_close(a) != ARCHIVE_OK)
		r = ar_fail(a, path, err);
	archive_write_free(a);
	if (r >= 0)
		r = output_file_commit(&f, err);
	return r;
}

static int link_or_copy(struct blobstore *bs, const char *digest, const char *dest,
                        struct kiln_err **err)
{
	cleanup_free char *src = blobstore_path(bs, digest);
	if (access(dest, F_OK) == 0)
		return 0;
	if (link(src, dest) == 0)
		return 0;
	cleanup_close int in = -1;
	int r = blobstore_open_read(bs, digest, &in, err);
	if (r < 0)
		return r;
	cleanup_free char *tmp = xasprintf("%s.tmp", dest);
	cleanup_close int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		return kiln_err_errno(err, "create '%s'", tmp);
	bool wfail;
	r = copy_fd(in, out, &wfail);
	if (r < 0)
		return wfail ? kiln_err_errnum(err, -r, "write '%s'", tmp)
		             : kiln_err_errnum(err, -r, "read blob %s", digest);
	if (rename(tmp, dest) < 0)
		return kiln_err_errno(err, "rename '%s'", dest);
	return 0;
}

int output_write_oci_layout(const char *dir, struct blobstore *bs, const struct build_result *res,
                            struct kiln_err **err)
{
	cleanup_free char *blobs = path_join(dir, "blobs/sha256");
	int r = mkdir_p(blobs, 0755, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i <= res->n_layers + 1; i++) {
		const char *d = i < res->n_layers    ? res->layers[i].digest
		                : i == res->n_layers ? res->config_digest
		                                     : res->manifest_digest;
		cleanup_free char *dest = path_join(blobs, digest_hex(d));
		r = link_or_copy(bs, d, dest, err);
		if (r < 0)
			return r;
	}
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	cleanup_free char *lp = path_join(dir, "oci-layout");
	r = write_file_atomic(lp, layout, STRLEN(layout), 0644, err);
	if (r < 0)
		return r;
	cleanup_json json_t *idx =
	    json_pack("{s:i, s:s, s:[{s:s, s:I, s:s}]}", "schemaVersion", 2, "mediaType",
	              MT_OCI_INDEX, "manifests", "mediaType", manifest_media_type(res->format),
	              "size", (json_int_t)res->manifest_len, "digest", res->manifest_digest);
	cleanup_free char *body = kjson_dump(idx);
	cleanup_free char *ip = path_join(dir, "index.json");
	return write_file_atomic(ip, body, strlen(body), 0644, err);
}
