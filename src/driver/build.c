/* build.c — the build driver: Dockerfile → stages → base images (base.c) → instructions → final
 * image in the blob store, with the layer cache (stagecache.c), the stage roots and isolation
 * (isolation.c) and concurrent stages (sched.c). Each stage has its own root under
 * $KANIKO_DIR/stages/<n>/rootfs (or "/" in place). */
#include "build.h"
#include "driver.h"
#include "context/remote.h"
#include "dockerfile/dockerfile.h"
#include "fs/layer.h"
#include "instr/instr.h"
#include "kiln-config.h"
#include "plan/plan.h"
#include "registry/ref.h"
#include "sandbox/sandbox.h"
#include "shell/shell.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/timing.h"
#include "util/strmap.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <assert.h>
#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int build_resolve_context(const struct build_opts *o, char **ret, struct kiln_err **err)
{
	const char *c = o->context && *o->context ? o->context : "/workspace/";
	cleanup_free char *ua = xasprintf("kiln/%s", KILN_VERSION);
	struct context_opts co = {
	    .kaniko_dir = o->kaniko_dir,
	    .git_opts = o->git,
	    .sub_path = o->context_sub_path,
	    .ca_files = (const char *const *)o->ca_files,
	    .user_agent = ua,
	};
	return context_resolve(c, &co, ret, err);
}

/* kaniko: the path as given when it exists, else relative to the context */
static int find_dockerfile(struct builder *b, char **ret, struct kiln_err **err)
{
	const char *f = b->o->dockerfile && *b->o->dockerfile ? b->o->dockerfile : "Dockerfile";
	struct stat st;
	if (stat(f, &st) == 0 && S_ISREG(st.st_mode)) {
		*ret = xstrdup(f);
		return 0;
	}
	cleanup_free char *in_ctx = path_join(b->context, f);
	if (stat(in_ctx, &st) == 0 && S_ISREG(st.st_mode)) {
		*ret = TAKE_PTR(in_ctx);
		return 0;
	}
	return kiln_err_set(err, "please provide a valid path to a Dockerfile within the build "
	                         "context with --dockerfile");
}

/* may_stream: whether COPY may skip the root when nothing after it in this list reads it
 * (false for ONBUILD triggers, which the stage's own instructions follow) */
static int run_instructions(struct builder *b, struct stage *s, struct stage_cache *sc,
                            const struct plan_instr *instrs, size_t n, bool may_stream,
                            struct kiln_err **err)
{
	/* the last step that reads the root: the steps after it stream (found once, not per
	 * step: a Dockerfile's cost stays linear in its length) */
	size_t last_reader = 0;
	for (size_t l = n; l-- > 0;) {
		if (instr_needs_root(&instrs[l])) {
			last_reader = l + 1;
			break;
		}
	}
	for (size_t k = 0; k < n; k++) {
		const struct plan_instr *pi = &instrs[k];
		const struct df_instr *in = pi->in;
		log_info("%s", in->original);
		int64_t t0 = timing_now_ns();
		size_t layers_before = s->n_layers;
		s->nothing_reads_root = may_stream && !s->used_later && last_reader <= k + 1;
		int r = sc ? stage_cache_before_step(b, s, sc, pi, err) : 0;
		if (r < 0)
			return r;
		if (r > 0) {
			timing_record("step", s->index, in->original, timing_now_ns() - t0, 1,
			              s->n_layers > layers_before
			                  ? (int64_t)s->layers[s->n_layers - 1].size
			                  : -1);
			continue;
		}
		if (sc && !sc->root_ready && instr_needs_root(pi)) {
			r = stage_cache_unpack(b, s, sc, err);
			if (r < 0)
				return r;
		}
		switch (pi->kind) {
		case INSTR_RUN:
			r = instr_run(s, pi, err);
			break;
		case INSTR_COPY:
		case INSTR_ADD:
			r = instr_copy(s, pi, err);
			break;
		case INSTR_WORKDIR:
			r = instr_workdir(s, pi, err);
			break;
		case INSTR_FROM:
			r = kiln_err_set(err, "%s:%d: unexpected FROM", b->dockerfile_path,
			                 in->start_line);
			break;
		default:
			r = instr_meta(s, pi, err);
		}
		if (r < 0)
			return r;
		timing_record("step", s->index, in->original, timing_now_ns() - t0, 0,
		              s->n_layers > layers_before ? (int64_t)s->layers[s->n_layers - 1].size
		                                          : -1);
		if (sc)
			stage_cache_after_step(b, s, sc, pi, layers_before);
	}
	return 0;
}

