/* test_registry.c — the registry client against a real docker-registry on 127.0.0.1: push and
 * pull round trips, HEAD skips, mounts, manifest lists, errors, TLS with a throwaway CA and
 * htpasswd basic auth. */
#include "harness.h"
#include "regserver.h"
#include "registry/registry.h"

#include "auth/auth.h"

#include "util/blobstore.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#define START_REGISTRY(s, cfg)                                                              \
	do {                                                                                \
		if (regserver_start(&(s), (cfg)) < 0) {                                     \
			test_fail(__FILE__, __LINE__, "cannot start the test registry: %s", \
			          (s).error);                                               \
			return;                                                             \
		}                                                                           \
	} while (0)

struct fixture {
	char *dir;
	struct blobstore *bs;
	char config[DIGEST_STRING_LEN + 1];
	char layer1[DIGEST_STRING_LEN + 1];
	char layer2[DIGEST_STRING_LEN + 1];
	char *manifest;
	size_t config_len, layer1_len, layer2_len;
};

static void fixture_release(struct fixture *f)
{
	blobstore_free(f->bs);
	if (f->dir)
		rm_rf(f->dir, NULL);
	free(f->dir);
	free(f->manifest);
}

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/kiln-regtest-XXXXXX";
	if (!mkdtemp(tmpl))
		abort();
	return xstrdup(tmpl);
}

static int put_random(struct blobstore *bs, size_t len, unsigned seed, char *digest,
                      struct kiln_err **err)
{
	unsigned char *p = xmalloc(len);
	unsigned x = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)(x >> 16);
	}
	int r = blobstore_put(bs, p, len, digest, err);
	free(p);
	return r;
}

static char *docker_manifest(const char *cfg, size_t cfg_len, const char *l1, size_t l1_len,
                             const char *l2, size_t l2_len)
{
	return xasprintf(
	    "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
	    "\"application/vnd.docker.container.image.v1+json\",\"size\":%zu,\"digest\":\"%s\"},"
	    "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
	    "\"size\":%zu,\"digest\":\"%s\"},{\"mediaType\":"
	    "\"application/"
	    "vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":%zu,\"digest\":\"%s\"}]}",
	    MEDIA_DOCKER_MANIFEST, cfg_len, cfg, l1_len, l1, l2_len, l2);
}

static int fixture_init(struct fixture *f, unsigned seed, struct kiln_err **err)
{
	f->dir = tmpdir();
	if (blobstore_open(f->dir, &f->bs, err) < 0)
		return -1;
	cleanup_free char *cfg = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\","
	                                   "\"config\":{},\"rootfs\":{\"type\":\"layers\","
	                                   "\"diff_ids\":[]},\"seed\":%u}",
	                                   seed);
	f->config_len = strlen(cfg);
	f->layer1_len = 3u << 20; /* several curl buffers: exercises streaming */
	f->layer2_len = 1000 + seed;
	if (blobstore_put(f->bs, cfg, f->config_len, f->config, err) < 0 ||
	    put_random(f->bs, f->layer1_len, seed, f->layer1, err) < 0 ||
	    put_random(f->bs, f->layer2_len, seed + 100, f->layer2, err) < 0)
		return -1;
	f->manifest = docker_manifest(f->config, f->config_len, f->layer1, f->layer1_len, f->layer2,
	                              f->layer2_len);
	return 0;
}

static int push_image(struct registry *r, struct fixture *f, const char *refs,
                      const char *mount_from, struct kiln_err **err)
{
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	if (image_ref_parse(refs, &ref, err) < 0)
		return -1;
	const char *blobs[] = {f->layer1, f->layer2, f->config};
	if (registry_push_blobs(r, ref, blobs, 3, mount_from, f->bs, err) < 0)
		return -1;
	return registry_put_manifest(r, ref, MEDIA_DOCKER_MANIFEST, f->manifest,
	                             strlen(f->manifest), err);
}

static bool same_blob(struct blobstore *a, struct blobstore *b, const char *d)
{
	cleanup_free char *x = NULL, *y = NULL;
	size_t xl = 0, yl = 0;
	if (blobstore_read(a, d, 16u << 20, &x, &xl, NULL) < 0 ||
	    blobstore_read(b, d, 16u << 20, &y, &yl, NULL) < 0)
		return false;
	return xl == yl && memcmp(x, y, xl) == 0;
}

