/* build.h — the driver: walks the Dockerfile's stages and instructions (DESIGN §1) and leaves
 * the final image (layers, config, manifest) in the blob store. */
#pragma once

#include "driver/opts.h"
#include "image/image.h"
#include "registry/registry.h"
#include "util/blobstore.h"
#include "util/err.h"

struct build_result {
	enum image_format format;
	char *manifest; /* canonical body, also in the blob store */
	size_t manifest_len;
	char manifest_digest[DIGEST_STRING_LEN + 1];
	char config_digest[DIGEST_STRING_LEN + 1];
	uint64_t config_size;
	struct image_layer *layers;
	size_t n_layers;
	char *base_name; /* registry/repo of the final stage's base image, or NULL */
	/* --cache: the cache repository (registry/repo) and the layers taken from it, which
	 * may be in neither the blob store nor the base image */
	char *cache_name;
	char **cached_digests;
};

/* absolute directory of the build context: --context resolved (fetched when remote) and
 * --context-sub-path applied */
int build_resolve_context(const struct build_opts *o, char **ret, struct kiln_err **err);

int build_run(const struct build_opts *o, struct blobstore *bs, struct registry *reg,
              struct build_result *ret, struct kiln_err **err);
void build_result_release(struct build_result *r);