/* ONBUILD triggers of the base image run first, then the base's OnBuild is cleared */
static int run_triggers(struct builder *b, struct stage *s, struct kiln_err **err)
{
	json_t *c = image_config_container(s->config);
	json_t *ob = json_object_get(c, "OnBuild");
	size_t n = json_array_size(ob);
	log_info("Executing %zu build triggers", n);
	if (!n)
		return 0;
	cleanup_buf struct kiln_buf text = KILN_BUF_INIT;
	size_t i;
	json_t *e;
	json_array_foreach(ob, i, e)
	{
		if (json_is_string(e))
			kiln_buf_addf(&text, "%s\n", json_string_value(e));
	}
	json_object_del(c, "OnBuild");
	struct dockerfile *tdf = NULL;
	int r = dockerfile_parse("ONBUILD trigger", text.ptr, text.len, &tdf, err);
	if (r < 0)
		return r;
	_cleanup_(plan_instrs_freep) struct plan_instr *pis = NULL;
	r = plan_instrs_parse(tdf, b->dockerfile_path, &pis, err);
	if (r >= 0)
		r = run_instructions(b, s, NULL, pis, tdf->n_instrs, false, err);
	dockerfile_free(tdf);
	return r;
}

static void apply_labels(struct builder *b, struct stage *s)
{
	json_t *c = image_config_container(s->config);
	strv_foreach (l, b->o->labels) {
		const char *eq = strchr(l, '=');
		if (!eq)
			continue;
		json_t *labels = json_object_get(c, "Labels");
		if (!json_is_object(labels)) {
			labels = json_object();
			json_object_set_new(c, "Labels", labels);
		}
		cleanup_free char *k = xstrndup(l, (size_t)(eq - l));
		json_object_set_new(labels, k, json_string(eq + 1));
	}
}

/* the stage's base: FROM's image expanded with the meta ARGs, then an earlier stage, scratch or
 * a registry image (its manifest and config; the layers come when the root is needed) */
static int stage_from(struct builder *b, struct stage *s, const struct df_instr *from, size_t idx,
                      bool last, struct stage **ret_parent, struct image_ref **ret_ref,
                      char *ret_digest, struct kiln_err **err)
{
	cleanup_free char *image = NULL;
	int parent_idx = -1;
	int r = plan_stage_base(b->plan, idx, &image, &parent_idx, err);
	if (r < 0)
		return r;
	struct stage *parent = parent_idx >= 0 ? b->stages[parent_idx] : NULL;
	*ret_parent = parent;
	int base_idx = -1;
	if (parent) {
		base_idx = parent->index;
		s->config = json_deep_copy(parent->config);
		s->format = parent->format;
		s->layers = xcalloc(parent->n_layers ? parent->n_layers : 1, sizeof(*s->layers));
		for (size_t i = 0; i < parent->n_layers; i++) {
			s->layers[i] = parent->layers[i];
			s->layers[i].media_type = xstrdup(parent->layers[i].media_type);
		}
		s->n_layers = parent->n_layers;
		/* BuildKit: a stage built FROM an earlier one starts with that stage's ARGs and
		 * their values (a bare `ARG NAME` keeps the value, a default may use it) */
		instr_args_inherit(s, parent->args);
	} else if (!strcasecmp(image, "scratch")) {
		s->config = image_config_new(b->o->custom_platform);
		s->format = IMAGE_DOCKER;
	} else {
		r = stage_from_registry(b, s, image, ret_ref, ret_digest, err);
		if (r < 0)
			return kiln_err_wrap(err, "%s:%d", b->dockerfile_path, from->start_line);
		if (last)
			b->final_base = image_ref_name(*ret_ref);
	}
	/* the stage's compression follows its base's format: zstd layers only in OCI images */
	b->scfg[idx].compression =
	    b->o->compression && streq(b->o->compression, "zstd") && s->format == IMAGE_OCI
	        ? FS_ZSTD
	        : FS_GZIP;
	log_info("Building stage '%s' [idx: '%zu', base-idx: '%d']", image, idx, base_idx);
	apply_labels(b, s);
	return 0;
}

