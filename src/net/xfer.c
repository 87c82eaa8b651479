/* xfer.c — the transfer engine: a client's curl handles (share, pooled multi handles),
 * requests with auth hooks, redirects (the one place of the same-origin credential rule),
 * retries, size bounds and progress; curl errors become kiln_err here. */
#include "net.h"

#include "util/json.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/strv.h"
#include "util/url.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

double net_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *net_url_for_msg(const char *url)
{
	return xstrndup(url, strcspn(url, "?#"));
}

static const char *reason_phrase(long code)
{
	static const struct {
		long code;
		const char *text;
	} table[] = {
	    {200, "OK"},
	    {201, "Created"},
	    {202, "Accepted"},
	    {204, "No Content"},
	    {206, "Partial Content"},
	    {301, "Moved Permanently"},
	    {302, "Found"},
	    {303, "See Other"},
	    {307, "Temporary Redirect"},
	    {308, "Permanent Redirect"},
	    {400, "Bad Request"},
	    {401, "Unauthorized"},
	    {403, "Forbidden"},
	    {404, "Not Found"},
	    {405, "Method Not Allowed"},
	    {408, "Request Timeout"},
	    {409, "Conflict"},
	    {412, "Precondition Failed"},
	    {413, "Payload Too Large"},
	    {416, "Range Not Satisfiable"},
	    {429, "Too Many Requests"},
	    {500, "Internal Server Error"},
	    {501, "Not Implemented"},
	    {502, "Bad Gateway"},
	    {503, "Service Unavailable"},
	    {504, "Gateway Timeout"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (table[i].code == code)
			return table[i].text;
	return "";
}

/* the registry's {"errors":[{"code":..,"message":..}]} as "CODE: message; ...", capped */
static void append_registry_errors(struct kiln_buf *msg, const struct kiln_buf *body)
{
	if (!body->len)
		return;
	json_error_t je;
	cleanup_json json_t *j = json_loadb(body->ptr, body->len, 0, &je);
	json_t *errs = json_is_object(j) ? json_object_get(j, "errors") : NULL;
	size_t start = msg->len;
	if (json_is_array(errs)) {
		size_t i;
		json_t *e;
		json_array_foreach(errs, i, e)
		{
			const char *code = kjson_str(e, "code"), *m = kjson_str(e, "message");
			if (!code && !m)
				continue;
			kiln_buf_adds(msg, i ? "; " : ": ");
			if (code)
				kiln_buf_adds(msg, code);
			if (code && m)
				kiln_buf_adds(msg, ": ");
			if (m)
				kiln_buf_adds(msg, m);
		}
	} else if (!j) {
		/* a plain-text body (proxies, load balancers): its first line */
		size_t n = strcspn(body->ptr, "\r\n");
		if (n && body->ptr[0] != '<') {
			kiln_buf_adds(msg, ": ");
			kiln_buf_add(msg, body->ptr, n);
		}
	}
	if (msg->len - start > 512) {
		kiln_buf_truncate(msg, start + 512);
		kiln_buf_adds(msg, "...");
	}
}

int net_status_err_of(const char *method, const char *url, long status, const struct kiln_buf *body,
                      struct kiln_err **err)
{
	cleanup_free char *u = net_url_for_msg(url);
	cleanup_buf struct kiln_buf msg = KILN_BUF_INIT;
	const char *rp = reason_phrase(status);
	kiln_buf_addf(&msg, "%s %s: %ld%s%s", method, u, status, *rp ? " " : "", rp);
	append_registry_errors(&msg, body);
	return kiln_err_http(err, (int)status, "%s", msg.ptr);
}

int net_status_err(const struct net_xfer *x, struct kiln_err **err)
{
	return net_status_err_of(x->method, x->url, x->status, &x->resp, err);
}

static int curl_err(const char *method, const char *url, CURLcode rc, const char *errbuf,
                    struct kiln_err **err)
{
	cleanup_free char *u = net_url_for_msg(url);
	const char *detail = errbuf && *errbuf ? errbuf : curl_easy_strerror(rc);
	const char *hostp = strstr(u, "://");
	hostp = hostp ? hostp + 3 : u;
	cleanup_free char *host = xstrndup(hostp, strcspn(hostp, "/"));
	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		return kiln_err_set(
		    err,
		    "%s %s: the TLS certificate of 'https://%s' is not trusted (%s); "
		    "add its CA certificate to /kaniko/ssl/certs/ca-certificates.crt "
		    "or pass --registry-certificate %s=/path/to/ca.pem",
		    method, u, host, detail, host);
	if (rc == CURLE_SSL_CONNECT_ERROR && strstr(detail, "wrong version number"))
		return kiln_err_set(err,
		                    "%s %s: %s (the server does not speak TLS; for a plain http "
		                    "registry pass --insecure-registry %s)",
		                    method, u, detail, host);
	return kiln_err_set(err, "%s %s: %s", method, u, detail);
}

static bool curl_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static bool status_retryable(long s)
{
	return s == 408 || s == 429 || s >= 500;
}

void net_stall_opts(CURL *e)
{
	long secs = NET_STALL_SECONDS;
	const char *env = getenv("KILN_HTTP_STALL_TIMEOUT");
	if (env && *env) {
		char *end = NULL;
		long v = strtol(env, &end, 10);
		if (end && !*end && v > 0 && v <= 86400)
			secs = v;
		else
			log_warn(
			    "KILN_HTTP_STALL_TIMEOUT='%s' is not a number of seconds; using %ld",
			    env, secs);
	}
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, MIN(secs, 30L));
	/* a server that never answers, or answers slower than NET_LOW_SPEED bytes/s over the
	 * window (a trickle just above 1 byte/s included), fails the request */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)NET_LOW_SPEED);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, secs);
}

