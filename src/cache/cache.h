/* cache.h — the layer cache (--cache) and the base-image cache directory (--cache-dir).
 *
 * Layer cache: one registry image per cached step, tagged with a composite key that chains
 * the base image, every earlier instruction of the stage and, for RUN and COPY, what they read
 * (environment, context files). key.c computes keys, registry.c looks entries up and stores
 * them. The driver decides when (build/stagecache.c); nothing here knows a stage.
 *
 * Cache directory: the warmer (kaniko's /kaniko/warmer) writes <dir>/<manifest digest> (a
 * docker-save tarball) and <dir>/<manifest digest>.json (the manifest); a build with --cache
 * reads the tarball's blobs instead of pulling them. Both sides are dir.c. */
#pragma once

#include "dockerfile/dockerfile.h"
#include "image/image.h"
#include "plan/plan.h"
#include "registry/registry.h"
#include "util/blobstore.h"
#include "util/err.h"
#include "util/json.h"
#include "util/sha256.h"

#include <stdbool.h>
#include <stdint.h>

#define CACHE_KEY_LEN SHA256_HEX_LEN

/* ---- keys (key.c) ---- */

/* the stage's first key: the base (manifest digest, "stage:<key>" or "scratch"), the platform,
 * the layer format and compression */
void cache_key_start(char key[CACHE_KEY_LEN + 1], const char *base, const char *platform,
                     enum image_format format, bool zstd);

/* expands one word of an instruction as the stage sees it (heap result) */
typedef int (*cache_expand_fn)(void *ud, const char *word, char **ret, struct kiln_err **err);

/* what a step reads, as the stage sees it before the step runs */
struct cache_step_input {
	json_t *container_config; /* the image config's "config" object */
	char **env;               /* the expansion environment "K=V" (sorted by the callee) */
	const char *context;      /* the context directory */
	cache_expand_fn expand;   /* for COPY's sources */
	void *ud;
};

/* extends key with one instruction: its text and heredocs; for RUN and COPY/ADD also the
 * container config and the environment; for COPY from the context, the names, modes and
 * contents of its sources. Returns <0 when a source cannot be read or expanded (the caller
 * stops using the cache for the stage); key is unchanged then. */
int cache_key_step(char key[CACHE_KEY_LEN + 1], const struct plan_instr *pi,
                   const struct cache_step_input *si, struct kiln_err **err);

/* whether the instruction's result may come from the cache at all (RUN with run_layers,
 * COPY from the context with copy_layers; never ADD, COPY --from, RUN --mount) */
bool cache_step_cacheable(bool run_layers, bool copy_layers, const struct plan_instr *pi);

/* ---- the cache repository (registry.c) ---- */

/* --cache-repo, else kaniko's default: <first destination's repository>/cache; *ret is the
 * repository name (registry/repo) */
int cache_repo_resolve(const char *cache_repo, char *const *destinations, bool no_push, char **ret,
                       struct kiln_err **err);

/* what a look-up found: a layer (n_layers 1) or a step that changed nothing (n_layers 0) */
struct cache_hit {
	struct image_layer layer; /* media_type heap-allocated */
	size_t n_layers;
	char *created_by; /* the history entry the step wrote */
};
void cache_hit_release(struct cache_hit *h);

/* looks up <repo>:<key>; *ret_hit false on a miss (absent, expired per ttl_ns, not kiln's
 * format); registry errors other than absence are a miss too, logged */
int cache_lookup(struct registry *reg, struct blobstore *bs, const char *repo, const char *key,
                 int64_t ttl_ns, struct cache_hit *ret, bool *ret_hit, struct kiln_err **err);

/* pushes one entry: a config and manifest of format with layer (NULL: no layer) taken from
 * bs, tagged key in repo */
int cache_store(struct registry *reg, struct blobstore *bs, const char *repo, const char *key,
                enum image_format format, const struct image_layer *layer, const char *created_by,
                const char *platform, struct kiln_err **err);

/* entries a build pushes at its end (kaniko pushes the cache after the build) */
struct cache_pending {
	struct cache_pending_entry {
		char key[CACHE_KEY_LEN + 1];
		enum image_format format;
		bool has_layer;
		struct image_layer layer; /* media_type heap-allocated */
		char *created_by;
	} * entries;
	size_t n;
};
/* queues key's result: layer (copied; NULL when the step made none) and its history text */
void cache_pending_add(struct cache_pending *p, const char *key, enum image_format format,
                       const struct image_layer *layer, const char *created_by);
/* pushes every entry; a failure is a warning, as in kaniko */
void cache_pending_push(const struct cache_pending *p, struct registry *reg, struct blobstore *bs,
                        const char *repo, const char *platform);
void cache_pending_release(struct cache_pending *p);

/* ---- the base-image cache directory (dir.c) ---- */

/* the warmer: pulls image (for platform) and writes it into dir, unless an entry for its
 * manifest digest is there already and force is off */
int cache_dir_warm(struct registry *reg, const char *dir, const char *image, const char *platform,
                   bool force, struct kiln_err **err);

/* writes the entry of one image whose blobs (config and layers of m) are in bs: the tarball
 * <dir>/<manifest_digest> (with tag as its RepoTags entry) and the manifest body next to it */
int cache_dir_write(const char *dir, const char *manifest_digest, const char *manifest,
                    size_t manifest_len, const struct manifest *m, const char *tag,
                    struct blobstore *bs, struct kiln_err **err);

/* the build: when <dir>/<manifest digest> is there and younger than ttl_ns (by mtime), the
 * blobs of want[] it holds are copied into bs, each verified against its digest. Returns 1
 * when the entry was used, 0 when it is absent, expired or unreadable (logged; the caller
 * pulls from the registry). */
int cache_dir_import(const char *dir, const char *manifest_digest, int64_t ttl_ns,
                     const char *const *want, size_t n, struct blobstore *bs);