static struct registry_opts plain_opts(const struct regserver *s, char ***insecure)
{
	*insecure = NULL;
	strv_push(insecure, xstrdup(s->host));
	return (struct registry_opts){
	    .insecure_registries = *insecure, .retries = 1, .user_agent = "kiln/test"};
}

static void no_docker_config(const char *dir)
{
	/* an empty config directory: anonymous, whatever the machine has in ~/.docker */
	setenv("DOCKER_CONFIG", dir, 1);
	unsetenv("CI_REGISTRY");
}

TEST(registry_push_pull_roundtrip_and_head_skip)
{
	_cleanup_(regserver_stop) struct regserver s = {.pid = -1};
	START_REGISTRY(s, NULL);
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(fixture_release) struct fixture f = {};
	ASSERT_OK(fixture_init(&f, 1, &err), err);
	no_docker_config(f.dir);
	cleanup_strv char **insecure = NULL;
	struct registry_opts o = plain_opts(&s, &insecure);
	_cleanup_(registry_freep) struct registry *r = NULL;
	ASSERT_OK(registry_new(&o, &r, &err), err);

	cleanup_free char *refs = xasprintf("%s/kiln/roundtrip:v1", s.host);
	ASSERT_OK(push_image(r, &f, refs, NULL, &err), err);
	struct registry_stats st1;
	registry_get_stats(r, &st1);
	ASSERT_EQ(st1.blob_uploads, 3);
	ASSERT_EQ(st1.blob_mounts, 0);

	/* pull back by tag */
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	ASSERT_OK(image_ref_parse(refs, &ref, &err), err);
	cleanup_free char *body = NULL, *mt = NULL;
	size_t len = 0;
	char digest[DIGEST_STRING_LEN + 1];
	ASSERT_OK(registry_get_manifest(r, ref, "linux/amd64", &body, &len, &mt, digest, &err),
	          err);
	ASSERT_EQ(len, strlen(f.manifest));
	ASSERT_TRUE(memcmp(body, f.manifest, len) == 0);
	ASSERT_STREQ(mt, MEDIA_DOCKER_MANIFEST);
	char want[DIGEST_STRING_LEN + 1];
	sha256_digest(f.manifest, strlen(f.manifest), want);
	ASSERT_STREQ(digest, want);

	/* and by digest */
	cleanup_free char *drefs = xasprintf("%s/kiln/roundtrip@%s", s.host, want);
	_cleanup_(image_ref_freep) struct image_ref *dref = NULL;
	ASSERT_OK(image_ref_parse(drefs, &dref, &err), err);
	cleanup_free char *body2 = NULL, *mt2 = NULL;
	size_t len2 = 0;
	char digest2[DIGEST_STRING_LEN + 1];
	ASSERT_OK(registry_get_manifest(r, dref, NULL, &body2, &len2, &mt2, digest2, &err), err);
	ASSERT_EQ(len2, len);
	ASSERT_TRUE(memcmp(body2, f.manifest, len) == 0);
	ASSERT_STREQ(digest2, want);

	/* blobs into a fresh store, byte for byte */
	cleanup_free char *pull_dir = tmpdir();
	_cleanup_(blobstore_freep) struct blobstore *pbs = NULL;
	ASSERT_OK(blobstore_open(pull_dir, &pbs, &err), err);
	const char *blobs[] = {f.config, f.layer1, f.layer2, f.layer1};
	ASSERT_OK(registry_fetch_blobs(r, ref, blobs, 4, pbs, &err), err);
	bool same = same_blob(f.bs, pbs, f.config) && same_blob(f.bs, pbs, f.layer1) &&
	            same_blob(f.bs, pbs, f.layer2);
	struct registry_stats st2;
	registry_get_stats(r, &st2);
	/* fetching again downloads nothing: everything is in the store */
	ASSERT_OK(registry_fetch_blobs(r, ref, blobs, 4, pbs, &err), err);
	struct registry_stats st3;
	registry_get_stats(r, &st3);
	rm_rf(pull_dir, NULL);
	ASSERT_TRUE(same);
	ASSERT_EQ(st2.blob_fetches, 3);
	ASSERT_EQ(st3.blob_fetches, 3);
	ASSERT_EQ(st3.requests, st2.requests);

	/* pushing again: HEAD finds every blob, no byte is sent */
	ASSERT_OK(push_image(r, &f, refs, NULL, &err), err);
	struct registry_stats st4;
	registry_get_stats(r, &st4);
	ASSERT_EQ(st4.blob_uploads, 3);
	ASSERT_EQ(st4.blob_heads, st3.blob_heads + 3);
	/* 3 HEADs and the manifest PUT */
	ASSERT_EQ(st4.requests, st3.requests + 4);
}

