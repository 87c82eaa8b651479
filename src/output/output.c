/* output.c — kaniko's order of outputs: digest file, OCI layout, name-with-digest files,
 * tarball, then the pushes (blobs first, the manifest only once every blob is confirmed),
 * then $BUILDER_OUTPUT/images. */
#include "output.h"
#include "registry/ref.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/timing.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_small(const char *path, const char *data, struct kiln_err **err)
{
	_cleanup_(output_file_release) struct output_file f = {.fd = -1};
	int r = output_file_open(path, &f, err);
	if (r < 0)
		return r;
	if (write_all(f.fd, data, strlen(data)) < 0)
		return kiln_err_errno(err, "write '%s'", path);
	return output_file_commit(&f, err);
}

/* "<registry>/<repo>@sha256:..." or with ":<tag>" per destination */
static int name_digest_file(const struct build_opts *o, const char *path, bool tagged,
                            const char *digest, struct kiln_err **err)
{
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	strv_foreach (d, o->destinations) {
		_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
		int r = image_ref_parse(d, &ref, err);
		if (r < 0)
			return r;
		cleanup_free char *name = image_ref_name(ref);
		if (tagged)
			kiln_buf_addf(&b, "%s:%s@%s\n", name, ref->tag ? ref->tag : "latest",
			              digest);
		else
			kiln_buf_addf(&b, "%s@%s\n", name, digest);
	}
	return write_small(path, b.ptr, err);
}

/* base layers a build never unpacked are not in the blob store: fetch them from the base
 * image's repository (a push to the same registry mounts them instead); layers the cache
 * served, from the cache repository */
static int fetch_missing(struct blobstore *bs, struct registry *reg, const struct build_result *res,
                         const char *const *digests, size_t n, struct kiln_err **err)
{
	cleanup_free const char **missing = xcalloc(n ? n : 1, sizeof(char *));
	cleanup_free const char **cached = xcalloc(n ? n : 1, sizeof(char *));
	size_t nm = 0, nc = 0;
	for (size_t i = 0; i < n; i++) {
		if (blobstore_has(bs, digests[i], NULL))
			continue;
		if (strv_contains(res->cached_digests, digests[i]))
			cached[nc++] = digests[i];
		else
			missing[nm++] = digests[i];
	}
	if (nc) {
		_cleanup_(image_ref_freep) struct image_ref *cache = NULL;
		int r = image_ref_parse(res->cache_name, &cache, err);
		if (r >= 0)
			r = registry_fetch_blobs(reg, cache, cached, nc, bs, err);
		if (r < 0)
			return r;
	}
	if (!nm)
		return 0;
	if (!res->base_name)
		return kiln_err_set(err, "blob %s is neither built nor from a base image",
		                    missing[0]);
	_cleanup_(image_ref_freep) struct image_ref *base = NULL;
	int r = image_ref_parse(res->base_name, &base, err);
	if (r < 0)
		return r;
	return registry_fetch_blobs(reg, base, missing, nm, bs, err);
}

/* layers the cache served and the build never downloaded: mounted from the cache repository
 * when it is on the destination's registry, else fetched from it (and then uploaded with the
 * rest) */
static int push_cached(struct blobstore *bs, struct registry *reg, const struct build_result *res,
                       const struct image_ref *ref, struct kiln_err **err)
{
	cleanup_free const char **missing =
	    xcalloc(strv_length(res->cached_digests) + 1, sizeof(char *));
	size_t n = 0;
	strv_foreach (d, res->cached_digests) {
		if (!blobstore_has(bs, d, NULL))
			missing[n++] = d;
	}
	if (!n)
		return 0;
	size_t rl = strlen(ref->registry);
	cleanup_free char *dest_name = image_ref_name(ref);
	if (strneq(res->cache_name, ref->registry, rl) && res->cache_name[rl] == '/' &&
	    !streq(res->cache_name, dest_name)) {
		cleanup_err struct kiln_err *e = NULL;
		if (registry_push_blobs(reg, ref, missing, n, res->cache_name + rl + 1, bs, &e) >=
		    0)
			return 0;
		log_debug("cross-repository mount from '%s' did not do: %s", res->cache_name,
		          kiln_err_msg(e));
	}
	_cleanup_(image_ref_freep) struct image_ref *cache = NULL;
	int r = image_ref_parse(res->cache_name, &cache, err);
	if (r < 0)
		return r;
	return registry_fetch_blobs(reg, cache, missing, n, bs, err);
}

