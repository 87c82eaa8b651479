/* test_options.c — the executor command line: kaniko's flags, pflag/cobra parsing rules,
 * environment overrides, validations and the help text (reference §1). */
#include "harness.h"

#include <stddef.h>

#include "cli/options.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixture --------------------------------------------------------------------------- */

struct fx {
	struct build_opts o;
	struct cli_parsed p;
	struct kiln_err *err;
	int r;
};

static void fx_release(struct fx *f)
{
	build_opts_release(&f->o);
	cli_parsed_release(&f->p);
	kiln_err_free(f->err);
}
#define cleanup_fx _cleanup_(fx_release)

static const char *fx_msg(const struct fx *f)
{
	return f->r < 0 && f->err ? f->err->msg : "(no error)";
}

static void clear_env(void)
{
	unsetenv("KANIKO_NO_PUSH");
	unsetenv("KANIKO_REGISTRY_MIRROR");
	unsetenv("KANIKO_REGISTRY_MAP");
	unsetenv("KANIKO_DIR");
}

/* parses "executor" + the argument vector (a strv, borrowed) */
static int fx_parsev(struct fx *f, char **args)
{
	cleanup_strv char **argv = NULL;
	strv_push(&argv, xstrdup("executor"));
	strv_foreach (a, args)
		strv_push(&argv, xstrdup(a));
	memset(f, 0, sizeof(*f));
	build_opts_init(&f->o);
	f->r = cli_parse((int)strv_length(argv), argv, &f->o, &f->p, &f->err);
	return f->r;
}

/* parses "executor" + the NULL-terminated arguments */
static int fx_parse(struct fx *f, ...)
{
	cleanup_strv char **args = NULL;
	va_list ap;
	va_start(ap, f);
	for (const char *a; (a = va_arg(ap, const char *));)
		strv_push(&args, xstrdup(a));
	va_end(ap);
	return fx_parsev(f, args);
}

#define PARSE_OK(f, ...)                                                              \
	do {                                                                          \
		if (fx_parse(f, __VA_ARGS__, (const char *)NULL) < 0) {               \
			test_fail(__FILE__, __LINE__, "parse failed: %s", fx_msg(f)); \
			return;                                                       \
		}                                                                     \
	} while (0)

#define PARSE_ERR(f, want, ...)                               \
	do {                                                  \
		fx_parse(f, __VA_ARGS__, (const char *)NULL); \
		ASSERT_TRUE((f)->r < 0);                      \
		ASSERT_STREQ((f)->err->msg, want);            \
	} while (0)

/* what fn writes, as a heap string */
static char *capture(void (*fn)(FILE *, const char *))
{
	char *mem = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&mem, &len);
	fn(m, "executor");
	fclose(m);
	/* a copy: gcc 12 otherwise thinks pointers into the result dangle */
	char *text = xstrdup(mem);
	free(mem);
	return text;
}

static char *help_text(void)
{
	return capture(cli_usage);
}

/* a value each kind of flag accepts */
static const char *sample_value(const struct cli_option_info *i)
{
	static const struct {
		const char *name, *value;
	} special[] = {
	    {"verbosity", "debug"},
	    {"log-format", "json"},
	    {"custom-platform", "linux/arm64"},
	    {"customPlatform", "linux/arm64"},
	    {"snapshot-mode", "redo"},
	    {"snapshotMode", "redo"},
	    {"isolation", "chroot"},
	    {"stage-storage", "tmpfs:2G"},
	    {"blob-store-size", "512M"},
	    {"registry-client-cert", "reg=/c.pem,/k.pem"},
	    {"label", "k=v"},
	};
	for (size_t k = 0; k < ARRAY_SIZE(special); k++) {
		if (streq(i->name, special[k].name))
			return special[k].value;
	}
	if (streq(i->type_word, "duration"))
		return "6h";
	if (streq(i->type_word, "int"))
		return "3";
	if (streq(i->type_word, "compression"))
		return "zstd";
	if (streq(i->type_word, "gitoptions"))
		return "branch=main";
	if (strstr(i->type_word, "key-"))
		return "reg=/a";
	return "x";
}

/* ---- every flag ------------------------------------------------------------------------ */

TEST(table_has_kaniko_60_flags_plus_help_isolation_stage_storage_and_blob_store_size)
{
	ASSERT_EQ(cli_option_count(), 64);
}

/* Every flag parses in every spelling; the implemented ones succeed, the others are refused
 * with the same message, and -h asks for help. */
TEST(every_flag_parses)
{
	clear_env();
	for (size_t n = 0; n < cli_option_count(); n++) {
		struct cli_option_info i;
		cli_option_get(n, &i);
		for (int form = 0; form < 3; form++) {
			cleanup_fx struct fx f;
			cleanup_strv char **args = NULL;
			const char *v = sample_value(&i);
			strv_push(&args, xstrdup("-d"));
			strv_push(&args, xstrdup("reg.example/img"));
			if (i.is_bool && form == 0) {
				strv_pushf(&args, "--%s", i.name);
			} else if (form == 0 || form == 1) {
				strv_pushf(&args, "--%s=%s", i.name, i.is_bool ? "true" : v);
			} else if (i.is_bool) {
				strv_pushf(&args, "--%s=false", i.name);
			} else if (i.shorthand) {
				strv_pushf(&args, "-%c", i.shorthand);
				strv_push(&args, xstrdup(v));
			} else {
				strv_pushf(&args, "--%s", i.name);
				strv_push(&args, xstrdup(v));
			}
			fx_parsev(&f, args);
			bool set_true = i.is_bool && form != 2;
			if (streq(i.name, "help") && set_true) {
				ASSERT_EQ(f.r, 0);
				ASSERT_EQ(f.p.action, CLI_HELP);
			} else if (i.implemented) {
				if (f.r < 0)
					test_note("--%s form %d: %s", i.name, form, fx_msg(&f));
				ASSERT_EQ(f.r, 0);
				ASSERT_EQ(f.p.action, CLI_BUILD);
			} else {
				cleanup_free char *want =
				    xasprintf("flag --%s is not implemented yet in kiln", i.name);
				ASSERT_TRUE(f.r < 0);
				ASSERT_STREQ(f.err->msg, want);
			}
		}
	}
}

