/* image.c — manifest and config documents. */
#include "image.h"
#include "util/limits.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <string.h>
#include <time.h>

const char *manifest_media_type(enum image_format format)
{
	return format == IMAGE_OCI ? MT_OCI_MANIFEST : MT_DOCKER_MANIFEST;
}

const char *layer_media_type(enum image_format format, bool zstd)
{
	if (format == IMAGE_OCI)
		return zstd ? MT_OCI_LAYER_ZSTD : MT_OCI_LAYER_GZIP;
	return MT_DOCKER_LAYER;
}

static int descriptor_parse(json_t *d, const char *what, char digest[DIGEST_STRING_LEN + 1],
                            uint64_t *size, const char **mt, struct kiln_err **err)
{
	const char *dg = kjson_str(d, "digest");
	json_t *sz = json_object_get(d, "size");
	if (!dg || !digest_valid(dg))
		return kiln_err_set(err, "manifest %s has no valid sha256 digest", what);
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return kiln_err_set(err, "manifest %s has no valid size", what);
	memcpy(digest, dg, DIGEST_STRING_LEN + 1);
	*size = (uint64_t)json_integer_value(sz);
	if (mt)
		*mt = kjson_str(d, "mediaType");
	return 0;
}

int manifest_parse(const char *body, size_t len, const char *media_type, struct manifest **ret,
                   struct kiln_err **err)
{
	cleanup_json json_t *j = NULL;
	int r = kjson_parse(body, len, "manifest", &j, err);
	if (r < 0)
		return r;
	const char *mt = kjson_str(j, "mediaType");
	if (!mt)
		mt = media_type;
	_cleanup_(manifest_freep) struct manifest *m = xcalloc(1, sizeof(*m));
	if (mt && streq(mt, MT_DOCKER_MANIFEST))
		m->format = IMAGE_DOCKER;
	else if (!mt || streq(mt, MT_OCI_MANIFEST))
		m->format = IMAGE_OCI;
	else
		return kiln_err_set(err, "unsupported manifest media type '%s'", mt);
	json_t *cfg = json_object_get(j, "config");
	if (!json_is_object(cfg))
		return kiln_err_set(err, "manifest has no config descriptor");
	r = descriptor_parse(cfg, "config", m->config_digest, &m->config_size, NULL, err);
	if (r < 0)
		return r;
	json_t *layers = json_object_get(j, "layers");
	if (!json_is_array(layers))
		return kiln_err_set(err, "manifest has no layers array");
	size_t n = json_array_size(layers);
	if (n > LIMIT_LAYERS)
		return kiln_err_set(err, "manifest has %zu layers, more than %u", n, LIMIT_LAYERS);
	m->layers = xcalloc(n ? n : 1, sizeof(*m->layers));
	for (size_t i = 0; i < n; i++) {
		const char *lmt = NULL;
		struct image_layer *l = &m->layers[i];
		r = descriptor_parse(json_array_get(layers, i), "layer", l->digest, &l->size, &lmt,
		                     err);
		if (r < 0)
			return r;
		l->media_type = xstrdup(lmt ? lmt : MT_OCI_LAYER_GZIP);
		m->n_layers++;
	}
	*ret = TAKE_PTR(m);
	return 0;
}

struct manifest *manifest_free(struct manifest *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_layers; i++)
		free(m->layers[i].media_type);
	free(m->layers);
	free(m);
	return NULL;
}

static json_t *descriptor(const char *mt, const char *digest, uint64_t size)
{
	return json_pack("{s:s, s:I, s:s}", "mediaType", mt, "size", (json_int_t)size, "digest",
	                 digest);
}

char *manifest_build(enum image_format format, const char *config_digest, uint64_t config_size,
                     const struct image_layer *layers, size_t n_layers)
{
	cleanup_json json_t *j = json_object();
	json_object_set_new(j, "schemaVersion", json_integer(2));
	json_object_set_new(j, "mediaType", json_string(manifest_media_type(format)));
	json_object_set_new(j, "config",
	                    descriptor(format == IMAGE_OCI ? MT_OCI_CONFIG : MT_DOCKER_CONFIG,
	                               config_digest, config_size));
	json_t *arr = json_array();
	for (size_t i = 0; i < n_layers; i++)
		json_array_append_new(
		    arr, descriptor(layers[i].media_type, layers[i].digest, layers[i].size));
	json_object_set_new(j, "layers", arr);
	return kjson_dump(j);
}

