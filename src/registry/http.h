/* http.h — internal to src/registry: per-host state (TLS options, the /v2/ ping, the auth
 * challenge and credentials), the token cache and the registry's requests on the one transfer
 * path of net/net.h, with the token flow of auth/token.h behind its auth hooks. */
#pragma once

#include "registry.h"

#include "auth/auth.h"
#include "net/net.h"
#include "util/buf.h"

#include <pthread.h>
#include <stdint.h>

enum http_dir {
	HTTP_PULL,
	HTTP_PUSH,
};

struct http_host {
	char *registry; /* "127.0.0.1:5000" as in the reference */
	char *base;     /* "https://127.0.0.1:5000" */
	/* guards pinged, the challenge and the credentials: held for the one ping of a host (its
	 * first contact), else only to read or replace them, never across a transfer */
	pthread_mutex_t mu;
	bool pinged;
	bool have_challenge;
	struct auth_challenge challenge;
	bool creds_loaded;
	struct auth_creds creds;
	struct net_tls tls;
};

struct http_token {
	char *base;
	char *scope;
	char *header; /* "Authorization: Bearer ..." */
	double expires;
};

/* where an image's manifest was found (a mapped registry or the original), so that its blobs
 * come from the same place */
struct pull_source {
	char *image;      /* image_ref_string() of the reference as the caller gave it */
	char *name;       /* image_ref_name() of it */
	char *registry;   /* the registry that served the manifest */
	char *repository; /* the repository there (a mapping prefix included) */
};

struct blob_size {
	char digest[DIGEST_STRING_LEN + 1];
	uint64_t size;
};

/* Concurrency: a client is used by several threads at once (the stages of a build). The
 * transfers are net/net.h's (safe for that); `mu` guards the maps below (hosts, tokens,
 * sources, sizes) and is never held across network I/O. Counters in stats are updated
 * atomically (REGISTRY_STAT_INC). */
struct registry {
	struct registry_opts opts; /* string lists deep-copied */
	char **ca_files;
	char *user_agent;
	struct net_client net;
	pthread_mutex_t mu;
	struct http_host **hosts;
	size_t n_hosts;
	struct http_token *tokens;
	size_t n_tokens, cap_tokens;
	struct registry_stats stats;
	struct pull_source *sources;
	size_t n_sources;
	/* the size each blob has in the manifests this client pulled: a download stops there */
	struct blob_size *sizes;
	size_t n_sizes, cap_sizes;
};

#define REGISTRY_STAT_INC(r, field) __atomic_fetch_add(&(r)->stats.field, 1, __ATOMIC_RELAXED)

/* a registry request is a net_xfer whose ud is this (http_xfer_init) */
struct http_req {
	struct registry *r;
	struct http_host *h;
	const char *scope; /* auth scope, "repository:x:pull" (several separated by spaces) */
};

static inline struct registry *xfer_registry(const struct net_xfer *x)
{
	return ((const struct http_req *)x->ud)->r;
}

static inline struct http_host *xfer_host(const struct net_xfer *x)
{
	return ((const struct http_req *)x->ud)->h;
}

/* a request to h in scope (url is taken), with the registry's auth and TLS options; released
 * with http_xfer_release */
void http_xfer_init(struct net_xfer *x, struct registry *r, struct http_host *h, const char *method,
                    char *url, const char *scope);
void http_xfer_release(struct net_xfer *x);

/* host state for a registry in a direction (scheme from the insecure options); pings /v2/ once */
int http_host_get(struct registry *r, const char *registry, enum http_dir dir,
                  struct http_host **ret, struct kiln_err **err);
