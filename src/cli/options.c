/* options.c — the executor's option table and a cobra/pflag-compatible parser over it. One table
 * drives parsing, the unimplemented-flag check and the help text, so they cannot disagree. */
#include "cli/options.h"
#include "context/git.h"
#include "image/image.h"
#include "sandbox/sandbox.h"

#include "util/buf.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum opt_type {
	T_STRING,
	T_BOOL,
	T_INT,
	T_DURATION,
	T_MULTI,       /* kaniko multiArg: one value per occurrence */
	T_KV,          /* keyValueArg: key=value map, a repeated key overwrites */
	T_KMV,         /* multiKeyMultiValueArg: "k=v;k2=v2", keys may repeat */
	T_GIT,         /* gitoptions: one key=value per occurrence */
	T_COMPRESSION, /* "gzip" | "zstd" */
	T_ISOLATION,   /* kiln: "auto" | "chroot" | "inplace" */
	T_STORAGE,     /* kiln: "auto" | "disk" | "tmpfs" | "tmpfs:<size>" */
	T_SIZE,        /* kiln: "5G", "512M", bytes, "unlimited" */
};

/* where a flag's value lives */
enum opt_place {
	P_OPTS,  /* struct build_opts */
	P_STATE, /* struct parse_state: values kaniko keeps outside its options (aliases, help) */
};

enum {
	IMPL = 1 << 0,            /* kiln implements the flag */
	IMPL_FALSE_ONLY = 1 << 1, /* a boolean kiln implements only when false */
	HIDDEN = 1 << 2,          /* left out of the help text */
};

struct opt {
	const char *name;
	char shorthand;
	enum opt_type type;
	enum opt_place place;
	size_t off;
	const char *def; /* pflag's DefValue as help shows it; NULL when help shows none */
	unsigned flags;
	const char *help;
	size_t off_n;           /* T_KV: offset of the element count */
	const char *deprecated; /* pflag MarkDeprecated message: hidden, notice on every use */
};

/* state of one cli_parse() call that has no home in struct build_opts */
struct parse_state {
	char *custom_platform_deprecated; /* --customPlatform */
	char *snapshot_mode_deprecated;   /* --snapshotMode */
	bool help;                        /* -h, --help */
};

#define O(field)  P_OPTS, offsetof(struct build_opts, field)
#define ST(field) P_STATE, offsetof(struct parse_state, field)

/*
 * The option table: kaniko v1.24's 60 executor flags (reference §1.2), cobra's -h/--help and
 * kiln's --isolation. Help strings are kaniko's. The IMPL column is THE list of what kiln
 * implements: a flag without IMPL parses (so typos and help behave as in kaniko) but is refused
 * when given explicitly. To enable a flag, add IMPL to its row.
 */
