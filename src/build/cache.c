/* cache.c — the layer cache: composite keys, look-ups and stores of one-step images in a
 * registry repository (kaniko's --cache model, with kiln's own key: see docs/cache.md). */
#include "cache.h"
#include "build/opts.h"
#include "registry/ref.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/walk.h"
#include "util/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_AUTHOR "kiln"

void cache_hit_release(struct cache_hit *h)
{
	free(h->layer.media_type);
	free(h->created_by);
	memset(h, 0, sizeof(*h));
}

/* every part is framed by its length, so that no two sequences of parts hash alike */
static void part(struct sha256 *h, const char *tag, const void *data, size_t len)
{
	char hdr[64];
	int n = snprintf(hdr, sizeof(hdr), "%s %zu:", tag, len);
	sha256_update(h, hdr, (size_t)n);
	sha256_update(h, data, len);
}

static void part_str(struct sha256 *h, const char *tag, const char *s)
{
	part(h, tag, s ? s : "", s ? strlen(s) : 0);
}

static void key_finish(struct sha256 *h, char key[CACHE_KEY_LEN + 1])
{
	char d[DIGEST_STRING_LEN + 1];
	sha256_final_digest(h, d);
	memcpy(key, digest_hex(d), CACHE_KEY_LEN + 1);
}

void cache_key_start(char key[CACHE_KEY_LEN + 1], const char *base, const char *platform,
                     const struct stage *s)
{
	struct sha256 h;
	sha256_init(&h);
	part_str(&h, "kiln-cache", "v1");
	part_str(&h, "base", base);
	part_str(&h, "platform", platform);
	part_str(&h, "format", s->format == IMAGE_OCI ? "oci" : "docker");
	part_str(&h, "compression", s->compression == FS_ZSTD ? "zstd" : "gzip");
	key_finish(&h, key);
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[\\") != NULL;
}

/* names (relative), types, permission bits, contents and link targets below dirfd/name;
 * owners and mtimes are left out: COPY sets the owner itself and keeps no meaning in mtime
 * that the cache could honour */
static int hash_entry(struct sha256 *h, int dirfd, const char *name, const char *rel,
                      const struct stat *stp, struct kiln_err **err)
{
	const struct stat st = *stp;
	char mode[16];
	snprintf(mode, sizeof(mode), "%o", (unsigned)st.st_mode);
	part_str(h, "path", rel);
	part_str(h, "mode", mode);
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target));
		if (n < 0)
			return kiln_err_errno(err, "cache key: readlink '%s'", rel);
		part(h, "link", target, (size_t)n);
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return kiln_err_errno(err, "cache key: open '%s'", rel);
		struct sha256 fh;
		sha256_init(&fh);
		char buf[65536];
		for (;;) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				sha256_release(&fh);
				return kiln_err_errno(err, "cache key: read '%s'", rel);
			}
			if (n == 0)
				break;
			sha256_update(&fh, buf, (size_t)n);
		}
		char d[DIGEST_STRING_LEN + 1];
		sha256_final_digest(&fh, d);
		part_str(h, "content", d);
		return 0;
	}
	return 0;
}

struct hash_walk {
	struct sha256 *h;
	const char *rel;
};

static int hash_visit(struct walk_entry *e, void *ud, struct kiln_err **err)
{
	struct hash_walk *w = ud;
	if (e->post)
		return WALK_NEXT;
	cleanup_free char *sub = path_join(w->rel, e->path);
	int r = hash_entry(w->h, e->dirfd, e->name, sub, &e->st, err);
	return r < 0 ? r : S_ISDIR(e->st.st_mode) ? WALK_DESCEND : WALK_NEXT;
}

