/* fuzz_ref.c — libFuzzer target: image_ref_parse, and a parsed reference prints as a reference
 * that parses to the same thing. */
#include "fuzz.h"

#include "registry/ref.h"
#include "util/macro.h"
#include "util/xalloc.h"

#include <assert.h>
#include <string.h>

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cleanup_free char *s = xstrndup((const char *)data, size);
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(image_ref_freep) struct image_ref *r = NULL;
	if (image_ref_parse(s, &r, &err) < 0) {
		assert(err && err->msg && err->msg[0]);
		return 0;
	}
	assert(r && !err && r->registry && r->registry[0] && r->repository && r->repository[0]);
	assert(r->tag || r->digest);
	_cleanup_(image_ref_freep) struct image_ref *d = image_ref_dup(r);
	cleanup_free char *name = image_ref_name(d);
	assert(name && name[0]);
	cleanup_free char *str = image_ref_string(d);
	/* the canonical string of a parsed reference is itself a reference to the same image */
	_cleanup_(image_ref_freep) struct image_ref *again = NULL;
	cleanup_err struct kiln_err *err2 = NULL;
	if (image_ref_parse(str, &again, &err2) < 0) {
		fprintf(stderr, "'%s' -> '%s': %s\n", s, str, kiln_err_msg(err2));
		assert(!"a printed reference does not parse");
	}
	assert(same(again->registry, r->registry) && same(again->repository, r->repository));
	assert(r->digest ? same(again->digest, r->digest) : same(again->tag, r->tag));
	return 0;
}
