/* registry.c — Distribution API v2 operations: manifests (with platform selection), blob
 * downloads into the blob store, blob uploads (HEAD, mount, POST + PUT), manifest pushes and
 * kaniko's push-permission check. Hosts, credentials and tokens live in http.c, transfers in
 * net/net.h. */
#include "http.h"

#include "image/index.h"

#include "util/json.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_INFLIGHT 4

static const char manifest_accept[] = "Accept: " MEDIA_OCI_MANIFEST ", " MEDIA_DOCKER_MANIFEST
                                      ", " MEDIA_OCI_INDEX ", " MEDIA_DOCKER_LIST;

static char *pull_scope(const char *repo)
{
	return xasprintf("repository:%s:pull", repo);
}

static char *push_scope(const char *repo, const char *mount_from)
{
	if (mount_from && !streq(mount_from, repo))
		return xasprintf("repository:%s:pull,push repository:%s:pull", repo, mount_from);
	return xasprintf("repository:%s:pull,push", repo);
}

static bool is_index_type(const char *mt)
{
	return streq(mt, MEDIA_OCI_INDEX) || streq(mt, MEDIA_DOCKER_LIST);
}

static bool is_manifest_type(const char *mt)
{
	return streq(mt, MEDIA_OCI_MANIFEST) || streq(mt, MEDIA_DOCKER_MANIFEST);
}

/* the media type from Content-Type, or from the body when the registry sends a generic one */
static char *manifest_media_type(const char *content_type, json_t *j)
{
	if (content_type) {
		cleanup_free char *ct = xstrndup(content_type, strcspn(content_type, "; "));
		if (is_index_type(ct) || is_manifest_type(ct) || startswith(ct, "application/vnd."))
			return TAKE_PTR(ct);
	}
	const char *mt = kjson_str(j, "mediaType");
	if (mt)
		return xstrdup(mt);
	if (json_object_get(j, "manifests"))
		return xstrdup(MEDIA_OCI_INDEX);
	if (json_object_get(j, "config") && json_object_get(j, "layers"))
		return xstrdup(MEDIA_OCI_MANIFEST);
	return xstrdup(content_type ? content_type : "");
}

struct manifest_res {
	char *body;
	size_t len;
	char *media_type;
	char digest[DIGEST_STRING_LEN + 1];
};

static void manifest_res_release(struct manifest_res *m)
{
	free(m->body);
	free(m->media_type);
	*m = (struct manifest_res){};
}

/* GET /v2/<repo>/manifests/<reference>; expected (a digest) may be NULL */
static int fetch_manifest(struct registry *r, struct http_host *h, const char *repo,
                          const char *reference, const char *expected, struct manifest_res *ret,
                          struct kiln_err **err)
{
	cleanup_free char *scope = pull_scope(repo);
	_cleanup_(http_xfer_release) struct net_xfer x = {};
	http_xfer_init(&x, r, h, "GET",
	               xasprintf("%s/v2/%s/manifests/%s", h->base, repo, reference), scope);
	strv_push(&x.headers, xstrdup(manifest_accept));
	x.resp_max = LIMIT_MANIFEST;
	x.follow = true; /* Authorization is dropped if it leads to another origin */
	if (net_request(&x, err) < 0)
		return -1;
	if (x.status != 200)
		return net_status_err(&x, err);

	char digest[DIGEST_STRING_LEN + 1];
	sha256_digest(x.resp.ptr, x.resp.len, digest);
	cleanup_free char *u = net_url_for_msg(x.url);
	if (expected && !streq(expected, digest))
		return kiln_err_set(err,
		                    "GET %s: manifest digest %s does not match the expected %s", u,
		                    digest, expected);
	if (!expected && x.docker_digest && startswith(x.docker_digest, "sha256:") &&
	    !streq(x.docker_digest, digest))
		return kiln_err_set(
		    err, "GET %s: manifest digest %s does not match Docker-Content-Digest %s", u,
		    digest, x.docker_digest);
	cleanup_json json_t *j = NULL;
	if (kjson_parse(x.resp.ptr, x.resp.len, "manifest", &j, err) < 0)
		return kiln_err_wrap(err, "GET %s", u);
	if (!json_is_object(j))
		return kiln_err_set(err, "GET %s: manifest is not a JSON object", u);
	cleanup_free char *mt = manifest_media_type(x.content_type, j);
	if (!is_index_type(mt) && !is_manifest_type(mt))
		return kiln_err_set(err, "GET %s: unsupported manifest media type '%s'", u, mt);