/* the tree at dirfd/name in path order (walk_tree: iterative, any depth) */
static int hash_tree(struct sha256 *h, int dirfd, const char *name, const char *rel,
                     struct kiln_err **err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT) {
			part_str(h, "absent", rel);
			return 0;
		}
		return kiln_err_errno(err, "cache key: stat '%s'", rel);
	}
	int r = hash_entry(h, dirfd, name, rel, &st, err);
	if (r < 0 || !S_ISDIR(st.st_mode))
		return r;
	cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_errno(err, "cache key: open '%s'", rel);
	struct hash_walk w = {.h = h, .rel = rel};
	struct walk_opts o = {.shadow_fd = -1, .what = rel};
	return walk_tree(fd, &o, hash_visit, &w, err);
}

bool cache_step_cacheable(const struct build_opts *o, const struct plan_instr *pi)
{
	if (pi->kind == INSTR_RUN)
		return o->cache_run_layers && pi->in->n_flags == 0;
	if (pi->kind == INSTR_COPY)
		return o->cache_copy_layers && !pi->copy.has_from;
	return false;
}

int cache_key_step(char key[CACHE_KEY_LEN + 1], struct stage *s, const struct plan_instr *pi,
                   struct kiln_err **err)
{
	const struct df_instr *in = pi->in;
	struct sha256 h;
	sha256_init(&h);
	part_str(&h, "prev", key);
	part_str(&h, "instr", in->original);
	for (size_t i = 0; i < in->n_heredocs; i++) {
		part_str(&h, "heredoc", in->heredocs[i].name);
		part_str(&h, "body", in->heredocs[i].content);
	}
	bool run = pi->kind == INSTR_RUN, copy = pi->kind == INSTR_COPY;
	if (run || copy) {
		/* what the step sees: Env, User, WorkingDir, Shell... and the ARGs in scope */
		cleanup_free char *cc = kjson_dump(image_config_container(s->config));
		part_str(&h, "config", cc);
		cleanup_strv char **env = stage_expand_env(s);
		qsort(env, strv_length(env), sizeof(char *), cmp_strp);
		strv_foreach (e, env)
			part_str(&h, "env", e);
	}
	if (copy && !pi->copy.has_from) {
		cleanup_close int ctx = open(s->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (ctx < 0) {
			sha256_release(&h);
			return kiln_err_errno(err, "cache key: open context '%s'", s->context);
		}
		bool whole = false;
		for (size_t i = 0; i + 1 < in->n_args; i++) {
			if (startswith(in->args[i], "<<"))
				continue; /* a heredoc, hashed above */
			cleanup_free char *src = NULL;
			if (stage_expand(s, in->args[i], &src, err) < 0) {
				sha256_release(&h);
				return -1;
			}
			if (has_glob(src)) {
				whole =
				    true; /* whatever the pattern matches is in the whole context */
				continue;
			}
			/* cleaned inside the context, as COPY does: "../x" is "x" */
			cleanup_free char *rooted = xasprintf("/%s", src);
			cleanup_free char *clean = path_clean(rooted);
			const char *rel = clean + 1;
			if (hash_tree(&h, ctx, *rel ? rel : ".", *rel ? rel : ".", err) < 0) {
				sha256_release(&h);
				return -1;
			}
		}
		if (whole && hash_tree(&h, ctx, ".", ".", err) < 0) {
			sha256_release(&h);
			return -1;
		}
	}
	key_finish(&h, key);
	return 0;
}

/* "2026-11-23T12:00:00Z" (fractions and offsets as Go writes them are tolerated: only the
 * first 19 characters, read as UTC, matter here) */
static bool parse_created(const char *s, time_t *ret)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*ret = timegm(&tm);
	return *ret != (time_t)-1;
}

