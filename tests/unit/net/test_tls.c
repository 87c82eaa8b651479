/* test_tls.c — the CA bundle every client shares (net_ca_bundle): when one is made, the
 * registry's strict rules and git's lenient ones, SSL_CERT_FILE as Go reads it. */
#include "harness.h"
#include "net/net.h"

#include "util/fsutil.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#define PEM_A "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
#define PEM_B "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n"

struct fixture {
	char *dir, *a, *b, *missing;
};

static void fixture_release(struct fixture *f)
{
	if (f->dir)
		rm_rf(f->dir, NULL);
	free(f->dir);
	free(f->a);
	free(f->b);
	free(f->missing);
}

/* a.pem, b.pem and the path of a file that does not exist; no SSL_CERT_* in the environment */
static void fixture_init(struct fixture *f)
{
	char tmpl[] = "/tmp/kiln-net-XXXXXX";
	if (!mkdtemp(tmpl))
		abort();
	f->dir = xstrdup(tmpl);
	f->a = path_join(f->dir, "a.pem");
	f->b = path_join(f->dir, "b.pem");
	f->missing = path_join(f->dir, "missing.pem");
	if (write_file_atomic(f->a, PEM_A, strlen(PEM_A), 0644, NULL) < 0 ||
	    write_file_atomic(f->b, PEM_B, strlen(PEM_B), 0644, NULL) < 0)
		abort();
	unsetenv("SSL_CERT_FILE");
	unsetenv("SSL_CERT_DIR");
}

TEST(ca_bundle_nothing_extra_keeps_curls_default)
{
	_cleanup_(fixture_release) struct fixture f = {};
	fixture_init(&f);
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	ASSERT_EQ(net_ca_bundle(f.a, NULL, 0, &b, NULL), 0);
	ASSERT_EQ(b.len, 0);
	/* asked for: the default bundle */
	ASSERT_EQ(net_ca_bundle(f.a, NULL, NET_CA_ALWAYS, &b, NULL), 1);
	ASSERT_TRUE(strstr(b.ptr, "AAAA") != NULL);
}

TEST(ca_bundle_extra_files_after_the_default)
{
	_cleanup_(fixture_release) struct fixture f = {};
	fixture_init(&f);
	const char *files[] = {f.b, NULL};
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	ASSERT_EQ(net_ca_bundle(f.a, files, 0, &b, NULL), 1);
	const char *a = strstr(b.ptr, "AAAA"), *bb = strstr(b.ptr, "BBBB");
	ASSERT_TRUE(a && bb && a < bb);
}

TEST(ca_bundle_unreadable_file_strict_fails_lenient_skips)
{
	_cleanup_(fixture_release) struct fixture f = {};
	fixture_init(&f);
	const char *files[] = {f.missing, f.b, NULL};
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	cleanup_err struct kiln_err *e = NULL;
	ASSERT_TRUE(net_ca_bundle(f.a, files, 0, &b, &e) < 0);
	ASSERT_TRUE(strstr(kiln_err_msg(e), "read CA certificates") != NULL);
	kiln_buf_reset(&b);
	ASSERT_EQ(net_ca_bundle(f.a, files, NET_CA_LENIENT, &b, NULL), 1);
	ASSERT_TRUE(strstr(b.ptr, "AAAA") && strstr(b.ptr, "BBBB"));
}

TEST(ca_bundle_ssl_cert_file_replaces_the_default)
{
	_cleanup_(fixture_release) struct fixture f = {};
	fixture_init(&f);
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	setenv("SSL_CERT_FILE", f.b, 1);
	ASSERT_EQ(net_ca_bundle(f.a, NULL, 0, &b, NULL), 1);
	ASSERT_TRUE(strstr(b.ptr, "BBBB") && !strstr(b.ptr, "AAAA"));
	/* a missing one: skipped as Go does (no default either); git falls back to the default */
	setenv("SSL_CERT_FILE", f.missing, 1);
	kiln_buf_reset(&b);
	ASSERT_EQ(net_ca_bundle(f.a, NULL, 0, &b, NULL), 1);
	ASSERT_TRUE(!b.len || !strstr(b.ptr, "AAAA"));
	kiln_buf_reset(&b);
	ASSERT_EQ(net_ca_bundle(f.a, NULL, NET_CA_LENIENT, &b, NULL), 1);
	ASSERT_TRUE(strstr(b.ptr, "AAAA") != NULL);
	unsetenv("SSL_CERT_FILE");
}

TEST(tls_extra_ca_unreadable_is_flagged)
{
	_cleanup_(fixture_release) struct fixture f = {};
	fixture_init(&f);
	_cleanup_(net_tls_release) struct net_tls t = {};
	bool extra_failed = false;
	cleanup_err struct kiln_err *e = NULL;
	ASSERT_TRUE(net_tls_set_cas(&t, NULL, f.missing, 0, &extra_failed, &e) < 0);
	ASSERT_TRUE(extra_failed);
	ASSERT_EQ(net_tls_set_cas(&t, NULL, f.b, 0, &extra_failed, NULL), 0);
	ASSERT_FALSE(extra_failed);
	ASSERT_TRUE(t.ca_blob && memmem(t.ca_blob, t.ca_blob_len, "BBBB", 4));
}
