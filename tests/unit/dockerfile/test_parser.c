/* test_parser.c — the Dockerfile parser against BuildKit's parser test data (read from
 * ../shared/conformance) and against our own cases in tests/data/dockerfile. */
#include "harness.h"
#include "dockerfile/dockerfile.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

/* sorted sub-directory names of dir, NULL when dir cannot be read */
static char **list_dirs(const char *dir)
{
	cleanup_strv char **v = NULL;
	DIR *d = opendir(dir);
	struct dirent *de;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		if (de->d_name[0] != '.')
			strv_push(&v, xstrdup(de->d_name));
	}
	closedir(d);
	size_t n = strv_length(v);
	for (size_t i = 1; i < n; i++) /* insertion sort: a few dozen names */
		for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
			char *t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return TAKE_PTR(v);
}

static int read_path(const char *dir, const char *name, char **ret, size_t *ret_len)
{
	cleanup_free char *p = path_join(dir, name);
	cleanup_err struct kiln_err *err = NULL;
	return read_file_at(AT_FDCWD, p, LIMIT_DOCKERFILE + 1, ret, ret_len, &err);
}

/* prints the first differing line of two dumps */
static void note_diff(const char *name, const char *want, const char *got)
{
	int line = 1;
	while (*want && *want == *got) {
		line += *want == '\n';
		want++, got++;
	}
	const char *we = strchr(want, '\n'), *ge = strchr(got, '\n');
	test_note("%s: line %d differs:\n#   want ...%.*s\n#   got  ...%.*s", name, line,
	          we ? (int)(we - want) : (int)strlen(want), want,
	          ge ? (int)(ge - got) : (int)strlen(got), got);
}

/* 0 match, -1 mismatch or parse failure (reported) */
static int check_case(const char *dir, const char *name, bool expect_error_file)
{
	cleanup_free char *cdir = path_join(dir, name);
	cleanup_free char *df_text = NULL;
	cleanup_free char *want = NULL;
	size_t df_len = 0, want_len = 0;
	cleanup_dockerfile struct dockerfile *df = NULL;
	cleanup_err struct kiln_err *err = NULL;
	cleanup_buf struct kiln_buf got = KILN_BUF_INIT;
	cleanup_free char *path = path_join(name, "Dockerfile");

	if (read_path(cdir, "Dockerfile", &df_text, &df_len) < 0) {
		test_note("%s: cannot read Dockerfile", name);
		return -1;
	}
	if (expect_error_file && read_path(cdir, "error", &want, &want_len) >= 0) {
		/* own negative case: the exact message, path and line included */
		while (want_len > 0 && want[want_len - 1] == '\n')
			want[--want_len] = '\0';
		if (dockerfile_parse("Dockerfile", df_text, df_len, &df, &err) >= 0) {
			test_note("%s: parsed, expected error '%s'", name, want);
			return -1;
		}
		if (!streq(kiln_err_msg(err), want)) {
			test_note("%s: error '%s', expected '%s'", name, kiln_err_msg(err), want);
			return -1;
		}
		return 0;
	}
	if (read_path(cdir, "result", &want, &want_len) < 0) {
		test_note("%s: cannot read result", name);
		return -1;
	}
	if (dockerfile_parse(path, df_text, df_len, &df, &err) < 0) {
		test_note("%s: parse failed: %s", name, kiln_err_msg(err));
		return -1;
	}
	dockerfile_dump(df, &got);
	if (got.len != want_len || memcmp(got.ptr, want, want_len) != 0) {
		note_diff(name, want, got.ptr);
		return -1;
	}
	return 0;
}

TEST(buildkit_parser_testfiles)
{
	REQUIRE_SHARED();
	const char *shared = test_shared_dir();
	cleanup_free char *dir = path_join(shared, "buildkit/parser/testfiles");
	cleanup_strv char **cases = list_dirs(dir);
	int n = 0, ok = 0;
	strv_foreach (c, cases) {
		n++;
		ok += check_case(dir, c, false) == 0;
	}
	test_note("parser conformance: %d/%d", ok, n);
	ASSERT_TRUE(n >= 33);
	ASSERT_EQ(ok, n);
}

