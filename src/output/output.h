/* output.h — everything a build hands over: digest files, the OCI layout, the docker-save
 * tarball, pushes to every --destination and $BUILDER_OUTPUT, in kaniko's order (§5.7). */
#pragma once

#include "build/build.h"

/* writes the files, then pushes (unless --no-push) */
int output_all(const struct build_opts *o, struct blobstore *bs, struct registry *reg,
               const struct build_result *res, struct kiln_err **err);

/* the pre-flight push-permission check of every distinct destination repository */
int output_check_push(const struct build_opts *o, struct registry *reg, struct kiln_err **err);

/* docker save / docker load tarball (manifest.json, config "sha256:<hex>", "<hex>.tar.gz") */
int output_write_tarball(const char *path, struct blobstore *bs, const struct build_result *res,
                         char *const *repo_tags, struct kiln_err **err);
/* OCI image layout directory */
int output_write_oci_layout(const char *dir, struct blobstore *bs, const struct build_result *res,
                            struct kiln_err **err);