static const struct opt opts_table[] = {
    /* global */
    {"verbosity", 'v', T_STRING, O(verbosity), "info", IMPL,
     "Log level (trace, debug, info, warn, error, fatal, panic)"},
    {"log-format", 0, T_STRING, O(log_format), "color", IMPL, "Log format (text, color, json)"},
    {"log-timestamp", 0, T_BOOL, O(log_timestamp), NULL, IMPL, "Timestamp in log output"},
    {"force", 0, T_BOOL, O(force), NULL, IMPL, "Force building outside of a container"},
    {"help", 'h', T_BOOL, ST(help), NULL, IMPL, "help for executor"},

    /* build input */
    {"dockerfile", 'f', T_STRING, O(dockerfile), "Dockerfile", IMPL,
     "Path to the dockerfile to be built."},
    {"context", 'c', T_STRING, O(context), "/workspace/", IMPL,
     "Path to the dockerfile build context."},
    {"context-sub-path", 0, T_STRING, O(context_sub_path), NULL, IMPL,
     "Sub path within the given context."},
    {"bucket", 'b', T_STRING, O(bucket), NULL, HIDDEN,
     "Name of the GCS bucket from which to access build context as tarball."},
    {"git", 0, T_GIT, O(git), "branch=,single-branch=false,recurse-submodules=false", IMPL,
     "Branch to clone if build context is a git repository"},
    {"build-arg", 0, T_MULTI, O(build_args), NULL, IMPL,
     "This flag allows you to pass in ARG values at build time. Set it repeatedly for "
     "multiple values."},
    {"target", 0, T_STRING, O(target), NULL, IMPL, "Set the target build stage to build"},
    /* kiln's default is true, as BuildKit: a broken stage the target does not use cannot
     * fail the build; =false keeps kaniko's build-every-stage behaviour */
    {"skip-unused-stages", 0, T_BOOL, O(skip_unused_stages), "true", IMPL,
     "Build only used stages if defined to true. Otherwise it builds all stages, "
     "even the unnecessaries ones until it reaches the target stage / end of Dockerfile"},
    {"custom-platform", 0, T_STRING, O(custom_platform), NULL, IMPL,
     "Specify the build platform if different from the current host"},
    {"customPlatform", 0, T_STRING, ST(custom_platform_deprecated), NULL, IMPL,
     "This flag is deprecated. Please use '--custom-platform'."},
    {"label", 0, T_MULTI, O(labels), NULL, IMPL,
     "Set metadata for an image. Set it repeatedly for multiple labels."},

    /* destinations and outputs */
    {"destination", 'd', T_MULTI, O(destinations), NULL, IMPL,
     "Registry the final image should be pushed to. Set it repeatedly for multiple "
     "destinations."},
    {"no-push", 0, T_BOOL, O(no_push), NULL, IMPL, "Do not push the image to the registry"},
    {"no-push-cache", 0, T_BOOL, O(no_push_cache), NULL, IMPL,
     "Do not push the cache layers to the registry"},
    {"tar-path", 0, T_STRING, O(tar_path), NULL, IMPL,
     "Path to save the image in as a tarball instead of pushing"},
    /* kaniko binds --tarPath to the same field, so its warning is never printed (⚠ §1.2) */
    {"tarPath", 0, T_STRING, O(tar_path), NULL, IMPL,
     "This flag is deprecated. Please use '--tar-path'."},
    {"oci-layout-path", 0, T_STRING, O(oci_layout_path), NULL, IMPL,
     "Path to save the OCI image layout of the built image."},
    {"digest-file", 0, T_STRING, O(digest_file), NULL, IMPL,
     "Specify a file to save the digest of the built image to."},
    {"image-name-with-digest-file", 0, T_STRING, O(image_name_with_digest_file), NULL, IMPL,
     "Specify a file to save the image name w/ digest of the built image to."},
    {"image-name-tag-with-digest-file", 0, T_STRING, O(image_name_tag_with_digest_file), NULL, IMPL,
     "Specify a file to save the image name w/ image tag w/ digest of the built image to."},
    {"compression", 0, T_COMPRESSION, O(compression), NULL, IMPL,
     "Compression algorithm (gzip, zstd)"},
    {"compression-level", 0, T_INT, O(compression_level), "-1", IMPL, "Compression level"},
    {"reproducible", 0, T_BOOL, O(reproducible), NULL, IMPL,
     "Strip timestamps out of the image to make it reproducible"},
    {"push-retry", 0, T_INT, O(push_retry), NULL, IMPL, "Number of retries for the push operation"},
    {"push-ignore-immutable-tag-errors", 0, T_BOOL, O(push_ignore_immutable_tag_errors), NULL, IMPL,
     "If true, known tag immutability errors are ignored and the push finishes with "
     "success."},
    {"skip-push-permission-check", 0, T_BOOL, O(skip_push_permission_check), NULL, IMPL,
     "Skip check of the push permission"},

    /* caching */
    {"cache", 0, T_BOOL, O(cache), NULL, IMPL, "Use cache when building image"},
    {"cache-repo", 0, T_STRING, O(cache_repo), NULL, IMPL,
     "Specify a repository to use as a cache, otherwise one will be inferred from the "
     "destination provided; when prefixed with 'oci:' the repository will be written in OCI "
     "image layout format at the path provided"},
    {"cache-dir", 0, T_STRING, O(cache_dir), "/cache", IMPL,
     "Specify a local directory to use as a cache."},
    {"cache-ttl", 0, T_DURATION, O(cache_ttl_ns), "336h0m0s", IMPL,
     "Cache timeout, requires value and unit of duration -> ex: 6h. Defaults to two weeks."},
    {"cache-copy-layers", 0, T_BOOL, O(cache_copy_layers), NULL, IMPL, "Caches copy layers"},
    {"cache-run-layers", 0, T_BOOL, O(cache_run_layers), "true", IMPL, "Caches run layers"},
    {"compressed-caching", 0, T_BOOL, O(compressed_caching), "true", IMPL,
     "Compress the cached layers. Decreases build time, but increases memory usage."},

    /* snapshotting and filesystem */
    {"snapshot-mode", 0, T_STRING, O(snapshot_mode), "full", IMPL,
     "Change the file attributes inspected during snapshotting"},
    {"snapshotMode", 0, T_STRING, ST(snapshot_mode_deprecated), NULL, IMPL,
     "This flag is deprecated. Please use '--snapshot-mode'."},
    {"single-snapshot", 0, T_BOOL, O(single_snapshot), NULL, IMPL,
     "Take a single snapshot at the end of the build."},
    {"use-new-run", 0, T_BOOL, O(use_new_run), NULL, IMPL,
     "Use the experimental run implementation for detecting changes without requiring file "
     "system snapshots."},
    {"ignore-var-run", 0, T_BOOL, O(ignore_var_run), "true", IMPL,
     "Ignore /var/run directory when taking image snapshot. Set it to false to preserve "
     "/var/run/ in destination image."},
    {"whitelist-var-run", 0, T_BOOL, O(ignore_var_run), "true", IMPL | HIDDEN,
     "Ignore /var/run directory when taking image snapshot. Set it to false to preserve "
     "/var/run/ in destination image.",
     .deprecated = "Please use ignore-var-run instead."},
    {"ignore-path", 0, T_MULTI, O(ignore_paths), NULL, IMPL,
     "Ignore these paths when taking a snapshot. Set it repeatedly for multiple paths."},
    {"force-build-metadata", 0, T_BOOL, O(force_build_metadata), NULL, IMPL,
     "Force add metadata layers to build image"},
    {"cleanup", 0, T_BOOL, O(cleanup), NULL, IMPL, "Clean the filesystem at the end"},
    {"kaniko-dir", 0, T_STRING, O(kaniko_dir), "/kaniko", IMPL,
     "Path to the kaniko directory, this takes precedence over the KANIKO_DIR environment "
     "variable."},
    {"image-fs-extract-retry", 0, T_INT, O(image_fs_extract_retry), NULL, IMPL,
     "Number of retries for image FS extraction"},
    {"image-download-retry", 0, T_INT, O(image_download_retry), NULL, IMPL,
     "Number of retries for downloading the remote image"},
    {"isolation", 0, T_ISOLATION, O(isolation), "auto", IMPL,
     "Where RUN executes: auto, chroot (a private root directory per stage) or inplace "
     "(the container's own root, as kaniko does)"},
    {"stage-storage", 0, T_STORAGE, O(stage_storage), "auto", IMPL,
     "Where chroot-mode stage roots live: auto (tmpfs when at least 4 GiB of memory is "
     "free, sized to half of it, else disk), disk ($KANIKO_DIR/stages), tmpfs or tmpfs:SIZE"},
    {"blob-store-size", 0, T_SIZE, O(blob_store_size), "5G", IMPL,
     "Bound of the blob store in $KANIKO_DIR/blobs (base and built layers kept between "
     "builds): after a build the least recently used blobs no other running build holds are "
     "removed down to SIZE (e.g. 5G, 512M, unlimited; env KILN_BLOB_STORE_SIZE); --cleanup "
     "empties it"},

    /* registry access */
    {"insecure", 0, T_BOOL, O(insecure), NULL, IMPL, "Push to insecure registry using plain HTTP"},
    {"insecure-pull", 0, T_BOOL, O(insecure_pull), NULL, IMPL,
     "Pull from insecure registry using plain HTTP"},
    {"insecure-registry", 0, T_MULTI, O(insecure_registries), NULL, IMPL,
     "Insecure registry using plain HTTP to push and pull. Set it repeatedly for multiple "
     "registries."},
    {"skip-tls-verify", 0, T_BOOL, O(skip_tls_verify), NULL, IMPL,
     "Push to insecure registry ignoring TLS verify"},
    {"skip-tls-verify-pull", 0, T_BOOL, O(skip_tls_verify_pull), NULL, IMPL,
     "Pull from insecure registry ignoring TLS verify"},
    {"skip-tls-verify-registry", 0, T_MULTI, O(skip_tls_verify_registries), NULL, IMPL,
     "Insecure registry ignoring TLS verify to push and pull. Set it repeatedly for multiple "
     "registries."},
    {"registry-certificate", 0, T_KV, O(registry_certificates), NULL, IMPL,
     "Use the provided certificate for TLS communication with the given registry. Expected "
     "format is 'my.registry.url=/path/to/the/server/certificate'.",
     .off_n = offsetof(struct build_opts, n_registry_certificates)},
    {"registry-client-cert", 0, T_KV, O(registry_client_certs), NULL, IMPL,
     "Use the provided client certificate for mutual TLS (mTLS) communication with the given "
     "registry. Expected format is 'my.registry.url=/path/to/client/cert,/path/to/client/key'.",
     .off_n = offsetof(struct build_opts, n_registry_client_certs)},
    {"registry-map", 0, T_KMV, O(registry_maps), NULL, IMPL,
     "Registry map of mirror to use as pull-through cache instead. Expected format is "
     "'orignal.registry=new.registry;other-original.registry=other-remap.registry'"},
    {"registry-mirror", 0, T_MULTI, O(registry_mirrors), NULL, IMPL,
     "Registry mirror to use as pull-through cache instead of docker.io. Set it repeatedly for "
     "multiple mirrors."},
    {"skip-default-registry-fallback", 0, T_BOOL, O(skip_default_registry_fallback), NULL, IMPL,
     "If an image is not found on any mirrors (defined with registry-mirror) do not fallback "
     "to the default registry. If registry-mirror is not defined, this flag is ignored."},
};