TEST(buildkit_parser_negative)
{
	REQUIRE_SHARED();
	const char *shared = test_shared_dir();
	cleanup_free char *dir = path_join(shared, "buildkit/parser/testfiles-negative");
	cleanup_strv char **cases = list_dirs(dir);
	int n = 0, ok = 0;
	strv_foreach (c, cases) {
		cleanup_free char *cdir = path_join(dir, c);
		cleanup_free char *text = NULL;
		size_t len = 0;
		cleanup_dockerfile struct dockerfile *df = NULL;
		cleanup_err struct kiln_err *err = NULL;
		n++;
		if (read_path(cdir, "Dockerfile", &text, &len) < 0) {
			test_note("%s: cannot read Dockerfile", c);
			continue;
		}
		if (dockerfile_parse("Dockerfile", text, len, &df, &err) < 0) {
			ok++;
			/* every error names the file and a line */
			if (!startswith(kiln_err_msg(err), "Dockerfile:")) {
				test_note("%s: message without path: '%s'", c, kiln_err_msg(err));
				ok--;
			}
		} else {
			test_note("%s: parsed, expected failure", c);
		}
	}
	test_note("parser negative: %d/%d rejected", ok, n);
	ASSERT_TRUE(n >= 4);
	ASSERT_EQ(ok, n);
}

TEST(buildkit_parser_line_numbers)
{
	REQUIRE_SHARED();
	const char *shared = test_shared_dir();
	cleanup_free char *dir = path_join(shared, "buildkit/parser/testfile-line");
	cleanup_free char *text = NULL;
	size_t len = 0;
	cleanup_dockerfile struct dockerfile *df = NULL;
	cleanup_err struct kiln_err *err = NULL;
	static const int want[][2] = {{5, 5}, {11, 12}, {17, 31}};

	ASSERT_TRUE(read_path(dir, "Dockerfile", &text, &len) >= 0);
	ASSERT_OK(dockerfile_parse("Dockerfile", text, len, &df, &err), err);
	ASSERT_EQ(df->n_instrs, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		ASSERT_EQ(df->instrs[i].start_line, want[i][0]);
		ASSERT_EQ(df->instrs[i].end_line, want[i][1]);
	}
	/* the root spans from its first instruction to its last */
	ASSERT_EQ(df->instrs[0].start_line, 5);
	ASSERT_EQ(df->instrs[df->n_instrs - 1].end_line, 31);
	test_note("line numbers: %zu/3 instructions match", df->n_instrs);
}

TEST(own_parser_cases)
{
	cleanup_free char *dir = path_join(test_source_dir(), "tests/data/dockerfile");
	cleanup_strv char **cases = list_dirs(dir);
	int n = 0, ok = 0;
	strv_foreach (c, cases) {
		n++;
		ok += check_case(dir, c, true) == 0;
	}
	test_note("own parser cases: %d/%d", ok, n);
	ASSERT_TRUE(n >= 10);
	ASSERT_EQ(ok, n);
}

static int parse_str(const char *s, struct dockerfile **ret, struct kiln_err **err)
{
	return dockerfile_parse("Dockerfile", s, strlen(s), ret, err);
}

