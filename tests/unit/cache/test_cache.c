/* test_cache.c — the layer cache's keys (the same step in the same state gives the same key;
 * every input a key stands for changes it; what it must not stand for leaves it alone) and the
 * base-image cache directory (what the warmer writes, a build reads back). */
#include "cache/cache.h"
#include "harness.h"
#include "util/fsutil.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static int put(const char *dir, const char *name, const char *content)
{
	cleanup_free char *p = path_join(dir, name);
	return write_file_atomic(p, content, strlen(content), 0644, NULL);
}

/* the first instruction of a one-line Dockerfile */
static struct dockerfile *parse1(const char *text)
{
	struct dockerfile *df = NULL;
	cleanup_err struct kiln_err *e = NULL;
	if (dockerfile_parse("Dockerfile", text, strlen(text), &df, &e) < 0)
		return NULL;
	return df;
}

/* words expand to themselves, "$BAD" fails, "$DIR" is "sub" */
static int expand(void *ud, const char *word, char **ret, struct kiln_err **err)
{
	(void)ud;
	if (streq(word, "$BAD"))
		return kiln_err_set(err, "bad substitution");
	*ret = xstrdup(streq(word, "$DIR") ? "sub" : word);
	return 0;
}

struct state {
	const char *prev;
	const char *config; /* the container config, JSON */
	const char *env[4];
	const char *context;
};

/* the typed form of a parsed instruction as the plan gives it (kind, COPY's --from); built here
 * so that flags the plan refuses (RUN --network) can still be asked about */
static struct plan_instr typed(const struct df_instr *in)
{
	struct plan_instr pi = {.in = in};
	if (!instr_kind_of(in->cmd, &pi.kind))
		abort();
	for (size_t f = 0; f < in->n_flags; f++) {
		if ((pi.kind == INSTR_COPY || pi.kind == INSTR_ADD) &&
		    streq(in->flags[f].name, "from")) {
			pi.copy.has_from = true;
			pi.copy.from = in->flags[f].value;
		}
	}
	return pi;
}

/* the key of text after prev in state st; "" when the key step failed */
static void key_of(const char *text, const struct state *st, char key[CACHE_KEY_LEN + 1])
{
	memcpy(key, st->prev, CACHE_KEY_LEN + 1);
	cleanup_dockerfile struct dockerfile *df = parse1(text);
	if (!df || df->n_instrs != 1) {
		key[0] = '\0';
		return;
	}
	json_t *cfg = json_loads(st->config, 0, NULL);
	cleanup_strv char **env = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(st->env) && st->env[i]; i++)
		strv_push(&env, xstrdup(st->env[i]));
	struct cache_step_input si = {
	    .container_config = cfg,
	    .env = env,
	    .context = st->context,
	    .expand = expand,
	};
	cleanup_err struct kiln_err *e = NULL;
	struct plan_instr pi = typed(&df->instrs[0]);
	if (cache_key_step(key, &pi, &si, &e) < 0)
		key[0] = '\0';
	json_decref(cfg);
}

static char prev[CACHE_KEY_LEN + 1];

static struct state base_state(const char *ctx)
{
	cache_key_start(prev,
	                "sha256:1111111111111111111111111111111111111111111111111111111111111111",
	                "linux/amd64", IMAGE_OCI, false);
	return (struct state){
	    .prev = prev,
	    .config = "{\"Env\":[\"PATH=/bin\"],\"User\":\"0\"}",
	    .env = {"PATH=/bin", "B=2", "A=1"},
	    .context = ctx,
	};
}

TEST(key_start_names_base_platform_format_compression)
{
	char k[CACHE_KEY_LEN + 1], o[CACHE_KEY_LEN + 1];
	cache_key_start(k, "scratch", "linux/amd64", IMAGE_DOCKER, false);
	ASSERT_EQ(strlen(k), CACHE_KEY_LEN);
	cache_key_start(o, "scratch", "linux/amd64", IMAGE_DOCKER, false);
	ASSERT_STREQ(k, o);
	cache_key_start(o, "stage:abc", "linux/amd64", IMAGE_DOCKER, false);
	ASSERT_FALSE(streq(k, o));
	cache_key_start(o, "scratch", "linux/arm64/v8", IMAGE_DOCKER, false);
	ASSERT_FALSE(streq(k, o));
	cache_key_start(o, "scratch", "linux/amd64", IMAGE_OCI, false);
	ASSERT_FALSE(streq(k, o));
	cache_key_start(o, "scratch", "linux/amd64", IMAGE_DOCKER, true);
	ASSERT_FALSE(streq(k, o));
	/* length framing: moving a character between parts is another key */
	cache_key_start(k, "ab", "c", IMAGE_DOCKER, false);
	cache_key_start(o, "a", "bc", IMAGE_DOCKER, false);
	ASSERT_FALSE(streq(k, o));
}

