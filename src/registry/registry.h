/* registry.h — Docker Registry HTTP API v2 / OCI distribution client on net/net.h: manifests,
 * blobs (concurrent, digest-verified), uploads, cross-repo mounts, token and basic auth
 * (auth/token.h), TLS options as kaniko's flags set them (DESIGN §4, kaniko reference §5). */
#pragma once

#include "ref.h"

#include "util/blobstore.h"
#include "util/err.h"
#include "util/sha256.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_OCI_INDEX       "application/vnd.oci.image.index.v1+json"

struct registry_opts {
	bool insecure;                     /* push over plain http to any registry */
	bool insecure_pull;                /* pull over plain http */
	char **insecure_registries;        /* hosts using plain http for pull and push */
	bool skip_tls_verify;              /* all registries */
	bool skip_tls_verify_pull;         /* all registries, pulls only (kaniko: a no-op) */
	char **skip_tls_verify_registries; /* per host */
	/* extra CA files for every registry (e.g. /kaniko/ssl/certs/ca-certificates.crt when it
	 * exists; SSL_CERT_FILE/SSL_CERT_DIR honoured too) */
	const char *const *ca_files;
	/* per-registry CA file and client cert: "host=path", "host=cert,key" as given on the
	 * command line */
	char **registry_certificates;
	char **registry_client_certs;
	/* extra attempts on connection errors, 408, 429, 5xx, with backoff 1s,2s,4s... */
	int retries;
	const char *user_agent; /* "kiln/<version>" */
	/* --registry-map/--registry-mirror as "orig=host[/prefix]" (mirrors are
	 * "index.docker.io=<mirror>"): PULLS of an image on orig (registry_get_manifest,
	 * registry_fetch_blobs) try each mapped target in order, the prefix put in front of the
	 * repository, then orig itself */
	char **registry_maps;
	/* --skip-default-registry-fallback: an image on a mapped registry that no target has is an
	 * error instead of a pull from orig */
	bool skip_default_registry_fallback;
	/* blobs larger than this are uploaded in chunks of this size (POST, PATCH with
	 * Content-Range..., PUT ?digest=); 0 = monolithic (POST, PUT). When 0, the environment
	 * variable KILN_UPLOAD_CHUNK_SIZE (bytes) sets it. */
	uint64_t chunk_size;
};

/* one client per build: connection reuse, token cache per (registry, scope). Safe for use by
 * several threads at once (the concurrent stages of a build): no lock is held across network
 * I/O, so their requests overlap. */
struct registry;

/* what the client sent, for tests and debug logs */
struct registry_stats {
	unsigned long requests;     /* every HTTP request to a registry (token requests excluded) */
	unsigned long blob_heads;   /* HEAD .../blobs/<digest> */
	unsigned long blob_uploads; /* blobs whose bytes were sent (PUT ?digest=) */
	unsigned long blob_mounts;  /* blobs mounted from another repository */
	unsigned long blob_fetches; /* blobs downloaded */
	unsigned long token_fetches; /* bearer tokens fetched */
	unsigned long upload_chunks; /* PATCH requests of chunked uploads */
};

int registry_new(const struct registry_opts *opts, struct registry **ret, struct kiln_err **err);
struct registry *registry_free(struct registry *r);
void registry_get_stats(const struct registry *r, struct registry_stats *ret);

/* GET manifest by tag or digest. With registry_maps for ref's registry, each mapped target is tried
 * first (WARN `Failed to retrieve image X from remapped registry Y: ...` on failure), then ref's
 * registry unless skip_default_registry_fallback (error `image not found on any configured mapped
 * registries for <ref>`); registry_fetch_blobs for the same image then reads from the registry that
 * served the manifest. If it is an index / manifest list, select the entry for platform
 * ("linux/amd64", "linux/arm64/v8") and fetch that manifest. Returns the raw body, its media type
 * and its digest (sha256 of the body, verified against the digest in the ref or the index
 * descriptor). Accepts Docker v2s2, Docker manifest list, OCI manifest, OCI index. Body capped at
 * LIMIT_MANIFEST. Not found -> error "MANIFEST_UNKNOWN"-style message naming the image. */
int registry_get_manifest(struct registry *r, const struct image_ref *ref, const char *platform,
                          char **ret_body, size_t *ret_len, char **ret_media_type,
                          char ret_digest[DIGEST_STRING_LEN + 1], struct kiln_err **err);
/* download blobs into the blob store (from where ref's manifest was found, see above; for an image
 * whose manifest this client never fetched, through the same mappings), concurrently (curl multi,
 * up to 4 in flight), streaming through blob_writer (which verifies the digest); blobs already in
 * the store are skipped; a digest mismatch is an error and nothing is stored. A blob that an
 * image manifest fetched by this client declares (registry_get_manifest) is cut off at that size:
 * more bytes are an error naming the blob, and the temporary file is removed (also when kiln
 * is stopped by SIGTERM, SIGINT or SIGHUP: util/tmpclean.h) */
int registry_fetch_blobs(struct registry *r, const struct image_ref *ref,
                         const char *const *digests, size_t n, struct blobstore *bs,
                         struct kiln_err **err);
/* upload blobs from the blob store: HEAD first (skip existing), cross-repo mount when mount_from
 * (a repository on the same registry) is non-NULL, else POST + PUT ?digest= (monolithic,
 * streaming the file) or, above opts.chunk_size, POST + PATCH chunks + PUT ?digest=;
 * concurrent, up to 4 in flight. Mappings never apply to pushes. With mount_from, a blob may
 * be absent from the store: the push fails only if the registry then declines the mount. */
int registry_push_blobs(struct registry *r, const struct image_ref *ref, const char *const *digests,
                        size_t n, const char *mount_from, struct blobstore *bs,
                        struct kiln_err **err);
/* PUT manifest at ref's tag (or digest) */
int registry_put_manifest(struct registry *r, const struct image_ref *ref, const char *media_type,
                          const char *body, size_t len, struct kiln_err **err);
/* true when e (from registry_put_manifest) carries one of the registry errors kaniko's
 * --push-ignore-immutable-tag-errors ignores: `The repository has enabled tag immutability`
 * (Artifact Registry), `cannot be overwritten because the repository is immutable` (ECR) */
bool registry_err_is_immutable_tag(const struct kiln_err *e);
/* kaniko's push-permission pre-flight: POST /v2/<repo>/blobs/uploads/ with push scope, then
 * DELETE the upload */
int registry_check_push(struct registry *r, const struct image_ref *ref, struct kiln_err **err);

DEFINE_FREEP(struct registry, registry_free)
