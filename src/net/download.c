/* download.c — plain HTTP(S) downloads for ADD <url>, https:// contexts and --dockerfile URLs on
 * the transfer path of xfer.c: no registry auth, the URL's userinfo as Basic credentials to its
 * origin only, the body streamed to a file descriptor with its SHA-256, Last-Modified kept for
 * the mtime. Messages are worded here (the engine leaves curl and redirect failures to us). */
#include "download.h"
#include "net.h"

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

struct dl {
	int fd;
	uint64_t max; /* 0: no limit */
	bool too_big;
	struct sha256 hash;
	uint64_t size;
	int werr;
};

static int dl_sink(struct net_xfer *x, const char *p, size_t len)
{
	struct dl *d = x->sink_ud;
	if (d->max && d->size + len > d->max) {
		d->too_big = true;
		return -1;
	}
	if (write_all(d->fd, p, len) < 0) {
		d->werr = errno;
		return -1;
	}
	sha256_update(&d->hash, p, len);
	d->size += len;
	return 0;
}

/* the URL for messages: no userinfo, no query string (signed URLs carry secrets there) */
static char *url_for_msg(const char *url)
{
	cleanup_free char *noquery = net_url_for_msg(url);
	const char *sep = strstr(noquery, "://");
	const char *auth = sep ? sep + 3 : noquery;
	const char *at = memrchr(auth, '@', strcspn(auth, "/"));
	if (!at)
		return TAKE_PTR(noquery);
	return xasprintf("%.*s%s", (int)(auth - noquery), noquery, at + 1);
}

struct userinfo {
	char *user, *password; /* NULL when the URL has none */
	char *url;             /* the URL without them */
};

static void userinfo_release(struct userinfo *u)
{
	if (u->password)
		explicit_bzero(u->password, strlen(u->password));
	free(u->user);
	free(u->password);
	free(u->url);
}

/* takes "user:password@" out of url: curl would otherwise send it wherever a redirect leads */
static int split_userinfo(const char *url, struct userinfo *ret)
{
	CURLU *h = curl_url();
	if (!h)
		return -1;
	char *user = NULL, *pw = NULL, *clean = NULL;
	int r = -1;
	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	curl_url_get(h, CURLUPART_USER, &user, CURLU_URLDECODE);
	curl_url_get(h, CURLUPART_PASSWORD, &pw, CURLU_URLDECODE);
	if (curl_url_set(h, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
	    curl_url_set(h, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_URL, &clean, 0) != CURLUE_OK)
		goto out;
	ret->user = user ? xstrdup(user) : NULL;
	ret->password = pw ? xstrdup(pw) : NULL;
	ret->url = xstrdup(clean);
	r = 0;
out:
	if (pw)
		explicit_bzero(pw, strlen(pw));
	curl_free(user);
	curl_free(pw);
	curl_free(clean);
	curl_url_cleanup(h);
	return r;
}

int download_url(const char *url, int fd, const char *user_agent, const char *const *ca_files,
                 struct download_info *ret, struct kiln_err **err)
{
	return download_url_max(url, fd, 0, user_agent, ca_files, ret, err);
}

/* the outcome of a finished download as download_url's message */
static int dl_result(const struct net_xfer *x, const struct dl *d, const char *shown, uint64_t max,
                     struct kiln_err **err)
{
	if (x->fault == NET_FAULT_NOT_HTTP) {
		cleanup_free char *tshown = url_for_msg(x->fault_target);
		return kiln_err_set(err, "GET %s: redirect to '%s' is not http(s)", shown, tshown);
	}
	if (x->fault == NET_FAULT_TOO_MANY)
		return kiln_err_set(err, "GET %s: more than %d redirects", shown,
		                    NET_MAX_REDIRECTS);
	if (d->too_big)
		return kiln_err_set(err, "GET %s: larger than %llu bytes", shown,
		                    (unsigned long long)max);
	if (d->werr)
		return kiln_err_errnum(err, d->werr, "GET %s: write", shown);
	if (x->rc != CURLE_OK)
		return kiln_err_set(err, "GET %s: %s", shown,
		                    x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->rc));
	if (x->status >= 300)
		return kiln_err_http(err, (int)x->status, "GET %s: invalid response status %ld",
		                     shown, x->status);
	return 0;
}

static void client_releasep(struct net_client *c)
{
	net_client_release(c);
}

int download_url_max(const char *url, int fd, uint64_t max, const char *user_agent,
                     const char *const *ca_files, struct download_info *ret, struct kiln_err **err)
{
	cleanup_free char *shown = url_for_msg(url);
	_cleanup_(userinfo_release) struct userinfo ui = {};
	if (split_userinfo(url, &ui) < 0)
		return kiln_err_set(err, "GET %s: invalid URL", shown);
	/* the CAs the registry client trusts (curl's own default when nothing is extra) */
	_cleanup_(net_tls_release) struct net_tls tls = {};
	bool unused;
	if (net_tls_set_cas(&tls, ca_files, NULL, 0, &unused, err) < 0)
		return kiln_err_wrap(err, "GET %s", shown);
	_cleanup_(client_releasep) struct net_client nc = {};
	if (net_client_init(&nc, user_agent, 0, err) < 0)
		return kiln_err_wrap(err, "GET %s", shown);
	struct dl d = {.fd = fd, .max = max};
	sha256_init(&d.hash);
	_cleanup_(net_xfer_release) struct net_xfer x = {};
	net_xfer_init(&x, &nc, "GET", xstrdup(ui.url));
	x.tls = &tls;
	x.raw = true;
	x.follow = true;
	/* the URL's credentials go to its origin only (the engine's same-origin rule), as Go's
	 * client does */
	x.origin = ui.url;
	x.basic_user = ui.user;
	x.basic_password = ui.password;
	x.sink = dl_sink;
	x.sink_ud = &d;
	int r = net_request(&x, err);
	if (r >= 0)
		r = dl_result(&x, &d, shown, max, err);
	else
		kiln_err_wrap(err, "GET %s", shown);
	if (r < 0) {
		sha256_release(&d.hash);
		return r;
	}
	sha256_final_digest(&d.hash, ret->digest);
	ret->size = d.size;
	ret->last_modified = x.last_modified ? curl_getdate(x.last_modified, NULL) : 0;
	if (ret->last_modified < 0)
		ret->last_modified = 0;
	return 0;
}