static void common_opts(struct net_client *c, CURL *e)
{
	curl_easy_setopt(e, CURLOPT_SHARE, c->share);
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	net_stall_opts(e);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
}

void net_apply_proxy(CURL *e, const char *url)
{
	/* our own decision (Go's rules: never loopback, NO_PROXY with CIDRs and domains), never
	 * curl's reading of the environment; "" turns curl's off */
	cleanup_free char *proxy = url_proxy_for(url);
	curl_easy_setopt(e, CURLOPT_PROXY, proxy ? proxy : "");
	/* "" keeps curl from applying its own reading of NO_PROXY on top of ours */
	curl_easy_setopt(e, CURLOPT_NOPROXY, "");
}

/* ---- client ---- */

static void share_lock(CURL *e _unused_, curl_lock_data d, curl_lock_access a _unused_, void *ud)
{
	struct net_client *c = ud;
	pthread_mutex_lock(&c->share_mu[d]);
}

static void share_unlock(CURL *e _unused_, curl_lock_data d, void *ud)
{
	struct net_client *c = ud;
	pthread_mutex_unlock(&c->share_mu[d]);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static bool global_ok;

static void global_init(void)
{
	global_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

int net_client_init(struct net_client *c, const char *user_agent, int retries,
                    struct kiln_err **err)
{
	pthread_once(&global_once, global_init);
	*c = (struct net_client){.user_agent = xstrdup(user_agent ? user_agent : "kiln"),
	                         .retries = retries < 0 ? 0 : retries};
	pthread_mutex_init(&c->mu, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(c->share_mu); i++)
		pthread_mutex_init(&c->share_mu[i], NULL);
	if (!global_ok)
		return kiln_err_set(err, "initialise libcurl");
	c->share = curl_share_init();
	if (!c->share)
		return kiln_err_set(err, "initialise libcurl handles");
	/* the connection cache is not shared: libcurl does not support one used by several
	 * threads at once; each pooled multi handle keeps its own */
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	return 0;
}

void net_client_release(struct net_client *c)
{
	/* the multi handles first: their connections hold on to the share's TLS sessions */
	for (size_t i = 0; i < c->n_idle; i++)
		curl_multi_cleanup(c->idle[i]);
	free(c->idle);
	if (c->share)
		curl_share_cleanup(c->share);
	pthread_mutex_destroy(&c->mu);
	for (size_t i = 0; i < ARRAY_SIZE(c->share_mu); i++)
		pthread_mutex_destroy(&c->share_mu[i]);
	free(c->user_agent);
	*c = (struct net_client){};
}

/* a multi handle for this thread's transfers: an idle one (with its connection cache) or new */
static CURLM *multi_take(struct net_client *c)
{
	CURLM *m = NULL;
	pthread_mutex_lock(&c->mu);
	if (c->n_idle)
		m = c->idle[--c->n_idle];
	pthread_mutex_unlock(&c->mu);
	return m ? m : curl_multi_init();
}

static void multi_give(struct net_client *c, CURLM *m)
{
	pthread_mutex_lock(&c->mu);
	c->idle = xreallocarray(c->idle, c->n_idle + 1, sizeof(*c->idle));
	c->idle[c->n_idle++] = m;
	pthread_mutex_unlock(&c->mu);
}

/* curl_easy_perform on a pooled multi handle, so that the connection is kept for later
 * requests (also those of other threads) */
static bool header_is(const char *line, size_t len, const char *name, const char **ret_val,
                      size_t *ret_len)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	const char *v = line + n + 1;
	const char *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	*ret_val = v;
	*ret_len = (size_t)(end - v);
	return true;
}

/* ---- transfers ---- */

void net_xfer_init(struct net_xfer *x, struct net_client *c, const char *method, char *url)
{
	*x = (struct net_xfer){.c = c,
	                       .method = method,
	                       .url = url,
	                       .body_fd = -1,
	                       .resp = KILN_BUF_INIT,
	                       .resp_max = LIMIT_ERROR_BODY};
}

void net_xfer_set_url(struct net_xfer *x, char *url)
{
	free(x->url);
	x->url = url;
	/* a URL the server handed out (an upload Location) may lead elsewhere: credentials go to
	 * x->origin only */
	x->cross_origin = x->origin && !url_same_origin(url, x->origin);
	x->redirects = 0;
	x->attempt = 0;
	x->auth_retried = false;
}

static void xfer_reset_response(struct net_xfer *x)
{
	x->status = 0;
	kiln_buf_reset(&x->resp);
	x->resp_overflow = false;
	free(x->location);
	free(x->www_auth);
	free(x->content_type);
	free(x->docker_digest);
	free(x->last_modified);
	x->location = x->www_auth = x->content_type = x->docker_digest = x->last_modified = NULL;
	x->errbuf[0] = 0;
}

/* what one attempt leaves: its callback error and its header list (wiped first: it holds the
 * Authorization line) */
static void xfer_clear_attempt(struct net_xfer *x)
{
	kiln_err_free(x->cb_err);
	x->cb_err = NULL;
	if (x->slist) {
		for (struct curl_slist *s = x->slist; s; s = s->next)
			explicit_bzero(s->data, strlen(s->data));
		curl_slist_free_all(x->slist);
		x->slist = NULL;
	}
}

void net_xfer_release(struct net_xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	x->easy = NULL;
	xfer_reset_response(x);
	kiln_buf_release(&x->resp);
	x->bw = blob_writer_free(x->bw);
	x->prog = progress_end(x->prog, false);
	xfer_clear_attempt(x);
	free(x->url);
	x->url = NULL;
	strv_free(x->headers);
	x->headers = NULL;
	free(x->fault_target);
	x->fault_target = NULL;
}

static size_t xfer_write(char *p, size_t size, size_t n, void *ud)
{
	struct net_xfer *x = ud;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (x->sink && status >= 200 && status < 300)
		return x->sink(x, p, len) < 0 ? 0 : len;
	if (x->bw && status >= 200 && status < 300) {
		if (x->blob_limit && blob_writer_size(x->bw) + len > x->blob_limit) {
			/* a registry that keeps sending must not fill the disk */
			kiln_err_set(&x->cb_err,
			             "blob %s is larger than the %llu bytes its manifest declares",
			             x->blob_digest ? x->blob_digest : "",
			             (unsigned long long)x->blob_limit);
			return 0;
		}
		if (blob_writer_write(x->bw, p, len, &x->cb_err) < 0)
			return 0;
		progress_update(x->prog, blob_writer_size(x->bw));
		return len;
	}
	if (x->resp.len + len > x->resp_max) {
		x->resp_overflow = true;
		/* error bodies are only for messages: keep the start, drop the rest */
		if (!(status >= 200 && status < 300))
			return len;
		return 0;
	}
	kiln_buf_add(&x->resp, p, len);
	return len;
}

static size_t xfer_header(char *p, size_t size, size_t n, void *ud)
{
	struct net_xfer *x = ud;
	size_t len = size * n;
	const char *v;
	size_t vl;
	if (len >= 5 && strneq(p, "HTTP/", 5)) {
		/* a new response (after 100 Continue): forget the previous headers */
		xfer_reset_response(x);
	} else if (header_is(p, len, "Location", &v, &vl)) {
		free(x->location);
		x->location = xstrndup(v, vl);
	} else if (header_is(p, len, "WWW-Authenticate", &v, &vl)) {
		if (!x->www_auth)
			x->www_auth = xstrndup(v, vl);
	} else if (header_is(p, len, "Content-Type", &v, &vl)) {
		free(x->content_type);
		x->content_type = xstrndup(v, vl);
	} else if (header_is(p, len, "Docker-Content-Digest", &v, &vl)) {
		free(x->docker_digest);
		x->docker_digest = xstrndup(v, vl);
	} else if (header_is(p, len, "Last-Modified", &v, &vl)) {
		free(x->last_modified);
		x->last_modified = xstrndup(v, vl);
	}
	return len;
}

static size_t xfer_read(char *p, size_t size, size_t n, void *ud)
{
	struct net_xfer *x = ud;
	size_t want = size * n;
	if (x->body_fd >= 0) {
		if (x->body_off >= x->body_size)
			return 0;
		want = (size_t)MIN((uint64_t)want, x->body_size - x->body_off);
		ssize_t got;
		do
			got = pread(x->body_fd, p, want, (off_t)(x->body_start + x->body_off));
		while (got < 0 && errno == EINTR);
		if (got <= 0)
			return CURL_READFUNC_ABORT;
		x->body_off += (uint64_t)got;
		progress_update(x->prog, x->body_start + x->body_off);
		return (size_t)got;
	}
	if (!x->body)
		return 0;
	size_t left = x->body_len - (size_t)x->body_off;
	want = MIN(want, left);
	memcpy(p, x->body + x->body_off, want);
	x->body_off += want;
	return want;
}

static int xfer_seek(void *ud, curl_off_t off, int origin)
{
	struct net_xfer *x = ud;
	if (origin != SEEK_SET || off < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	x->body_off = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

/* the credentials of a request to x's origin: the client's hook's Authorization line, or
 * Basic from basic_user/basic_password (curl's own: preemptive, removed after the request) */
static int credentials(struct net_xfer *x, char **ret, struct kiln_err **err)
{
	*ret = NULL;
	if (x->auth)
		return x->auth->header(x, ret, err);
	if (x->basic_user || x->basic_password) {
		curl_easy_setopt(x->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(x->easy, CURLOPT_USERNAME, x->basic_user ? x->basic_user : "");
		curl_easy_setopt(x->easy, CURLOPT_PASSWORD,
		                 x->basic_password ? x->basic_password : "");
	}
	return 0;
}

static int xfer_prepare(struct net_xfer *x, struct kiln_err **err)
{
	if (!x->easy) {
		x->easy = curl_easy_init();
		if (!x->easy)
			return kiln_err_set(err, "initialise libcurl handle");
	}
	CURL *e = x->easy;
	curl_easy_reset(e);
	common_opts(x->c, e);
	net_tls_apply(e, x->tls);
	xfer_reset_response(x);
	xfer_clear_attempt(x);
	x->bw = blob_writer_free(x->bw);
	if (x->bs && blob_writer_new(x->bs, &x->bw, err) < 0)
		return -1;

	curl_easy_setopt(e, CURLOPT_URL, x->url);
	net_apply_proxy(e, x->url);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, xfer_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, xfer_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);

	bool has_body = x->body_fd >= 0 || x->body;
	x->body_off = 0;
	uint64_t size = x->body_fd >= 0 ? x->body_size : x->body_len;
	if (streq(x->method, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (streq(x->method, "PUT")) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(has_body ? size : 0));
	} else if (streq(x->method, "POST")) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(has_body ? size : 0));
	} else if (streq(x->method, "PATCH")) {
		/* an upload with another verb: curl sends the body and Content-Length */
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(has_body ? size : 0));
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
	} else if (!streq(x->method, "GET")) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
	}
	if (streq(x->method, "PUT") || streq(x->method, "POST") || streq(x->method, "PATCH")) {
		curl_easy_setopt(e, CURLOPT_READFUNCTION, xfer_read);
		curl_easy_setopt(e, CURLOPT_READDATA, x);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, xfer_seek);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, x);
	}

	struct curl_slist *sl = NULL;
	strv_foreach (hdr, x->headers)
		sl = curl_slist_append(sl, hdr);
	/* no "Expect: 100-continue" round trip: registries answer uploads directly */
	sl = curl_slist_append(sl, "Expect:");
	if (!x->cross_origin) {
		cleanup_free char *auth = NULL;
		if (credentials(x, &auth, err) < 0) {
			curl_slist_free_all(sl);
			return -1;
		}
		if (auth) {
			sl = curl_slist_append(sl, auth);
			explicit_bzero(auth, strlen(auth));
		}
	}
	if (!sl)
		xalloc_die();
	x->slist = sl;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, sl);
	if (x->counter)
		__atomic_fetch_add(x->counter, 1, __ATOMIC_RELAXED);
	cleanup_free char *u = net_url_for_msg(x->url);
	log_trace("%s %s", x->method, u);
	return 0;
}

