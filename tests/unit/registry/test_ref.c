/* test_ref.c — image reference parsing against kaniko's (ggcr's lenient) rules. */
#include "harness.h"
#include "registry/ref.h"

#include <stdio.h>
#include <stdlib.h>

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct {
	const char *in, *registry, *repository, *tag, *digest, *string;
} good[] = {
    {"busybox", "index.docker.io", "library/busybox", "latest", NULL,
     "index.docker.io/library/busybox:latest"},
    {"busybox:1.36", "index.docker.io", "library/busybox", "1.36", NULL,
     "index.docker.io/library/busybox:1.36"},
    {"bob/image", "index.docker.io", "bob/image", "latest", NULL,
     "index.docker.io/bob/image:latest"},
    {"docker.io/busybox", "index.docker.io", "library/busybox", "latest", NULL,
     "index.docker.io/library/busybox:latest"},
    {"docker.io/bob/image:v1", "index.docker.io", "bob/image", "v1", NULL,
     "index.docker.io/bob/image:v1"},
    {"index.docker.io/library/alpine:3", "index.docker.io", "library/alpine", "3", NULL,
     "index.docker.io/library/alpine:3"},
    {"127.0.0.1:5000/x", "127.0.0.1:5000", "x", "latest", NULL, "127.0.0.1:5000/x:latest"},
    {"127.0.0.1:5000/x:y", "127.0.0.1:5000", "x", "y", NULL, "127.0.0.1:5000/x:y"},
    {"localhost/foo/bar", "localhost", "foo/bar", "latest", NULL, "localhost/foo/bar:latest"},
    {"localhost:5000/foo", "localhost:5000", "foo", "latest", NULL, "localhost:5000/foo:latest"},
    {"gcr.io/foo/bar", "gcr.io", "foo/bar", "latest", NULL, "gcr.io/foo/bar:latest"},
    {"registry.example.com/a/b/c:1.0-rc_1", "registry.example.com", "a/b/c", "1.0-rc_1", NULL,
     "registry.example.com/a/b/c:1.0-rc_1"},
    {"busybox@" D64, "index.docker.io", "library/busybox", NULL, D64,
     "index.docker.io/library/busybox@" D64},
    {"127.0.0.1:5000/x:y@" D64, "127.0.0.1:5000", "x", "y", D64, "127.0.0.1:5000/x@" D64},
    {"my_repo/a__b/c-d.e", "index.docker.io", "my_repo/a__b/c-d.e", "latest", NULL,
     "index.docker.io/my_repo/a__b/c-d.e:latest"},
    /* not a registry (no '.', ':' or localhost): a Docker Hub namespace */
    {"foo/bar:baz", "index.docker.io", "foo/bar", "baz", NULL, "index.docker.io/foo/bar:baz"},
};

static const char *const bad[] = {
    "",
    "Busybox",
    "busybox:",
    "busybox:-x",
    "busybox:has space",
    "busybox@sha256:abc",
    "busybox@md5:0123456789abcdef0123456789abcdef",
    "127.0.0.1:5000/",
    "127.0.0.1:5000/x//y",
    "127.0.0.1:5000/-x",
    "reg.example.com/UPPER",
    "reg.example.com/x:tag:other",
    "a/b/",
    "bad_host!.com/x",
};

TEST(ref_parse_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		cleanup_err struct kiln_err *err = NULL;
		_cleanup_(image_ref_freep) struct image_ref *r = NULL;
		test_note("%s", good[i].in);
		ASSERT_OK(image_ref_parse(good[i].in, &r, &err), err);
		ASSERT_STREQ(r->registry, good[i].registry);
		ASSERT_STREQ(r->repository, good[i].repository);
		if (good[i].tag)
			ASSERT_STREQ(r->tag, good[i].tag);
		else
			ASSERT_TRUE(r->tag == NULL);
		if (good[i].digest)
			ASSERT_STREQ(r->digest, good[i].digest);
		else
			ASSERT_TRUE(r->digest == NULL);
		cleanup_free char *s = image_ref_string(r);
		ASSERT_STREQ(s, good[i].string);
		cleanup_free char *n = image_ref_name(r);
		cleanup_free char *want = NULL;
		if (asprintf(&want, "%s/%s", good[i].registry, good[i].repository) < 0)
			abort();
		ASSERT_STREQ(n, want);
	}
}

TEST(ref_parse_errors_name_the_reference)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cleanup_err struct kiln_err *err = NULL;
		struct image_ref *r = NULL;
		int ret = image_ref_parse(bad[i], &r, &err);
		if (ret >= 0) {
			image_ref_free(r);
			test_fail(__FILE__, __LINE__, "'%s' parsed, expected an error", bad[i]);
			return;
		}
		ASSERT_TRUE(err && err->msg);
		char *quoted = NULL;
		if (asprintf(&quoted, "'%s'", bad[i]) < 0)
			abort();
		bool named = strstr(err->msg, quoted) != NULL;
		free(quoted);
		test_note("%s", err->msg);
		ASSERT_TRUE(named);
	}
}

TEST(ref_dup_is_deep)
{
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(image_ref_freep) struct image_ref *r = NULL;
	ASSERT_OK(image_ref_parse("127.0.0.1:5000/a/b:c", &r, &err), err);
	_cleanup_(image_ref_freep) struct image_ref *d = image_ref_dup(r);
	ASSERT_TRUE(d->repository != r->repository);
	cleanup_free char *s = image_ref_string(d);
	ASSERT_STREQ(s, "127.0.0.1:5000/a/b:c");
}
