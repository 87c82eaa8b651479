/* test_remote.c — the pure parts of --context resolution: which kind a spec is (kaniko reference
 * §2's prefix table), userinfo redaction, --context-sub-path cleaning and confinement, git spec
 * and --git option parsing, and which credentials win. */
#include "context/git.h"
#include "context/remote.h"
#include "harness.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct kind_case {
	const char *spec;
	enum context_kind kind;
	const char *rest;
};

static const struct kind_case kind_cases[] = {
    {"/workspace", CONTEXT_DIR, "/workspace"},
    {"relative/dir", CONTEXT_DIR, "relative/dir"},
    {"dir:///workspace", CONTEXT_DIR, "/workspace"},
    {"tar:///ctx/context.tar.gz", CONTEXT_TAR, "/ctx/context.tar.gz"},
    {"tar://ctx.tar.gz", CONTEXT_TAR, "ctx.tar.gz"},
    {"tar://stdin", CONTEXT_STDIN, "stdin"},
    {"tar://stdin2", CONTEXT_TAR, "stdin2"},
    {"git://github.com/acme/p.git#refs/heads/b", CONTEXT_GIT, "github.com/acme/p.git#refs/heads/b"},
    {"https://example.com/ctx.tar.gz", CONTEXT_HTTPS, "https://example.com/ctx.tar.gz"},
    {"https://acct.blob.core.windows.net/c/ctx.tar.gz", CONTEXT_AZURE, NULL},
    {"https://acct.blob.core.chinacloudapi.cn/c/x", CONTEXT_AZURE, NULL},
    {"https://acct.blob.core.usgovcloudapi.net/c/x", CONTEXT_AZURE, NULL},
    {"https://blob.core.windows.net/c/x", CONTEXT_HTTPS, NULL},
    {"https://example.com/acct.blob.core.windows.net", CONTEXT_HTTPS, NULL},
    {"gs://bucket/ctx.tar.gz", CONTEXT_GCS, NULL},
    {"s3://bucket/ctx.tar.gz", CONTEXT_S3, NULL},
    {"http://example.com/ctx.tar.gz", CONTEXT_UNKNOWN, NULL},
    {"foo://bar", CONTEXT_UNKNOWN, NULL},
    {"GIT://host/x", CONTEXT_UNKNOWN, NULL},
};

TEST(kind_table)
{
	for (size_t i = 0; i < sizeof(kind_cases) / sizeof(kind_cases[0]); i++) {
		const struct kind_case *c = &kind_cases[i];
		const char *rest = NULL;
		enum context_kind k = context_kind(c->spec, &rest);
		if (k != c->kind)
			test_note("spec '%s'", c->spec);
		ASSERT_EQ(k, c->kind);
		if (c->rest)
			ASSERT_STREQ(rest, c->rest);
	}
}

