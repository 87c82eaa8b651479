/* warmer.c — kaniko's cache warmer (/kaniko/warmer, or `kiln warmer`): pulls base images into
 * --cache-dir as <dir>/sha256:<hex> (a docker-save tarball) plus <dir>/sha256:<hex>.json (the
 * manifest), the layout kaniko's executor reads with --cache-dir (reference §1.6, §6.5). */
#include "warmer.h"
#include "cache/cache.h"
#include "cli/optparse.h"
#include "dockerfile/dockerfile.h"
#include "image/image.h"
#include "kiln-config.h"
#include "plan/plan.h"
#include "registry/ref.h"
#include "registry/registry.h"
#include "util/blobstore.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct warmer_opts {
	char **images;
	char *cache_dir;
	int64_t cache_ttl_ns; /* accepted: only the executor's reads of the cache expire entries */
	bool force;
	char *dockerfile;
	char **build_args;
	char *platform;
	bool insecure_pull, skip_tls_verify_pull, skip_default_fallback, log_timestamp;
	char **insecure_registries, **skip_tls_verify_registries;
	struct opt_kv *certificates, *client_certs;
	size_t n_certificates, n_client_certs;
	char **registry_maps, **registry_mirrors;
	char *verbosity, *log_format;
};

struct warmer_state {
	bool help;
};

#define W(field)  P_OPTS, offsetof(struct warmer_opts, field)
#define WS(field) P_STATE, offsetof(struct warmer_state, field)

/* kaniko's warmer flags (reference §1.6), with kiln's help strings */
static const struct opt warmer_table[] = {
    {"image", 'i', T_MULTI, W(images), NULL, IMPL, "Image to cache (repeatable)"},
    {"cache-dir", 'c', T_STRING, W(cache_dir), "/cache", IMPL, "Directory of the base image cache"},
    {"force", 'f', T_BOOL, W(force), NULL, IMPL, "Overwrite images already in the cache"},
    {"dockerfile", 'd', T_STRING, W(dockerfile), NULL, IMPL,
     "Cache every FROM image of this Dockerfile"},
    {"verbosity", 'v', T_STRING, W(verbosity), "info", IMPL, "Log level"},
    {"help", 'h', T_BOOL, WS(help), NULL, IMPL, "help for cache warmer"},
    {"build-arg", 0, T_MULTI, W(build_args), NULL, IMPL,
     "ARG values for the FROM lines of --dockerfile"},
    {"cache-ttl", 0, T_DURATION, W(cache_ttl_ns), "336h0m0s", IMPL, "Accepted for compatibility"},
    {"customPlatform", 0, T_STRING, W(platform), NULL, IMPL,
     "Platform to pull (default: this machine's)"},
    {"insecure-pull", 0, T_BOOL, W(insecure_pull), NULL, IMPL, "Pull over plain HTTP"},
    {"insecure-registry", 0, T_MULTI, W(insecure_registries), NULL, IMPL,
     "Registry to use plain HTTP with"},
    {"log-format", 0, T_STRING, W(log_format), "color", IMPL, "text, color or json"},
    {"log-timestamp", 0, T_BOOL, W(log_timestamp), NULL, IMPL, "Timestamps in log lines"},
    {"registry-certificate", 0, T_KV, W(certificates), NULL, IMPL, "host=/path/ca.pem",
     .off_n = offsetof(struct warmer_opts, n_certificates)},
    {"registry-client-cert", 0, T_KV, W(client_certs), NULL, IMPL, "host=/path/cert,/path/key",
     .off_n = offsetof(struct warmer_opts, n_client_certs)},
    {"registry-map", 0, T_KMV, W(registry_maps), NULL, IMPL, "orig=mirror[/prefix];..."},
    {"registry-mirror", 0, T_MULTI, W(registry_mirrors), NULL, IMPL, "Mirror of Docker Hub"},
    {"skip-default-registry-fallback", 0, T_BOOL, W(skip_default_fallback), NULL, IMPL,
     "No fallback to the original registry"},
    {"skip-tls-verify-pull", 0, T_BOOL, W(skip_tls_verify_pull), NULL, IMPL,
     "Do not verify TLS for pulls"},
    {"skip-tls-verify-registry", 0, T_MULTI, W(skip_tls_verify_registries), NULL, IMPL,
     "Registry to skip TLS checks for"},
};

#undef W
#undef WS

static void usage(FILE *out)
{
	fputs("Usage:\n"
	      "  cache warmer [flags]\n\n"
	      "Flags:\n",
	      out);
	opt_write_flags(out, warmer_table, ARRAY_SIZE(warmer_table));
}

/* the FROM images of a Dockerfile as the build reads them (plan_from_images): the meta ARGs
 * (before the first FROM, --build-arg, TARGETPLATFORM from --customPlatform) substituted, names
 * of its own stages and scratch left out */
