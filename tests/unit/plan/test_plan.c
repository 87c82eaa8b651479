/* test_plan.c — the build plan, table by table: instruction kinds and flags (good and bad, with
 * the exact error), meta-ARG scoping, target look-up, the stage graph, pruning, the FROM image
 * list and the COPY --from images. */
#include "harness.h"
#include "dockerfile/dockerfile.h"
#include "plan/plan.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <string.h>

struct planned {
	struct dockerfile *df;
	struct plan *p;
};

static void planned_release(struct planned *x)
{
	plan_free(x->p);
	dockerfile_free(x->df);
}

/* parses text as "Dockerfile" and plans it; the error message (allocated) or NULL */
static char *plan_text(const char *text, const struct plan_opts *o, struct planned *ret)
{
	cleanup_err struct kiln_err *err = NULL;
	static const struct plan_opts none = {0};
	*ret = (struct planned){0};
	if (dockerfile_parse("Dockerfile", text, strlen(text), &ret->df, &err) < 0 ||
	    plan_new(ret->df, "Dockerfile", o ? o : &none, &ret->p, &err) < 0)
		return xstrdup(kiln_err_msg(err));
	return NULL;
}

/* the instructions of text typed one by one (plan_instrs_parse): error or NULL */
static char *type_text(const char *text, struct dockerfile **ret_df, struct plan_instr **ret)
{
	cleanup_err struct kiln_err *err = NULL;
	*ret = NULL;
	if (dockerfile_parse("Dockerfile", text, strlen(text), ret_df, &err) < 0 ||
	    plan_instrs_parse(*ret_df, "Dockerfile", ret, &err) < 0)
		return xstrdup(kiln_err_msg(err));
	return NULL;
}

TEST(kinds)
{
	static const struct {
		const char *cmd;
		enum instr_kind kind;
	} cases[] = {
	    {"from", INSTR_FROM},   {"run", INSTR_RUN},         {"cmd", INSTR_CMD},
	    {"add", INSTR_ADD},     {"copy", INSTR_COPY},       {"workdir", INSTR_WORKDIR},
	    {"arg", INSTR_ARG},     {"onbuild", INSTR_ONBUILD}, {"healthcheck", INSTR_HEALTHCHECK},
	    {"shell", INSTR_SHELL}, {"env", INSTR_ENV},         {"maintainer", INSTR_MAINTAINER},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		enum instr_kind k;
		ASSERT_TRUE(instr_kind_of(cases[i].cmd, &k));
		ASSERT_EQ(k, cases[i].kind);
	}
	enum instr_kind k;
	ASSERT_FALSE(instr_kind_of("runn", &k));
	ASSERT_FALSE(instr_kind_of("RUN", &k)); /* the parser's cmd is lower-case */
}

