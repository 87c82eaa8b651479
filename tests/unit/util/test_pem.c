/* test_pem.c — SSL_CERT_DIR-style directories into one PEM bundle. */
#include "harness.h"
#include "util/fsutil.h"
#include "util/pem.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define CERT "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

static int put(const char *dir, const char *name, const char *content)
{
	cleanup_free char *p = path_join(dir, name);
	return write_file_atomic(p, content, strlen(content), 0644, NULL);
}

TEST(pem_dirs_collect_certificates_only)
{
	char top[] = "/tmp/kiln-pem-test.XXXXXX";
	ASSERT_TRUE(mkdtemp(top) != NULL);
	cleanup_free char *a = path_join(top, "a");
	cleanup_free char *b = path_join(top, "b");
	ASSERT_EQ(mkdir(a, 0755), 0);
	ASSERT_EQ(mkdir(b, 0755), 0);
	ASSERT_EQ(put(a, "one.pem", CERT), 0);
	ASSERT_EQ(put(a, "notes.txt", "not a certificate\n"), 0);
	ASSERT_EQ(put(a, ".hidden.pem", CERT), 0);
	ASSERT_EQ(put(b, "two.crt", CERT), 0);
	cleanup_free char *sub = path_join(b, "subdir");
	ASSERT_EQ(mkdir(sub, 0755), 0);
	cleanup_free char *dirs = xasprintf("%s:%s/missing:%s", a, top, b);
	cleanup_buf struct kiln_buf bundle = KILN_BUF_INIT;
	pem_add_dirs(&bundle, dirs);
	rm_rf(top, NULL);
	/* one.pem and two.crt, each followed by a newline; no dot file, no text, no directory */
	ASSERT_STREQ(bundle.ptr, CERT "\n" CERT "\n");
}

/* /etc/ssl/certs names each certificate twice (NAME.pem and its hash link HASH.0): read once */
TEST(pem_dirs_read_each_file_once)
{
	char top[] = "/tmp/kiln-pem-test.XXXXXX";
	ASSERT_TRUE(mkdtemp(top) != NULL);
	ASSERT_EQ(put(top, "one.pem", CERT), 0);
	cleanup_free char *link = path_join(top, "5f618aec.0");
	ASSERT_EQ(symlink("one.pem", link), 0);
	cleanup_free char *again = xasprintf("%s:%s", top, top);
	cleanup_buf struct kiln_buf bundle = KILN_BUF_INIT;
	pem_add_dirs(&bundle, again);
	rm_rf(top, NULL);
	ASSERT_STREQ(bundle.ptr, CERT "\n");
}
