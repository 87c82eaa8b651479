/* plan.h — the build plan, pure (no I/O): a parsed Dockerfile becomes typed instructions (a kind
 * and, for the instructions that take flags, those flags parsed once), stages, the meta ARGs
 * (declared before the first FROM, --build-arg, the BUILDPLATFORM/TARGETPLATFORM family), the
 * target, which stages the target needs (--skip-unused-stages), the stage graph (FROM <stage>,
 * COPY --from=<stage|index|image>) and the FROM images. The driver, the warmer and the cache
 * read it; COPY/ADD's own flags are parsed by plan/copyspec (their --from alone is read here,
 * for the graph). */
#pragma once

#include "dockerfile/dockerfile.h"
#include "plan/copyspec.h"
#include "util/err.h"
#include "util/macro.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum instr_kind {
	INSTR_FROM,
	INSTR_RUN,
	INSTR_CMD,
	INSTR_LABEL,
	INSTR_MAINTAINER,
	INSTR_EXPOSE,
	INSTR_ENV,
	INSTR_ADD,
	INSTR_COPY,
	INSTR_ENTRYPOINT,
	INSTR_VOLUME,
	INSTR_USER,
	INSTR_WORKDIR,
	INSTR_ARG,
	INSTR_ONBUILD,
	INSTR_STOPSIGNAL,
	INSTR_HEALTHCHECK,
	INSTR_SHELL,
};

/* the kind of a parser keyword ("from", "run": the parser's lower-case cmd); false for a word
 * the parser does not know (it refuses those itself) */
bool instr_kind_of(const char *cmd, enum instr_kind *ret);

struct plan_from {
	const char *image;    /* the word as written (args[0]), before ARG expansion; NULL: none */
	const char *name;     /* "AS <name>" as written, or NULL */
	const char *platform; /* --platform as written, or NULL (accepted, not used yet) */
};

/* HEALTHCHECK CMD's flags; 0 where a flag is absent or 0 (nothing set in the config) */
struct plan_healthcheck {
	int64_t interval_ns, timeout_ns, start_period_ns, start_interval_ns;
	long retries;
};

/* COPY/ADD: what the stage graph needs, and the whole instruction parsed by plan/copyspec */
struct plan_copy {
	bool has_from;    /* a --from flag is there (with or without a value) */
	const char *from; /* its value as written (may hold $VARs), or NULL */
	/* every flag parsed and checked, the raw words: for the instructions whose flags were
	 * checked (plan_instrs_parse; plan_new: the stages that are built), else NULL */
	struct copy_spec *spec;
};

struct plan_instr {
	enum instr_kind kind;
	const struct df_instr *in; /* the parse tree node: text for logs and history, args, line */
	union {
		struct plan_from from;
		struct plan_healthcheck healthcheck;
		struct plan_copy copy;
	};
};

/* types the instructions of a parsed Dockerfile (path is used in messages: "Dockerfile:7: RUN
 * --mount is not implemented yet in kiln"); every flag of RUN, FROM, HEALTHCHECK CMD, COPY and
 * ADD is checked. *ret (one entry per df->instrs[i], then one whose .in is NULL) points into df
 * and is freed with plan_instrs_free. */
int plan_instrs_parse(const struct dockerfile *df, const char *path, struct plan_instr **ret,
                      struct kiln_err **err);
void plan_instrs_free(struct plan_instr *v);
static inline void plan_instrs_freep(struct plan_instr **v)
{
	plan_instrs_free(*v);
}

/* one stage: FROM and the instructions after it */
struct plan_stage {
	const struct plan_instr *from;
	const struct plan_instr *instrs; /* after FROM */
	size_t n_instrs;
	const char *name; /* "AS <name>" as written, or NULL */
	/* the graph, for the stages up to the target (plan.n_graph); see plan_new */
	const size_t *reads; /* the earlier stages it reads (FROM, COPY --from), sorted */
	size_t n_reads;
	bool reads_any;  /* an unexpandable FROM or a COPY --from=$X: any earlier stage */
	bool used_later; /* a later stage (up to the target) reads this one */
	bool base_later; /* a later stage is built FROM this one */
	bool needed;     /* the target reads it, directly or not (or it is the target) */
	bool skipped;    /* --skip-unused-stages and not needed: not built */
};

struct plan_opts {
	char *const *build_args;    /* --build-arg, "K=V" each (see plan_build_args) */
	const char *target;         /* --target, NULL or "": the last stage */
	const char *platform;       /* TARGETPLATFORM; NULL: this machine's */
	const char *build_platform; /* BUILDPLATFORM; NULL: this machine's */
	bool skip_unused_stages;
	/* only what plan_from_images needs (the warmer): no flag checks, no COPY --from list */
	bool images_only;
};

struct plan_image {
	const char *ref; /* as written */
	const struct plan_instr *pi;
};

struct plan {
	const struct dockerfile *df; /* borrowed: outlives the plan */
	char *path;                  /* the Dockerfile as named in messages */
	struct plan_instr *instrs;   /* one per df->instrs[i] */
	struct plan_stage *stages;   /* every stage of the Dockerfile */
	size_t n_stages;
	size_t target;  /* index of the stage to build */
	size_t n_graph; /* target + 1: the stages the build looks at */
	/* the meta ARGs: the platform ARGs, then each ARG before the first FROM with its value
	 * ("K=V" each, NULL-terminated, an ARG without value left out) */
	char **meta_args;
	struct strmap *meta_ix; /* name -> index in meta_args */
	char **build_args;      /* the --build-arg list, "K=V" */
	char **used_build_args; /* names of the build args a meta ARG consumed */
	/* COPY --from values (stages up to the target) that name no stage: images to pull, each
	 * once, with the first instruction naming it */
	struct plan_image *copy_images;
	size_t n_copy_images;
	size_t *deps; /* storage of the stages' reads */
};

/* Splits df into stages, resolves the meta ARGs, finds the target ("Error finding target
 * stage: ..." when absent), builds the graph of the stages up to the target and marks what the
 * target needs. Checks the flags of every instruction of the stages that will be built, and
 * that no COPY --from names its own stage or a later one. Errors read as the build reports
 * them ("Dockerfile:3: ..."). */
int plan_new(const struct dockerfile *df, const char *path, const struct plan_opts *o,
             struct plan **ret, struct kiln_err **err);
struct plan *plan_free(struct plan *p);
DEFINE_FREEP(struct plan, plan_free)

/* the value of meta ARG name (nl bytes), or NULL; a shell_lookup_fn over the plan (ud) */
const char *plan_meta_var(void *ud, const char *name, size_t nl);

/* a stage's base as the build reads it: *ret_image the FROM word with the meta ARGs expanded
 * (allocated), *ret_parent the earlier stage of that name (case-insensitive) or -1. Errors:
 * "FROM requires an image", expansion errors, "FROM names an empty image (is an ARG unset?)" */
int plan_stage_base(const struct plan *p, size_t idx, char **ret_image, int *ret_parent,
                    struct kiln_err **err);

/* the images the FROM lines of every stage pull (earlier stages and scratch left out), in
 * order, each once: what the warmer caches */
int plan_from_images(const struct plan *p, char ***ret, struct kiln_err **err);

/* --build-arg values as the plan reads them: "K=V" as given, a bare "K" takes lookup(K) (the
 * environment) or "" */
char **plan_build_args(char *const *given, char *(*lookup)(const char *name));
