/* options.c — the executor's option table, its validations in kaniko's order and its help;
 * the parser over the table is optparse.c's (shared with the warmer). One table drives parsing,
 * the unimplemented-flag check and the help text, so they cannot disagree. */
#include "cli/options.h"
#include "cli/optparse.h"
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
		opt_set_string(&o->custom_platform, st->custom_platform_deprecated);
	}
	if (st->snapshot_mode_deprecated && *st->snapshot_mode_deprecated) {
		strv_push(&res->warnings,
		          xstrdup("Flag --snapshotMode is deprecated. Use: --snapshot-mode"));
		opt_set_string(&o->snapshot_mode, st->snapshot_mode_deprecated);
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
		opt_kmv_add(&o->registry_maps, env, &ignored); /* kaniko ignores this error too */
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

struct parse_run {
	struct opt_run opts;
	struct parse_state st;
	struct cli_parsed res;
};

static void parse_run_release(struct parse_run *run)
{
	free(run->st.custom_platform_deprecated);
	free(run->st.snapshot_mode_deprecated);
	cli_parsed_release(&run->res);
	opt_run_release(&run->opts);
}

/* cobra resolves the subcommand before it parses any flag: marks its words in skip */
static int find_command(int argc, char **argv, bool *skip, enum cli_action *ret,
                        struct kiln_err **err)
{
	cleanup_free size_t *pos = xcalloc((size_t)argc + 1, sizeof(*pos));
	size_t npos = opt_positional_words(opts_table, ARRAY_SIZE(opts_table), argc, argv, pos);
	*ret = CLI_BUILD;
	if (npos == 0)
		return 0;
	const char *w = argv[pos[0]];
	skip[pos[0]] = true;
	if (streq(w, "version")) {
		*ret = CLI_VERSION;
	} else if (streq(w, "help")) {
		*ret = CLI_HELP;
	} else if (streq(w, "debug")) {
		if (npos < 2)
			return kiln_err_set(err, "debug: missing subcommand, expected "
			                         "'debug parse FILE'");
		if (!streq(argv[pos[1]], "parse"))
			return kiln_err_set(err, "unknown command \"%s\" for \"executor debug\"",
			                    argv[pos[1]]);
		skip[pos[1]] = true;
		*ret = CLI_DEBUG_PARSE;
	} else {
		return unknown_command(w, err);
	}
	return 0;
}

int cli_parse(int argc, char **argv, struct build_opts *opts, struct cli_parsed *ret,
              struct kiln_err **err)
{
	struct parse_run run __attribute__((cleanup(parse_run_release))) = {0};
	opt_run_init(&run.opts, opts_table, ARRAY_SIZE(opts_table), opts, &run.st,
	             &run.res.warnings, &run.res.notices, argc);
	cleanup_free bool *skip = xcalloc((size_t)argc + 1, sizeof(*skip));
	enum cli_action action = CLI_BUILD;
	if (find_command(argc, argv, skip, &action, err) < 0)
		return -1;
	if (opt_parse_flags(&run.opts, argc, argv, skip, err) < 0)
		return -1;

	if (run.st.help) {
		action = CLI_HELP;
	} else if (action == CLI_DEBUG_PARSE) {
		if (run.opts.n_args != 1)
			return kiln_err_set(err, "accepts 1 arg(s), received %zu", run.opts.n_args);
		run.res.debug_file = xstrdup(run.opts.args[0]);
	} else if (action == CLI_BUILD) {
		int r = validate(opts, &run.st, &run.res, err);
		if (r < 0)
			return r;
		if (opt_check_implemented(&run.opts, err) < 0)
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

void cli_usage(FILE *out, const char *prog)
{
	if (!prog || !*prog)
		prog = "executor";
	fprintf(out, "Usage:\n  %s [flags]\n  %s [command]\n\nAvailable Commands:\n", prog, prog);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].short_help);
	fputs("\nFlags:\n", out);
	opt_write_flags(out, opts_table, ARRAY_SIZE(opts_table));
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
	    .type_word = opt_type_word(o->type),
	    .def = o->def,
	    .help = o->help,
	    .is_bool = opt_is_bool(o),
	    .hidden = (o->flags & HIDDEN) || o->deprecated,
	    .implemented = o->flags & (IMPL | IMPL_FALSE_ONLY),
	};
}