/* download.h — plain HTTP(S) downloads (ADD <url>, https:// contexts, --dockerfile URLs),
 * outside the registry protocol, on the transfer path of net.h. */
#pragma once

#include "util/err.h"
#include "util/sha256.h"

#include <stdint.h>
#include <time.h>

struct download_info {
	char digest[DIGEST_STRING_LEN + 1]; /* sha256 of the body */
	uint64_t size;
	time_t last_modified; /* 0 when the server sent none */
};

/* GETs url (http or https) into fd. Redirects are followed (at most 10); "user:password@" in
 * url is sent as Basic auth to url's origin only, never after a redirect to another origin.
 * Proxies as url_proxy_for() decides; stall detection as net_stall_opts() (a server that does
 * not answer or trickles fails in bounded time). A final status >= 300 is an error naming the
 * URL without its userinfo and query. TLS trusts what the registry
 * client trusts (net_ca_bundle): the system bundle or SSL_CERT_FILE, SSL_CERT_DIR, and ca_files
 * (e.g. $KANIKO_DIR/ssl/certs/ca-certificates.crt; NULL for none). */
int download_url(const char *url, int fd, const char *user_agent, const char *const *ca_files,
                 struct download_info *ret, struct kiln_err **err);
/* the same, failing when the body exceeds max bytes (0: no limit) */
int download_url_max(const char *url, int fd, uint64_t max, const char *user_agent,
                     const char *const *ca_files, struct download_info *ret, struct kiln_err **err);
