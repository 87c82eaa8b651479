/* http.h — internal to src/registry: per-host state, auth, and the libcurl transfer engine
 * that every registry request goes through (the only code that sees libcurl). */
#pragma once

#include "registry.h"

#include "auth/auth.h"
#include "util/buf.h"

#include <curl/curl.h>
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
	bool skip_verify;
	char *ca_blob; /* PEM bundle when extra CAs are configured, else NULL (curl's default) */
	size_t ca_blob_len;
	char *client_cert, *client_key;
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

/* Concurrency: a client is used by several threads at once (the stages of a build). Every
 * transfer has its own easy handle; a thread running transfers takes a multi handle (and so
 * its connection cache) from the idle pool and gives it back afterwards; the share handle
 * (DNS and TLS-session caches) locks through share_mu. `mu` guards the maps below (hosts,
 * tokens, sources, sizes) and is never held across network I/O. Counters in stats are updated
 * atomically (REGISTRY_STAT_INC). */
struct registry {
	struct registry_opts opts; /* string lists deep-copied */
	char **ca_files;
	char *user_agent;
	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	pthread_mutex_t mu;
	CURLM **idle_multis; /* under mu */
	size_t n_idle_multis;
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

/* one HTTP exchange, repeated as needed for auth, redirects and retries */
struct http_xfer {
	struct registry *r;
	struct http_host *h;
	CURL *easy;
	const char *method; /* static string */
	char *url;
	const char *scope; /* auth scope, "repository:x:pull" (several separated by spaces) */
	char **headers;    /* extra request headers, "Name: value" */
	bool follow;       /* follow redirects (blob GETs), never with auth to another origin */

	/* request body: memory or file */
	const char *body;
	size_t body_len;
	int body_fd;
	uint64_t body_start; /* the body is the file's bytes [body_start, body_start+body_size) */
	uint64_t body_size;
	uint64_t body_off;

	/* response */
	long status;
	struct kiln_buf resp;
	size_t resp_max;
	bool resp_overflow;
	struct blobstore *bs; /* when set, a 2xx body streams into a blob writer */
	struct blob_writer *bw;
	const char *blob_digest; /* the blob it is, for messages */
	uint64_t blob_limit;     /* > 0: the size its manifest declares; a longer body fails */
	struct progress *prog;   /* a big blob's download or upload (util/progress.h) */
	char *location, *www_auth, *content_type, *docker_digest;
	struct kiln_err *cb_err;
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *slist;

	bool cross_origin;
	int redirects;
	int attempt;
	bool auth_retried;
	double not_before;
};

void http_xfer_init(struct http_xfer *x, struct registry *r, struct http_host *h,
                    const char *method, char *url, const char *scope);
void http_xfer_release(struct http_xfer *x);
void http_xfer_set_url(struct http_xfer *x, char *url);
/* "METHOD url-without-query: 404 Not Found: CODE: message" for a finished exchange */
int http_status_err(struct http_xfer *x, struct kiln_err **err);
/* URL for printing: no query string (signed redirect URLs carry credentials there) */
char *http_url_for_msg(const char *url);

struct http_job {
	struct http_xfer x;
	/* called when the exchange finished (any status): 0 done, 1 x was set up for another
	 * request, < 0 failure */
	int (*step)(struct http_job *j, struct kiln_err **err);
	void *data;
	int state;
	/* engine bookkeeping */
	int phase;
};

/* runs jobs with up to max_inflight transfers at once; the first failure stops the rest */
/* the CAs kiln trusts, as one PEM bundle appended to b: SSL_CERT_FILE when it exists (a
 * missing one is skipped, as Go does), else default_bundle (curl's system bundle); every PEM
 * in SSL_CERT_DIR's directories; ca_files. Nothing is appended when none of SSL_CERT_FILE,
 * SSL_CERT_DIR or ca_files is set and always is false (curl's default then applies): returns
 * 0 then, 1 when a bundle was made (possibly empty). An unreadable file is an error. */
int http_ca_bundle(const char *default_bundle, const char *const *ca_files, bool always,
                   struct kiln_buf *b, struct kiln_err **err);

/* Stall detection for every request (registry and downloads): connecting may take
 * min(window, 30 s); then fewer than HTTP_LOW_SPEED bytes/s over the window (no first byte
 * included) is an error. The window is HTTP_STALL_SECONDS, or KILN_HTTP_STALL_TIMEOUT seconds. */
#define HTTP_STALL_SECONDS 60L
#define HTTP_LOW_SPEED     1024L
void http_stall_opts(CURL *e);

/* sets CURLOPT_PROXY for a request to url: url_proxy_for()'s answer, or none */
void http_apply_proxy(CURL *e, const char *url);

int http_run(struct registry *r, struct http_job **jobs, size_t n, size_t max_inflight,
             struct kiln_err **err);
/* one request, synchronously; the caller reads x->status */
int http_request(struct http_xfer *x, struct kiln_err **err);

/* host state for a registry in a direction (scheme from the insecure options); pings /v2/ once */
int http_host_get(struct registry *r, const char *registry, enum http_dir dir,
                  struct http_host **ret, struct kiln_err **err);
