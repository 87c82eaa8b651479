/* url.c — URL origins and proxy selection (see url.h); pure string work, no I/O. */
#include "url.h"

#include "macro.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct url_parts {
	char *scheme; /* lowercase */
	char *host;   /* lowercase, IPv6 without brackets */
	char *port;   /* digits, the scheme's default when absent */
};

static void url_parts_release(struct url_parts *p)
{
	free(p->scheme);
	free(p->host);
	free(p->port);
}

static char *lower(const char *s, size_t n)
{
	char *r = xstrndup(s, n);
	for (char *c = r; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return r;
}

static const char *default_port(const char *scheme)
{
	if (streq(scheme, "http"))
		return "80";
	if (streq(scheme, "https"))
		return "443";
	if (streq(scheme, "git"))
		return "9418";
	if (streq(scheme, "ssh"))
		return "22";
	return "";
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* host[:port] (IPv6 in brackets) of length n */
static int split_hostport(const char *s, size_t n, char **ret_host, char **ret_port)
{
	const char *end = s + n, *h = s, *hend, *port = NULL;
	if (n && s[0] == '[') {
		h = s + 1;
		hend = memchr(s, ']', n);
		if (!hend)
			return -1;
		if (hend + 1 < end) {
			if (hend[1] != ':')
				return -1;
			port = hend + 2;
		}
	} else {
		hend = memchr(s, ':', n);
		if (hend)
			port = hend + 1;
		else
			hend = end;
	}
	if (hend == h)
		return -1;
	if (port && (port == end || !all_digits(port, (size_t)(end - port))))
		return -1;
	*ret_host = lower(h, (size_t)(hend - h));
	*ret_port = port ? xstrndup(port, (size_t)(end - port)) : NULL;
	return 0;
}

static int url_split(const char *url, struct url_parts *ret)
{
	const char *sep = strstr(url, "://");
	if (!sep || sep == url)
		return -1;
	for (const char *c = url; c < sep; c++)
		if (!isalnum((unsigned char)*c) && !strchr("+-.", *c))
			return -1;
	const char *auth = sep + 3;
	size_t alen = strcspn(auth, "/?#");
	/* userinfo ends at the last '@' of the authority */
	const char *at = memrchr(auth, '@', alen);
	if (at) {
		alen -= (size_t)(at + 1 - auth);
		auth = at + 1;
	}
	struct url_parts p = {.scheme = lower(url, (size_t)(sep - url))};
	if (split_hostport(auth, alen, &p.host, &p.port) < 0) {
		url_parts_release(&p);
		return -1;
	}
	if (!p.port || !*p.port) {
		free(p.port);
		p.port = xstrdup(default_port(p.scheme));
	}
	/* "080" is port 80 */
	while (p.port[0] == '0' && p.port[1])
		memmove(p.port, p.port + 1, strlen(p.port));
	*ret = p;
	return 0;
}

char *url_origin(const char *url)
{
	struct url_parts p;
	if (!url || url_split(url, &p) < 0)
		return NULL;
	bool v6 = strchr(p.host, ':') != NULL;
	char *o =
	    xasprintf("%s://%s%s%s:%s", p.scheme, v6 ? "[" : "", p.host, v6 ? "]" : "", p.port);
	url_parts_release(&p);
	return o;
}

bool url_same_origin(const char *a, const char *b)
{
	cleanup_free char *oa = url_origin(a);
	cleanup_free char *ob = url_origin(b);
	return oa && ob && streq(oa, ob);
}

/* ---- proxies ---- */

struct ip {
	int family;
	uint8_t b[16];
};

static bool parse_ip(const char *s, struct ip *ret)
{
	if (inet_pton(AF_INET, s, ret->b) == 1) {
		ret->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, ret->b) == 1) {
		ret->family = AF_INET6;
		/* an IPv4-mapped address is the IPv4 address */
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(ret->b, mapped, 12) == 0) {
			memmove(ret->b, ret->b + 12, 4);
			ret->family = AF_INET;
		}
		return true;
	}
	return false;
}

static bool prefix_match(const struct ip *a, const struct ip *net, unsigned bits)
{
	if (a->family != net->family)
		return false;
	unsigned full = bits / 8, rest = bits % 8;
	if (memcmp(a->b, net->b, full) != 0)
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a->b[full] & mask) == (net->b[full] & mask);
}