TEST(registry_mount_and_push_check)
{
	_cleanup_(regserver_stop) struct regserver s = {.pid = -1};
	START_REGISTRY(s, NULL);
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(fixture_release) struct fixture f = {};
	ASSERT_OK(fixture_init(&f, 2, &err), err);
	no_docker_config(f.dir);
	cleanup_strv char **insecure = NULL;
	struct registry_opts o = plain_opts(&s, &insecure);
	_cleanup_(registry_freep) struct registry *r = NULL;
	ASSERT_OK(registry_new(&o, &r, &err), err);

	cleanup_free char *a = xasprintf("%s/team/a:1", s.host);
	cleanup_free char *b = xasprintf("%s/team/b:1", s.host);
	_cleanup_(image_ref_freep) struct image_ref *bref = NULL;
	ASSERT_OK(image_ref_parse(b, &bref, &err), err);
	ASSERT_OK(registry_check_push(r, bref, &err), err);
	ASSERT_OK(push_image(r, &f, a, NULL, &err), err);
	ASSERT_OK(push_image(r, &f, b, "team/a", &err), err);
	struct registry_stats st;
	registry_get_stats(r, &st);
	ASSERT_EQ(st.blob_uploads, 3);
	ASSERT_EQ(st.blob_mounts, 3);
	cleanup_free char *body = NULL, *mt = NULL;
	size_t len = 0;
	char digest[DIGEST_STRING_LEN + 1];
	ASSERT_OK(registry_get_manifest(r, bref, NULL, &body, &len, &mt, digest, &err), err);
	ASSERT_TRUE(len == strlen(f.manifest) && memcmp(body, f.manifest, len) == 0);
}

TEST(registry_manifest_list_selects_platform)
{
	_cleanup_(regserver_stop) struct regserver s = {.pid = -1};
	START_REGISTRY(s, NULL);
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(fixture_release) struct fixture amd = {}, arm = {};
	ASSERT_OK(fixture_init(&amd, 3, &err), err);
	ASSERT_OK(fixture_init(&arm, 4, &err), err);
	no_docker_config(amd.dir);
	cleanup_strv char **insecure = NULL;
	struct registry_opts o = plain_opts(&s, &insecure);
	_cleanup_(registry_freep) struct registry *r = NULL;
	ASSERT_OK(registry_new(&o, &r, &err), err);

	char d_amd[DIGEST_STRING_LEN + 1], d_arm[DIGEST_STRING_LEN + 1];
	sha256_digest(amd.manifest, strlen(amd.manifest), d_amd);
	sha256_digest(arm.manifest, strlen(arm.manifest), d_arm);
	cleanup_free char *ra = xasprintf("%s/multi/img@%s", s.host, d_amd);
	cleanup_free char *rb = xasprintf("%s/multi/img@%s", s.host, d_arm);
	ASSERT_OK(push_image(r, &amd, ra, NULL, &err), err);
	ASSERT_OK(push_image(r, &arm, rb, NULL, &err), err);
	/* arm64 first so that picking the first entry would be wrong for amd64 */
	cleanup_free char *list =
	    xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
	              "{\"mediaType\":\"%s\",\"size\":%zu,\"digest\":\"%s\",\"platform\":"
	              "{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},"
	              "{\"mediaType\":\"%s\",\"size\":%zu,\"digest\":\"%s\",\"platform\":"
	              "{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}",
	              MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST, strlen(arm.manifest), d_arm,
	              MEDIA_DOCKER_MANIFEST, strlen(amd.manifest), d_amd);
	cleanup_free char *rl = xasprintf("%s/multi/img:latest", s.host);
	_cleanup_(image_ref_freep) struct image_ref *lref = NULL;
	ASSERT_OK(image_ref_parse(rl, &lref, &err), err);
	ASSERT_OK(registry_put_manifest(r, lref, MEDIA_DOCKER_LIST, list, strlen(list), &err), err);

	cleanup_free char *b1 = NULL, *m1 = NULL, *b2 = NULL, *m2 = NULL, *b3 = NULL, *m3 = NULL;
	size_t l1 = 0, l2 = 0, l3 = 0;
	char g1[DIGEST_STRING_LEN + 1], g2[DIGEST_STRING_LEN + 1], g3[DIGEST_STRING_LEN + 1];
	ASSERT_OK(registry_get_manifest(r, lref, "linux/amd64", &b1, &l1, &m1, g1, &err), err);
	ASSERT_STREQ(g1, d_amd);
	ASSERT_STREQ(m1, MEDIA_DOCKER_MANIFEST);
	ASSERT_TRUE(l1 == strlen(amd.manifest) && memcmp(b1, amd.manifest, l1) == 0);
	ASSERT_OK(registry_get_manifest(r, lref, "linux/arm64/v8", &b2, &l2, &m2, g2, &err), err);
	ASSERT_STREQ(g2, d_arm);
	ASSERT_OK(registry_get_manifest(r, lref, "linux/arm64", &b3, &l3, &m3, g3, &err), err);
	ASSERT_STREQ(g3, d_arm);

	cleanup_free char *b4 = NULL, *m4 = NULL;
	size_t l4 = 0;
	char g4[DIGEST_STRING_LEN + 1];
	ASSERT_FAIL(registry_get_manifest(r, lref, "linux/s390x", &b4, &l4, &m4, g4, &err));
	test_note("%s", err->msg);
	ASSERT_TRUE(strstr(err->msg, "linux/s390x") != NULL);
	ASSERT_TRUE(strstr(err->msg, "multi/img") != NULL);
}

