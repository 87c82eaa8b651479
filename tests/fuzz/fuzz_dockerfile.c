/* fuzz_dockerfile.c — libFuzzer target: dockerfile_parse then dockerfile_dump on arbitrary bytes. */
#include "fuzz.h"

#include "dockerfile/dockerfile.h"
#include "util/buf.h"

#include <assert.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_dockerfile struct dockerfile *df = NULL;
	if (dockerfile_parse("Dockerfile", (const char *)data, size, &df, &err) < 0) {
		/* a failure always explains itself */
		assert(err && err->msg && err->msg[0]);
		return 0;
	}
	assert(df && !err);
	cleanup_buf struct kiln_buf out = KILN_BUF_INIT;
	dockerfile_dump(df, &out);
	/* one line per instruction, each ending in LF */
	assert(out.len == 0 || out.ptr[out.len - 1] == '\n');
	return 0;
}
