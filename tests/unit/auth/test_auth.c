/* test_auth.c — credential look-up: config.json variants, credential helpers, GitLab. */
#include "auth/auth.h"
#include "harness.h"

#include "util/fsutil.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* a fresh directory with config.json holding json, and a clean environment pointing at it */
static char *setup_config(const char *json)
{
	char tmpl[] = "/tmp/kiln-auth-XXXXXX";
	char *dir = mkdtemp(tmpl);
	if (!dir)
		abort();
	dir = xstrdup(dir);
	if (json) {
		char *p = path_join(dir, "config.json");
		if (write_file_atomic(p, json, strlen(json), 0600, NULL) < 0)
			abort();
		free(p);
	}
	setenv("DOCKER_CONFIG", dir, 1);
	unsetenv("CI_REGISTRY");
	unsetenv("CI_REGISTRY_USER");
	unsetenv("CI_REGISTRY_PASSWORD");
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	return dir;
}

static void cleanup_dir(char **dir)
{
	if (*dir)
		rm_rf(*dir, NULL);
	free(*dir);
}
#define cleanup_tmpdir _cleanup_(cleanup_dir) _unused_

TEST(auth_missing_file_is_anonymous)
{
	cleanup_tmpdir char *dir = setup_config(NULL);
	cleanup_err struct kiln_err *err = NULL;
	cleanup_creds struct auth_creds c = {};
	ASSERT_OK(auth_lookup("127.0.0.1:5000", &c, &err), err);
	ASSERT_TRUE(auth_creds_anonymous(&c));
}

TEST(auth_base64_auth_field)
{
	/* "alice:pa:ss" — the password may contain ':' */
	cleanup_tmpdir char *dir =
	    setup_config("{\"auths\":{\"127.0.0.1:5000\":{\"auth\":\"YWxpY2U6cGE6c3M=\"}}}");
	cleanup_err struct kiln_err *err = NULL;
	cleanup_creds struct auth_creds c = {};
	ASSERT_OK(auth_lookup("127.0.0.1:5000", &c, &err), err);
	ASSERT_STREQ(c.username, "alice");
	ASSERT_STREQ(c.password, "pa:ss");
	ASSERT_TRUE(c.identity_token == NULL);
}

TEST(auth_url_keys_normalise)
{
	cleanup_tmpdir char *dir = setup_config(
	    "{\"auths\":{"
	    "\"https://reg.example.com/\":{\"username\":\"u1\",\"password\":\"p1\"},"
	    "\"http://other.example.com:5000/v1/\":{\"username\":\"u2\",\"password\":\"p2\"},"
	    "\"tok.example.com\":{\"identitytoken\":\"it-123\"}}}");
	cleanup_err struct kiln_err *err = NULL;
	cleanup_creds struct auth_creds a = {}, b = {}, t = {}, none = {};
	ASSERT_OK(auth_lookup("reg.example.com", &a, &err), err);
	ASSERT_STREQ(a.username, "u1");
	ASSERT_STREQ(a.password, "p1");
	ASSERT_OK(auth_lookup("other.example.com:5000", &b, &err), err);
	ASSERT_STREQ(b.username, "u2");
	ASSERT_OK(auth_lookup("tok.example.com", &t, &err), err);
	ASSERT_STREQ(t.identity_token, "it-123");
	ASSERT_TRUE(t.username == NULL);
	ASSERT_OK(auth_lookup("other.example.com", &none, &err), err);
	ASSERT_TRUE(auth_creds_anonymous(&none));
}

TEST(auth_docker_hub_keys)
{
	cleanup_tmpdir char *dir = setup_config(
	    "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"aHViOmh1YnB3\"}}}");
	cleanup_err struct kiln_err *err = NULL;
	cleanup_creds struct auth_creds c = {};
	ASSERT_OK(auth_lookup("index.docker.io", &c, &err), err);
	ASSERT_STREQ(c.username, "hub");
	ASSERT_STREQ(c.password, "hubpw");
	cleanup_tmpdir char *dir2 =
	    setup_config("{\"auths\":{\"docker.io\":{\"username\":\"d\",\"password\":\"x\"}}}");
	cleanup_creds struct auth_creds d = {};
	ASSERT_OK(auth_lookup("index.docker.io", &d, &err), err);
	ASSERT_STREQ(d.username, "d");
}