int cache_lookup(struct registry *reg, struct blobstore *bs, const char *repo, const char *key,
                 int64_t ttl_ns, struct cache_hit *ret, bool *ret_hit, struct kiln_err **err)
{
	*ret_hit = false;
	cleanup_free char *name = xasprintf("%s:%s", repo, key);
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	int r = image_ref_parse(name, &ref, err);
	if (r < 0)
		return r;
	cleanup_free char *body = NULL, *mt = NULL;
	size_t len = 0;
	char mdigest[DIGEST_STRING_LEN + 1];
	cleanup_err struct kiln_err *e = NULL;
	if (registry_get_manifest(reg, ref, NULL, &body, &len, &mt, mdigest, &e) < 0) {
		log_debug("Cache look-up of %s: %s", name, kiln_err_msg(e));
		return 0;
	}
	_cleanup_(manifest_freep) struct manifest *m = NULL;
	if (manifest_parse(body, len, mt, &m, &e) < 0 || m->n_layers > 1) {
		log_warn("Cache entry %s is not a one-layer image: ignored", name);
		return 0;
	}
	const char *cfg_digest = m->config_digest;
	if (registry_fetch_blobs(reg, ref, &cfg_digest, 1, bs, &e) < 0) {
		log_warn("Cache entry %s: %s", name, kiln_err_msg(e));
		return 0;
	}
	cleanup_free char *cfg = NULL;
	size_t cfg_len = 0;
	r = blobstore_read(bs, cfg_digest, LIMIT_CONFIG, &cfg, &cfg_len, err);
	if (r < 0)
		return r;
	json_t *c = NULL;
	if (kjson_parse(cfg, cfg_len, "cache entry config", &c, &e) < 0) {
		log_warn("Cache entry %s: %s", name, kiln_err_msg(e));
		return 0;
	}
	json_t *hist = json_array_get(json_object_get(c, "history"), 0);
	const char *author = json_string_value(json_object_get(hist, "author"));
	const char *created_by = json_string_value(json_object_get(hist, "created_by"));
	const char *diff_id = json_string_value(
	    json_array_get(json_object_get(json_object_get(c, "rootfs"), "diff_ids"), 0));
	time_t created = 0;
	bool ok = author && streq(author, CACHE_AUTHOR) && created_by &&
	          parse_created(json_string_value(json_object_get(c, "created")), &created) &&
	          (m->n_layers == 0 || (diff_id && digest_valid(diff_id)));
	if (!ok) {
		json_decref(c);
		log_warn("Cache entry %s was not written by kiln: ignored", name);
		return 0;
	}
	/* valid while created + ttl is in the future (created has whole seconds) */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t age_s = (int64_t)(now.tv_sec - created);
	if (age_s > ttl_ns / 1000000000 ||
	    (age_s == ttl_ns / 1000000000 && now.tv_nsec >= ttl_ns % 1000000000)) {
		json_decref(c);
		log_info("Cache entry expired: %s", name);
		return 0;
	}
	ret->n_layers = m->n_layers;
	if (m->n_layers) {
		ret->layer = m->layers[0];
		ret->layer.media_type = xstrdup(m->layers[0].media_type);
		memcpy(ret->layer.diff_id, diff_id, DIGEST_STRING_LEN + 1);
	}
	ret->created_by = xstrdup(created_by);
	json_decref(c);
	*ret_hit = true;
	return 0;
}

int cache_store(struct registry *reg, struct blobstore *bs, const char *repo, const char *key,
                enum image_format format, const struct image_layer *layer, const char *created_by,
                const char *platform, struct kiln_err **err)
{
	cleanup_free char *name = xasprintf("%s:%s", repo, key);
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	int r = image_ref_parse(name, &ref, err);
	if (r < 0)
		return r;
	json_t *cfg = image_config_new(platform);
	cleanup_free char *now = image_time_now(false, 0);
	json_object_set_new(cfg, "created", json_string(now));
	json_object_set_new(cfg, "author", json_string(CACHE_AUTHOR));
	image_config_add_history(cfg, created_by, layer ? layer->diff_id : NULL, !layer, now);
	json_object_set_new(json_array_get(json_object_get(cfg, "history"), 0), "author",
	                    json_string(CACHE_AUTHOR));
	cleanup_free char *body = kjson_dump(cfg);
	json_decref(cfg);
	size_t len = strlen(body);
	char cfg_digest[DIGEST_STRING_LEN + 1];
	r = blobstore_put(bs, body, len, cfg_digest, err);
	if (r < 0)
		return r;
	const char *digests[2] = {cfg_digest, layer ? layer->digest : NULL};
	r = registry_push_blobs(reg, ref, digests, layer ? 2 : 1, NULL, bs, err);
	if (r < 0)
		return r;
	cleanup_free char *manifest = manifest_build(format, cfg_digest, len, layer, layer ? 1 : 0);
	log_info("Pushing layer %s to cache now", name);
	return registry_put_manifest(reg, ref, manifest_media_type(format), manifest,
	                             strlen(manifest), err);
}

