/* image.h — image manifests and configs: media types, parsing the manifests we pull, building
 * the manifest and config we push (OCI image-spec and Docker v2s2). */
#pragma once

#include "util/blobstore.h"
#include "util/err.h"
#include "util/json.h"
#include "util/sha256.h"

#include <stdbool.h>
#include <stdint.h>

#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER    "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER_GZIP  "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER_ZSTD  "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_OCI_LAYER_TAR   "application/vnd.oci.image.layer.v1.tar"

/* The two families a manifest can belong to; the output follows the base image (kaniko). */
enum image_format { IMAGE_DOCKER, IMAGE_OCI };

struct image_layer {
	char digest[DIGEST_STRING_LEN + 1];
	char diff_id[DIGEST_STRING_LEN + 1]; /* empty until known */
	uint64_t size;
	char *media_type;
};

struct manifest {
	enum image_format format;
	char config_digest[DIGEST_STRING_LEN + 1];
	uint64_t config_size;
	struct image_layer *layers;
	size_t n_layers;
};

/* parses a Docker v2s2 or OCI image manifest; indexes are the registry's business */
int manifest_parse(const char *body, size_t len, const char *media_type, struct manifest **ret,
                   struct kiln_err **err);
struct manifest *manifest_free(struct manifest *m);
DEFINE_FREEP(struct manifest, manifest_free)

/* canonical manifest body for a config and layers (layers' media types are taken as given) */
char *manifest_build(enum image_format format, const char *config_digest, uint64_t config_size,
                     const struct image_layer *layers, size_t n_layers);
const char *manifest_media_type(enum image_format format);
const char *layer_media_type(enum image_format format, bool zstd);

/* --- platform --- */

/* "os/arch[/variant]" (an optional ":osversion" after it, as containerd allows for Windows)
 * checked and normalised as containerd's platforms.Parse does: components of [A-Za-z0-9_.-],
 * lower case; x86_64 -> amd64, aarch64 -> arm64 (variant v8), armhf -> arm/v7, i386 -> 386;
 * a lone OS gets the host's architecture, a lone architecture the OS linux. A list
 * ("linux/amd64,linux/arm64") is refused. The error text is containerd's, for kaniko's
 * "Invalid platform" message. */
int image_platform_normalize(const char *spec, char **ret, struct kiln_err **err);
/* the platform kiln runs on ("linux/amd64", "linux/arm64/v8", …) */
const char *image_host_platform(void);
/* whether the config's os/architecture/variant are platform's (variant: an absent one
 * matches the architecture's default) */
bool image_config_has_platform(json_t *cfg, const char *platform);
/* the config's os, architecture and variant from platform; *ret_was the old ones
 * ("os/arch[/variant]") when ret_was is not NULL */
void image_config_set_platform(json_t *cfg, const char *platform, char **ret_was);

/* --- config --- */

/* an empty config for FROM scratch: os/architecture from platform ("linux/amd64") and
 * Env PATH and WorkingDir "/" as Docker (BuildKit) sets them */
json_t *image_config_new(const char *platform);
int image_config_parse(const char *data, size_t len, json_t **ret, struct kiln_err **err);
/* the "config" object (created when missing) */
json_t *image_config_container(json_t *cfg);
/* Env as a strv copy */
char **image_config_env(json_t *cfg);
void image_config_set_env(json_t *cfg, char *const *env);
/* appends a history entry, and the diff_id to rootfs.diff_ids when !empty_layer */
void image_config_add_history(json_t *cfg, const char *created_by, const char *diff_id,
                              bool empty_layer, const char *created);
/* number of diff_ids */
size_t image_config_n_layers(json_t *cfg);
/* RFC 3339 UTC time for "created" fields: SOURCE_DATE_EPOCH when given (> 0), else epoch 0
 * under --reproducible, else now */
char *image_time_now(bool reproducible, int64_t source_date_epoch);

/* the docker-save tarball (save.c) on fd, read from bs: each layer as <hex>.tar.gz, the config
 * under its digest, manifest.json with repo_tags (NULL: none). path only names it in errors. */
int image_save_tarball(int fd, const char *path, struct blobstore *bs, const char *config_digest,
                       const char *const *layer_digests, size_t n_layers, char *const *repo_tags,
                       struct kiln_err **err);
