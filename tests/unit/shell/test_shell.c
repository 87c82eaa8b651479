/* test_shell.c — word expansion against BuildKit's envVarTest and wordsTest (read from
 * ../shared/conformance) and a table of our own for the forms those files do not cover. */
#include "harness.h"
#include "shell/shell.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

/* a heap env list from literals (-Wwrite-strings makes literals const) */
static char **mkenv(const char *const *src)
{
	char **v = xcalloc(1, sizeof(char *));
	for (; *src; src++)
		strv_push(&v, xstrdup(*src));
	return v;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static char *read_shared(const char *rel)
{
	const char *shared = test_shared_dir();
	char *data = NULL;
	size_t len = 0;
	cleanup_err struct kiln_err *err = NULL;
	if (!shared)
		return NULL;
	cleanup_free char *p = path_join(shared, rel);
	if (read_file_at(AT_FDCWD, p, LIMIT_SMALL_FILE, &data, &len, &err) < 0)
		return NULL;
	return data;
}

TEST(buildkit_env_var_test)
{
	REQUIRE_SHARED();
	cleanup_free char *data = read_shared("buildkit/shell/envVarTest");
	cleanup_strv char **env = NULL;
	int n = 0, ok = 0, skipped = 0, malformed = 0;

	ASSERT_TRUE(data != NULL);
	strv_push(&env, xstrdup("PWD=/home"));
	strv_push(&env, xstrdup("SHELL=bash"));
	strv_push(&env, xstrdup("KOREAN=한국어"));
	strv_push(&env, xstrdup("NULL="));

	for (char *save = NULL, *line = strtok_r(data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		char *t = trim(line);
		if (!*t)
			continue;
		char *f[3];
		char *p1 = strchr(t, '|'), *p2 = p1 ? strchr(p1 + 1, '|') : NULL;
		if (!p1 || !p2 || strchr(p2 + 1, '|')) {
			test_note("malformed line: %s", t);
			malformed++;
			continue;
		}
		*p1 = *p2 = '\0';
		f[0] = trim(t), f[1] = trim(p1 + 1), f[2] = trim(p2 + 1);
		if (streq(f[0], "W")) {
			skipped++;
			continue;
		}
		if (!streq(f[0], "A") && !streq(f[0], "U")) {
			test_note("bad platform '%s'", f[0]);
			malformed++;
			continue;
		}
		n++;
		cleanup_free char *got = NULL;
		cleanup_err struct kiln_err *err = NULL;
		int r = shell_expand_word(f[1], env, '\\', &got, &err);
		if (streq(f[2], "error")) {
			if (r < 0)
				ok++;
			else
				test_note("'%s': got '%s', expected an error", f[1], got);
		} else if (r < 0) {
			test_note("'%s': error '%s', expected '%s'", f[1], kiln_err_msg(err), f[2]);
		} else if (!streq(got, f[2])) {
			test_note("'%s': got '%s', expected '%s'", f[1], got, f[2]);
		} else {
			ok++;
		}
	}
	test_note("envVarTest: %d/%d (%d Windows-only lines skipped)", ok, n, skipped);
	ASSERT_EQ(malformed, 0);
	ASSERT_TRUE(n >= 228);
	ASSERT_EQ(ok, n);
}

TEST(buildkit_words_test)
{
	REQUIRE_SHARED();
	cleanup_free char *data = read_shared("buildkit/shell/wordsTest");
	cleanup_strv char **env = NULL;
	int n = 0, ok = 0, malformed = 0;

	ASSERT_TRUE(data != NULL);
	for (char *save = NULL, *line = strtok_r(data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		if (startswith(line, "ENV ")) {
			/* the value keeps its leading and trailing spaces */
			const char *kv = line + 3;
			while (*kv == ' ')
				kv++;
			strv_push(&env, xstrdup(kv));
			continue;
		}
		char *bar = strchr(line, '|');
		if (!bar || strchr(bar + 1, '|')) {
			test_note("malformed line: %s", line);
			malformed++;
			continue;
		}
		*bar = '\0';
		char *input = trim(line), *exp = bar + 1;
		while (*exp == ' ')
			exp++;
		cleanup_strv char **want = NULL;
		for (char *c = exp;;) {
			char *comma = strchr(c, ',');
			strv_push(&want, comma ? xstrndup(c, (size_t)(comma - c)) : xstrdup(c));
			if (!comma)
				break;
			c = comma + 1;
		}
		n++;
		cleanup_strv char **got = NULL;
		cleanup_err struct kiln_err *err = NULL;
		if (shell_expand_words(input, env, '\\', &got, &err) < 0) {
			strv_push(&got, xstrdup("error"));
		}
		bool same = strv_length(got) == strv_length(want);
		for (size_t i = 0; same && want[i]; i++)
			same = streq(got[i], want[i]);
		if (same) {
			ok++;
		} else {
			cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
			strv_foreach (g, got)
				kiln_buf_addf(&b, "[%s]", g);
			test_note("'%s': got %s, expected '%s'", input, b.ptr, exp);
		}
	}
	test_note("wordsTest: %d/%d", ok, n);
	ASSERT_EQ(malformed, 0);
	ASSERT_TRUE(n >= 24);
	ASSERT_EQ(ok, n);
}

/* the forms and options the conformance files do not exercise (FORMAT.md §8) */
static const struct {
	const char *in;
	char escape;
	const char *want; /* NULL: must fail */
} own_cases[] = {
    {"${P#*/}", '\\', "a/b/c.tar.gz"},
    {"${P##*/}", '\\', "c.tar.gz"},
    {"${P%.*}", '\\', "/a/b/c.tar"},
    {"${P%%.*}", '\\', "/a/b/c"},
    {"${P#/a}", '\\', "/b/c.tar.gz"},
    {"${P#x}", '\\', "/a/b/c.tar.gz"},
    {"${P%/*}", '\\', "/a/b"},
    {"${P%%/*}", '\\', ""},
    {"${P#?}", '\\', "a/b/c.tar.gz"},
    {"${P#\\/a}", '\\', "/b/c.tar.gz"},
    {"${S#\\*}", '\\', "x*"},
    {"${S%\\*}", '\\', "*x"},
    {"${UNSET#a}", '\\', ""},
    {"${P/b/X}", '\\', "/a/X/c.tar.gz"},
    {"${P//\\//_}", '\\', "_a_b_c.tar.gz"},
    {"${P//a/}", '\\', "//b/c.tr.gz"},
    {"${P/*./X}", '\\', "Xgz"},
    {"${P/nope/X}", '\\', "/a/b/c.tar.gz"},
    {"${K/국/-}", '\\', "한-어"},
    {"${K#?}", '\\', "국어"},
    {"${P/a}", '\\', NULL},
    {"${P:#a}", '\\', NULL},
    {"${P:%a}", '\\', NULL},
    {"${P#\\q}", '\\', NULL},
    {"${E:?}", '\\', NULL},
    {"${E?}", '\\', ""},
    {"${U?}", '\\', NULL},
    {"${U:?custom message}", '\\', NULL},
    {"${P:?x}", '\\', "/a/b/c.tar.gz"},
    {"${U-d}${E-d}${E:-d}", '\\', "dd"},
    {"${U+d}${E+d}${E:+d}${P:+d}", '\\', "dd"},
    {"${D}", '\\', "last"},
    /* a backtick escape character: '\' is then an ordinary character */
    {"a`$P\\b", '`', "a$P\\b"},
    {"\"`\"x`\"\"", '`', "\"x\""},
    {"c:\\dir\\$E", '`', "c:\\dir\\"},
    {"a`", '`', "a"},
    {"x", 'x', NULL},
};

TEST(own_expansion_table)
{
	static const char *const envs[] = {"P=/a/b/c.tar.gz", "S=*x*",  "E=", "K=한국어",
	                                   "D=first",         "D=last", NULL};
	cleanup_strv char **env = mkenv(envs);
	int ok = 0, n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(own_cases); i++) {
		cleanup_free char *got = NULL;
		cleanup_err struct kiln_err *err = NULL;
		int r = shell_expand_word(own_cases[i].in, env, own_cases[i].escape, &got, &err);
		const char *want = own_cases[i].want;
		n++;
		if (want ? r >= 0 && streq(got, want) : r < 0)
			ok++;
		else
			test_note("'%s': got %s '%s', expected '%s'", own_cases[i].in,
			          r < 0 ? "error" : "", r < 0 ? kiln_err_msg(err) : got,
			          want ? want : "an error");
	}
	test_note("own expansion cases: %d/%d", ok, n);
	ASSERT_EQ(ok, n);
}

TEST(error_messages)
{
	static const char *const envs[] = {"E=", NULL};
	cleanup_strv char **env = mkenv(envs);
	static const struct {
		const char *in, *msg;
	} cases[] = {
	    {"${U?}", "U: is not allowed to be unset"},
	    {"${E:?}", "E: is not allowed to be empty"},
	    {"${U:?give U a value}", "U: give U a value"},
	    {"${U", "syntax error: missing '}'"},
	    {"${}", "syntax error: bad substitution"},
	    {"'a", "unexpected end of statement while looking for matching single-quote"},
	    {"\"a", "unexpected end of statement while looking for matching double-quote"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_free char *got = NULL;
		cleanup_err struct kiln_err *err = NULL;
		ASSERT_FAIL(shell_expand_word(cases[i].in, env, '\\', &got, &err));
		ASSERT_STREQ(kiln_err_msg(err), cases[i].msg);
	}
}

TEST(words_split_expansions)
{
	static const char *const envs[] = {"X=a  b", NULL};
	cleanup_strv char **env = mkenv(envs);
	cleanup_strv char **w = NULL;
	cleanup_err struct kiln_err *err = NULL;
	ASSERT_OK(shell_expand_words("1${X}2 \"$X\" ${U:-c d} '' \"\"", env, '\\', &w, &err), err);
	/* empty quotes make no word: BuildKit never emits empty words */
	ASSERT_EQ(strv_length(w), 5);
	ASSERT_STREQ(w[0], "1a");
	ASSERT_STREQ(w[1], "b2");
	ASSERT_STREQ(w[2], "a  b");
	ASSERT_STREQ(w[3], "c");
	ASSERT_STREQ(w[4], "d");
}

TEST(word_limit)
{
	cleanup_free char *big = xmalloc(LIMIT_WORD / 4 + 3);
	memcpy(big, "V=", 2);
	memset(big + 2, 'x', LIMIT_WORD / 4);
	big[LIMIT_WORD / 4 + 2] = '\0';
	const char *const envs[] = {big, NULL};
	cleanup_strv char **env = mkenv(envs);
	cleanup_free char *got = NULL;
	cleanup_err struct kiln_err *err = NULL;
	ASSERT_OK(shell_expand_word("$V$V$V", env, '\\', &got, &err), err);
	ASSERT_EQ(strlen(got), 3 * (LIMIT_WORD / 4));
	free(TAKE_PTR(got));
	ASSERT_FAIL(shell_expand_word("$V$V$V$V$V", env, '\\', &got, &err));
}

/* ${a:-${a:-...}} 20,000 deep: an error, not a stack overflow; 100 levels still expand */
TEST(nesting_depth_limit)
{
	const char *const envs[] = {NULL};
	cleanup_strv char **env = mkenv(envs);
	size_t depth = 20000;
	cleanup_buf struct kiln_buf w = KILN_BUF_INIT;
	for (size_t i = 0; i < depth; i++)
		kiln_buf_adds(&w, i % 2 ? "\"${a:-" : "${a:-");
	kiln_buf_adds(&w, "x");
	for (size_t i = depth; i-- > 0;)
		kiln_buf_adds(&w, i % 2 ? "}\"" : "}");
	cleanup_free char *got = NULL;
	cleanup_err struct kiln_err *err = NULL;
	ASSERT_FAIL(shell_expand_word(w.ptr, env, '\\', &got, &err));
	ASSERT_STREQ(kiln_err_msg(err), "substitutions nested more than 100 levels deep");
	cleanup_strv char **words = NULL;
	cleanup_err struct kiln_err *err2 = NULL;
	ASSERT_FAIL(shell_expand_words(w.ptr, env, '\\', &words, &err2));

	kiln_buf_truncate(&w, 0);
	for (size_t i = 0; i < 100; i++)
		kiln_buf_adds(&w, "${a:-");
	kiln_buf_adds(&w, "x");
	for (size_t i = 0; i < 100; i++)
		kiln_buf_adds(&w, "}");
	cleanup_err struct kiln_err *err3 = NULL;
	ASSERT_OK(shell_expand_word(w.ptr, env, '\\', &got, &err3), err3);
	ASSERT_STREQ(got, "x");
}

/* a pattern of a million literal runes matches without a million-deep recursion */
TEST(long_pattern_is_not_deep)
{
	size_t n = LIMIT_WORD / 2;
	cleanup_free char *v = xmalloc(n + 3);
	memcpy(v, "V=", 2);
	memset(v + 2, 'a', n);
	v[n + 2] = '\0';
	const char *const envs[] = {v, NULL};
	cleanup_strv char **env = mkenv(envs);
	cleanup_buf struct kiln_buf w = KILN_BUF_INIT;
	kiln_buf_adds(&w, "${V#");
	for (size_t i = 0; i < n - 1; i++)
		kiln_buf_addch(&w, i % 2 ? '?' : 'a');
	kiln_buf_adds(&w, "}");
	cleanup_free char *got = NULL;
	cleanup_err struct kiln_err *err = NULL;
	ASSERT_OK(shell_expand_word(w.ptr, env, '\\', &got, &err), err);
	ASSERT_STREQ(got, "a");
	/* too many stars is "too complex", not a deep recursion */
	kiln_buf_truncate(&w, 0);
	kiln_buf_adds(&w, "${V#");
	for (size_t i = 0; i < 300; i++)
		kiln_buf_adds(&w, "*a");
	kiln_buf_adds(&w, "}");
	free(TAKE_PTR(got));
	cleanup_err struct kiln_err *err2 = NULL;
	ASSERT_FAIL(shell_expand_word(w.ptr, env, '\\', &got, &err2));
}
