/* image.c — manifest and config documents. */
#include "image.h"
#include "index.h"
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
		return kiln_err_limit(err, "manifest has %zu layers, more than %u", n,
		                      LIMIT_LAYERS);
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

/* --- platform --- */

static bool platform_component_ok(const char *c)
{
	if (!*c)
		return false;
	for (; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-'))
			return false;
	}
	return true;
}

static void lower(char *s)
{
	for (; *s; s++) {
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	}
}

static const char *const known_os[] = {
    "aix",   "android", "darwin", "dragonfly", "freebsd", "hurd",    "illumos", "ios", "js",
    "linux", "nacl",    "netbsd", "openbsd",   "plan9",   "solaris", "windows", "zos", "wasip1",
};
static const char *const known_arch[] = {
    "386",     "amd64", "amd64p32", "arm",    "armbe",    "arm64", "arm64be",
    "loong64", "mips",  "mipsle",   "mips64", "mips64le", "ppc",   "ppc64",
    "ppc64le", "riscv", "riscv64",  "s390",   "s390x",    "sparc", "sparc64",
    "wasm",    "i386",  "x86_64",   "x86-64", "aarch64",  "armhf", "armel",
};

static bool in_list(const char *s, const char *const *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (streq(s, l[i]))
			return true;
	}
	return false;
}

/* containerd's normalisation of an architecture and its variant (both lower case already) */
static void normalize_arch(char **arch, char **variant)
{
	const char *a = *arch, *v = *variant ? *variant : "";
	const char *na = a, *nv = v;
	if (streq(a, "i386")) {
		na = "386";
		nv = "";
	} else if (streq(a, "x86_64") || streq(a, "x86-64") || streq(a, "amd64")) {
		na = "amd64";
		if (streq(v, "v1"))
			nv = "";
	} else if (streq(a, "aarch64") || streq(a, "arm64")) {
		na = "arm64";
		if (streq(v, "8") || streq(v, "v8") || streq(v, "v8.0"))
			nv = "";
		else if (streq(v, "9") || streq(v, "9.0") || streq(v, "v9.0"))
			nv = "v9";
	} else if (streq(a, "armhf")) {
		na = "arm";
		nv = "v7";
	} else if (streq(a, "armel")) {
		na = "arm";
		nv = "v6";
	} else if (streq(a, "arm")) {
		if (!*v || streq(v, "7"))
			nv = "v7";
		else if (streq(v, "5") || streq(v, "6") || streq(v, "8"))
			nv = v[0] == '5' ? "v5" : v[0] == '6' ? "v6" : "v8";
	}
	char *a2 = xstrdup(na), *v2 = xstrdup(nv);
	free(*arch);
	free(*variant);
	*arch = a2;
	*variant = v2;
}

/* the platform kiln itself runs on, as BuildKit names it: {architecture, os/arch[/variant]} */
static const char *const host[2] =
#if defined(__x86_64__)
    {"amd64", "linux/amd64"};
#elif defined(__aarch64__)
    {"arm64", "linux/arm64/v8"};
#elif defined(__arm__)
    {"arm", "linux/arm/v7"};
#elif defined(__i386__)
    {"386", "linux/386"};
#elif defined(__s390x__)
    {"s390x", "linux/s390x"};
#elif defined(__powerpc64__)
    {"ppc64le", "linux/ppc64le"};
#elif defined(__riscv)
    {"riscv64", "linux/riscv64"};
#else
    {"unknown", "linux/unknown"};
#endif

const char *image_host_platform(void)
{
	return host[1];
}

int image_platform_normalize(const char *spec, char **ret, struct kiln_err **err)
{
	if (strchr(spec, ','))
		return kiln_err_set(err, "a list of platforms is not supported yet: build once per "
		                         "platform (one --custom-platform each)");
	const char *colon = strchr(spec, ':');
	cleanup_free char *plat = colon ? xstrndup(spec, (size_t)(colon - spec)) : xstrdup(spec);
	cleanup_strv char **parts = NULL;
	size_t n = 0;
	for (const char *p = plat;; n++) {
		const char *slash = strchr(p, '/');
		strv_push(&parts, slash ? xstrndup(p, (size_t)(slash - p)) : xstrdup(p));
		if (!slash)
			break;
		p = slash + 1;
	}
	n++;
	if (n > 3)
		return kiln_err_set(err, "too many slashes in platform spec: %s", spec);
	for (size_t i = 0; i < n; i++) {
		if (!platform_component_ok(parts[i]))
			return kiln_err_set(err,
			                    "\"%s\" is an invalid component of \"%s\": platform "
			                    "specifier component "
			                    "must match \"^[A-Za-z0-9_.-]+$\": invalid argument",
			                    parts[i], spec);
		lower(parts[i]);
	}
	cleanup_free char *os = NULL, *arch = NULL, *variant = NULL;
	if (n == 1) {
		if (in_list(parts[0], known_os, ARRAY_SIZE(known_os))) {
			os = xstrdup(parts[0]);
			arch = xstrdup(host[0]);
		} else if (in_list(parts[0], known_arch, ARRAY_SIZE(known_arch))) {
			os = xstrdup("linux");
			arch = xstrdup(parts[0]);
		} else {
			return kiln_err_set(
			    err,
			    "\"%s\": unknown operating system or architecture: invalid argument",
			    spec);
		}
	} else {
		os = xstrdup(streq(parts[0], "macos") ? "darwin" : parts[0]);
		arch = xstrdup(parts[1]);
		if (n == 3)
			variant = xstrdup(parts[2]);
	}
	normalize_arch(&arch, &variant);
	if (streq(arch, "arm64") && !*variant) {
		free(variant);
		variant = xstrdup("v8");
	}
	cleanup_free char *out =
	    *variant ? xasprintf("%s/%s/%s", os, arch, variant) : xasprintf("%s/%s", os, arch);
	if (colon) {
		char *with = xasprintf("%s%s", out, colon);
		free(out);
		out = with;
	}
	*ret = TAKE_PTR(out);
	return 0;
}