TEST(redact_url)
{
	const char *cases[][2] = {
	    {"https://user:secret@host/p?x=1", "https://host/p?x=1"},
	    {"git://TOKEN@github.com/a/b.git#refs/heads/x",
	     "git://github.com/a/b.git#refs/heads/x"},
	    {"git://a@b:c@host/p", "git://host/p"},
	    {"https://host/p@q", "https://host/p@q"},
	    {"https://host/p", "https://host/p"},
	    {"/local/dir", "/local/dir"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *r = context_redact_url(cases[i][0]);
		ASSERT_STREQ(r, cases[i][1]);
	}
}

TEST(clean_sub_path)
{
	const char *ok[][2] = {
	    {"", "."},
	    {".", "."},
	    {"sub", "sub"},
	    {"sub/", "sub"},
	    {"./a/b", "a/b"},
	    {"a/../b", "b"},
	    {"/sub/dir/", "sub/dir"},
	    {"/", "."},
	    {"/../x", "x"},
	    {"a//b/./c", "a/b/c"},
	    {"a/..", "."},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct kiln_err *err = NULL;
		cleanup_free char *r = NULL;
		ASSERT_OK(context_clean_sub_path(ok[i][0], &r, &err), err);
		ASSERT_STREQ(r, ok[i][1]);
	}
	const char *bad[] = {"..", "../x", "a/../../x", "./../x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cleanup_err struct kiln_err *err = NULL;
		cleanup_free char *r = NULL;
		ASSERT_FAIL(context_clean_sub_path(bad[i], &r, &err));
		ASSERT_TRUE(strstr(kiln_err_msg(err), "outside the build context") != NULL);
		ASSERT_TRUE(r == NULL);
	}
}

TEST(git_parse)
{
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(context_git_spec_release) struct context_git_spec s = {0};
	ASSERT_OK(context_git_parse("github.com/acme/p.git#refs/heads/b#0123abcd", false, &s, &err),
	          err);
	ASSERT_STREQ(s.url, "https://github.com/acme/p.git");
	ASSERT_STREQ(s.ref, "refs/heads/b");
	ASSERT_STREQ(s.commit, "0123abcd");
	ASSERT_TRUE(s.url_user == NULL && s.url_password == NULL);
	context_git_spec_release(&s);

	ASSERT_OK(context_git_parse("u%40x:p%3Aw@host:8443/r.git", true, &s, &err), err);
	ASSERT_STREQ(s.url, "http://host:8443/r.git");
	ASSERT_STREQ(s.url_user, "u@x");
	ASSERT_STREQ(s.url_password, "p:w");
	ASSERT_TRUE(s.ref == NULL && s.commit == NULL);
	context_git_spec_release(&s);

	/* a token as the user, no password; an empty ref part */
	ASSERT_OK(context_git_parse("TOKEN@host/r.git##abc", false, &s, &err), err);
	ASSERT_STREQ(s.url, "https://host/r.git");
	ASSERT_STREQ(s.url_user, "TOKEN");
	ASSERT_TRUE(s.url_password == NULL);
	ASSERT_TRUE(s.ref == NULL);
	ASSERT_STREQ(s.commit, "abc");
	context_git_spec_release(&s);

	/* '@' after the host belongs to the path */
	ASSERT_OK(context_git_parse("host/a@b/r.git#refs/pull/1/head", false, &s, &err), err);
	ASSERT_STREQ(s.url, "https://host/a@b/r.git");
	ASSERT_TRUE(s.url_user == NULL);
	ASSERT_STREQ(s.ref, "refs/pull/1/head");
	context_git_spec_release(&s);

	ASSERT_FAIL(context_git_parse("user@/r.git", false, &s, &err));
}

TEST(git_opts)
{
	cleanup_err struct kiln_err *err = NULL;
	static char k1[] = "branch=x", k2[] = "single-branch=true", k3[] = "recurse-submodules=1",
	            k5[] = "branch=y,single-branch=false";
	char *kv[] = {k1, k2, k3, k5, NULL};
	_cleanup_(context_git_opts_release) struct context_git_opts o = {0};
	ASSERT_OK(context_git_opts_parse(kv, &o, &err), err);
	/* the value is split at the first '=' only, and a repeated key overwrites */
	ASSERT_STREQ(o.branch, "y,single-branch=false");
	ASSERT_TRUE(o.single_branch);
	ASSERT_TRUE(o.recurse_submodules);
	ASSERT_FALSE(o.insecure_skip_tls);

	static char b1[] = "insecure-skip-tls=yes";
	char *bad[] = {b1, NULL};
	struct context_git_opts o2 = {0};
	ASSERT_FAIL(context_git_opts_parse(bad, &o2, &err));
	ASSERT_TRUE(strstr(kiln_err_msg(err), "invalid syntax") != NULL);

	static char e1[] = "branch=";
	char *empty[] = {e1, NULL};
	struct context_git_opts o3 = {0};
	ASSERT_OK(context_git_opts_parse(empty, &o3, &err), err);
	ASSERT_TRUE(o3.branch == NULL);
}

TEST(git_opts_depth_refused_unknown_ignored)
{
	cleanup_err struct kiln_err *err = NULL;
	static char d[] = "depth=1", u[] = "unknown=whatever", b[] = "branch=z";
	char *kv1[] = {d, NULL};
	struct context_git_opts o = {0};
	ASSERT_FAIL(context_git_opts_parse(kv1, &o, &err));
	ASSERT_TRUE(strstr(kiln_err_msg(err), "--git depth: shallow clones need libgit2 1.7") !=
	            NULL);
	kiln_err_free(err);
	err = NULL;
	/* kaniko ignores unknown keys; so does the clone (the command line warned) */
	char *kv2[] = {u, b, NULL};
	_cleanup_(context_git_opts_release) struct context_git_opts o2 = {0};
	ASSERT_OK(context_git_opts_parse(kv2, &o2, &err), err);
	ASSERT_STREQ(o2.branch, "z");
	cleanup_free char *w = NULL;
	ASSERT_EQ(context_git_key_check(u, &w), 1);
	ASSERT_TRUE(strstr(w, "--git unknown: unknown key, ignored") != NULL);
	cleanup_free char *msg = NULL;
	ASSERT_EQ(context_git_key_check("insecure-skip-tls=true", &msg), 0);
	ASSERT_TRUE(msg == NULL);
}

TEST(git_credentials_precedence)
{
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(context_git_spec_release) struct context_git_spec s = {0};
	ASSERT_OK(context_git_parse("urluser:urlpass@host/r.git", false, &s, &err), err);
	const char *u = NULL, *p = NULL;
	unsetenv("GIT_TOKEN");
	unsetenv("GIT_USERNAME");
	unsetenv("GIT_PASSWORD");
	ASSERT_TRUE(context_git_credentials(&s, &u, &p));
	ASSERT_STREQ(u, "urluser");
	ASSERT_STREQ(p, "urlpass");

	setenv("GIT_USERNAME", "envuser", 1);
	setenv("GIT_PASSWORD", "envpass", 1);
	ASSERT_TRUE(context_git_credentials(&s, &u, &p));
	ASSERT_STREQ(u, "envuser");
	ASSERT_STREQ(p, "envpass");

	setenv("GIT_TOKEN", "tok", 1);
	ASSERT_TRUE(context_git_credentials(&s, &u, &p));
	ASSERT_STREQ(u, "tok");
	ASSERT_STREQ(p, "");

	unsetenv("GIT_TOKEN");
	unsetenv("GIT_USERNAME");
	ASSERT_TRUE(context_git_credentials(&s, &u, &p));
	ASSERT_STREQ(u, "");
	ASSERT_STREQ(p, "envpass");
	unsetenv("GIT_PASSWORD");

	_cleanup_(context_git_spec_release) struct context_git_spec none = {0};
	ASSERT_OK(context_git_parse("host/r.git", false, &none, &err), err);
	ASSERT_FALSE(context_git_credentials(&none, &u, &p));
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		write_all(fd, text, strlen(text));
		close(fd);
	}
}

