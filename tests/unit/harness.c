/* harness.c — runs the registered TEST()s and prints TAP. */
#include "harness.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KILN_SOURCE_DIR
#error "KILN_SOURCE_DIR must be defined by the build"
#endif

static struct test_case *head, **tail = &head;
static bool current_failed, current_skipped;
static char skip_reason[512];

void test_register(struct test_case *tc)
{
	*tail = tc;
	tail = &tc->next;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	current_failed = true;
	printf("# %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

void test_skip(const char *fmt, ...)
{
	va_list ap;
	current_skipped = true;
	va_start(ap, fmt);
	vsnprintf(skip_reason, sizeof(skip_reason), fmt, ap);
	va_end(ap);
}

void test_note(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

const char *test_source_dir(void)
{
	return KILN_SOURCE_DIR;
}

static const char *shared_path(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("KILN_SHARED");
	if (env && *env)
		snprintf(path, sizeof(path), "%s/conformance", env);
	else
		snprintf(path, sizeof(path), "%s/../shared/conformance", KILN_SOURCE_DIR);
	return path;
}

const char *test_shared_dir(void)
{
	const char *path = shared_path();
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return NULL;
	return path;
}

void test_shared_missing(const char *file, int line)
{
	const char *ci = getenv("CI");
	if (ci && *ci)
		test_fail(file, line,
		          "the shared conformance data %s is missing (required: CI is set)",
		          shared_path());
	else
		test_skip("the shared conformance data %s is missing", shared_path());
}

int main(void)
{
	const char *filter = getenv("TEST_FILTER");
	int n = 0, failed = 0;
	for (struct test_case *tc = head; tc; tc = tc->next) {
		if (!filter || strstr(tc->name, filter))
			n++;
	}
	printf("1..%d\n", n);
	fflush(stdout);
	int i = 0;
	for (struct test_case *tc = head; tc; tc = tc->next) {
		if (filter && !strstr(tc->name, filter))
			continue;
		current_failed = current_skipped = false;
		tc->fn();
		i++;
		if (current_skipped && !current_failed)
			printf("ok %d - %s # SKIP %s\n", i, tc->name, skip_reason);
		else
			printf("%s %d - %s\n", current_failed ? "not ok" : "ok", i, tc->name);
		fflush(stdout);
		if (current_failed)
			failed++;
	}
	return failed ? 1 : 0;
}

char *test_tmpdir(const char *name)
{
	const char *base = getenv("KILN_TEST_TMPDIR");
	size_t n = strlen(base ? base : "/tmp") + strlen(name) + 32;
	char *d = malloc(n);
	if (!d)
		return NULL;
	snprintf(d, n, "%s/kiln-%s-test.XXXXXX", base ? base : "/tmp", name);
	if (!mkdtemp(d)) {
		fprintf(stderr, "# mkdtemp %s: %s\n", d, strerror(errno));
		free(d);
		return NULL;
	}
	return d;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

void test_tmpdir_remove(char **d)
{
	if (*d)
		nftw(*d, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(*d);
	*d = NULL;
}
