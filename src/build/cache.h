/* cache.h — the layer cache (--cache): one registry image per cached step, tagged with a
 * composite key that chains the base image, every earlier instruction of the stage and, for
 * RUN and COPY, what they read (environment, context files). */
#pragma once

#include "build/opts.h"
#include "image/image.h"
#include "instr/instr.h"
#include "plan/plan.h"
#include "registry/registry.h"
#include "util/blobstore.h"
#include "util/err.h"
#include "util/sha256.h"

#include <stdbool.h>
#include <stdint.h>

#define CACHE_KEY_LEN SHA256_HEX_LEN

/* what a look-up found: a layer (n_layers 1) or a step that changed nothing (n_layers 0) */
struct cache_hit {
	struct image_layer layer; /* media_type heap-allocated */
	size_t n_layers;
	char *created_by; /* the history entry the step wrote */
};
void cache_hit_release(struct cache_hit *h);

/* the stage's first key: the base (manifest digest, "stage:<key>" or "scratch"), the platform,
 * the layer format and compression */
void cache_key_start(char key[CACHE_KEY_LEN + 1], const char *base, const char *platform,
                     const struct stage *s);

/* extends key with one instruction as the stage sees it now (before it runs): its text and
 * heredocs; for RUN and COPY/ADD also the container config and the visible ARGs; for COPY
 * from the context, the names, modes and contents of its sources. Returns <0 when a source
 * cannot be read (the caller stops using the cache for the stage). */
int cache_key_step(char key[CACHE_KEY_LEN + 1], struct stage *s, const struct plan_instr *pi,
                   struct kiln_err **err);

/* whether the instruction's result may come from the cache at all (RUN with
 * cache_run_layers; COPY from the context with cache_copy_layers; never ADD, COPY --from,
 * RUN --mount) */
bool cache_step_cacheable(const struct build_opts *o, const struct plan_instr *pi);

/* looks up <repo>:<key>; *ret_hit false on a miss (absent, expired per ttl_ns, not kiln's
 * format); registry errors other than absence are a miss too, logged */
int cache_lookup(struct registry *reg, struct blobstore *bs, const char *repo, const char *key,
                 int64_t ttl_ns, struct cache_hit *ret, bool *ret_hit, struct kiln_err **err);

/* pushes one entry: a config and manifest of format with layer (NULL: no layer) taken from
 * bs, tagged key in repo */
int cache_store(struct registry *reg, struct blobstore *bs, const char *repo, const char *key,
                enum image_format format, const struct image_layer *layer, const char *created_by,
                const char *platform, struct kiln_err **err);

/* --cache-dir, as the warmer fills it: when <dir>/<manifest digest> (a docker-save tarball) is
 * there and younger than ttl_ns (by mtime), the blobs of want[] it holds are copied into bs,
 * each verified against its digest. Returns 1 when the entry was used, 0 when it is absent,
 * expired or unreadable (logged; the caller pulls from the registry). */
int cache_dir_import(const char *dir, const char *manifest_digest, int64_t ttl_ns,
                     const char *const *want, size_t n, struct blobstore *bs);