	ret->len = x.resp.len;
	ret->body = kiln_buf_detach(&x.resp, NULL);
	ret->media_type = TAKE_PTR(mt);
	memcpy(ret->digest, digest, sizeof(digest));
	return 0;
}

static const char *default_platform(void)
{
#if defined(__aarch64__)
	return "linux/arm64";
#elif defined(__arm__)
	return "linux/arm/v7";
#elif defined(__s390x__)
	return "linux/s390x";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "linux/ppc64le";
#else
	return "linux/amd64";
#endif
}

/* the manifest of repo:reference on one registry, an index resolved for platform */
static int manifest_at(struct registry *r, const char *registry, const char *repo,
                       const struct image_ref *ref, const char *platform, struct manifest_res *ret,
                       struct kiln_err **err)
{
	struct http_host *h = NULL;
	if (http_host_get(r, registry, HTTP_PULL, &h, err) < 0)
		return -1;
	const char *reference = ref->digest ? ref->digest : ref->tag ? ref->tag : "latest";
	_cleanup_(manifest_res_release) struct manifest_res m = {};
	if (fetch_manifest(r, h, repo, reference, ref->digest, &m, err) < 0)
		return -1;
	if (is_index_type(m.media_type)) {
		char child[DIGEST_STRING_LEN + 1];
		if (!platform)
			platform = default_platform();
		if (image_index_select(m.body, m.len, platform, child, err) < 0)
			return -1;
		log_debug("Selected %s for platform %s from the index of %s/%s", child, platform,
		          registry, repo);
		manifest_res_release(&m);
		if (fetch_manifest(r, h, repo, child, child, &m, err) < 0)
			return -1;
		if (!is_manifest_type(m.media_type))
			return kiln_err_set(err, "index entry %s is a '%s', not an image manifest",
			                    child, m.media_type);
	}
	*ret = m;
	m = (struct manifest_res){};
	return 0;
}

/* ---- registry maps: where pulls go ---- */

struct pull_target {
	char *registry;
	char *repository;
};

static void pull_targets_free(struct pull_target *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(t[i].registry);
		free(t[i].repository);
	}
	free(t);
}

/* the mapped targets for ref's registry, in the order given: "orig=host[/prefix]" */
static size_t mapped_targets(const struct registry *r, const struct image_ref *ref,
                             struct pull_target **ret)
{
	struct pull_target *t = NULL;
	size_t n = 0, rl = strlen(ref->registry);
	strv_foreach (m, r->opts.registry_maps) {
		if (!strneq(m, ref->registry, rl) || m[rl] != '=')
			continue;
		const char *target = m + rl + 1;
		/* a scheme written by habit says nothing: the insecure options choose it */
		if (startswith(target, "https://"))
			target += strlen("https://");
		else if (startswith(target, "http://"))
			target += strlen("http://");
		size_t hl = strcspn(target, "/");
		if (!hl)
			continue;
		const char *prefix = target + hl;
		while (*prefix == '/')
			prefix++;
		size_t pl = strlen(prefix);
		while (pl && prefix[pl - 1] == '/')
			pl--;
		t = xreallocarray(t, n + 1, sizeof(*t));
		t[n].registry = xstrndup(target, hl);
		t[n].repository = pl ? xasprintf("%.*s/%s", (int)pl, prefix, ref->repository)
		                     : xstrdup(ref->repository);
		n++;
	}
	*ret = t;
	return n;
}

