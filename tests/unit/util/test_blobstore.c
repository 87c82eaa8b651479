/* test_blobstore.c — blobs are committed atomically and only under their true digest. */
#include "harness.h"
#include "util/blobstore.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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

/* the least recently used blobs go first; nothing goes while another store handle is open */
TEST(blobstore_trim_lru_and_lock)
{
	cleanup_err struct kiln_err *err = NULL;
	char tmpl[] = "/tmp/kiln-test-bs-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	ASSERT_OK(blobstore_open(tmpl, &bs, &err), err);
	char d[3][DIGEST_STRING_LEN + 1];
	static const char *const data[] = {"first blob, 25 bytes long", "second blob, 26 bytes lon",
	                                   "third blob, 25 bytes long"};
	for (int i = 0; i < 3; i++)
		ASSERT_OK(blobstore_put(bs, data[i], strlen(data[i]), d[i], &err), err);
	/* ages: 0 used 300 s ago, 1 600 s ago, 2 900 s ago; then 2 is read (used now) */
	for (int i = 0; i < 3; i++) {
		cleanup_free char *p = blobstore_path(bs, d[i]);
		struct timespec ts[2] = {{time(NULL) - 300 * (i + 1), 0},
		                         {time(NULL) - 300 * (i + 1), 0}};
		ASSERT_EQ(utimensat(AT_FDCWD, p, ts, 0), 0);
	}
	cleanup_free char *body = NULL;
	size_t len = 0;
	ASSERT_OK(blobstore_read(bs, d[2], 100, &body, &len, &err), err);

	/* another process (here: another handle, its own flock) has the store open */
	struct blobstore *other = NULL;
	ASSERT_OK(blobstore_open(tmpl, &other, &err), err);
	struct blobstore_trim_stats st;
	ASSERT_OK(blobstore_trim(bs, 0, &st, &err), err);
	ASSERT_TRUE(st.skipped);
	for (int i = 0; i < 3; i++)
		ASSERT_TRUE(blobstore_has(bs, d[i], NULL));
	blobstore_free(other);

	/* 76 bytes, limit 60: the least recently used (1) goes, then 0 */
	ASSERT_OK(blobstore_trim(bs, 60, &st, &err), err);
	ASSERT_FALSE(st.skipped);
	ASSERT_EQ(st.removed, 1);
	ASSERT_FALSE(blobstore_has(bs, d[1], NULL));
	ASSERT_TRUE(blobstore_has(bs, d[0], NULL) && blobstore_has(bs, d[2], NULL));
	ASSERT_OK(blobstore_trim(bs, 30, &st, &err), err);
	ASSERT_FALSE(blobstore_has(bs, d[0], NULL));
	ASSERT_TRUE(blobstore_has(bs, d[2], NULL));
	ASSERT_EQ(st.kept, 25);
	/* a crashed writer's temporary file goes too; 0 empties the store */
	struct blob_writer *w = NULL;
	ASSERT_OK(blob_writer_new(bs, &w, &err), err);
	ASSERT_OK(blobstore_trim(bs, 0, &st, &err), err);
	ASSERT_EQ(st.removed, 2);
	ASSERT_EQ(st.kept_n, 0);
	blob_writer_free(w);
	rm_rf(tmpl, NULL);
}
