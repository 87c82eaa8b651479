/* driver.h — internal to driver: the driver's state shared by build.c (stages, base images,
 * scheduling) and stagecache.c (the layer cache's flow through a stage). */
#pragma once

#include "driver/opts.h"
#include "cache/cache.h"
#include "context/dockerignore.h"
#include "dockerfile/dockerfile.h"
#include "instr/instr.h"
#include "plan/plan.h"
#include "registry/ref.h"
#include "registry/registry.h"
#include "util/blobstore.h"
#include "util/err.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct builder {
	const struct build_opts *o;
	struct blobstore *bs;
	struct registry *reg;
	struct dockerfile *df;
	char *dockerfile_path; /* as shown in messages */
	char *context;
	char *resolv_conf, *hosts;
	struct plan *plan;      /* stages, meta ARGs, target, graph (over df) */
	char **used_build_args; /* of the meta ARGs (the plan's) and of every stage built */
	struct stage **stages;
	size_t n_stages;
	struct stage **images; /* COPY --from=<image reference>, kaniko's "extra stages" */
	size_t n_images;
	char *final_base;   /* registry/repo of the last stage's base image */
	bool inplace;       /* kaniko's model: the container's "/" is every stage's root */
	char *stages_tmpfs; /* $KANIKO_DIR/stages when the stage roots are in a tmpfs */
	struct ignore_list *ignore;
	struct dockerignore *dockerignore;
	/* --cache: the repository, each stage's key state, the entries to push at the end and
	 * the layers taken from the cache (for the final push) */
	char *cache_repo;
	struct stage_cache *scache;
	struct cache_pending stores;
	char **cached_digests;
	int64_t source_date_epoch;
	/* what every stage's configuration starts from (stage_config_setup), and each stage's
	 * own (its creation time in created[i], compression set once its base is known) */
	struct stage_config cfg;
	struct stage_config *scfg;
	char **created;
	/* independent stages build concurrently: the shared lists are used under this lock (the
	 * registry client is safe for concurrent use: its I/O runs without it) */
	pthread_mutex_t lock;
};

/* ---- stage.c ---- */

/* the options the build checks before it starts (the command line checked the rest) */
int check_options(const struct build_opts *o, struct kiln_err **err);
/* b->cfg, the configuration every stage starts from, and room for each stage's own */
void stage_config_setup(struct builder *b);
/* stage idx's configuration (b->cfg with its own creation time) and root */
void stage_begin(struct builder *b, struct stage *s, size_t idx);
void stage_free(struct stage *s);

/* ---- base.c ---- */

/* pulls the base image's manifest and config into s (format, layers, config); layers come
 * later, when the root is needed. ret_mdigest (may be NULL) gets the manifest digest. */
int stage_from_registry(struct builder *b, struct stage *s, const char *image,
                        struct image_ref **ret_ref, char *ret_mdigest, struct kiln_err **err);
/* unpacks the stage's layers into its root (pulling the missing ones from ref); in place, the
 * root is "/" and is not emptied first */
int stage_unpack(struct builder *b, struct stage *s, const struct image_ref *ref, bool inplace,
                 struct kiln_err **err);

/* ---- isolation.c ---- */

/* --isolation and --stage-storage: sets b->inplace, b->ignore, b->stages_tmpfs */
int choose_isolation(struct builder *b, struct kiln_err **err);
/* $KANIKO_DIR/run/resolv.conf and hosts, injected into every RUN */
int prepare_run_files(struct builder *b, struct kiln_err **err);
/* in place, after a stage that is not the last: its root kept aside when a later stage reads
 * it (used_later), then "/" wiped for the next */
int inplace_stage_done(struct builder *b, struct stage *s, bool used_later, struct kiln_err **err);

/* ---- build.c, sched.c ---- */

/* builds stage idx of the plan (last: the target) */
int build_stage(struct builder *b, size_t idx, bool last, struct kiln_err **err);
/* builds the plan's first n stages that are not skipped, concurrently where their reads allow */
int build_stages(struct builder *b, size_t n, struct kiln_err **err);

/* ---- stagecache.c: --cache through one stage ---- */

/* the driver's per-stage state of the layer cache */
struct stage_cache {
	char key[CACHE_KEY_LEN + 1];
	bool keyed;            /* key describes everything the stage did so far */
	bool looking;          /* no miss yet: look up the next cacheable step */
	bool lazy;             /* the root is unpacked only when a step that runs needs it */
	bool root_ready;       /* unpacked (or not lazy) */
	struct image_ref *ref; /* the base image, for a lazy unpack */
};

/* --cache: the cache repository and one stage_cache per stage (b->scache); nothing without */
int stage_cache_setup(struct builder *b, struct kiln_err **err);
/* the stage's first key, from its base: parent (a stage it is built FROM, or NULL), the base
 * image's manifest digest ("" for none) and ref (NULL for scratch or a stage). Stages whose
 * steps take no layers, a single snapshot or ONBUILD triggers (has_triggers) are built without
 * the cache. Returns the stage's cache state, NULL without --cache. */
struct stage_cache *stage_cache_start(struct builder *b, struct stage *s,
                                      const struct stage *parent, const char *base_digest,
                                      const struct image_ref *ref, bool has_triggers);
/* a lazily unpacked root, when the first step that runs needs it: the base layers and the
 * layers taken from the cache so far, in order (those fetched from the cache repository) */
int stage_cache_unpack(struct builder *b, struct stage *s, struct stage_cache *sc,
                       struct kiln_err **err);
/* before a step runs: extend the key; while nothing missed, look the step up. Returns 1 when
 * the cache served the step (its layer or empty entry is appended). */
int stage_cache_before_step(struct builder *b, struct stage *s, struct stage_cache *sc,
                            const struct plan_instr *pi, struct kiln_err **err);
/* after a cacheable step ran: its result is pushed under its key at the end */
void stage_cache_after_step(struct builder *b, struct stage *s, struct stage_cache *sc,
                            const struct plan_instr *pi, size_t layers_before);
/* the end of the build: every step that ran, under its key */
void stage_cache_push_all(struct builder *b);
void stage_cache_release(struct builder *b);