static char *ref_string_at(const struct image_ref *ref, const char *registry, const char *repo)
{
	struct image_ref t = *ref;
	t.registry = (char *)registry;
	t.repository = (char *)repo;
	return image_ref_string(&t);
}

static void source_record(struct registry *r, const struct image_ref *ref, const char *registry,
                          const char *repo)
{
	cleanup_free char *image = image_ref_string(ref);
	struct pull_source *s = NULL;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n_sources && !s; i++)
		if (streq(r->sources[i].image, image))
			s = &r->sources[i];
	if (!s) {
		r->sources = xreallocarray(r->sources, r->n_sources + 1, sizeof(*r->sources));
		s = &r->sources[r->n_sources++];
		*s = (struct pull_source){.image = TAKE_PTR(image), .name = image_ref_name(ref)};
	} else {
		free(s->registry);
		free(s->repository);
	}
	s->registry = xstrdup(registry);
	s->repository = xstrdup(repo);
	pthread_mutex_unlock(&r->mu);
}

/* where the manifest of ref (or, failing an exact match, of the latest pulled tag or digest of
 * the same repository) came from; called under r->mu */
static const struct pull_source *source_find(const struct registry *r, const struct image_ref *ref)
{
	cleanup_free char *image = image_ref_string(ref);
	cleanup_free char *name = image_ref_name(ref);
	const struct pull_source *by_name = NULL;
	for (size_t i = 0; i < r->n_sources; i++) {
		if (streq(r->sources[i].image, image))
			return &r->sources[i];
		if (streq(r->sources[i].name, name))
			by_name = &r->sources[i];
	}
	return by_name;
}

/* one pull operation at a registry and repository */
typedef int (*pull_fn)(struct registry *r, const char *registry, const char *repo,
                       const struct image_ref *ref, void *data, struct kiln_err **err);

/* runs fn at each mapped target of ref in order, then at ref's own registry (kaniko's
 * pkg/image/remote semantics, reference §5.4); the registry that worked is recorded */
static int pull_with_maps(struct registry *r, const struct image_ref *ref, const char *what,
                          pull_fn fn, void *data, struct kiln_err **err)
{
	struct pull_target *t = NULL;
	size_t n = mapped_targets(r, ref, &t);
	int ret = -1;
	bool done = false;
	for (size_t i = 0; i < n && !done; i++) {
		cleanup_free char *remapped = ref_string_at(ref, t[i].registry, t[i].repository);
		log_info("Retrieving image %s from mapped registry %s", remapped, t[i].registry);
		cleanup_err struct kiln_err *e = NULL;
		if (fn(r, t[i].registry, t[i].repository, ref, data, &e) >= 0) {
			source_record(r, ref, t[i].registry, t[i].repository);
			ret = 0;
			done = true;
			break;
		}
		log_warn("Failed to retrieve image %s from remapped registry %s: %s. Will try with "
		         "the next registry, or fallback to the original registry.",
		         remapped, t[i].registry, kiln_err_msg(e));
	}
	pull_targets_free(t, n);
	if (done)
		return ret;
	if (n && r->opts.skip_default_registry_fallback) {
		cleanup_free char *image = image_ref_string(ref);
		return kiln_err_set(
		    err, "image not found on any configured mapped registries for %s", image);
	}
	if (fn(r, ref->registry, ref->repository, ref, data, err) < 0) {
		cleanup_free char *image = image_ref_string(ref);
		return kiln_err_wrap(err, "%s '%s'", what, image);
	}
	source_record(r, ref, ref->registry, ref->repository);
	return 0;
}

struct manifest_call {
	const char *platform;
	struct manifest_res res;
};

static int manifest_fn(struct registry *r, const char *registry, const char *repo,
                       const struct image_ref *ref, void *data, struct kiln_err **err)
{
	struct manifest_call *c = data;
	return manifest_at(r, registry, repo, ref, c->platform, &c->res, err);
}

static void sizes_from_manifest(struct registry *r, const char *body, size_t len);