TEST(values_land_in_their_fields)
{
	cleanup_fx struct fx f;
	clear_env();
	PARSE_OK(
	    &f, "--dockerfile", "a/Dockerfile", "--context=dir:///ctx", "--target", "final",
	    "--tar-path=/out/img.tar", "--oci-layout-path", "/out/oci", "--digest-file", "/out/d",
	    "--image-name-with-digest-file", "/out/n", "--image-name-tag-with-digest-file",
	    "/out/t", "--push-retry", "2", "--image-download-retry=4", "--compression", "zstd",
	    "--compression-level", "9", "--snapshot-mode=time", "--kaniko-dir", "/k2",
	    "--isolation", "inplace", "--registry-certificate", "r1=/ca1", "--registry-certificate",
	    "r2=/ca2", "--registry-certificate", "r1=/ca3", "--insecure-registry", "r1",
	    "--skip-tls-verify-registry", "r2", "--reproducible", "--single-snapshot", "--cleanup",
	    "--use-new-run", "--skip-unused-stages", "--insecure", "--insecure-pull",
	    "--skip-tls-verify", "--skip-tls-verify-pull", "--skip-push-permission-check",
	    "--no-push-cache", "--log-timestamp", "--force", "-d", "r1/img");
	ASSERT_STREQ(f.o.dockerfile, "a/Dockerfile");
	ASSERT_STREQ(f.o.context, "dir:///ctx");
	ASSERT_STREQ(f.o.target, "final");
	ASSERT_STREQ(f.o.tar_path, "/out/img.tar");
	ASSERT_STREQ(f.o.oci_layout_path, "/out/oci");
	ASSERT_STREQ(f.o.digest_file, "/out/d");
	ASSERT_STREQ(f.o.image_name_with_digest_file, "/out/n");
	ASSERT_STREQ(f.o.image_name_tag_with_digest_file, "/out/t");
	ASSERT_EQ(f.o.push_retry, 2);
	ASSERT_EQ(f.o.image_download_retry, 4);
	ASSERT_STREQ(f.o.compression, "zstd");
	ASSERT_EQ(f.o.compression_level, 9);
	ASSERT_STREQ(f.o.snapshot_mode, "time");
	ASSERT_STREQ(f.o.kaniko_dir, "/k2");
	ASSERT_STREQ(f.o.isolation, "inplace");
	/* a repeated key overwrites, order of first appearance kept */
	ASSERT_EQ(f.o.n_registry_certificates, 2);
	ASSERT_STREQ(f.o.registry_certificates[0].key, "r1");
	ASSERT_STREQ(f.o.registry_certificates[0].value, "/ca3");
	ASSERT_STREQ(f.o.registry_certificates[1].value, "/ca2");
	ASSERT_STREQ(f.o.insecure_registries[0], "r1");
	ASSERT_STREQ(f.o.skip_tls_verify_registries[0], "r2");
	ASSERT_TRUE(f.o.reproducible && f.o.single_snapshot && f.o.cleanup && f.o.use_new_run);
	ASSERT_TRUE(f.o.skip_unused_stages && f.o.insecure && f.o.insecure_pull);
	ASSERT_TRUE(f.o.skip_tls_verify && f.o.skip_tls_verify_pull);
	ASSERT_TRUE(f.o.skip_push_permission_check && f.o.no_push_cache);
	ASSERT_TRUE(f.o.log_timestamp && f.o.force);
	ASSERT_FALSE(f.o.no_push);
	ASSERT_TRUE(f.p.warnings == NULL && f.p.notices == NULL);
}

TEST(defaults_match_kaniko_and_the_help_text)
{
	struct build_opts o;
	clear_env();
	build_opts_init(&o);
	ASSERT_STREQ(o.verbosity, "info");
	ASSERT_STREQ(o.log_format, "color");
	ASSERT_STREQ(o.dockerfile, "Dockerfile");
	ASSERT_STREQ(o.context, "/workspace/");
	ASSERT_STREQ(o.cache_dir, "/cache");
	ASSERT_STREQ(o.snapshot_mode, "full");
	ASSERT_STREQ(o.kaniko_dir, "/kaniko");
	ASSERT_STREQ(o.isolation, "auto");
	ASSERT_EQ(o.compression_level, -1);
	ASSERT_EQ(o.cache_ttl_ns, 336LL * 3600 * 1000000000LL);
	ASSERT_TRUE(o.cache_run_layers && o.compressed_caching && o.ignore_var_run);
	ASSERT_TRUE(o.skip_unused_stages); /* kiln departs from kaniko: BuildKit's default */
	ASSERT_FALSE(o.cache || o.no_push || o.reproducible);
	ASSERT_TRUE(o.compression == NULL && o.tar_path == NULL && o.target == NULL);
	ASSERT_TRUE(startswith(o.custom_platform, "linux/"));
#if defined(__x86_64__)
	ASSERT_STREQ(o.custom_platform, "linux/amd64");
#elif defined(__aarch64__)
	ASSERT_STREQ(o.custom_platform, "linux/arm64/v8");
#endif
	/* the defaults help shows are the ones the struct starts with */
	struct {
		const char *name, *def;
	} shown[] = {
	    {"verbosity", "info"},        {"log-format", "color"},
	    {"dockerfile", "Dockerfile"}, {"context", "/workspace/"},
	    {"cache-dir", "/cache"},      {"snapshot-mode", "full"},
	    {"kaniko-dir", "/kaniko"},    {"isolation", "auto"},
	    {"compression-level", "-1"},  {"cache-ttl", "336h0m0s"},
	    {"cache-run-layers", "true"}, {"compressed-caching", "true"},
	    {"ignore-var-run", "true"},   {"skip-unused-stages", "true"},
	};
	size_t found = 0;
	for (size_t n = 0; n < cli_option_count(); n++) {
		struct cli_option_info i;
		cli_option_get(n, &i);
		for (size_t k = 0; k < ARRAY_SIZE(shown); k++) {
			if (streq(i.name, shown[k].name)) {
				ASSERT_STREQ(i.def, shown[k].def);
				found++;
			}
		}
	}
	build_opts_release(&o);
	ASSERT_EQ(found, ARRAY_SIZE(shown));
}