TEST(registry_errors_name_the_image)
{
	_cleanup_(regserver_stop) struct regserver s = {.pid = -1};
	START_REGISTRY(s, NULL);
	cleanup_err struct kiln_err *err = NULL;
	cleanup_free char *dir = tmpdir();
	no_docker_config(dir);
	cleanup_strv char **insecure = NULL;
	struct registry_opts o = plain_opts(&s, &insecure);
	_cleanup_(registry_freep) struct registry *r = NULL;
	ASSERT_OK(registry_new(&o, &r, &err), err);

	cleanup_free char *refs = xasprintf("%s/x:y", s.host);
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	ASSERT_OK(image_ref_parse(refs, &ref, &err), err);
	cleanup_free char *b = NULL, *m = NULL;
	size_t l = 0;
	char g[DIGEST_STRING_LEN + 1];
	ASSERT_FAIL(registry_get_manifest(r, ref, NULL, &b, &l, &m, g, &err));
	test_note("%s", err->msg);
	cleanup_free char *want =
	    xasprintf("get manifest for '%s/x:y': GET http://%s/v2/x/manifests/y: "
	              "404 Not Found: MANIFEST_UNKNOWN: manifest unknown",
	              s.host, s.host);
	ASSERT_STREQ(err->msg, want);

	/* a blob that is not there */
	kiln_err_free(err);
	err = NULL;
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	ASSERT_OK(blobstore_open(dir, &bs, &err), err);
	const char *missing[] = {
	    "sha256:0000000000000000000000000000000000000000000000000000000000000000"};
	ASSERT_FAIL(registry_fetch_blobs(r, ref, missing, 1, bs, &err));
	test_note("%s", err->msg);
	ASSERT_TRUE(strstr(err->msg, "404 Not Found: BLOB_UNKNOWN") != NULL);
	ASSERT_FALSE(blobstore_has(bs, missing[0], NULL));

	/* the wrong scheme for the direction: --insecure covers pushes only */
	kiln_err_free(err);
	err = NULL;
	struct registry_opts o2 = {.insecure = true, .user_agent = "kiln/test"};
	_cleanup_(registry_freep) struct registry *r2 = NULL;
	ASSERT_OK(registry_new(&o2, &r2, &err), err);
	ASSERT_OK(registry_check_push(r2, ref, &err), err);
	ASSERT_FAIL(registry_get_manifest(r2, ref, NULL, &b, &l, &m, g, &err));
	test_note("%s", err->msg);
	cleanup_free char *https = xasprintf("https://%s/v2/", s.host);
	ASSERT_TRUE(strstr(err->msg, https) != NULL);
	rm_rf(dir, NULL);
}

static void write_docker_config(const char *dir, const char *host, const char *user, const char *pw)
{
	cleanup_free char *up = xasprintf("%s:%s", user, pw);
	cleanup_free char *b64 = auth_base64_encode(up, strlen(up));
	cleanup_free char *j =
	    xasprintf("{\"auths\":{\"https://%s/\":{\"auth\":\"%s\"}}}", host, b64);
	cleanup_free char *p = path_join(dir, "config.json");
	if (write_file_atomic(p, j, strlen(j), 0600, NULL) < 0)
		abort();
	setenv("DOCKER_CONFIG", dir, 1);
	unsetenv("CI_REGISTRY");
}

