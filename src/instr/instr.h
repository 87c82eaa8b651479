/* instr.h — one stage as its instructions see it: an immutable configuration the driver builds
 * (struct stage_config) and the mutable state the steps change (struct stage), and one entry
 * point per instruction family (run.c, copy.c, workdir.c, meta.c), each given a typed
 * instruction of the plan (plan/plan.h: its kind, and its flags parsed and checked there).
 * Instructions never see the command line's options. */
#pragma once

#include "context/dockerignore.h"
#include "dockerfile/dockerfile.h"
#include "fs/layer.h"
#include "fs/snapshot.h"
#include "image/image.h"
#include "plan/plan.h"
#include "sandbox/ignore.h"
#include "sandbox/sandbox.h"
#include "util/blobstore.h"
#include "util/err.h"
#include "util/json.h"

#include <stdbool.h>

struct strmap;

/* what the driver decides before a stage's first step and no step changes: the build's choices
 * (one for all stages) and the stage's own (compression, created). Strings and lists are
 * borrowed from the driver, which outlives every stage. */
struct stage_config {
	struct blobstore *bs;
	bool reproducible;                       /* --reproducible: fixed layer timestamps */
	bool force_build_metadata;               /* --force-build-metadata: empty layers are kept */
	char **ca_files;                         /* extra CA files ADD <url> trusts */
	const char *context;                     /* context directory */
	const struct dockerignore *dockerignore; /* of the context, or NULL */
	const char *resolv_conf, *hosts;         /* files injected into RUN */
	char escape;                             /* the Dockerfile's escape character */
	const char *dockerfile_path;             /* as shown in messages */
	const char *platform;                    /* --custom-platform, normalised */
	const char *snapshot_mode;               /* "full", "redo" or "time" (validated) */
	/* --single-snapshot: steps commit nothing; the stage's one layer is taken at its end */
	bool single_snapshot;
	/* inplace isolation: the root is the container's "/" and ignore is never touched */
	bool inplace;
	struct ignore_list *ignore;
	int64_t source_date_epoch;    /* SOURCE_DATE_EPOCH, 0 when unset */
	char **build_args;            /* --build-arg values "K=V" */
	char **meta_args;             /* ARGs declared before the first FROM, resolved: "K=V" */
	const struct strmap *meta_ix; /* name -> index in meta_args */

	/* the stage's own, set by the driver once the base is known */
	enum fs_compression compression;
	int compression_level;
	const char *created; /* timestamp for history entries */
};

struct stage {
	const struct stage_config *cfg;
	int index;
	char *name; /* lower-case stage name, or NULL */
	char *root; /* absolute path of the stage root */
	int rootfd; /* -1 until the root is unpacked */
	json_t *config;
	enum image_format format;
	struct image_layer *layers; /* base layers then ours */
	size_t n_layers;

	char **args; /* declared ARGs visible in this stage: "K=V", or "K" when without value */
	size_t n_args, cap_args;
	struct strmap *arg_ix; /* ARG name -> index in args */
	/* ARG name -> 1 when the ARG was given a value after the last ENV of that name (in the
	 * stage or inherited from the base), 0 after an ENV: as in BuildKit, the later of ARG and
	 * ENV wins for expansion and RUN (the image's Env keeps the ENV) */
	struct strmap *arg_over_ix;
	/* config Env name -> index in env_ix_arr (a reference held), valid while that is the
	 * config's Env array and has env_ix_n entries: rebuilt otherwise */
	struct strmap *env_ix;
	json_t *env_ix_arr;
	size_t env_ix_n;
	char **used_build_args; /* names of build args some ARG consumed */
	bool cmd_set;           /* a CMD appeared in this stage */