int registry_get_manifest(struct registry *r, const struct image_ref *ref, const char *platform,
                          char **ret_body, size_t *ret_len, char **ret_media_type,
                          char ret_digest[DIGEST_STRING_LEN + 1], struct kiln_err **err)
{
	struct manifest_call c = {.platform = platform};
	if (pull_with_maps(r, ref, "get manifest for", manifest_fn, &c, err) < 0) {
		manifest_res_release(&c.res);
		return -1;
	}
	if (is_manifest_type(c.res.media_type))
		sizes_from_manifest(r, c.res.body, c.res.len);
	*ret_len = c.res.len;
	*ret_body = TAKE_PTR(c.res.body);
	*ret_media_type = TAKE_PTR(c.res.media_type);
	memcpy(ret_digest, c.res.digest, DIGEST_STRING_LEN + 1);
	return 0;
}

/* ---- blob downloads ---- */

static void size_record(struct registry *r, const char *digest, json_int_t size)
{
	if (!digest || !digest_valid(digest) || size < 0)
		return;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n_sizes; i++)
		if (streq(r->sizes[i].digest, digest)) {
			/* two manifests disagree: the larger bound, the digest decides */
			r->sizes[i].size = MAX(r->sizes[i].size, (uint64_t)size);
			pthread_mutex_unlock(&r->mu);
			return;
		}
	XGROW(r->sizes, r->n_sizes + 1, r->cap_sizes);
	struct blob_size *b = &r->sizes[r->n_sizes++];
	memcpy(b->digest, digest, sizeof(b->digest));
	b->size = (uint64_t)size;
	pthread_mutex_unlock(&r->mu);
}

/* remembers the sizes an image manifest declares for its config and layers */
static void sizes_from_manifest(struct registry *r, const char *body, size_t len)
{
	json_error_t je;
	cleanup_json json_t *j = json_loadb(body, len, 0, &je);
	json_t *cfg = json_object_get(j, "config");
	json_t *cs = json_object_get(cfg, "size");
	if (json_is_integer(cs))
		size_record(r, kjson_str(cfg, "digest"), json_integer_value(cs));
	size_t i;
	json_t *l;
	json_array_foreach(json_object_get(j, "layers"), i, l)
	{
		json_t *ls = json_object_get(l, "size");
		if (json_is_integer(ls))
			size_record(r, kjson_str(l, "digest"), json_integer_value(ls));
	}
}

static uint64_t size_declared(struct registry *r, const char *digest)
{
	uint64_t size = 0;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n_sizes && !size; i++)
		if (streq(r->sizes[i].digest, digest))
			size = r->sizes[i].size;
	pthread_mutex_unlock(&r->mu);
	return size;
}

struct fetch_job {
	struct net_job job;
	const char *digest;
};

static int fetch_step(struct net_job *j, struct kiln_err **err)
{
	struct fetch_job *f = (struct fetch_job *)j;
	struct net_xfer *x = &j->x;
	if (x->status != 200)
		return net_status_err(x, err);
	cleanup_free char *u = net_url_for_msg(x->url);
	if (blob_writer_commit(x->bw, f->digest, NULL, NULL, err) < 0)
		return kiln_err_wrap(err, "GET %s", u);
	x->bw = blob_writer_free(x->bw);
	x->prog = progress_end(x->prog, true);
	REGISTRY_STAT_INC(xfer_registry(x), blob_fetches);
	return 0;
}

static bool seen_before(const char *const *digests, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (streq(digests[k], digests[i]))
			return true;
	return false;
}

struct blobs_call {
	const char *const *digests;
	size_t n;
	struct blobstore *bs;
};

