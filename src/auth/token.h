/* token.h — the bearer-token flow of the distribution token spec: a registry's
 * `WWW-Authenticate: Bearer realm=...,service=...` challenge, a request to the realm (GET with
 * Basic credentials, or the OAuth2 refresh-token POST with an identity token), the bearer token
 * out of its JSON reply. The registry client (src/registry) keeps the tokens. */
#pragma once

#include "auth.h"

#include "net/net.h"

/* fetches a token for scope ("repository:x:pull", several separated by spaces) from the realm
 * of challenge c (a Bearer one) with creds (anonymous when all NULL), over client nc with TLS
 * options tls. registry names the registry in messages. *ret_token (heap, to be wiped by the
 * caller) and *ret_ttl (seconds: expires_in, else 60). */
int auth_token_fetch(struct net_client *nc, const struct net_tls *tls, const char *registry,
                     const struct auth_challenge *c, const struct auth_creds *creds,
                     const char *scope, char **ret_token, double *ret_ttl, struct kiln_err **err);
