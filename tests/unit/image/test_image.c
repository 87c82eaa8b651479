/* test_image.c — manifests (parse and build), platforms, configs and index selection. */
#include "harness.h"
#include "image/image.h"
#include "image/index.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

TEST(manifest_parse_docker_and_oci)
{
	static const char docker[] =
	    "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_MANIFEST "\","
	    "\"config\":{\"mediaType\":\"" MT_DOCKER_CONFIG "\",\"size\":12,\"digest\":\"" D1 "\"},"
	    "\"layers\":[{\"mediaType\":\"" MT_DOCKER_LAYER "\",\"size\":34,\"digest\":\"" D2 "\"},"
	    "{\"mediaType\":\"" MT_DOCKER_LAYER "\",\"size\":56,\"digest\":\"" D3 "\"}]}";
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(manifest_freep) struct manifest *m = NULL;
	ASSERT_OK(manifest_parse(docker, sizeof(docker) - 1, MT_DOCKER_MANIFEST, &m, &err), err);
	ASSERT_EQ(m->format, IMAGE_DOCKER);
	ASSERT_STREQ(m->config_digest, D1);
	ASSERT_EQ(m->config_size, 12);
	ASSERT_EQ(m->n_layers, 2);
	ASSERT_STREQ(m->layers[0].digest, D2);
	ASSERT_EQ(m->layers[0].size, 34);
	ASSERT_STREQ(m->layers[1].digest, D3);
	ASSERT_STREQ(m->layers[1].media_type, MT_DOCKER_LAYER);

	static const char oci[] =
	    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
	    "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"size\":7,\"digest\":\"" D1 "\"},"
	    "\"layers\":[{\"mediaType\":\"" MT_OCI_LAYER_ZSTD "\",\"size\":8,\"digest\":\"" D2
	    "\"}]}";
	_cleanup_(manifest_freep) struct manifest *o = NULL;
	ASSERT_OK(manifest_parse(oci, sizeof(oci) - 1, MT_OCI_MANIFEST, &o, &err), err);
	ASSERT_EQ(o->format, IMAGE_OCI);
	ASSERT_EQ(o->n_layers, 1);
	ASSERT_STREQ(o->layers[0].media_type, MT_OCI_LAYER_ZSTD);
}

TEST(manifest_parse_refuses_malformed)
{
	static const char *const bad[] = {
	    "",
	    "not json",
	    "[]",
	    /* no config */
	    "{\"schemaVersion\":2,\"layers\":[]}",
	    /* a digest that is not one */
	    "{\"schemaVersion\":2,\"config\":{\"size\":1,\"digest\":\"sha256:xyz\"},\"layers\":[]}",
	    /* layers not an array */
	    "{\"schemaVersion\":2,\"config\":{\"size\":1,\"digest\":\"" D1 "\"},\"layers\":{}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cleanup_err struct kiln_err *err = NULL;
		_cleanup_(manifest_freep) struct manifest *m = NULL;
		int r = manifest_parse(bad[i], strlen(bad[i]), MT_OCI_MANIFEST, &m, &err);
		if (r >= 0)
			test_note("accepted: %s", bad[i]);
		ASSERT_TRUE(r < 0);
		ASSERT_TRUE(m == NULL);
		ASSERT_TRUE(err && err->msg && *err->msg);
	}
}

TEST(manifest_parse_caps_the_layer_count)
{
	struct kiln_buf b = KILN_BUF_INIT;
	kiln_buf_adds(&b, "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
	                  "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"size\":1,\"digest\":"
	                  "\"" D1 "\"},\"layers\":[");
	for (unsigned i = 0; i <= LIMIT_LAYERS; i++)
		kiln_buf_addf(&b,
		              "%s{\"mediaType\":\"" MT_OCI_LAYER_GZIP "\",\"size\":1,"
		              "\"digest\":\"" D2 "\"}",
		              i ? "," : "");
	kiln_buf_adds(&b, "]}");
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(manifest_freep) struct manifest *m = NULL;
	int r = manifest_parse(b.ptr, b.len, MT_OCI_MANIFEST, &m, &err);
	kiln_buf_release(&b);
	ASSERT_TRUE(r < 0);
	ASSERT_STREQ(err->msg, "manifest has 1025 layers, more than 1024");
	ASSERT_EQ(err->kind, KILN_ERR_LIMIT);
}