static int push_one(struct blobstore *bs, struct registry *reg, const struct build_result *res,
                    const struct image_ref *ref, struct kiln_err **err)
{
	if (res->cached_digests) {
		int r = push_cached(bs, reg, res, ref, err);
		if (r < 0)
			return r;
	}
	cleanup_free const char **digests = xcalloc(res->n_layers + 1, sizeof(char *));
	for (size_t i = 0; i < res->n_layers; i++)
		digests[i] = res->layers[i].digest;
	digests[res->n_layers] = res->config_digest;
	size_t n = res->n_layers + 1;
	const char *mount_from = NULL;
	cleanup_free char *dest_name = image_ref_name(ref);
	size_t rl = strlen(ref->registry);
	if (res->base_name && strneq(res->base_name, ref->registry, rl) &&
	    res->base_name[rl] == '/' && !streq(res->base_name, dest_name))
		mount_from = res->base_name + rl + 1;
	bool pushed = false;
	if (mount_from) {
		cleanup_err struct kiln_err *e = NULL;
		pushed = registry_push_blobs(reg, ref, digests, n, mount_from, bs, &e) >= 0;
		if (!pushed)
			log_debug("cross-repository mount from '%s' did not do: %s", mount_from,
			          kiln_err_msg(e));
	}
	if (!pushed) {
		int r = fetch_missing(bs, reg, res, digests, n, err);
		if (r < 0)
			return r;
		r = registry_push_blobs(reg, ref, digests, n, NULL, bs, err);
		if (r < 0)
			return r;
	}
	/* every blob is confirmed present: only now the manifest */
	return registry_put_manifest(reg, ref, manifest_media_type(res->format), res->manifest,
	                             res->manifest_len, err);
}

static int push_all(const struct build_opts *o, struct blobstore *bs, struct registry *reg,
                    const struct build_result *res, struct kiln_err **err)
{
	strv_foreach (d, o->destinations) {
		_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
		int r = image_ref_parse(d, &ref, err);
		if (r < 0)
			return r;
		log_info("Pushing image to %s", d);
		int64_t t0 = timing_now_ns();
		unsigned delay = 1;
		for (int attempt = 0;; attempt++) {
			cleanup_err struct kiln_err *e = NULL;
			r = push_one(bs, reg, res, ref, &e);
			if (r >= 0)
				break;
			if (o->push_ignore_immutable_tag_errors &&
			    registry_err_is_immutable_tag(e)) {
				cleanup_free char *nm = image_ref_name(ref);
				log_info("Immutable tag error ignored for %s@%s", nm,
				         res->manifest_digest);
				r = 0;
				break;
			}
			if (attempt >= o->push_retry) {
				*err = TAKE_PTR(e);
				return kiln_err_wrap(err,
				                     "error pushing image: failed to push to "
				                     "destination %s",
				                     d);
			}
			log_warn("Retrying operation after %us due to %s", delay, kiln_err_msg(e));
			sleep(delay);
			delay *= 2;
		}
		cleanup_free char *name = image_ref_name(ref);
		timing_record("push", -1, d, timing_now_ns() - t0, -1, -1);
		log_info("Pushed %s@%s", name, res->manifest_digest);
	}
	return 0;
}

int output_check_push(const struct build_opts *o, struct registry *reg, struct kiln_err **err)
{
	if (o->no_push || o->skip_push_permission_check)
		return 0;
	cleanup_strv char **seen = NULL;
	strv_foreach (d, o->destinations) {
		_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
		int r = image_ref_parse(d, &ref, err);
		if (r < 0)
			return r;
		cleanup_free char *name = image_ref_name(ref);
		if (strv_contains(seen, name))
			continue;
		strv_push(&seen, xstrdup(name));
		r = registry_check_push(reg, ref, err);
		if (r < 0)
			return kiln_err_wrap(err,
			                     "error checking push permissions -- make sure you "
			                     "entered the correct tag name, and that you are "
			                     "authenticated correctly, and try again: checking "
			                     "push permission for \"%s\"",
			                     d);
	}
	return 0;
}

