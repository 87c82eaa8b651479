/* download.c — plain HTTP(S) downloads for ADD <url>, https:// contexts and --dockerfile URLs:
 * no registry auth, redirects followed by hand (userinfo credentials only to their origin),
 * the proxy and stall detection of the registry client, the body streamed to a file descriptor with its SHA-256, Last-Modified kept for the mtime.
 * libcurl errors are translated here, as in http.c. */
#include "download.h"
#include "http.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/url.h"
#include "util/xalloc.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>

struct dl {
	CURL *e;
	int fd;
	uint64_t max; /* 0: no limit */
	bool too_big;
	struct sha256 hash;
	uint64_t size;
	int werr;
	time_t last_modified;
};

static size_t dl_write(char *p, size_t size, size_t n, void *ud)
{
	struct dl *d = ud;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(d->e, CURLINFO_RESPONSE_CODE, &status);
	/* the body of a redirect is not the file */
	if (status >= 300 && status < 400)
		return len;
	if (d->max && d->size + len > d->max) {
		d->too_big = true;
		return 0;
	}
	if (write_all(d->fd, p, len) < 0) {
		d->werr = errno;
		return 0;
	}
	sha256_update(&d->hash, p, len);
	d->size += len;
	return len;
}

static size_t dl_header(char *p, size_t size, size_t n, void *ud)
{
	struct dl *d = ud;
	size_t len = size * n;
	static const char lm[] = "last-modified:";
	if (len > sizeof(lm) && strncasecmp(p, lm, sizeof(lm) - 1) == 0) {
		cleanup_free char *v = xstrndup(p + sizeof(lm) - 1, len - (sizeof(lm) - 1));
		time_t t = curl_getdate(v, NULL);
		if (t > 0)
			d->last_modified = t;
	}
	return len;
}

/* the URL for messages: no userinfo, no query string (signed URLs carry secrets there) */
static char *url_for_msg(const char *url)
{
	cleanup_free char *noquery = xstrndup(url, strcspn(url, "?#"));
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

#define MAX_REDIRECTS 10

int download_url(const char *url, int fd, const char *user_agent, const char *const *ca_files,
                 struct download_info *ret, struct kiln_err **err)
{
	return download_url_max(url, fd, 0, user_agent, ca_files, ret, err);
}

int download_url_max(const char *url, int fd, uint64_t max, const char *user_agent,
                     const char *const *ca_files, struct download_info *ret, struct kiln_err **err)
{
	cleanup_free char *shown = url_for_msg(url);
	_cleanup_(userinfo_release) struct userinfo ui = {};
	if (split_userinfo(url, &ui) < 0)
		return kiln_err_set(err, "GET %s: invalid URL", shown);
	CURL *e = curl_easy_init();
	if (!e)
		return kiln_err_set(err, "GET %s: cannot create a transfer", shown);
	/* the CAs the registry client trusts (curl's own default when nothing is extra) */
	cleanup_buf struct kiln_buf cas = KILN_BUF_INIT;
	char *def = NULL;
	if (curl_easy_getinfo(e, CURLINFO_CAINFO, &def) != CURLE_OK)
		def = NULL;
	int made = http_ca_bundle(def, ca_files, false, &cas, err);
	if (made < 0) {
		curl_easy_cleanup(e);
		return kiln_err_wrap(err, "GET %s", shown);
	}
	struct dl d = {.e = e, .fd = fd, .max = max};
	sha256_init(&d.hash);
	char errbuf[CURL_ERROR_SIZE] = "";
	cleanup_free char *cur = xstrdup(ui.url);
	long status = 0;
	CURLcode rc = CURLE_OK;
	int r = 0;
	/* redirects are followed here, not by curl: the URL's credentials go to its origin only
	 * (url_same_origin), as Go's client does */
	for (int redirects = 0;; redirects++) {
		curl_easy_reset(e);
		if (made) {
			struct curl_blob blob = {
			    .data = cas.ptr, .len = cas.len, .flags = CURL_BLOB_NOCOPY};
			curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
		}
		curl_easy_setopt(e, CURLOPT_URL, cur);
		http_apply_proxy(e, cur);
		http_stall_opts(e);
		curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, dl_write);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, &d);
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, dl_header);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, &d);
		curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent ? user_agent : "kiln");
		if ((ui.user || ui.password) && url_same_origin(cur, ui.url)) {
			curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(e, CURLOPT_USERNAME, ui.user ? ui.user : "");
			curl_easy_setopt(e, CURLOPT_PASSWORD, ui.password ? ui.password : "");
		}
		rc = curl_easy_perform(e);
		status = 0;
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		char *target = NULL;
		if (rc != CURLE_OK || d.werr || status < 300 || status >= 400 || status == 304 ||
		    curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &target) != CURLE_OK || !target)
			break;
		cleanup_free char *tshown = url_for_msg(target);
		if (!startswith(target, "https://") && !startswith(target, "http://")) {
			r = kiln_err_set(err, "GET %s: redirect to '%s' is not http(s)", shown,
			                 tshown);
			break;
		}
		if (redirects + 1 > MAX_REDIRECTS) {
			r = kiln_err_set(err, "GET %s: more than %d redirects", shown,
			                 MAX_REDIRECTS);
			break;
		}
		char *next = xstrdup(target);
		free(cur);
		cur = next;
	}
	curl_easy_cleanup(e);
	if (r >= 0 && d.too_big)
		r = kiln_err_set(err, "GET %s: larger than %llu bytes", shown,
		                 (unsigned long long)max);
	else if (r >= 0 && d.werr)
		r = kiln_err_errnum(err, d.werr, "GET %s: write", shown);
	else if (r >= 0 && rc != CURLE_OK)
		r = kiln_err_set(err, "GET %s: %s", shown,
		                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else if (r >= 0 && status >= 300)
		r = kiln_err_http(err, (int)status, "GET %s: invalid response status %ld", shown,
		                  status);
	if (r < 0) {
		sha256_release(&d.hash);
		return r;
	}
	sha256_final_digest(&d.hash, ret->digest);
	ret->size = d.size;
	ret->last_modified = d.last_modified;
	return 0;
}
