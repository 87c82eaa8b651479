/* stagecache.c — the layer cache (--cache) through a stage: the stage's key from its base and
 * steps, look-ups before each cacheable step, a lazily unpacked root, and the entries pushed at
 * the end. Keys, look-ups and stores are src/cache's; this file knows the stage. */
#include "driver.h"
#include "fs/extract.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int expand_word(void *ud, const char *word, char **ret, struct kiln_err **err)
{
	return stage_expand(ud, word, ret, err);
}

/* extends sc->key with the step as the stage sees it now */
static int key_step(struct stage_cache *sc, struct stage *s, const struct plan_instr *pi,
                    struct kiln_err **err)
{
	bool reads = pi->kind == INSTR_RUN || pi->kind == INSTR_COPY;
	cleanup_strv char **env = reads ? stage_expand_env(s) : NULL;
	struct cache_step_input si = {
	    .container_config = reads ? image_config_container(s->config) : NULL,
	    .env = env,
	    .context = s->cfg->context,
	    .expand = expand_word,
	    .ud = s,
	};
	return cache_key_step(sc->key, pi, &si, err);
}

struct stage_cache *stage_cache_start(struct builder *b, struct stage *s,
                                      const struct stage *parent, const char *base_digest,
                                      const struct image_ref *ref, bool has_triggers)
{
	struct stage_cache *sc = b->scache ? &b->scache[s->index] : NULL;
	if (!sc)
		return NULL;
	const char *pbase = NULL;
	cleanup_free char *stage_base = NULL;
	if (parent && b->scache[parent->index].keyed)
		pbase = stage_base = xasprintf("stage:%s", b->scache[parent->index].key);
	else if (!parent && *base_digest)
		pbase = base_digest;
	else if (!parent && !ref)
		pbase = "scratch";
	sc->keyed = pbase && !s->no_layers && !b->o->single_snapshot && !has_triggers;
	sc->looking = sc->lazy = sc->keyed;
	sc->root_ready = !sc->lazy;
	if (sc->keyed) {
		cache_key_start(sc->key, pbase, s->cfg->platform, s->format,
		                s->cfg->compression == FS_ZSTD);
		sc->ref = ref ? image_ref_dup(ref) : NULL;
	}
	return sc;
}

/* downloads the cache-served layers among digests that the blob store lacks */
static int cache_fetch(struct builder *b, const char *const *digests, size_t n,
                       struct kiln_err **err)
{
	cleanup_free const char **missing = xcalloc(n + 1, sizeof(char *));
	size_t nm = 0;
	int r = 0;
	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < n; i++) {
		if (!blobstore_has(b->bs, digests[i], NULL) &&
		    strv_contains(b->cached_digests, digests[i]))
			missing[nm++] = digests[i];
	}
	pthread_mutex_unlock(&b->lock);
	if (nm) {
		_cleanup_(image_ref_freep) struct image_ref *cref = NULL;
		r = image_ref_parse(b->cache_repo, &cref, err);
		if (r >= 0)
			r = registry_fetch_blobs(b->reg, cref, missing, nm, b->bs, err);
	}
	if (r < 0)
		return kiln_err_wrap(err, "pull cached layers from '%s'", b->cache_repo);
	return 0;
}

int stage_cache_unpack(struct builder *b, struct stage *s, struct stage_cache *sc,
                       struct kiln_err **err)
{
	if (sc->root_ready)
		return 0;
	cleanup_free const char **digests = xcalloc(s->n_layers + 1, sizeof(char *));
	for (size_t i = 0; i < s->n_layers; i++)
		digests[i] = s->layers[i].digest;
	int r = cache_fetch(b, digests, s->n_layers, err);
	if (r < 0)
		return r;
	r = stage_unpack(b, s, sc->ref, b->inplace, err);
	if (r < 0)
		return r;
	s->index_stale = true;
	sc->root_ready = true;
	return 0;
}

static int cache_extract_one(struct builder *b, struct stage *s, const struct image_layer *l,
                             struct kiln_err **err)
{
	const char *d = l->digest;
	int r = cache_fetch(b, &d, 1, err);
	if (r < 0)
		return r;
	cleanup_close int fd = -1;
	r = blobstore_open_read(b->bs, l->digest, &fd, err);
	if (r < 0)
		return r;
	struct extract_opts eo = {
	    .no_chown = geteuid() != 0,
	    .ignored = b->ignore ? ignore_list_match : NULL,
	    .ud = b->ignore,
	};
	r = fs_extract_layer(s->rootfd, fd, l->digest, &eo, err);
	s->index_stale = true;
	return r;
}