/* good and bad flags: the exact error, NULL when the instructions are accepted */
TEST(flags_table)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
	    {"FROM --platform=linux/arm64 a\n", NULL},
	    {"FROM a\nFROM --foo=1 b\n", "Dockerfile:2: FROM --foo is not supported"},
	    {"FROM --platform=x --bar a\n", "Dockerfile:1: FROM --bar is not supported"},
	    {"FROM a\nRUN true\n", NULL},
	    {"FROM a\nRUN --mount=type=cache,target=/x true\n",
	     "Dockerfile:2: RUN --mount is not implemented yet in kiln"},
	    {"FROM a\nRUN --network=none --mount=x true\n",
	     "Dockerfile:2: RUN --network is not implemented yet in kiln"},
	    {"FROM a\nHEALTHCHECK --interval=5s --timeout=1m --retries=3 CMD true\n", NULL},
	    {"FROM a\nHEALTHCHECK --interval=bad CMD true\n",
	     "Dockerfile:2: invalid duration for --interval: 'bad'"},
	    {"FROM a\nHEALTHCHECK --start-period=-1s CMD true\n",
	     "Dockerfile:2: invalid duration for --start-period: '-1s'"},
	    {"FROM a\nHEALTHCHECK --retries=x CMD true\n",
	     "Dockerfile:2: invalid value for --retries: 'x'"},
	    {"FROM a\nHEALTHCHECK --retries=-1 CMD true\n",
	     "Dockerfile:2: invalid value for --retries: '-1'"},
	    /* only HEALTHCHECK CMD reads its flags */
	    {"FROM a\nHEALTHCHECK --interval=bad NONE\n", NULL},
	    /* COPY/ADD: parsed and checked by plan/copyspec, through the plan */
	    {"FROM a\nCOPY --from=b --chown=1 --chmod=644 x y\n", NULL},
	    {"FROM a\nCOPY --from=b --foo x y\n",
	     "Dockerfile:2: copy --foo is not implemented yet in kiln"},
	    {"FROM a\nCOPY --chmod=9 x y\n",
	     "Dockerfile:2: invalid --chmod value '9' (octal expected)"},
	    {"FROM a\nADD --parents x y\n",
	     "Dockerfile:2: add --parents is not implemented yet in kiln"},
	    /* an instruction without flags of its own keeps ignoring them (as before the plan) */
	    {"FROM a\nENV --foo A=1\n", NULL},
	    /* ONBUILD's instruction is checked when the trigger runs, not here */
	    {"FROM a\nONBUILD RUN --mount=x true\n", NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct dockerfile *df = NULL;
		_cleanup_(plan_instrs_freep) struct plan_instr *pis = NULL;
		cleanup_free char *e = type_text(cases[i].text, &df, &pis);
		dockerfile_free(df);
		if (!cases[i].err && e)
			test_fail(__FILE__, __LINE__, "case %zu: unexpected error '%s'", i, e);
		else if (cases[i].err && (!e || strcmp(e, cases[i].err) != 0))
			test_fail(__FILE__, __LINE__, "case %zu: error '%s', want '%s'", i,
			          e ? e : "(none)", cases[i].err);
		/* plan_new checks the same flags, with the same text, for the built stages */
		struct planned x;
		cleanup_free char *pe = plan_text(cases[i].text, NULL, &x);
		planned_release(&x);
		if ((e == NULL) != (pe == NULL) || (e && strcmp(e, pe) != 0))
			test_fail(__FILE__, __LINE__, "case %zu: plan_new says '%s', typing '%s'",
			          i, pe ? pe : "(none)", e ? e : "(none)");
	}
}

TEST(flags_values)
{
	struct dockerfile *df = NULL;
	_cleanup_(plan_instrs_freep) struct plan_instr *pis = NULL;
	cleanup_free char *e = type_text(
	    "FROM --platform=linux/arm64 a AS Build\n"
	    "HEALTHCHECK --interval=5s --timeout=1m --start-interval=0s --retries=3 CMD x\n"
	    "COPY --from=build --chown=1 a b\n"
	    "ADD --from a b\n"
	    "COPY a b\n",
	    &df, &pis);
	_cleanup_(dockerfile_freep) _unused_ struct dockerfile *dfp = df;
	ASSERT_TRUE(e == NULL);
	ASSERT_EQ(pis[0].kind, INSTR_FROM);
	ASSERT_STREQ(pis[0].from.image, "a");
	ASSERT_STREQ(pis[0].from.name, "Build");
	ASSERT_STREQ(pis[0].from.platform, "linux/arm64");
	ASSERT_EQ(pis[1].kind, INSTR_HEALTHCHECK);
	ASSERT_EQ(pis[1].healthcheck.interval_ns, 5000000000LL);
	ASSERT_EQ(pis[1].healthcheck.timeout_ns, 60000000000LL);
	ASSERT_EQ(pis[1].healthcheck.start_period_ns, 0);
	ASSERT_EQ(pis[1].healthcheck.start_interval_ns, 0);
	ASSERT_EQ(pis[1].healthcheck.retries, 3);
	ASSERT_EQ(pis[2].kind, INSTR_COPY);
	ASSERT_TRUE(pis[2].copy.has_from);
	ASSERT_STREQ(pis[2].copy.from, "build");
	ASSERT_EQ(pis[3].kind, INSTR_ADD);
	ASSERT_TRUE(pis[3].copy.has_from); /* bare --from: no value */
	ASSERT_TRUE(pis[3].copy.from == NULL);
	ASSERT_FALSE(pis[4].copy.has_from);
	ASSERT_TRUE(pis[4].in == &df->instrs[4]);
	/* COPY/ADD carry their parsed spec */
	ASSERT_TRUE(pis[2].copy.spec != NULL);
	ASSERT_STREQ(pis[2].copy.spec->chown, "1");
	ASSERT_STREQ(pis[4].copy.spec->dest, "b");
}

