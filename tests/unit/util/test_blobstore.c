/* test_blobstore.c — blobs are committed atomically and only under their true digest. */
#include "harness.h"
#include "util/blobstore.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <stdlib.h>

TEST(blobstore_put_read_and_verify)
{
	cleanup_err struct kiln_err *err = NULL;
	char tmpl[] = "/tmp/kiln-test-bs-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	ASSERT_OK(blobstore_open(tmpl, &bs, &err), err);
	char d[DIGEST_STRING_LEN + 1];
	ASSERT_OK(blobstore_put(bs, "abc", 3, d, &err), err);
	ASSERT_TRUE(blobstore_has(bs, d, NULL));
	cleanup_free char *data = NULL;
	size_t len = 0;
	ASSERT_OK(blobstore_read(bs, d, 100, &data, &len, &err), err);
	ASSERT_EQ(len, 3);
	ASSERT_STREQ(data, "abc");

	/* a writer whose bytes do not match the expected digest stores nothing */
	struct blob_writer *w = NULL;
	ASSERT_OK(blob_writer_new(bs, &w, &err), err);
	ASSERT_OK(blob_writer_write(w, "abd", 3, &err), err);
	ASSERT_FAIL(blob_writer_commit(w, d, NULL, NULL, &err));
	blob_writer_free(w);
	ASSERT_TRUE(strstr(err->msg, "digest mismatch") != NULL);
	rm_rf(tmpl, NULL);
}