static int dockerfile_images(const struct warmer_opts *w, char ***images, struct kiln_err **err)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	int r = read_file_at(AT_FDCWD, w->dockerfile, LIMIT_DOCKERFILE, &text, &len, err);
	if (r < 0)
		return r;
	cleanup_dockerfile struct dockerfile *df = NULL;
	r = dockerfile_parse(w->dockerfile, text, len, &df, err);
	if (r < 0)
		return r;
	cleanup_strv char **args = plan_build_args(w->build_args, getenv);
	struct plan_opts po = {.build_args = args, .platform = w->platform, .images_only = true};
	_cleanup_(plan_freep) struct plan *p = NULL;
	r = plan_new(df, w->dockerfile, &po, &p, err);
	if (r < 0)
		return r;
	cleanup_strv char **found = NULL;
	r = plan_from_images(p, &found, err);
	if (r < 0)
		return r;
	strv_foreach (img, found)
		strv_push(images, xstrdup(img));
	return 0;
}

/* 0: go on, 1: done (help printed), -1: usage error (printed) */
static int warmer_parse(int argc, char **argv, struct warmer_opts *w)
{
	struct warmer_state st = {0};
	cleanup_strv char **warnings = NULL, **notices = NULL;
	_cleanup_(opt_run_release) struct opt_run run = {0};
	opt_run_init(&run, warmer_table, ARRAY_SIZE(warmer_table), w, &st, &warnings, &notices,
	             argc);
	cleanup_free bool *skip = xcalloc((size_t)argc + 1, sizeof(*skip));
	cleanup_err struct kiln_err *err = NULL;
	if (opt_parse_flags(&run, argc, argv, skip, &err) < 0) {
		fprintf(stderr, "Error: %s\n", kiln_err_msg(err));
		usage(stderr);
		return -1;
	}
	if (st.help) {
		usage(stdout);
		return 1;
	}
	/* kaniko: each mirror is a registry map of Docker Hub, after the maps given */
	strv_foreach (m, w->registry_mirrors)
		strv_pushf(&w->registry_maps, "index.docker.io=%s", m);
	return 0;
}

static int warmer_run(struct warmer_opts *wp)
{
	struct warmer_opts w = *wp;
	int status = 0;
	{
		int level = log_level_parse(w.verbosity ? w.verbosity : "info");
		int format = log_format_parse(w.log_format ? w.log_format : "color");
		if (level < 0 || format < 0) {
			fprintf(stderr, "Error: invalid --verbosity or --log-format\n");
			return 1;
		}
		log_setup((enum log_level)level, (enum log_format)format, w.log_timestamp);
	}
	cleanup_err struct kiln_err *err = NULL;
	if (w.dockerfile && dockerfile_images(&w, &wp->images, &err) < 0) {
		log_msg(LOG_FATAL, "%s", kiln_err_msg(err));
		return 1;
	}
	w.images = wp->images;
	if (!w.images) {
		log_msg(LOG_FATAL,
		        "You must select at least one image to cache or a dockerfilepath "
		        "to parse");
		return 1;
	}
	if (mkdir_p(w.cache_dir, 0755, &err) < 0) {
		log_msg(LOG_FATAL, "%s", kiln_err_msg(err));
		return 1;
	}
	{
		cleanup_strv char **certs = opt_kv_strv(w.certificates, w.n_certificates);
		cleanup_strv char **client = opt_kv_strv(w.client_certs, w.n_client_certs);
		cleanup_free char *ua = xasprintf("kiln/%s", KILN_VERSION);
		struct registry_opts ro = {
		    .insecure_pull = w.insecure_pull,
		    .insecure_registries = w.insecure_registries,
		    .skip_tls_verify_pull = w.skip_tls_verify_pull,
		    .skip_tls_verify_registries = w.skip_tls_verify_registries,
		    .registry_certificates = certs,
		    .registry_client_certs = client,
		    .registry_maps = w.registry_maps,
		    .skip_default_registry_fallback = w.skip_default_fallback,
		    .user_agent = ua,
		};
		_cleanup_(registry_freep) struct registry *reg = NULL;
		if (registry_new(&ro, &reg, &err) < 0) {
			log_msg(LOG_FATAL, "%s", kiln_err_msg(err));
			return 1;
		}
		size_t failed = 0, n = strv_length(w.images);
		strv_foreach (img, w.images) {
			cleanup_err struct kiln_err *e = NULL;
			if (cache_dir_warm(reg, w.cache_dir, img, w.platform, w.force, &e) < 0) {
				log_warn("Error while trying to cache image %s: %s", img,
				         kiln_err_msg(e));
				failed++;
			}
		}
		if (failed == n) {
			/* kaniko prints this one on stdout */
			printf("Failed warming cache\n");
			status = 1;
		}
	}
	return status;
}

int warmer_main(int argc, char **argv)
{
	struct warmer_opts w = {
	    .cache_dir = xstrdup("/cache"),
	    .cache_ttl_ns = 336LL * 3600 * 1000000000LL,
	    .verbosity = xstrdup("info"),
	    .log_format = xstrdup("color"),
	};
	int r = warmer_parse(argc, argv, &w);
	int status = r < 0 ? 1 : r > 0 ? 0 : warmer_run(&w);
	strv_free(w.images);
	strv_free(w.build_args);
	strv_free(w.insecure_registries);
	strv_free(w.skip_tls_verify_registries);
	opt_kv_free(w.certificates, w.n_certificates);
	opt_kv_free(w.client_certs, w.n_client_certs);
	strv_free(w.registry_maps);
	strv_free(w.registry_mirrors);
	free(w.cache_dir);
	free(w.dockerfile);
	free(w.platform);
	free(w.verbosity);
	free(w.log_format);
	return status;
}