TEST(key_run_same_state_same_key)
{
	struct state st = base_state("/nonexistent");
	char a[CACHE_KEY_LEN + 1], b[CACHE_KEY_LEN + 1];
	key_of("RUN echo hi\n", &st, a);
	ASSERT_EQ(strlen(a), CACHE_KEY_LEN);
	key_of("RUN echo hi\n", &st, b);
	ASSERT_STREQ(a, b);
	/* the environment's order is not an input: it is sorted */
	st.env[0] = "A=1";
	st.env[2] = "PATH=/bin";
	key_of("RUN echo hi\n", &st, b);
	ASSERT_STREQ(a, b);
}

TEST(key_run_changes_with_each_input)
{
	struct state st = base_state("/nonexistent");
	char a[CACHE_KEY_LEN + 1], b[CACHE_KEY_LEN + 1];
	key_of("RUN echo hi\n", &st, a);
	key_of("RUN echo ho\n", &st, b); /* the text */
	ASSERT_FALSE(streq(a, b));
	struct state s2 = st;
	s2.env[1] = "B=3"; /* an ARG or ENV value */
	key_of("RUN echo hi\n", &s2, b);
	ASSERT_FALSE(streq(a, b));
	s2 = st;
	s2.config = "{\"Env\":[\"PATH=/bin\"],\"User\":\"nobody\"}"; /* USER, WORKDIR, SHELL... */
	key_of("RUN echo hi\n", &s2, b);
	ASSERT_FALSE(streq(a, b));
	s2 = st;
	char other[CACHE_KEY_LEN + 1];
	cache_key_start(other, "scratch", "linux/amd64", IMAGE_OCI, false);
	s2.prev = other; /* the base and every earlier step */
	key_of("RUN echo hi\n", &s2, b);
	ASSERT_FALSE(streq(a, b));
	/* heredoc bodies */
	key_of("RUN <<EOF\necho a\nEOF\n", &st, a);
	key_of("RUN <<EOF\necho b\nEOF\n", &st, b);
	ASSERT_FALSE(streq(a, b));
}

TEST(key_metadata_steps_ignore_config_and_env)
{
	struct state st = base_state("/nonexistent");
	char a[CACHE_KEY_LEN + 1], b[CACHE_KEY_LEN + 1];
	key_of("ENV X=1\n", &st, a);
	struct state s2 = st;
	s2.env[1] = "B=3";
	s2.config = "{}";
	key_of("ENV X=1\n", &s2, b);
	ASSERT_STREQ(a, b);
	key_of("ENV X=2\n", &st, b);
	ASSERT_FALSE(streq(a, b));
}

