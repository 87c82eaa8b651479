/* fuzz_manifest.c — libFuzzer target for the JSON a registry sends: the first byte picks the
 * reader (image manifest as OCI or Docker, index platform selection, image config), the rest is
 * the body. */
#include "fuzz.h"

#include "image/image.h"
#include "image/index.h"
#include "util/strv.h"

#include <assert.h>
#include <string.h>

static void check_manifest(const char *body, size_t len, const char *mt)
{
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(manifest_freep) struct manifest *m = NULL;
	if (manifest_parse(body, len, mt, &m, &err) < 0) {
		assert(err && err->msg && err->msg[0]);
		return;
	}
	assert(m && !err);
	assert(digest_valid(m->config_digest));
	for (size_t i = 0; i < m->n_layers; i++) {
		assert(digest_valid(m->layers[i].digest));
		assert(m->layers[i].media_type);
	}
	/* what we parsed can be written back */
	free(manifest_build(m->format, m->config_digest, m->config_size, m->layers, m->n_layers));
}

static void check_index(const char *body, size_t len, const char *platform)
{
	cleanup_err struct kiln_err *err = NULL;
	char d[DIGEST_STRING_LEN + 1];
	if (image_index_select(body, len, platform, d, &err) < 0) {
		assert(err && err->msg && err->msg[0]);
		return;
	}
	assert(!err && digest_valid(d));
}

static void check_config(const char *body, size_t len)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_json json_t *cfg = NULL;
	if (image_config_parse(body, len, &cfg, &err) < 0) {
		assert(err && err->msg && err->msg[0]);
		return;
	}
	assert(cfg && !err);
	cleanup_strv char **env = image_config_env(cfg);
	image_config_set_env(cfg, env);
	image_config_add_history(cfg, "RUN x",
	                         "sha256:"
	                         "0000000000000000000000000000000000000000000000000000000000000000",
	                         false, "1970-01-01T00:00:00Z");
	assert(image_config_n_layers(cfg) >= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	switch (data[0] % 6) {
	case 0:
		check_manifest(body, len, MT_OCI_MANIFEST);
		break;
	case 1:
		check_manifest(body, len, MT_DOCKER_MANIFEST);
		break;
	case 2:
		check_index(body, len, "linux/amd64");
		break;
	case 3:
		check_index(body, len, "linux/arm64");
		break;
	case 4:
		check_index(body, len, "linux/arm/v6");
		break;
	default:
		check_config(body, len);
		break;
	}
	return 0;
}