/* the digest a warmer tarball entry holds: "sha256:<hex>" (the config) or "<hex>.tar.gz" */
static bool entry_digest(const char *name, char out[DIGEST_STRING_LEN + 1])
{
	if (digest_valid(name)) {
		memcpy(out, name, DIGEST_STRING_LEN + 1);
		return true;
	}
	if (strlen(name) != SHA256_HEX_LEN + STRLEN(".tar.gz") ||
	    !streq(name + SHA256_HEX_LEN, ".tar.gz"))
		return false;
	snprintf(out, DIGEST_STRING_LEN + 1, "sha256:%.*s", SHA256_HEX_LEN, name);
	return digest_valid(out);
}

static int import_entries(struct archive *a, const char *path, const char *const *want, size_t n,
                          struct blobstore *bs, size_t *ret_found, struct kiln_err **err)
{
	struct archive_entry *e;
	int ar;
	while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		char d[DIGEST_STRING_LEN + 1];
		const char *name = archive_entry_pathname(e);
		if (!name || !entry_digest(name, d))
			continue;
		bool wanted = false;
		for (size_t i = 0; i < n && !wanted; i++)
			wanted = streq(want[i], d);
		if (!wanted || blobstore_has(bs, d, NULL)) {
			*ret_found += wanted;
			continue;
		}
		_cleanup_(blob_writer_freep) struct blob_writer *w = NULL;
		int r = blob_writer_new(bs, &w, err);
		if (r < 0)
			return r;
		char buf[65536];
		for (;;) {
			la_ssize_t got = archive_read_data(a, buf, sizeof(buf));
			if (got < 0)
				return kiln_err_set(err, "read '%s': %s", path,
				                    archive_error_string(a));
			if (got == 0)
				break;
			r = blob_writer_write(w, buf, (size_t)got, err);
			if (r < 0)
				return r;
		}
		r = blob_writer_commit(w, d, NULL, NULL, err);
		if (r < 0)
			return kiln_err_wrap(err, "'%s'", path);
		(*ret_found)++;
	}
	if (ar != ARCHIVE_EOF)
		return kiln_err_set(err, "read '%s': %s", path, archive_error_string(a));
	return 0;
}

int cache_dir_import(const char *dir, const char *manifest_digest, int64_t ttl_ns,
                     const char *const *want, size_t n, struct blobstore *bs)
{
	cleanup_free char *path = path_join(dir, manifest_digest);
	struct stat st;
	if (stat(path, &st) < 0) {
		log_debug("Image %s not found in local cache %s", manifest_digest, dir);
		return 0;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if ((int64_t)(now.tv_sec - st.st_mtim.tv_sec) * 1000000000 +
	        (now.tv_nsec - st.st_mtim.tv_nsec) >
	    ttl_ns) {
		log_debug("Local cache entry %s expired", path);
		return 0;
	}
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	size_t found = 0;
	cleanup_err struct kiln_err *e = NULL;
	int r = 0;
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK)
		r = kiln_err_set(&e, "open '%s': %s", path, archive_error_string(a));
	else
		r = import_entries(a, path, want, n, bs, &found, &e);
	archive_read_free(a);
	if (r < 0) {
		log_error("Error while retrieving image from cache: %s %s", manifest_digest,
		          kiln_err_msg(e));
		return 0;
	}
	log_info("Found %s in local cache", manifest_digest);
	if (found < n)
		log_warn("Local cache entry %s holds %zu of the image's %zu blobs; the rest are "
		         "pulled",
		         path, found, n);
	return 1;
}
