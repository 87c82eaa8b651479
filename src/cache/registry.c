/* registry.c — the layer cache's repository: look-ups and stores of one-step images (kaniko's
 * --cache model, with kiln's own key: see docs/cache.md), and the entries a build pushes at its
 * end. */
#include "cache.h"
#include "registry/ref.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_AUTHOR "kiln"

void cache_hit_release(struct cache_hit *h)
{
	free(h->layer.media_type);
	free(h->created_by);
	memset(h, 0, sizeof(*h));
}

/* "2026-11-23T12:00:00Z" (fractions and offsets as Go writes them are tolerated: only the
 * first 19 characters, read as UTC, matter here) */
static bool parse_created(const char *s, time_t *ret)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*ret = timegm(&tm);
	return *ret != (time_t)-1;
}

int cache_lookup(struct registry *reg, struct blobstore *bs, const char *repo, const char *key,
                 int64_t ttl_ns, struct cache_hit *ret, bool *ret_hit, struct kiln_err **err)
{
	*ret_hit = false;
	cleanup_free char *name = xasprintf("%s:%s", repo, key);
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	int r = image_ref_parse(name, &ref, err);
	if (r < 0)
		return r;
	cleanup_free char *body = NULL, *mt = NULL;
	size_t len = 0;
	char mdigest[DIGEST_STRING_LEN + 1];
	cleanup_err struct kiln_err *e = NULL;
	if (registry_get_manifest(reg, ref, NULL, &body, &len, &mt, mdigest, &e) < 0) {
		log_debug("Cache look-up of %s: %s", name, kiln_err_msg(e));
		return 0;
	}
	_cleanup_(manifest_freep) struct manifest *m = NULL;
	if (manifest_parse(body, len, mt, &m, &e) < 0 || m->n_layers > 1) {
		log_warn("Cache entry %s is not a one-layer image: ignored", name);
		return 0;
	}
	const char *cfg_digest = m->config_digest;
	if (registry_fetch_blobs(reg, ref, &cfg_digest, 1, bs, &e) < 0) {
		log_warn("Cache entry %s: %s", name, kiln_err_msg(e));
		return 0;
	}
	cleanup_free char *cfg = NULL;
	size_t cfg_len = 0;
	r = blobstore_read(bs, cfg_digest, LIMIT_CONFIG, &cfg, &cfg_len, err);
	if (r < 0)
		return r;
	json_t *c = NULL;
	if (kjson_parse(cfg, cfg_len, "cache entry config", &c, &e) < 0) {
		log_warn("Cache entry %s: %s", name, kiln_err_msg(e));
		return 0;
	}
	json_t *hist = json_array_get(json_object_get(c, "history"), 0);
	const char *author = json_string_value(json_object_get(hist, "author"));
	const char *created_by = json_string_value(json_object_get(hist, "created_by"));
	const char *diff_id = json_string_value(
	    json_array_get(json_object_get(json_object_get(c, "rootfs"), "diff_ids"), 0));
	time_t created = 0;
	bool ok = author && streq(author, CACHE_AUTHOR) && created_by &&
	          parse_created(json_string_value(json_object_get(c, "created")), &created) &&
	          (m->n_layers == 0 || (diff_id && digest_valid(diff_id)));
	if (!ok) {
		json_decref(c);
		log_warn("Cache entry %s was not written by kiln: ignored", name);
		return 0;
	}
	/* valid while created + ttl is in the future (created has whole seconds) */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t age_s = (int64_t)(now.tv_sec - created);
	if (age_s > ttl_ns / 1000000000 ||
	    (age_s == ttl_ns / 1000000000 && now.tv_nsec >= ttl_ns % 1000000000)) {
		json_decref(c);
		log_info("Cache entry expired: %s", name);
		return 0;
	}
	ret->n_layers = m->n_layers;
	if (m->n_layers) {
		ret->layer = m->layers[0];
		ret->layer.media_type = xstrdup(m->layers[0].media_type);
		memcpy(ret->layer.diff_id, diff_id, DIGEST_STRING_LEN + 1);
	}
	ret->created_by = xstrdup(created_by);
	json_decref(c);
	*ret_hit = true;
	return 0;
}