TEST(key_copy_reads_its_sources)
{
	cleanup_test_tmpdir char *ctx = test_tmpdir("cache");
	ASSERT_TRUE(ctx != NULL);
	cleanup_free char *sub = path_join(ctx, "sub");
	ASSERT_EQ(mkdir(sub, 0755), 0);
	ASSERT_OK(put(ctx, "a.txt", "one"), (struct kiln_err *)NULL);
	ASSERT_OK(put(ctx, "other", "x"), (struct kiln_err *)NULL);
	ASSERT_OK(put(sub, "f", "1"), (struct kiln_err *)NULL);
	struct state st = base_state(ctx);
	char a[CACHE_KEY_LEN + 1], b[CACHE_KEY_LEN + 1];

	key_of("COPY a.txt /dst/\n", &st, a);
	ASSERT_EQ(strlen(a), CACHE_KEY_LEN);
	key_of("COPY a.txt /dst/\n", &st, b);
	ASSERT_STREQ(a, b);
	/* a file outside the sources, an mtime: no change */
	ASSERT_OK(put(ctx, "other", "y"), (struct kiln_err *)NULL);
	cleanup_free char *pa = path_join(ctx, "a.txt");
	struct timeval tv[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
	ASSERT_EQ(utimes(pa, tv), 0);
	key_of("COPY a.txt /dst/\n", &st, b);
	ASSERT_STREQ(a, b);
	/* content, then mode */
	ASSERT_OK(put(ctx, "a.txt", "two"), (struct kiln_err *)NULL);
	key_of("COPY a.txt /dst/\n", &st, b);
	ASSERT_FALSE(streq(a, b));
	memcpy(a, b, sizeof(a));
	ASSERT_EQ(chmod(pa, 0600), 0);
	key_of("COPY a.txt /dst/\n", &st, b);
	ASSERT_FALSE(streq(a, b));

	/* a directory: a new file in it; an expanded source ("$DIR" is "sub") */
	key_of("COPY $DIR /dst/\n", &st, a);
	ASSERT_OK(put(sub, "g", "2"), (struct kiln_err *)NULL);
	key_of("COPY $DIR /dst/\n", &st, b);
	ASSERT_FALSE(streq(a, b));
	/* a symlink's target */
	cleanup_free char *ln = path_join(sub, "l");
	ASSERT_EQ(symlink("f", ln), 0);
	key_of("COPY sub /dst/\n", &st, a);
	ASSERT_EQ(unlink(ln), 0);
	ASSERT_EQ(symlink("g", ln), 0);
	key_of("COPY sub /dst/\n", &st, b);
	ASSERT_FALSE(streq(a, b));

	/* an absent source is part of the key, and its appearance changes it */
	key_of("COPY missing /dst/\n", &st, a);
	ASSERT_EQ(strlen(a), CACHE_KEY_LEN);
	ASSERT_OK(put(ctx, "missing", "now"), (struct kiln_err *)NULL);
	key_of("COPY missing /dst/\n", &st, b);
	ASSERT_FALSE(streq(a, b));

	/* a glob stands for the whole context: "other" counts now */
	key_of("COPY *.txt /dst/\n", &st, a);
	ASSERT_OK(put(ctx, "other", "z"), (struct kiln_err *)NULL);
	key_of("COPY *.txt /dst/\n", &st, b);
	ASSERT_FALSE(streq(a, b));
}

TEST(key_copy_failures_stop_the_key)
{
	struct state st = base_state("/nonexistent/context");
	char k[CACHE_KEY_LEN + 1];
	key_of("COPY a /dst/\n", &st, k);
	ASSERT_STREQ(k, ""); /* the context cannot be opened */
	cleanup_test_tmpdir char *ctx = test_tmpdir("cache");
	ASSERT_TRUE(ctx != NULL);
	st.context = ctx;
	key_of("COPY $BAD /dst/\n", &st, k);
	ASSERT_STREQ(k, ""); /* the source cannot be expanded */
	/* COPY --from reads no context: it keys without one */
	st.context = "/nonexistent/context";
	key_of("COPY --from=build a /dst/\n", &st, k);
	ASSERT_EQ(strlen(k), CACHE_KEY_LEN);
}

TEST(step_cacheable)
{
	static const struct {
		const char *text;
		bool run, copy, want;
	} cases[] = {
	    {"RUN true\n", true, false, true},
	    {"RUN true\n", false, true, false},
	    {"RUN --network=none true\n", true, true, false},
	    {"COPY a b\n", false, true, true},
	    {"COPY a b\n", true, false, false},
	    {"COPY --from=x a b\n", true, true, false},
	    {"COPY --chmod=644 a b\n", false, true, true},
	    {"ADD a b\n", true, true, false},
	    {"ENV A=1\n", true, true, false},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_dockerfile struct dockerfile *df = parse1(cases[i].text);
		ASSERT_TRUE(df != NULL);
		struct plan_instr pi = typed(&df->instrs[0]);
		ASSERT_EQ(cache_step_cacheable(cases[i].run, cases[i].copy, &pi), cases[i].want);
	}
}

TEST(repo_resolve)
{
	cleanup_err struct kiln_err *e = NULL;
	cleanup_free char *r1 = NULL, *r2 = NULL, *r3 = NULL;
	char d0[] = "127.0.0.1:5000/app:1";
	char *dest[] = {d0, NULL};
	ASSERT_OK(cache_repo_resolve("127.0.0.1:5000/c", dest, false, &r1, &e), e);
	ASSERT_STREQ(r1, "127.0.0.1:5000/c");
	ASSERT_OK(cache_repo_resolve(NULL, dest, false, &r2, &e), e);
	ASSERT_STREQ(r2, "127.0.0.1:5000/app/cache");
	ASSERT_FAIL(cache_repo_resolve(NULL, dest, true, &r3, &e));
	ASSERT_STREQ(kiln_err_msg(e),
	             "if using cache with --no-push, specify cache repo with --cache-repo");
	kiln_err_free(e);
	e = NULL;
	ASSERT_FAIL(cache_repo_resolve("oci:/x", dest, false, &r3, &e));
	ASSERT_TRUE(r3 == NULL);
}

/* the entry names of the tarball at path, in order, joined by ' ' */
static char *tar_names(const char *path)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	char *names = xstrdup("");
	if (archive_read_open_filename(a, path, 65536) == ARCHIVE_OK) {
		struct archive_entry *e;
		while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
			char *n = xasprintf("%s%s%s", names, *names ? " " : "",
			                    archive_entry_pathname(e));
			free(names);
			names = n;
		}
	}
	archive_read_free(a);
	return names;
}

