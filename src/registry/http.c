/* http.c — the registry's side of HTTP: per-host TLS options and the /v2/ ping, credentials,
 * the token cache, and the auth hooks that put them on net/net.h's transfers (the token request
 * itself is auth/token.h's). Authorization headers, tokens and passwords are never logged or put
 * into messages. */
#include "http.h"

#include "auth/token.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- hosts ---- */

/* "host=value" entries for this registry */
static const char *kv_for_host(char *const *kv, const char *registry)
{
	size_t n = strlen(registry);
	strv_foreach (e, kv)
		if (strneq(e, registry, n) && e[n] == '=')
			return e + n + 1;
	return NULL;
}

static int host_setup_tls(struct registry *r, struct http_host *h, bool skip_verify,
                          struct kiln_err **err)
{
	const struct registry_opts *o = &r->opts;
	h->tls.skip_verify = skip_verify;

	const char *cert = kv_for_host(o->registry_client_certs, h->registry);
	if (cert) {
		const char *comma = strchr(cert, ',');
		if (!comma || comma == cert || !comma[1] || strchr(comma + 1, ','))
			return kiln_err_set(
			    err,
			    "failed to load client certificate/key '%s=%s', expected "
			    "format: reg=/path/to/cert,/path/to/key",
			    h->registry, cert);
		h->tls.client_cert = xstrndup(cert, (size_t)(comma - cert));
		h->tls.client_key = xstrdup(comma + 1);
	}

	const char *host_ca = kv_for_host(o->registry_certificates, h->registry);
	bool host_ca_failed = false;
	if (net_tls_set_cas(&h->tls, (const char *const *)r->ca_files, host_ca, 0, &host_ca_failed,
	                    err) < 0) {
		if (host_ca_failed)
			return kiln_err_wrap(err, "--registry-certificate for '%s'", h->registry);
		return -1;
	}
	return 0;
}

static void host_free(struct http_host *h)
{
	if (!h)
		return;
	free(h->registry);
	free(h->base);
	auth_challenge_release(&h->challenge);
	auth_creds_release(&h->creds);
	net_tls_release(&h->tls);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* ---- client ---- */

int registry_new(const struct registry_opts *opts, struct registry **ret, struct kiln_err **err)
{
	_cleanup_(registry_freep) struct registry *r = xcalloc(1, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	r->opts = *opts;
	r->opts.insecure_registries = strv_dup(opts->insecure_registries);
	r->opts.skip_tls_verify_registries = strv_dup(opts->skip_tls_verify_registries);
	r->opts.registry_certificates = strv_dup(opts->registry_certificates);
	r->opts.registry_client_certs = strv_dup(opts->registry_client_certs);
	r->opts.registry_maps = strv_dup(opts->registry_maps);
	const char *chunk = getenv("KILN_UPLOAD_CHUNK_SIZE");
	if (!r->opts.chunk_size && chunk && *chunk) {
		char *end = NULL;
		errno = 0;
		unsigned long long v = strtoull(chunk, &end, 10);
		if (errno || *end || chunk[0] == '-')
			return kiln_err_set(err, "invalid KILN_UPLOAD_CHUNK_SIZE '%s'", chunk);
		r->opts.chunk_size = (uint64_t)v;
	}
	for (const char *const *f = opts->ca_files; f && *f; f++)
		strv_push(&r->ca_files, xstrdup(*f));
	r->opts.ca_files = NULL;
	r->user_agent = xstrdup(opts->user_agent ? opts->user_agent : "kiln");
	r->opts.user_agent = r->user_agent;
	if (r->opts.retries < 0)
		r->opts.retries = 0;
	if (net_client_init(&r->net, r->user_agent, r->opts.retries, err) < 0)
		return -1;
	*ret = TAKE_PTR(r);
	return 0;
}

static void token_release(struct http_token *t)
{
	free(t->base);
	free(t->scope);
	if (t->header) {
		explicit_bzero(t->header, strlen(t->header));
		free(t->header);
	}
}

struct registry *registry_free(struct registry *r)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->n_hosts; i++)
		host_free(r->hosts[i]);
	free(r->hosts);
	for (size_t i = 0; i < r->n_tokens; i++)
		token_release(&r->tokens[i]);
	free(r->tokens);
	net_client_release(&r->net);
	strv_free(r->opts.insecure_registries);
	strv_free(r->opts.skip_tls_verify_registries);
	strv_free(r->opts.registry_certificates);
	strv_free(r->opts.registry_client_certs);
	strv_free(r->opts.registry_maps);
	for (size_t i = 0; i < r->n_sources; i++) {
		free(r->sources[i].image);
		free(r->sources[i].name);
		free(r->sources[i].registry);
		free(r->sources[i].repository);
	}
	free(r->sources);
	free(r->sizes);
	strv_free(r->ca_files);
	free(r->user_agent);
	pthread_mutex_destroy(&r->mu);
	free(r);
	return NULL;
}

void registry_get_stats(const struct registry *r, struct registry_stats *ret)
{
	pthread_mutex_lock((pthread_mutex_t *)&r->mu);
	*ret = r->stats;
	pthread_mutex_unlock((pthread_mutex_t *)&r->mu);
}

