/* http.c — the one file that talks to libcurl: transfers, TLS options, the token flow and
 * retries. curl error codes become kiln_err here and nowhere else. Authorization headers,
 * tokens and passwords are never logged or put into messages. */
#include "http.h"

#include "util/fsutil.h"
#include "util/json.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/pem.h"
#include "util/progress.h"
#include "util/strv.h"
#include "util/url.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_REDIRECTS 10

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *http_url_for_msg(const char *url)
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

int http_status_err(struct http_xfer *x, struct kiln_err **err)
{
	cleanup_free char *u = http_url_for_msg(x->url);
	cleanup_buf struct kiln_buf msg = KILN_BUF_INIT;
	const char *rp = reason_phrase(x->status);
	kiln_buf_addf(&msg, "%s %s: %ld%s%s", x->method, u, x->status, *rp ? " " : "", rp);
	append_registry_errors(&msg, &x->resp);
	return kiln_err_http(err, (int)x->status, "%s", msg.ptr);
}

static int curl_err(const char *method, const char *url, CURLcode rc, const char *errbuf,
                    struct kiln_err **err)
{
	cleanup_free char *u = http_url_for_msg(url);
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

/* ---- TLS configuration ---- */

static int add_pem_file(struct kiln_buf *b, const char *path, struct kiln_err **err)
{
	cleanup_free char *data = NULL;
	size_t len = 0;
	if (read_file_at(AT_FDCWD, path, 16u << 20, &data, &len, err) < 0)
		return kiln_err_wrap(err, "read CA certificates");
	kiln_buf_add(b, data, len);
	kiln_buf_addch(b, '\n');
	return 0;
}

int http_ca_bundle(const char *default_bundle, const char *const *ca_files, bool always,
                   struct kiln_buf *b, struct kiln_err **err)
{
	const char *cert_file = getenv("SSL_CERT_FILE"), *cert_dir = getenv("SSL_CERT_DIR");
	bool extra = always || (ca_files && ca_files[0]) || (cert_file && *cert_file) ||
	             (cert_dir && *cert_dir);
	if (!extra)
		return 0;
	if (cert_file && *cert_file && access(cert_file, F_OK) == 0) {
		if (add_pem_file(b, cert_file, err) < 0)
			return kiln_err_wrap(err, "SSL_CERT_FILE");
	} else if (cert_file && *cert_file) {
		/* Go (and so kaniko) skips a missing SSL_CERT_FILE: CI environments leak theirs */
		log_debug("SSL_CERT_FILE '%s' does not exist; ignored", cert_file);
	} else if (default_bundle && access(default_bundle, R_OK) == 0 &&
	           add_pem_file(b, default_bundle, err) < 0) {
		return -1;
	}
	if (cert_dir && *cert_dir)
		pem_add_dirs(b, cert_dir);
	for (const char *const *f = ca_files; f && *f; f++) {
		if (add_pem_file(b, *f, err) < 0)
			return -1;
	}
	return 1;
}

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
	h->skip_verify = skip_verify;

	const char *cert = kv_for_host(o->registry_client_certs, h->registry);
	if (cert) {
		const char *comma = strchr(cert, ',');
		if (!comma || comma == cert || !comma[1] || strchr(comma + 1, ','))
			return kiln_err_set(
			    err,
			    "failed to load client certificate/key '%s=%s', expected "
			    "format: reg=/path/to/cert,/path/to/key",
			    h->registry, cert);
		h->client_cert = xstrndup(cert, (size_t)(comma - cert));
		h->client_key = xstrdup(comma + 1);
	}

	const char *host_ca = kv_for_host(o->registry_certificates, h->registry);
	/* curl takes one CA bundle: the system one (or SSL_CERT_FILE) plus everything extra */
	char *def = NULL;
	CURL *probe = curl_easy_init();
	if (!probe || curl_easy_getinfo(probe, CURLINFO_CAINFO, &def) != CURLE_OK)
		def = NULL;
	cleanup_free char *def_copy = def ? xstrdup(def) : NULL;
	if (probe)
		curl_easy_cleanup(probe);
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	int r2 =
	    http_ca_bundle(def_copy, (const char *const *)r->ca_files, host_ca != NULL, &b, err);
	if (r2 <= 0)
		return r2; /* 0: nothing extra, curl's default bundle applies */
	if (host_ca && add_pem_file(&b, host_ca, err) < 0)
		return kiln_err_wrap(err, "--registry-certificate for '%s'", h->registry);
	h->ca_blob_len = b.len;
	h->ca_blob = kiln_buf_detach(&b, NULL);
	return 0;
}