TEST(registry_tls_and_htpasswd)
{
	_cleanup_(regserver_stop) struct regserver s = {.pid = -1};
	struct regserver_cfg cfg = {.tls = true, .user = "alice", .password = "Sup3r-s3cret"};
	START_REGISTRY(s, &cfg);
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(fixture_release) struct fixture f = {};
	ASSERT_OK(fixture_init(&f, 5, &err), err);
	unsetenv("SSL_CERT_FILE");
	unsetenv("SSL_CERT_DIR");
	cleanup_free char *refs = xasprintf("%s/secure/img:1", s.host);
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	ASSERT_OK(image_ref_parse(refs, &ref, &err), err);

	/* an untrusted certificate: a message that says how to fix it */
	write_docker_config(f.dir, s.host, "alice", "Sup3r-s3cret");
	{
		struct registry_opts o = {.user_agent = "kiln/test"};
		_cleanup_(registry_freep) struct registry *r = NULL;
		ASSERT_OK(registry_new(&o, &r, &err), err);
		ASSERT_FAIL(registry_check_push(r, ref, &err));
		test_note("%s", err->msg);
		cleanup_free char *url = xasprintf("https://%s", s.host);
		ASSERT_TRUE(strstr(err->msg, url) != NULL);
		ASSERT_TRUE(strstr(err->msg, "not trusted") != NULL);
		ASSERT_TRUE(strstr(err->msg, "/kaniko/ssl/certs/ca-certificates.crt") != NULL);
		ASSERT_TRUE(strstr(err->msg, "--registry-certificate") != NULL);
		kiln_err_free(err);
		err = NULL;
	}
	/* the CA through ca_files: push and pull with basic auth */
	{
		const char *cas[] = {s.ca_file, NULL};
		struct registry_opts o = {.ca_files = cas, .user_agent = "kiln/test"};
		_cleanup_(registry_freep) struct registry *r = NULL;
		ASSERT_OK(registry_new(&o, &r, &err), err);
		ASSERT_OK(registry_check_push(r, ref, &err), err);
		ASSERT_OK(push_image(r, &f, refs, NULL, &err), err);
		cleanup_free char *b = NULL, *m = NULL;
		size_t l = 0;
		char g[DIGEST_STRING_LEN + 1];
		ASSERT_OK(registry_get_manifest(r, ref, NULL, &b, &l, &m, g, &err), err);
		ASSERT_TRUE(l == strlen(f.manifest) && memcmp(b, f.manifest, l) == 0);
	}
	/* the CA per registry (--registry-certificate host=path) */
	{
		cleanup_strv char **certs = NULL;
		strv_pushf(&certs, "%s=%s", s.host, s.ca_file);
		struct registry_opts o = {.registry_certificates = certs,
		                          .user_agent = "kiln/test"};
		_cleanup_(registry_freep) struct registry *r = NULL;
		ASSERT_OK(registry_new(&o, &r, &err), err);
		cleanup_free char *b = NULL, *m = NULL;
		size_t l = 0;
		char g[DIGEST_STRING_LEN + 1];
		ASSERT_OK(registry_get_manifest(r, ref, NULL, &b, &l, &m, g, &err), err);
	}
	/* --skip-tls-verify-registry, and a wrong password: 401 without the secret in the text */
	write_docker_config(f.dir, s.host, "alice", "wr0ng-pw");
	{
		cleanup_strv char **skip = NULL;
		strv_push(&skip, xstrdup(s.host));
		struct registry_opts o = {.skip_tls_verify_registries = skip,
		                          .user_agent = "kiln/test"};
		_cleanup_(registry_freep) struct registry *r = NULL;
		ASSERT_OK(registry_new(&o, &r, &err), err);
		cleanup_free char *b = NULL, *m = NULL;
		size_t l = 0;
		char g[DIGEST_STRING_LEN + 1];
		ASSERT_FAIL(registry_get_manifest(r, ref, NULL, &b, &l, &m, g, &err));
		test_note("%s", err->msg);
		ASSERT_TRUE(strstr(err->msg, "401 Unauthorized") != NULL);
		ASSERT_TRUE(strstr(err->msg, "UNAUTHORIZED") != NULL);
		ASSERT_TRUE(strstr(err->msg, "wr0ng-pw") == NULL);
		ASSERT_TRUE(strstr(err->msg, "YWxpY2U6d3Iwbmct") == NULL);
	}
	/* anonymous: 401 too */
	cleanup_free char *cp = path_join(f.dir, "config.json");
	unlink(cp);
	{
		const char *cas[] = {s.ca_file, NULL};
		struct registry_opts o = {.ca_files = cas, .user_agent = "kiln/test"};
		_cleanup_(registry_freep) struct registry *r = NULL;
		kiln_err_free(err);
		err = NULL;
		ASSERT_OK(registry_new(&o, &r, &err), err);
		ASSERT_FAIL(registry_check_push(r, ref, &err));
		test_note("%s", err->msg);
		ASSERT_TRUE(strstr(err->msg, "checking push permission") != NULL);
		ASSERT_TRUE(strstr(err->msg, "401") != NULL);
	}
}

