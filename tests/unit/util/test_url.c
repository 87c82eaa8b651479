/* test_url.c — origins (who may receive credentials) and proxy selection (Go's rules). */
#include "harness.h"
#include "util/url.h"
#include "util/xalloc.h"

#include <stdlib.h>

static bool origin_is(const char *url, const char *want)
{
	cleanup_free char *o = url_origin(url);
	if (!want)
		return o == NULL;
	return o && streq(o, want);
}

TEST(url_origin_normalises)
{
	ASSERT_TRUE(origin_is("https://Reg.Example:443/v2/", "https://reg.example:443"));
	ASSERT_TRUE(origin_is("HTTPS://reg.example/x?y#z", "https://reg.example:443"));
	ASSERT_TRUE(origin_is("http://u:p@127.0.0.1:5000", "http://127.0.0.1:5000"));
	ASSERT_TRUE(origin_is("http://a@b@host:0080/x", "http://host:80"));
	ASSERT_TRUE(origin_is("https://[::1]:5000/v2", "https://[::1]:5000"));
	ASSERT_TRUE(origin_is("https://[::1]/v2", "https://[::1]:443"));
	ASSERT_TRUE(origin_is("/relative/path", NULL));
	ASSERT_TRUE(origin_is("https:///nohost", NULL));
	ASSERT_TRUE(origin_is("https://host:port/", NULL));
	ASSERT_TRUE(origin_is("https://[::1/", NULL));
}

TEST(url_same_origin_needs_scheme_host_and_port)
{
	ASSERT_TRUE(url_same_origin("https://h/a", "https://h:443/b?c"));
	ASSERT_TRUE(url_same_origin("http://h:5000/a", "http://user:pw@H:5000/"));
	ASSERT_FALSE(url_same_origin("http://h:5000/a", "http://h:5001/a"));
	ASSERT_FALSE(url_same_origin("http://h/a", "https://h/a"));
	ASSERT_FALSE(url_same_origin("https://h/a", "https://h.evil/a"));
	/* userinfo that looks like the host does not make the same origin */
	ASSERT_FALSE(url_same_origin("https://h/a", "https://h@evil/a"));
	ASSERT_FALSE(url_same_origin("https://h/a", "https://h:443@evil/a"));
	ASSERT_FALSE(url_same_origin("https://h/a", "/a"));
	ASSERT_FALSE(url_same_origin(NULL, "https://h/"));
}

static bool proxied(const char *url, const char *no_proxy)
{
	cleanup_free char *p = url_proxy_decide(url, "http://hp:3128", "hsp:3129", no_proxy);
	return p != NULL;
}

TEST(url_proxy_scheme_and_loopback)
{
	cleanup_free char *a =
	    url_proxy_decide("http://reg.example/v2/", "http://hp:3128", "hsp:3129", NULL);
	ASSERT_STREQ(a, "http://hp:3128");
	cleanup_free char *b =
	    url_proxy_decide("https://reg.example/v2/", "http://hp:3128", "hsp:3129", NULL);
	ASSERT_STREQ(b, "http://hsp:3129");
	cleanup_free char *c =
	    url_proxy_decide("https://reg.example/v2/", "http://hp:3128", NULL, NULL);
	ASSERT_TRUE(c == NULL);
	/* Go never proxies loopback */
	ASSERT_FALSE(proxied("http://127.0.0.1:5000/v2/", NULL));
	ASSERT_FALSE(proxied("http://127.3.2.1/", NULL));
	ASSERT_FALSE(proxied("http://localhost:5000/v2/", NULL));
	ASSERT_FALSE(proxied("http://LOCALHOST/", NULL));
	ASSERT_FALSE(proxied("https://[::1]:5000/v2/", NULL));
	ASSERT_FALSE(proxied("https://[::ffff:127.0.0.1]/", NULL));
	ASSERT_TRUE(proxied("http://128.0.0.1/", NULL));
	ASSERT_TRUE(proxied("http://localhost.example/", NULL));
	ASSERT_TRUE(proxied("http://10.0.0.1/", ""));
}

TEST(url_no_proxy_as_go)
{
	ASSERT_FALSE(proxied("https://anything.example/", "*"));
	ASSERT_FALSE(proxied("https://anything.example/", " foo.com , * "));
	/* "domain" is the domain and its subdomains */
	ASSERT_FALSE(proxied("https://example.com/", "example.com"));
	ASSERT_FALSE(proxied("https://a.b.example.com/", "example.com"));
	ASSERT_TRUE(proxied("https://notexample.com/", "example.com"));
	/* ".domain" and "*.domain" are subdomains only */
	ASSERT_TRUE(proxied("https://example.com/", ".example.com"));
	ASSERT_FALSE(proxied("https://x.example.com/", ".example.com"));
	ASSERT_TRUE(proxied("https://example.com/", "*.example.com"));
	ASSERT_FALSE(proxied("https://x.example.com/", "*.Example.COM"));
	/* host:port matches that port only (the scheme's default port counts) */
	ASSERT_FALSE(proxied("http://reg.example:5000/", "reg.example:5000"));
	ASSERT_TRUE(proxied("http://reg.example:5001/", "reg.example:5000"));
	ASSERT_FALSE(proxied("https://reg.example/", "reg.example:443"));
	/* IP addresses and CIDRs */
	ASSERT_FALSE(proxied("http://10.1.2.3/", "10.1.2.3"));
	ASSERT_TRUE(proxied("http://10.1.2.4/", "10.1.2.3"));
	ASSERT_FALSE(proxied("http://10.1.2.4:8080/", "10.0.0.0/8"));
	ASSERT_TRUE(proxied("http://11.1.2.4/", "10.0.0.0/8"));
	ASSERT_FALSE(proxied("http://192.168.7.9/", "192.168.4.0/22"));
	ASSERT_TRUE(proxied("http://192.168.8.1/", "192.168.4.0/22"));
	ASSERT_FALSE(proxied("http://[fd00::5]/", "fd00::/8"));
	ASSERT_TRUE(proxied("http://[fe00::5]/", "fd00::/8"));
	ASSERT_FALSE(proxied("http://[fd00::5]/", "fd00::5"));
	ASSERT_FALSE(proxied("http://[fd00::5]:81/", "[fd00::5]:81"));
	/* a name never matches a CIDR, garbage matches nothing */
	ASSERT_TRUE(proxied("http://ten.example/", "10.0.0.0/8"));
	ASSERT_TRUE(proxied("http://10.0.0.1/", "10.0.0.0/x,::/999,[zz"));
}