static void apply_tls(CURL *e, const struct http_host *h)
{
	if (h->skip_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (h->ca_blob) {
		struct curl_blob blob = {
		    .data = h->ca_blob, .len = h->ca_blob_len, .flags = CURL_BLOB_NOCOPY};
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (h->client_cert) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, h->client_cert);
		curl_easy_setopt(e, CURLOPT_SSLKEY, h->client_key);
	}
}

void http_stall_opts(CURL *e)
{
	long secs = HTTP_STALL_SECONDS;
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
	/* a server that never answers, or answers slower than HTTP_LOW_SPEED bytes/s over the
	 * window (a trickle just above 1 byte/s included), fails the request */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)HTTP_LOW_SPEED);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, secs);
}

static void common_opts(struct registry *r, CURL *e)
{
	curl_easy_setopt(e, CURLOPT_SHARE, r->share);
	curl_easy_setopt(e, CURLOPT_USERAGENT, r->user_agent);
	http_stall_opts(e);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
}

void http_apply_proxy(CURL *e, const char *url)
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
	struct registry *r = ud;
	pthread_mutex_lock(&r->share_mu[d]);
}

static void share_unlock(CURL *e _unused_, curl_lock_data d, void *ud)
{
	struct registry *r = ud;
	pthread_mutex_unlock(&r->share_mu[d]);
}

/* a multi handle for this thread's transfers: an idle one (with its connection cache) or new */
static CURLM *multi_take(struct registry *r)
{
	CURLM *m = NULL;
	pthread_mutex_lock(&r->mu);
	if (r->n_idle_multis)
		m = r->idle_multis[--r->n_idle_multis];
	pthread_mutex_unlock(&r->mu);
	return m ? m : curl_multi_init();
}

static void multi_give(struct registry *r, CURLM *m)
{
	pthread_mutex_lock(&r->mu);
	r->idle_multis =
	    xreallocarray(r->idle_multis, r->n_idle_multis + 1, sizeof(*r->idle_multis));
	r->idle_multis[r->n_idle_multis++] = m;
	pthread_mutex_unlock(&r->mu);
}

/* curl_easy_perform on a pooled multi handle, so that the connection is kept for later
 * requests (also those of other threads) */
static CURLcode perform_pooled(struct registry *r, CURL *e)
{
	CURLM *m = multi_take(r);
	if (!m)
		return CURLE_OUT_OF_MEMORY;
	CURLcode rc = CURLE_OK;
	if (curl_multi_add_handle(m, e) != CURLM_OK) {
		multi_give(r, m);
		return CURLE_FAILED_INIT;
	}
	for (bool done = false; !done;) {
		int running = 0;
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			rc = CURLE_FAILED_INIT;
			break;
		}
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == e) {
				rc = msg->data.result;
				done = true;
			}
		if (!done)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	curl_multi_remove_handle(m, e);
	multi_give(r, m);
	return rc;
}

