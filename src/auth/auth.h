/* auth.h — registry credentials the way kaniko finds them (docker config.json, credential
 * helpers, GitLab CI variables) and WWW-Authenticate challenge parsing (DESIGN §4). */
#pragma once

#include "util/err.h"
#include "util/macro.h"

#include <stdbool.h>
#include <stddef.h>

struct auth_creds {
	char *username;
	char *password;
	char *identity_token;
}; /* all NULL = anonymous */

/* looks up credentials for a registry host ("127.0.0.1:5000", "index.docker.io") the way kaniko
 * does: $DOCKER_CONFIG/config.json (DOCKER_CONFIG default /kaniko/.docker; fall back to
 * $HOME/.docker/config.json when DOCKER_CONFIG is unset; then $REGISTRY_AUTH_FILE and
 * $XDG_RUNTIME_DIR/containers/auth.json when no docker config exists), "auths" entries with
 * "auth" (base64 user:pass), "username"/"password", "identitytoken"; keys written as hosts or
 * URLs (https://host/, http://host/v1/ ... normalise); Docker Hub key https://index.docker.io/v1/
 * (docker.io and index.docker.io keys accepted too); "credHelpers"/"credsStore" via
 * `docker-credential-<name> get` on PATH (fork/exec, host on stdin, JSON on stdout; no shell);
 * the GitLab helper: CI_REGISTRY host == registry host -> CI_REGISTRY_USER /
 * CI_REGISTRY_PASSWORD. Missing file = anonymous, not an error; malformed file = error naming
 * the file. The first source that gives non-anonymous credentials wins. */
int auth_lookup(const char *registry, struct auth_creds *ret, struct kiln_err **err);
void auth_creds_release(struct auth_creds *c);
static inline bool auth_creds_anonymous(const struct auth_creds *c)
{
	return !c->username && !c->password && !c->identity_token;
}

/* parses a WWW-Authenticate header: scheme "Basic"/"Bearer" (other schemes as written) and
 * params realm, service, scope (NULL when absent). Only the first challenge is read. */
struct auth_challenge {
	char *scheme;
	char *realm;
	char *service;
	char *scope;
};
int auth_challenge_parse(const char *header, struct auth_challenge *ret, struct kiln_err **err);
void auth_challenge_release(struct auth_challenge *c);

/* standard base64 (RFC 4648, with padding); heap string */
char *auth_base64_encode(const void *data, size_t len);

static inline void auth_creds_releasep(struct auth_creds *c)
{
	auth_creds_release(c);
}
static inline void auth_challenge_releasep(struct auth_challenge *c)
{
	auth_challenge_release(c);
}
#define cleanup_creds     _cleanup_(auth_creds_releasep)
#define cleanup_challenge _cleanup_(auth_challenge_releasep)