TEST(skip_unused_stages_defaults_to_true_and_false_turns_it_off)
{
	clear_env();
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push");
		ASSERT_TRUE(f.o.skip_unused_stages);
	}
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--skip-unused-stages=false", "--no-push");
		ASSERT_FALSE(f.o.skip_unused_stages);
	}
}

/* ---- pflag syntax ---------------------------------------------------------------------- */

TEST(short_forms)
{
	clear_env();
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push", "-f", "a", "-cctx", "-v=debug");
		ASSERT_STREQ(f.o.dockerfile, "a");
		ASSERT_STREQ(f.o.context, "ctx");
		ASSERT_STREQ(f.o.verbosity, "debug");
	}
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "-fx", "-d=one", "-dtwo", "-d", "three");
		ASSERT_STREQ(f.o.dockerfile, "x");
		ASSERT_EQ(strv_length(f.o.destinations), 3);
		ASSERT_STREQ(f.o.destinations[0], "one");
		ASSERT_STREQ(f.o.destinations[1], "two");
		ASSERT_STREQ(f.o.destinations[2], "three");
	}
	{
		/* pflag: "-f=" is "-f" with the value "=" */
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push", "-f=");
		ASSERT_STREQ(f.o.dockerfile, "=");
	}
	{
		/* a value that looks like a flag is still the value */
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push", "--dockerfile", "--context");
		ASSERT_STREQ(f.o.dockerfile, "--context");
	}
	{
		cleanup_fx struct fx f;
		PARSE_ERR(&f, "flag --bucket is not implemented yet in kiln", "--no-push", "-b",
		          "bkt");
		ASSERT_STREQ(f.o.bucket, "bkt");
	}
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push", "-h");
		ASSERT_EQ(f.p.action, CLI_HELP);
	}
}

TEST(syntax_errors)
{
	clear_env();
	struct {
		const char *a, *b, *msg;
	} cases[] = {
	    {"--bogus", NULL, "unknown flag: --bogus"},
	    {"--bogus=1", NULL, "unknown flag: --bogus"},
	    {"--tar-path image.tar", NULL, "unknown flag: --tar-path image.tar"},
	    {"-q", NULL, "unknown shorthand flag: 'q' in -q"},
	    {"-d", NULL, "flag needs an argument: 'd' in -d"},
	    {"--destination", NULL, "flag needs an argument: --destination"},
	    {"---x", NULL, "bad flag syntax: ---x"},
	    {"--=x", NULL, "bad flag syntax: --=x"},
	    {"--no-push", "false", "unknown command \"false\" for \"executor\""},
	    {"build", NULL, "unknown command \"build\" for \"executor\""},
	    {"versio", NULL,
	     "unknown command \"versio\" for \"executor\"\n\nDid you mean this?\n\tversion\n"},
	    {"--no-push=maybe", NULL,
	     "invalid argument \"maybe\" for \"--no-push\" flag: strconv.ParseBool: parsing "
	     "\"maybe\": invalid syntax"},
	    {"--no-push=", NULL,
	     "invalid argument \"\" for \"--no-push\" flag: strconv.ParseBool: parsing \"\": "
	     "invalid syntax"},
	    {"--push-retry", "x",
	     "invalid argument \"x\" for \"--push-retry\" flag: strconv.ParseInt: parsing \"x\": "
	     "invalid syntax"},
	    {"--push-retry", "99999999999",
	     "invalid argument \"99999999999\" for \"--push-retry\" flag: strconv.ParseInt: "
	     "parsing \"99999999999\": value out of range"},
	    {"--compression", "xz",
	     "invalid argument \"xz\" for \"--compression\" flag: must be either \"gzip\" or "
	     "\"zstd\""},
	    {"--isolation", "vm",
	     "invalid argument \"vm\" for \"--isolation\" flag: must be one of \"auto\", "
	     "\"chroot\" or \"inplace\""},
	    {"--git", "branch",
	     "invalid argument \"branch\" for \"--git\" flag: invalid git flag, must be in the "
	     "key=value format"},
	    {"--git", "single-branch=yes",
	     "invalid argument \"single-branch=yes\" for \"--git\" flag: strconv.ParseBool: "
	     "parsing \"yes\": invalid syntax"},
	    {"--registry-certificate", "foo",
	     "invalid argument \"foo\" for \"--registry-certificate\" flag: invalid argument "
	     "value. expect key=value, got foo"},
	    {"--registry-map", "a=b;",
	     "invalid argument \"a=b;\" for \"--registry-map\" flag: invalid argument value. "
	     "expect key=value, got "},
	    {"--registry-map", "a=b;c",
	     "invalid argument \"a=b;c\" for \"--registry-map\" flag: invalid argument value. "
	     "expect key=value, got c"},
	};
	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		cleanup_fx struct fx f;
		fx_parse(&f, "--no-push", cases[k].a, cases[k].b, (const char *)NULL);
		if (f.r >= 0 || !streq(f.err->msg, cases[k].msg))
			test_note("case %zu: %s", k, fx_msg(&f));
		ASSERT_TRUE(f.r < 0);
		ASSERT_STREQ(f.err->msg, cases[k].msg);
	}
}

