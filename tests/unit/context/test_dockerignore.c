/* test_dockerignore.c — .dockerignore parsing and matching (a table written from Docker's
 * documented rules), the descend-anyway test for walks, and the file lookup order. */
#include "context/dockerignore.h"
#include "harness.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct match_case {
	const char *patterns; /* the file's text */
	const char *path;
	bool excluded;
};

static const struct match_case match_cases[] = {
    /* plain names are anchored at the context root and cover what is below them */
    {"foo", "foo", true},
    {"foo", "foo/bar", true},
    {"foo", "foo/bar/baz", true},
    {"foo", "bar/foo", false},
    {"foo", "foobar", false},
    {"foo", "fo", false},
    {"foo/bar", "foo/bar", true},
    {"foo/bar", "foo/bar/x", true},
    {"foo/bar", "foo", false},
    {"foo/bar", "foo/baz", false},
    /* cleaning: leading '/', "./", trailing '/', ".", ".." */
    {"/foo/bar", "foo/bar", true},
    {"/foo", "foo/x", true},
    {"//foo", "foo", true},
    {"foo/", "foo/x", true},
    {"./foo", "foo", true},
    {"foo/./bar", "foo/bar", true},
    {"foo//bar", "foo/bar", true},
    {"foo/../bar", "bar", true},
    {"foo/../bar", "foo", false},
    {"foo/../bar", "foo/bar", false},
    {"../foo", "foo", false},
    {".", "foo", false},
    {"/", "foo", false},
    {"*/", "a/b", true},
    {"foo/**/", "foo/a", true},
    /* '*' and '?' stay inside one path element */
    {"*", "foo", true},
    {"*", "foo/bar", true},
    {"*", ".hidden", true},
    {"*.md", "README.md", true},
    {"*.md", "docs/README.md", false},
    {"a*b", "axxb", true},
    {"a*b", "ab", true},
    {"a*b", "a/b", false},
    {"*/temp*", "somedir/temporary.txt", true},
    {"*/temp*", "somedir/temp", true},
    {"*/temp*", "temp", false},
    {"*/temp*", "a/b/temp", false},
    {"*/*/temp*", "somedir/subdir/temporary.txt", true},
    {"*/*/temp*", "somedir/temporary.txt", false},
    {"temp?", "tempa", true},
    {"temp?", "temp", false},
    {"temp?", "tempab", false},
    {"a?b", "a/b", false},
    {"dir/*", "dir", false},
    {"dir/*", "dir/a/b", true},
    {"*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", false},
    {"*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", true},
    /* "**" crosses directories, including none */
    {"**/*.go", "main.go", true},
    {"**/*.go", "a/b/c.go", true},
    {"**/*.go", "a/b/c.goo", false},
    {"**", "anything/at/all", true},
    {"a/**", "a/b", true},
    {"a/**", "a/b/c", true},
    {"a/**", "a", false},
    {"a/**", "ab", false},
    {"a/**/b", "a/b", true},
    {"a/**/b", "a/x/y/b", true},
    {"a/**/b", "a/x/y/bc", false},
    {"a/**/b", "a/x/b/c", true},
    {"a/**/b", "x/a/b", false},
    {"**/node_modules", "node_modules", true},
    {"**/node_modules", "src/pkg/node_modules/x.js", true},
    {"**/node_modules", "src/my_node_modules", false},
    {"**/a/**", "x/a/y", true},
    {"**/a/**", "x/a", false},
    {"doc**", "docs/x", true},
    {"doc**", "do", false},
    /* Docker tests "**" followed by plain text as a suffix */
    {"**.go", "a/b/x.go", true},
    {"**.go", "a/b/x.gox", false},
    /* character classes: '^' negates, '!' is a member, ranges, escapes inside */
    {"[abc].txt", "b.txt", true},
    {"[abc].txt", "d.txt", false},
    {"[a-c]x", "bx", true},
    {"[a-c]x", "dx", false},
    {"[^a-c]x", "dx", true},
    {"[^a-c]x", "bx", false},
    {"[!a]x", "!x", true},
    {"[!a]x", "bx", false},
    {"[\\]]x", "]x", true},
    {"[\\-]x", "-x", true},
    {"[\\-]x", "ax", false},
    {"[a-cx-z]1", "y1", true},
    /* escapes outside classes */
    {"\\*", "*", true},
    {"\\*", "a", false},
    {"a\\?b", "a?b", true},
    {"a\\?b", "axb", false},
    {"\\[x]", "[x]", true},
    {"a]b", "a]b", true},
    /* runes, not bytes */
    {"\xe6\x97\xa5\xe6\x9c\xac*", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.txt", true},
    {"?.txt", "\xc3\xa9.txt", true},
    {"??.txt", "\xc3\xa9.txt", false},
    {"[\xc3\xa9]", "\xc3\xa9", true},
    {"[^\xc3\xa9]", "\xc3\xa8", true},
    /* exceptions and last-match-wins (Docker's documented examples) */
    {"*.md\n!README.md", "README.md", false},
    {"*.md\n!README.md", "CHANGES.md", true},
    {"*.md\n!README*.md\nREADME-secret.md", "README-secret.md", true},
    {"*.md\n!README*.md\nREADME-secret.md", "README-x.md", false},
    {"*.md\nREADME-secret.md\n!README*.md", "README-secret.md", false},
    {"*\n!src", "src/main.c", false},
    {"*\n!src", "docs/x", true},
    {"*\n!src\nsrc/gen", "src/gen/y", true},
    {"*\n!src\nsrc/gen", "src/genx", false},
    {"dir\n!dir/keep", "dir/keep/f", false},
    {"dir\n!dir/keep", "dir/keep", false},
    {"dir\n!dir/keep", "dir/other", true},
    {"dir\n!dir/keep", "dir", true},
    {"!dir/keep\ndir", "dir/keep", true},
    {"a/b\n!a", "a/b/c", false},
    {"!a\na/b", "a/b", true},
    {"!a\na/b", "a/c", false},
    {"**\n!**/*.c", "x/y/z.c", false},
    {"**\n!**/*.c", "x/y/z.h", true},
    {"*\n! foo", "foo", false},
    {"*\n!/foo/", "foo/x", false},
    /* Docker cleans the pattern a second time, so "/!x" turns into an exception */
    {"*\n/!x", "x", false},
    /* comments only in column 1; white space trimmed; CRLF; BOM; blank lines */
    {"# foo", "# foo", false},
    {"#foo\nbar", "bar", true},
    {" # foo", "# foo", true},
    {"  foo\t ", "foo", true},
    {"foo\r\nbar\r\n", "foo", true},
    {"foo\r\nbar\r\n", "bar", true},
    {"\xef\xbb\xbf"
     "foo",
     "foo", true},
    {"\n\n   \n\tfoo\n", "foo", true},
    {"\xc2\xa0"
     "foo"
     "\xe3\x80\x80",
     "foo", true},
    {"foo\n\n", "bar", false},
    {"", "foo", false},
};

TEST(match_table)
{
	size_t failed = 0;
	for (size_t i = 0; i < ARRAY_SIZE(match_cases); i++) {
		const struct match_case *c = &match_cases[i];
		cleanup_err struct kiln_err *err = NULL;
		_cleanup_(dockerignore_freep) struct dockerignore *di = NULL;
		if (dockerignore_parse(".dockerignore", c->patterns, strlen(c->patterns), &di,
		                       &err) < 0) {
			test_fail(__FILE__, __LINE__, "case %zu: parse: %s", i, kiln_err_msg(err));
			failed++;
			continue;
		}
		bool got = dockerignore_match(di, c->path);
		if (got != c->excluded) {
			test_fail(__FILE__, __LINE__,
			          "case %zu: patterns \"%s\" path \"%s\": got %s", i, c->patterns,
			          c->path, got ? "excluded" : "included");
			failed++;
		}
	}
	test_note("%zu match cases, %zu failed", ARRAY_SIZE(match_cases), failed);
}

struct error_case {
	const char *text;
	const char *msg; /* NULL: must parse */
};

static const struct error_case error_cases[] = {
    {"[a", "'.dockerignore':1: bad pattern '[a'"},
    {"foo\n# c\n[a\n", "'.dockerignore':3: bad pattern '[a'"},
    {"  [a  ", "'.dockerignore':1: bad pattern '[a'"},
    {"!", "'.dockerignore':1: illegal exclusion pattern '!'"},
    {"a\n  !  ", "'.dockerignore':2: illegal exclusion pattern '!'"},
    {"!/", "'.dockerignore':1: illegal exclusion pattern '!/'"},
    {"a\\", "'.dockerignore':1: bad pattern 'a\\'"},
    {"[]", "'.dockerignore':1: bad pattern '[]'"},
    {"[]a]", "'.dockerignore':1: bad pattern '[]a]'"},
    {"[-a]", "'.dockerignore':1: bad pattern '[-a]'"},
    {"[a-]", "'.dockerignore':1: bad pattern '[a-]'"},
    {"[^]", "'.dockerignore':1: bad pattern '[^]'"},
    {"[a-b-c]", "'.dockerignore':1: bad pattern '[a-b-c]'"},
    {"x[\\", "'.dockerignore':1: bad pattern 'x[\\'"},
    {"!*/[", "'.dockerignore':1: bad pattern '!*/['"},
    {"[\xff]", "'.dockerignore':1: bad pattern '[\xff]'"},
    {"[z-a]", "'.dockerignore':1: bad pattern '[z-a]'"},
    {"[a-a]", NULL},
    {"[!]", NULL},
    {"[^^]", NULL},
    {"]", NULL},
    {"a/**/b/**", NULL},
    {"#[a", NULL},
};

TEST(parse_errors)
{
	for (size_t i = 0; i < ARRAY_SIZE(error_cases); i++) {
		const struct error_case *c = &error_cases[i];
		cleanup_err struct kiln_err *err = NULL;
		_cleanup_(dockerignore_freep) struct dockerignore *di = NULL;
		int r = dockerignore_parse(".dockerignore", c->text, strlen(c->text), &di, &err);
		if (!c->msg) {
			if (r < 0)
				test_fail(__FILE__, __LINE__, "case %zu: \"%s\": %s", i, c->text,
				          kiln_err_msg(err));
			continue;
		}
		if (r >= 0) {
			test_fail(__FILE__, __LINE__, "case %zu: \"%s\" parsed", i, c->text);
			continue;
		}
		if (strcmp(kiln_err_msg(err), c->msg) != 0)
			test_fail(__FILE__, __LINE__, "case %zu: \"%s\" != \"%s\"", i,
			          kiln_err_msg(err), c->msg);
	}
}

TEST(path_for_msgs_named)
{
	cleanup_err struct kiln_err *err = NULL;
	struct dockerignore *di = NULL;
	ASSERT_FAIL(dockerignore_parse("ctx/Dockerfile.dockerignore", "ok\nbad[", 7, &di, &err));
	ASSERT_STREQ(kiln_err_msg(err), "'ctx/Dockerfile.dockerignore':2: bad pattern 'bad['");
	ASSERT_TRUE(di == NULL);
}

TEST(nul_bytes)
{
	/* a pattern with a NUL byte is kept (line numbers stay right) but matches nothing */
	static const char text[] = "a\0b\n[x";
	cleanup_err struct kiln_err *err = NULL;
	struct dockerignore *di = NULL;
	ASSERT_FAIL(dockerignore_parse(".dockerignore", text, sizeof(text) - 1, &di, &err));
	ASSERT_STREQ(kiln_err_msg(err), "'.dockerignore':2: bad pattern '[x'");

	static const char text2[] = "*\n!a\0\nb";
	_cleanup_(dockerignore_freep) struct dockerignore *d2 = NULL;
	ASSERT_OK(dockerignore_parse(".dockerignore", text2, sizeof(text2) - 1, &d2, &err), err);
	ASSERT_TRUE(dockerignore_match(d2, "a"));
	ASSERT_TRUE(dockerignore_match(d2, "b"));
	ASSERT_TRUE(dockerignore_has_exceptions(d2));
}

TEST(null_matches_nothing)
{
	ASSERT_FALSE(dockerignore_match(NULL, "foo"));
	ASSERT_FALSE(dockerignore_may_include_below(NULL, "foo"));
	ASSERT_FALSE(dockerignore_has_exceptions(NULL));
	ASSERT_TRUE(dockerignore_free(NULL) == NULL);
}

TEST(long_pattern)
{
	/* more tokens than the matcher keeps on its stack */
	cleanup_free char *pat = xmalloc(401);
	cleanup_free char *path = xmalloc(301);
	for (int i = 0; i < 100; i++)
		memcpy(pat + 4 * i, "a*?/", 4);
	pat[399] = '\0'; /* drop the last '/' */
	for (int i = 0; i < 100; i++)
		memcpy(path + 3 * i, "ab/", 3);
	path[299] = '\0';
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(dockerignore_freep) struct dockerignore *di = NULL;
	ASSERT_OK(dockerignore_parse(".dockerignore", pat, strlen(pat), &di, &err), err);
	ASSERT_TRUE(dockerignore_match(di, path));
	path[298] = '\0'; /* "...ab/a": '?' needs one more rune */
	ASSERT_FALSE(dockerignore_match(di, path));
}

struct below_case {
	const char *patterns;
	const char *dir;
	bool may;
};

static const struct below_case below_cases[] = {
    {"dir\n!dir/keep", "dir", true},
    {"dir\n!dir/keep", "other", false},
    /* the exception covers dir/keep itself: below it nothing differs from it */
    {"dir\n!dir/keep", "dir/keep", false},
    {"dir\n!dir/keep/x", "dir", true},
    {"dir\n!dir/keep/x", "dir/keep", true},
    {"dir\n!dir/keep/x", "dir/other", false},
    {"*\n!*/keep", "a", true},
    {"*\n!*/keep", "a/b", false},
    {"*\n!**/keep", "x/y", true},
    {"*\n!**/keep", "x", true},
    {"*\n!src", "docs", false},
    {"*\n!src", "src", false},
    {"*\n!a/b*", "a", true},
    {"*\n!a/b*", "ab", false},
    {"*\n![ab]/x", "b", true},
    {"*\n![ab]/x", "c", false},
    {"*\n!a**", "ab", true},
    {"dir", "dir", false},
    {"*.o", "dir", false},
};

TEST(may_include_below)
{
	for (size_t i = 0; i < ARRAY_SIZE(below_cases); i++) {
		const struct below_case *c = &below_cases[i];
		cleanup_err struct kiln_err *err = NULL;
		_cleanup_(dockerignore_freep) struct dockerignore *di = NULL;
		if (dockerignore_parse(".dockerignore", c->patterns, strlen(c->patterns), &di,
		                       &err) < 0) {
			test_fail(__FILE__, __LINE__, "case %zu: parse: %s", i, kiln_err_msg(err));
			continue;
		}
		bool got = dockerignore_may_include_below(di, c->dir);
		if (got != c->may)
			test_fail(__FILE__, __LINE__,
			          "case %zu: patterns \"%s\" dir \"%s\": got %d", i, c->patterns,
			          c->dir, got);
	}
}

/* a fresh temporary directory, removed by tmpdir_freep */
static char *tmpdir_new(void)
{
	const char *base = getenv("TMPDIR");
	char *t = xasprintf("%s/kiln-dockerignore-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(t)) {
		free(t);
		return NULL;
	}
	return t;
}

static void tmpdir_freep(char **p)
{
	if (*p)
		rm_rf(*p, NULL);
	free(*p);
}

static int put(const char *dir, const char *rel, const char *content)
{
	cleanup_free char *p = path_join(dir, rel);
	return write_file_atomic(p, content, strlen(content), 0644, NULL);
}

TEST(load_precedence)
{
	_cleanup_(tmpdir_freep) char *ctx = tmpdir_new();
	ASSERT_TRUE(ctx != NULL);
	cleanup_err struct kiln_err *err = NULL;
	cleanup_free char *sub = path_join(ctx, "sub");
	ASSERT_OK(mkdir_p(sub, 0755, &err), err);
	cleanup_free char *df = path_join(ctx, "sub/Dockerfile");
	ASSERT_OK(put(ctx, "sub/Dockerfile", "FROM scratch\n"), err);

	/* neither file: nothing ignored */
	struct dockerignore *di = (struct dockerignore *)1;
	ASSERT_OK(dockerignore_load(ctx, df, &di, &err), err);
	ASSERT_TRUE(di == NULL);

	/* the context's file */
	ASSERT_OK(put(ctx, ".dockerignore", "from-context\n"), err);
	_cleanup_(dockerignore_freep) struct dockerignore *d1 = NULL;
	ASSERT_OK(dockerignore_load(ctx, df, &d1, &err), err);
	ASSERT_TRUE(d1 != NULL);
	ASSERT_TRUE(dockerignore_match(d1, "from-context"));
	ASSERT_FALSE(dockerignore_match(d1, "from-dockerfile"));

	/* without a Dockerfile path, the context's file */
	_cleanup_(dockerignore_freep) struct dockerignore *d2 = NULL;
	ASSERT_OK(dockerignore_load(ctx, NULL, &d2, &err), err);
	ASSERT_TRUE(dockerignore_match(d2, "from-context"));

	/* <dockerfile>.dockerignore wins over the context's file */
	ASSERT_OK(put(ctx, "sub/Dockerfile.dockerignore", "from-dockerfile\n"), err);
	_cleanup_(dockerignore_freep) struct dockerignore *d3 = NULL;
	ASSERT_OK(dockerignore_load(ctx, df, &d3, &err), err);
	ASSERT_TRUE(dockerignore_match(d3, "from-dockerfile"));
	ASSERT_FALSE(dockerignore_match(d3, "from-context"));

	/* only beside the Dockerfile: the context has none */
	cleanup_free char *cignore = path_join(ctx, ".dockerignore");
	ASSERT_EQ(unlink(cignore), 0);
	_cleanup_(dockerignore_freep) struct dockerignore *d4 = NULL;
	ASSERT_OK(dockerignore_load(ctx, df, &d4, &err), err);
	ASSERT_TRUE(dockerignore_match(d4, "from-dockerfile"));

	/* a Dockerfile path whose directory does not exist falls through to the context */
	ASSERT_OK(put(ctx, ".dockerignore", "from-context\n"), err);
	cleanup_free char *nodir = path_join(ctx, "sub/Dockerfile/nope");
	_cleanup_(dockerignore_freep) struct dockerignore *d5 = NULL;
	ASSERT_OK(dockerignore_load(ctx, nodir, &d5, &err), err);
	ASSERT_TRUE(dockerignore_match(d5, "from-context"));
}

TEST(load_errors_name_file)
{
	_cleanup_(tmpdir_freep) char *ctx = tmpdir_new();
	ASSERT_TRUE(ctx != NULL);
	cleanup_err struct kiln_err *err = NULL;
	ASSERT_OK(put(ctx, ".dockerignore", "ok\n\n[bad\n"), err);
	struct dockerignore *di = NULL;
	ASSERT_FAIL(dockerignore_load(ctx, NULL, &di, &err));
	cleanup_free char *want = xasprintf("'%s/.dockerignore':3: bad pattern '[bad'", ctx);
	ASSERT_STREQ(kiln_err_msg(err), want);
	ASSERT_TRUE(di == NULL);

	/* a directory where the file should be is an error, not "no file" */
	cleanup_free char *d = path_join(ctx, "Dockerfile.dockerignore");
	ASSERT_OK(mkdir_p(d, 0755, &err), err);
	cleanup_free char *df = path_join(ctx, "Dockerfile");
	kiln_err_free(err);
	err = NULL;
	ASSERT_FAIL(dockerignore_load(ctx, df, &di, &err));
	ASSERT_TRUE(strstr(kiln_err_msg(err), "Dockerfile.dockerignore") != NULL);
}
