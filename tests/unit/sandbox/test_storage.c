/* test_storage.c — --stage-storage's size syntax and the memory headroom it is sized from. */
#include "harness.h"
#include "sandbox/sandbox.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

TEST(parse_size_units)
{
	uint64_t v = 0;
	ASSERT_EQ(sandbox_parse_size("4096", &v), 0);
	ASSERT_EQ(v, 4096);
	ASSERT_EQ(sandbox_parse_size("16M", &v), 0);
	ASSERT_EQ(v, UINT64_C(16) << 20);
	ASSERT_EQ(sandbox_parse_size("8g", &v), 0);
	ASSERT_EQ(v, UINT64_C(8) << 30);
	ASSERT_EQ(sandbox_parse_size("2GiB", &v), 0);
	ASSERT_EQ(v, UINT64_C(2) << 30);
	ASSERT_EQ(sandbox_parse_size("512Ki", &v), 0);
	ASSERT_EQ(v, UINT64_C(512) << 10);
	ASSERT_EQ(sandbox_parse_size("1TB", &v), 0);
	ASSERT_EQ(v, UINT64_C(1) << 40);
}

TEST(parse_size_rejects)
{
	uint64_t v = 7;
	const char *bad[] = {"",         "M",     "-1",   "0",   "1X",
	                     "1Gx",      "1GiBs", "lots", " 1G", "99999999999999999999",
	                     "20000000T"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_EQ(sandbox_parse_size(bad[i], &v), -EINVAL);
	ASSERT_EQ(v, 7);
}

TEST(headroom_is_bounded_by_ram)
{
	/* whatever cgroup kiln runs in, it cannot be promised more than the machine's RAM */
	uint64_t h = sandbox_memory_headroom();
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	ASSERT_TRUE(h > 0);
	ASSERT_TRUE(h <= (uint64_t)pages * (uint64_t)psize);
}