static int count_entries(const char *dir)
{
	DIR *dh = opendir(dir);
	int n = 0;
	if (!dh)
		return -1;
	for (struct dirent *de; (de = readdir(dh));)
		n += !streq(de->d_name, ".") && !streq(de->d_name, "..");
	closedir(dh);
	return n;
}

TEST(dir_write_then_import)
{
	cleanup_test_tmpdir char *d = test_tmpdir("cache");
	ASSERT_TRUE(d != NULL);
	cleanup_free char *src_dir = path_join(d, "src"), *dst_dir = path_join(d, "dst"),
	                  *cache = path_join(d, "cache");
	ASSERT_EQ(mkdir(cache, 0755), 0);
	cleanup_err struct kiln_err *e = NULL;
	_cleanup_(blobstore_freep) struct blobstore *src = NULL;
	_cleanup_(blobstore_freep) struct blobstore *dst = NULL;
	ASSERT_OK(blobstore_open(src_dir, &src, &e), e);
	ASSERT_OK(blobstore_open(dst_dir, &dst, &e), e);
	struct image_layer layers[2] = {0};
	ASSERT_OK(blobstore_put(src, "layer one", 9, layers[0].digest, &e), e);
	ASSERT_OK(blobstore_put(src, "layer two", 9, layers[1].digest, &e), e);
	struct manifest m = {.format = IMAGE_DOCKER, .layers = layers, .n_layers = 2};
	ASSERT_OK(blobstore_put(src, "{}", 2, m.config_digest, &e), e);
	const char *mdigest =
	    "sha256:2222222222222222222222222222222222222222222222222222222222222222";
	const char *body = "{\"manifest\":1}";
	ASSERT_OK(cache_dir_write(cache, mdigest, body, strlen(body), &m, "reg/img:1", src, &e), e);

	cleanup_free char *tar = path_join(cache, mdigest);
	cleanup_free char *json = xasprintf("%s.json", tar);
	cleanup_free char *got = NULL;
	size_t len = 0;
	ASSERT_OK(read_file_at(AT_FDCWD, json, 1 << 20, &got, &len, &e), e);
	ASSERT_STREQ(got, body);
	cleanup_free char *names = tar_names(tar);
	cleanup_free char *want_names =
	    xasprintf("%s.tar.gz %s.tar.gz %s manifest.json", digest_hex(layers[0].digest),
	              digest_hex(layers[1].digest), m.config_digest);
	ASSERT_STREQ(names, want_names);
	/* nothing else is left in the directory */
	ASSERT_EQ(count_entries(cache), 2);

	/* a build reads back what it asks for (here: the config and the second layer) */
	const char *want[] = {m.config_digest, layers[1].digest};
	ASSERT_EQ(cache_dir_import(cache, mdigest, INT64_MAX, want, 2, dst), 1);
	ASSERT_TRUE(blobstore_has(dst, m.config_digest, NULL));
	ASSERT_TRUE(blobstore_has(dst, layers[1].digest, NULL));
	ASSERT_FALSE(blobstore_has(dst, layers[0].digest, NULL));
	cleanup_free char *data = NULL;
	ASSERT_OK(blobstore_read(dst, layers[1].digest, 100, &data, &len, &e), e);
	ASSERT_EQ(len, 9);
	ASSERT_TRUE(memcmp(data, "layer two", 9) == 0);

	/* absent, expired: not used */
	ASSERT_EQ(cache_dir_import(
	              cache,
	              "sha256:3333333333333333333333333333333333333333333333333333333333333333",
	              INT64_MAX, want, 2, dst),
	          0);
	struct timeval old[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
	ASSERT_EQ(utimes(tar, old), 0);
	ASSERT_EQ(cache_dir_import(cache, mdigest, 3600LL * 1000000000LL, want, 2, dst), 0);
}