#undef O
#undef ST

/* cobra's subcommands as kiln has them (sorted by name, as cobra lists them) */
static const struct {
	const char *name;
	const char *short_help;
	bool suggest; /* cobra never suggests its own help command */
} commands[] = {
    {"debug", "Inspect kiln's view of a build (debug parse FILE: dump the Dockerfile)", true},
    {"help", "Help about any command", false},
    {"version", "Print the version number of kiln", true},
    {"warmer", "Cache base images in --cache-dir (kaniko's /kaniko/warmer)", true},
};

/* ---- Go-compatible value parsing ------------------------------------------------------- */

/* Go's strconv.Quote for the strings that appear in messages */
static void add_go_quoted(struct kiln_buf *b, const char *s)
{
	kiln_buf_add_quoted(b, s, false);
}

static char *go_quote(const char *s)
{
	struct kiln_buf b = KILN_BUF_INIT;
	add_go_quoted(&b, s);
	return kiln_buf_detach(&b, NULL);
}

/* strconv.ParseBool */
static int go_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (streq(s, yes[i])) {
			*ret = true;
			return 0;
		}
		if (streq(s, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return -1;
}

/* strconv.ParseInt(s, 0, 64), narrowed to int; *ret_msg gets strconv's reason on failure */
static int go_parse_int(const char *s, int *ret, const char **ret_msg)
{
	const char *p = s;
	bool neg = false;
	unsigned base = 10;
	uint64_t v = 0;
	bool digits = false, last_underscore = false, prefixed = false;

	*ret_msg = "invalid syntax";
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16, p += 2, prefixed = true;
	} else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
		base = 2, p += 2, prefixed = true;
	} else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
		base = 8, p += 2, prefixed = true;
	} else if (p[0] == '0' && p[1]) {
		base = 8, p++, prefixed = true, digits = true;
	}
	if (!*p && !digits)
		return -1;
	/* Go allows '_' only between digits or right after a base prefix */
	for (bool first = true; *p; p++, first = false) {
		unsigned d;
		if (*p == '_') {
			if (last_underscore || (first && !prefixed))
				return -1;
			last_underscore = true;
			continue;
		}
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (*p >= 'a' && *p <= 'z')
			d = (unsigned)(*p - 'a' + 10);
		else if (*p >= 'A' && *p <= 'Z')
			d = (unsigned)(*p - 'A' + 10);
		else
			return -1;
		if (d >= base)
			return -1;
		last_underscore = false;
		digits = true;
		if (v > (UINT64_MAX - d) / base)
			v = UINT64_MAX; /* keep scanning for syntax errors; range is checked below */
		else
			v = v * base + d;
	}
	if (!digits || last_underscore)
		return -1;
	*ret_msg = "value out of range";
	if (neg ? v > (uint64_t)INT_MAX + 1 : v > (uint64_t)INT_MAX)
		return -1;
	*ret = neg ? (int)-(int64_t)v : (int)v;
	return 0;
}