TEST(heredoc_fields)
{
	cleanup_dockerfile struct dockerfile *df = NULL;
	cleanup_err struct kiln_err *err = NULL;
	const char *text = "FROM busybox\n"
	                   "RUN <<EOF\n"
	                   "echo $HOME\n"
	                   "\n"
	                   "# not a comment\n"
	                   "EOF\n"
	                   "COPY <<-'END' 3<<\"two\" /dst\n"
	                   "\tindented\n"
	                   "\tEND\n"
	                   "second\n"
	                   "two\n"
	                   "RUN <<eo\\'f cat\n"
	                   "x\n"
	                   "eo'f\n"
	                   "RUN <<EO\"F\" cat && <<EMPTY cat\n"
	                   "EOF\n"
	                   "EMPTY\n"
	                   "ONBUILD RUN <<X\n"
	                   "y\n"
	                   "X\n"
	                   "RUN [\"<<NOT\"]\n"
	                   "USER <<NOPE\n";
	ASSERT_OK(parse_str(text, &df, &err), err);
	ASSERT_EQ(df->n_instrs, 8);

	const struct df_instr *r = &df->instrs[1];
	ASSERT_STREQ(r->cmd, "run");
	ASSERT_EQ(r->n_heredocs, 1);
	ASSERT_STREQ(r->heredocs[0].name, "EOF");
	ASSERT_STREQ(r->heredocs[0].content, "echo $HOME\n\n# not a comment\n");
	ASSERT_TRUE(r->heredocs[0].expand);
	ASSERT_FALSE(r->heredocs[0].chomp);
	ASSERT_EQ(r->heredocs[0].fd, -1);
	ASSERT_EQ(r->start_line, 2);
	ASSERT_EQ(r->end_line, 6);
	ASSERT_STREQ(r->args[0], "<<EOF");

	const struct df_instr *c = &df->instrs[2];
	ASSERT_STREQ(c->cmd, "copy");
	ASSERT_EQ(c->n_heredocs, 2);
	ASSERT_STREQ(c->heredocs[0].name, "END");
	ASSERT_FALSE(c->heredocs[0].expand);
	ASSERT_TRUE(c->heredocs[0].chomp);
	ASSERT_STREQ(c->heredocs[0].content, "\tindented\n"); /* tabs stay until execution */
	ASSERT_EQ(c->heredocs[0].fd, -1);
	ASSERT_STREQ(c->heredocs[1].name, "two");
	ASSERT_FALSE(c->heredocs[1].expand);
	ASSERT_FALSE(c->heredocs[1].chomp);
	ASSERT_EQ(c->heredocs[1].fd, 3);
	ASSERT_STREQ(c->heredocs[1].content, "second\n");
	ASSERT_EQ(c->end_line, 11);

	/* an escaped quote does not disable expansion */
	const struct df_instr *e = &df->instrs[3];
	ASSERT_EQ(e->n_heredocs, 1);
	ASSERT_STREQ(e->heredocs[0].name, "eo'f");
	ASSERT_TRUE(e->heredocs[0].expand);
	ASSERT_STREQ(e->heredocs[0].content, "x\n");

	const struct df_instr *m = &df->instrs[4];
	ASSERT_EQ(m->n_heredocs, 2);
	ASSERT_STREQ(m->heredocs[0].name, "EOF");
	ASSERT_FALSE(m->heredocs[0].expand);
	ASSERT_STREQ(m->heredocs[0].content, "");
	ASSERT_STREQ(m->heredocs[1].name, "EMPTY");
	ASSERT_TRUE(m->heredocs[1].expand);

	const struct df_instr *o = &df->instrs[5];
	ASSERT_STREQ(o->cmd, "onbuild");
	ASSERT_TRUE(o->sub != NULL);
	ASSERT_STREQ(o->sub->cmd, "run");
	ASSERT_EQ(o->n_heredocs, 1);
	ASSERT_STREQ(o->heredocs[0].content, "y\n");

	ASSERT_TRUE(df->instrs[6].json);
	ASSERT_EQ(df->instrs[6].n_heredocs, 0);
	ASSERT_STREQ(df->instrs[7].cmd, "user");
	ASSERT_EQ(df->instrs[7].n_heredocs, 0);
	ASSERT_STREQ(df->instrs[7].args[0], "<<NOPE");
}

TEST(heredoc_body_chomp)
{
	/* "<<-": leading tabs of every line go (BuildKit's ChompHeredocContent), spaces and
	 * inner tabs stay; "<<": the body as written */
	struct df_heredoc h = {.content = (char *)"\t\tone\n  \ttwo\n\t\n\tin\tner\n\n\tlast",
	                       .chomp = true};
	cleanup_free char *b = df_heredoc_body(&h);
	ASSERT_STREQ(b, "one\n  \ttwo\n\nin\tner\n\nlast");
	h.chomp = false;
	cleanup_free char *raw = df_heredoc_body(&h);
	ASSERT_STREQ(raw, h.content);
	struct df_heredoc empty = {.chomp = true};
	cleanup_free char *e = df_heredoc_body(&empty);
	ASSERT_STREQ(e, "");
}