static int blobs_fn(struct registry *r, const char *registry, const char *repo,
                    const struct image_ref *ref _unused_, void *data, struct kiln_err **err)
{
	struct blobs_call *c = data;
	struct http_host *h = NULL;
	if (http_host_get(r, registry, HTTP_PULL, &h, err) < 0)
		return -1;
	cleanup_free char *scope = pull_scope(repo);
	size_t n = c->n;
	cleanup_free struct fetch_job *fj = xcalloc(n ? n : 1, sizeof(*fj));
	cleanup_free struct net_job **jobs = xcalloc(n ? n : 1, sizeof(*jobs));
	size_t nj = 0;
	for (size_t i = 0; i < n; i++) {
		if (seen_before(c->digests, i) || blobstore_has(c->bs, c->digests[i], NULL))
			continue;
		struct fetch_job *f = &fj[nj];
		f->digest = c->digests[i];
		f->job.step = fetch_step;
		http_xfer_init(&f->job.x, r, h, "GET",
		               xasprintf("%s/v2/%s/blobs/%s", h->base, repo, c->digests[i]), scope);
		f->job.x.follow = true;
		f->job.x.bs = c->bs;
		f->job.x.blob_digest = f->digest;
		f->job.x.blob_limit = size_declared(r, f->digest);
		f->job.x.prog = progress_start("Pulling", f->digest, f->job.x.blob_limit);
		jobs[nj++] = &f->job;
	}
	int ret = net_run(&r->net, jobs, nj, MAX_INFLIGHT, err);
	for (size_t i = 0; i < nj; i++)
		http_xfer_release(&fj[i].job.x);
	return ret;
}

int registry_fetch_blobs(struct registry *r, const struct image_ref *ref,
                         const char *const *digests, size_t n, struct blobstore *bs,
                         struct kiln_err **err)
{
	cleanup_free char *name = image_ref_name(ref);
	for (size_t i = 0; i < n; i++)
		if (!digest_valid(digests[i]))
			return kiln_err_set(err, "fetch blobs of '%s': invalid digest '%s'", name,
			                    digests[i]);
	struct blobs_call c = {.digests = digests, .n = n, .bs = bs};
	/* blobs come from the registry that served the manifest, never from another */
	cleanup_free char *registry = NULL, *repo = NULL;
	pthread_mutex_lock(&r->mu);
	const struct pull_source *src = source_find(r, ref);
	if (src) {
		registry = xstrdup(src->registry);
		repo = xstrdup(src->repository);
	}
	pthread_mutex_unlock(&r->mu);
	if (registry) {
		if (blobs_fn(r, registry, repo, ref, &c, err) < 0)
			return kiln_err_wrap(err, "fetch blobs of '%s'", name);
		return 0;
	}
	return pull_with_maps(r, ref, "fetch blobs of", blobs_fn, &c, err);
}

/* ---- blob uploads ---- */

enum {
	PUSH_HEAD,
	PUSH_MOUNT,
	PUSH_POST,
	PUSH_PATCH,
	PUSH_PUT,
};

struct push_job {
	struct net_job job;
	const char *digest;
	const char *repo;
	const char *mount_from;
	struct blobstore *bs;
	int fd;
	uint64_t size;  /* of the blob */
	uint64_t off;   /* bytes the registry has acknowledged (chunked uploads) */
	uint64_t chunk; /* bytes in the PATCH in flight */
};

/* a Location header (absolute or relative to the registry) as an absolute URL */
static char *location_url(const struct net_xfer *x)
{
	const char *loc = x->location;
	if (startswith(loc, "https://") || startswith(loc, "http://"))
		return xstrdup(loc);
	return xasprintf("%s%s%s", xfer_host(x)->base, loc[0] == '/' ? "" : "/", loc);
}

/* the upload URL from a Location header, with ?digest= added */
static char *upload_url(const struct net_xfer *x, const char *digest)
{
	cleanup_free char *loc = location_url(x);
	return xasprintf("%s%sdigest=%s", loc, strchr(loc, '?') ? "&" : "?", digest);
}

static int need_location(struct net_xfer *x, struct kiln_err **err)
{
	if (x->location && *x->location)
		return 0;
	cleanup_free char *u = net_url_for_msg(x->url);
	return kiln_err_set(err, "%s %s: %ld without a Location header", x->method, u, x->status);
}

