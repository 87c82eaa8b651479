/* net.h — HTTP(S) on libcurl, the one transfer path of kiln: the registry client (src/registry),
 * bearer-token requests (src/auth) and plain downloads (ADD <url>, https:// contexts,
 * --dockerfile URLs: download.h) all run their requests here, and the TLS/CA set-up here is the
 * one git (src/context) uses too. This module is the only code that sees libcurl; curl error
 * codes become kiln_err here. Authorization headers, tokens and passwords are never logged or
 * put into messages.
 *
 * What every request gets: redirects followed by hand (never by curl) with credentials sent to
 * the origin they belong to only — the same-origin rule lives in net_xfer's redirect step and
 * nowhere else; proxies as url_proxy_for() decides (never curl's reading of the environment);
 * stall detection (net_stall_opts); retries with backoff on connection errors, 408, 429, 5xx;
 * bounded response bodies; an optional progress bar.
 *
 * Concurrency: a net_client is shared by the threads of a build. Every transfer has its own
 * easy handle; a thread running transfers takes a multi handle (and with it a connection cache)
 * from the client's idle pool and gives it back; DNS and TLS-session caches are shared through
 * a curl share handle whose lock callbacks use one mutex per kind of data. No lock is held
 * across network I/O. */
#pragma once

#include "util/blobstore.h"
#include "util/buf.h"
#include "util/err.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct progress;

/* ---- TLS and CA certificates (tls.c) ---- */

enum {
	/* make a bundle even when no extra CA source is set */
	NET_CA_ALWAYS = 1 << 0,
	/* git's rules: an unreadable file is skipped (debug log), not an error; a missing
	 * SSL_CERT_FILE falls back to default_bundle */
	NET_CA_LENIENT = 1 << 1,
};

/* the CAs kiln trusts, as one PEM bundle appended to b: SSL_CERT_FILE when it exists (a
 * missing one is skipped, as Go does), else default_bundle (curl's system bundle); every PEM
 * in SSL_CERT_DIR's directories; ca_files. Nothing is appended when none of SSL_CERT_FILE,
 * SSL_CERT_DIR or ca_files is set and NET_CA_ALWAYS is not given (curl's default then
 * applies): returns 0 then, 1 when a bundle was made (possibly empty). An unreadable file is an
 * error unless NET_CA_LENIENT. */
int net_ca_bundle(const char *default_bundle, const char *const *ca_files, unsigned flags,
                  struct kiln_buf *b, struct kiln_err **err);
/* appends the PEM file at path (and a newline) to b */
int net_add_pem_file(struct kiln_buf *b, const char *path, struct kiln_err **err);
/* curl's built-in CA bundle path, or NULL; heap string */
char *net_default_ca_file(void);

/* what a request trusts and presents */
struct net_tls {
	bool skip_verify;
	char *ca_blob; /* PEM bundle when extra CAs are configured, else NULL (curl's default) */
	size_t ca_blob_len;
	char *client_cert, *client_key;
};
/* t's CAs: net_ca_bundle(curl's default, ca_files, flags) and, when extra_ca is set, that file
 * too (NET_CA_ALWAYS implied). An extra_ca that cannot be read fails with *extra_failed set. */
int net_tls_set_cas(struct net_tls *t, const char *const *ca_files, const char *extra_ca,
                    unsigned flags, bool *extra_failed, struct kiln_err **err);
void net_tls_release(struct net_tls *t);
void net_tls_apply(CURL *e, const struct net_tls *t);

/* ---- helpers every request uses (xfer.c) ---- */

/* Stall detection for every request: connecting may take min(window, 30 s); then fewer than
 * NET_LOW_SPEED bytes/s over the window (no first byte included) is an error. The window is
 * NET_STALL_SECONDS, or KILN_HTTP_STALL_TIMEOUT seconds. */
#define NET_STALL_SECONDS 60L
#define NET_LOW_SPEED     1024L
void net_stall_opts(CURL *e);
/* sets CURLOPT_PROXY for a request to url: url_proxy_for()'s answer, or none */
void net_apply_proxy(CURL *e, const char *url);
/* URL for printing: no query string (signed redirect URLs carry credentials there) */
char *net_url_for_msg(const char *url);
double net_now(void);

/* ---- client ---- */