enum xfer_next {
	XFER_DONE,
	XFER_AGAIN,
	XFER_LATER,
};

/* a 3xx to follow: the same-origin rule of every kiln request lives here — credentials (the
 * client's Authorization line, a URL's userinfo) are sent to x->origin only, and never again
 * once a redirect left it */
static int follow_redirect(struct net_xfer *x, const char *u, struct kiln_err **err)
{
	char *target = NULL;
	curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &target);
	bool http = target && (startswith(target, "https://") || startswith(target, "http://"));
	if (x->raw) {
		/* the caller words these (downloads): a redirect without a Location stays a 3xx */
		if (!target)
			return XFER_DONE;
		if (!http || x->redirects + 1 > NET_MAX_REDIRECTS) {
			x->fault = http ? NET_FAULT_TOO_MANY : NET_FAULT_NOT_HTTP;
			x->fault_target = xstrdup(target);
			return XFER_DONE;
		}
	}
	if (!target)
		return kiln_err_set(err, "%s %s: %ld redirect without a Location", x->method, u,
		                    x->status);
	if (++x->redirects > NET_MAX_REDIRECTS)
		return kiln_err_set(err, "%s %s: too many redirects", x->method, u);
	if (!http)
		return kiln_err_set(err, "%s %s: redirect to a non-http URL", x->method, u);
	bool same_origin = x->origin && url_same_origin(target, x->origin);
	free(x->url);
	x->url = xstrdup(target);
	/* credentials never follow a redirect to another origin */
	x->cross_origin = x->cross_origin || !same_origin;
	return XFER_AGAIN;
}