/* unpacks the root now when a step or a later stage needs it (with --cache: when a step that
 * runs needs it); starts the stage's cache key */
static int stage_root(struct builder *b, struct stage *s, const struct plan_stage *src,
                      const struct stage *parent, const struct image_ref *ref,
                      const char *base_digest, struct stage_cache **ret_sc, struct kiln_err **err)
{
	bool need_root = s->used_later;
	const char *why = NULL;
	for (size_t k = 0; k < src->n_instrs && !need_root; k++) {
		if (instr_needs_root(&src->instrs[k])) {
			need_root = true;
			why = src->instrs[k].in->original;
		}
	}
	json_t *ob = json_object_get(image_config_container(s->config), "OnBuild");
	if (json_array_size(ob) > 0)
		need_root = true;
	struct stage_cache *sc =
	    stage_cache_start(b, s, parent, base_digest, ref, json_array_size(ob) > 0);
	*ret_sc = sc;
	if (need_root && sc && sc->lazy) {
		log_debug("Layer cache: the root is unpacked when a step that runs needs it");
	} else if (need_root) {
		if (why)
			log_info("Unpacking rootfs as cmd %s requires it.", why);
		return stage_unpack(b, s, ref, b->inplace, err);
	} else {
		log_info("Skipping unpacking as no commands require it.");
	}
	return 0;
}

/* the stage's last layer (--single-snapshot), the build args it used; in place, "/" back */
static int stage_end(struct builder *b, struct stage *s, const struct plan_stage *src, bool last,
                     struct kiln_err **err)
{
	if (s->cfg->single_snapshot && s->fsindex) {
		/* kaniko: one layer per stage, taken after its last instruction */
		const char *last_text = src->n_instrs ? src->instrs[src->n_instrs - 1].in->original
		                                      : src->from->in->original;
		int r = stage_snapshot(s, last_text, err);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&b->lock);
	strv_foreach (u, s->used_build_args) {
		if (!strv_contains(b->used_build_args, u))
			strv_push(&b->used_build_args, xstrdup(u));
	}
	pthread_mutex_unlock(&b->lock);
	if (b->inplace && !last)
		return inplace_stage_done(b, s, src->used_later, err);
	return 0;
}

int build_stage(struct builder *b, size_t idx, bool last, struct kiln_err **err)
{
	const struct plan_stage *src = &b->plan->stages[idx];
	struct stage *s = b->stages[idx];
	assert(idx < b->n_stages);
	stage_begin(b, s, idx);
	struct stage *parent = NULL;
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	char base_digest[DIGEST_STRING_LEN + 1] = "";
	int r = stage_from(b, s, src->from->in, idx, last, &parent, &ref, base_digest, err);
	if (r < 0)
		return r;

	s->used_later = src->used_later;
	s->no_layers = !last && !b->inplace && !src->base_later;
	if (s->no_layers)
		log_info("Stage %zu is only read through COPY --from: its steps take no snapshots",
		         idx);
	struct stage_cache *sc = NULL;
	r = stage_root(b, s, src, parent, ref, base_digest, &sc, err);
	if (r >= 0 && s->cfg->single_snapshot && s->rootfd >= 0)
		r = stage_index_sync(s, err);
	if (r >= 0)
		r = run_triggers(b, s, err);
	if (r < 0)
		return r;
	r = run_instructions(b, s, sc, src->instrs, src->n_instrs, true, err);
	if (r >= 0 && sc && !sc->root_ready && s->used_later)
		r = stage_cache_unpack(b, s, sc, err); /* a later stage reads this root */
	if (sc && sc->ref)
		sc->ref = image_ref_free(sc->ref);
	if (r < 0)
		return r;
	return stage_end(b, s, src, last, err);
}