/* the next PATCH of a chunked upload, to the Location the registry gave last */
static int push_next_chunk(struct push_job *p, struct kiln_err **err)
{
	struct net_xfer *x = &p->job.x;
	if (need_location(x, err) < 0)
		return -1;
	char *url = location_url(x);
	net_xfer_set_url(x, url);
	p->chunk = MIN(xfer_registry(x)->opts.chunk_size, p->size - p->off);
	x->method = "PATCH";
	x->body_fd = p->fd;
	x->body_start = p->off;
	x->body_size = p->chunk;
	strv_free(x->headers);
	x->headers = NULL;
	strv_push(&x->headers, xstrdup("Content-Type: application/octet-stream"));
	strv_pushf(&x->headers, "Content-Range: %llu-%llu", (unsigned long long)p->off,
	           (unsigned long long)(p->off + p->chunk - 1));
	p->job.state = PUSH_PATCH;
	return 1;
}

/* the closing PUT ?digest=: with the whole blob (monolithic) or empty (after the chunks) */
static int push_put(struct push_job *p, bool with_body, struct kiln_err **err)
{
	struct net_xfer *x = &p->job.x;
	if (need_location(x, err) < 0)
		return -1;
	char *url = upload_url(x, p->digest);
	net_xfer_set_url(x, url);
	x->method = "PUT";
	x->body_fd = with_body ? p->fd : -1;
	x->body_start = 0;
	x->body_size = with_body ? p->size : 0;
	strv_free(x->headers);
	x->headers = NULL;
	strv_push(&x->headers, xstrdup("Content-Type: application/octet-stream"));
	p->job.state = PUSH_PUT;
	return 1;
}

/* after the POST (or a declined mount) opened an upload session */
static int push_start_upload(struct push_job *p, struct kiln_err **err)
{
	if (need_location(&p->job.x, err) < 0)
		return -1;
	if (blobstore_open_read(p->bs, p->digest, &p->fd, err) < 0)
		return -1;
	struct stat st;
	if (fstat(p->fd, &st) < 0)
		return kiln_err_errno(err, "stat blob %s", p->digest);
	p->size = (uint64_t)st.st_size;
	p->off = 0;
	if (!p->job.x.prog)
		p->job.x.prog = progress_start("Pushing", p->digest, p->size);
	uint64_t cs = xfer_registry(&p->job.x)->opts.chunk_size;
	if (cs && p->size > cs)
		return push_next_chunk(p, err);
	return push_put(p, true, err);
}

static int push_step(struct net_job *j, struct kiln_err **err)
{
	struct push_job *p = (struct push_job *)j;
	struct net_xfer *x = &j->x;
	switch (j->state) {
	case PUSH_HEAD:
		if (x->status == 200) {
			log_debug("Blob %s already exists in %s", p->digest, p->repo);
			return 0;
		}
		/* a 5xx says nothing about the blob (the distribution registry answers 500 while
		 * another client links the same blob into the repository): upload it, the
		 * registry keeps one copy; a registry that is really down fails the upload */
		if (x->status >= 500)
			log_debug("Blob %s in %s: HEAD answered %ld; uploading it", p->digest,
			          p->repo, x->status);
		else if (x->status != 404)
			return net_status_err(x, err);
		if (p->mount_from && !streq(p->mount_from, p->repo)) {
			net_xfer_set_url(x, xasprintf("%s/v2/%s/blobs/uploads/?mount=%s&from=%s",
			                              xfer_host(x)->base, p->repo, p->digest,
			                              p->mount_from));
			j->state = PUSH_MOUNT;
		} else {
			net_xfer_set_url(
			    x, xasprintf("%s/v2/%s/blobs/uploads/", xfer_host(x)->base, p->repo));
			j->state = PUSH_POST;
		}
		x->method = "POST";
		return 1;
	case PUSH_MOUNT:
		if (x->status == 201) {
			REGISTRY_STAT_INC(xfer_registry(x), blob_mounts);
			return 0;
		}
		if (x->status != 202)
			return net_status_err(x, err);
		return push_start_upload(p, err);
	case PUSH_POST:
		if (x->status != 202)
			return net_status_err(x, err);
		return push_start_upload(p, err);
	case PUSH_PATCH:
		if (x->status != 202)
			return net_status_err(x, err);
		REGISTRY_STAT_INC(xfer_registry(x), upload_chunks);
		p->off += p->chunk;
		if (p->off < p->size)
			return push_next_chunk(p, err);
		return push_put(p, false, err);
	case PUSH_PUT:
		if (x->status != 201 && x->status != 204 && x->status != 200)
			return net_status_err(x, err);
		REGISTRY_STAT_INC(xfer_registry(x), blob_uploads);
		x->prog = progress_end(x->prog, true);
		return 0;
	default:
		return kiln_err_set(err, "push blob %s: bad state", p->digest);
	}
}

