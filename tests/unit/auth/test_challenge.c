/* test_challenge.c — WWW-Authenticate parsing. */
#include "auth/auth.h"
#include "harness.h"

#include "util/err.h"

TEST(challenge_bearer_docker_hub)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_challenge struct auth_challenge c = {};
	ASSERT_OK(auth_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
	                               "service=\"registry.docker.io\","
	                               "scope=\"repository:library/ubuntu:pull\"",
	                               &c, &err),
	          err);
	ASSERT_STREQ(c.scheme, "Bearer");
	ASSERT_STREQ(c.realm, "https://auth.docker.io/token");
	ASSERT_STREQ(c.service, "registry.docker.io");
	ASSERT_STREQ(c.scope, "repository:library/ubuntu:pull");
}

TEST(challenge_basic_case_and_spaces)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_challenge struct auth_challenge c = {};
	ASSERT_OK(auth_challenge_parse("  basic   Realm = \"basic-realm\" ", &c, &err), err);
	ASSERT_STREQ(c.scheme, "Basic");
	ASSERT_STREQ(c.realm, "basic-realm");
	ASSERT_TRUE(c.service == NULL);
	ASSERT_TRUE(c.scope == NULL);
}

TEST(challenge_escapes_tokens_and_extra_params)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_challenge struct auth_challenge c = {};
	ASSERT_OK(auth_challenge_parse("BEARER realm=\"https://h/t?a=\\\"b\\\"\", "
	                               "error=\"insufficient_scope\",service=svc,"
	                               "scope=\"repository:a/b:pull,push repository:c:pull\"",
	                               &c, &err),
	          err);
	ASSERT_STREQ(c.scheme, "Bearer");
	ASSERT_STREQ(c.realm, "https://h/t?a=\"b\"");
	ASSERT_STREQ(c.service, "svc");
	ASSERT_STREQ(c.scope, "repository:a/b:pull,push repository:c:pull");
}

TEST(challenge_other_scheme_kept)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_challenge struct auth_challenge c = {};
	ASSERT_OK(auth_challenge_parse("Negotiate", &c, &err), err);
	ASSERT_STREQ(c.scheme, "Negotiate");
	ASSERT_TRUE(c.realm == NULL);
}

TEST(challenge_first_of_several)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_challenge struct auth_challenge c = {};
	ASSERT_OK(
	    auth_challenge_parse("Bearer realm=\"https://a/token\", Basic realm=\"x\"", &c, &err),
	    err);
	ASSERT_STREQ(c.scheme, "Bearer");
	ASSERT_STREQ(c.realm, "https://a/token");
}

TEST(challenge_malformed)
{
	cleanup_err struct kiln_err *err = NULL;
	struct auth_challenge c = {};
	ASSERT_FAIL(auth_challenge_parse("", &c, &err));
	ASSERT_TRUE(err && strstr(err->msg, "WWW-Authenticate"));
	kiln_err_free(err);
	err = NULL;
	ASSERT_FAIL(auth_challenge_parse("Bearer realm=\"unterminated", &c, &err));
	kiln_err_free(err);
	err = NULL;
	ASSERT_FAIL(auth_challenge_parse("Bearer =x", &c, &err));
}

TEST(base64_encode_padding)
{
	const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < 7; i++) {
		char *e = auth_base64_encode(in[i], strlen(in[i]));
		bool ok = strcmp(e, out[i]) == 0;
		free(e);
		ASSERT_TRUE(ok);
	}
}