TEST(heredoc_errors)
{
	cleanup_dockerfile struct dockerfile *df = NULL;
	cleanup_err struct kiln_err *err = NULL;
	ASSERT_FAIL(parse_str("FROM a\nRUN <<EOF\necho\n", &df, &err));
	ASSERT_STREQ(kiln_err_msg(err), "Dockerfile:2: unterminated heredoc 'EOF'");
	kiln_err_free(TAKE_PTR(err));
	/* an unterminated quote hides the heredoc, so the body is read as instructions */
	ASSERT_FAIL(parse_str("FROM a\nRUN <<'EOF\necho\n", &df, &err));
	ASSERT_STREQ(kiln_err_msg(err), "Dockerfile:3: unknown instruction: echo");
	kiln_err_free(TAKE_PTR(err));
	/* not heredocs: the next lines are instructions */
	ASSERT_OK(parse_str("FROM a\nRUN cat <<<EOF << <<-\nRUN x\n", &df, &err), err);
	ASSERT_EQ(df->n_instrs, 3);
	ASSERT_EQ(df->instrs[1].n_heredocs, 0);
}

TEST(fields_and_directives)
{
	cleanup_dockerfile struct dockerfile *df = NULL;
	cleanup_err struct kiln_err *err = NULL;
	const char *text = "# syntax=docker/dockerfile:1\n"
	                   "# check=skip=all\n"
	                   "#escape=`\n"
	                   "FROM --platform=$BUILDPLATFORM alpine AS b`\n"
	                   "  uild\n"
	                   "COPY --link --from=b a b\n"
	                   "ENV A=1 B=\"2 3\"\n"
	                   "CMD [\"a\", \"b\"]\n"
	                   "HEALTHCHECK --interval=5s CMD [\"true\"]\n"
	                   "RUN a \\\n";
	ASSERT_OK(parse_str(text, &df, &err), err);
	ASSERT_EQ(df->escape, '`');
	ASSERT_STREQ(df->syntax, "docker/dockerfile:1");
	ASSERT_STREQ(df->check, "skip=all");
	ASSERT_EQ(df->n_instrs, 6);
	const struct df_instr *f = &df->instrs[0];
	ASSERT_EQ(f->n_flags, 1);
	ASSERT_STREQ(f->flags[0].name, "platform");
	ASSERT_STREQ(f->flags[0].value, "$BUILDPLATFORM");
	/* the continuation keeps its leading spaces, so they split the words */
	ASSERT_EQ(strv_length(f->args), 4);
	ASSERT_STREQ(f->args[2], "b");
	ASSERT_STREQ(f->args[3], "uild");
	ASSERT_STREQ(f->original, "FROM --platform=$BUILDPLATFORM alpine AS b  uild");
	ASSERT_EQ(f->start_line, 4);
	ASSERT_EQ(f->end_line, 5);
	const struct df_instr *c = &df->instrs[1];
	ASSERT_EQ(c->n_flags, 2);
	ASSERT_STREQ(c->flags[0].name, "link");
	ASSERT_TRUE(c->flags[0].value == NULL);
	ASSERT_STREQ(c->flags[1].name, "from");
	ASSERT_STREQ(c->flags[1].value, "b");
	const struct df_instr *e = &df->instrs[2];
	ASSERT_EQ(e->n_args, 4);
	ASSERT_STREQ(e->args[0], "A");
	ASSERT_STREQ(e->args[1], "1");
	ASSERT_STREQ(e->args[2], "B");
	ASSERT_STREQ(e->args[3], "\"2 3\"");
	ASSERT_FALSE(e->legacy_kv);
	ASSERT_TRUE(df->instrs[3].json);
	const struct df_instr *h = &df->instrs[4];
	ASSERT_TRUE(h->json);
	ASSERT_STREQ(h->args[0], "CMD");
	ASSERT_STREQ(h->args[1], "true");
	/* the backslash is not the escape character here, so no continuation */
	ASSERT_STREQ(df->instrs[5].args[0], "a \\");
	ASSERT_TRUE(df->warnings == NULL);

	cleanup_dockerfile struct dockerfile *df2 = NULL;
	ASSERT_OK(parse_str("FROM a\nRUN a \\\n\n  b\n", &df2, &err), err);
	ASSERT_STREQ(df2->instrs[1].args[0], "a   b");
	ASSERT_EQ(strv_length(df2->warnings), 1);
	ASSERT_TRUE(strstr(df2->warnings[0], "Dockerfile:2:") != NULL);
}

