/* registry.c — Distribution API v2 operations: manifests (with platform selection), blob
 * downloads into the blob store, blob uploads (HEAD, mount, POST + PUT), manifest pushes and
 * kaniko's push-permission check. HTTP details live in http.c. */
#include "http.h"

#include "util/json.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <string.h>
#include <strings.h>
#include <sys/stat.h>

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
	_cleanup_(http_xfer_release) struct http_xfer x = {};
	http_xfer_init(&x, r, h, "GET",
	               xasprintf("%s/v2/%s/manifests/%s", h->base, repo, reference), scope);
	strv_push(&x.headers, xstrdup(manifest_accept));
	x.resp_max = LIMIT_MANIFEST;
	if (http_request(&x, err) < 0)
		return -1;
	if (x.status != 200)
		return http_status_err(&x, err);

	char digest[DIGEST_STRING_LEN + 1];
	sha256_digest(x.resp.ptr, x.resp.len, digest);
	cleanup_free char *u = http_url_for_msg(x.url);
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

/* variants an entry without one stands for */
static const char *default_variant(const char *arch)
{
	if (streq(arch, "arm64"))
		return "v8";
	if (streq(arch, "arm"))
		return "v7";
	return "";
}

/* the digest of the manifest for platform in an index */
static int select_platform(const char *body, size_t len, const char *platform,
                           char ret[DIGEST_STRING_LEN + 1], struct kiln_err **err)
{
	cleanup_free char *p = xstrdup(platform);
	char *arch = strchr(p, '/');
	if (!arch || !arch[1])
		return kiln_err_set(err, "invalid platform '%s': expected os/arch[/variant]",
		                    platform);
	*arch++ = 0;
	char *variant = strchr(arch, '/');
	if (variant)
		*variant++ = 0;
	const char *want_variant = variant && *variant ? variant : default_variant(arch);

	cleanup_json json_t *j = NULL;
	if (kjson_parse(body, len, "manifest index", &j, err) < 0)
		return -1;
	json_t *ms = json_object_get(j, "manifests");
	if (!json_is_array(ms))
		return kiln_err_set(err, "index has no 'manifests' array");
	const char *fallback = NULL;
	size_t i;
	json_t *m;
	json_array_foreach(ms, i, m)
	{
		json_t *pl = json_object_get(m, "platform");
		const char *os = kjson_str(pl, "os"), *ar = kjson_str(pl, "architecture");
		const char *d = kjson_str(m, "digest");
		if (!os || !ar || !d || !streq(os, p) || !streq(ar, arch))
			continue;
		const char *v = kjson_str(pl, "variant");
		if (!v || !*v)
			v = default_variant(ar);
		if (streq(v, want_variant)) {
			fallback = d;
			break;
		}
		/* "linux/arm64" without a variant takes any arm64 entry when no exact one exists */
		if (!variant && !fallback)
			fallback = d;
	}
	if (!fallback)
		return kiln_err_set(err, "no manifest for platform '%s' in the index", platform);
	if (!digest_valid(fallback))
		return kiln_err_set(err, "invalid digest '%s' in the index", fallback);
	memcpy(ret, fallback, DIGEST_STRING_LEN + 1);
	return 0;
}

int registry_get_manifest(struct registry *r, const struct image_ref *ref, const char *platform,
                          char **ret_body, size_t *ret_len, char **ret_media_type,
                          char ret_digest[DIGEST_STRING_LEN + 1], struct kiln_err **err)
{
	cleanup_free char *name = image_ref_string(ref);
	struct http_host *h = NULL;
	if (http_host_get(r, ref->registry, HTTP_PULL, &h, err) < 0)
		return kiln_err_wrap(err, "get manifest for '%s'", name);
	const char *reference = ref->digest ? ref->digest : ref->tag ? ref->tag : "latest";
	_cleanup_(manifest_res_release) struct manifest_res m = {};
	if (fetch_manifest(r, h, ref->repository, reference, ref->digest, &m, err) < 0)
		return kiln_err_wrap(err, "get manifest for '%s'", name);
	if (is_index_type(m.media_type)) {
		char child[DIGEST_STRING_LEN + 1];
		if (!platform)
			platform = default_platform();
		if (select_platform(m.body, m.len, platform, child, err) < 0)
			return kiln_err_wrap(err, "get manifest for '%s'", name);
		log_debug("Selected %s for platform %s from the index of %s", child, platform,
		          name);
		manifest_res_release(&m);
		if (fetch_manifest(r, h, ref->repository, child, child, &m, err) < 0)
			return kiln_err_wrap(err, "get manifest for '%s'", name);
		if (!is_manifest_type(m.media_type))
			return kiln_err_set(
			    err,
			    "get manifest for '%s': index entry %s is a '%s', not an "
			    "image manifest",
			    name, child, m.media_type);
	}
	*ret_len = m.len;
	*ret_body = TAKE_PTR(m.body);
	*ret_media_type = TAKE_PTR(m.media_type);
	memcpy(ret_digest, m.digest, DIGEST_STRING_LEN + 1);
	return 0;
}

