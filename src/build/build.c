/* build.c — the build driver: Dockerfile → stages → base images → instructions → final image
 * in the blob store. Each stage has its own root under $KANIKO_DIR/stages/<n>/rootfs. */
#include "build.h"
#include "cache.h"
#include "context/remote.h"
#include "dockerfile/dockerfile.h"
#include "fs/extract.h"
#include "fs/layer.h"
#include "instr/instr.h"
#include "kiln-config.h"
#include "registry/ref.h"
#include "sandbox/sandbox.h"
#include "shell/shell.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/timing.h"
#include "util/strmap.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <assert.h>
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct builder {
	const struct build_opts *o;
	struct blobstore *bs;
	struct registry *reg;
	struct dockerfile *df;
	char *dockerfile_path; /* as shown in messages */
	char *context;
	char *resolv_conf, *hosts;
	char **meta_args;
	struct strmap *meta_ix; /* name -> index in meta_args */
	size_t *deps;           /* stage indexes, for stage_src.reads */
	size_t n_deps, cap_deps;
	size_t n_meta, cap_meta;
	char **build_args;
	char **used_build_args;
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
	struct cache_store_job *stores;
	size_t n_stores;
	char **cached_digests;
	int64_t source_date_epoch;
	/* independent stages build concurrently: the shared lists are used under this lock (the
	 * registry client is safe for concurrent use: its I/O runs without it) */
	pthread_mutex_t lock;
};

struct stage_cache {
	char key[CACHE_KEY_LEN + 1];
	bool keyed;            /* key describes everything the stage did so far */
	bool looking;          /* no miss yet: look up the next cacheable step */
	bool lazy;             /* the root is unpacked only when a step that runs needs it */
	bool root_ready;       /* unpacked (or not lazy) */
	struct image_ref *ref; /* the base image, for a lazy unpack */
};

struct cache_store_job {
	char key[CACHE_KEY_LEN + 1];
	enum image_format format;
	bool has_layer;
	struct image_layer layer; /* media_type heap-allocated */
	char *created_by;
};

struct stage_src {
	const struct df_instr *from;
	size_t first, end; /* instruction range after FROM */
	char *name;
	/* filled once by stage_deps (a Dockerfile's cost stays linear in its stages): */
	size_t reads, n_reads; /* b->deps[reads...]: the earlier stages it reads, sorted */
	bool reads_any;  /* FROM that cannot be expanded, COPY --from=$X: every earlier stage */
	bool used_later; /* a later stage reads this one */
	bool base_later; /* a later stage is built FROM this one */
};

static void stage_free(struct stage *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->root);
	if (s->rootfd >= 0)
		close(s->rootfd);
	if (s->config)
		json_decref(s->config);
	for (size_t i = 0; i < s->n_layers; i++)
		free(s->layers[i].media_type);
	free(s->layers);
	free(s->created);
	strv_free(s->args);
	stage_vars_release(s);
	strv_free(s->used_build_args);
	fs_index_free(s->fsindex);
	free(s);
}

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

/* the --build-arg list, "K=V" each (cli/ has already filled bare names from the env) */
static char **collect_build_args(const struct build_opts *o)
{
	char **v = xcalloc(1, sizeof(char *));
	strv_foreach (a, o->build_args) {
		const char *eq = strchr(a, '=');
		if (eq) {
			cleanup_free char *k = xstrndup(a, (size_t)(eq - a));
			strv_env_set(&v, k, eq + 1);
		} else {
			const char *env = getenv(a);
			strv_env_set(&v, a, env ? env : "");
		}
	}
	return v;
}

/* BuildKit's automatic platform ARGs: "linux/arm64/v8" -> TARGETOS=linux TARGETARCH=arm64
 * TARGETVARIANT=v8 (BUILD* describe the machine kiln runs on) */
static void platform_args(char ***v, const char *prefix, const char *platform)
{
	cleanup_free char *p = xstrdup(platform);
	char *arch = strchr(p, '/');
	char *variant = NULL;
	if (arch) {
		*arch++ = '\0';
		variant = strchr(arch, '/');
		if (variant)
			*variant++ = '\0';
	}
	/* BuildKit formats the normalised platform, where arm64's default variant is implied */
	if (arch && variant && streq(arch, "arm64") && streq(variant, "v8"))
		variant = NULL;
	cleanup_free char *formatted = variant ? xasprintf("%s/%s/%s", p, arch, variant)
	                               : arch  ? xasprintf("%s/%s", p, arch)
	                                       : xstrdup(p);
	cleanup_free char *k = NULL;
	k = xasprintf("%sPLATFORM", prefix);
	strv_env_set(v, k, formatted);
	free(k);
	k = xasprintf("%sOS", prefix);
	strv_env_set(v, k, p);
	free(k);
	k = xasprintf("%sARCH", prefix);
	strv_env_set(v, k, arch ? arch : "");
	free(k);
	k = xasprintf("%sVARIANT", prefix);
	strv_env_set(v, k, variant ? variant : "");
}

/* a meta ARG's value (a shell_lookup_fn over the builder), O(1) */
static const char *meta_var(void *ud, const char *name, size_t nl)
{
	const struct builder *b = ud;
	size_t i;
	if (!strmap_get(b->meta_ix, name, nl, &i))
		return NULL;
	return b->meta_args[i] + nl + 1;
}

/* sets a meta ARG, replacing an earlier value in place */
static void meta_set(struct builder *b, const char *name, const char *value)
{
	size_t nl = strlen(name), i;
	char *kv = xasprintf("%s=%s", name, value);
	if (strmap_get(b->meta_ix, name, nl, &i)) {
		free(b->meta_args[i]);
		b->meta_args[i] = kv;
		return;
	}
	XGROW(b->meta_args, b->n_meta + 2, b->cap_meta);
	strmap_set(b->meta_ix, name, nl, b->n_meta);
	b->meta_args[b->n_meta++] = kv;
	b->meta_args[b->n_meta] = NULL;
}

static int meta_args_resolve(struct builder *b, size_t *first_from, struct kiln_err **err)
{
	const struct dockerfile *df = b->df;
	size_t i = 0;
	cleanup_strv char **platform = xcalloc(1, sizeof(char *));
	platform_args(&platform, "TARGET",
	              b->o->custom_platform ? b->o->custom_platform : image_host_platform());
	platform_args(&platform, "BUILD", image_host_platform());
	b->meta_ix = strmap_new();
	b->meta_args = xcalloc(1, sizeof(char *));
	strv_foreach (kv, platform) {
		cleanup_free char *k = xstrndup(kv, strcspn(kv, "="));
		meta_set(b, k, kv + strlen(k) + 1);
	}
	for (; i < df->n_instrs && !streq(df->instrs[i].cmd, "from"); i++) {
		const struct df_instr *in = &df->instrs[i];
		if (!streq(in->cmd, "arg"))
			return kiln_err_set(err,
			                    "%s:%d: %s instruction before the first FROM: only "
			                    "ARG may come before FROM",
			                    b->dockerfile_path, in->start_line, in->cmd);
		strv_foreach (a, in->args) {
			cleanup_free char *name = xstrdup(a);
			char *def = strchr(name, '=');
			if (def)
				*def++ = '\0';
			const char *given = strv_env_get(b->build_args, name);
			cleanup_free char *value = NULL;
			if (given && (*given || !def)) {
				value = xstrdup(given);
				if (!strv_contains(b->used_build_args, name))
					strv_push(&b->used_build_args, xstrdup(name));
			} else if (def) {
				if (shell_expand_word_fn(def, meta_var, b, b->df->escape, &value,
				                         err) < 0)
					return kiln_err_wrap(err, "%s:%d", b->dockerfile_path,
					                     in->start_line);
			}
			if (value)
				meta_set(b, name, value);
		}
	}
	if (i == df->n_instrs)
		return kiln_err_set(err, "%s: no FROM instruction: the Dockerfile has no stages",
		                    b->dockerfile_path);
	*first_from = i;
	return 0;
}

