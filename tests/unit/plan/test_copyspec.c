/* test_copyspec.c — COPY/ADD parsed once: flags (known per kind, --chmod's octal, first of
 * several wins), sources, destination and heredocs, with today's exact error texts. */
#include "harness.h"
#include "plan/copyspec.h"
#include "util/strv.h"

#include <stdio.h>
#include <stdlib.h>

/* parses a Dockerfile whose second instruction is the COPY/ADD under test */
static int spec_of(const char *instr, struct dockerfile **ret_df, struct copy_spec *ret,
                   struct kiln_err **err)
{
	char text[1024];
	snprintf(text, sizeof(text), "FROM scratch\n%s\n", instr);
	int r = dockerfile_parse("Dockerfile", text, strlen(text), ret_df, err);
	if (r < 0)
		return r;
	if ((*ret_df)->n_instrs < 2)
		return -1;
	return copy_spec_parse(&(*ret_df)->instrs[1], "Dockerfile", ret, err);
}

/* the instruction and the exact message it is refused with */
static const struct {
	const char *instr, *msg;
} bad[] = {
    {"COPY --foo a b", "Dockerfile:2: copy --foo is not implemented yet in kiln"},
    {"ADD --foo=1 a b", "Dockerfile:2: add --foo is not implemented yet in kiln"},
    {"COPY --checksum=sha256:00 a b",
     "Dockerfile:2: copy --checksum is not implemented yet in kiln"},
    {"ADD --parents a/./b c/", "Dockerfile:2: add --parents is not implemented yet in kiln"},
    {"COPY --keep-git-dir a b", "Dockerfile:2: copy --keep-git-dir is not implemented yet in kiln"},
    /* the first unknown flag is named, before --chmod is looked at */
    {"COPY --chmod=9 --nope --bad a b", "Dockerfile:2: copy --nope is not implemented yet in kiln"},
    {"COPY --chmod=9 a b", "Dockerfile:2: invalid --chmod value '9' (octal expected)"},
    {"COPY --chmod=10000 a b", "Dockerfile:2: invalid --chmod value '10000' (octal expected)"},
    {"COPY --chmod= a b", "Dockerfile:2: invalid --chmod value '' (octal expected)"},
    {"COPY --chmod=-1 a b", "Dockerfile:2: invalid --chmod value '-1' (octal expected)"},
    {"COPY --chmod=u+x a b", "Dockerfile:2: invalid --chmod value 'u+x' (octal expected)"},
    {"ADD --chmod=$MODE a b", "Dockerfile:2: invalid --chmod value '$MODE' (octal expected)"},
    /* the first --chmod counts, a valid later one does not save it */
    {"COPY --chmod=8 --chmod=644 a b", "Dockerfile:2: invalid --chmod value '8' (octal expected)"},
    {"COPY onlyone",
     "Dockerfile:2: COPY requires at least two arguments, but only one was provided. "
     "Destination could not be determined"},
    {"ADD --chown=1 onlyone",
     "Dockerfile:2: ADD requires at least two arguments, but only one was provided. "
     "Destination could not be determined"},
};

TEST(refused_with_todays_text)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cleanup_err struct kiln_err *err = NULL;
		cleanup_dockerfile struct dockerfile *df = NULL;
		_cleanup_(copy_spec_release) struct copy_spec sp = {0};
		int r = spec_of(bad[i].instr, &df, &sp, &err);
		if (r >= 0)
			test_note("accepted: %s", bad[i].instr);
		ASSERT_TRUE(r < 0);
		ASSERT_TRUE(err != NULL);
		ASSERT_STREQ(err->msg, bad[i].msg);
		/* nothing is handed out on failure */
		ASSERT_TRUE(sp.sources == NULL && sp.dest == NULL);
	}
}

TEST(copy_flags_parsed_once)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_dockerfile struct dockerfile *df = NULL;
	_cleanup_(copy_spec_release) struct copy_spec sp = {0};
	ASSERT_OK(spec_of("COPY --from=build --chown=${U}:g --chmod=0755 --link --parents "
	                  "--exclude=*.md --exclude --exclude=$X a/./b c* /dst/",
	                  &df, &sp, &err),
	          err);
	ASSERT_EQ(sp.kind, COPY_KIND_COPY);
	ASSERT_STREQ(copy_spec_name(&sp), "COPY");
	ASSERT_EQ(sp.line, 2);
	ASSERT_TRUE(sp.has_from);
	ASSERT_STREQ(sp.from, "build");
	ASSERT_STREQ(sp.chown, "${U}:g"); /* raw: expanded by the executor */
	ASSERT_TRUE(sp.chmod_set);
	ASSERT_EQ(sp.chmod, 0755);
	ASSERT_TRUE(sp.link);
	ASSERT_TRUE(sp.parents);
	ASSERT_FALSE(sp.has_checksum);
	ASSERT_EQ(strv_length(sp.excludes), 2); /* the bare one is dropped */
	ASSERT_STREQ(sp.excludes[0], "*.md");
	ASSERT_STREQ(sp.excludes[1], "$X");
	ASSERT_EQ(sp.n_sources, 2);
	ASSERT_EQ(strv_length(sp.sources), 2);
	ASSERT_STREQ(sp.sources[0], "a/./b");
	ASSERT_STREQ(sp.sources[1], "c*");
	ASSERT_STREQ(sp.dest, "/dst/");
	ASSERT_EQ(sp.n_heredocs, 0);
}

