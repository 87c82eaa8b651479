/* test_log.c — level and format parsing follow logrus. */
#include "harness.h"
#include "util/log.h"

TEST(log_level_names)
{
	ASSERT_EQ(log_level_parse("INFO"), LOG_INFO);
	ASSERT_EQ(log_level_parse("warn"), LOG_WARN);
	ASSERT_EQ(log_level_parse("warning"), LOG_WARN);
	ASSERT_EQ(log_level_parse("trace"), LOG_TRACE);
	ASSERT_EQ(log_level_parse("verbose"), -1);
	ASSERT_EQ(log_format_parse("json"), LOG_FORMAT_JSON);
	ASSERT_EQ(log_format_parse("xml"), -1);
}

#include "util/duration.h"

TEST(duration_go_syntax)
{
	int64_t ns = 0;
	ASSERT_TRUE(duration_parse("336h0m0s", &ns));
	ASSERT_EQ(ns, 336LL * 3600 * 1000000000LL);
	ASSERT_TRUE(duration_parse("1h30m", &ns));
	ASSERT_EQ(ns, 5400LL * 1000000000LL);
	ASSERT_TRUE(duration_parse("1.5s", &ns));
	ASSERT_EQ(ns, 1500000000LL);
	ASSERT_TRUE(duration_parse("250ms", &ns));
	ASSERT_EQ(ns, 250000000LL);
	ASSERT_TRUE(duration_parse("0", &ns));
	ASSERT_EQ(ns, 0);
	ASSERT_FALSE(duration_parse("5", &ns));
	ASSERT_FALSE(duration_parse("1x", &ns));
	ASSERT_FALSE(duration_parse("", &ns));
	ASSERT_FALSE(duration_parse("h", &ns));
}