/* GET /v2/ without credentials: the challenge, if any (called with h->mu held) */
static int host_ping(struct registry *r, struct http_host *h, struct kiln_err **err)
{
	if (h->pinged)
		return 0;
	cleanup_free char *url = xasprintf("%s/v2/", h->base);
	_cleanup_(net_xfer_release) struct net_xfer x = {};
	net_xfer_init(&x, &r->net, "GET", xstrdup(url));
	x.tls = &h->tls;
	x.origin = h->base;
	x.follow = true;
	if (net_request(&x, err) < 0)
		return -1;
	if (x.status == 401) {
		if (!x.www_auth)
			return kiln_err_http(err, 401,
			                     "GET %s: 401 Unauthorized without a WWW-Authenticate "
			                     "header",
			                     url);
		if (auth_challenge_parse(x.www_auth, &h->challenge, err) < 0)
			return kiln_err_wrap(err, "GET %s", url);
		h->have_challenge = true;
	}
	h->pinged = true;
	return 0;
}

int http_host_get(struct registry *r, const char *registry, enum http_dir dir,
                  struct http_host **ret, struct kiln_err **err)
{
	const struct registry_opts *o = &r->opts;
	bool plain = strv_contains(o->insecure_registries, registry) ||
	             (dir == HTTP_PUSH && o->insecure) || (dir == HTTP_PULL && o->insecure_pull);
	cleanup_free char *base = xasprintf("%s://%s", plain ? "http" : "https", registry);
	/* --skip-tls-verify-pull relaxes pulls only: such a host is kept apart from the pushes' */
	bool skip = o->skip_tls_verify || strv_contains(o->skip_tls_verify_registries, registry) ||
	            (dir == HTTP_PULL && o->skip_tls_verify_pull);
	struct http_host *h = NULL;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n_hosts && !h; i++)
		if (streq(r->hosts[i]->base, base) && r->hosts[i]->tls.skip_verify == skip)
			h = r->hosts[i];
	if (!h) {
		h = xcalloc(1, sizeof(*h));
		pthread_mutex_init(&h->mu, NULL);
		h->registry = xstrdup(registry);
		h->base = TAKE_PTR(base);
		if (host_setup_tls(r, h, skip, err) < 0) {
			pthread_mutex_unlock(&r->mu);
			host_free(h);
			return -1;
		}
		r->hosts = xreallocarray(r->hosts, r->n_hosts + 1, sizeof(*r->hosts));
		r->hosts[r->n_hosts++] = h;
	}
	pthread_mutex_unlock(&r->mu);
	/* a host's first contact: a thread that comes meanwhile waits for its answer */
	pthread_mutex_lock(&h->mu);
	int p = host_ping(r, h, err);
	pthread_mutex_unlock(&h->mu);
	if (p < 0)
		return -1;
	*ret = h;
	return 0;
}

/* ---- auth ---- */

/* called with h->mu held */
static int host_creds(struct http_host *h, struct kiln_err **err)
{
	if (h->creds_loaded)
		return 0;
	if (auth_lookup(h->registry, &h->creds, err) < 0)
		return -1;
	h->creds_loaded = true;
	return 0;
}

static struct http_token *token_find(struct registry *r, const char *base, const char *scope)
{
	for (size_t i = 0; i < r->n_tokens; i++)
		if (streq(r->tokens[i].base, base) && streq(r->tokens[i].scope, scope))
			return &r->tokens[i];
	return NULL;
}

static void creds_copy(struct auth_creds *to, const struct auth_creds *from)
{
	to->username = from->username ? xstrdup(from->username) : NULL;
	to->password = from->password ? xstrdup(from->password) : NULL;
	to->identity_token = from->identity_token ? xstrdup(from->identity_token) : NULL;
}

