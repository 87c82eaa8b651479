/* output.h — everything a build hands over: digest files, the OCI layout, the docker-save
 * tarball, pushes to every --destination and $BUILDER_OUTPUT, in kaniko's order (§5.7). */
#pragma once

#include "driver/build.h"

/* writes the files, then pushes (unless --no-push) */
int output_all(const struct build_opts *o, struct blobstore *bs, struct registry *reg,
               const struct build_result *res, struct kiln_err **err);

/* the pre-flight push-permission check of every distinct destination repository */
int output_check_push(const struct build_opts *o, struct registry *reg, struct kiln_err **err);

/* an output file being written: through a temporary file renamed over a regular file kiln may
 * replace; in place (open O_TRUNC, write) into a device, fifo, bind-mounted file or standard
 * stream, through symlinks (outfile.c) */
struct output_file {
	char *path;  /* as the user named it, for messages */
	char *final; /* the file the temporary one replaces */
	char *tmp;   /* NULL when written in place */
	int fd;      /* write the content here */
	bool in_place;
};
int output_file_open(const char *path, struct output_file *f, struct kiln_err **err);
/* closes f->fd and puts the content in place */
int output_file_commit(struct output_file *f, struct kiln_err **err);
/* closes and removes what is left (after a failure); safe after commit */
void output_file_release(struct output_file *f);

/* docker save / docker load tarball (manifest.json, config "sha256:<hex>", "<hex>.tar.gz") */
int output_write_tarball(const char *path, struct blobstore *bs, const struct build_result *res,
                         char *const *repo_tags, struct kiln_err **err);
/* OCI image layout directory */
int output_write_oci_layout(const char *dir, struct blobstore *bs, const struct build_result *res,
                            struct kiln_err **err);