/* cobra finds the subcommand before parsing flags, so a stray word wins over a bad flag */
TEST(unknown_command_before_unknown_flag)
{
	cleanup_fx struct fx f;
	clear_env();
	PARSE_ERR(&f, "unknown command \"foo\" for \"executor\"", "--bogus", "x", "foo");
	cleanup_fx struct fx g;
	/* cobra takes "x" as --bogus's value, so the flag error comes first here */
	PARSE_ERR(&g, "unknown flag: --bogus", "--bogus", "x");
}

TEST(booleans)
{
	clear_env();
	const char *yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	const char *no[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t k = 0; k < ARRAY_SIZE(yes); k++) {
		cleanup_fx struct fx f;
		cleanup_free char *a = xasprintf("--no-push=%s", yes[k]);
		cleanup_free char *b = xasprintf("--ignore-var-run=%s", no[k]);
		PARSE_OK(&f, a, b);
		ASSERT_TRUE(f.o.no_push);
		ASSERT_FALSE(f.o.ignore_var_run);
	}
	cleanup_fx struct fx f;
	PARSE_ERR(&f, "you must provide --destination, or use --no-push", "--no-push",
	          "--no-push=false");
}

TEST(double_dash_ends_flags)
{
	cleanup_fx struct fx f;
	clear_env();
	PARSE_OK(&f, "--no-push", "--", "--dockerfile", "x");
	ASSERT_STREQ(f.o.dockerfile, "Dockerfile");
}

TEST(repeatable_flags_append_without_comma_splitting)
{
	cleanup_fx struct fx f;
	clear_env();
	PARSE_OK(&f, "-d", "a,b", "--destination=c", "--build-arg", "X=1,Y=2", "--build-arg=Z=3",
	         "--label", "a=1", "--label=b=2=3");
	ASSERT_EQ(strv_length(f.o.destinations), 2);
	ASSERT_STREQ(f.o.destinations[0], "a,b");
	ASSERT_STREQ(f.o.destinations[1], "c");
	ASSERT_EQ(strv_length(f.o.build_args), 2);
	ASSERT_STREQ(f.o.build_args[0], "X=1,Y=2");
	ASSERT_STREQ(f.o.build_args[1], "Z=3");
	ASSERT_STREQ(f.o.labels[1], "b=2=3");
}

TEST(durations)
{
	clear_env();
	const long long s = 1000000000LL;
	struct {
		const char *in;
		long long ns;
	} ok[] = {
	    {"6h", 6 * 3600 * s},
	    {"336h0m0s", 336 * 3600 * s},
	    {"1h30m", 5400 * s},
	    {"1.5h", 5400 * s},
	    {"0", 0},
	    {"-1m", -60 * s},
	    {"+2s", 2 * s},
	    {"300ms", 300000000LL},
	    {"1us", 1000},
	    {"1\xc2\xb5s", 1000},
	    {"7ns", 7},
	    {".5s", 500000000LL},
	    {"1h1m1s1ms1us1ns", 3661 * s + 1001001},
	    {"2562047h", 2562047LL * 3600 * s},
	};
	for (size_t k = 0; k < ARRAY_SIZE(ok); k++) {
		cleanup_fx struct fx f;
		cleanup_free char *a = xasprintf("--cache-ttl=%s", ok[k].in);
		fx_parse(&f, "--no-push", a, (const char *)NULL);
		ASSERT_EQ(f.r, 0);
		if (f.o.cache_ttl_ns != ok[k].ns)
			test_note("%s", ok[k].in);
		ASSERT_EQ(f.o.cache_ttl_ns, ok[k].ns);
	}
	struct {
		const char *in, *why;
	} bad[] = {
	    {"", "time: invalid duration \"\""},
	    {"1", "time: missing unit in duration \"1\""},
	    {"1x", "time: unknown unit \"x\" in duration \"1x\""},
	    {"h", "time: invalid duration \"h\""},
	    {"1.h", NULL},
	    {".h", "time: invalid duration \".h\""},
	    {"-", "time: invalid duration \"-\""},
	    {"9999999999h", "time: invalid duration \"9999999999h\""},
	};
	for (size_t k = 0; k < ARRAY_SIZE(bad); k++) {
		cleanup_fx struct fx f;
		cleanup_free char *a = xasprintf("--cache-ttl=%s", bad[k].in);
		fx_parse(&f, "--no-push", a, (const char *)NULL);
		if (!bad[k].why) { /* "1.h" is valid Go: one hour */
			ASSERT_EQ(f.o.cache_ttl_ns, 3600 * s);
			continue;
		}
		cleanup_free char *want = xasprintf(
		    "invalid argument \"%s\" for \"--cache-ttl\" flag: %s", bad[k].in, bad[k].why);
		ASSERT_STREQ(fx_msg(&f), want);
	}
}

TEST(go_integers)
{
	clear_env();
	struct {
		const char *in;
		int v;
	} ok[] = {{"0", 0},
	          {"7", 7},
	          {"-1", -1},
	          {"+3", 3},
	          {"0x10", 16},
	          {"010", 8},
	          {"0o17", 15},
	          {"0b101", 5},
	          {"1_000", 1000},
	          {"0_7", 7},
	          {"2147483647", 2147483647}};
	for (size_t k = 0; k < ARRAY_SIZE(ok); k++) {
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push", "--push-retry", ok[k].in);
		ASSERT_EQ(f.o.push_retry, ok[k].v);
	}
	const char *bad[] = {"", "1.5", "_1", "1__0", "1_", "08", "0x", "abc", "1e3"};
	for (size_t k = 0; k < ARRAY_SIZE(bad); k++) {
		cleanup_fx struct fx f;
		cleanup_free char *want = xasprintf("invalid argument \"%s\" for \"--push-retry\" "
		                                    "flag: strconv.ParseInt: parsing \"%s\": "
		                                    "invalid syntax",
		                                    bad[k], bad[k]);
		fx_parse(&f, "--no-push", "--push-retry", bad[k], (const char *)NULL);
		ASSERT_STREQ(fx_msg(&f), want);
	}
}