/* after a transfer: decide between done (any status), again (auth, redirect) and later (retry) */
static int xfer_finish(struct net_xfer *x, CURLcode rc, struct kiln_err **err)
{
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	/* the easy handle must not keep pointers to our buffers or to secrets */
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(x->easy, CURLOPT_USERNAME, NULL);
	curl_easy_setopt(x->easy, CURLOPT_PASSWORD, NULL);
	if (x->cb_err) {
		cleanup_free char *cu = net_url_for_msg(x->url);
		if (!err)
			return -1;
		kiln_err_free(*err);
		*err = TAKE_PTR(x->cb_err);
		return kiln_err_wrap(err, "%s %s", x->method, cu);
	}
	if (x->resp_overflow && x->status >= 200 && x->status < 300) {
		cleanup_free char *u = net_url_for_msg(x->url);
		return kiln_err_set(err, "%s %s: response larger than %zu bytes", x->method, u,
		                    x->resp_max);
	}
	bool retry = rc != CURLE_OK ? curl_retryable(rc) : status_retryable(x->status);
	if (retry && x->attempt < x->c->retries) {
		double delay = (double)(1u << MIN(x->attempt, 6));
		x->attempt++;
		x->not_before = net_now() + delay;
		cleanup_free char *u = net_url_for_msg(x->url);
		log_debug("Retrying %s %s after %.0fs", x->method, u, delay);
		return XFER_LATER;
	}
	if (rc != CURLE_OK && x->raw) {
		x->rc = rc;
		return XFER_DONE;
	}
	if (rc != CURLE_OK)
		return curl_err(x->method, x->url, rc, x->errbuf, err);
	cleanup_free char *u = net_url_for_msg(x->url);
	log_trace("%s %s: %ld", x->method, u, x->status);

	if (x->status == 401 && x->auth && !x->cross_origin && !x->auth_retried && x->www_auth) {
		/* expired token, new scope or first contact: the client takes the challenge and
		 * the request is sent once more */
		x->auth_retried = true;
		int nx = x->auth->unauthorized(x, err);
		if (nx < 0)
			return kiln_err_wrap(err, "%s %s", x->method, u);
		return nx == NET_AGAIN ? XFER_AGAIN : XFER_DONE;
	}
	if (x->follow && x->status >= 300 && x->status < 400 && x->status != 304)
		return follow_redirect(x, u, err);
	return XFER_DONE;
}

