/* replay.c — runs a fuzz target's LLVMFuzzerTestOneInput over every file of a corpus directory,
 * so corpora are ordinary tests with any compiler. Usage: replay <name> <dir>; prints TAP. */
#include "fuzz.h"

#include "util/err.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s <name> <corpus-dir>\n", argv[0]);
		return 2;
	}
	const char *name = argv[1], *dir = argv[2];
	printf("1..1\n");
	fflush(stdout);

	DIR *d = opendir(dir);
	if (!d) {
		printf("not ok 1 - corpus %s: cannot open '%s'\n", name, dir);
		return 1;
	}
	char **files = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		XGROW(files, n + 1, cap);
		files[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(files, n, sizeof(*files), cmp);

	int rc = 0;
	size_t done = 0;
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *path = path_join(dir, files[i]);
		cleanup_err struct kiln_err *err = NULL;
		cleanup_free char *data = NULL;
		size_t len = 0;
		if (read_file_at(AT_FDCWD, path, 16u << 20, &data, &len, &err) < 0) {
			printf("# %s\n", kiln_err_msg(err));
			rc = 1;
			continue;
		}
		/* a crash or a failed assertion here stops the run, and the test fails */
		printf("# %s\n", files[i]);
		fflush(stdout);
		LLVMFuzzerTestOneInput((const uint8_t *)data, len);
		done++;
	}
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	if (done == 0)
		rc = 1;
	printf("%s 1 - corpus %s: %zu inputs\n", rc ? "not ok" : "ok", name, done);
	return rc;
}