/* ---- environment ----------------------------------------------------------------------- */

TEST(env_kaniko_no_push)
{
	clear_env();
	{
		cleanup_fx struct fx f;
		setenv("KANIKO_NO_PUSH", "true", 1);
		PARSE_OK(&f, "-f", "x");
		ASSERT_TRUE(f.o.no_push);
	}
	{
		/* a valid value overrides the flag */
		cleanup_fx struct fx f;
		setenv("KANIKO_NO_PUSH", "0", 1);
		PARSE_ERR(&f, "you must provide --destination, or use --no-push", "--no-push");
	}
	{
		/* kaniko drops the parse error: an invalid value is false, even over --no-push */
		cleanup_fx struct fx f;
		setenv("KANIKO_NO_PUSH", "yes", 1);
		PARSE_ERR(&f, "you must provide --destination, or use --no-push", "--no-push");
	}
	{
		cleanup_fx struct fx f;
		setenv("KANIKO_NO_PUSH", "", 1);
		PARSE_ERR(&f, "you must provide --destination, or use --no-push", "--no-push");
	}
	clear_env();
}

TEST(env_kaniko_dir)
{
	clear_env();
	{
		cleanup_fx struct fx f;
		setenv("KANIKO_DIR", "/tmp/kd", 1);
		PARSE_OK(&f, "--no-push");
		ASSERT_STREQ(f.o.kaniko_dir, "/tmp/kd");
	}
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push", "--kaniko-dir", "/flag");
		ASSERT_STREQ(f.o.kaniko_dir, "/flag");
	}
	clear_env();
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push");
		ASSERT_STREQ(f.o.kaniko_dir, "/kaniko");
	}
}

/* flags and environment variables end in one list of "orig=target" maps */
TEST(registry_mirror_becomes_map_entry)
{
	cleanup_fx struct fx f;
	clear_env();
	setenv("KANIKO_REGISTRY_MIRROR", "env-mirror.example", 1);
	fx_parse(&f, "--no-push", "--registry-mirror", "m1.example", "--registry-map",
	         "gcr.io=m2.example;quay.io=m3.example/quay", "--registry-map=gcr.io=m4.example",
	         (const char *)NULL);
	ASSERT_STREQ(fx_msg(&f), "(no error)");
	ASSERT_EQ(strv_length(f.o.registry_mirrors), 2);
	ASSERT_STREQ(f.o.registry_mirrors[1], "env-mirror.example");
	ASSERT_EQ(strv_length(f.o.registry_maps), 5);
	ASSERT_STREQ(f.o.registry_maps[0], "gcr.io=m2.example");
	ASSERT_STREQ(f.o.registry_maps[1], "quay.io=m3.example/quay");
	ASSERT_STREQ(f.o.registry_maps[2], "gcr.io=m4.example");
	ASSERT_STREQ(f.o.registry_maps[3], "index.docker.io=m1.example");
	ASSERT_STREQ(f.o.registry_maps[4], "index.docker.io=env-mirror.example");
	clear_env();
}

TEST(env_registry_map)
{
	cleanup_fx struct fx f;
	clear_env();
	setenv("KANIKO_REGISTRY_MAP", "a.io=b.io;c.io=d.io", 1);
	fx_parse(&f, "--no-push", (const char *)NULL);
	ASSERT_STREQ(fx_msg(&f), "(no error)");
	ASSERT_EQ(strv_length(f.o.registry_maps), 2);
	ASSERT_STREQ(f.o.registry_maps[1], "c.io=d.io");
	clear_env();
	cleanup_fx struct fx g;
	setenv("KANIKO_REGISTRY_MIRROR", "m.example", 1);
	fx_parse(&g, "--no-push", (const char *)NULL);
	ASSERT_STREQ(fx_msg(&g), "(no error)");
	ASSERT_STREQ(g.o.registry_maps[0], "index.docker.io=m.example");
	clear_env();
}

TEST(bare_build_arg_from_environment)
{
	cleanup_fx struct fx f;
	clear_env();
	setenv("KILN_TEST_ARG", "from env", 1);
	unsetenv("KILN_TEST_UNSET");
	PARSE_OK(&f, "--no-push", "--build-arg", "KILN_TEST_ARG", "--build-arg", "KILN_TEST_UNSET",
	         "--build-arg", "KILN_TEST_ARG=given", "--build-arg", "E=");
	ASSERT_STREQ(f.o.build_args[0], "KILN_TEST_ARG=from env");
	ASSERT_STREQ(f.o.build_args[1], "KILN_TEST_UNSET=");
	ASSERT_STREQ(f.o.build_args[2], "KILN_TEST_ARG=given");
	ASSERT_STREQ(f.o.build_args[3], "E=");
	unsetenv("KILN_TEST_ARG");
}

/* ---- validations ----------------------------------------------------------------------- */