TEST(parse_errors_name_path_and_line)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
	    {"FROM a\n\nRUNN x\n", "Dockerfile:3: unknown instruction: RUNN"},
	    {"FROM a\nENV PATH\n", "Dockerfile:2: ENV must have two arguments"},
	    {"FROM a\nLABEL a=b c\n",
	     "Dockerfile:2: LABEL syntax error - can't find = in 'c'. Must be of the form: "
	     "name=value"},
	    {"# escape=x\nFROM a\n",
	     "Dockerfile:1: invalid escape token 'x' does not match ` or \\"},
	    {"# escape=`\n# escape=`\nFROM a\n",
	     "Dockerfile:2: only one escape parser directive can be used"},
	    {"FROM a\nCMD [1]\n", "Dockerfile:2: cmd: JSON arguments must be an array of strings"},
	    {"FROM a\nONBUILD ONBUILD RUN x\n",
	     "Dockerfile:2: chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"},
	    {"FROM a\nONBUILD FOO x\n", "Dockerfile:2: unknown instruction: FOO"},
	    {"", "Dockerfile:1: file with no instructions"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_dockerfile struct dockerfile *df = NULL;
		cleanup_err struct kiln_err *err = NULL;
		ASSERT_FAIL(parse_str(cases[i].text, &df, &err));
		ASSERT_STREQ(kiln_err_msg(err), cases[i].msg);
	}
}

TEST(nul_byte_is_refused_with_its_line)
{
	/* a NUL byte anywhere (a word, a heredoc body, a comment) would truncate what follows */
	static const struct {
		const char text[48];
		size_t len;
		const char *msg;
	} cases[] = {
	    {"FROM a\nCOPY a\0b /c\n", 19, "Dockerfile:2: the Dockerfile holds a NUL byte"},
	    {"FROM a\nRUN <<EOF\nx\nEOF\0y\nEOF\n", 29,
	     "Dockerfile:4: the Dockerfile holds a NUL byte"},
	    {"# c\0\nFROM a\n", 12, "Dockerfile:1: the Dockerfile holds a NUL byte"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_dockerfile struct dockerfile *df = NULL;
		cleanup_err struct kiln_err *err = NULL;
		ASSERT_FAIL(dockerfile_parse("Dockerfile", cases[i].text, cases[i].len, &df, &err));
		ASSERT_STREQ(kiln_err_msg(err), cases[i].msg);
	}
}

TEST(size_cap)
{
	cleanup_dockerfile struct dockerfile *df = NULL;
	cleanup_err struct kiln_err *err = NULL;
	size_t n = LIMIT_DOCKERFILE + 1;
	cleanup_free char *big = xmalloc(n);
	memset(big, '#', n);
	ASSERT_FAIL(dockerfile_parse("Dockerfile", big, n, &df, &err));
}

TEST(quote_like_go)
{
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	const char in[] = "a\"\\\x01\x7f\xc2\xa0\xe2\x99\xa5\xef\xbb\xbf\xff\xf0\x9f\x98\x80\0";
	dockerfile_quote(in, sizeof(in) - 1, &b);
	ASSERT_STREQ(b.ptr, "\"a\\\"\\\\\\x01\\x7f\\u00a0♥\\ufeff\\xff😀\\x00\"");
}