static struct stage *find_stage(struct builder *b, const char *name, size_t before)
{
	for (size_t i = 0; i < before && i < b->n_stages; i++) {
		if (b->stages[i]->name && !strcasecmp(b->stages[i]->name, name))
			return b->stages[i];
	}
	return NULL;
}

/* pulls the base image's manifest and config; layers come later, when the root is needed */
static int stage_from_registry(struct builder *b, struct stage *s, const char *image,
                               struct image_ref **ret_ref, char *ret_mdigest, struct kiln_err **err)
{
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	int r = image_ref_parse(image, &ref, err);
	if (r < 0)
		return r;
	log_info("Retrieving image manifest %s", image);
	cleanup_free char *body = NULL, *mt = NULL;
	size_t len = 0;
	char mdigest[DIGEST_STRING_LEN + 1];
	r = registry_get_manifest(b->reg, ref, b->o->custom_platform, &body, &len, &mt, mdigest,
	                          err);
	if (r < 0)
		return kiln_err_wrap(err, "retrieve image '%s'", image);
	log_info("Retrieving image %s from registry %s", image, ref->registry);
	_cleanup_(manifest_freep) struct manifest *m = NULL;
	r = manifest_parse(body, len, mt, &m, err);
	if (r < 0)
		return kiln_err_wrap(err, "image '%s'", image);
	const char *cfg_digest = m->config_digest;
	if (b->o->cache && b->o->cache_dir && *b->o->cache_dir) {
		/* the warmer's copy, when there is one: the registry gave the digest, the blobs
		 * come from the local file */
		cleanup_free const char **want = xcalloc(m->n_layers + 1, sizeof(char *));
		for (size_t i = 0; i < m->n_layers; i++)
			want[i] = m->layers[i].digest;
		want[m->n_layers] = m->config_digest;
		cache_dir_import(b->o->cache_dir, mdigest, b->o->cache_ttl_ns, want,
		                 m->n_layers + 1, b->bs);
	}
	r = registry_fetch_blobs(b->reg, ref, &cfg_digest, 1, b->bs, err);
	if (r < 0)
		return kiln_err_wrap(err, "retrieve config of '%s'", image);
	cleanup_free char *cfg = NULL;
	size_t cfg_len = 0;
	r = blobstore_read(b->bs, cfg_digest, LIMIT_CONFIG, &cfg, &cfg_len, err);
	if (r < 0)
		return r;
	r = image_config_parse(cfg, cfg_len, &s->config, err);
	if (r < 0)
		return kiln_err_wrap(err, "image '%s'", image);
	/* a single-platform base of another platform: the image is what was asked for (kaniko
	 * writes --custom-platform into every config), with BuildKit's warning */
	const char *want = b->o->custom_platform;
	if (want && *want && !image_config_has_platform(s->config, want)) {
		cleanup_free char *was = NULL;
		image_config_set_platform(s->config, want, &was);
		log_warn("Base image %s was pulled with platform \"%s\", expected \"%s\" for "
		         "current build",
		         image, was, want);
	}
	if (image_config_n_layers(s->config) != m->n_layers)
		return kiln_err_set(err, "image '%s': config lists %zu layers, manifest %zu", image,
		                    image_config_n_layers(s->config), m->n_layers);
	s->format = m->format;
	s->layers = xcalloc(m->n_layers ? m->n_layers : 1, sizeof(*s->layers));
	json_t *ids = json_object_get(json_object_get(s->config, "rootfs"), "diff_ids");
	for (size_t i = 0; i < m->n_layers; i++) {
		s->layers[i] = m->layers[i];
		s->layers[i].media_type = xstrdup(m->layers[i].media_type);
		const char *id = json_string_value(json_array_get(ids, i));
		if (id && digest_valid(id))
			memcpy(s->layers[i].diff_id, id, DIGEST_STRING_LEN + 1);
	}
	s->n_layers = m->n_layers;
	if (ret_mdigest)
		memcpy(ret_mdigest, mdigest, sizeof(mdigest));
	*ret_ref = TAKE_PTR(ref);
	return 0;
}

/* the base's missing layers, downloaded (all at once) on a thread of their own while the stage
 * unpacks each layer as soon as it is in the blob store, in order: a blob only appears there
 * once its digest is verified (blob_writer_commit), so nothing of a layer is used before */
struct pull_bg {
	struct builder *b;
	const struct image_ref *ref;
	const char **digests;
	size_t n;
	int stage;
	int64_t bytes;
	int r;
	struct kiln_err *err;
	bool done; /* atomic: the thread has finished */
	bool started;
	pthread_t tid;
};

static void pull_bg_run(struct pull_bg *p)
{
	int64_t t0 = timing_now_ns();
	p->r = registry_fetch_blobs(p->b->reg, p->ref, p->digests, p->n, p->b->bs, &p->err);
	if (p->r >= 0) {
		cleanup_free char *what = image_ref_string(p->ref);
		timing_record("pull", p->stage, what, timing_now_ns() - t0, -1, p->bytes);
	}
	__atomic_store_n(&p->done, true, __ATOMIC_RELEASE);
}

static void *pull_bg_thread(void *arg)
{
	pull_bg_run(arg);
	return NULL;
}

/* waits until the blob is in the store (true) or the pull ended without it (false) */
static bool pull_bg_wait(struct builder *b, struct pull_bg *p, const char *digest)
{
	for (;;) {
		bool done = !p || __atomic_load_n(&p->done, __ATOMIC_ACQUIRE);
		if (blobstore_has(b->bs, digest, NULL))
			return true;
		if (done)
			return false;
		nanosleep(&(struct timespec){.tv_nsec = 2 * 1000 * 1000}, NULL);
	}
}