TEST(validation_messages)
{
	clear_env();
	struct {
		const char *msg;
		const char *args[6];
	} cases[] = {
	    {"you must provide --destination, or use --no-push", {NULL}},
	    {"parsing log level: not a valid logrus Level: \"loud\"", {"--no-push", "-v", "loud"}},
	    {"not a valid log format: \"xml\". Please specify one of (text, color, json)",
	     {"--no-push", "--log-format", "xml"}},
	    {"not a valid log format: \"JSON\". Please specify one of (text, color, json)",
	     {"--no-push", "--log-format", "JSON"}},
	    {"cache flags invalid: if using cache with --no-push, specify cache repo with "
	     "--cache-repo",
	     {"--no-push", "--cache"}},
	    {"you must provide --destination if setting ImageNameDigestFile",
	     {"--no-push", "--image-name-with-digest-file", "f"}},
	    {"you must provide --destination if setting ImageNameTagDigestFile",
	     {"--no-push", "--image-name-tag-with-digest-file", "f"}},
	    {"labels must be of the form key=value, got novalue",
	     {"--no-push", "--label", "a=1", "--label", "novalue"}},
	    {"failed to load client certificate/key 'reg=/only-cert', expected format: "
	     "reg=/path/to/cert,/path/to/key",
	     {"--no-push", "--registry-client-cert", "reg=/only-cert"}},
	    {"failed to load client certificate/key 'reg=/a,/b,/c', expected format: "
	     "reg=/path/to/cert,/path/to/key",
	     {"--no-push", "--registry-client-cert", "reg=/a,/b,/c"}},
	    /* order: the log level is checked before anything else */
	    {"parsing log level: not a valid logrus Level: \"x\"", {"-v", "x"}},
	    /* order: destination before cache, cache before digest files */
	    {"you must provide --destination, or use --no-push",
	     {"--cache", "--image-name-with-digest-file", "f"}},
	    {"cache flags invalid: if using cache with --no-push, specify cache repo with "
	     "--cache-repo",
	     {"--no-push", "--cache", "--image-name-with-digest-file", "f"}},
	};
	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		cleanup_fx struct fx f;
		cleanup_strv char **args = NULL;
		for (size_t j = 0; cases[k].args[j]; j++)
			strv_push(&args, xstrdup(cases[k].args[j]));
		fx_parsev(&f, args);
		if (f.r >= 0 || !streq(f.err->msg, cases[k].msg))
			test_note("case %zu: %s", k, fx_msg(&f));
		ASSERT_EQ(f.r, -1);
		ASSERT_STREQ(f.err->msg, cases[k].msg);
	}
}

TEST(log_level_is_case_insensitive)
{
	const char *levels[] = {"panic",   "FATAL", "Error", "warn",
	                        "warning", "info",  "debug", "trace"};
	clear_env();
	for (size_t k = 0; k < ARRAY_SIZE(levels); k++) {
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push", "--verbosity", levels[k]);
	}
}

TEST(custom_platform)
{
	clear_env();
	{
		cleanup_fx struct fx f;
		fx_parse(&f, "--no-push", "--custom-platform", "linux/arm/v7/x",
		         (const char *)NULL);
		ASSERT_EQ(f.r, CLI_ERR_FATAL);
		ASSERT_STREQ(f.err->msg, "Invalid platform \"linux/arm/v7/x\": too many slashes in "
		                         "platform spec: linux/arm/v7/x");
	}
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push", "--custom-platform", "windows/amd64:10.0.17763");
		ASSERT_STREQ(f.o.custom_platform, "windows/amd64:10.0.17763");
	}
	{
		/* an explicitly empty value falls back to the host platform, as in kaniko */
		cleanup_fx struct fx f;
		struct build_opts host;
		build_opts_init(&host);
		PARSE_OK(&f, "--no-push", "--custom-platform=");
		ASSERT_STREQ(f.o.custom_platform, host.custom_platform);
		build_opts_release(&host);
	}
}

TEST(custom_platform_validated_and_normalized)
{
	clear_env();
	static const char *const ok[][2] = {
	    {"linux/amd64", "linux/amd64"},       {"linux/x86_64", "linux/amd64"},
	    {"LINUX/AMD64", "linux/amd64"},       {"amd64", "linux/amd64"},
	    {"linux/arm64", "linux/arm64/v8"},    {"linux/aarch64", "linux/arm64/v8"},
	    {"arm64", "linux/arm64/v8"},          {"linux/arm64/v8", "linux/arm64/v8"},
	    {"linux/arm", "linux/arm/v7"},        {"linux/armhf", "linux/arm/v7"},
	    {"linux/arm/v6", "linux/arm/v6"},     {"linux/arm/7", "linux/arm/v7"},
	    {"linux/i386", "linux/386"},          {"linux/386", "linux/386"},
	    {"linux/ppc64le", "linux/ppc64le"},   {"linux/s390x", "linux/s390x"},
	    {"linux/riscv64", "linux/riscv64"},   {"linux/amd64/v1", "linux/amd64"},
	    {"linux/amd64/v3", "linux/amd64/v3"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push", "--custom-platform", ok[i][0]);
		ASSERT_STREQ(f.o.custom_platform, ok[i][1]);
	}
	static const char *const bad[][2] = {
	    {"foo", "Invalid platform \"foo\": \"foo\": unknown operating system or "
	            "architecture: invalid argument"},
	    {"linux/amd64,linux/arm64",
	     "Invalid platform \"linux/amd64,linux/arm64\": a list of platforms is not supported "
	     "yet: build once per platform (one --custom-platform each)"},
	    {"linux//amd64", "Invalid platform \"linux//amd64\": \"\" is an invalid component "
	                     "of \"linux//amd64\": platform specifier component must match "
	                     "\"^[A-Za-z0-9_.-]+$\": invalid argument"},
	    {"linux/am d64", "Invalid platform \"linux/am d64\": \"am d64\" is an invalid "
	                     "component of \"linux/am d64\": platform specifier component must "
	                     "match \"^[A-Za-z0-9_.-]+$\": invalid argument"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cleanup_fx struct fx f;
		fx_parse(&f, "--no-push", "--custom-platform", bad[i][0], (const char *)NULL);
		ASSERT_EQ(f.r, CLI_ERR_FATAL);
		ASSERT_STREQ(f.err->msg, bad[i][1]);
	}
}

/* ---- deprecated aliases ---------------------------------------------------------------- */

TEST(deprecated_aliases)
{
	clear_env();
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push", "--custom-platform", "linux/amd64", "--customPlatform",
		         "linux/s390x", "--snapshotMode=redo");
		ASSERT_STREQ(f.o.custom_platform, "linux/s390x");
		ASSERT_STREQ(f.o.snapshot_mode, "redo");
		ASSERT_EQ(strv_length(f.p.warnings), 2);
		ASSERT_STREQ(f.p.warnings[0],
		             "Flag --customPlatform is deprecated. Use: --custom-platform");
		ASSERT_STREQ(f.p.warnings[1],
		             "Flag --snapshotMode is deprecated. Use: --snapshot-mode");
	}
	{
		/* --tarPath writes the same field and (as in kaniko) warns nothing */
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push", "--tarPath", "/img.tar");
		ASSERT_STREQ(f.o.tar_path, "/img.tar");
		ASSERT_TRUE(f.p.warnings == NULL && f.p.notices == NULL);
	}
	{
		/* pflag prints its notice on every use of a MarkDeprecated flag */
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push", "--whitelist-var-run=false", "--whitelist-var-run=false");
		ASSERT_FALSE(f.o.ignore_var_run);
		ASSERT_EQ(strv_length(f.p.notices), 2);
		ASSERT_STREQ(f.p.notices[0], "Flag --whitelist-var-run has been deprecated, Please "
		                             "use ignore-var-run instead.");
		ASSERT_TRUE(f.p.warnings == NULL);
	}
}