/* ---- blob downloads ---- */

struct fetch_job {
	struct http_job job;
	const char *digest;
};

static int fetch_step(struct http_job *j, struct kiln_err **err)
{
	struct fetch_job *f = (struct fetch_job *)j;
	struct http_xfer *x = &j->x;
	if (x->status != 200)
		return http_status_err(x, err);
	cleanup_free char *u = http_url_for_msg(x->url);
	if (blob_writer_commit(x->bw, f->digest, NULL, NULL, err) < 0)
		return kiln_err_wrap(err, "GET %s", u);
	x->bw = blob_writer_free(x->bw);
	x->r->stats.blob_fetches++;
	return 0;
}

static bool seen_before(const char *const *digests, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (streq(digests[k], digests[i]))
			return true;
	return false;
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
	struct http_host *h = NULL;
	if (http_host_get(r, ref->registry, HTTP_PULL, &h, err) < 0)
		return kiln_err_wrap(err, "fetch blobs of '%s'", name);
	cleanup_free char *scope = pull_scope(ref->repository);
	cleanup_free struct fetch_job *fj = xcalloc(n ? n : 1, sizeof(*fj));
	cleanup_free struct http_job **jobs = xcalloc(n ? n : 1, sizeof(*jobs));
	size_t nj = 0;
	for (size_t i = 0; i < n; i++) {
		if (seen_before(digests, i) || blobstore_has(bs, digests[i], NULL))
			continue;
		struct fetch_job *f = &fj[nj];
		f->digest = digests[i];
		f->job.step = fetch_step;
		http_xfer_init(&f->job.x, r, h, "GET",
		               xasprintf("%s/v2/%s/blobs/%s", h->base, ref->repository, digests[i]),
		               scope);
		f->job.x.follow = true;
		f->job.x.bs = bs;
		jobs[nj++] = &f->job;
	}
	int ret = http_run(r, jobs, nj, MAX_INFLIGHT, err);
	for (size_t i = 0; i < nj; i++)
		http_xfer_release(&fj[i].job.x);
	if (ret < 0)
		return kiln_err_wrap(err, "fetch blobs of '%s'", name);
	return 0;
}

/* ---- blob uploads ---- */

enum {
	PUSH_HEAD,
	PUSH_MOUNT,
	PUSH_POST,
	PUSH_PUT,
};

struct push_job {
	struct http_job job;
	const char *digest;
	const char *repo;
	const char *mount_from;
	struct blobstore *bs;
	int fd;
};

/* the upload URL from a Location header (absolute or relative), with ?digest= added */
static char *upload_url(const struct http_xfer *x, const char *digest)
{
	const char *loc = x->location;
	const char *sep = strchr(loc, '?') ? "&" : "?";
	if (startswith(loc, "https://") || startswith(loc, "http://"))
		return xasprintf("%s%sdigest=%s", loc, sep, digest);
	return xasprintf("%s%s%s%sdigest=%s", x->h->base, loc[0] == '/' ? "" : "/", loc, sep,
	                 digest);
}

static int push_start_put(struct push_job *p, struct kiln_err **err)
{
	struct http_xfer *x = &p->job.x;
	if (!x->location || !*x->location) {
		cleanup_free char *u = http_url_for_msg(x->url);
		return kiln_err_set(err, "POST %s: %ld without a Location header", u, x->status);
	}
	if (blobstore_open_read(p->bs, p->digest, &p->fd, err) < 0)
		return -1;
	struct stat st;
	if (fstat(p->fd, &st) < 0)
		return kiln_err_errno(err, "stat blob %s", p->digest);
	char *url = upload_url(x, p->digest);
	size_t bl = strlen(x->h->base);
	bool same_origin = strneq(url, x->h->base, bl) && url[bl] == '/';
	http_xfer_set_url(x, url);
	x->cross_origin = !same_origin;
	x->method = "PUT";
	x->body_fd = p->fd;
	x->body_size = (uint64_t)st.st_size;
	strv_free(x->headers);
	x->headers = NULL;
	strv_push(&x->headers, xstrdup("Content-Type: application/octet-stream"));
	p->job.state = PUSH_PUT;
	return 1;
}

