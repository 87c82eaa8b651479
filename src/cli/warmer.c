/* warmer.c — kaniko's cache warmer (/kaniko/warmer, or `kiln warmer`): pulls base images into
 * --cache-dir as <dir>/sha256:<hex> (a docker-save tarball) plus <dir>/sha256:<hex>.json (the
 * manifest), the layout kaniko's executor reads with --cache-dir (reference §1.6, §6.5). */
#include "warmer.h"
#include "cache/cache.h"
#include "dockerfile/dockerfile.h"
#include "image/image.h"
#include "kiln-config.h"
#include "registry/ref.h"
#include "registry/registry.h"
#include "shell/shell.h"
#include "util/blobstore.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct warmer_opts {
	char **images;
	char *cache_dir;
	bool force;
	char *dockerfile;
	char **build_args;
	char *platform;
	bool insecure_pull, skip_tls_verify_pull, skip_default_fallback, log_timestamp;
	char **insecure_registries, **skip_tls_verify_registries, **certificates, **client_certs;
	char **registry_maps;
	char *verbosity, *log_format;
};

static void usage(FILE *out)
{
	fputs("Usage:\n"
	      "  cache warmer [flags]\n\n"
	      "Flags:\n"
	      "      --build-arg multi-arg type                  ARG values for the FROM lines of "
	      "--dockerfile\n"
	      "  -c, --cache-dir string                          Directory of the base image cache "
	      "(default \"/cache\")\n"
	      "      --cache-ttl duration                        Accepted for compatibility "
	      "(default 336h0m0s)\n"
	      "      --customPlatform string                     Platform to pull (default: this "
	      "machine's)\n"
	      "  -d, --dockerfile string                         Cache every FROM image of this "
	      "Dockerfile\n"
	      "  -f, --force                                     Overwrite images already in the "
	      "cache\n"
	      "  -h, --help                                      help for cache warmer\n"
	      "  -i, --image multi-arg type                      Image to cache (repeatable)\n"
	      "      --insecure-pull                             Pull over plain HTTP\n"
	      "      --insecure-registry multi-arg type          Registry to use plain HTTP with\n"
	      "      --log-format string                         text, color or json (default "
	      "\"color\")\n"
	      "      --log-timestamp                             Timestamps in log lines\n"
	      "      --registry-certificate key-value-arg type   host=/path/ca.pem\n"
	      "      --registry-client-cert key-value-arg type   host=/path/cert,/path/key\n"
	      "      --registry-map key-multi-value-arg type     orig=mirror[/prefix];...\n"
	      "      --registry-mirror multi-arg type            Mirror of Docker Hub\n"
	      "      --skip-default-registry-fallback            No fallback to the original "
	      "registry\n"
	      "      --skip-tls-verify-pull                      Do not verify TLS for pulls\n"
	      "      --skip-tls-verify-registry multi-arg type   Registry to skip TLS checks for\n"
	      "  -v, --verbosity string                          Log level (default \"info\")\n",
	      out);
}

/* the FROM images of a Dockerfile, ARGs substituted; names of its own stages left out */
static int dockerfile_images(const struct warmer_opts *w, char ***images, struct kiln_err **err)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	int r = read_file_at(AT_FDCWD, w->dockerfile, LIMIT_DOCKERFILE, &text, &len, err);
	if (r < 0)
		return r;
	struct dockerfile *df = NULL;
	r = dockerfile_parse(w->dockerfile, text, len, &df, err);
	if (r < 0)
		return r;
	cleanup_strv char **args = strv_dup(w->build_args ? w->build_args : (char *[]){NULL});
	cleanup_strv char **stages = NULL;
	for (size_t i = 0; i < df->n_instrs && r >= 0; i++) {
		const struct df_instr *in = &df->instrs[i];
		if (streq(in->cmd, "arg")) {
			strv_foreach (a, in->args) {
				const char *eq = strchr(a, '=');
				cleanup_free char *k =
				    xstrndup(a, eq ? (size_t)(eq - a) : strlen(a));
				if (eq && !strv_env_get(args, k))
					strv_env_set(&args, k, eq + 1);
			}
		} else if (streq(in->cmd, "from") && in->args && in->args[0]) {
			cleanup_free char *img = NULL;
			r = shell_expand_word(in->args[0], args, df->escape, &img, err);
			if (r < 0)
				break;
			if (!strv_contains(stages, img) && strcasecmp(img, "scratch") != 0)
				strv_push(images, xstrdup(img));
			if (in->args[1] && !strcasecmp(in->args[1], "as") && in->args[2])
				strv_push(&stages, xstrdup(in->args[2]));
		}
	}
	dockerfile_free(df);
	return r;
}

enum {
	OPT_BUILD_ARG = 256,
	OPT_CACHE_TTL,
	OPT_PLATFORM,
	OPT_INSECURE_PULL,
	OPT_INSECURE_REGISTRY,
	OPT_LOG_FORMAT,
	OPT_LOG_TIMESTAMP,
	OPT_CERT,
	OPT_CLIENT_CERT,
	OPT_MAP,
	OPT_MIRROR,
	OPT_SKIP_FALLBACK,
	OPT_SKIP_TLS_PULL,
	OPT_SKIP_TLS_REGISTRY,
};