/* time.ParseDuration; on failure *ret_msg is Go's message (heap) */
static int go_parse_duration(const char *orig, int64_t *ret, char **ret_msg)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {
	    {"ns", 1},
	    {"us", 1000},
	    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
	    {"\xce\xbcs", 1000}, /* U+03BC Greek mu */
	    {"ms", 1000000},
	    {"s", 1000000000ULL},
	    {"m", 60ULL * 1000000000ULL},
	    {"h", 3600ULL * 1000000000ULL},
	};
	const uint64_t max = 1ULL << 63;
	const char *s = orig;
	uint64_t d = 0;
	bool neg = false;
	cleanup_free char *q = go_quote(orig);

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (streq(s, "0")) {
		*ret = 0;
		return 0;
	}
	if (!*s)
		goto invalid;
	while (*s) {
		uint64_t v = 0, f = 0;
		double scale = 1;
		bool pre = false, post = false, overflow_frac = false;

		if (!(*s == '.' || (*s >= '0' && *s <= '9')))
			goto invalid;
		for (; *s >= '0' && *s <= '9'; s++) {
			pre = true;
			if (v > max / 10)
				goto invalid;
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > max)
				goto invalid;
		}
		if (*s == '.') {
			s++;
			for (; *s >= '0' && *s <= '9'; s++) {
				post = true;
				if (overflow_frac)
					continue;
				if (f > (max - 1) / 10) {
					overflow_frac = true;
					continue;
				}
				f = f * 10 + (uint64_t)(*s - '0');
				scale *= 10;
			}
		}
		if (!pre && !post)
			goto invalid;
		size_t ulen = 0;
		while (s[ulen] && s[ulen] != '.' && !(s[ulen] >= '0' && s[ulen] <= '9'))
			ulen++;
		if (ulen == 0) {
			*ret_msg = xasprintf("time: missing unit in duration %s", q);
			return -1;
		}
		uint64_t unit = 0;
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			if (strlen(units[i].unit) == ulen && strneq(s, units[i].unit, ulen))
				unit = units[i].ns;
		}
		if (!unit) {
			cleanup_free char *u = xstrndup(s, ulen);
			cleanup_free char *uq = go_quote(u);
			*ret_msg = xasprintf("time: unknown unit %s in duration %s", uq, q);
			return -1;
		}
		s += ulen;
		if (v > max / unit)
			goto invalid;
		v *= unit;
		if (f > 0) {
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > max)
				goto invalid;
		}
		d += v;
		if (d > max)
			goto invalid;
	}
	if (neg) {
		*ret = d == max ? INT64_MIN : -(int64_t)d;
		return 0;
	}
	if (d > max - 1)
		goto invalid;
	*ret = (int64_t)d;
	return 0;
invalid:
	*ret_msg = xasprintf("time: invalid duration %s", q);
	return -1;
}

/* ---- setting values -------------------------------------------------------------------- */

static void *opt_field(const struct opt *o, struct build_opts *opts, struct parse_state *st)
{
	return (char *)(o->place == P_OPTS ? (void *)opts : (void *)st) + o->off;
}

static bool opt_is_bool(const struct opt *o)
{
	return o->type == T_BOOL;
}

