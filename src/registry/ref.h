/* ref.h — image references ("busybox", "127.0.0.1:5000/x:tag", "repo@sha256:...") with
 * kaniko's lenient rules (go-containerregistry name, weak validation; reference §5.1). */
#pragma once

#include "util/err.h"
#include "util/macro.h"

struct image_ref {
	char *registry;   /* "index.docker.io", "127.0.0.1:5000" */
	char *repository; /* "library/busybox" */
	char *tag;        /* NULL only when a digest is given without a tag */
	char *digest;     /* "sha256:<hex>" or NULL */
};

/* kaniko/ggcr lenient rules: no tag -> "latest" (unless a digest is given), no registry or
 * docker.io -> "index.docker.io", single-component Docker Hub names get "library/";
 * "host:port/x", "host.domain/x", "localhost/x" are registries. Errors name the reference. */
int image_ref_parse(const char *s, struct image_ref **ret, struct kiln_err **err);
/* registry/repo:tag or registry/repo@digest (the digest wins when both are set) */
char *image_ref_string(const struct image_ref *r);
/* registry/repo */
char *image_ref_name(const struct image_ref *r);
/* deep copy */
struct image_ref *image_ref_dup(const struct image_ref *r);
struct image_ref *image_ref_free(struct image_ref *r);

DEFINE_FREEP(struct image_ref, image_ref_free)