TEST(resolve_local_with_sub_path)
{
	char tmpl[] = "/tmp/kiln-test-context.XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	cleanup_free char *ctx = path_join(tmpl, "ctx");
	cleanup_free char *sub = path_join(ctx, "sub");
	cleanup_free char *outside = path_join(tmpl, "outside");
	cleanup_free char *file = path_join(ctx, "file");
	cleanup_free char *link = path_join(ctx, "escape");
	ASSERT_TRUE(mkdir(ctx, 0755) == 0 && mkdir(sub, 0755) == 0 && mkdir(outside, 0755) == 0);
	write_file(file, "x");
	ASSERT_TRUE(symlink("../outside", link) == 0);

	struct context_opts o = {.kaniko_dir = tmpl};
	cleanup_err struct kiln_err *err = NULL;
	cleanup_free char *dir = NULL;
	ASSERT_OK(context_resolve(ctx, &o, &dir, &err), err);
	ASSERT_STREQ(dir, ctx);

	o.sub_path = "/sub/";
	cleanup_free char *d2 = NULL;
	cleanup_free char *want = xasprintf("dir://%s", ctx);
	ASSERT_OK(context_resolve(want, &o, &d2, &err), err);
	ASSERT_STREQ(d2, sub);

	/* a symlink inside the context must not lead the sub path out of it */
	o.sub_path = "escape";
	cleanup_free char *d3 = NULL;
	ASSERT_FAIL(context_resolve(ctx, &o, &d3, &err));
	ASSERT_TRUE(strstr(kiln_err_msg(err), "outside the build context") != NULL);
	err = kiln_err_free(err);

	o.sub_path = "file";
	ASSERT_FAIL(context_resolve(ctx, &o, &d3, &err));
	ASSERT_TRUE(strstr(kiln_err_msg(err), "is not a directory") != NULL);
	err = kiln_err_free(err);

	o.sub_path = "missing";
	ASSERT_FAIL(context_resolve(ctx, &o, &d3, &err));
	ASSERT_TRUE(strstr(kiln_err_msg(err), "context sub path 'missing'") != NULL);
	err = kiln_err_free(err);

	o.sub_path = NULL;
	ASSERT_FAIL(context_resolve("foo://bar", &o, &d3, &err));
	ASSERT_STREQ(kiln_err_msg(err), "unknown build context prefix provided, please use one of "
	                                "the following: gs://, dir://, tar://, s3://, git://, "
	                                "https://");
	ASSERT_TRUE(rm_rf(tmpl, NULL) >= 0);
}