static int unpack_layers(struct builder *b, struct stage *s, struct pull_bg *p,
                         struct kiln_err **err)
{
	int r = 0;
	int64_t t_unpack = timing_now_ns(), unpacked = 0;
	struct extract_opts eo = {
	    .no_chown = geteuid() != 0,
	    .ignored = b->ignore ? ignore_list_match : NULL,
	    .ud = b->ignore,
	};
	for (size_t i = 0; i < s->n_layers; i++) {
		if (!pull_bg_wait(b, p, s->layers[i].digest))
			return 1; /* the pull failed: its error is the one to report */
		cleanup_close int fd = -1;
		r = blobstore_open_read(b->bs, s->layers[i].digest, &fd, err);
		if (r < 0)
			return r;
		struct stat st;
		uint64_t lsize = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
		unpacked += (int64_t)lsize;
		eo.progress = progress_start("Unpacking", s->layers[i].digest, lsize);
		r = fs_extract_layer(s->rootfd, fd, s->layers[i].digest, &eo, err);
		/* --image-fs-extract-retry: the whole layer again after 1 s, then doubling */
		for (int attempt = 0, delay = 1; r < 0 && attempt < b->o->image_fs_extract_retry;
		     attempt++, delay *= 2) {
			log_warn("Retrying operation after %ds due to %s", delay,
			         kiln_err_msg(*err));
			sleep((unsigned)delay);
			kiln_err_free(*err);
			*err = NULL;
			lseek(fd, 0, SEEK_SET);
			r = fs_extract_layer(s->rootfd, fd, s->layers[i].digest, &eo, err);
		}
		eo.progress = progress_end(eo.progress, r >= 0);
		if (r < 0)
			return r;
	}
	timing_record("unpack", s->index, "", timing_now_ns() - t_unpack, -1, unpacked);
	return 0;
}

static int stage_unpack(struct builder *b, struct stage *s, const struct image_ref *ref,
                        bool inplace, struct kiln_err **err)
{
	int r = 0;
	if (!inplace) {
		r = rm_rf(s->root, err);
		if (r >= 0)
			r = mkdir_p(s->root, 0755, err);
		if (r < 0)
			return r;
	}
	if (s->rootfd >= 0)
		close(s->rootfd);
	s->rootfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0)
		return kiln_err_errno(err, "open stage root '%s'", s->root);
	if (s->n_layers == 0) {
		log_info("No base image, nothing to extract");
		return 0;
	}
	cleanup_free const char **digests = xcalloc(s->n_layers, sizeof(char *));
	struct pull_bg p = {.b = b, .ref = ref, .digests = digests, .stage = s->index};
	for (size_t i = 0; i < s->n_layers; i++) {
		if (!blobstore_has(b->bs, s->layers[i].digest, NULL)) {
			digests[p.n++] = s->layers[i].digest;
			p.bytes += (int64_t)s->layers[i].size;
		}
	}
	if (p.n) {
		if (!ref)
			return kiln_err_set(
			    err, "stage %d: base layers are missing from the blob store", s->index);
		p.started = pthread_create(&p.tid, NULL, pull_bg_thread, &p) == 0;
		if (!p.started)
			pull_bg_run(&p); /* no thread: pull first, then unpack */
	}
	r = unpack_layers(b, s, p.n ? &p : NULL, err);
	if (p.started)
		pthread_join(p.tid, NULL);
	if (p.r < 0) {
		if (r < 0) { /* the unpack's own failure came first: report it */
			kiln_err_free(p.err);
			return r;
		}
		*err = TAKE_PTR(p.err);
		return kiln_err_wrap(err, "pull layers of '%s'", ref->repository);
	}
	kiln_err_free(p.err);
	if (r > 0) /* cannot happen: the pull succeeded, so every blob is there */
		return kiln_err_set(err, "stage %d: a base layer is missing after the pull",
		                    s->index);
	return r;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* the stages before stage i that name (a FROM image or a COPY --from value) names: by name
 * (case-insensitive; the name map holds the last one, prev the earlier ones) or by index */