/* ---- --git keys: depth refused (not honoured), unknown keys kept with a warning ----------- */

TEST(git_keys)
{
	clear_env();
	{
		cleanup_fx struct fx f;
		fx_parse(&f, "--no-push", "--git", "depth=1", (const char *)NULL);
		ASSERT_EQ(f.r, -1);
		ASSERT_TRUE(startswith(f.err->msg,
		                       "invalid argument \"depth=1\" for \"--git\" flag: "
		                       "--git depth: shallow clones need libgit2 1.7"));
	}
	{
		/* kaniko ignores unknown keys: kiln builds, and warns naming the key */
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push", "--git", "shallow=true", "--git", "branch=main");
		ASSERT_EQ(strv_length(f.o.git), 2);
		ASSERT_EQ(strv_length(f.p.warnings), 1);
		ASSERT_STREQ(
		    f.p.warnings[0],
		    "--git shallow: unknown key, ignored (the keys are branch, single-branch, "
		    "recurse-submodules and insecure-skip-tls)");
	}
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push", "--git", "insecure-skip-tls=true", "--git",
		         "recurse-submodules=false");
		ASSERT_TRUE(f.p.warnings == NULL);
	}
}

/* ---- unimplemented flags --------------------------------------------------------------- */

TEST(unimplemented_flags)
{
	clear_env();
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "-d", "r/i", "--cache", "--cache-repo", "r/cache", "--cache-ttl",
		         "1h");
	}
	{
		/* defaults of unimplemented flags are fine: cache-run-layers is true by default */
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--no-push");
		ASSERT_TRUE(f.o.cache_run_layers);
	}
	{
		/* kaniko's own validations come first */
		cleanup_fx struct fx f;
		PARSE_ERR(&f, "you must provide --destination, or use --no-push", "--cache-repo",
		          "r/cache");
	}
}

/* ---- subcommands ----------------------------------------------------------------------- */

TEST(subcommands)
{
	clear_env();
	{
		/* version skips the build's validations */
		cleanup_fx struct fx f;
		PARSE_OK(&f, "version");
		ASSERT_EQ(f.p.action, CLI_VERSION);
	}
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "-v", "debug", "version", "extra");
		ASSERT_EQ(f.p.action, CLI_VERSION);
	}
	{
		cleanup_fx struct fx f;
		PARSE_ERR(&f, "unknown flag: --bogus", "version", "--bogus");
	}
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "help");
		ASSERT_EQ(f.p.action, CLI_HELP);
	}
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "--context", "debug", "--help");
		ASSERT_EQ(f.p.action, CLI_HELP);
	}
	{
		cleanup_fx struct fx f;
		PARSE_OK(&f, "debug", "parse", "-f", "ignored", "Dockerfile.x");
		ASSERT_EQ(f.p.action, CLI_DEBUG_PARSE);
		ASSERT_STREQ(f.p.debug_file, "Dockerfile.x");
	}
	{
		cleanup_fx struct fx f;
		PARSE_ERR(&f, "accepts 1 arg(s), received 0", "debug", "parse");
	}
	{
		cleanup_fx struct fx f;
		PARSE_ERR(&f, "unknown command \"dump\" for \"executor debug\"", "debug", "dump");
	}
}

/* ---- help ------------------------------------------------------------------------------ */

TEST(help_lists_every_visible_flag_and_no_hidden_one)
{
	cleanup_free char *text = help_text();
	ASSERT_TRUE(startswith(text, "Usage:\n  executor [flags]\n  executor [command]\n\n"
	                             "Available Commands:\n"));
	ASSERT_TRUE(strstr(text, "\n  help        Help about any command\n") != NULL);
	ASSERT_TRUE(strstr(text, "\n\nUse \"executor [command] --help\" for more information "
	                         "about a command.\n") != NULL);
	for (size_t n = 0; n < cli_option_count(); n++) {
		struct cli_option_info i;
		cli_option_get(n, &i);
		cleanup_free char *needle = xasprintf("--%s ", i.name);
		bool shown = strstr(text, needle) != NULL;
		if (shown == i.hidden)
			test_note("--%s", i.name);
		ASSERT_TRUE(shown != i.hidden);
	}
	ASSERT_TRUE(strstr(text, "--bucket") == NULL);
	ASSERT_TRUE(strstr(text, "whitelist") == NULL);
}

