/* download.c — plain HTTP(S) downloads for ADD <url>: no registry auth, redirects followed,
 * the body streamed to a file descriptor with its SHA-256, Last-Modified kept for the mtime.
 * libcurl errors are translated here, as in http.c. */
#include "download.h"
#include "http.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>

struct dl {
	int fd;
	struct sha256 hash;
	uint64_t size;
	int werr;
	time_t last_modified;
};

static size_t dl_write(char *p, size_t size, size_t n, void *ud)
{
	struct dl *d = ud;
	size_t len = size * n;
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

/* the URL without its query string, for messages (signed URLs carry secrets there) */
static char *url_for_msg(const char *url)
{
	return xstrndup(url, strcspn(url, "?#"));
}

int download_url(const char *url, int fd, const char *user_agent, const char *const *ca_files,
                 struct download_info *ret, struct kiln_err **err)
{
	cleanup_free char *shown = url_for_msg(url);
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
	if (made) {
		struct curl_blob blob = {
		    .data = cas.ptr, .len = cas.len, .flags = CURL_BLOB_NOCOPY};
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
	}
	struct dl d = {.fd = fd};
	sha256_init(&d.hash);
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, dl_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, dl_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &d);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent ? user_agent : "kiln");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	CURLcode rc = curl_easy_perform(e);
	long status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	int r = 0;
	if (d.werr)
		r = kiln_err_errnum(err, d.werr, "GET %s: write", shown);
	else if (rc != CURLE_OK)
		r = kiln_err_set(err, "GET %s: %s", shown,
		                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else if (status >= 400)
		r = kiln_err_set(err, "GET %s: invalid response status %ld", shown, status);
	if (r < 0) {
		sha256_release(&d.hash);
		return r;
	}
	sha256_final_digest(&d.hash, ret->digest);
	ret->size = d.size;
	ret->last_modified = d.last_modified;
	return 0;
}