int cache_store(struct registry *reg, struct blobstore *bs, const char *repo, const char *key,
                enum image_format format, const struct image_layer *layer, const char *created_by,
                const char *platform, struct kiln_err **err)
{
	cleanup_free char *name = xasprintf("%s:%s", repo, key);
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	int r = image_ref_parse(name, &ref, err);
	if (r < 0)
		return r;
	json_t *cfg = image_config_new(platform);
	cleanup_free char *now = image_time_now(false, 0);
	json_object_set_new(cfg, "created", json_string(now));
	json_object_set_new(cfg, "author", json_string(CACHE_AUTHOR));
	image_config_add_history(cfg, created_by, layer ? layer->diff_id : NULL, !layer, now);
	json_object_set_new(json_array_get(json_object_get(cfg, "history"), 0), "author",
	                    json_string(CACHE_AUTHOR));
	cleanup_free char *body = kjson_dump(cfg);
	json_decref(cfg);
	size_t len = strlen(body);
	char cfg_digest[DIGEST_STRING_LEN + 1];
	r = blobstore_put(bs, body, len, cfg_digest, err);
	if (r < 0)
		return r;
	const char *digests[2] = {cfg_digest, layer ? layer->digest : NULL};
	r = registry_push_blobs(reg, ref, digests, layer ? 2 : 1, NULL, bs, err);
	if (r < 0)
		return r;
	cleanup_free char *manifest = manifest_build(format, cfg_digest, len, layer, layer ? 1 : 0);
	log_info("Pushing layer %s to cache now", name);
	return registry_put_manifest(reg, ref, manifest_media_type(format), manifest,
	                             strlen(manifest), err);
}

int cache_repo_resolve(const char *cache_repo, char *const *destinations, bool no_push, char **ret,
                       struct kiln_err **err)
{
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	if (cache_repo && *cache_repo) {
		if (startswith(cache_repo, "oci:"))
			return kiln_err_set(err,
			                    "--cache-repo '%s': an OCI layout as the cache is not "
			                    "implemented in kiln; use a registry repository",
			                    cache_repo);
		int r = image_ref_parse(cache_repo, &ref, err);
		if (r < 0)
			return kiln_err_wrap(err, "--cache-repo");
		*ret = image_ref_name(ref);
		return 0;
	}
	if (destinations && destinations[0] && !no_push) {
		int r = image_ref_parse(destinations[0], &ref, err);
		if (r < 0)
			return r;
		cleanup_free char *name = image_ref_name(ref);
		*ret = xasprintf("%s/cache", name);
		return 0;
	}
	return kiln_err_set(err, "if using cache with --no-push, specify cache repo with "
	                         "--cache-repo");
}

void cache_pending_add(struct cache_pending *p, const char *key, enum image_format format,
                       const struct image_layer *layer, const char *created_by)
{
	struct cache_pending_entry e = {.format = format, .created_by = xstrdup(created_by)};
	memcpy(e.key, key, sizeof(e.key));
	if (layer) {
		e.has_layer = true;
		e.layer = *layer;
		e.layer.media_type = xstrdup(layer->media_type);
	}
	p->entries = xreallocarray(p->entries, p->n + 1, sizeof(*p->entries));
	p->entries[p->n++] = e;
}

void cache_pending_push(const struct cache_pending *p, struct registry *reg, struct blobstore *bs,
                        const char *repo, const char *platform)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct cache_pending_entry *j = &p->entries[i];
		cleanup_err struct kiln_err *e = NULL;
		if (cache_store(reg, bs, repo, j->key, j->format, j->has_layer ? &j->layer : NULL,
		                j->created_by, platform, &e) < 0)
			log_warn("Error uploading layer to cache: %s", kiln_err_msg(e));
	}
}

void cache_pending_release(struct cache_pending *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->entries[i].layer.media_type);
		free(p->entries[i].created_by);
	}
	free(p->entries);
	*p = (struct cache_pending){0};
}