static bool is_loopback(const char *host)
{
	if (streq(host, "localhost"))
		return true;
	struct ip ip;
	if (!parse_ip(host, &ip))
		return false;
	if (ip.family == AF_INET)
		return ip.b[0] == 127;
	static const uint8_t one[16] = {[15] = 1};
	return memcmp(ip.b, one, 16) == 0;
}

/* one NO_PROXY entry (trimmed, lowercase) against host and port */
static bool no_proxy_entry_matches(const char *e, const char *host, const char *port)
{
	if (streq(e, "*"))
		return true;
	struct ip hip;
	bool host_is_ip = parse_ip(host, &hip);
	const char *slash = strchr(e, '/');
	if (slash) {
		cleanup_free char *net = xstrndup(e, (size_t)(slash - e));
		struct ip nip;
		char *end = NULL;
		long bits = strtol(slash + 1, &end, 10);
		if (!parse_ip(net, &nip) || !end || *end || end == slash + 1 || bits < 0 ||
		    bits > (nip.family == AF_INET ? 32 : 128))
			return false;
		/* an IPv4 CIDR written in IPv6 form: parse_ip made it IPv4, bits counted from ::ffff */
		if (nip.family == AF_INET && strchr(net, ':'))
			bits = bits >= 96 ? bits - 96 : 0;
		return host_is_ip && prefix_match(&hip, &nip, (unsigned)bits);
	}
	cleanup_free char *ehost = NULL, *eport = NULL;
	if (split_hostport(e, strlen(e), &ehost, &eport) < 0) {
		/* a bare IPv6 address without brackets */
		struct ip eip;
		if (parse_ip(e, &eip) && host_is_ip)
			return eip.family == hip.family && memcmp(eip.b, hip.b, 16) == 0;
		return false;
	}
	if (eport && !streq(eport, port))
		return false;
	struct ip eip;
	if (parse_ip(ehost, &eip))
		return host_is_ip && eip.family == hip.family &&
		       memcmp(eip.b, hip.b, eip.family == AF_INET ? 4 : 16) == 0;
	const char *d = ehost;
	bool match_self = true;
	if (startswith(d, "*.")) {
		d++;
		match_self = false;
	} else if (d[0] == '.') {
		match_self = false;
	}
	if (d[0] == '.') {
		size_t hl = strlen(host), dl = strlen(d);
		return hl > dl && streq(host + hl - dl, d);
	}
	if (streq(host, d))
		return true;
	size_t hl = strlen(host), dl = strlen(d);
	return match_self && hl > dl && host[hl - dl - 1] == '.' && streq(host + hl - dl, d);
}

static bool no_proxy_matches(const char *no_proxy, const char *host, const char *port)
{
	const char *p = no_proxy;
	while (p && *p) {
		size_t n = strcspn(p, ",");
		const char *s = p, *e = p + n;
		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		if (e > s) {
			cleanup_free char *entry = lower(s, (size_t)(e - s));
			if (no_proxy_entry_matches(entry, host, port))
				return true;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

char *url_proxy_decide(const char *url, const char *http_proxy, const char *https_proxy,
                       const char *no_proxy)
{
	struct url_parts p;
	if (!url || url_split(url, &p) < 0)
		return NULL;
	const char *proxy = NULL;
	if (streq(p.scheme, "https"))
		proxy = https_proxy;
	else if (streq(p.scheme, "http"))
		proxy = http_proxy;
	char *ret = NULL;
	if (proxy && *proxy && !is_loopback(p.host) && !no_proxy_matches(no_proxy, p.host, p.port))
		ret = strstr(proxy, "://") ? xstrdup(proxy) : xasprintf("http://%s", proxy);
	url_parts_release(&p);
	return ret;
}

static const char *env_any(const char *upper, const char *lower_name)
{
	const char *v = getenv(upper);
	if (v && *v)
		return v;
	v = getenv(lower_name);
	return v && *v ? v : NULL;
}

char *url_proxy_for(const char *url)
{
	return url_proxy_decide(url, env_any("HTTP_PROXY", "http_proxy"),
	                        env_any("HTTPS_PROXY", "https_proxy"),
	                        env_any("NO_PROXY", "no_proxy"));
}