TEST(add_flags_and_defaults)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_dockerfile struct dockerfile *df = NULL;
	_cleanup_(copy_spec_release) struct copy_spec sp = {0};
	ASSERT_OK(
	    spec_of("ADD --checksum=sha256:abc --chown= --chmod http://h/x /y", &df, &sp, &err),
	    err);
	ASSERT_EQ(sp.kind, COPY_KIND_ADD);
	ASSERT_STREQ(copy_spec_name(&sp), "ADD");
	ASSERT_FALSE(sp.has_from);
	ASSERT_TRUE(sp.from == NULL);
	ASSERT_TRUE(sp.chown == NULL); /* empty: owners stay 0:0 */
	ASSERT_FALSE(sp.chmod_set);    /* bare --chmod is ignored */
	ASSERT_FALSE(sp.link);
	ASSERT_FALSE(sp.parents);
	ASSERT_TRUE(sp.excludes == NULL);
	ASSERT_TRUE(sp.has_checksum);
	ASSERT_STREQ(sp.checksum, "sha256:abc");
	ASSERT_EQ(sp.n_sources, 1);
	ASSERT_STREQ(sp.sources[0], "http://h/x");
	ASSERT_STREQ(sp.dest, "/y");
}

TEST(bare_flags_are_present_without_value)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_dockerfile struct dockerfile *df = NULL;
	_cleanup_(copy_spec_release) struct copy_spec sp = {0};
	/* the first of several counts: a bare first --from hides a later value */
	ASSERT_OK(spec_of("ADD --from --from=x --checksum a b", &df, &sp, &err), err);
	ASSERT_TRUE(sp.has_from);
	ASSERT_TRUE(sp.from == NULL);
	ASSERT_TRUE(sp.has_checksum);
	ASSERT_TRUE(sp.checksum == NULL);
}

TEST(parents_any_value_and_chmod_forms)
{
	static const struct {
		const char *instr;
		bool chmod_set;
		unsigned mode;
	} cases[] = {
	    {"COPY --parents=false --chmod=0 a b", true, 0},
	    {"COPY --parents --chmod=7777 a b", true, 07777},
	    {"COPY --parents --chmod=644 --chmod=9 a b", true, 0644},
	    {"COPY --parents --chmod --chmod=644 a b", false, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_err struct kiln_err *err = NULL;
		cleanup_dockerfile struct dockerfile *df = NULL;
		_cleanup_(copy_spec_release) struct copy_spec sp = {0};
		ASSERT_OK(spec_of(cases[i].instr, &df, &sp, &err), err);
		ASSERT_TRUE(sp.parents); /* given at all: any value counts, as today */
		ASSERT_EQ(sp.chmod_set, cases[i].chmod_set);
		ASSERT_EQ(sp.chmod, cases[i].mode);
	}
}

TEST(heredocs_keep_name_body_and_expansion)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_dockerfile struct dockerfile *df = NULL;
	_cleanup_(copy_spec_release) struct copy_spec sp = {0};
	ASSERT_OK(
	    spec_of("COPY <<-ONE <<'TWO' /etc/\n\tline $X\n\tONE\nraw $Y\nTWO", &df, &sp, &err),
	    err);
	ASSERT_EQ(sp.n_heredocs, 2);
	ASSERT_STREQ(sp.heredocs[0].name, "ONE");
	ASSERT_STREQ(sp.heredocs[0].body, "line $X\n"); /* "<<-": tabs gone, still raw */
	ASSERT_TRUE(sp.heredocs[0].expand);
	ASSERT_STREQ(sp.heredocs[1].name, "TWO");
	ASSERT_STREQ(sp.heredocs[1].body, "raw $Y\n");
	ASSERT_FALSE(sp.heredocs[1].expand);
	ASSERT_STREQ(sp.dest, "/etc/");
}

TEST(heredoc_alone_has_a_destination)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_dockerfile struct dockerfile *df = NULL;
	_cleanup_(copy_spec_release) struct copy_spec sp = {0};
	ASSERT_OK(spec_of("COPY <<EOF\nx\nEOF", &df, &sp, &err), err);
	ASSERT_EQ(sp.n_heredocs, 1);
	ASSERT_EQ(sp.n_sources, strv_length(sp.sources));
	ASSERT_STREQ(sp.dest, df->instrs[1].args[strv_length(df->instrs[1].args) - 1]);
}

TEST(json_form_words_kept_whole)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_dockerfile struct dockerfile *df = NULL;
	_cleanup_(copy_spec_release) struct copy_spec sp = {0};
	ASSERT_OK(spec_of("COPY --chown=1:2 [\"a b\", \"$C\", \"/d e/\"]", &df, &sp, &err), err);
	ASSERT_EQ(sp.n_sources, 2);
	ASSERT_STREQ(sp.sources[0], "a b");
	ASSERT_STREQ(sp.sources[1], "$C");
	ASSERT_STREQ(sp.dest, "/d e/");
	ASSERT_STREQ(sp.chown, "1:2");
}
