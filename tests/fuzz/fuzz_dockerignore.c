/* fuzz_dockerignore.c — libFuzzer target: dockerignore_parse on arbitrary bytes, then matching a
 * fixed set of paths, checked against rules that hold whatever the patterns are. */
#include "fuzz.h"

#include "context/dockerignore.h"
#include "util/macro.h"

#include <assert.h>
#include <string.h>

static const char *const paths[] = {
    ".git", "README.md", "x y/z", "[x]", "*", "\xc3\xa9/\xe6\x97\xa5", ".", "..", "src/main.c",
};

/* a directory and a path below it */
static const char *const pairs[][2] = {
    {"a", "a/b"},
    {"a/b", "a/b/c.go"},
    {"node_modules", "node_modules/x/y.js"},
    {"dir", "dir/keep/f"},
    {"a/b/c/d", "a/b/c/d/e/f/g/h"},
    {"\xc3\xa9", "\xc3\xa9/\xe6\x97\xa5"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(dockerignore_freep) struct dockerignore *di = NULL;
	if (dockerignore_parse(".dockerignore", (const char *)data, size, &di, &err) < 0) {
		assert(err && err->msg && strstr(err->msg, "'.dockerignore':") == err->msg);
		return 0;
	}
	assert(di && !err);
	bool exceptions = dockerignore_has_exceptions(di);
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		(void)dockerignore_match(di, paths[i]);
		bool below = dockerignore_may_include_below(di, paths[i]);
		assert(exceptions || !below);
	}
	for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
		bool dir_ex = dockerignore_match(di, pairs[i][0]);
		bool child_ex = dockerignore_match(di, pairs[i][1]);
		bool below = dockerignore_may_include_below(di, pairs[i][0]);
		assert(exceptions || !below);
		/* an excluded directory excludes what is under it, unless an exception brings it
		 * back, and a walk must have been told to look for that */
		if (dir_ex && !child_ex)
			assert(exceptions && below);
	}
	return 0;
}
