/* test_options.c — the executor command line. */
#include "harness.h"
#include "cli/options.h"
#include "util/xalloc.h"

TEST(smoke)
{
	struct build_opts o;
	build_opts_init(&o);
	build_opts_release(&o);
}
