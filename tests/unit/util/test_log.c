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