TEST(manifest_build_is_canonical_and_parses_back)
{
	struct image_layer layers[2] = {
	    {.digest = D2, .size = 34, .media_type = (char *)MT_OCI_LAYER_GZIP},
	    {.digest = D3, .size = 56, .media_type = (char *)MT_OCI_LAYER_ZSTD},
	};
	cleanup_free char *body = manifest_build(IMAGE_OCI, D1, 12, layers, 2);
	/* keys sorted, compact: the digest of what we push is stable */
	ASSERT_STREQ(body,
	             "{\"config\":{\"digest\":\"" D1 "\",\"mediaType\":\"" MT_OCI_CONFIG
	             "\",\"size\":12},\"layers\":[{\"digest\":\"" D2
	             "\",\"mediaType\":\"" MT_OCI_LAYER_GZIP "\",\"size\":34},{\"digest\":\"" D3
	             "\",\"mediaType\":\"" MT_OCI_LAYER_ZSTD
	             "\",\"size\":56}],\"mediaType\":\"" MT_OCI_MANIFEST "\",\"schemaVersion\":2}");
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(manifest_freep) struct manifest *m = NULL;
	ASSERT_OK(manifest_parse(body, strlen(body), MT_OCI_MANIFEST, &m, &err), err);
	ASSERT_EQ(m->n_layers, 2);
	ASSERT_STREQ(m->layers[1].digest, D3);
	ASSERT_EQ(m->config_size, 12);

	cleanup_free char *dbody = manifest_build(IMAGE_DOCKER, D1, 12, NULL, 0);
	ASSERT_TRUE(strstr(dbody, MT_DOCKER_MANIFEST) != NULL);
	ASSERT_TRUE(strstr(dbody, MT_DOCKER_CONFIG) != NULL);
	ASSERT_STREQ(manifest_media_type(IMAGE_OCI), MT_OCI_MANIFEST);
	ASSERT_STREQ(layer_media_type(IMAGE_DOCKER, false), MT_DOCKER_LAYER);
	ASSERT_STREQ(layer_media_type(IMAGE_OCI, true), MT_OCI_LAYER_ZSTD);
	ASSERT_STREQ(layer_media_type(IMAGE_OCI, false), MT_OCI_LAYER_GZIP);
}

TEST(platform_normalize_table)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
	    {"linux/amd64", "linux/amd64"},      {"linux/x86_64", "linux/amd64"},
	    {"linux/aarch64", "linux/arm64/v8"}, {"linux/arm64", "linux/arm64/v8"},
	    {"linux/armhf", "linux/arm/v7"},     {"linux/i386", "linux/386"},
	    {"LINUX/AMD64", "linux/amd64"},      {"linux/arm/v6", "linux/arm/v6"},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cleanup_err struct kiln_err *err = NULL;
		cleanup_free char *got = NULL;
		ASSERT_OK(image_platform_normalize(ok[i].in, &got, &err), err);
		ASSERT_STREQ(got, ok[i].out);
	}
	static const char *const bad[] = {"linux/amd64,linux/arm64", "linux/am d64", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cleanup_err struct kiln_err *err = NULL;
		cleanup_free char *got = NULL;
		ASSERT_FAIL(image_platform_normalize(bad[i], &got, &err));
		ASSERT_TRUE(got == NULL);
	}
}