	struct fs_index *fsindex; /* NULL until the first RUN needs it */
	bool index_stale;         /* something but RUN changed the root since the index was taken */
	/* set per step by the driver: nothing after this step reads the root (no later RUN,
	 * COPY, ADD or WORKDIR in the stage, no later stage reading this one) */
	bool nothing_reads_root;
	bool used_later; /* a later stage reads this one */
	bool skipped;    /* --skip-unused-stages: not built */
	/* nothing ever uses this stage's layers (not the target, no FROM names it; COPY --from
	 * reads its root): steps take no snapshots and write no layers */
	bool no_layers;

	/* earlier stages, for COPY --from (index or name) */
	struct stage **stages;
	size_t n_stages;
	/* images named by COPY --from=<reference>, unpacked before the build (name = reference) */
	struct stage **images;
	size_t n_images;
};

/* the environment used for expansion: config Env, then declared ARGs not shadowed by a later
 * ENV (an ARG declared after an ENV of its name wins) */
char **stage_expand_env(struct stage *s);
/* one variable of that environment (a shell_lookup_fn; ud is the stage), in O(1) */
const char *stage_var(void *ud, const char *name, size_t nl);
/* the config's Env array (created when missing), with s->env_ix in step with it */
json_t *stage_env_array(struct stage *s);
/* the stage's forgotten look-up maps (when it is freed) */
void stage_vars_release(struct stage *s);
/* HTTP_PROXY and friends, which need no ARG line */
bool instr_is_proxy_arg(const char *name);
/* expands one word with stage_expand_env; heap result */
int stage_expand(struct stage *s, const char *word, char **ret, struct kiln_err **err);
/* the directories a step that made the new names paths[0..n) (absolute in the root; sorted
 * here) made them in, when they are not new themselves ("/" aside), stamped now in the root:
 * a real filesystem (Docker's overlayfs, kaniko's root) gives them the step's time, and
 * Docker's layer holds them. NULL when none */
char **stage_touched_dirs(struct stage *s, const char **paths, size_t n);
/* appends a layer made of the listed paths (absolute in the root, sorted by the callee) and of
 * the directories they were made in (stage_touched_dirs), or an empty-layer history entry when
 * there are none and force_build_metadata is off */
int stage_commit_paths(struct stage *s, char **paths, const char *created_by,
                       struct kiln_err **err);
/* finishes lw and appends it as the stage's next layer with its history entry */
int stage_finish_layer(struct stage *s, struct layer_writer *lw, const char *created_by,
                       struct kiln_err **err);
/* snapshots what changed since the index was synced (RUN, ADD of archives) into a layer;
 * deferred under --single-snapshot */
int stage_commit_diff(struct stage *s, const char *created_by, struct kiln_err **err);
/* the same, now (the end of a --single-snapshot stage) */
int stage_snapshot(struct stage *s, const char *created_by, struct kiln_err **err);
/* makes sure s->index describes the root as it is now (built or refreshed) */
int stage_index_sync(struct stage *s, struct kiln_err **err);
/* records a metadata-only step in history */
void stage_commit_empty(struct stage *s, const char *created_by);
/* error prefix "Dockerfile:7: " */
int stage_err(struct stage *s, const struct df_instr *in, struct kiln_err **err);

/* each takes a typed instruction of the plan (its flags already checked there) */
int instr_run(struct stage *s, const struct plan_instr *pi, struct kiln_err **err);
int instr_copy(struct stage *s, const struct plan_instr *pi, struct kiln_err **err);
int instr_workdir(struct stage *s, const struct plan_instr *pi, struct kiln_err **err);
/* ENV ARG LABEL USER EXPOSE VOLUME CMD ENTRYPOINT SHELL STOPSIGNAL HEALTHCHECK ONBUILD
 * MAINTAINER */
int instr_meta(struct stage *s, const struct plan_instr *pi, struct kiln_err **err);
/* a stage built FROM an earlier one starts with that stage's ARGs ("K=V" or "K") */
void instr_args_inherit(struct stage *s, char *const *parent_args);
/* true when the instruction needs the unpacked root */
bool instr_needs_root(const struct plan_instr *pi);