static void stages_named(const struct strmap *names, const size_t *prev, size_t i, const char *name,
                         size_t **v, size_t *n, size_t *cap)
{
	size_t nl = strlen(name), k;
	cleanup_free char *low = xstrdup(name);
	for (char *c = low; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (strmap_get(names, low, nl, &k)) {
		for (; k != SIZE_MAX; k = prev[k]) {
			XGROW(*v, *n + 1, *cap);
			(*v)[(*n)++] = k;
		}
	}
	if (nl && nl < 20 && strspn(name, "0123456789") == nl && (name[0] != '0' || nl == 1)) {
		size_t idx = (size_t)strtoull(name, NULL, 10);
		if (idx < i) {
			XGROW(*v, *n + 1, *cap);
			(*v)[(*n)++] = idx;
		}
	}
}

/* what each of the first n stages reads: FROM <name|index> (expanded with the meta ARGs; what
 * cannot be expanded counts as every earlier stage) and COPY --from=<name|index> (a value
 * with '$' depends on the stage's own ARGs and counts as every earlier stage, which only costs
 * keeping a root that may not be read) */
static void stage_deps(struct builder *b, struct stage_src *srcs, size_t n)
{
	_cleanup_(strmap_freep) struct strmap *names = strmap_new(); /* lower-case -> last */
	cleanup_free size_t *prev = xcalloc(n ? n : 1, sizeof(size_t));
	size_t any_from = 0, any_read = 0; /* stages below these are bases / read later */
	for (size_t i = 0; i < n; i++) {
		struct stage_src *src = &srcs[i];
		src->reads = b->n_deps;
		const struct df_instr *from = src->from;
		if (from->args && from->args[0]) {
			cleanup_free char *image = NULL;
			if (shell_expand_word_fn(from->args[0], meta_var, b, b->df->escape, &image,
			                         NULL) < 0) {
				src->reads_any = true;
				any_from = i;
			} else {
				size_t before = b->n_deps;
				stages_named(names, prev, i, image, &b->deps, &b->n_deps,
				             &b->cap_deps);
				for (size_t k = before; k < b->n_deps; k++)
					srcs[b->deps[k]].base_later = true;
			}
		}
		for (size_t k = src->first; k < src->end; k++) {
			const struct df_instr *in = &b->df->instrs[k];
			for (size_t f = 0; f < in->n_flags; f++) {
				const char *v = in->flags[f].value;
				if (!streq(in->flags[f].name, "from") || !v)
					continue;
				if (strchr(v, '$'))
					src->reads_any = true;
				else
					stages_named(names, prev, i, v, &b->deps, &b->n_deps,
					             &b->cap_deps);
			}
		}
		if (src->reads_any)
			any_read = i;
		src->n_reads = b->n_deps - src->reads;
		size_t *reads = b->deps + src->reads;
		if (src->n_reads > 1)
			qsort(reads, src->n_reads, sizeof(size_t), cmp_size);
		for (size_t k = 0; k < src->n_reads; k++)
			srcs[reads[k]].used_later = true;
		prev[i] = SIZE_MAX;
		if (src->name) {
			cleanup_free char *low = xstrdup(src->name);
			for (char *c = low; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			size_t last;
			if (strmap_get(names, low, strlen(low), &last))
				prev[i] = last;
			strmap_set(names, low, strlen(low), i);
		}
	}
	for (size_t i = 0; i < n; i++) {
		srcs[i].base_later |= i < any_from;
		srcs[i].used_later |= i < any_read;
	}
}

/* may_stream: whether COPY may skip the root when nothing after it in this list reads it
 * (false for ONBUILD triggers, which the stage's own instructions follow) */
/* a lazily unpacked root, when the first step that runs needs it: the base layers and the
 * layers taken from the cache so far, in order (those fetched from the cache repository) */
/* downloads the cache-served layers among digests that the blob store lacks */
static int cache_fetch(struct builder *b, const char *const *digests, size_t n,
                       struct kiln_err **err)
{
	cleanup_free const char **missing = xcalloc(n + 1, sizeof(char *));
	size_t nm = 0;
	int r = 0;
	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < n; i++) {
		if (!blobstore_has(b->bs, digests[i], NULL) &&
		    strv_contains(b->cached_digests, digests[i]))
			missing[nm++] = digests[i];
	}
	pthread_mutex_unlock(&b->lock);
	if (nm) {
		_cleanup_(image_ref_freep) struct image_ref *cref = NULL;
		r = image_ref_parse(b->cache_repo, &cref, err);
		if (r >= 0)
			r = registry_fetch_blobs(b->reg, cref, missing, nm, b->bs, err);
	}
	if (r < 0)
		return kiln_err_wrap(err, "pull cached layers from '%s'", b->cache_repo);
	return 0;
}

static int cache_unpack(struct builder *b, struct stage *s, struct stage_cache *sc,
                        struct kiln_err **err)
{
	if (sc->root_ready)
		return 0;
	cleanup_free const char **digests = xcalloc(s->n_layers + 1, sizeof(char *));
	for (size_t i = 0; i < s->n_layers; i++)
		digests[i] = s->layers[i].digest;
	int r = cache_fetch(b, digests, s->n_layers, err);
	if (r < 0)
		return r;
	r = stage_unpack(b, s, sc->ref, b->inplace, err);
	if (r < 0)
		return r;
	s->index_stale = true;
	sc->root_ready = true;
	return 0;
}

static int cache_extract_one(struct builder *b, struct stage *s, const struct image_layer *l,
                             struct kiln_err **err)
{
	const char *d = l->digest;
	int r = cache_fetch(b, &d, 1, err);
	if (r < 0)
		return r;
	cleanup_close int fd = -1;
	r = blobstore_open_read(b->bs, l->digest, &fd, err);
	if (r < 0)
		return r;
	struct extract_opts eo = {
	    .no_chown = geteuid() != 0,
	    .ignored = b->ignore ? ignore_list_match : NULL,
	    .ud = b->ignore,
	};
	r = fs_extract_layer(s->rootfd, fd, l->digest, &eo, err);
	s->index_stale = true;
	return r;
}

/* with --cache, before a step runs: extend the key; while nothing missed, look the step up.
 * Returns 1 when the cache served the step (its layer or empty entry is appended). */
static int cache_before_step(struct builder *b, struct stage *s, struct stage_cache *sc,
                             const struct df_instr *in, struct kiln_err **err)
{
	if (!sc->keyed)
		return 0;
	/* ADD (URLs, archives) and COPY --from (another stage's or image's files) read what the
	 * key cannot describe: the cache is off for the rest of the stage */
	bool keyable = !streq(in->cmd, "add");
	for (size_t f = 0; f < in->n_flags; f++) {
		if (streq(in->cmd, "copy") && streq(in->flags[f].name, "from"))
			keyable = false;
		if (streq(in->cmd, "run"))
			keyable = false;
	}
	cleanup_err struct kiln_err *e = NULL;
	if (!keyable || cache_key_step(sc->key, s, in, &e) < 0) {
		if (e)
			log_debug("Layer cache off for the rest of the stage: %s", kiln_err_msg(e));
		else
			log_info("Layer cache off for the rest of the stage: %s is not cached",
			         in->cmd);
		sc->keyed = sc->looking = false;
		return 0;
	}
	if (!sc->looking || !cache_step_cacheable(b->o, in))
		return 0;
	log_info("Checking for cached layer %s:%s...", b->cache_repo, sc->key);
	struct cache_hit hit = {0};
	bool found = false;
	int r = cache_lookup(b->reg, b->bs, b->cache_repo, sc->key, b->o->cache_ttl_ns, &hit,
	                     &found, err);
	if (r < 0)
		return r;
	if (!found) {
		log_info("No cached layer found for cmd %s", in->original);
		sc->looking = false;
		return 0;
	}
	log_info("Using caching version of cmd: %s", in->original);
	if (hit.n_layers) {
		s->layers = xreallocarray(s->layers, s->n_layers + 1, sizeof(*s->layers));
		s->layers[s->n_layers] = hit.layer;
		s->layers[s->n_layers].media_type =
		    xstrdup(layer_media_type(s->format, s->compression == FS_ZSTD));
		s->n_layers++;
		image_config_add_history(s->config, hit.created_by, hit.layer.diff_id, false,
		                         s->created);
		pthread_mutex_lock(&b->lock);
		if (!strv_contains(b->cached_digests, hit.layer.digest))
			strv_push(&b->cached_digests, xstrdup(hit.layer.digest));
		pthread_mutex_unlock(&b->lock);
		if (sc->root_ready) {
			/* an earlier step needed the root: the layer goes onto it */
			log_info("Found cached layer, extracting to filesystem");
			r = cache_extract_one(b, s, &s->layers[s->n_layers - 1], err);
		}
	} else {
		image_config_add_history(s->config, hit.created_by, NULL, true, s->created);
	}
	cache_hit_release(&hit);
	return r < 0 ? r : 1;
}

/* with --cache, after a cacheable step ran: its result is pushed under its key at the end */
static void cache_after_step(struct builder *b, struct stage *s, struct stage_cache *sc,
                             const struct df_instr *in, size_t layers_before)
{
	if (!sc->keyed || !cache_step_cacheable(b->o, in) || b->o->no_push_cache)
		return;
	json_t *hist = json_object_get(s->config, "history");
	const char *cb = json_string_value(
	    json_object_get(json_array_get(hist, json_array_size(hist) - 1), "created_by"));
	struct cache_store_job j = {.format = s->format, .created_by = xstrdup(cb ? cb : "")};
	memcpy(j.key, sc->key, sizeof(j.key));
	if (s->n_layers > layers_before) {
		j.has_layer = true;
		j.layer = s->layers[s->n_layers - 1];
		j.layer.media_type = xstrdup(s->layers[s->n_layers - 1].media_type);
	}
	pthread_mutex_lock(&b->lock);
	b->stores = xreallocarray(b->stores, b->n_stores + 1, sizeof(*b->stores));
	b->stores[b->n_stores++] = j;
	pthread_mutex_unlock(&b->lock);
}

static int run_instructions(struct builder *b, struct stage *s, struct stage_cache *sc,
                            const struct df_instr *instrs, size_t n, bool may_stream,
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
		const struct df_instr *in = &instrs[k];
		log_info("%s", in->original);
		int64_t t0 = timing_now_ns();
		size_t layers_before = s->n_layers;
		s->nothing_reads_root = may_stream && !s->used_later && last_reader <= k + 1;
		int r = sc ? cache_before_step(b, s, sc, in, err) : 0;
		if (r < 0)
			return r;
		if (r > 0) {
			timing_record("step", s->index, in->original, timing_now_ns() - t0, 1,
			              s->n_layers > layers_before
			                  ? (int64_t)s->layers[s->n_layers - 1].size
			                  : -1);
			continue;
		}
		if (sc && !sc->root_ready && instr_needs_root(in)) {
			r = cache_unpack(b, s, sc, err);
			if (r < 0)
				return r;
		}
		if (streq(in->cmd, "run"))
			r = instr_run(s, in, err);
		else if (streq(in->cmd, "copy") || streq(in->cmd, "add"))
			r = instr_copy(s, in, err);
		else if (streq(in->cmd, "workdir"))
			r = instr_workdir(s, in, err);
		else if (streq(in->cmd, "from"))
			r = kiln_err_set(err, "%s:%d: unexpected FROM", b->dockerfile_path,
			                 in->start_line);
		else
			r = instr_meta(s, in, err);
		if (r < 0)
			return r;
		timing_record("step", s->index, in->original, timing_now_ns() - t0, 0,
		              s->n_layers > layers_before ? (int64_t)s->layers[s->n_layers - 1].size
		                                          : -1);
		if (sc)
			cache_after_step(b, s, sc, in, layers_before);
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
	r = run_instructions(b, s, NULL, tdf->instrs, tdf->n_instrs, false, err);
	dockerfile_free(tdf);
	return r;
}

/* In place, the next stage needs "/" back: a stage that a later one reads is first unpacked
 * from its layers (all in the blob store) into its own directory, then "/" is wiped. */
static int inplace_stage_done(struct builder *b, struct stage *s, bool used_later,
                              struct kiln_err **err)
{
	fs_index_free(s->fsindex);
	s->fsindex = NULL;
	if (used_later) {
		cleanup_free char *dir = xasprintf("%s/stages/%d", b->o->kaniko_dir, s->index);
		free(s->root);
		s->root = path_join(dir, "rootfs");
		log_info("Storing source image from stage %d at path %s", s->index, s->root);
		int r = stage_unpack(b, s, NULL, false, err);
		if (r < 0)
			return r;
	}
	log_info("Deleting filesystem...");
	cleanup_close int rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return kiln_err_errno(err, "open /");
	return inplace_wipe(rootfd, b->ignore, err);
}

/* --stage-storage, chroot mode: the stage roots (and images read by COPY --from) in a tmpfs
 * of kiln's own mount namespace, or on disk. In memory, a build creates no inode on disk for
 * its roots, and nothing is left to delete: the kernel frees it all when kiln exits. "auto"
 * takes memory only when plenty is free, and only half of it. */
static int choose_stage_storage(struct builder *b, struct kiln_err **err)
{
	const char *v = b->o->stage_storage && *b->o->stage_storage ? b->o->stage_storage : "auto";
	if (streq(v, "disk"))
		return 0;
	uint64_t headroom = sandbox_memory_headroom(), size = headroom / 2;
	if (startswith(v, "tmpfs:")) {
		if (sandbox_parse_size(v + STRLEN("tmpfs:"), &size) < 0)
			return kiln_err_set(err, "--stage-storage: invalid size in '%s'", v);
	} else if (streq(v, "auto")) {
		if (headroom < (UINT64_C(4) << 30)) {
			log_debug("Stage roots on disk: %" PRIu64 " MiB of memory free",
			          headroom >> 20);
			return 0;
		}
	} else if (!streq(v, "tmpfs")) {
		return kiln_err_set(err, "--stage-storage: unknown value '%s'", v);
	}
	cleanup_free char *dir = path_join(b->o->kaniko_dir, "stages");
	cleanup_err struct kiln_err *why = NULL;
	if (sandbox_private_tmpfs(dir, size, &why) < 0) {
		if (!streq(v, "auto"))
			return kiln_err_set(err, "--stage-storage=%s: %s", v, kiln_err_msg(why));
		log_debug("Stage roots on disk: %s", kiln_err_msg(why));
		return 0;
	}
	b->stages_tmpfs = TAKE_PTR(dir);
	if (size)
		log_info("Stage roots in memory: a tmpfs of %" PRIu64
		         " MiB at %s (--stage-storage)",
		         size >> 20, b->stages_tmpfs);
	else
		log_info("Stage roots in memory: a tmpfs of half the RAM at %s (--stage-storage)",
		         b->stages_tmpfs);
	return 0;
}

/* --isolation: chroot when RUN can get its own /proc and /dev, else kaniko's in-place model
 * inside a container (or anywhere with --force), else an error naming what is missing */
static int choose_isolation(struct builder *b, struct kiln_err **err)
{
	const char *iso = b->o->isolation && *b->o->isolation ? b->o->isolation : "auto";
	struct sandbox_caps caps;
	sandbox_probe(&caps);
	bool can_chroot = caps.namespaces && caps.chroot;
	if (streq(iso, "chroot")) {
		if (!can_chroot)
			return kiln_err_set(err,
			                    "--isolation=chroot: this environment does not allow "
			                    "mount and PID namespaces (CAP_SYS_ADMIN) or chroot");
		b->inplace = false;
	} else if (streq(iso, "inplace") || streq(iso, "auto")) {
		b->inplace = streq(iso, "inplace") || !can_chroot;
	} else {
		return kiln_err_set(err, "--isolation: unknown mode '%s' (auto, chroot, inplace)",
		                    iso);
	}
	if (!b->inplace) {
		log_debug("Isolation: chroot (mount and PID namespaces available)");
		/* --ignore-path means what it means in place: not extracted, not snapshotted */
		b->ignore = ignore_list_user(b->o->ignore_paths);
		return choose_stage_storage(b, err);
	}
	if (!sandbox_in_container(NULL)) {
		if (!b->o->force)
			return kiln_err_set(err,
			                    "kaniko should only be run inside of a container, run "
			                    "with the --force flag if you are sure you want to "
			                    "continue");
		log_warn("Kaniko is being run outside of a container. This can have dangerous "
		         "effects on your system");
	}
	log_info("Isolation: inplace (the build root is this container's /%s)",
	         can_chroot ? "" : "; no mount namespaces here");
	return ignore_list_new(b->o->kaniko_dir, b->o->ignore_var_run, b->o->ignore_paths, NULL,
	                       &b->ignore, err);
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

static int build_stage(struct builder *b, const struct stage_src *srcs, size_t n, size_t idx,
                       bool last, struct kiln_err **err)
{
	const struct stage_src *src = &srcs[idx];
	struct stage *s = b->stages[idx];
	assert(idx < n);
	s->stages = b->stages;
	s->n_stages = idx; /* COPY --from and FROM see only earlier stages */
	s->images = b->images;
	s->n_images = b->n_images;
	s->reproducible = b->o->reproducible;
	s->force_build_metadata = b->o->force_build_metadata;
	s->ca_files = b->o->ca_files;
	s->bs = b->bs;
	s->context = b->context;
	s->dockerignore = b->dockerignore;
	s->resolv_conf = b->resolv_conf;
	s->hosts = b->hosts;
	s->escape = b->df->escape;
	s->dockerfile_path = b->dockerfile_path;
	s->build_args = b->build_args;
	s->meta_args = b->meta_args;
	s->meta_ix = b->meta_ix;
	s->snapshot_mode =
	    b->o->snapshot_mode && *b->o->snapshot_mode ? b->o->snapshot_mode : "full";
	if (!streq(s->snapshot_mode, "full") && !streq(s->snapshot_mode, "redo") &&
	    !streq(s->snapshot_mode, "time"))
		return kiln_err_set(err, "%s is not a valid snapshot mode", s->snapshot_mode);
	s->compression_level = b->o->compression_level;
	s->source_date_epoch = b->source_date_epoch;
	s->created = image_time_now(b->o->reproducible, b->source_date_epoch);
	cleanup_free char *dir = xasprintf("%s/stages/%zu", b->o->kaniko_dir, idx);
	s->root = b->inplace ? xstrdup("/") : path_join(dir, "rootfs");
	s->inplace = b->inplace;
	s->ignore = b->ignore;

	const struct df_instr *from = src->from;
	cleanup_free char *image = NULL;
	if (!from->args || !from->args[0])
		return kiln_err_set(err, "%s:%d: FROM requires an image", b->dockerfile_path,
		                    from->start_line);
	if (shell_expand_word_fn(from->args[0], meta_var, b, b->df->escape, &image, err) < 0)
		return kiln_err_wrap(err, "%s:%d", b->dockerfile_path, from->start_line);
	if (!*image)
		return kiln_err_set(err, "%s:%d: FROM names an empty image (is an ARG unset?)",
		                    b->dockerfile_path, from->start_line);
	for (size_t f = 0; f < from->n_flags; f++) {
		if (!streq(from->flags[f].name, "platform"))
			return kiln_err_set(err, "%s:%d: FROM --%s is not supported",
			                    b->dockerfile_path, from->start_line,
			                    from->flags[f].name);
	}

	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	char base_digest[DIGEST_STRING_LEN + 1] = "";
	struct stage *parent = find_stage(b, image, idx);
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
		int r = stage_from_registry(b, s, image, &ref, base_digest, err);
		if (r < 0)
			return kiln_err_wrap(err, "%s:%d", b->dockerfile_path, from->start_line);
		if (last)
			b->final_base = image_ref_name(ref);
	}
	s->compression =
	    b->o->compression && streq(b->o->compression, "zstd") && s->format == IMAGE_OCI
	        ? FS_ZSTD
	        : FS_GZIP;
	log_info("Building stage '%s' [idx: '%zu', base-idx: '%d']", image, idx, base_idx);
	apply_labels(b, s);

	s->used_later = srcs[idx].used_later;
	s->no_layers = !last && !b->inplace && !srcs[idx].base_later;
	if (s->no_layers)
		log_info("Stage %zu is only read through COPY --from: its steps take no snapshots",
		         idx);
	bool need_root = s->used_later;
	const char *why = NULL;
	for (size_t k = src->first; k < src->end && !need_root; k++) {
		if (instr_needs_root(&b->df->instrs[k])) {
			need_root = true;
			why = b->df->instrs[k].original;
		}
	}
	json_t *ob = json_object_get(image_config_container(s->config), "OnBuild");
	if (json_array_size(ob) > 0)
		need_root = true;
	/* --cache: the stage's key starts from its base; stages whose steps take no layers, a
	 * single snapshot or ONBUILD triggers are built without the cache */
	struct stage_cache *sc = b->scache ? &b->scache[idx] : NULL;
	if (sc) {
		const char *pbase = NULL;
		cleanup_free char *stage_base = NULL;
		if (parent && b->scache[parent->index].keyed)
			pbase = stage_base = xasprintf("stage:%s", b->scache[parent->index].key);
		else if (!parent && *base_digest)
			pbase = base_digest;
		else if (!parent && !ref)
			pbase = "scratch";
		sc->keyed =
		    pbase && !s->no_layers && !b->o->single_snapshot && json_array_size(ob) == 0;
		sc->looking = sc->lazy = sc->keyed;
		sc->root_ready = !sc->lazy;
		if (sc->keyed) {
			cache_key_start(sc->key, pbase, b->o->custom_platform, s);
			sc->ref = ref ? image_ref_dup(ref) : NULL;
		}
	}
	if (need_root && sc && sc->lazy) {
		log_debug("Layer cache: the root is unpacked when a step that runs needs it");
	} else if (need_root) {
		if (why)
			log_info("Unpacking rootfs as cmd %s requires it.", why);
		int r = stage_unpack(b, s, ref, b->inplace, err);
		if (r < 0)
			return r;
	} else {
		log_info("Skipping unpacking as no commands require it.");
	}
	s->single_snapshot = b->o->single_snapshot;
	int r = 0;
	if (s->single_snapshot && s->rootfd >= 0)
		r = stage_index_sync(s, err);
	if (r >= 0)
		r = run_triggers(b, s, err);
	if (r < 0)
		return r;
	r = run_instructions(b, s, sc, &b->df->instrs[src->first], src->end - src->first, true,
	                     err);
	if (r >= 0 && sc && !sc->root_ready && s->used_later)
		r = cache_unpack(b, s, sc, err); /* a later stage reads this root */
	if (sc && sc->ref)
		sc->ref = image_ref_free(sc->ref);
	if (r < 0)
		return r;
	if (s->single_snapshot && s->fsindex) {
		/* kaniko: one layer per stage, taken after its last instruction */
		const char *last_text =
		    src->end > src->first ? b->df->instrs[src->end - 1].original : from->original;
		r = stage_snapshot(s, last_text, err);
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
		return inplace_stage_done(b, s, srcs[idx].used_later, err);
	return 0;
}

/* files injected into every RUN: a copy of the host's resolv.conf (so a RUN that writes it
 * cannot touch the host) and a hosts file as BuildKit writes it */
static int prepare_run_files(struct builder *b, struct kiln_err **err)
{
	cleanup_free char *dir = path_join(b->o->kaniko_dir, "run");
	int r = mkdir_p(dir, 0755, err);
	if (r < 0)
		return r;
	cleanup_free char *resolv = NULL;
	size_t len = 0;
	if (read_file_at(AT_FDCWD, "/etc/resolv.conf", LIMIT_SMALL_FILE, &resolv, &len, NULL) < 0) {
		resolv = xstrdup("");
		len = 0;
	}
	b->resolv_conf = path_join(dir, "resolv.conf");
	r = write_file_atomic(b->resolv_conf, resolv, len, 0644, err);
	if (r < 0)
		return r;
	static const char hosts[] = "127.0.0.1\tlocalhost buildkitsandbox\n"
	                            "::1\tlocalhost ip6-localhost ip6-loopback\n";
	b->hosts = path_join(dir, "hosts");
	return write_file_atomic(b->hosts, hosts, STRLEN(hosts), 0644, err);
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

/* --cache-repo, else kaniko's default: <first destination's repository>/cache */
static int cache_setup(struct builder *b, struct kiln_err **err)
{
	const struct build_opts *o = b->o;
	if (!o->cache)
		return 0;
	if (o->cache_repo && *o->cache_repo) {
		if (startswith(o->cache_repo, "oci:"))
			return kiln_err_set(err,
			                    "--cache-repo '%s': an OCI layout as the cache is not "
			                    "implemented in kiln; use a registry repository",
			                    o->cache_repo);
		_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
		int r = image_ref_parse(o->cache_repo, &ref, err);
		if (r < 0)
			return kiln_err_wrap(err, "--cache-repo");
		b->cache_repo = image_ref_name(ref);
	} else if (o->destinations && o->destinations[0] && !o->no_push) {
		_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
		int r = image_ref_parse(o->destinations[0], &ref, err);
		if (r < 0)
			return r;
		cleanup_free char *name = image_ref_name(ref);
		b->cache_repo = xasprintf("%s/cache", name);
	} else {
		return kiln_err_set(err, "if using cache with --no-push, specify cache repo with "
		                         "--cache-repo");
	}
	b->scache = xcalloc(b->n_stages ? b->n_stages : 1, sizeof(*b->scache));
	return 0;
}

/* the steps that ran, under their keys; a failure is a warning, as in kaniko */
static void cache_push_all(struct builder *b)
{
	for (size_t i = 0; i < b->n_stores; i++) {
		struct cache_store_job *j = &b->stores[i];
		cleanup_err struct kiln_err *e = NULL;
		if (cache_store(b->reg, b->bs, b->cache_repo, j->key, j->format,
		                j->has_layer ? &j->layer : NULL, j->created_by,
		                b->o->custom_platform, &e) < 0)
			log_warn("Error uploading layer to cache: %s", kiln_err_msg(e));
	}
}

static void builder_release(struct builder *b)
{
	for (size_t i = 0; i < b->n_stores; i++) {
		free(b->stores[i].layer.media_type);
		free(b->stores[i].created_by);
	}
	free(b->stores);
	if (b->scache) {
		for (size_t i = 0; i < b->n_stages; i++)
			image_ref_free(b->scache[i].ref);
	}
	free(b->scache);
	free(b->cache_repo);
	strv_free(b->cached_digests);
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
	strv_free(b->meta_args);
	strmap_free(b->meta_ix);
	free(b->deps);
	strv_free(b->build_args);
	strv_free(b->used_build_args);
}

/* COPY --from=<x> where x is neither an earlier stage's name nor an index names an image: like
 * kaniko, pull and unpack each one before any stage runs (in chroot mode under
 * $KANIKO_DIR/images/<n>; in place as well, since "/" belongs to the stages) */
static int pull_copy_images(struct builder *b, const struct stage_src *srcs, size_t n, size_t n_all,
                            struct kiln_err **err)
{
	for (size_t j = 0; j < n; j++) {
		for (size_t k = srcs[j].first; k < srcs[j].end; k++) {
			const struct df_instr *in = &b->df->instrs[k];
			for (size_t f = 0; f < in->n_flags; f++) {
				const char *v = in->flags[f].value;
				if (!streq(in->flags[f].name, "from") || !v || !*v ||
				    strchr(v, '$'))
					continue;
				char *end = NULL;
				long idx = strtol(v, &end, 10);
				bool numeric = *end == '\0';
				bool stage = numeric;
				for (size_t i = 0; i < j && !stage; i++)
					stage = srcs[i].name && !strcasecmp(srcs[i].name, v);
				/* the stage itself or a later one: not an image to look up */
				for (size_t i = j; i < n_all && (!stage || numeric); i++) {
					if (numeric ? idx != (long)i
					            : !srcs[i].name || strcasecmp(srcs[i].name, v))
						continue;
					if (i == j)
						return kiln_err_set(
						    err,
						    "%s:%d: COPY --from='%s' names the "
						    "stage it is in: circular dependency "
						    "detected on stage %zu",
						    b->dockerfile_path, in->start_line, v, i);
					return kiln_err_set(
					    err,
					    "%s:%d: COPY --from='%s' names stage %zu, "
					    "which comes later in the Dockerfile: a "
					    "stage copies only from earlier stages",
					    b->dockerfile_path, in->start_line, v, i);
				}
				bool have = false;
				for (size_t i = 0; i < b->n_images && !have; i++)
					have = streq(b->images[i]->name, v);
				if (stage || have)
					continue;
				struct stage *img = xcalloc(1, sizeof(*img));
				img->rootfd = -1;
				img->index = -1;
				img->name = xstrdup(v);
				b->images =
				    xreallocarray(b->images, b->n_images + 1, sizeof(*b->images));
				b->images[b->n_images++] = img;
				img->root = xasprintf("%s/stages/image-%zu/rootfs",
				                      b->o->kaniko_dir, b->n_images - 1);
				_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
				int r = stage_from_registry(b, img, v, &ref, NULL, err);
				if (r >= 0)
					r = stage_unpack(b, img, ref, false, err);
				if (r < 0)
					return kiln_err_wrap(err, "%s:%d: COPY --from='%s'",
					                     b->dockerfile_path, in->start_line, v);
			}
		}
	}
	return 0;
}

struct sched {
	struct builder *b;
	const struct stage_src *srcs;
	size_t n;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool *done, *running;
	size_t active;
	struct kiln_err *err; /* the first failure */
};

struct stage_job {
	struct sched *sc;
	size_t idx;
};

static void *stage_thread(void *arg)
{
	struct stage_job *job = arg;
	struct sched *sc = job->sc;
	struct kiln_err *e = NULL;
	int r = build_stage(sc->b, sc->srcs, sc->n, job->idx, job->idx == sc->n - 1, &e);
	pthread_mutex_lock(&sc->lock);
	sc->done[job->idx] = true;
	sc->running[job->idx] = false;
	sc->active--;
	if (r < 0 && !sc->err)
		sc->err = e;
	else
		kiln_err_free(e);
	pthread_cond_broadcast(&sc->cv);
	pthread_mutex_unlock(&sc->lock);
	free(job);
	return NULL;
}

/* Builds every stage that is not skipped, each as soon as the stages it reads are done; up to
 * one per CPU at a time (one at a time in place, where all share "/"). A failure stops new
 * stages from starting; the ones running finish their current work. */
static int build_stages(struct builder *b, const struct stage_src *srcs, size_t n,
                        struct kiln_err **err)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t max = b->inplace ? 1 : (size_t)(cpus < 1 ? 1 : cpus > 4 ? 4 : cpus);
	struct sched sc = {.b = b, .srcs = srcs, .n = n};
	pthread_mutex_init(&sc.lock, NULL);
	pthread_cond_init(&sc.cv, NULL);
	cleanup_free bool *done = xcalloc(n, sizeof(bool));
	cleanup_free bool *running = xcalloc(n, sizeof(bool));
	sc.done = done;
	sc.running = running;
	for (size_t i = 0; i < n; i++)
		done[i] = b->stages[i]->skipped;
	cleanup_free pthread_t *threads = xcalloc(n, sizeof(pthread_t));
	cleanup_free bool *started = xcalloc(n, sizeof(bool));
	pthread_mutex_lock(&sc.lock);
	for (;;) {
		bool all = true;
		for (size_t i = 0; i < n; i++)
			all = all && done[i];
		if (all || (sc.err && sc.active == 0))
			break;
		bool launched = false;
		for (size_t i = 0; i < n && !sc.err && sc.active < max; i++) {
			if (done[i] || running[i])
				continue;
			bool ready = true;
			if (srcs[i].reads_any) {
				for (size_t j = 0; j < i && ready; j++)
					ready = done[j];
			}
			for (size_t k = 0; k < srcs[i].n_reads && ready; k++)
				ready = done[b->deps[srcs[i].reads + k]];
			/* with one worker, keep kaniko's order */
			if (!ready || (max == 1 && i > 0 && !done[i - 1]))
				continue;
			struct stage_job *job = xcalloc(1, sizeof(*job));
			job->sc = &sc;
			job->idx = i;
			running[i] = true;
			sc.active++;
			if (pthread_create(&threads[i], NULL, stage_thread, job) != 0) {
				running[i] = false;
				sc.active--;
				free(job);
				sc.err = NULL;
				kiln_err_set(&sc.err, "cannot start a thread for stage %zu", i);
				break;
			}
			started[i] = true;
			launched = true;
		}
		if (!launched || sc.active >= max)
			pthread_cond_wait(&sc.cv, &sc.lock);
	}
	pthread_mutex_unlock(&sc.lock);
	for (size_t i = 0; i < n; i++) {
		if (started[i])
			pthread_join(threads[i], NULL);
	}
	pthread_cond_destroy(&sc.cv);
	pthread_mutex_destroy(&sc.lock);
	if (sc.err) {
		kiln_err_free(*err);
		*err = sc.err;
		return -1;
	}
	return 0;
}

int build_run(const struct build_opts *o, struct blobstore *bs, struct registry *reg,
              struct build_result *ret, struct kiln_err **err)
{
	_cleanup_(builder_release) struct builder b = {
	    .o = o, .bs = bs, .reg = reg, .lock = PTHREAD_MUTEX_INITIALIZER};
	int r = build_resolve_context(o, &b.context, err);
	if (r < 0)
		return r;
	cleanup_free char *path = NULL;
	r = find_dockerfile(&b, &path, err);
	if (r < 0)
		return r;
	cleanup_free char *text = NULL;
	size_t len = 0;
	r = read_file_at(AT_FDCWD, path, LIMIT_DOCKERFILE, &text, &len, err);
	if (r < 0)
		return r;
	const char *base = strrchr(path, '/');
	b.dockerfile_path = xstrdup(base ? base + 1 : path);
	r = dockerignore_load(b.context, path, &b.dockerignore, err);
	if (r < 0)
		return r;
	r = dockerfile_parse(b.dockerfile_path, text, len, &b.df, err);
	if (r < 0)
		return r;
	b.source_date_epoch = fs_source_date_epoch(err);
	if (b.source_date_epoch < 0)
		return kiln_err_wrap(err, "SOURCE_DATE_EPOCH");
	r = choose_isolation(&b, err);
	if (r < 0)
		return r;
	b.build_args = collect_build_args(o);
	size_t first = 0;
	r = meta_args_resolve(&b, &first, err);
	if (r < 0)
		return r;

	/* split into stages */
	cleanup_free struct stage_src *srcs = NULL;
	size_t n = 0, cap_srcs = 0;
	for (size_t i = first; i < b.df->n_instrs; i++) {
		const struct df_instr *in = &b.df->instrs[i];
		if (streq(in->cmd, "from")) {
			XGROW(srcs, n + 1, cap_srcs);
			srcs[n] = (struct stage_src){.from = in, .first = i + 1, .end = i + 1};
			if (in->args && in->args[0] && in->args[1] &&
			    !strcasecmp(in->args[1], "as") && in->args[2])
				srcs[n].name = in->args[2];
			n++;
		} else {
			srcs[n - 1].end = i + 1;
		}
	}
	size_t target = n - 1;
	if (o->target && *o->target) {
		bool found = false;
		for (size_t i = 0; i < n; i++) {
			if (srcs[i].name && !strcasecmp(srcs[i].name, o->target)) {
				target = i;
				found = true;
				break;
			}
		}
		if (!found)
			return kiln_err_set(err,
			                    "Error finding target stage: %s is not a valid "
			                    "target build stage",
			                    o->target);
	}
	r = prepare_run_files(&b, err);
	if (r < 0)
		return r;
	stage_deps(&b, srcs, target + 1);
	cleanup_free bool *needed = xcalloc(target + 1, sizeof(bool));
	needed[target] = true;
	size_t needed_below = 0; /* a needed stage reads every stage below this one */
	for (size_t i = target + 1; i-- > 0;) {
		/* a stage reads an earlier one through FROM <name|index> or COPY --from */
		needed[i] |= i < needed_below;
		if (!needed[i])
			continue;
		if (srcs[i].reads_any && i > needed_below)
			needed_below = i;
		for (size_t k = 0; k < srcs[i].n_reads; k++)
			needed[b.deps[srcs[i].reads + k]] = true;
	}
	log_info("Built cross stage deps: map[]");
	b.n_stages = target + 1;
	b.stages = xcalloc(b.n_stages, sizeof(*b.stages));
	for (size_t i = 0; i <= target; i++) {
		struct stage *st = xcalloc(1, sizeof(*st));
		st->rootfd = -1;
		st->index = (int)i;
		st->name = srcs[i].name ? xstrdup(srcs[i].name) : NULL;
		b.stages[i] = st;
		if (!needed[i] && o->skip_unused_stages) {
			log_info("Skipping stage %zu: the target does not use it", i);
			st->skipped = true;
		}
	}
	r = cache_setup(&b, err);
	if (r < 0)
		return r;
	r = pull_copy_images(&b, srcs, target + 1, n, err);
	if (r < 0)
		return r;
	r = build_stages(&b, srcs, target + 1, err);
	if (r < 0) {
		if (b.stages_tmpfs && sandbox_tmpfs_full(b.stages_tmpfs))
			log_warn(
			    "The stage roots' tmpfs at %s is full: --stage-storage=tmpfs:<size> "
			    "gives it more memory, --stage-storage=disk keeps the roots on disk",
			    b.stages_tmpfs);
		return r;
	}
	if (b.scache)
		cache_push_all(&b);
	strv_foreach (a, b.build_args) {
		cleanup_free char *k = xstrndup(a, strcspn(a, "="));
		if (!strv_contains(b.used_build_args, k) && !instr_is_proxy_arg(k) &&
		    !meta_var(&b, k, strlen(k)))
			log_warn("[Warning] One or more build-args [%s] were not consumed", k);
	}
	r = finish_image(&b, b.stages[target], ret, err);
	if (r < 0 || !o->cleanup)
		return r;
	/* --cleanup: leave the container ready for another build (the blob store stays) */
	log_info("Deleting filesystem...");
	if (b.inplace) {
		cleanup_close int rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0)
			return kiln_err_errno(err, "open /");
		r = inplace_wipe(rootfd, b.ignore, err);
		if (r < 0)
			return r;
	}
	cleanup_free char *stages = path_join(o->kaniko_dir, "stages");
	if (b.stages_tmpfs)
		return sandbox_private_tmpfs_remove(stages, err);
	return rm_rf(stages, err);
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
