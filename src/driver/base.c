/* base.c — a stage's base image: its manifest and config from the registry (or the warmer's
 * --cache-dir), and its layers, pulled on a thread of their own while the stage unpacks each
 * one as soon as it is there. */
#include "driver.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"
#include "fs/extract.h"
#include "util/limits.h"
#include "util/progress.h"
#include "util/timing.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* pulls the base image's manifest and config; layers come later, when the root is needed */
int stage_from_registry(struct builder *b, struct stage *s, const char *image,
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

int stage_unpack(struct builder *b, struct stage *s, const struct image_ref *ref, bool inplace,
                 struct kiln_err **err)
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