int registry_push_blobs(struct registry *r, const struct image_ref *ref, const char *const *digests,
                        size_t n, const char *mount_from, struct blobstore *bs,
                        struct kiln_err **err)
{
	cleanup_free char *name = image_ref_name(ref);
	for (size_t i = 0; i < n; i++) {
		if (!digest_valid(digests[i]))
			return kiln_err_set(err, "push blobs to '%s': invalid digest '%s'", name,
			                    digests[i]);
		/* a blob kiln never downloaded can still be mounted from mount_from */
		if (!mount_from && !blobstore_has(bs, digests[i], NULL))
			return kiln_err_set(err, "push blobs to '%s': blob %s is not in the store",
			                    name, digests[i]);
	}
	struct http_host *h = NULL;
	if (http_host_get(r, ref->registry, HTTP_PUSH, &h, err) < 0)
		return kiln_err_wrap(err, "push blobs to '%s'", name);
	cleanup_free char *scope = push_scope(ref->repository, mount_from);
	cleanup_free struct push_job *pj = xcalloc(n ? n : 1, sizeof(*pj));
	cleanup_free struct net_job **jobs = xcalloc(n ? n : 1, sizeof(*jobs));
	size_t nj = 0;
	for (size_t i = 0; i < n; i++) {
		if (seen_before(digests, i))
			continue;
		struct push_job *p = &pj[nj];
		*p = (struct push_job){.digest = digests[i],
		                       .repo = ref->repository,
		                       .mount_from = mount_from,
		                       .bs = bs,
		                       .fd = -1};
		p->job.step = push_step;
		p->job.state = PUSH_HEAD;
		http_xfer_init(&p->job.x, r, h, "HEAD",
		               xasprintf("%s/v2/%s/blobs/%s", h->base, ref->repository, digests[i]),
		               scope);
		jobs[nj++] = &p->job;
		REGISTRY_STAT_INC(r, blob_heads);
	}
	int ret = net_run(&r->net, jobs, nj, MAX_INFLIGHT, err);
	for (size_t i = 0; i < nj; i++) {
		http_xfer_release(&pj[i].job.x);
		closep(&pj[i].fd);
	}
	if (ret < 0)
		return kiln_err_wrap(err, "push blobs to '%s'", name);
	return 0;
}

/* whether the registry's {"errors":[...]} answer holds the error code */
static bool resp_has_error_code(const struct net_xfer *x, const char *code)
{
	if (!x->resp.len)
		return false;
	json_error_t je;
	cleanup_json json_t *j = json_loadb(x->resp.ptr, x->resp.len, 0, &je);
	json_t *errs = json_is_object(j) ? json_object_get(j, "errors") : NULL;
	size_t i;
	json_t *e;
	json_array_foreach(errs, i, e)
	{
		const char *c = kjson_str(e, "code");
		if (c && streq(c, code))
			return true;
	}
	return false;
}

/* The distribution registry rewrites a repository's link to a blob in place each time a client
 * uploads or mounts that blob again: while concurrent builds push the same layers, a manifest PUT
 * that meets a link being rewritten is refused with MANIFEST_BLOB_UNKNOWN although the blob is
 * there (the callers put manifests only after every blob was pushed or seen). Such a refusal is
 * tried again, 0.25 s, 0.5 s, 1 s and 2 s later. */