json_t *image_config_new(const char *platform)
{
	cleanup_free char *p = xstrdup(platform && *platform ? platform : "linux/amd64");
	char *arch = strchr(p, '/');
	char *variant = NULL;
	if (arch) {
		*arch++ = '\0';
		variant = strchr(arch, '/');
		if (variant)
			*variant++ = '\0';
	}
	json_t *cfg = json_object();
	json_object_set_new(cfg, "architecture", json_string(arch ? arch : "amd64"));
	json_object_set_new(cfg, "os", json_string(p));
	if (variant && *variant)
		json_object_set_new(cfg, "variant", json_string(variant));
	json_t *c = image_config_container(cfg);
	json_object_set_new(c, "Env",
	                    json_pack("[s]", "PATH=/usr/local/sbin:/usr/local/bin:"
	                                     "/usr/sbin:/usr/bin:/sbin:/bin"));
	/* as BuildKit's FROM scratch: the working directory is "/" until a WORKDIR */
	json_object_set_new(c, "WorkingDir", json_string("/"));
	json_object_set_new(cfg, "rootfs", json_pack("{s:s, s:[]}", "type", "layers", "diff_ids"));
	json_object_set_new(cfg, "history", json_array());
	return cfg;
}

int image_config_parse(const char *data, size_t len, json_t **ret, struct kiln_err **err)
{
	json_t *j = NULL;
	int r = kjson_parse(data, len, "image config", &j, err);
	if (r < 0)
		return r;
	if (!json_is_object(j)) {
		json_decref(j);
		return kiln_err_set(err, "image config is not a JSON object");
	}
	json_t *rootfs = json_object_get(j, "rootfs");
	if (!json_is_object(rootfs)) {
		rootfs = json_pack("{s:s, s:[]}", "type", "layers", "diff_ids");
		json_object_set_new(j, "rootfs", rootfs);
	}
	if (!json_is_array(json_object_get(rootfs, "diff_ids")))
		json_object_set_new(rootfs, "diff_ids", json_array());
	if (!json_is_array(json_object_get(j, "history")))
		json_object_set_new(j, "history", json_array());
	json_t *c = image_config_container(j);
	/* kaniko (and Docker) give an image without Env the default PATH */
	if (!json_is_array(json_object_get(c, "Env")))
		json_object_set_new(c, "Env",
		                    json_pack("[s]", "PATH=/usr/local/sbin:/usr/local/"
		                                     "bin:/usr/sbin:/usr/bin:/sbin:/bin"));
	*ret = j;
	return 0;
}

json_t *image_config_container(json_t *cfg)
{
	json_t *c = json_object_get(cfg, "config");
	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(cfg, "config", c);
	}
	return c;
}

char **image_config_env(json_t *cfg)
{
	json_t *env = json_object_get(image_config_container(cfg), "Env");
	char **v = xcalloc(1, sizeof(char *));
	size_t i;
	json_t *e;
	json_array_foreach(env, i, e)
	{
		if (json_is_string(e))
			strv_push(&v, xstrdup(json_string_value(e)));
	}
	return v;
}

void image_config_set_env(json_t *cfg, char *const *env)
{
	json_t *arr = json_array();
	strv_foreach (e, env)
		json_array_append_new(arr, json_string(e));
	json_object_set_new(image_config_container(cfg), "Env", arr);
}

void image_config_add_history(json_t *cfg, const char *created_by, const char *diff_id,
                              bool empty_layer, const char *created)
{
	json_t *h = json_object();
	if (created)
		json_object_set_new(h, "created", json_string(created));
	json_object_set_new(h, "created_by", json_string(created_by));
	json_object_set_new(h, "comment", json_string("buildkit.dockerfile.v0"));
	if (empty_layer)
		json_object_set_new(h, "empty_layer", json_true());
	json_array_append_new(json_object_get(cfg, "history"), h);
	if (!empty_layer && diff_id) {
		json_t *ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
		json_array_append_new(ids, json_string(diff_id));
	}
}

size_t image_config_n_layers(json_t *cfg)
{
	return json_array_size(json_object_get(json_object_get(cfg, "rootfs"), "diff_ids"));
}

char *image_time_now(bool reproducible, int64_t source_date_epoch)
{
	time_t t = source_date_epoch > 0 ? (time_t)source_date_epoch
	           : reproducible        ? 0
	                                 : time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	char buf[40];
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}