static int finish_image(struct builder *b, struct stage *s, struct build_result *ret,
                        struct kiln_err **err)
{
	json_t *cfg = s->config;
	cleanup_free char *created = image_time_now(b->o->reproducible, b->source_date_epoch);
	json_object_set_new(cfg, "created", json_string(created));
	if (b->o->reproducible) {
		json_object_del(cfg, "container");
		json_object_del(cfg, "docker_version");
		json_object_del(cfg, "hostname");
	}
	cleanup_free char *cfg_body = kjson_dump(cfg);
	size_t cfg_len = strlen(cfg_body);
	int r = blobstore_put(b->bs, cfg_body, cfg_len, ret->config_digest, err);
	if (r < 0)
		return r;
	ret->config_size = cfg_len;
	ret->format = s->format;
	ret->manifest =
	    manifest_build(s->format, ret->config_digest, cfg_len, s->layers, s->n_layers);
	ret->manifest_len = strlen(ret->manifest);
	r = blobstore_put(b->bs, ret->manifest, ret->manifest_len, ret->manifest_digest, err);
	if (r < 0)
		return r;
	ret->layers = xcalloc(s->n_layers ? s->n_layers : 1, sizeof(*ret->layers));
	for (size_t i = 0; i < s->n_layers; i++) {
		ret->layers[i] = s->layers[i];
		ret->layers[i].media_type = xstrdup(s->layers[i].media_type);
	}
	ret->n_layers = s->n_layers;
	ret->base_name = TAKE_PTR(b->final_base);
	if (b->cached_digests) {
		ret->cache_name = xstrdup(b->cache_repo);
		ret->cached_digests = strv_dup(b->cached_digests);
	}
	return 0;
}

static void builder_release(struct builder *b)
{
	stage_cache_release(b);
	for (size_t i = 0; b->created && i < b->n_stages; i++)
		free(b->created[i]);
	free(b->created);
	free(b->scfg);
	for (size_t i = 0; i < b->n_stages; i++)
		stage_free(b->stages[i]);
	free(b->stages);
	for (size_t i = 0; i < b->n_images; i++)
		stage_free(b->images[i]);
	free(b->images);
	dockerfile_free(b->df);
	free(b->dockerfile_path);
	free(b->context);
	free(b->stages_tmpfs);
	free(b->resolv_conf);
	free(b->hosts);
	free(b->final_base);
	ignore_list_free(b->ignore);
	dockerignore_free(b->dockerignore);
	plan_free(b->plan);
	strv_free(b->used_build_args);
}

/* the images COPY --from names (the plan's list): like kaniko, each pulled and unpacked before
 * any stage runs (in chroot mode under $KANIKO_DIR/stages/image-<n>; in place as well, since
 * "/" belongs to the stages) */
static int pull_copy_images(struct builder *b, struct kiln_err **err)
{
	const struct plan *p = b->plan;
	b->images = xcalloc(p->n_copy_images ? p->n_copy_images : 1, sizeof(*b->images));
	for (size_t i = 0; i < p->n_copy_images; i++) {
		const char *v = p->copy_images[i].ref;
		struct stage *img = xcalloc(1, sizeof(*img));
		img->rootfd = -1;
		img->index = -1;
		img->name = xstrdup(v);
		b->images[b->n_images++] = img;
		img->root = xasprintf("%s/stages/image-%zu/rootfs", b->o->kaniko_dir, i);
		_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
		int r = stage_from_registry(b, img, v, &ref, NULL, err);
		if (r >= 0)
			r = stage_unpack(b, img, ref, false, err);
		if (r < 0)
			return kiln_err_wrap(err, "%s:%d: COPY --from='%s'", b->dockerfile_path,
			                     p->copy_images[i].pi->in->start_line, v);
	}
	return 0;
}

/* the context (resolved, fetched when remote), the Dockerfile (read and parsed), its
 * .dockerignore and SOURCE_DATE_EPOCH */
static int builder_load(struct builder *b, struct kiln_err **err)
{
	int r = build_resolve_context(b->o, &b->context, err);
	if (r < 0)
		return r;
	cleanup_free char *path = NULL;
	r = find_dockerfile(b, &path, err);
	if (r < 0)
		return r;
	cleanup_free char *text = NULL;
	size_t len = 0;
	r = read_file_at(AT_FDCWD, path, LIMIT_DOCKERFILE, &text, &len, err);
	if (r < 0)
		return r;
	const char *base = strrchr(path, '/');
	b->dockerfile_path = xstrdup(base ? base + 1 : path);
	r = dockerignore_load(b->context, path, &b->dockerignore, err);
	if (r < 0)
		return r;
	r = dockerfile_parse(b->dockerfile_path, text, len, &b->df, err);
	if (r < 0)
		return r;
	b->source_date_epoch = fs_source_date_epoch(err);
	if (b->source_date_epoch < 0)
		return kiln_err_wrap(err, "SOURCE_DATE_EPOCH");
	return 0;
}