static void creds_wipe(struct auth_creds *c)
{
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	if (c->identity_token)
		explicit_bzero(c->identity_token, strlen(c->identity_token));
	auth_creds_release(c);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* the host's challenge and credentials as they are now (credentials looked up on first use) */
static int host_snapshot(struct http_host *h, struct auth_challenge *c, struct auth_creds *creds,
                         struct kiln_err **err)
{
	pthread_mutex_lock(&h->mu);
	int r = host_creds(h, err);
	if (r >= 0) {
		const struct auth_challenge *hc = &h->challenge;
		c->scheme = dup_or_null(hc->scheme);
		c->realm = dup_or_null(hc->realm);
		c->service = dup_or_null(hc->service);
		c->scope = dup_or_null(hc->scope);
		creds_copy(creds, &h->creds);
	}
	pthread_mutex_unlock(&h->mu);
	return r;
}

/* a new bearer token for scope (auth/token.h), kept in the token cache. The request runs
 * without a lock (two threads may fetch the same scope at once; the later token is kept); the
 * cache is updated under r->mu. ret_header (may be NULL): a copy of the Authorization line. */
static int fetch_token(struct registry *r, struct http_host *h, const char *scope,
                       char **ret_header, struct kiln_err **err)
{
	cleanup_challenge struct auth_challenge c = {};
	_cleanup_(creds_wipe) struct auth_creds creds = {};
	if (host_snapshot(h, &c, &creds, err) < 0)
		return -1;
	REGISTRY_STAT_INC(r, token_fetches);
	char *tok = NULL;
	double ttl = 0;
	if (auth_token_fetch(&r->net, &h->tls, h->registry, &c, &creds, scope, &tok, &ttl, err) < 0)
		return -1;
	pthread_mutex_lock(&r->mu);
	struct http_token *t = token_find(r, h->base, scope);
	if (!t) {
		XGROW(r->tokens, r->n_tokens + 1, r->cap_tokens);
		t = &r->tokens[r->n_tokens++];
		*t = (struct http_token){.base = xstrdup(h->base), .scope = xstrdup(scope)};
	} else {
		explicit_bzero(t->header, strlen(t->header));
		free(t->header);
	}
	t->header = xasprintf("Authorization: Bearer %s", tok);
	/* renew a little early so a token does not expire in flight */
	t->expires = net_now() + ttl - MIN(ttl / 2, 10.0);
	if (ret_header)
		*ret_header = xstrdup(t->header);
	pthread_mutex_unlock(&r->mu);
	explicit_bzero(tok, strlen(tok));
	free(tok);
	return 0;
}

/* Basic from the host's credentials (called with h->mu held) */
static int basic_header(struct http_host *h, char **ret, struct kiln_err **err)
{
	if (host_creds(h, err) < 0)
		return -1;
	if (!h->creds.username)
		return 0;
	cleanup_free char *up =
	    xasprintf("%s:%s", h->creds.username, h->creds.password ? h->creds.password : "");
	cleanup_free char *b64 = auth_base64_encode(up, strlen(up));
	*ret = xasprintf("Authorization: Basic %s", b64);
	explicit_bzero(up, strlen(up));
	explicit_bzero(b64, strlen(b64));
	return 0;
}

/* net hook: the Authorization line for a request in the transfer's scope, or NULL for
 * anonymous */
static int auth_header(struct net_xfer *x, char **ret, struct kiln_err **err)
{
	const struct http_req *q = x->ud;
	struct registry *r = q->r;
	struct http_host *h = q->h;
	*ret = NULL;
	pthread_mutex_lock(&h->mu);
	int rc = 0;
	bool bearer = false;
	if (h->have_challenge) { /* else anonymous */
		if (strcasecmp(h->challenge.scheme, "Basic") == 0)
			rc = basic_header(h, ret, err);
		else if (strcasecmp(h->challenge.scheme, "Bearer") != 0)
			rc = kiln_err_set(err,
			                  "registry '%s': unsupported authentication scheme '%s'",
			                  h->registry, h->challenge.scheme);
		else
			bearer = true;
	}
	pthread_mutex_unlock(&h->mu);
	if (rc < 0 || !bearer)
		return rc;
	pthread_mutex_lock(&r->mu);
	struct http_token *t = token_find(r, h->base, q->scope);
	if (t && t->expires >= net_now())
		*ret = xstrdup(t->header);
	pthread_mutex_unlock(&r->mu);
	if (*ret)
		return 0;
	return fetch_token(r, h, q->scope, ret, err);
}

/* net hook: a 401 with a challenge (expired token, new scope or first contact): the host takes
 * the challenge; a Bearer one the host had already gets a new token; a Basic one the host had
 * already means the credentials were refused */
static int auth_unauthorized(struct net_xfer *x, struct kiln_err **err)
{
	const struct http_req *q = x->ud;
	struct http_host *h = q->h;
	struct auth_challenge c = {};
	if (auth_challenge_parse(x->www_auth, &c, err) < 0)
		return -1;
	bool bearer = strcasecmp(c.scheme, "Bearer") == 0;
	bool basic = strcasecmp(c.scheme, "Basic") == 0;
	pthread_mutex_lock(&h->mu);
	bool same = h->have_challenge && strcasecmp(c.scheme, h->challenge.scheme) == 0;
	auth_challenge_release(&h->challenge);
	h->challenge = c;
	h->have_challenge = true;
	pthread_mutex_unlock(&h->mu);
	if (same && bearer && fetch_token(q->r, h, q->scope, NULL, err) < 0)
		return -1;
	if (same && basic)
		return NET_DONE;
	return NET_AGAIN;
}

static const struct net_auth_ops registry_auth = {
    .header = auth_header,
    .unauthorized = auth_unauthorized,
};

/* ---- requests ---- */

void http_xfer_init(struct net_xfer *x, struct registry *r, struct http_host *h, const char *method,
                    char *url, const char *scope)
{
	net_xfer_init(x, &r->net, method, url);
	struct http_req *q = xcalloc(1, sizeof(*q));
	*q = (struct http_req){.r = r, .h = h, .scope = scope};
	x->ud = q;
	x->auth = &registry_auth;
	x->tls = &h->tls;
	x->origin = h->base;
	x->counter = &r->stats.requests;
}

void http_xfer_release(struct net_xfer *x)
{
	net_xfer_release(x);
	free(x->ud);
	x->ud = NULL;
}