struct net_client {
	char *user_agent;
	int retries; /* extra attempts on connection errors, 408, 429, 5xx (1s, 2s, 4s...) */
	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	pthread_mutex_t mu; /* the idle pool */
	CURLM **idle;
	size_t n_idle;
};

int net_client_init(struct net_client *c, const char *user_agent, int retries,
                    struct kiln_err **err);
void net_client_release(struct net_client *c);

/* ---- transfers ---- */

enum net_next {
	NET_DONE,  /* the exchange is over (any status) */
	NET_AGAIN, /* send it again now (auth, redirect) */
	NET_LATER, /* send it again after x->not_before (retry) */
};

struct net_xfer;

/* what a client adds to its transfers (the registry: its token flow) */
struct net_auth_ops {
	/* the Authorization line for a request to x->origin, or *ret NULL for none */
	int (*header)(struct net_xfer *x, char **ret, struct kiln_err **err);
	/* a 401 with a WWW-Authenticate header from x->origin: NET_AGAIN to send again (once),
	 * NET_DONE to return it, < 0 failure */
	int (*unauthorized)(struct net_xfer *x, struct kiln_err **err);
};

/* one HTTP exchange, repeated as needed for auth, redirects and retries */
struct net_xfer {
	struct net_client *c;
	const struct net_tls *tls; /* NULL: curl's defaults */
	const char *origin;        /* the URL whose origin may receive credentials */
	const struct net_auth_ops *auth;
	void *ud;               /* the client's, for auth */
	unsigned long *counter; /* incremented (atomically) per request sent, or NULL */
	bool raw; /* download style: curl and redirect failures are left in rc/fault for the
	              * caller's own message instead of becoming an error here; no retries */
	CURL *easy;
	const char *method; /* static string */
	char *url;
	char **headers; /* extra request headers, "Name: value" */
	bool follow;    /* follow redirects, credentials never to another origin */
	/* Basic credentials for the origin (userinfo of a download URL), or NULL */
	const char *basic_user, *basic_password;

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
	/* when set, a 2xx body goes to sink instead of resp; it returns < 0 (with cb_err set, or
	 * without for a plain stop) to abort */
	int (*sink)(struct net_xfer *x, const char *p, size_t len);
	void *sink_ud;
	struct blobstore *bs; /* when set, a 2xx body streams into a blob writer */
	struct blob_writer *bw;
	const char *blob_digest; /* the blob it is, for messages */
	uint64_t blob_limit;     /* > 0: the size its manifest declares; a longer body fails */
	struct progress *prog;   /* a big blob's download or upload (util/progress.h) */
	char *location, *www_auth, *content_type, *docker_digest, *last_modified;
	struct kiln_err *cb_err;
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *slist;

	/* raw mode: the curl result and a redirect that was not followed */
	CURLcode rc;
	enum { NET_FAULT_NONE, NET_FAULT_NOT_HTTP, NET_FAULT_TOO_MANY } fault;
	char *fault_target;

	bool cross_origin;
	int redirects;
	int attempt;
	bool auth_retried;
	double not_before;
};

#define NET_MAX_REDIRECTS 10

void net_xfer_init(struct net_xfer *x, struct net_client *c, const char *method, char *url);
void net_xfer_release(struct net_xfer *x);
/* a new request on x (the next step of a job) */
void net_xfer_set_url(struct net_xfer *x, char *url);
/* "METHOD url-without-query: 404 Not Found: CODE: message" for a finished exchange */
int net_status_err(const struct net_xfer *x, struct kiln_err **err);
/* the same for a status and body */
int net_status_err_of(const char *method, const char *url, long status, const struct kiln_buf *body,
                      struct kiln_err **err);

struct net_job {
	struct net_xfer x;
	/* called when the exchange finished (any status): 0 done, 1 x was set up for another
	 * request, < 0 failure */
	int (*step)(struct net_job *j, struct kiln_err **err);
	void *data;
	int state;
	/* engine bookkeeping */
	int phase;
};

/* runs jobs with up to max_inflight transfers at once; the first failure stops the rest */
int net_run(struct net_client *c, struct net_job **jobs, size_t n, size_t max_inflight,
            struct kiln_err **err);
/* one request, synchronously; the caller reads x->status */
int net_request(struct net_xfer *x, struct kiln_err **err);