static void set_string(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

static void kv_set(struct opt_kv **arr, size_t *n, const char *key, const char *value)
{
	for (size_t i = 0; i < *n; i++) {
		if (streq((*arr)[i].key, key)) {
			set_string(&(*arr)[i].value, value);
			return;
		}
	}
	*arr = xreallocarray(*arr, *n + 1, sizeof(**arr));
	(*arr)[*n] = (struct opt_kv){xstrdup(key), xstrdup(value)};
	(*n)++;
}

/* multiKeyMultiValueArg.Set: ';'-separated key=value pairs. An empty value adds nothing, but an
 * empty pair ("a=b;") is an error; pairs before a bad one stay, as in kaniko. */
static int kmv_add(char ***list, const char *value, char **ret_msg)
{
	const char *p = value;
	if (!*value)
		return 0;
	for (;;) {
		size_t len = strcspn(p, ";");
		cleanup_free char *pair = xstrndup(p, len);
		if (!strchr(pair, '=')) {
			*ret_msg =
			    xasprintf("invalid argument value. expect key=value, got %s", pair);
			return -1;
		}
		strv_push(list, TAKE_PTR(pair));
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

/* gitoptions.Set: validates one key=value; the raw text is what build_opts keeps. An unknown
 * key is kept and warned about (kaniko ignores it silently); depth is refused. */
static int git_check(const char *value, char ***warnings, char **ret_msg)
{
	const char *eq = strchr(value, '=');
	bool b;
	if (!eq) {
		*ret_msg = xstrdup("invalid git flag, must be in the key=value format");
		return -1;
	}
	cleanup_free char *msg = NULL;
	int r = context_git_key_check(value, &msg);
	if (r < 0) {
		*ret_msg = TAKE_PTR(msg);
		return -1;
	}
	if (r > 0)
		strv_push(warnings, TAKE_PTR(msg));
	size_t klen = (size_t)(eq - value);
	bool boolean_key =
	    (klen == STRLEN("single-branch") && startswith(value, "single-branch")) ||
	    (klen == STRLEN("recurse-submodules") && startswith(value, "recurse-submodules")) ||
	    (klen == STRLEN("insecure-skip-tls") && startswith(value, "insecure-skip-tls"));
	if (boolean_key && go_parse_bool(eq + 1, &b) < 0) {
		cleanup_free char *q = go_quote(eq + 1);
		*ret_msg = xasprintf("strconv.ParseBool: parsing %s: invalid syntax", q);
		return -1;
	}
	return 0;
}

/* pflag's FlagSet.Set: store value, or fail with pflag's "invalid argument" message */
static int opt_set(const struct opt *o, const char *value, struct build_opts *opts,
                   struct parse_state *st, struct cli_parsed *res, struct kiln_err **err)
{
	void *field = opt_field(o, opts, st);
	cleanup_free char *why = NULL;

	switch (o->type) {
	case T_STRING:
		/* an empty value means "unset" where kaniko's default is empty: such fields are
		 * NULL when unset, so consumers test the pointer */
		if (!*value && !o->def) {
			free(*(char **)field);
			*(char **)field = NULL;
		} else {
			set_string(field, value);
		}
		break;
	case T_BOOL:
		if (go_parse_bool(value, field) < 0) {
			cleanup_free char *q = go_quote(value);
			why = xasprintf("strconv.ParseBool: parsing %s: invalid syntax", q);
		}
		break;
	case T_INT: {
		const char *msg = NULL;
		if (go_parse_int(value, field, &msg) < 0) {
			cleanup_free char *q = go_quote(value);
			why = xasprintf("strconv.ParseInt: parsing %s: %s", q, msg);
		}
		break;
	}
	case T_DURATION:
		go_parse_duration(value, field, &why);
		break;
	case T_MULTI:
		strv_push(field, xstrdup(value));
		break;
	case T_KV: {
		const char *eq = strchr(value, '=');
		if (!eq) {
			why = xasprintf("invalid argument value. expect key=value, got %s", value);
			break;
		}
		cleanup_free char *key = xstrndup(value, (size_t)(eq - value));
		kv_set(field, (size_t *)((char *)opts + o->off_n), key, eq + 1);
		break;
	}
	case T_KMV:
		kmv_add(field, value, &why);
		break;
	case T_GIT:
		if (git_check(value, &res->warnings, &why) == 0)
			strv_push(field, xstrdup(value));
		break;
	case T_COMPRESSION:
		if (streq(value, "gzip") || streq(value, "zstd"))
			set_string(field, value);
		else
			why = xstrdup("must be either \"gzip\" or \"zstd\"");
		break;
	case T_ISOLATION:
		if (streq(value, "auto") || streq(value, "chroot") || streq(value, "inplace"))
			set_string(field, value);
		else
			why = xstrdup("must be one of \"auto\", \"chroot\" or \"inplace\"");
		break;
	case T_SIZE: {
		uint64_t size = 0;
		if (cli_parse_store_size(value, &size) == 0)
			set_string(field, value);
		else
			why = xstrdup("must be a size such as 5G, 512M or 1073741824, or "
			              "\"unlimited\"");
		break;
	}
	case T_STORAGE: {
		uint64_t size = 0;
		if (streq(value, "auto") || streq(value, "disk") || streq(value, "tmpfs") ||
		    (startswith(value, "tmpfs:") &&
		     sandbox_parse_size(value + STRLEN("tmpfs:"), &size) == 0))
			set_string(field, value);
		else
			why = xstrdup("must be \"auto\", \"disk\", \"tmpfs\" or \"tmpfs:<size>\" "
			              "(e.g. tmpfs:8G)");
		break;
	}
	}
	if (why) {
		cleanup_free char *q = go_quote(value);
		if (o->shorthand)
			return kiln_err_set(err, "invalid argument %s for \"-%c, --%s\" flag: %s",
			                    q, o->shorthand, o->name, why);
		return kiln_err_set(err, "invalid argument %s for \"--%s\" flag: %s", q, o->name,
		                    why);
	}
	if (o->deprecated)
		strv_pushf(&res->notices, "Flag --%s has been deprecated, %s", o->name,
		           o->deprecated);
	return 0;
}

/* ---- table look-up --------------------------------------------------------------------- */

static const struct opt *find_long(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(opts_table); i++) {
		if (strlen(opts_table[i].name) == len && strneq(opts_table[i].name, name, len))
			return &opts_table[i];
	}
	return NULL;
}

static const struct opt *find_short(char c)
{
	for (size_t i = 0; i < ARRAY_SIZE(opts_table); i++) {
		if (opts_table[i].shorthand == c)
			return &opts_table[i];
	}
	return NULL;
}

/* cobra's hasNoOptDefVal / shortHasNoOptDefVal: only booleans take no value */
static bool long_is_bool(const char *name)
{
	const struct opt *o = find_long(name, strlen(name));
	return o && opt_is_bool(o);
}

/* ---- cobra: finding the subcommand ----------------------------------------------------- */

/* cobra's stripFlags: the argv indices of the words that are neither flags nor flag values */
static size_t positional_words(int argc, char **argv, size_t *ret_idx)
{
	size_t n = 0;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (streq(s, "--"))
			break;
		bool takes_value =
		    (startswith(s, "--") && !strchr(s, '=') && !long_is_bool(s + 2)) ||
		    (s[0] == '-' && !strchr(s, '=') && strlen(s) == 2 &&
		     !(find_short(s[1]) && opt_is_bool(find_short(s[1]))));
		if (takes_value) {
			/* cobra stops looking when the value is the last word */
			if (argc - i - 1 <= 1)
				break;
			i++;
			continue;
		}
		if (s[0] && s[0] != '-')
			ret_idx[n++] = (size_t)i;
	}
	return n;
}

static char tolower_ascii(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static size_t levenshtein_ci(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	cleanup_free size_t *row = xcalloc(lb + 1, sizeof(*row));
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower_ascii(a[i - 1]) == tolower_ascii(b[j - 1]) ? 0 : 1;
			row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), diag + cost);
			diag = up;
		}
	}
	return row[lb];
}