/* flags of stages that are not built (after the target, or pruned) are not checked */
TEST(flags_only_built_stages)
{
	struct plan_opts o = {.target = "a", .skip_unused_stages = true};
	struct planned x;
	cleanup_free char *e = plan_text(
	    "FROM s AS unused\nRUN --mount=x true\nFROM s AS a\nFROM s\nRUN --mount=y true\n", &o,
	    &x);
	_cleanup_(planned_release) _unused_ struct planned xx = x;
	ASSERT_TRUE(e == NULL);
	ASSERT_TRUE(x.p->stages[0].skipped);
	struct planned y;
	o.skip_unused_stages = false;
	cleanup_free char *e2 =
	    plan_text("FROM s AS unused\nRUN --mount=x true\nFROM s AS a\n", &o, &y);
	_cleanup_(planned_release) _unused_ struct planned yy = y;
	ASSERT_STREQ(e2, "Dockerfile:2: RUN --mount is not implemented yet in kiln");
}

static const char *meta(const struct plan *p, const char *name)
{
	return plan_meta_var((void *)p, name, strlen(name));
}

TEST(meta_args_table)
{
	static const struct {
		const char *text;
		const char *build_args[3];
		const char *name, *want; /* want NULL: not a meta ARG */
	} cases[] = {
	    {"ARG A=1\nFROM x\n", {NULL}, "A", "1"},
	    {"ARG A=1\nFROM x\n", {"A=2", NULL}, "A", "2"},
	    /* an empty --build-arg does not beat a default, but sets an ARG without one */
	    {"ARG A=1\nFROM x\n", {"A=", NULL}, "A", "1"},
	    {"ARG A\nFROM x\n", {"A=", NULL}, "A", ""},
	    {"ARG A\nFROM x\n", {NULL}, "A", NULL},
	    /* a default reads the meta ARGs before it, the platform ones included */
	    {"ARG A=1\nARG B=${A}-2\nFROM x\n", {NULL}, "B", "1-2"},
	    {"ARG A=1\nARG B=${A}-2\nFROM x\n", {"A=9", NULL}, "B", "9-2"},
	    {"ARG B=${TARGETARCH}\nFROM x\n", {NULL}, "B", "arm64"},
	    /* a later redeclaration replaces the value */
	    {"ARG A=1\nARG A=2\nFROM x\n", {NULL}, "A", "2"},
	    /* ARGs after the first FROM are the stage's, not meta ARGs */
	    {"FROM x\nARG A=1\n", {NULL}, "A", NULL},
	    {"FROM x\n", {NULL}, "TARGETPLATFORM", "linux/arm64"},
	    {"FROM x\n", {NULL}, "TARGETVARIANT", ""},
	    {"FROM x\n", {NULL}, "BUILDOS", "linux"},
	    {"FROM x\n", {NULL}, "BUILDARCH", "riscv64"},
	    {"FROM x\n", {NULL}, "BUILDPLATFORM", "linux/riscv64"},
	    /* a platform ARG can be overridden like any other */
	    {"ARG TARGETOS=plan9\nFROM x\n", {NULL}, "TARGETOS", "plan9"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct plan_opts o = {.build_args = (char *const *)cases[i].build_args,
		                      .platform = "linux/arm64/v8",
		                      .build_platform = "linux/riscv64"};
		struct planned x;
		cleanup_free char *e = plan_text(cases[i].text, &o, &x);
		_cleanup_(planned_release) _unused_ struct planned xx = x;
		if (e) {
			test_fail(__FILE__, __LINE__, "case %zu: %s", i, e);
			continue;
		}
		const char *got = meta(x.p, cases[i].name);
		if ((got == NULL) != (cases[i].want == NULL) ||
		    (got && strcmp(got, cases[i].want) != 0))
			test_fail(__FILE__, __LINE__, "case %zu: %s is '%s', want '%s'", i,
			          cases[i].name, got ? got : "(unset)",
			          cases[i].want ? cases[i].want : "(unset)");
	}
}

TEST(meta_args_used_and_errors)
{
	const char *args[] = {"A=1", "B=2", NULL};
	struct plan_opts o = {.build_args = (char *const *)args};
	struct planned x;
	cleanup_free char *e = plan_text("ARG A\nFROM x\nARG B\n", &o, &x);
	_cleanup_(planned_release) _unused_ struct planned xx = x;
	ASSERT_TRUE(e == NULL);
	/* B is consumed by the stage's ARG when it runs: the plan only knows the meta ones */
	ASSERT_EQ(strv_length(x.p->used_build_args), 1);
	ASSERT_STREQ(x.p->used_build_args[0], "A");

	static const struct {
		const char *text, *err;
	} bad[] = {
	    {"ENV A=1\nFROM x\n",
	     "Dockerfile:1: env instruction before the first FROM: only ARG may come before FROM"},
	    {"ARG A=1\n", "Dockerfile: no FROM instruction: the Dockerfile has no stages"},
	    {"ARG A=${B:?needed}\nFROM x\n", "Dockerfile:1: B: needed"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct planned y;
		cleanup_free char *be = plan_text(bad[i].text, NULL, &y);
		planned_release(&y);
		if (!be || strcmp(be, bad[i].err) != 0)
			test_fail(__FILE__, __LINE__, "case %zu: error '%s', want '%s'", i,
			          be ? be : "(none)", bad[i].err);
	}
}

TEST(plan_build_args_lookup)
{
	const char *given[] = {"A=1", "B", "C", "A=2", NULL};
	cleanup_strv char **v = plan_build_args((char *const *)given, NULL);
	ASSERT_STREQ(strv_env_get(v, "A"), "2");
	ASSERT_STREQ(strv_env_get(v, "B"), "");
	ASSERT_EQ(strv_length(v), 3);
}

TEST(target_table)
{
	static const char df[] = "FROM a AS base\nFROM b AS Build\nFROM c\n";
	static const struct {
		const char *target;
		long want; /* -1: error */
	} cases[] = {
	    {NULL, 2},
	    {"", 2},
	    {"base", 0},
	    {"build", 1},
	    {"BUILD", 1},
	    /* by name only, as kaniko: an index is not a target */
	    {"0", -1},
	    {"nope", -1},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct plan_opts o = {.target = cases[i].target};
		struct planned x;
		cleanup_free char *e = plan_text(df, &o, &x);
		_cleanup_(planned_release) _unused_ struct planned xx = x;
		if (cases[i].want < 0) {
			cleanup_free char *want =
			    xasprintf("Error finding target stage: %s is not a "
			              "valid target build stage",
			              cases[i].target);
			if (!e || strcmp(e, want) != 0)
				test_fail(__FILE__, __LINE__, "case %zu: error '%s'", i,
				          e ? e : "(none)");
			continue;
		}
		if (e) {
			test_fail(__FILE__, __LINE__, "case %zu: %s", i, e);
			continue;
		}
		ASSERT_EQ(x.p->target, cases[i].want);
		ASSERT_EQ(x.p->n_graph, cases[i].want + 1);
		ASSERT_EQ(x.p->n_stages, 3);
	}
}

/* a stage's reads as a string "0,2" and its flags as letters: a (reads_any), u (used_later),
 * b (base_later), n (needed), s (skipped) */
static char *describe(const struct plan_stage *st)
{
	cleanup_free char *reads = xstrdup("");
	for (size_t k = 0; k < st->n_reads; k++) {
		char *r = xasprintf("%s%s%zu", reads, k ? "," : "", st->reads[k]);
		free(reads);
		reads = r;
	}
	return xasprintf("%s:%s%s%s%s%s", reads, st->reads_any ? "a" : "",
	                 st->used_later ? "u" : "", st->base_later ? "b" : "",
	                 st->needed ? "n" : "", st->skipped ? "s" : "");
}

TEST(graph_and_pruning_table)
{
	static const struct {
		const char *text, *target;
		const char *want[5]; /* per stage up to the target */
	} cases[] = {
	    /* FROM <stage> reads it as a base; COPY --from by name or index reads its root */
	    {"FROM a AS one\nFROM one AS two\nFROM b\nCOPY --from=0 x y\n",
	     NULL,
	     {":ubn", "0:s", "0:n"}},
	    {"FROM a AS one\nFROM b AS two\nCOPY --from=ONE x y\nFROM two\n",
	     NULL,
	     {":un", "0:ubn", "1:n"}},
	    /* a stage nobody reads is not needed, and skipped with --skip-unused-stages */
	    {"FROM a AS one\nFROM b AS two\nFROM c\nCOPY --from=two x y\n",
	     NULL,
	     {":s", ":un", "1:n"}},
	    /* COPY --from=$X may read any earlier stage */
	    {"FROM a AS one\nFROM b\nARG X=one\nCOPY --from=$X x y\n", NULL, {":un", ":an"}},
	    /* FROM with a meta ARG is expanded; an unexpandable one is any earlier stage */
	    {"ARG B=one\nFROM a AS one\nFROM ${B}\n", NULL, {":ubn", "0:n"}},
	    {"ARG B\nFROM a AS one\nFROM ${B:?unset}\n", NULL, {":ubn", ":an"}},
	    /* the graph stops at the target: later stages do not make earlier ones used */
	    {"FROM a AS one\nFROM b AS two\nFROM c\nCOPY --from=one x y\n", "two", {":s", ":n"}},
	    /* an image reference is not a stage */
	    {"FROM a\nCOPY --from=busybox:1 x y\n", NULL, {":n"}},
	    /* a name given twice: both stages of that name are read */
	    {"FROM a AS x\nFROM b AS x\nFROM c\nCOPY --from=x a b\n",
	     NULL,
	     {":un", ":un", "0,1:n"}},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct plan_opts o = {.target = cases[i].target, .skip_unused_stages = true};
		struct planned x;
		cleanup_free char *e = plan_text(cases[i].text, &o, &x);
		_cleanup_(planned_release) _unused_ struct planned xx = x;
		if (e) {
			test_fail(__FILE__, __LINE__, "case %zu: %s", i, e);
			continue;
		}
		for (size_t k = 0; k < x.p->n_graph; k++) {
			cleanup_free char *got = describe(&x.p->stages[k]);
			if (!cases[i].want[k] || strcmp(got, cases[i].want[k]) != 0)
				test_fail(__FILE__, __LINE__, "case %zu stage %zu: '%s', want '%s'",
				          i, k, got,
				          cases[i].want[k] ? cases[i].want[k] : "(none)");
		}
		if (cases[i].want[x.p->n_graph])
			test_fail(__FILE__, __LINE__, "case %zu: %zu stages planned, more wanted",
			          i, x.p->n_graph);
	}
}

/* without --skip-unused-stages nothing is skipped, what is needed is still known */
TEST(pruning_off)
{
	struct planned x;
	cleanup_free char *e = plan_text("FROM a AS one\nFROM b\n", NULL, &x);
	_cleanup_(planned_release) _unused_ struct planned xx = x;
	ASSERT_TRUE(e == NULL);
	ASSERT_FALSE(x.p->stages[0].needed);
	ASSERT_FALSE(x.p->stages[0].skipped);
	ASSERT_TRUE(x.p->stages[1].needed);
}

TEST(from_images_table)
{
	static const struct {
		const char *text;
		const char *build_args[2];
		const char *want; /* the images joined by ' ', or "!<error>" */
	} cases[] = {
	    {"FROM a\nFROM b AS x\nFROM x\nFROM scratch\nFROM SCRATCH\nFROM a\n", {NULL}, "a b"},
	    {"ARG BASE=debian\nFROM ${BASE} AS build\nFROM build\n", {NULL}, "debian"},
	    {"ARG BASE=debian\nFROM ${BASE} AS build\nFROM build\n",
	     {"BASE=busybox", NULL},
	     "busybox"},
	    /* an empty --build-arg leaves the default, as in the build */
	    {"ARG BASE=debian\nFROM ${BASE}\n", {"BASE=", NULL}, "debian"},
	    /* defaults may use earlier meta ARGs and the platform ARGs */
	    {"ARG REPO=r\nARG IMG=${REPO}/img:${TARGETARCH}\nFROM $IMG\n", {NULL}, "r/img:s390x"},
	    /* stage names are case-insensitive, as the build reads them */
	    {"FROM a AS Build\nFROM build\n", {NULL}, "a"},
	    /* an ARG inside a stage does not parameterise a later FROM */
	    {"FROM a\nARG X=b\nFROM c${X}\n", {NULL}, "a c"},
	    {"FROM a\nARG X=b\nFROM ${X}\n",
	     {NULL},
	     "!Dockerfile:3: FROM names an empty image (is an ARG unset?)"},
	    {"ARG X\nFROM ${X:?unset}\n", {NULL}, "!Dockerfile:2: X: unset"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct plan_opts o = {.build_args = (char *const *)cases[i].build_args,
		                      .platform = "linux/s390x",
		                      .images_only = true};
		struct planned x;
		cleanup_free char *e = plan_text(cases[i].text, &o, &x);
		_cleanup_(planned_release) _unused_ struct planned xx = x;
		if (e) {
			test_fail(__FILE__, __LINE__, "case %zu: %s", i, e);
			continue;
		}
		cleanup_err struct kiln_err *err = NULL;
		cleanup_strv char **images = NULL;
		cleanup_free char *got = NULL;
		if (plan_from_images(x.p, &images, &err) < 0) {
			got = xasprintf("!%s", kiln_err_msg(err));
		} else {
			got = xstrdup("");
			strv_foreach (img, images) {
				char *n = xasprintf("%s%s%s", got, *got ? " " : "", img);
				free(got);
				got = n;
			}
		}
		if (strcmp(got, cases[i].want) != 0)
			test_fail(__FILE__, __LINE__, "case %zu: '%s', want '%s'", i, got,
			          cases[i].want);
	}
}

TEST(stage_base)
{
	struct planned x;
	cleanup_free char *e =
	    plan_text("ARG V=3\nFROM alpine:${V} AS One\nFROM one\nFROM 0\nFROM\n", NULL, &x);
	_cleanup_(planned_release) _unused_ struct planned xx = x;
	ASSERT_TRUE(e == NULL);
	cleanup_err struct kiln_err *err = NULL;
	cleanup_free char *a = NULL, *b = NULL, *c = NULL;
	int parent = 7;
	ASSERT_OK(plan_stage_base(x.p, 0, &a, &parent, &err), err);
	ASSERT_STREQ(a, "alpine:3");
	ASSERT_EQ(parent, -1);
	ASSERT_OK(plan_stage_base(x.p, 1, &b, &parent, &err), err);
	ASSERT_STREQ(b, "one");
	ASSERT_EQ(parent, 0);
	/* FROM <index> is an image name, as in the build */
	ASSERT_OK(plan_stage_base(x.p, 2, &c, &parent, &err), err);
	ASSERT_EQ(parent, -1);
	cleanup_free char *d = NULL;
	ASSERT_FAIL(plan_stage_base(x.p, 3, &d, &parent, &err));
	ASSERT_STREQ(kiln_err_msg(err), "Dockerfile:5: FROM requires an image");
}

TEST(copy_images_table)
{
	static const struct {
		const char *text;
		const char *want; /* images joined by ' ' with their line, or "!<error>" */
	} cases[] = {
	    {"FROM a AS one\nFROM b\nCOPY --from=one x y\nCOPY --from=0 x y\n", ""},
	    {"FROM a\nCOPY --from=img:1 x y\nADD --from=img:1 x y\nCOPY --from=other x y\n",
	     "img:1@2 other@4"},
	    /* values with $ are resolved when the step runs */
	    {"FROM a\nARG X=img\nCOPY --from=$X x y\n", ""},
	    {"FROM a AS me\nCOPY --from=me x y\n",
	     "!Dockerfile:2: COPY --from='me' names the stage it is in: circular dependency "
	     "detected on stage 0"},
	    {"FROM a\nCOPY --from=1 x y\nFROM b\n",
	     "!Dockerfile:2: COPY --from='1' names stage 1, which comes later in the Dockerfile: a "
	     "stage copies only from earlier stages"},
	    {"FROM a\nCOPY --from=Later x y\nFROM b AS later\n",
	     "!Dockerfile:2: COPY --from='Later' names stage 1, which comes later in the "
	     "Dockerfile: a stage copies only from earlier stages"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct planned x;
		cleanup_free char *e = plan_text(cases[i].text, NULL, &x);
		_cleanup_(planned_release) _unused_ struct planned xx = x;
		cleanup_free char *got = NULL;
		if (e) {
			got = xasprintf("!%s", e);
		} else {
			got = xstrdup("");
			for (size_t k = 0; k < x.p->n_copy_images; k++) {
				char *n = xasprintf("%s%s%s@%d", got, k ? " " : "",
				                    x.p->copy_images[k].ref,
				                    x.p->copy_images[k].pi->in->start_line);
				free(got);
				got = n;
			}
		}
		if (strcmp(got, cases[i].want) != 0)
			test_fail(__FILE__, __LINE__, "case %zu: '%s', want '%s'", i, got,
			          cases[i].want);
	}
}

TEST(stages_split)
{
	struct planned x;
	cleanup_free char *e =
	    plan_text("ARG A=1\nFROM a AS x\nRUN 1\nRUN 2\nFROM b\nCMD c\n", NULL, &x);
	_cleanup_(planned_release) _unused_ struct planned xx = x;
	ASSERT_TRUE(e == NULL);
	ASSERT_EQ(x.p->n_stages, 2);
	ASSERT_STREQ(x.p->stages[0].name, "x");
	ASSERT_EQ(x.p->stages[0].from->in->start_line, 2);
	ASSERT_EQ(x.p->stages[0].n_instrs, 2);
	ASSERT_EQ(x.p->stages[0].instrs[1].kind, INSTR_RUN);
	ASSERT_EQ(x.p->stages[0].instrs[1].in->start_line, 4);
	ASSERT_TRUE(x.p->stages[1].name == NULL);
	ASSERT_EQ(x.p->stages[1].n_instrs, 1);
	ASSERT_EQ(x.p->stages[1].instrs[0].kind, INSTR_CMD);
}