TEST(auth_malformed_file_names_it_without_secrets)
{
	cleanup_tmpdir char *dir = setup_config("{\"auths\": {\"h\": {\"auth\": \"c2VjcmV0OnB3\" ");
	cleanup_err struct kiln_err *err = NULL;
	struct auth_creds c = {};
	ASSERT_FAIL(auth_lookup("h", &c, &err));
	ASSERT_TRUE(err != NULL);
	test_note("%s", err->msg);
	ASSERT_TRUE(strstr(err->msg, "config.json") != NULL);
	ASSERT_TRUE(strstr(err->msg, dir) != NULL);
	ASSERT_TRUE(strstr(err->msg, "c2VjcmV0") == NULL);
}

TEST(auth_bad_base64_is_error)
{
	cleanup_tmpdir char *dir = setup_config("{\"auths\":{\"h\":{\"auth\":\"!!!\"}}}");
	cleanup_err struct kiln_err *err = NULL;
	struct auth_creds c = {};
	ASSERT_FAIL(auth_lookup("h", &c, &err));
	ASSERT_TRUE(strstr(err->msg, "base64") != NULL);
}

TEST(auth_home_fallback_when_docker_config_unset)
{
	cleanup_tmpdir char *dir = setup_config(NULL);
	char *dd = path_join(dir, ".docker");
	ASSERT_TRUE(mkdir(dd, 0700) == 0);
	char *p = path_join(dd, "config.json");
	const char *j = "{\"auths\":{\"h.example\":{\"username\":\"home\",\"password\":\"pw\"}}}";
	int r = write_file_atomic(p, j, strlen(j), 0600, NULL);
	free(p);
	free(dd);
	ASSERT_EQ(r, 0);
	unsetenv("DOCKER_CONFIG");
	char *old_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
	setenv("HOME", dir, 1);
	cleanup_err struct kiln_err *err = NULL;
	cleanup_creds struct auth_creds c = {};
	int rr = auth_lookup("h.example", &c, &err);
	if (old_home)
		setenv("HOME", old_home, 1);
	free(old_home);
	ASSERT_OK(rr, err);
	/* unless the machine has /kaniko/.docker/config.json, $HOME's file is read */
	struct stat st;
	if (stat("/kaniko/.docker/config.json", &st) < 0)
		ASSERT_STREQ(c.username, "home");
}

TEST(auth_gitlab_helper)
{
	cleanup_tmpdir char *dir = setup_config("{\"auths\":{}}");
	setenv("CI_REGISTRY", "registry.gitlab.example:5050", 1);
	setenv("CI_REGISTRY_USER", "gitlab-ci-token", 1);
	setenv("CI_REGISTRY_PASSWORD", "job-token", 1);
	cleanup_err struct kiln_err *err = NULL;
	cleanup_creds struct auth_creds c = {}, other = {};
	ASSERT_OK(auth_lookup("registry.gitlab.example:5050", &c, &err), err);
	ASSERT_STREQ(c.username, "gitlab-ci-token");
	ASSERT_STREQ(c.password, "job-token");
	ASSERT_OK(auth_lookup("registry.other.example", &other, &err), err);
	ASSERT_TRUE(auth_creds_anonymous(&other));
	unsetenv("CI_REGISTRY");
}

TEST(auth_config_wins_over_gitlab)
{
	cleanup_tmpdir char *dir =
	    setup_config("{\"auths\":{\"g.example\":{\"username\":\"cfg\",\"password\":\"x\"}}}");
	setenv("CI_REGISTRY", "g.example", 1);
	setenv("CI_REGISTRY_USER", "ci", 1);
	setenv("CI_REGISTRY_PASSWORD", "y", 1);
	cleanup_err struct kiln_err *err = NULL;
	cleanup_creds struct auth_creds c = {};
	ASSERT_OK(auth_lookup("g.example", &c, &err), err);
	ASSERT_STREQ(c.username, "cfg");
	unsetenv("CI_REGISTRY");
}