static int unknown_command(const char *word, struct kiln_err **err)
{
	cleanup_buf struct kiln_buf sugg = KILN_BUF_INIT;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (!commands[i].suggest)
			continue;
		if (levenshtein_ci(word, commands[i].name) <= 2 ||
		    strncasecmp(commands[i].name, word, strlen(word)) == 0)
			kiln_buf_addf(&sugg, "\t%s\n", commands[i].name);
	}
	return kiln_err_set(err, "unknown command \"%s\" for \"executor\"%s%s", word,
	                    sugg.len ? "\n\nDid you mean this?\n" : "", sugg.ptr);
}

/* ---- validations (kaniko's PersistentPreRunE order) ------------------------------------ */

/* v1.ParsePlatform accepts os[/arch[/variant]][:osversion] */
int cli_parse_store_size(const char *s, uint64_t *ret)
{
	if (streq(s, "unlimited")) {
		*ret = UINT64_MAX;
		return 0;
	}
	if (streq(s, "0")) {
		*ret = 0;
		return 0;
	}
	return sandbox_parse_size(s, ret);
}

/* kaniko validates --custom-platform with containerd's parser and stops with "Invalid
 * platform"; the normalised form ("linux/arm64/v8") is what the build uses */
static int check_platform(char **p, struct kiln_err **err)
{
	cleanup_err struct kiln_err *why = NULL;
	cleanup_free char *norm = NULL;
	if (image_platform_normalize(*p, &norm, &why) < 0) {
		cleanup_free char *q = go_quote(*p);
		kiln_err_set(err, "Invalid platform %s: %s", q, kiln_err_msg(why));
		return CLI_ERR_FATAL;
	}
	free(*p);
	*p = TAKE_PTR(norm);
	return 0;
}

static int validate(struct build_opts *o, struct parse_state *st, struct cli_parsed *res,
                    struct kiln_err **err)
{
	const char *env;

	/* 1: logging */
	if (log_level_parse(o->verbosity) < 0) {
		cleanup_free char *q = go_quote(o->verbosity);
		return kiln_err_set(err, "parsing log level: not a valid logrus Level: %s", q);
	}
	if (log_format_parse(o->log_format) < 0) {
		cleanup_free char *q = go_quote(o->log_format);
		return kiln_err_set(
		    err,
		    "not a valid log format: %s. Please specify one of (text, color, "
		    "json)",
		    q);
	}

	/* 2: deprecated aliases, environment overrides, mirrors, platform */
	if (st->custom_platform_deprecated && *st->custom_platform_deprecated) {
		strv_push(&res->warnings,
		          xstrdup("Flag --customPlatform is deprecated. Use: --custom-platform"));
		set_string(&o->custom_platform, st->custom_platform_deprecated);
	}
	if (st->snapshot_mode_deprecated && *st->snapshot_mode_deprecated) {
		strv_push(&res->warnings,
		          xstrdup("Flag --snapshotMode is deprecated. Use: --snapshot-mode"));
		set_string(&o->snapshot_mode, st->snapshot_mode_deprecated);
	}
	env = getenv("KANIKO_REGISTRY_MIRROR");
	if (env && *env) {
		strv_push(&o->registry_mirrors, xstrdup(env));
	}
	env = getenv("KANIKO_NO_PUSH");
	if (env) {
		/* kaniko drops the parse error: an invalid value means false (⚠ §1.4) */
		bool b = false;
		go_parse_bool(env, &b);
		o->no_push = b;
	}
	env = getenv("KANIKO_REGISTRY_MAP");
	if (env && *env) {
		cleanup_free char *ignored = NULL;
		kmv_add(&o->registry_maps, env, &ignored); /* kaniko ignores this error too */
	}
	strv_foreach (m, o->registry_mirrors)
		strv_pushf(&o->registry_maps, "index.docker.io=%s", m);
	if (!o->custom_platform || !*o->custom_platform) {
		/* build_opts_init() is the one place that knows the host platform */
		struct build_opts host;
		build_opts_init(&host);
		free(o->custom_platform);
		o->custom_platform = TAKE_PTR(host.custom_platform);
		build_opts_release(&host);
	}
	int r = check_platform(&o->custom_platform, err);
	if (r < 0)
		return r;
	uint64_t bs_size = 0;
	if (cli_parse_store_size(o->blob_store_size, &bs_size) < 0) /* from the environment */
		return kiln_err_set(
		    err,
		    "invalid KILN_BLOB_STORE_SIZE \"%s\": must be a size such as 5G, "
		    "512M or 1073741824, or \"unlimited\"",
		    o->blob_store_size);

	/* 4: bare --build-arg KEY takes its value from our environment */
	for (char **a = o->build_args; a && *a; a++) {
		if (strchr(*a, '='))
			continue;
		const char *v = getenv(*a);
		char *filled = xasprintf("%s=%s", *a, v ? v : "");
		free(*a);
		*a = filled;
	}

	/* 5, 6 */
	bool have_dest = strv_length(o->destinations) > 0;
	if (!o->no_push && !have_dest)
		return kiln_err_set(err, "you must provide --destination, or use --no-push");
	if (o->cache && o->no_push && (!o->cache_repo || !*o->cache_repo))
		return kiln_err_set(err, "cache flags invalid: if using cache with --no-push, "
		                         "specify cache repo with --cache-repo");