/* ---- registry maps, chunked uploads, immutable-tag errors ---- */

static int pull_manifest(struct registry *r, const char *refs, char ret_digest[],
                         struct kiln_err **err)
{
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	if (image_ref_parse(refs, &ref, err) < 0)
		return -1;
	cleanup_free char *b = NULL, *m = NULL;
	size_t l = 0;
	return registry_get_manifest(r, ref, NULL, &b, &l, &m, ret_digest, err);
}

TEST(registry_map_pulls_from_mirror_with_prefix_and_blobs_follow)
{
	_cleanup_(regserver_stop) struct regserver origin = {.pid = -1}, mirror = {.pid = -1};
	START_REGISTRY(origin, NULL);
	START_REGISTRY(mirror, NULL);
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(fixture_release) struct fixture fo = {}, fm = {};
	ASSERT_OK(fixture_init(&fo, 10, &err), err);
	ASSERT_OK(fixture_init(&fm, 11, &err), err);
	no_docker_config(fo.dir);
	cleanup_strv char **insecure = NULL;
	strv_push(&insecure, xstrdup(origin.host));
	strv_push(&insecure, xstrdup(mirror.host));
	struct registry_opts plain = {.insecure_registries = insecure, .user_agent = "kiln/test"};
	_cleanup_(registry_freep) struct registry *setup = NULL;
	ASSERT_OK(registry_new(&plain, &setup, &err), err);
	/* different images at the origin and, under the prefix, at the mirror */
	cleanup_free char *at_origin = xasprintf("%s/team/img:1", origin.host);
	cleanup_free char *at_mirror = xasprintf("%s/cache/pfx/team/img:1", mirror.host);
	ASSERT_OK(push_image(setup, &fo, at_origin, NULL, &err), err);
	ASSERT_OK(push_image(setup, &fm, at_mirror, NULL, &err), err);

	cleanup_strv char **maps = NULL;
	strv_pushf(&maps, "%s=%s/cache/pfx/", origin.host, mirror.host);
	struct registry_opts o = plain;
	o.registry_maps = maps;
	_cleanup_(registry_freep) struct registry *r = NULL;
	ASSERT_OK(registry_new(&o, &r, &err), err);
	char got[DIGEST_STRING_LEN + 1], want[DIGEST_STRING_LEN + 1];
	ASSERT_OK(pull_manifest(r, at_origin, got, &err), err);
	sha256_digest(fm.manifest, strlen(fm.manifest), want);
	ASSERT_STREQ(got, want);

	/* the mirror's blobs are not at the origin: they must come from the mirror */
	cleanup_free char *pull_dir = tmpdir();
	_cleanup_(blobstore_freep) struct blobstore *pbs = NULL;
	ASSERT_OK(blobstore_open(pull_dir, &pbs, &err), err);
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	ASSERT_OK(image_ref_parse(at_origin, &ref, &err), err);
	const char *blobs[] = {fm.config, fm.layer1, fm.layer2};
	int rc = registry_fetch_blobs(r, ref, blobs, 3, pbs, &err);
	bool same = rc >= 0 && same_blob(fm.bs, pbs, fm.layer1) && same_blob(fm.bs, pbs, fm.config);
	rm_rf(pull_dir, NULL);
	ASSERT_OK(rc, err);
	ASSERT_TRUE(same);

	/* pushes never go to the mirror */
	cleanup_free char *pushed = xasprintf("%s/team/pushed:1", origin.host);
	ASSERT_OK(push_image(r, &fo, pushed, NULL, &err), err);
	ASSERT_OK(pull_manifest(setup, pushed, got, &err), err);
	cleanup_free char *not_on_mirror = xasprintf("%s/cache/pfx/team/pushed:1", mirror.host);
	ASSERT_FAIL(pull_manifest(setup, not_on_mirror, got, &err));
}