static int push_step(struct http_job *j, struct kiln_err **err)
{
	struct push_job *p = (struct push_job *)j;
	struct http_xfer *x = &j->x;
	switch (j->state) {
	case PUSH_HEAD:
		if (x->status == 200) {
			log_debug("Blob %s already exists in %s", p->digest, p->repo);
			return 0;
		}
		if (x->status != 404)
			return http_status_err(x, err);
		if (p->mount_from && !streq(p->mount_from, p->repo)) {
			http_xfer_set_url(x,
			                  xasprintf("%s/v2/%s/blobs/uploads/?mount=%s&from=%s",
			                            x->h->base, p->repo, p->digest, p->mount_from));
			j->state = PUSH_MOUNT;
		} else {
			http_xfer_set_url(
			    x, xasprintf("%s/v2/%s/blobs/uploads/", x->h->base, p->repo));
			j->state = PUSH_POST;
		}
		x->method = "POST";
		return 1;
	case PUSH_MOUNT:
		if (x->status == 201) {
			x->r->stats.blob_mounts++;
			return 0;
		}
		if (x->status != 202)
			return http_status_err(x, err);
		return push_start_put(p, err);
	case PUSH_POST:
		if (x->status != 202)
			return http_status_err(x, err);
		return push_start_put(p, err);
	case PUSH_PUT:
		if (x->status != 201 && x->status != 204 && x->status != 200)
			return http_status_err(x, err);
		x->r->stats.blob_uploads++;
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
	cleanup_free struct http_job **jobs = xcalloc(n ? n : 1, sizeof(*jobs));
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
		r->stats.blob_heads++;
	}
	int ret = http_run(r, jobs, nj, MAX_INFLIGHT, err);
	for (size_t i = 0; i < nj; i++) {
		http_xfer_release(&pj[i].job.x);
		closep(&pj[i].fd);
	}
	if (ret < 0)
		return kiln_err_wrap(err, "push blobs to '%s'", name);
	return 0;
}

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
	_cleanup_(http_xfer_release) struct http_xfer x = {};
	http_xfer_init(&x, r, h, "PUT",
	               xasprintf("%s/v2/%s/manifests/%s", h->base, ref->repository, reference),
	               scope);
	strv_pushf(&x.headers, "Content-Type: %s", media_type);
	x.body = body;
	x.body_len = len;
	if (http_request(&x, err) < 0)
		return kiln_err_wrap(err, "push manifest to '%s'", name);
	if (x.status != 201 && x.status != 200 && x.status != 204) {
		http_status_err(&x, err);
		return kiln_err_wrap(err, "push manifest to '%s'", name);
	}
	return 0;
}

int registry_check_push(struct registry *r, const struct image_ref *ref, struct kiln_err **err)
{
	cleanup_free char *name = image_ref_string(ref);
	struct http_host *h = NULL;
	if (http_host_get(r, ref->registry, HTTP_PUSH, &h, err) < 0)
		return kiln_err_wrap(err, "checking push permission for '%s'", name);
	cleanup_free char *scope = push_scope(ref->repository, NULL);
	_cleanup_(http_xfer_release) struct http_xfer x = {};
	http_xfer_init(&x, r, h, "POST",
	               xasprintf("%s/v2/%s/blobs/uploads/", h->base, ref->repository), scope);
	if (http_request(&x, err) < 0)
		return kiln_err_wrap(err, "checking push permission for '%s'", name);
	if (x.status != 202) {
		http_status_err(&x, err);
		return kiln_err_wrap(err, "checking push permission for '%s'", name);
	}
	if (!x.location)
		return 0;
	/* cancel the upload we only started to test the permission; failure does not matter */
	char *loc = startswith(x.location, "http://") || startswith(x.location, "https://")
	                ? xstrdup(x.location)
	                : xasprintf("%s%s", h->base, x.location);
	size_t bl = strlen(h->base);
	bool same_origin = strneq(loc, h->base, bl) && loc[bl] == '/';
	http_xfer_set_url(&x, loc);
	x.cross_origin = !same_origin;
	x.method = "DELETE";
	cleanup_err struct kiln_err *e = NULL;
	if (http_request(&x, &e) < 0)
		log_debug("Cancelling the push-permission upload failed: %s", kiln_err_msg(e));
	return 0;
}
