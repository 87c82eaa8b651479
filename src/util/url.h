/* url.h — the two decisions every HTTP client in kiln (registry, downloads, git) must make the
 * same way: which origin a URL belongs to (credentials go only to the origin they were given for)
 * and whether a URL goes through a proxy (Go's net/http rules, as kaniko has them). */
#pragma once

#include <stdbool.h>

/* "scheme://host:port" of an absolute URL, lowercased, the default port filled in (http 80,
 * https 443), userinfo, path, query and fragment dropped; NULL when url has no scheme or host */
char *url_origin(const char *url);
/* true only when both URLs parse and have the same scheme, host and port */
bool url_same_origin(const char *a, const char *b);

/* The proxy for url, as Go's http.ProxyFromEnvironment decides it: HTTPS_PROXY/https_proxy for
 * https URLs, HTTP_PROXY/http_proxy for http URLs (upper case first); never for localhost or a
 * loopback address (127.0.0.0/8, ::1); never when NO_PROXY/no_proxy matches: a comma list of
 * "*", IP addresses, CIDRs, "domain" (the domain and its subdomains), ".domain" or "*.domain"
 * (subdomains only), each optionally with ":port". A proxy without a scheme is http://. Returns
 * the proxy URL (heap) or NULL for a direct connection. */
char *url_proxy_for(const char *url);
/* the same with the variables given (NULL when unset), for tests */
char *url_proxy_decide(const char *url, const char *http_proxy, const char *https_proxy,
                       const char *no_proxy);