/* splits "os/arch[/variant][:osversion]" (already normalised) */
static void platform_split(const char *platform, char **os, char **arch, char **variant)
{
	char *p = xstrndup(platform, strcspn(platform, ":"));
	char *a = strchr(p, '/');
	char *v = NULL;
	if (a) {
		*a++ = '\0';
		v = strchr(a, '/');
		if (v)
			*v++ = '\0';
	}
	*os = xstrdup(p);
	*arch = xstrdup(a ? a : "");
	*variant = xstrdup(v ? v : "");
	free(p);
}

static const char *arch_default_variant(const char *arch)
{
	return streq(arch, "arm64") ? "v8" : streq(arch, "arm") ? "v7" : "";
}

bool image_config_has_platform(json_t *cfg, const char *platform)
{
	cleanup_free char *os = NULL, *arch = NULL, *variant = NULL;
	platform_split(platform, &os, &arch, &variant);
	const char *cos = json_string_value(json_object_get(cfg, "os"));
	const char *carch = json_string_value(json_object_get(cfg, "architecture"));
	const char *cvar = json_string_value(json_object_get(cfg, "variant"));
	if (!cos || !carch || !streq(cos, os) || !streq(carch, arch))
		return false;
	const char *want = *variant ? variant : arch_default_variant(arch);
	const char *have = cvar && *cvar ? cvar : arch_default_variant(carch);
	return streq(want, have);
}

void image_config_set_platform(json_t *cfg, const char *platform, char **ret_was)
{
	if (ret_was) {
		const char *cos = json_string_value(json_object_get(cfg, "os"));
		const char *carch = json_string_value(json_object_get(cfg, "architecture"));
		const char *cvar = json_string_value(json_object_get(cfg, "variant"));
		*ret_was = cvar && *cvar
		               ? xasprintf("%s/%s/%s", cos ? cos : "?", carch ? carch : "?", cvar)
		               : xasprintf("%s/%s", cos ? cos : "?", carch ? carch : "?");
	}
	cleanup_free char *os = NULL, *arch = NULL, *variant = NULL;
	platform_split(platform, &os, &arch, &variant);
	json_object_set_new(cfg, "os", json_string(os));
	json_object_set_new(cfg, "architecture", json_string(arch));
	if (*variant)
		json_object_set_new(cfg, "variant", json_string(variant));
	else
		json_object_del(cfg, "variant");
}

/* the digest of the manifest for platform in an index */
int image_index_select(const char *body, size_t len, const char *platform,
                       char ret[DIGEST_STRING_LEN + 1], struct kiln_err **err)
{
	cleanup_free char *p = xstrdup(platform);
	char *arch = strchr(p, '/');
	if (!arch || !arch[1])
		return kiln_err_set(err, "invalid platform '%s': expected os/arch[/variant]",
		                    platform);
	*arch++ = 0;
	char *variant = strchr(arch, '/');
	if (variant)
		*variant++ = 0;
	const char *want_variant = variant && *variant ? variant : arch_default_variant(arch);

	cleanup_json json_t *j = NULL;
	if (kjson_parse(body, len, "manifest index", &j, err) < 0)
		return -1;
	json_t *ms = json_object_get(j, "manifests");
	if (!json_is_array(ms))
		return kiln_err_set(err, "index has no 'manifests' array");
	const char *fallback = NULL;
	size_t i;
	json_t *m;
	json_array_foreach(ms, i, m)
	{
		json_t *pl = json_object_get(m, "platform");
		const char *os = kjson_str(pl, "os"), *ar = kjson_str(pl, "architecture");
		const char *d = kjson_str(m, "digest");
		if (!os || !ar || !d || !streq(os, p) || !streq(ar, arch))
			continue;
		const char *v = kjson_str(pl, "variant");
		if (!v || !*v)
			v = arch_default_variant(ar);
		if (streq(v, want_variant)) {
			fallback = d;
			break;
		}
		/* "linux/arm64" without a variant takes any arm64 entry when no exact one exists */
		if (!variant && !fallback)
			fallback = d;
	}
	if (!fallback)
		return kiln_err_set(err, "no manifest for platform '%s' in the index", platform);
	if (!digest_valid(fallback))
		return kiln_err_set(err, "invalid digest '%s' in the index", fallback);
	memcpy(ret, fallback, DIGEST_STRING_LEN + 1);
	return 0;
}