TEST(config_new_and_platform)
{
	cleanup_json json_t *cfg = image_config_new("linux/arm/v7");
	ASSERT_STREQ(kjson_str(cfg, "os"), "linux");
	ASSERT_STREQ(kjson_str(cfg, "architecture"), "arm");
	ASSERT_STREQ(kjson_str(cfg, "variant"), "v7");
	ASSERT_STREQ(kjson_str(image_config_container(cfg), "WorkingDir"), "/");
	ASSERT_TRUE(image_config_has_platform(cfg, "linux/arm/v7"));
	ASSERT_FALSE(image_config_has_platform(cfg, "linux/arm/v6"));
	ASSERT_FALSE(image_config_has_platform(cfg, "linux/amd64"));
	cleanup_free char *was = NULL;
	image_config_set_platform(cfg, "linux/amd64", &was);
	ASSERT_STREQ(was, "linux/arm/v7");
	ASSERT_TRUE(image_config_has_platform(cfg, "linux/amd64"));
	ASSERT_TRUE(json_object_get(cfg, "variant") == NULL);

	/* Env round trip */
	char a[] = "A=1", path[] = "PATH=/bin";
	char *env[] = {a, path, NULL};
	image_config_set_env(cfg, env);
	cleanup_strv char **got = image_config_env(cfg);
	ASSERT_TRUE(got && got[0] && got[1] && !got[2]);
	ASSERT_STREQ(got[0], "A=1");
	ASSERT_STREQ(got[1], "PATH=/bin");
}

TEST(config_history_and_layers)
{
	cleanup_json json_t *cfg = image_config_new("linux/amd64");
	ASSERT_EQ(image_config_n_layers(cfg), 0);
	image_config_add_history(cfg, "COPY a /a", D2, false, "1970-01-01T00:00:00Z");
	image_config_add_history(cfg, "ENV X=1", NULL, true, "1970-01-01T00:00:00Z");
	ASSERT_EQ(image_config_n_layers(cfg), 1);
	json_t *h = json_object_get(cfg, "history");
	ASSERT_EQ(json_array_size(h), 2);
	ASSERT_STREQ(kjson_str(json_array_get(h, 0), "created_by"), "COPY a /a");
	ASSERT_TRUE(json_is_true(json_object_get(json_array_get(h, 1), "empty_layer")));
	ASSERT_TRUE(json_object_get(json_array_get(h, 0), "empty_layer") == NULL);
	json_t *ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	ASSERT_STREQ(json_string_value(json_array_get(ids, 0)), D2);

	/* parse: a config is a JSON object */
	cleanup_err struct kiln_err *err = NULL;
	cleanup_json json_t *p = NULL;
	ASSERT_FAIL(image_config_parse("[1]", 3, &p, &err));
	kiln_err_free(err);
	err = NULL;
	ASSERT_OK(image_config_parse("{\"os\":\"linux\"}", 14, &p, &err), err);
	ASSERT_STREQ(kjson_str(p, "os"), "linux");
}

TEST(time_now_honours_reproducible_and_epoch)
{
	cleanup_free char *zero = image_time_now(true, 0);
	ASSERT_STREQ(zero, "1970-01-01T00:00:00Z");
	cleanup_free char *epoch = image_time_now(false, 1700000000);
	ASSERT_STREQ(epoch, "2023-11-14T22:13:20Z");
	cleanup_free char *both = image_time_now(true, 1700000000);
	ASSERT_STREQ(both, "2023-11-14T22:13:20Z");
}

TEST(index_selects_the_platform)
{
	static const char idx[] =
	    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":["
	    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":1,"
	    "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
	    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":1,"
	    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
	    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":1,"
	    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}}]}";
	cleanup_err struct kiln_err *err = NULL;
	char d[DIGEST_STRING_LEN + 1];
	ASSERT_OK(image_index_select(idx, sizeof(idx) - 1, "linux/amd64", d, &err), err);
	ASSERT_STREQ(d, D1);
	/* no variant in the entry stands for arm64's v8 */
	ASSERT_OK(image_index_select(idx, sizeof(idx) - 1, "linux/arm64/v8", d, &err), err);
	ASSERT_STREQ(d, D2);
	ASSERT_OK(image_index_select(idx, sizeof(idx) - 1, "linux/arm/v6", d, &err), err);
	ASSERT_STREQ(d, D3);
	/* arm/v7 is not there (v6 is not v7) */
	ASSERT_FAIL(image_index_select(idx, sizeof(idx) - 1, "linux/arm/v7", d, &err));
	ASSERT_TRUE(err != NULL);
}
