/* git.h — git:// build contexts through libgit2 (kaniko reference §2 "Git contexts"): the
 * context spec, --git options, credentials from the environment, and the clone itself. */
#pragma once

#include "context/remote.h"
#include "util/err.h"

#include <stdbool.h>

/* "git://<host/path>[#<ref>[#<commit>]]" taken apart */
struct context_git_spec {
	char *url;          /* clone URL without userinfo: "https://host/path" ("http://" with
	                      * GIT_PULL_METHOD=http) */
	char *url_user;     /* userinfo of the spec, percent-decoded, or NULL */
	char *url_password; /* NULL when the userinfo has no ':' */
	char *ref;          /* the second part ("refs/heads/x", "refs/pull/1/head", a tag, a
	                      * commit hash), or NULL */
	char *commit;       /* the third part, or NULL */
};

/* rest is the spec after "git://"; plain_http selects http:// */
int context_git_parse(const char *rest, bool plain_http, struct context_git_spec *ret,
                      struct kiln_err **err);
void context_git_spec_release(struct context_git_spec *s);

/* --git key=value options; a repeated key overwrites. Unknown keys are ignored as kaniko
 * ignores them (the command line warns, naming them); depth is an error while libgit2 < 1.7 */
struct context_git_opts {
	char *branch; /* NULL when none */
	bool single_branch;
	bool recurse_submodules;
	bool insecure_skip_tls;
};

/* 0 when kv's key is one kiln honours; 1 and a warning naming `--git <key>` when the key is
 * unknown (ignored, as kaniko does); -1 and an error message for depth (not honoured) */
int context_git_key_check(const char *kv, char **ret_msg);
int context_git_opts_parse(char *const *kv, struct context_git_opts *ret, struct kiln_err **err);
void context_git_opts_release(struct context_git_opts *o);

/* The HTTP basic credentials kaniko sends: GIT_TOKEN (user = token, empty password) wins, then
 * GIT_USERNAME/GIT_PASSWORD, then the spec's userinfo. false when there are none. The strings
 * point into the environment or s. */
bool context_git_credentials(const struct context_git_spec *s, const char **ret_user,
                             const char **ret_password);

/* Clones rest (the spec after "git://") into the empty directory dir, keeping .git, and checks
 * out what the spec and --git options select. */
int context_git_clone(const char *rest, const struct context_opts *o, const char *dir,
                      struct kiln_err **err);