	/* 9 (7 and 8, context and Dockerfile, belong to the build) */
	if (!have_dest && o->image_name_with_digest_file && *o->image_name_with_digest_file)
		return kiln_err_set(
		    err, "you must provide --destination if setting ImageNameDigestFile");
	if (!have_dest && o->image_name_tag_with_digest_file && *o->image_name_tag_with_digest_file)
		return kiln_err_set(
		    err, "you must provide --destination if setting ImageNameTagDigestFile");

	/* checked by kaniko only once the build uses them; cheap to check up front */
	strv_foreach (l, o->labels) {
		if (!strchr(l, '='))
			return kiln_err_set(err, "labels must be of the form key=value, got %s", l);
	}
	for (size_t i = 0; i < o->n_registry_client_certs; i++) {
		const struct opt_kv *kv = &o->registry_client_certs[i];
		const char *comma = strchr(kv->value, ',');
		if (!comma || strchr(comma + 1, ','))
			return kiln_err_set(
			    err,
			    "failed to load client certificate/key '%s=%s', expected "
			    "format: %s=/path/to/cert,/path/to/key",
			    kv->key, kv->value, kv->key);
	}
	return 0;
}

/* ---- the parser ------------------------------------------------------------------------ */

struct parse_run {
	struct build_opts *opts;
	struct parse_state st;
	struct cli_parsed res;
	int *first_use; /* argv index of each option's first explicit use, 0 when unused */
	char **args;    /* pflag's positional arguments, in order (borrowed) */
	size_t n_args;
};

static int apply(struct parse_run *run, const struct opt *o, const char *value, int argi,
                 struct kiln_err **err)
{
	size_t i = (size_t)(o - opts_table);
	if (!run->first_use[i])
		run->first_use[i] = argi;
	return opt_set(o, value, run->opts, &run->st, &run->res, err);
}

/* pflag's parseLongArg; returns the number of extra argv words consumed */
static int parse_long(struct parse_run *run, int argc, char **argv, int i, struct kiln_err **err)
{
	const char *s = argv[i];
	const char *name = s + 2;
	if (!*name || *name == '-' || *name == '=')
		return kiln_err_set(err, "bad flag syntax: %s", s);
	const char *eq = strchr(name, '=');
	size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
	const struct opt *o = find_long(name, nlen);
	if (!o)
		return kiln_err_set(err, "unknown flag: --%.*s", (int)nlen, name);
	if (eq)
		return apply(run, o, eq + 1, i, err) < 0 ? -1 : 0;
	if (opt_is_bool(o))
		return apply(run, o, "true", i, err) < 0 ? -1 : 0;
	if (i + 1 < argc)
		return apply(run, o, argv[i + 1], i, err) < 0 ? -1 : 1;
	return kiln_err_set(err, "flag needs an argument: %s", s);
}

/* pflag's parseShortArg: -f x, -fx, -f=x, grouped booleans */
static int parse_short(struct parse_run *run, int argc, char **argv, int i, struct kiln_err **err)
{
	const char *s = argv[i];
	const char *sh = s + 1;
	int used = 0;
	while (*sh) {
		const struct opt *o = find_short(*sh);
		if (!o)
			return kiln_err_set(err, "unknown shorthand flag: '%c' in -%s", *sh, sh);
		if (strlen(sh) > 2 && sh[1] == '=') {
			if (apply(run, o, sh + 2, i, err) < 0)
				return -1;
			break;
		} else if (opt_is_bool(o)) {
			if (apply(run, o, "true", i, err) < 0)
				return -1;
			sh++;
		} else if (sh[1]) {
			if (apply(run, o, sh + 1, i, err) < 0)
				return -1;
			break;
		} else if (i + 1 < argc) {
			if (apply(run, o, argv[i + 1], i, err) < 0)
				return -1;
			used = 1;
			break;
		} else {
			return kiln_err_set(err, "flag needs an argument: '%c' in -%s", *sh, sh);
		}
	}
	return used;
}

/* pflag's parseArgs over argv, skipping the words cobra took as command names */
static int parse_flags(struct parse_run *run, int argc, char **argv, const bool *skip,
                       struct kiln_err **err)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		int used;
		if (skip[i])
			continue;
		if (s[0] != '-' || !s[1]) {
			run->args[run->n_args++] = argv[i];
			continue;
		}
		if (s[1] == '-' && !s[2]) {
			for (i++; i < argc; i++)
				run->args[run->n_args++] = argv[i];
			break;
		}
		used = s[1] == '-' ? parse_long(run, argc, argv, i, err)
		                   : parse_short(run, argc, argv, i, err);
		if (used < 0)
			return -1;
		i += used;
	}
	return 0;
}

static int check_implemented(struct parse_run *run, struct kiln_err **err)
{
	const struct opt *first = NULL;
	int first_at = INT_MAX;
	for (size_t i = 0; i < ARRAY_SIZE(opts_table); i++) {
		const struct opt *o = &opts_table[i];
		if (!run->first_use[i] || (o->flags & IMPL))
			continue;
		if ((o->flags & IMPL_FALSE_ONLY) && !*(bool *)opt_field(o, run->opts, &run->st))
			continue;
		if (run->first_use[i] < first_at) {
			first = o;
			first_at = run->first_use[i];
		}
	}
	if (first)
		return kiln_err_set(err, "flag --%s is not implemented yet in kiln", first->name);
	return 0;
}

static void parse_run_release(struct parse_run *run)
{
	free(run->st.custom_platform_deprecated);
	free(run->st.snapshot_mode_deprecated);
	cli_parsed_release(&run->res);
	free(run->first_use);
	free(run->args);
}