static void warn_unused_build_args(struct builder *b)
{
	strv_foreach (a, b->plan->build_args) {
		cleanup_free char *k = xstrndup(a, strcspn(a, "="));
		if (!strv_contains(b->used_build_args, k) && !instr_is_proxy_arg(k) &&
		    !plan_meta_var(b->plan, k, strlen(k)))
			log_warn("[Warning] One or more build-args [%s] were not consumed", k);
	}
}

/* --cleanup: leave the container ready for another build (the blob store stays) */
static int build_cleanup(struct builder *b, struct kiln_err **err)
{
	log_info("Deleting filesystem...");
	if (b->inplace) {
		cleanup_close int rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0)
			return kiln_err_errno(err, "open /");
		int r = inplace_wipe(rootfd, b->ignore, err);
		if (r < 0)
			return r;
	}
	cleanup_free char *stages = path_join(b->o->kaniko_dir, "stages");
	if (b->stages_tmpfs)
		return sandbox_private_tmpfs_remove(stages, err);
	return rm_rf(stages, err);
}

int build_run(const struct build_opts *o, struct blobstore *bs, struct registry *reg,
              struct build_result *ret, struct kiln_err **err)
{
	_cleanup_(builder_release) struct builder b = {
	    .o = o, .bs = bs, .reg = reg, .lock = PTHREAD_MUTEX_INITIALIZER};
	int r = check_options(o, err);
	if (r >= 0)
		r = builder_load(&b, err);
	if (r >= 0)
		r = choose_isolation(&b, err);
	if (r < 0)
		return r;
	cleanup_strv char **build_args = plan_build_args(o->build_args, getenv);
	struct plan_opts po = {
	    .build_args = build_args,
	    .target = o->target,
	    .platform = o->custom_platform,
	    .skip_unused_stages = o->skip_unused_stages,
	};
	r = plan_new(b.df, b.dockerfile_path, &po, &b.plan, err);
	if (r >= 0)
		r = prepare_run_files(&b, err);
	if (r < 0)
		return r;
	b.used_build_args =
	    strv_dup(b.plan->used_build_args ? b.plan->used_build_args : (char *[]){NULL});
	size_t target = b.plan->target;
	log_info("Built cross stage deps: map[]");
	b.n_stages = b.plan->n_graph;
	b.stages = xcalloc(b.n_stages, sizeof(*b.stages));
	for (size_t i = 0; i <= target; i++) {
		struct stage *st = xcalloc(1, sizeof(*st));
		st->rootfd = -1;
		st->index = (int)i;
		st->name = b.plan->stages[i].name ? xstrdup(b.plan->stages[i].name) : NULL;
		b.stages[i] = st;
		if (b.plan->stages[i].skipped) {
			log_info("Skipping stage %zu: the target does not use it", i);
			st->skipped = true;
		}
	}
	stage_config_setup(&b);
	r = stage_cache_setup(&b, err);
	if (r < 0)
		return r;
	r = pull_copy_images(&b, err);
	if (r < 0)
		return r;
	r = build_stages(&b, target + 1, err);
	if (r < 0) {
		if (b.stages_tmpfs && sandbox_tmpfs_full(b.stages_tmpfs))
			log_warn(
			    "The stage roots' tmpfs at %s is full: --stage-storage=tmpfs:<size> "
			    "gives it more memory, --stage-storage=disk keeps the roots on disk",
			    b.stages_tmpfs);
		return r;
	}
	stage_cache_push_all(&b);
	warn_unused_build_args(&b);
	r = finish_image(&b, b.stages[target], ret, err);
	if (r < 0 || !o->cleanup)
		return r;
	return build_cleanup(&b, err);
}

void build_result_release(struct build_result *r)
{
	free(r->manifest);
	for (size_t i = 0; i < r->n_layers; i++)
		free(r->layers[i].media_type);
	free(r->layers);
	free(r->base_name);
	free(r->cache_name);
	strv_free(r->cached_digests);
	memset(r, 0, sizeof(*r));
}
