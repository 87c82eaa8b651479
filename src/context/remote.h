/* remote.h — resolving --context (kaniko reference §2): a local directory, dir://, tar://<file>,
 * tar://stdin, https://<tar.gz>, git://; remote kinds are fetched into <kaniko_dir>/buildcontext,
 * then --context-sub-path is applied. */
#pragma once

#include "util/err.h"

#include <stdbool.h>

struct context_opts {
	const char *kaniko_dir;      /* remote contexts land in <kaniko_dir>/buildcontext */
	char *const *git_opts;       /* --git "key=value" strings (already validated), or NULL */
	const char *sub_path;        /* --context-sub-path, or NULL/"" */
	const char *const *ca_files; /* extra CA bundles trusted for git over https, or NULL */
	const char *user_agent;      /* "kiln/<version>" */
};

/* Resolves --context spec into an absolute, symlink-free directory (*ret_dir), fetching remote
 * contexts into <kaniko_dir>/buildcontext (emptied first). The sub path, when set, is applied to
 * every kind (kaniko ignores it for plain directories) and must name a directory inside. */
int context_resolve(const char *spec, const struct context_opts *o, char **ret_dir,
                    struct kiln_err **err);

/* ---- pure parts, exposed for the unit tests ---- */

enum context_kind {
	CONTEXT_DIR,   /* no "://", or dir:// */
	CONTEXT_TAR,   /* tar://<path> */
	CONTEXT_STDIN, /* tar://stdin */
	CONTEXT_HTTPS, /* https://<host>/<file>, not an Azure blob */
	CONTEXT_GIT,   /* git:// */
	CONTEXT_GCS,   /* gs:// (not implemented in kiln) */
	CONTEXT_S3,    /* s3:// (not implemented in kiln) */
	CONTEXT_AZURE, /* https://<account>.blob.core.windows.net/... (not implemented in kiln) */
	CONTEXT_UNKNOWN,
};

/* the kind of spec; *ret_rest points after the prefix (after "dir://", "tar://", "git://"; at
 * the whole spec for https and plain directories) */
enum context_kind context_kind(const char *spec, const char **ret_rest);

/* url with any userinfo ("user:secret@") removed, for messages */
char *context_redact_url(const char *url);

/* --context-sub-path cleaned lexically (Go's filepath.Clean, leading '/' dropped): "" or "."
 * for none; a path that climbs out of the context ("../x", "a/../../x") is an error */
int context_clean_sub_path(const char *sub, char **ret, struct kiln_err **err);