TEST(registry_map_falls_back_in_order_unless_skipped)
{
	_cleanup_(regserver_stop) struct regserver origin = {.pid = -1}, mirror = {.pid = -1};
	START_REGISTRY(origin, NULL);
	START_REGISTRY(mirror, NULL);
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(fixture_release) struct fixture fo = {}, fm = {};
	ASSERT_OK(fixture_init(&fo, 12, &err), err);
	ASSERT_OK(fixture_init(&fm, 13, &err), err);
	no_docker_config(fo.dir);
	cleanup_strv char **insecure = NULL;
	strv_push(&insecure, xstrdup(origin.host));
	strv_push(&insecure, xstrdup(mirror.host));
	strv_push(&insecure, xstrdup("127.0.0.1:1"));
	struct registry_opts plain = {.insecure_registries = insecure, .user_agent = "kiln/test"};
	_cleanup_(registry_freep) struct registry *setup = NULL;
	ASSERT_OK(registry_new(&plain, &setup, &err), err);
	cleanup_free char *at_origin = xasprintf("%s/lib/x:2", origin.host);
	cleanup_free char *at_mirror = xasprintf("%s/second/lib/x:2", mirror.host);
	ASSERT_OK(push_image(setup, &fo, at_origin, NULL, &err), err);
	ASSERT_OK(push_image(setup, &fm, at_mirror, NULL, &err), err);
	char got[DIGEST_STRING_LEN + 1], d_origin[DIGEST_STRING_LEN + 1],
	    d_mirror[DIGEST_STRING_LEN + 1];
	sha256_digest(fo.manifest, strlen(fo.manifest), d_origin);
	sha256_digest(fm.manifest, strlen(fm.manifest), d_mirror);

	/* a dead target, a target without the image, then the one that has it */
	{
		cleanup_strv char **maps = NULL;
		strv_pushf(&maps, "%s=127.0.0.1:1", origin.host);
		strv_pushf(&maps, "other.example=%s/second", mirror.host);
		strv_pushf(&maps, "%s=%s/first", origin.host, mirror.host);
		strv_pushf(&maps, "%s=%s/second", origin.host, mirror.host);
		struct registry_opts o = plain;
		o.registry_maps = maps;
		_cleanup_(registry_freep) struct registry *r = NULL;
		ASSERT_OK(registry_new(&o, &r, &err), err);
		ASSERT_OK(pull_manifest(r, at_origin, got, &err), err);
		ASSERT_STREQ(got, d_mirror);
	}
	/* no target has it: the original registry */
	cleanup_strv char **maps = NULL;
	strv_pushf(&maps, "%s=127.0.0.1:1", origin.host);
	strv_pushf(&maps, "%s=%s/first", origin.host, mirror.host);
	{
		struct registry_opts o = plain;
		o.registry_maps = maps;
		_cleanup_(registry_freep) struct registry *r = NULL;
		ASSERT_OK(registry_new(&o, &r, &err), err);
		ASSERT_OK(pull_manifest(r, at_origin, got, &err), err);
		ASSERT_STREQ(got, d_origin);
		/* and its blobs from there */
		_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
		ASSERT_OK(image_ref_parse(at_origin, &ref, &err), err);
		cleanup_free char *pull_dir = tmpdir();
		_cleanup_(blobstore_freep) struct blobstore *pbs = NULL;
		ASSERT_OK(blobstore_open(pull_dir, &pbs, &err), err);
		const char *blobs[] = {fo.config, fo.layer1};
		int rc = registry_fetch_blobs(r, ref, blobs, 2, pbs, &err);
		rm_rf(pull_dir, NULL);
		ASSERT_OK(rc, err);
	}
	/* --skip-default-registry-fallback */
	{
		struct registry_opts o = plain;
		o.registry_maps = maps;
		o.skip_default_registry_fallback = true;
		_cleanup_(registry_freep) struct registry *r = NULL;
		ASSERT_OK(registry_new(&o, &r, &err), err);
		ASSERT_FAIL(pull_manifest(r, at_origin, got, &err));
		test_note("%s", err->msg);
		cleanup_free char *want = xasprintf(
		    "image not found on any configured mapped registries for %s", at_origin);
		ASSERT_STREQ(err->msg, want);
		/* an image on a registry without mappings is not affected */
		kiln_err_free(err);
		err = NULL;
		ASSERT_OK(pull_manifest(r, at_mirror, got, &err), err);
		ASSERT_STREQ(got, d_mirror);
	}
}

