/* tarball.c — the docker-save tarball (--tar-path, written by image/save.c) and the OCI image layout
 * (--oci-layout-path), both read straight from the blob store. */
#include "output.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int output_write_tarball(const char *path, struct blobstore *bs, const struct build_result *res,
                         char *const *repo_tags, struct kiln_err **err)
{
	_cleanup_(output_file_release) struct output_file f = {.fd = -1};
	int r0 = output_file_open(path, &f, err);
	if (r0 < 0)
		return r0;
	cleanup_free const char **layers = xcalloc(res->n_layers + 1, sizeof(char *));
	for (size_t i = 0; i < res->n_layers; i++)
		layers[i] = res->layers[i].digest;
	int r = image_save_tarball(f.fd, path, bs, res->config_digest, layers, res->n_layers,
	                           repo_tags, err);
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