#define MANIFEST_BLOB_RETRIES 4

int registry_put_manifest(struct registry *r, const struct image_ref *ref, const char *media_type,
                          const char *body, size_t len, struct kiln_err **err)
{
	cleanup_free char *name = image_ref_string(ref);
	struct http_host *h = NULL;
	if (http_host_get(r, ref->registry, HTTP_PUSH, &h, err) < 0)
		return kiln_err_wrap(err, "push manifest to '%s'", name);
	cleanup_free char *scope = push_scope(ref->repository, NULL);
	const char *reference = ref->tag ? ref->tag : ref->digest;
	if (ref->digest && ref->tag) {
		/* "repo:tag@digest": the body must be the digest's */
		char d[DIGEST_STRING_LEN + 1];
		sha256_digest(body, len, d);
		if (!streq(d, ref->digest))
			return kiln_err_set(err, "push manifest to '%s': body digest is %s", name,
			                    d);
	}
	for (int attempt = 0;; attempt++) {
		_cleanup_(http_xfer_release) struct net_xfer x = {};
		http_xfer_init(
		    &x, r, h, "PUT",
		    xasprintf("%s/v2/%s/manifests/%s", h->base, ref->repository, reference), scope);
		strv_pushf(&x.headers, "Content-Type: %s", media_type);
		x.body = body;
		x.body_len = len;
		if (net_request(&x, err) < 0)
			return kiln_err_wrap(err, "push manifest to '%s'", name);
		if (x.status == 201 || x.status == 200 || x.status == 204)
			return 0;
		if (x.status == 400 && attempt < MANIFEST_BLOB_RETRIES &&
		    resp_has_error_code(&x, "MANIFEST_BLOB_UNKNOWN")) {
			long ms = 250L << attempt;
			log_info(
			    "Pushing manifest to %s: the registry answered MANIFEST_BLOB_UNKNOWN "
			    "(a concurrent push of the same blobs?); trying again in %ld ms",
			    name, ms);
			struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L};
			nanosleep(&ts, NULL);
			continue;
		}
		net_status_err(&x, err);
		return kiln_err_wrap(err, "push manifest to '%s'", name);
	}
}

int registry_check_push(struct registry *r, const struct image_ref *ref, struct kiln_err **err)
{
	cleanup_free char *name = image_ref_string(ref);
	struct http_host *h = NULL;
	if (http_host_get(r, ref->registry, HTTP_PUSH, &h, err) < 0)
		return kiln_err_wrap(err, "checking push permission for '%s'", name);
	cleanup_free char *scope = push_scope(ref->repository, NULL);
	_cleanup_(http_xfer_release) struct net_xfer x = {};
	http_xfer_init(&x, r, h, "POST",
	               xasprintf("%s/v2/%s/blobs/uploads/", h->base, ref->repository), scope);
	if (net_request(&x, err) < 0)
		return kiln_err_wrap(err, "checking push permission for '%s'", name);
	if (x.status != 202) {
		net_status_err(&x, err);
		return kiln_err_wrap(err, "checking push permission for '%s'", name);
	}
	if (!x.location)
		return 0;
	/* cancel the upload we only started to test the permission; failure does not matter */
	char *loc = location_url(&x);
	net_xfer_set_url(&x, loc);
	x.method = "DELETE";
	cleanup_err struct kiln_err *e = NULL;
	if (net_request(&x, &e) < 0)
		log_debug("Cancelling the push-permission upload failed: %s", kiln_err_msg(e));
	return 0;
}

bool registry_err_is_immutable_tag(const struct kiln_err *e)
{
	const char *m = e ? kiln_err_msg(e) : NULL;
	return m && (strstr(m, "The repository has enabled tag immutability") ||
	             strstr(m, "cannot be overwritten because the repository is immutable"));
}