TEST(registry_chunked_upload)
{
	_cleanup_(regserver_stop) struct regserver s = {.pid = -1};
	START_REGISTRY(s, NULL);
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(fixture_release) struct fixture f = {};
	ASSERT_OK(fixture_init(&f, 14, &err), err);
	no_docker_config(f.dir);
	cleanup_strv char **insecure = NULL;
	struct registry_opts o = plain_opts(&s, &insecure);
	/* 3 MiB in chunks of 1 MiB - 1: 3 full PATCHes and a 3-byte one */
	o.chunk_size = (1u << 20) - 1;
	_cleanup_(registry_freep) struct registry *r = NULL;
	ASSERT_OK(registry_new(&o, &r, &err), err);
	cleanup_free char *refs = xasprintf("%s/kiln/chunked:1", s.host);
	ASSERT_OK(push_image(r, &f, refs, NULL, &err), err);
	struct registry_stats st;
	registry_get_stats(r, &st);
	ASSERT_EQ(st.upload_chunks, 4);
	ASSERT_EQ(st.blob_uploads, 3);

	/* read back with a client that has nothing cached */
	_cleanup_(registry_freep) struct registry *r2 = NULL;
	cleanup_strv char **insecure2 = NULL;
	struct registry_opts o2 = plain_opts(&s, &insecure2);
	ASSERT_OK(registry_new(&o2, &r2, &err), err);
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	ASSERT_OK(image_ref_parse(refs, &ref, &err), err);
	cleanup_free char *pull_dir = tmpdir();
	_cleanup_(blobstore_freep) struct blobstore *pbs = NULL;
	ASSERT_OK(blobstore_open(pull_dir, &pbs, &err), err);
	const char *blobs[] = {f.config, f.layer1, f.layer2};
	int rc = registry_fetch_blobs(r2, ref, blobs, 3, pbs, &err);
	bool same = rc >= 0 && same_blob(f.bs, pbs, f.layer1) && same_blob(f.bs, pbs, f.layer2);
	rm_rf(pull_dir, NULL);
	ASSERT_OK(rc, err);
	ASSERT_TRUE(same);

	/* the environment variable sets it when the option does not */
	setenv("KILN_UPLOAD_CHUNK_SIZE", "1048576", 1);
	_cleanup_(registry_freep) struct registry *r3 = NULL;
	cleanup_strv char **insecure3 = NULL;
	struct registry_opts o3 = plain_opts(&s, &insecure3);
	ASSERT_OK(registry_new(&o3, &r3, &err), err);
	cleanup_free char *refs3 = xasprintf("%s/kiln/chunked-env:1", s.host);
	ASSERT_OK(push_image(r3, &f, refs3, NULL, &err), err);
	registry_get_stats(r3, &st);
	ASSERT_EQ(st.upload_chunks, 3);
	setenv("KILN_UPLOAD_CHUNK_SIZE", "12x", 1);
	_cleanup_(registry_freep) struct registry *r4 = NULL;
	ASSERT_FAIL(registry_new(&o3, &r4, &err));
	ASSERT_STREQ(err->msg, "invalid KILN_UPLOAD_CHUNK_SIZE '12x'");
	unsetenv("KILN_UPLOAD_CHUNK_SIZE");
}

TEST(registry_immutable_tag_errors)
{
	cleanup_err struct kiln_err *a = NULL, *b = NULL, *c = NULL;
	kiln_err_set(&a, "PUT https://x/v2/r/manifests/t: 400 Bad Request: TAG_INVALID: "
	                 "The repository has enabled tag immutability");
	kiln_err_wrap(&a, "push manifest to 'x/r:t'");
	kiln_err_set(&b, "PUT https://x/v2/r/manifests/t: 400 Bad Request: TAG_INVALID: The "
	                 "image tag 't' already exists in the 'r' repository and cannot be "
	                 "overwritten because the repository is immutable.");
	kiln_err_set(&c, "PUT https://x/v2/r/manifests/t: 403 Forbidden: DENIED: requested "
	                 "access to the resource is denied");
	ASSERT_TRUE(registry_err_is_immutable_tag(a));
	ASSERT_TRUE(registry_err_is_immutable_tag(b));
	ASSERT_FALSE(registry_err_is_immutable_tag(c));
	ASSERT_FALSE(registry_err_is_immutable_tag(NULL));
}