int registry_new(const struct registry_opts *opts, struct registry **ret, struct kiln_err **err)
{
	static bool global_done;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return kiln_err_set(err, "initialise libcurl");
		global_done = true;
	}
	_cleanup_(registry_freep) struct registry *r = xcalloc(1, sizeof(*r));
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

	pthread_mutex_init(&r->mu, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(r->share_mu); i++)
		pthread_mutex_init(&r->share_mu[i], NULL);
	r->share = curl_share_init();
	if (!r->share)
		return kiln_err_set(err, "initialise libcurl handles");
	/* the connection cache is not shared: libcurl does not support one used by several
	 * threads at once; each pooled multi handle keeps its own */
	curl_share_setopt(r->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(r->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(r->share, CURLSHOPT_USERDATA, r);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	*ret = TAKE_PTR(r);
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
	free(h->ca_blob);
	free(h->client_cert);
	free(h->client_key);
	pthread_mutex_destroy(&h->mu);
	free(h);
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
	/* the multi handles first: their connections hold on to the share's TLS sessions */
	for (size_t i = 0; i < r->n_idle_multis; i++)
		curl_multi_cleanup(r->idle_multis[i]);
	free(r->idle_multis);
	if (r->share)
		curl_share_cleanup(r->share);
	pthread_mutex_destroy(&r->mu);
	for (size_t i = 0; i < ARRAY_SIZE(r->share_mu); i++)
		pthread_mutex_destroy(&r->share_mu[i]);
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
	free(r);
	return NULL;
}

void registry_get_stats(const struct registry *r, struct registry_stats *ret)
{
	pthread_mutex_lock((pthread_mutex_t *)&r->mu);
	*ret = r->stats;
	pthread_mutex_unlock((pthread_mutex_t *)&r->mu);
}

/* ---- simple synchronous requests (ping, token), each on an easy handle of its own ---- */

struct simple_resp {
	struct kiln_buf body;
	size_t max;
	bool overflow;
	char *www_auth;
};

static size_t simple_write(char *p, size_t size, size_t n, void *ud)
{
	struct simple_resp *s = ud;
	size_t len = size * n;
	if (s->body.len + len > s->max) {
		s->overflow = true;
		return 0;
	}
	kiln_buf_add(&s->body, p, len);
	return len;
}

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

static size_t simple_header(char *p, size_t size, size_t n, void *ud)
{
	struct simple_resp *s = ud;
	size_t len = size * n;
	const char *v;
	size_t vl;
	if (len >= 5 && strneq(p, "HTTP/", 5)) {
		free(s->www_auth);
		s->www_auth = NULL;
	} else if (header_is(p, len, "WWW-Authenticate", &v, &vl) && !s->www_auth) {
		s->www_auth = xstrndup(v, vl);
	}
	return len;
}

/* one request on e with retries on connection errors and retryable statuses */
static int simple_request_on(struct registry *r, CURL *e, struct http_host *h, const char *method,
                             const char *url, const char *post, const struct auth_creds *basic,
                             struct simple_resp *resp, long *ret_status, struct kiln_err **err)
{
	const char *first = url;
	/* redirects are followed here, not by curl: the credentials go to url's origin only */
	cleanup_free char *cur = xstrdup(url);
	int redirects = 0;
	for (int attempt = 0;; attempt++) {
		url = cur;
		curl_easy_reset(e);

		common_opts(r, e);
		apply_tls(e, h);
		char errbuf[CURL_ERROR_SIZE] = "";
		curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(e, CURLOPT_URL, url);
		http_apply_proxy(e, url);
		if (post) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
		}
		if (basic && basic->username && redirects && !url_same_origin(cur, first)) {
			basic = NULL;
		}
		if (basic && basic->username) {
			curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(e, CURLOPT_USERNAME, basic->username);
			curl_easy_setopt(e, CURLOPT_PASSWORD,
			                 basic->password ? basic->password : "");
		}
		kiln_buf_reset(&resp->body);
		resp->overflow = false;
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, simple_write);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, simple_header);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, resp);
		cleanup_free char *u = http_url_for_msg(url);
		log_trace("%s %s", method, u);
		CURLcode rc = perform_pooled(r, e);
		/* the easy handle must not keep pointers to our stack or to secrets */
		curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(e, CURLOPT_USERNAME, NULL);
		curl_easy_setopt(e, CURLOPT_PASSWORD, NULL);
		if (resp->overflow)
			return kiln_err_set(err, "%s %s: response larger than %zu bytes", method, u,
			                    resp->max);
		long status = 0;
		if (rc == CURLE_OK)
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		bool retry = rc != CURLE_OK ? curl_retryable(rc) : status_retryable(status);
		if (retry && attempt < r->opts.retries) {
			unsigned delay = 1u << MIN(attempt, 6);
			log_debug("Retrying %s %s after %us", method, u, delay);
			sleep(delay);
			continue;
		}
		if (rc != CURLE_OK)
			return curl_err(method, url, rc, errbuf, err);
		log_trace("%s %s: %ld", method, u, status);
		char *target = NULL;
		if (!post && status >= 300 && status < 400 && status != 304 &&
		    curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &target) == CURLE_OK && target &&
		    (startswith(target, "https://") || startswith(target, "http://"))) {
			if (++redirects > MAX_REDIRECTS)
				return kiln_err_set(err, "%s %s: too many redirects", method, u);
			char *next = xstrdup(target);
			free(cur);
			cur = next;
			attempt = -1;
			continue;
		}
		*ret_status = status;
		return 0;
	}
}

