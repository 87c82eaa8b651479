/* test_strv.c — strv and env helpers. */
#include "harness.h"
#include "util/strv.h"
#include "util/xalloc.h"

TEST(strv_env_set_replaces_in_place)
{
	cleanup_strv char **v = NULL;
	strv_push(&v, xstrdup("A=1"));
	strv_push(&v, xstrdup("B=2"));
	strv_env_set(&v, "A", "3");
	strv_env_set(&v, "C", "4");
	ASSERT_EQ(strv_length(v), 3);
	ASSERT_STREQ(v[0], "A=3");
	ASSERT_STREQ(v[2], "C=4");
	ASSERT_STREQ(strv_env_get(v, "B"), "2");
	ASSERT_TRUE(strv_env_get(v, "AB") == NULL);
}

#include "util/fsutil.h"

TEST(path_clean_like_go)
{
	static const char *const cases[][2] = {
	    {"/a/b/../c", "/a/c"}, {"/../x", "/x"},      {"a/./b/", "a/b"}, {"", "."},
	    {"//a//b", "/a/b"},    {"../a", "../a"},     {"a/../..", ".."}, {"/", "/"},
	    {"./", "."},           {"a/b/../../c", "c"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *c = path_clean(cases[i][0]);
		ASSERT_STREQ(c, cases[i][1]);
	}
}
