/* harness.h — self-registering unit tests with value-printing assertions and TAP output.
 *
 *   TEST(name) { ASSERT_EQ(1 + 1, 2); }
 *
 * An ASSERT_* that fails records the failure and returns from the test, so cleanup
 * variables still run. SKIP(fmt, ...) ends the test as skipped (TAP "# SKIP"), never as a
 * pass; REQUIRE_SHARED() skips a test that reads ../shared/conformance when it is missing (and
 * fails it when $CI is set). TEST_FILTER=<substring> runs only the matching tests. */
#pragma once

#include <stdbool.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
	struct test_case *next;
};

void test_register(struct test_case *tc);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* prints a TAP comment line ("# ...") */
void test_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* marks the running test skipped: TAP "ok N - name # SKIP <reason>" (see SKIP()) */
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* directory of the shared conformance data (../shared/conformance), from $KILN_SHARED or the
 * source tree; NULL when missing */
const char *test_shared_dir(void);
/* the test needs test_shared_dir() and it is missing: skipped, naming the directory; failed
 * when $CI is set (non-empty), where the conformance data must be there (see REQUIRE_SHARED) */
void test_shared_missing(const char *file, int line);
/* absolute path of the source tree */
const char *test_source_dir(void);
/* a new empty directory $KILN_TEST_TMPDIR/kiln-<name>-test.XXXXXX (default /tmp), heap path;
 * NULL (a message printed) when it cannot be made */
char *test_tmpdir(const char *name);
/* removes the tree at *d (when not NULL) and frees the path: the cleanup of cleanup_test_tmpdir */
void test_tmpdir_remove(char **d);
#define cleanup_test_tmpdir __attribute__((cleanup(test_tmpdir_remove)))

#define TEST(name)                                                          \
	static void test_##name(void);                                      \
	__attribute__((constructor)) static void test_register_##name(void) \
	{                                                                   \
		static struct test_case tc = {#name, test_##name, NULL};    \
		test_register(&tc);                                         \
	}                                                                   \
	static void test_##name(void)

#define SKIP(...)                       \
	do {                            \
		test_skip(__VA_ARGS__); \
		return;                 \
	} while (0)

#define REQUIRE_SHARED()                                         \
	do {                                                     \
		if (!test_shared_dir()) {                        \
			test_shared_missing(__FILE__, __LINE__); \
			return;                                  \
		}                                                \
	} while (0)

#define ASSERT_TRUE(c)                                                        \
	do {                                                                  \
		if (!(c)) {                                                   \
			test_fail(__FILE__, __LINE__, "ASSERT_TRUE(%s)", #c); \
			return;                                               \
		}                                                             \
	} while (0)

#define ASSERT_FALSE(c) ASSERT_TRUE(!(c))

#define ASSERT_EQ(a, b)                                                                          \
	do {                                                                                     \
		long long _a = (long long)(a), _b = (long long)(b);                              \
		if (_a != _b) {                                                                  \
			test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, _a, _b); \
			return;                                                                  \
		}                                                                                \
	} while (0)

#define ASSERT_STREQ(a, b)                                                                  \
	do {                                                                                \
		const char *_a = (a), *_b = (b);                                            \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                                    \
			test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, \
			          _a ? _a : "(null)", _b ? _b : "(null)");                  \
			return;                                                             \
		}                                                                           \
	} while (0)

/* expr returns int >= 0 on success; err is a struct kiln_err * whose message is printed */
#define ASSERT_OK(expr, err)                                                           \
	do {                                                                           \
		int _r = (expr);                                                       \
		if (_r < 0) {                                                          \
			test_fail(__FILE__, __LINE__, "%s failed (%d): %s", #expr, _r, \
			          (err) && (err)->msg ? (err)->msg : "");              \
			return;                                                        \
		}                                                                      \
	} while (0)

#define ASSERT_FAIL(expr)                                                                       \
	do {                                                                                    \
		int _r = (expr);                                                                \
		if (_r >= 0) {                                                                  \
			test_fail(__FILE__, __LINE__, "%s succeeded, expected failure", #expr); \
			return;                                                                 \
		}                                                                               \
	} while (0)