enum {
	JOB_WAITING,
	JOB_READY,
	JOB_RUNNING,
	JOB_FINISHED,
};

int net_run(struct net_client *c, struct net_job **jobs, size_t n, size_t max_inflight,
            struct kiln_err **err)
{
	size_t inflight = 0, finished = 0;
	int ret = 0;
	/* this call's multi handle, from the pool: other threads run theirs at the same time */
	CURLM *multi = multi_take(c);
	if (!multi)
		return kiln_err_set(err, "initialise libcurl handles");
	for (size_t i = 0; i < n; i++) {
		jobs[i]->phase = JOB_WAITING;
		jobs[i]->x.not_before = 0;
	}
	while (finished < n && ret >= 0) {
		double t = net_now(), next_wake = 0;
		for (size_t i = 0; i < n && inflight < max_inflight; i++) {
			struct net_job *j = jobs[i];
			if (j->phase != JOB_WAITING && j->phase != JOB_READY)
				continue;
			if (j->x.not_before > t) {
				if (!next_wake || j->x.not_before < next_wake)
					next_wake = j->x.not_before;
				continue;
			}
			if (xfer_prepare(&j->x, err) < 0) {
				ret = -1;
				break;
			}
			CURLMcode mc = curl_multi_add_handle(multi, j->x.easy);
			if (mc != CURLM_OK) {
				ret = kiln_err_set(err, "libcurl: %s", curl_multi_strerror(mc));
				break;
			}
			j->phase = JOB_RUNNING;
			inflight++;
		}
		if (ret < 0)
			break;
		int running = 0;
		CURLMcode mc = curl_multi_perform(multi, &running);
		if (mc != CURLM_OK) {
			ret = kiln_err_set(err, "libcurl: %s", curl_multi_strerror(mc));
			break;
		}
		CURLMsg *m;
		int left;
		while (ret >= 0 && (m = curl_multi_info_read(multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct net_xfer *x = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			CURLcode rc = m->data.result;
			curl_multi_remove_handle(multi, m->easy_handle);
			inflight--;
			struct net_job *j = (struct net_job *)x; /* x is the first member */
			int nx = xfer_finish(x, rc, err);
			if (nx < 0) {
				j->phase = JOB_FINISHED;
				ret = nx;
				break;
			}
			if (nx == XFER_AGAIN || nx == XFER_LATER) {
				j->phase = JOB_READY;
				if (nx == XFER_AGAIN)
					x->not_before = 0;
				continue;
			}
			int s = j->step(j, err);
			if (s < 0) {
				j->phase = JOB_FINISHED;
				ret = s;
				break;
			}
			if (s > 0) {
				j->phase = JOB_READY;
				x->not_before = 0;
				continue;
			}
			j->phase = JOB_FINISHED;
			finished++;
		}
		if (ret < 0 || finished == n)
			break;
		int timeout = 1000;
		if (next_wake) {
			double w = (next_wake - net_now()) * 1000;
			timeout = w < 0 ? 0 : w > 1000 ? 1000 : (int)w;
		}
		if (inflight > 0) {
			curl_multi_poll(multi, NULL, 0, timeout, NULL);
		} else if (next_wake && timeout > 0) {
			struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000};
			nanosleep(&ts, NULL);
		}
	}
	/* stop whatever is still in flight after a failure */
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->phase == JOB_RUNNING) {
			curl_multi_remove_handle(multi, jobs[i]->x.easy);
			jobs[i]->phase = JOB_FINISHED;
		}
	}
	multi_give(c, multi);
	return ret;
}

static int step_once(struct net_job *j _unused_, struct kiln_err **err _unused_)
{
	return 0;
}

int net_request(struct net_xfer *x, struct kiln_err **err)
{
	/* the job embeds the transfer: run a copy and hand the results back */
	struct net_job job = {.x = *x, .step = step_once};
	struct net_job *jp = &job;
	int ret = net_run(x->c, &jp, 1, 1, err);
	*x = job.x;
	return ret;
}