/* a docker-credential-test script on a private PATH; it records what it got on stdin */
static char *setup_helper(const char *dir)
{
	char *bin = path_join(dir, "bin");
	if (mkdir(bin, 0755) < 0)
		abort();
	char *script = path_join(bin, "docker-credential-test");
	char *text = xasprintf(
	    "#!/bin/sh\n"
	    "[ \"$1\" = get ] || exit 3\n"
	    "read -r host\n"
	    "printf '%%s' \"$host\" > '%s/stdin'\n"
	    "case \"$host\" in\n"
	    "reg.example:5000) echo '{\"ServerURL\":\"reg.example:5000\",\"Username\":\"hu\","
	    "\"Secret\":\"hs\"}' ;;\n"
	    "tok.example) echo '{\"ServerURL\":\"tok.example\",\"Username\":\"<token>\","
	    "\"Secret\":\"idtok\"}' ;;\n"
	    "https://index.docker.io/v1/) echo '{\"Username\":\"hubu\",\"Secret\":\"hubs\"}' ;;\n"
	    "broken.example) echo 'something bad happened'; exit 2 ;;\n"
	    "*) echo 'credentials not found in native keychain'; exit 1 ;;\n"
	    "esac\n",
	    dir);
	if (write_file_atomic(script, text, strlen(text), 0755, NULL) < 0)
		abort();
	free(text);
	free(script);
	char *path = xasprintf("%s:/usr/bin:/bin", bin);
	setenv("PATH", path, 1);
	free(path);
	return bin;
}

static char *read_stdin_record(const char *dir)
{
	char *p = path_join(dir, "stdin");
	char *data = NULL;
	size_t len = 0;
	if (read_file_at(AT_FDCWD, p, 4096, &data, &len, NULL) < 0)
		data = NULL;
	free(p);
	return data;
}

TEST(auth_cred_helpers_protocol)
{
	cleanup_tmpdir char *dir = setup_config(
	    "{\"auths\":{\"reg.example:5000\":{\"auth\":\"aWdub3JlZDppZ25vcmVk\"}},"
	    "\"credHelpers\":{\"reg.example:5000\":\"test\",\"tok.example\":\"test\","
	    "\"nf.example\":\"test\",\"broken.example\":\"test\",\"missing.example\":\"nope\"}}");
	char *old_path = xstrdup(getenv("PATH"));
	cleanup_free _unused_ char *bin = setup_helper(dir);
	cleanup_err struct kiln_err *err = NULL;
	cleanup_creds struct auth_creds a = {}, t = {}, nf = {};
	struct auth_creds bad = {};
	int r1 = auth_lookup("reg.example:5000", &a, &err);
	cleanup_free char *seen = read_stdin_record(dir);
	int r2 = auth_lookup("tok.example", &t, &err);
	int r3 = auth_lookup("nf.example", &nf, &err);
	cleanup_err struct kiln_err *e4 = NULL, *e5 = NULL;
	int r4 = auth_lookup("broken.example", &bad, &e4);
	int r5 = auth_lookup("missing.example", &bad, &e5);
	setenv("PATH", old_path, 1);
	free(old_path);
	ASSERT_OK(r1, err);
	ASSERT_STREQ(a.username, "hu");
	ASSERT_STREQ(a.password, "hs");
	ASSERT_STREQ(seen, "reg.example:5000");
	ASSERT_OK(r2, err);
	ASSERT_STREQ(t.identity_token, "idtok");
	ASSERT_TRUE(t.username == NULL);
	ASSERT_OK(r3, err);
	ASSERT_TRUE(auth_creds_anonymous(&nf));
	ASSERT_TRUE(r4 < 0);
	test_note("%s", e4->msg);
	ASSERT_TRUE(strstr(e4->msg, "docker-credential-test") != NULL);
	ASSERT_TRUE(strstr(e4->msg, "exit status 2") != NULL);
	ASSERT_TRUE(r5 < 0);
	test_note("%s", e5->msg);
	ASSERT_TRUE(strstr(e5->msg, "docker-credential-nope") != NULL);
}

TEST(auth_creds_store_for_docker_hub)
{
	cleanup_tmpdir char *dir = setup_config("{\"credsStore\":\"test\"}");
	char *old_path = xstrdup(getenv("PATH"));
	cleanup_free _unused_ char *bin = setup_helper(dir);
	cleanup_err struct kiln_err *err = NULL;
	cleanup_creds struct auth_creds c = {};
	int r = auth_lookup("index.docker.io", &c, &err);
	cleanup_free char *seen = read_stdin_record(dir);
	setenv("PATH", old_path, 1);
	free(old_path);
	ASSERT_OK(r, err);
	ASSERT_STREQ(c.username, "hubu");
	ASSERT_STREQ(c.password, "hubs");
	ASSERT_STREQ(seen, "https://index.docker.io/v1/");
}