/* the lines of the Flags: section */
static char **flag_lines(const char *text)
{
	char **lines = NULL;
	const char *p = strstr(text, "\nFlags:\n");
	if (!p)
		return NULL;
	for (p += strlen("\nFlags:\n"); *p == ' ';) {
		size_t len = strcspn(p, "\n");
		strv_push(&lines, xstrndup(p, len));
		p += len + (p[len] == '\n');
	}
	return lines;
}

static void check_help_layout(const char *text)
{
	cleanup_strv char **lines = flag_lines(text);
	cleanup_free char *prev = xstrdup("");
	size_t column = 0, n = 0;
	ASSERT_TRUE(lines != NULL);
	strv_foreach (l, lines) {
		const char *name = strstr(l, "--") + 2;
		cleanup_free char *cur = xstrndup(name, strcspn(name, " "));
		/* sorted by name, the short form in front */
		ASSERT_TRUE(strcmp(prev, cur) < 0);
		free(prev);
		prev = TAKE_PTR(cur);
		ASSERT_TRUE(startswith(l, "      --") ||
		            (l[2] == '-' && l[4] == ',' && startswith(l + 5, " --")));
		/* every help text starts in one column, three spaces after the longest flag */
		size_t col = (size_t)(strstr(name, "   ") - l);
		while (l[col] == ' ')
			col++;
		if (column == 0)
			column = col;
		ASSERT_EQ(col, column);
		n++;
	}
	ASSERT_EQ(n, 62); /* 64 options less --bucket and --whitelist-var-run */
	ASSERT_TRUE(strstr(text, "\n  -f, --dockerfile string ") != NULL);
	ASSERT_TRUE(strstr(text, "\n      --build-arg multi-arg type                  This flag "
	                         "allows you to pass in ARG values at build time. Set it "
	                         "repeatedly for multiple values.\n") != NULL);
	ASSERT_TRUE(strstr(text, "Path to the dockerfile to be built. (default \"Dockerfile\")\n"));
	ASSERT_TRUE(strstr(text, "Defaults to two weeks. (default 336h0m0s)\n"));
	ASSERT_TRUE(strstr(text, "Caches run layers (default true)\n"));
	ASSERT_TRUE(strstr(text, "Compression level (default -1)\n"));
	ASSERT_TRUE(strstr(text, "(default branch=,single-branch=false,recurse-submodules=false)"));
	ASSERT_TRUE(strstr(text, "      --registry-map key-multi-value-arg type "));
	ASSERT_TRUE(strstr(text, "      --git gitoptions "));
	ASSERT_TRUE(strstr(text, "      --compression compression "));
	ASSERT_TRUE(strstr(text, "      --no-push   "));
	ASSERT_TRUE(strstr(text, "  -h, --help   "));
	/* a flag whose default is empty or false shows none */
	ASSERT_TRUE(strstr(text, "Do not push the image to the registry\n"));
	ASSERT_TRUE(strstr(text, "if different from the current host\n"));
}

TEST(help_layout)
{
	char *text = help_text();
	check_help_layout(text);
	free(text);
}

TEST(help_has_description)
{
	cleanup_free char *t = capture(cli_help);
	cleanup_free char *usage = help_text();
	ASSERT_TRUE(strstr(t, "\n\nUsage:\n") != NULL);
	ASSERT_STREQ(strstr(t, "Usage:"), usage);
}

/* The flags kiln implements today, as agreed; a change to the table's IMPL column shows here. */
TEST(implemented_flags_are_the_agreed_list)
{
	static const char *const agreed[] = {
	    "verbosity",
	    "log-format",
	    "log-timestamp",
	    "force",
	    "help",
	    "dockerfile",
	    "context",
	    "build-arg",
	    "target",
	    "custom-platform",
	    "customPlatform",
	    "label",
	    "destination",
	    "no-push",
	    "tar-path",
	    "tarPath",
	    "digest-file",
	    "image-name-with-digest-file",
	    "image-name-tag-with-digest-file",
	    "oci-layout-path",
	    "reproducible",
	    "snapshot-mode",
	    "snapshotMode",
	    "single-snapshot",
	    "push-ignore-immutable-tag-errors",
	    "compressed-caching",
	    "ignore-path",
	    "force-build-metadata",
	    "image-fs-extract-retry",
	    "kaniko-dir",
	    "isolation",
	    "stage-storage",
	    "blob-store-size",
	    "insecure",
	    "insecure-pull",
	    "insecure-registry",
	    "skip-tls-verify",
	    "skip-tls-verify-pull",
	    "skip-tls-verify-registry",
	    "registry-certificate",
	    "registry-client-cert",
	    "skip-push-permission-check",
	    "push-retry",
	    "image-download-retry",
	    "ignore-var-run",
	    "whitelist-var-run",
	    "cleanup",
	    "use-new-run",
	    "compression",
	    "compression-level",
	    "no-push-cache",
	    "cache",
	    "cache-repo",
	    "cache-dir",
	    "context-sub-path",
	    "git",
	    "cache-ttl",
	    "cache-copy-layers",
	    "cache-run-layers",
	    "skip-unused-stages",
	    "registry-map",
	    "registry-mirror",
	    "skip-default-registry-fallback",
	};
	size_t n_impl = 0;
	for (size_t n = 0; n < cli_option_count(); n++) {
		struct cli_option_info i;
		bool listed = false;
		cli_option_get(n, &i);
		for (size_t k = 0; k < ARRAY_SIZE(agreed); k++)
			listed = listed || streq(agreed[k], i.name);
		if (listed != i.implemented)
			test_note("--%s", i.name);
		ASSERT_EQ(listed, i.implemented);
		n_impl += i.implemented;
	}
	ASSERT_EQ(n_impl, ARRAY_SIZE(agreed));
}
