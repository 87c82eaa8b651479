/* fuzz_challenge.c — libFuzzer target: auth_challenge_parse on a WWW-Authenticate value. */
#include "fuzz.h"

#include "auth/auth.h"
#include "util/xalloc.h"

#include <assert.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a header value is a C string by the time it reaches the parser */
	cleanup_free char *s = xstrndup((const char *)data, size);
	cleanup_err struct kiln_err *err = NULL;
	cleanup_challenge struct auth_challenge c = {};
	if (auth_challenge_parse(s, &c, &err) < 0) {
		assert(err && err->msg && err->msg[0]);
		assert(!c.scheme);
		return 0;
	}
	assert(!err && c.scheme && c.scheme[0]);
	return 0;
}