int stage_cache_before_step(struct builder *b, struct stage *s, struct stage_cache *sc,
                            const struct plan_instr *pi, struct kiln_err **err)
{
	const struct df_instr *in = pi->in;
	if (!sc->keyed)
		return 0;
	/* ADD (URLs, archives) and COPY --from (another stage's or image's files) read what the
	 * key cannot describe: the cache is off for the rest of the stage */
	bool keyable = pi->kind != INSTR_ADD && !(pi->kind == INSTR_COPY && pi->copy.has_from) &&
	               !(pi->kind == INSTR_RUN && in->n_flags);
	cleanup_err struct kiln_err *e = NULL;
	if (!keyable || key_step(sc, s, pi, &e) < 0) {
		if (e)
			log_debug("Layer cache off for the rest of the stage: %s", kiln_err_msg(e));
		else
			log_info("Layer cache off for the rest of the stage: %s is not cached",
			         in->cmd);
		sc->keyed = sc->looking = false;
		return 0;
	}
	if (!sc->looking ||
	    !cache_step_cacheable(b->o->cache_run_layers, b->o->cache_copy_layers, pi))
		return 0;
	log_info("Checking for cached layer %s:%s...", b->cache_repo, sc->key);
	struct cache_hit hit = {0};
	bool found = false;
	int r = cache_lookup(b->reg, b->bs, b->cache_repo, sc->key, b->o->cache_ttl_ns, &hit,
	                     &found, err);
	if (r < 0)
		return r;
	if (!found) {
		log_info("No cached layer found for cmd %s", in->original);
		sc->looking = false;
		return 0;
	}
	log_info("Using caching version of cmd: %s", in->original);
	if (hit.n_layers) {
		s->layers = xreallocarray(s->layers, s->n_layers + 1, sizeof(*s->layers));
		s->layers[s->n_layers] = hit.layer;
		s->layers[s->n_layers].media_type =
		    xstrdup(layer_media_type(s->format, s->cfg->compression == FS_ZSTD));
		s->n_layers++;
		image_config_add_history(s->config, hit.created_by, hit.layer.diff_id, false,
		                         s->cfg->created);
		pthread_mutex_lock(&b->lock);
		if (!strv_contains(b->cached_digests, hit.layer.digest))
			strv_push(&b->cached_digests, xstrdup(hit.layer.digest));
		pthread_mutex_unlock(&b->lock);
		if (sc->root_ready) {
			/* an earlier step needed the root: the layer goes onto it */
			log_info("Found cached layer, extracting to filesystem");
			r = cache_extract_one(b, s, &s->layers[s->n_layers - 1], err);
		}
	} else {
		image_config_add_history(s->config, hit.created_by, NULL, true, s->cfg->created);
	}
	cache_hit_release(&hit);
	return r < 0 ? r : 1;
}

void stage_cache_after_step(struct builder *b, struct stage *s, struct stage_cache *sc,
                            const struct plan_instr *pi, size_t layers_before)
{
	if (!sc->keyed ||
	    !cache_step_cacheable(b->o->cache_run_layers, b->o->cache_copy_layers, pi) ||
	    b->o->no_push_cache)
		return;
	json_t *hist = json_object_get(s->config, "history");
	const char *cb = json_string_value(
	    json_object_get(json_array_get(hist, json_array_size(hist) - 1), "created_by"));
	const struct image_layer *layer =
	    s->n_layers > layers_before ? &s->layers[s->n_layers - 1] : NULL;
	pthread_mutex_lock(&b->lock);
	cache_pending_add(&b->stores, sc->key, s->format, layer, cb ? cb : "");
	pthread_mutex_unlock(&b->lock);
}

int stage_cache_setup(struct builder *b, struct kiln_err **err)
{
	const struct build_opts *o = b->o;
	if (!o->cache)
		return 0;
	int r = cache_repo_resolve(o->cache_repo, o->destinations, o->no_push, &b->cache_repo, err);
	if (r < 0)
		return r;
	b->scache = xcalloc(b->n_stages ? b->n_stages : 1, sizeof(*b->scache));
	return 0;
}

void stage_cache_push_all(struct builder *b)
{
	if (b->scache)
		cache_pending_push(&b->stores, b->reg, b->bs, b->cache_repo, b->o->custom_platform);
}

void stage_cache_release(struct builder *b)
{
	cache_pending_release(&b->stores);
	if (b->scache) {
		for (size_t i = 0; i < b->n_stages; i++)
			image_ref_free(b->scache[i].ref);
	}
	free(b->scache);
	free(b->cache_repo);
	strv_free(b->cached_digests);
}