static int simple_request(struct registry *r, struct http_host *h, const char *method,
                          const char *url, const char *post, const struct auth_creds *basic,
                          struct simple_resp *resp, long *ret_status, struct kiln_err **err)
{
	CURL *e = curl_easy_init();
	if (!e)
		return kiln_err_set(err, "initialise libcurl handle");
	int ret = simple_request_on(r, e, h, method, url, post, basic, resp, ret_status, err);
	curl_easy_cleanup(e);
	return ret;
}

static int host_ping(struct registry *r, struct http_host *h, struct kiln_err **err)
{
	if (h->pinged)
		return 0;
	cleanup_free char *url = xasprintf("%s/v2/", h->base);
	struct simple_resp resp = {.body = KILN_BUF_INIT, .max = LIMIT_ERROR_BODY};
	long status = 0;
	int ret = simple_request(r, h, "GET", url, NULL, NULL, &resp, &status, err);
	if (ret >= 0 && status == 401) {
		if (!resp.www_auth)
			ret = kiln_err_http(err, 401,
			                    "GET %s: 401 Unauthorized without a WWW-Authenticate "
			                    "header",
			                    url);
		else if (auth_challenge_parse(resp.www_auth, &h->challenge, err) < 0)
			ret = kiln_err_wrap(err, "GET %s", url);
		else
			h->have_challenge = true;
	}
	kiln_buf_release(&resp.body);
	free(resp.www_auth);
	if (ret < 0)
		return ret;
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
		if (streq(r->hosts[i]->base, base) && r->hosts[i]->skip_verify == skip)
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

static void add_form(struct kiln_buf *b, CURL *e, const char *k, const char *v)
{
	char *enc = curl_easy_escape(e, v, 0);
	if (!enc)
		xalloc_die();
	kiln_buf_addf(b, "%s%s=%s", b->len ? "&" : "", k, enc);
	curl_free(enc);
}

static void simple_resp_release(struct simple_resp *s)
{
	explicit_bzero(s->body.ptr, s->body.len);
	kiln_buf_release(&s->body);
	free(s->www_auth);
	s->www_auth = NULL;
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

/* the host's challenge and credentials as they are now (the credentials looked up on first use) */
static int host_snapshot(struct http_host *h, struct auth_challenge *c, struct auth_creds *creds,
                         struct kiln_err **err)
{
	pthread_mutex_lock(&h->mu);
	int r = host_creds(h, err);
	if (r >= 0) {
		const struct auth_challenge *hc = &h->challenge;
		c->scheme = hc->scheme ? xstrdup(hc->scheme) : NULL;
		c->realm = hc->realm ? xstrdup(hc->realm) : NULL;
		c->service = hc->service ? xstrdup(hc->service) : NULL;
		c->scope = hc->scope ? xstrdup(hc->scope) : NULL;
		creds_copy(creds, &h->creds);
	}
	pthread_mutex_unlock(&h->mu);
	return r;
}

static int fetch_token_on(struct registry *r, CURL *e, struct http_host *h, const char *scope,
                          char **ret_header, struct kiln_err **err);

/* the bearer token flow: GET realm?service=&scope= with basic credentials, or the OAuth2
 * refresh-token POST with an identity token. The token request runs without a lock (two
 * threads may fetch the same scope at once; the later one's token is kept); the token cache
 * is updated under r->mu. ret_header (may be NULL): a copy of the new Authorization line. */
static int fetch_token(struct registry *r, struct http_host *h, const char *scope,
                       char **ret_header, struct kiln_err **err)
{
	CURL *e = curl_easy_init();
	if (!e)
		return kiln_err_set(err, "initialise libcurl handle");
	int ret = fetch_token_on(r, e, h, scope, ret_header, err);
	curl_easy_cleanup(e);
	return ret;
}

static int fetch_token_on(struct registry *r, CURL *e, struct http_host *h, const char *scope,
                          char **ret_header, struct kiln_err **err)
{
	cleanup_challenge struct auth_challenge snap = {};
	_cleanup_(creds_wipe) struct auth_creds creds = {};
	if (host_snapshot(h, &snap, &creds, err) < 0)
		return -1;
	const struct auth_challenge *c = &snap;
	if (!c->realm || !*c->realm)
		return kiln_err_set(err, "registry '%s': bearer challenge without a realm",
		                    h->registry);
	if (!startswith(c->realm, "https://") && !startswith(c->realm, "http://"))
		return kiln_err_set(err, "registry '%s': bearer realm '%s' is not an http(s) URL",
		                    h->registry, c->realm);

	cleanup_buf struct kiln_buf q = KILN_BUF_INIT;
	if (c->service)
		add_form(&q, e, "service", c->service);
	cleanup_free char *scopes = xstrdup(scope);
	for (char *s = scopes, *sp; s && *s; s = sp) {
		sp = strchr(s, ' ');
		if (sp)
			*sp++ = 0;
		add_form(&q, e, "scope", s);
	}

	_cleanup_(simple_resp_release) struct simple_resp resp = {.body = KILN_BUF_INIT,
	                                                          .max = LIMIT_TOKEN};
	long status = 0;
	cleanup_free char *url = NULL;
	const char *method = creds.identity_token ? "POST" : "GET";
	REGISTRY_STAT_INC(r, token_fetches);
	if (creds.identity_token) {
		cleanup_buf struct kiln_buf form = KILN_BUF_INIT;
		add_form(&form, e, "grant_type", "refresh_token");
		add_form(&form, e, "client_id", "kiln");
		kiln_buf_adds(&form, "&");
		kiln_buf_add(&form, q.ptr, q.len);
		add_form(&form, e, "refresh_token", creds.identity_token);
		url = xstrdup(c->realm);
		int ret =
		    simple_request_on(r, e, h, method, url, form.ptr, NULL, &resp, &status, err);
		explicit_bzero(form.ptr, form.len);
		if (ret < 0)
			return kiln_err_wrap(err, "get a token for '%s' (%s)", h->registry, scope);
	} else {
		url = xasprintf("%s%c%s", c->realm, strchr(c->realm, '?') ? '&' : '?', q.ptr);
		if (simple_request_on(r, e, h, method, url, NULL, &creds, &resp, &status, err) < 0)
			return kiln_err_wrap(err, "get a token for '%s' (%s)", h->registry, scope);
	}
	if (status != 200) {
		struct http_xfer fake = {
		    .method = method, .url = url, .status = status, .resp = resp.body};
		http_status_err(&fake, err);
		return kiln_err_wrap(err, "get a token for '%s' (%s)", h->registry, scope);
	}
	json_error_t je;
	cleanup_json json_t *j = json_loadb(resp.body.ptr, resp.body.len, 0, &je);
	const char *tok = kjson_str(j, "token");
	if (!tok || !*tok)
		tok = kjson_str(j, "access_token");
	if (!tok || !*tok)
		return kiln_err_set(err,
		                    "get a token for '%s' (%s): no token in the reply from '%s'",
		                    h->registry, scope, c->realm);
	json_t *ei = json_object_get(j, "expires_in");
	double ttl =
	    json_is_integer(ei) && json_integer_value(ei) > 0 ? (double)json_integer_value(ei) : 60;
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
	t->expires = now_s() + ttl - MIN(ttl / 2, 10.0);
	if (ret_header)
		*ret_header = xstrdup(t->header);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

/* the Authorization header line for a request in scope, or NULL for anonymous */
static int auth_header(struct registry *r, struct http_host *h, const char *scope, bool refresh,
                       char **ret, struct kiln_err **err)
{
	*ret = NULL;
	pthread_mutex_lock(&h->mu);
	int rc = 0;
	bool bearer = false;
	if (!h->have_challenge) {
		/* anonymous */
	} else if (strcasecmp(h->challenge.scheme, "Basic") == 0) {
		rc = host_creds(h, err);
		if (rc >= 0 && h->creds.username) {
			cleanup_free char *up = xasprintf(
			    "%s:%s", h->creds.username, h->creds.password ? h->creds.password : "");
			cleanup_free char *b64 = auth_base64_encode(up, strlen(up));
			*ret = xasprintf("Authorization: Basic %s", b64);
			explicit_bzero(up, strlen(up));
			explicit_bzero(b64, strlen(b64));
		}
	} else if (strcasecmp(h->challenge.scheme, "Bearer") != 0) {
		rc = kiln_err_set(err, "registry '%s': unsupported authentication scheme '%s'",
		                  h->registry, h->challenge.scheme);
	} else {
		bearer = true;
	}
	pthread_mutex_unlock(&h->mu);
	if (rc < 0 || !bearer)
		return rc;
	pthread_mutex_lock(&r->mu);
	struct http_token *t = token_find(r, h->base, scope);
	if (t && !refresh && t->expires >= now_s())
		*ret = xstrdup(t->header);
	pthread_mutex_unlock(&r->mu);
	if (*ret)
		return 0;
	return fetch_token(r, h, scope, ret, err);
}

/* ---- transfers ---- */

void http_xfer_init(struct http_xfer *x, struct registry *r, struct http_host *h,
                    const char *method, char *url, const char *scope)
{
	*x = (struct http_xfer){.r = r,
	                        .h = h,
	                        .method = method,
	                        .url = url,
	                        .scope = scope,
	                        .body_fd = -1,
	                        .resp = KILN_BUF_INIT,
	                        .resp_max = LIMIT_ERROR_BODY};
}

void http_xfer_set_url(struct http_xfer *x, char *url)
{
	free(x->url);
	x->url = url;
	x->cross_origin = false;
	x->redirects = 0;
	x->attempt = 0;
	x->auth_retried = false;
}

static void xfer_reset_response(struct http_xfer *x)
{
	x->status = 0;
	kiln_buf_reset(&x->resp);
	x->resp_overflow = false;
	free(x->location);
	free(x->www_auth);
	free(x->content_type);
	free(x->docker_digest);
	x->location = x->www_auth = x->content_type = x->docker_digest = NULL;
	x->errbuf[0] = 0;
}

void http_xfer_release(struct http_xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	x->easy = NULL;
	xfer_reset_response(x);
	kiln_buf_release(&x->resp);
	x->bw = blob_writer_free(x->bw);
	x->prog = progress_end(x->prog, false);
	kiln_err_free(x->cb_err);
	x->cb_err = NULL;
	if (x->slist) {
		/* the list holds the Authorization line */
		for (struct curl_slist *s = x->slist; s; s = s->next)
			explicit_bzero(s->data, strlen(s->data));
		curl_slist_free_all(x->slist);
	}
	x->slist = NULL;
	free(x->url);
	x->url = NULL;
	strv_free(x->headers);
	x->headers = NULL;
}

static size_t xfer_write(char *p, size_t size, size_t n, void *ud)
{
	struct http_xfer *x = ud;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
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
	struct http_xfer *x = ud;
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
	}
	return len;
}

static size_t xfer_read(char *p, size_t size, size_t n, void *ud)
{
	struct http_xfer *x = ud;
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
	struct http_xfer *x = ud;
	if (origin != SEEK_SET || off < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	x->body_off = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static int xfer_prepare(struct http_xfer *x, struct kiln_err **err)
{
	struct registry *r = x->r;
	if (!x->easy) {
		x->easy = curl_easy_init();
		if (!x->easy)
			return kiln_err_set(err, "initialise libcurl handle");
	}
	CURL *e = x->easy;
	curl_easy_reset(e);
	common_opts(r, e);
	apply_tls(e, x->h);
	xfer_reset_response(x);
	kiln_err_free(x->cb_err);
	x->cb_err = NULL;
	if (x->slist) {
		for (struct curl_slist *s = x->slist; s; s = s->next)
			explicit_bzero(s->data, strlen(s->data));
		curl_slist_free_all(x->slist);
		x->slist = NULL;
	}
	x->bw = blob_writer_free(x->bw);
	if (x->bs && blob_writer_new(x->bs, &x->bw, err) < 0)
		return -1;

	curl_easy_setopt(e, CURLOPT_URL, x->url);
	http_apply_proxy(e, x->url);
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
		if (auth_header(r, x->h, x->scope, false, &auth, err) < 0) {
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
	REGISTRY_STAT_INC(r, requests);
	cleanup_free char *u = http_url_for_msg(x->url);
	log_trace("%s %s", x->method, u);
	return 0;
}

enum xfer_next {
	XFER_DONE,
	XFER_AGAIN,
	XFER_LATER,
};

/* after a transfer: decide between done (any status), again (auth, redirect) and later (retry) */
static int xfer_finish(struct http_xfer *x, CURLcode rc, struct kiln_err **err)
{
	struct registry *r = x->r;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, NULL);
	if (x->cb_err) {
		cleanup_free char *cu = http_url_for_msg(x->url);
		if (!err)
			return -1;
		kiln_err_free(*err);
		*err = TAKE_PTR(x->cb_err);
		return kiln_err_wrap(err, "%s %s", x->method, cu);
	}
	if (x->resp_overflow && x->status >= 200 && x->status < 300) {
		cleanup_free char *u = http_url_for_msg(x->url);
		return kiln_err_set(err, "%s %s: response larger than %zu bytes", x->method, u,
		                    x->resp_max);
	}
	bool retry = rc != CURLE_OK ? curl_retryable(rc) : status_retryable(x->status);
	if (retry && x->attempt < r->opts.retries) {
		double delay = (double)(1u << MIN(x->attempt, 6));
		x->attempt++;
		x->not_before = now_s() + delay;
		cleanup_free char *u = http_url_for_msg(x->url);
		log_debug("Retrying %s %s after %.0fs", x->method, u, delay);
		return XFER_LATER;
	}
	if (rc != CURLE_OK)
		return curl_err(x->method, x->url, rc, x->errbuf, err);
	cleanup_free char *u = http_url_for_msg(x->url);
	log_trace("%s %s: %ld", x->method, u, x->status);

	if (x->status == 401 && !x->cross_origin && !x->auth_retried && x->www_auth) {
		/* expired token, new scope or first contact: take the challenge and try once more */
		x->auth_retried = true;
		struct auth_challenge c = {};
		if (auth_challenge_parse(x->www_auth, &c, err) < 0)
			return kiln_err_wrap(err, "%s %s", x->method, u);
		bool bearer = strcasecmp(c.scheme, "Bearer") == 0;
		bool basic = strcasecmp(c.scheme, "Basic") == 0;
		pthread_mutex_lock(&x->h->mu);
		bool same =
		    x->h->have_challenge && strcasecmp(c.scheme, x->h->challenge.scheme) == 0;
		auth_challenge_release(&x->h->challenge);
		x->h->challenge = c;
		x->h->have_challenge = true;
		pthread_mutex_unlock(&x->h->mu);
		if (same && bearer && fetch_token(r, x->h, x->scope, NULL, err) < 0)
			return kiln_err_wrap(err, "%s %s", x->method, u);
		if (same && basic)
			return XFER_DONE; /* the credentials were sent and refused */
		return XFER_AGAIN;
	}
	if (x->follow && x->status >= 300 && x->status < 400 && x->status != 304) {
		char *target = NULL;
		curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &target);
		if (!target)
			return kiln_err_set(err, "%s %s: %ld redirect without a Location",
			                    x->method, u, x->status);
		if (++x->redirects > MAX_REDIRECTS)
			return kiln_err_set(err, "%s %s: too many redirects", x->method, u);
		if (!startswith(target, "https://") && !startswith(target, "http://"))
			return kiln_err_set(err, "%s %s: redirect to a non-http URL", x->method, u);
		bool same_origin = url_same_origin(target, x->h->base);
		free(x->url);
		x->url = xstrdup(target);
		/* Authorization never follows a redirect to another origin */
		x->cross_origin = x->cross_origin || !same_origin;
		return XFER_AGAIN;
	}
	return XFER_DONE;
}

enum {
	JOB_WAITING,
	JOB_READY,
	JOB_RUNNING,
	JOB_FINISHED,
};

int http_run(struct registry *r, struct http_job **jobs, size_t n, size_t max_inflight,
             struct kiln_err **err)
{
	size_t inflight = 0, finished = 0;
	int ret = 0;
	/* this call's multi handle, from the pool: other threads run theirs at the same time */
	CURLM *multi = multi_take(r);
	if (!multi)
		return kiln_err_set(err, "initialise libcurl handles");
	for (size_t i = 0; i < n; i++) {
		jobs[i]->phase = JOB_WAITING;
		jobs[i]->x.not_before = 0;
	}
	while (finished < n && ret >= 0) {
		double t = now_s(), next_wake = 0;
		for (size_t i = 0; i < n && inflight < max_inflight; i++) {
			struct http_job *j = jobs[i];
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
			struct http_xfer *x = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			CURLcode rc = m->data.result;
			curl_multi_remove_handle(multi, m->easy_handle);
			inflight--;
			struct http_job *j = (struct http_job *)x; /* x is the first member */
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
			double w = (next_wake - now_s()) * 1000;
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
	multi_give(r, multi);
	return ret;
}

static int step_once(struct http_job *j _unused_, struct kiln_err **err _unused_)
{
	return 0;
}

int http_request(struct http_xfer *x, struct kiln_err **err)
{
	/* the job embeds the transfer: run a copy and hand the results back */
	struct http_job job = {.x = *x, .step = step_once};
	struct http_job *jp = &job;
	int ret = http_run(x->r, &jp, 1, 1, err);
	*x = job.x;
	return ret;
}