int cli_parse(int argc, char **argv, struct build_opts *opts, struct cli_parsed *ret,
              struct kiln_err **err)
{
	struct parse_run run __attribute__((cleanup(parse_run_release))) = {.opts = opts};
	cleanup_free size_t *pos = xcalloc((size_t)argc + 1, sizeof(*pos));
	cleanup_free bool *skip = xcalloc((size_t)argc + 1, sizeof(*skip));
	size_t npos = positional_words(argc, argv, pos);
	enum cli_action action = CLI_BUILD;

	run.first_use = xcalloc(ARRAY_SIZE(opts_table), sizeof(*run.first_use));
	run.args = xcalloc((size_t)argc + 1, sizeof(*run.args));

	/* cobra resolves the subcommand before it parses any flag */
	if (npos > 0) {
		const char *w = argv[pos[0]];
		skip[pos[0]] = true;
		if (streq(w, "version")) {
			action = CLI_VERSION;
		} else if (streq(w, "help")) {
			action = CLI_HELP;
		} else if (streq(w, "debug")) {
			if (npos < 2)
				return kiln_err_set(err, "debug: missing subcommand, expected "
				                         "'debug parse FILE'");
			if (!streq(argv[pos[1]], "parse"))
				return kiln_err_set(err,
				                    "unknown command \"%s\" for \"executor debug\"",
				                    argv[pos[1]]);
			skip[pos[1]] = true;
			action = CLI_DEBUG_PARSE;
		} else {
			return unknown_command(w, err);
		}
	}

	if (parse_flags(&run, argc, argv, skip, err) < 0)
		return -1;

	if (run.st.help) {
		action = CLI_HELP;
	} else if (action == CLI_DEBUG_PARSE) {
		if (run.n_args != 1)
			return kiln_err_set(err, "accepts 1 arg(s), received %zu", run.n_args);
		run.res.debug_file = xstrdup(run.args[0]);
	} else if (action == CLI_BUILD) {
		int r = validate(opts, &run.st, &run.res, err);
		if (r < 0)
			return r;
		if (check_implemented(&run, err) < 0)
			return -1;
	}

	run.res.action = action;
	*ret = run.res;
	run.res = (struct cli_parsed){0};
	return 0;
}

void cli_parsed_release(struct cli_parsed *p)
{
	free(p->debug_file);
	strv_free(p->warnings);
	strv_free(p->notices);
	*p = (struct cli_parsed){0};
}

/* ---- help ------------------------------------------------------------------------------ */

static const char *type_word(enum opt_type t)
{
	switch (t) {
	case T_STRING:
	case T_ISOLATION:
	case T_STORAGE:
	case T_SIZE:
		return "string";
	case T_BOOL:
		return "";
	case T_INT:
		return "int";
	case T_DURATION:
		return "duration";
	case T_MULTI:
		return "multi-arg type";
	case T_KV:
		return "key-value-arg type";
	case T_KMV:
		return "key-multi-value-arg type";
	case T_GIT:
		return "gitoptions";
	case T_COMPRESSION:
		return "compression";
	}
	return "";
}

static int opt_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct opt *const *)a)->name, (*(const struct opt *const *)b)->name);
}

/* pflag's FlagUsages: "  -f, --name type" padded to one column, then help and default */
static void write_flags(FILE *out)
{
	const struct opt *sorted[ARRAY_SIZE(opts_table)];
	char *left[ARRAY_SIZE(opts_table)];
	size_t n = 0, maxlen = 0;

	for (size_t i = 0; i < ARRAY_SIZE(opts_table); i++) {
		if (!(opts_table[i].flags & HIDDEN) && !opts_table[i].deprecated)
			sorted[n++] = &opts_table[i];
	}
	qsort(sorted, n, sizeof(sorted[0]), opt_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct opt *o = sorted[i];
		const char *tw = type_word(o->type);
		if (o->shorthand)
			left[i] =
			    xasprintf("  -%c, --%s%s%s", o->shorthand, o->name, *tw ? " " : "", tw);
		else
			left[i] = xasprintf("      --%s%s%s", o->name, *tw ? " " : "", tw);
		maxlen = MAX(maxlen, strlen(left[i]));
	}
	for (size_t i = 0; i < n; i++) {
		const struct opt *o = sorted[i];
		fprintf(out, "%s%*s   %s", left[i], (int)(maxlen - strlen(left[i])), "", o->help);
		if (o->def) {
			bool quoted = streq(type_word(o->type), "string");
			fprintf(out, quoted ? " (default \"%s\")" : " (default %s)", o->def);
		}
		fputc('\n', out);
		free(left[i]);
	}
}

void cli_usage(FILE *out, const char *prog)
{
	if (!prog || !*prog)
		prog = "executor";
	fprintf(out, "Usage:\n  %s [flags]\n  %s [command]\n\nAvailable Commands:\n", prog, prog);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].short_help);
	fputs("\nFlags:\n", out);
	write_flags(out);
	fprintf(out, "\nUse \"%s [command] --help\" for more information about a command.\n", prog);
}

void cli_help(FILE *out, const char *prog)
{
	fputs("kiln builds container images from a Dockerfile without a Docker daemon: a drop-in "
	      "for kaniko's executor.\n\n",
	      out);
	cli_usage(out, prog);
}

size_t cli_option_count(void)
{
	return ARRAY_SIZE(opts_table);
}

void cli_option_get(size_t i, struct cli_option_info *ret)
{
	const struct opt *o = &opts_table[i];
	*ret = (struct cli_option_info){
	    .name = o->name,
	    .shorthand = o->shorthand,
	    .type_word = type_word(o->type),
	    .def = o->def,
	    .help = o->help,
	    .is_bool = opt_is_bool(o),
	    .hidden = (o->flags & HIDDEN) || o->deprecated,
	    .implemented = o->flags & (IMPL | IMPL_FALSE_ONLY),
	};
}