/* keeps the first output file failure for the end (later ones are logged) */
static void defer_file_error(struct kiln_err **first, struct kiln_err **err, const char *flag)
{
	kiln_err_wrap(err, "%s", flag);
	if (!*first) {
		*first = TAKE_PTR(*err);
		return;
	}
	log_error("%s", kiln_err_msg(*err));
	kiln_err_free(*err);
	*err = NULL;
}

int output_all(const struct build_opts *o, struct blobstore *bs, struct registry *reg,
               const struct build_result *res, struct kiln_err **err)
{
	int r;
	bool files = (o->oci_layout_path && *o->oci_layout_path) || (o->tar_path && *o->tar_path);
	if (files) {
		/* the files hold every layer: base layers a build never unpacked are fetched */
		cleanup_free const char **digests = xcalloc(res->n_layers + 1, sizeof(char *));
		for (size_t i = 0; i < res->n_layers; i++)
			digests[i] = res->layers[i].digest;
		r = fetch_missing(bs, reg, res, digests, res->n_layers, err);
		if (r < 0)
			return r;
	}
	/* An output file that cannot be written is an error, but only once the image is safely
	 * pushed: a CI job then fails, naming the file, without losing the build. */
	cleanup_err struct kiln_err *file_err = NULL;
	if (o->digest_file && *o->digest_file) {
		r = write_small(o->digest_file, res->manifest_digest, err);
		if (r < 0)
			defer_file_error(&file_err, err, "--digest-file");
	}
	if (o->oci_layout_path && *o->oci_layout_path) {
		r = output_write_oci_layout(o->oci_layout_path, bs, res, err);
		if (r < 0)
			return r;
	}
	if (o->image_name_with_digest_file && *o->image_name_with_digest_file) {
		/* kaniko: when both are given, both files get the tagged form */
		bool tagged =
		    o->image_name_tag_with_digest_file && *o->image_name_tag_with_digest_file;
		r = name_digest_file(o, o->image_name_with_digest_file, tagged,
		                     res->manifest_digest, err);
		if (r < 0)
			defer_file_error(&file_err, err, "--image-name-with-digest-file");
	}
	if (o->image_name_tag_with_digest_file && *o->image_name_tag_with_digest_file) {
		r = name_digest_file(o, o->image_name_tag_with_digest_file, true,
		                     res->manifest_digest, err);
		if (r < 0)
			defer_file_error(&file_err, err, "--image-name-tag-with-digest-file");
	}
	if (o->tar_path && *o->tar_path) {
		cleanup_strv char **tags = NULL;
		strv_foreach (d, o->destinations) {
			_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
			if (image_ref_parse(d, &ref, NULL) >= 0)
				strv_push(&tags, image_ref_string(ref));
		}
		if (!tags)
			strv_push(&tags, xstrdup("unset-repo/unset-image-name:latest"));
		r = output_write_tarball(o->tar_path, bs, res, tags, err);
		if (r < 0)
			defer_file_error(&file_err, err, "--tar-path");
	}
	if (o->no_push) {
		log_info("Skipping push to container registry due to --no-push flag");
	} else {
		r = push_all(o, bs, reg, res, err);
		if (r < 0)
			return r;
	}
	const char *bo = o->no_push ? NULL : getenv("BUILDER_OUTPUT");
	if (bo && *bo) {
		cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
		strv_foreach (d, o->destinations) {
			cleanup_json json_t *j =
			    json_pack("{s:s, s:s}", "name", d, "digest", res->manifest_digest);
			cleanup_free char *line = kjson_dump(j);
			kiln_buf_addf(&b, "%s\n", line);
		}
		cleanup_free char *path = path_join(bo, "images");
		r = write_small(path, b.ptr, err);
		if (r < 0)
			defer_file_error(&file_err, err, "$BUILDER_OUTPUT");
	}
	if (file_err) {
		*err = TAKE_PTR(file_err);
		return -1;
	}
	return 0;
}