static void add_map(char ***maps, const char *v)
{
	cleanup_free char *copy = xstrdup(v);
	char *save = NULL;
	for (char *p = strtok_r(copy, ";", &save); p; p = strtok_r(NULL, ";", &save))
		strv_push(maps, xstrdup(p));
}

/* 0: go on, 1: done (help printed), -1: usage error (printed) */
static int warmer_parse(int argc, char **argv, struct warmer_opts *wp)
{
	static const struct option longopts[] = {
	    {"image", required_argument, NULL, 'i'},
	    {"cache-dir", required_argument, NULL, 'c'},
	    {"force", no_argument, NULL, 'f'},
	    {"dockerfile", required_argument, NULL, 'd'},
	    {"verbosity", required_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"build-arg", required_argument, NULL, OPT_BUILD_ARG},
	    {"cache-ttl", required_argument, NULL, OPT_CACHE_TTL},
	    {"customPlatform", required_argument, NULL, OPT_PLATFORM},
	    {"insecure-pull", no_argument, NULL, OPT_INSECURE_PULL},
	    {"insecure-registry", required_argument, NULL, OPT_INSECURE_REGISTRY},
	    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
	    {"log-timestamp", no_argument, NULL, OPT_LOG_TIMESTAMP},
	    {"registry-certificate", required_argument, NULL, OPT_CERT},
	    {"registry-client-cert", required_argument, NULL, OPT_CLIENT_CERT},
	    {"registry-map", required_argument, NULL, OPT_MAP},
	    {"registry-mirror", required_argument, NULL, OPT_MIRROR},
	    {"skip-default-registry-fallback", no_argument, NULL, OPT_SKIP_FALLBACK},
	    {"skip-tls-verify-pull", no_argument, NULL, OPT_SKIP_TLS_PULL},
	    {"skip-tls-verify-registry", required_argument, NULL, OPT_SKIP_TLS_REGISTRY},
	    {NULL, 0, NULL, 0},
	};
	struct warmer_opts w = *wp;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":i:c:fd:v:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			strv_push(&w.images, xstrdup(optarg));
			break;
		case 'c':
			free(w.cache_dir);
			w.cache_dir = xstrdup(optarg);
			break;
		case 'f':
			w.force = true;
			break;
		case 'd':
			free(w.dockerfile);
			w.dockerfile = xstrdup(optarg);
			break;
		case 'v':
			free(w.verbosity);
			w.verbosity = xstrdup(optarg);
			break;
		case 'h':
			usage(stdout);
			*wp = w;
			return 1;
		case OPT_BUILD_ARG:
			strv_push(&w.build_args, xstrdup(optarg));
			break;
		case OPT_CACHE_TTL:
			break; /* only the executor's reads of the cache expire entries */
		case OPT_PLATFORM:
			free(w.platform);
			w.platform = xstrdup(optarg);
			break;
		case OPT_INSECURE_PULL:
			w.insecure_pull = true;
			break;
		case OPT_INSECURE_REGISTRY:
			strv_push(&w.insecure_registries, xstrdup(optarg));
			break;
		case OPT_LOG_FORMAT:
			free(w.log_format);
			w.log_format = xstrdup(optarg);
			break;
		case OPT_LOG_TIMESTAMP:
			w.log_timestamp = true;
			break;
		case OPT_CERT:
			strv_push(&w.certificates, xstrdup(optarg));
			break;
		case OPT_CLIENT_CERT:
			strv_push(&w.client_certs, xstrdup(optarg));
			break;
		case OPT_MAP:
			add_map(&w.registry_maps, optarg);
			break;
		case OPT_MIRROR:
			strv_pushf(&w.registry_maps, "index.docker.io=%s", optarg);
			break;
		case OPT_SKIP_FALLBACK:
			w.skip_default_fallback = true;
			break;
		case OPT_SKIP_TLS_PULL:
			w.skip_tls_verify_pull = true;
			break;
		case OPT_SKIP_TLS_REGISTRY:
			strv_push(&w.skip_tls_verify_registries, xstrdup(optarg));
			break;
		case ':':
			fprintf(stderr, "Error: flag needs an argument: %s\n", argv[optind - 1]);
			usage(stderr);
			*wp = w;
			return -1;
		default:
			fprintf(stderr, "Error: unknown flag: %s\n", argv[optind - 1]);
			usage(stderr);
			*wp = w;
			return -1;
		}
	}
	*wp = w;
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
		cleanup_free char *ua = xasprintf("kiln/%s", KILN_VERSION);
		struct registry_opts ro = {
		    .insecure_pull = w.insecure_pull,
		    .insecure_registries = w.insecure_registries,
		    .skip_tls_verify_pull = w.skip_tls_verify_pull,
		    .skip_tls_verify_registries = w.skip_tls_verify_registries,
		    .registry_certificates = w.certificates,
		    .registry_client_certs = w.client_certs,
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
	struct warmer_opts w = {.cache_dir = xstrdup("/cache")};
	int r = warmer_parse(argc, argv, &w);
	int status = r < 0 ? 1 : r > 0 ? 0 : warmer_run(&w);
	strv_free(w.images);
	strv_free(w.build_args);
	strv_free(w.insecure_registries);
	strv_free(w.skip_tls_verify_registries);
	strv_free(w.certificates);
	strv_free(w.client_certs);
	strv_free(w.registry_maps);
	free(w.cache_dir);
	free(w.dockerfile);
	free(w.platform);
	free(w.verbosity);
	free(w.log_format);
	return status;
}
