/* test_bearer.c — the bearer token flow against a small in-process server (the Debian registry's
 * token auth needs signed JWTs): challenge, token request with basic credentials, caching. */
#include "harness.h"
#include "registry/registry.h"

#include "auth/auth.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char manifest[] =
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
    "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":2,"
    "\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\"},"
    "\"layers\":[]}";

struct fake {
	int lfd;
	int port;
	char token_query[512];
	bool token_had_basic_auth;
	int token_requests;
};

static void reply(int fd, const char *status, const char *extra, const char *body)
{
	char *r = xasprintf("HTTP/1.1 %s\r\nConnection: close\r\nContent-Length: %zu\r\n%s\r\n%s",
	                    status, strlen(body), extra, body);
	(void)write_all(fd, r, strlen(r));
	free(r);
}

static void *serve(void *arg)
{
	struct fake *f = arg;
	for (;;) {
		int c = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			return NULL;
		char buf[8192];
		size_t n = 0;
		while (n < sizeof(buf) - 1 && !memmem(buf, n, "\r\n\r\n", 4)) {
			ssize_t k = read(c, buf + n, sizeof(buf) - 1 - n);
			if (k <= 0)
				break;
			n += (size_t)k;
		}
		buf[n] = 0;
		/* "Ym9iOnB3" is base64("bob:pw") */
		bool basic = strstr(buf, "Authorization: Basic Ym9iOnB3\r\n") != NULL;
		bool bearer = strstr(buf, "Authorization: Bearer good-token\r\n") != NULL;
		if (strneq(buf, "GET /token?", 11)) {
			f->token_requests++;
			f->token_had_basic_auth = basic;
			size_t ql = strcspn(buf + 11, " ");
			snprintf(f->token_query, sizeof(f->token_query), "%.*s", (int)ql, buf + 11);
			if (basic)
				reply(c, "200 OK", "Content-Type: application/json\r\n",
				      "{\"token\":\"good-token\",\"expires_in\":300}");
			else
				reply(c, "401 Unauthorized", "", "{}");
		} else if (!bearer) {
			char *h = xasprintf(
			    "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\","
			    "service=\"fake\"\r\nContent-Type: application/json\r\n",
			    f->port);
			reply(c, "401 Unauthorized", h,
			      "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"auth "
			      "required\"}]}");
			free(h);
		} else if (strneq(buf, "GET /v2/ns/img/manifests/t ", 27)) {
			reply(c, "200 OK",
			      "Content-Type: "
			      "application/vnd.docker.distribution.manifest.v2+json\r\n",
			      manifest);
		} else {
			reply(c, "404 Not Found", "", "{}");
		}
		close(c);
	}
}

TEST(registry_bearer_token_flow)
{
	struct fake f = {.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	ASSERT_TRUE(f.lfd >= 0);
	ASSERT_EQ(bind(f.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(listen(f.lfd, 16), 0);
	ASSERT_EQ(getsockname(f.lfd, (struct sockaddr *)&a, &al), 0);
	f.port = ntohs(a.sin_port);
	pthread_t th;
	ASSERT_EQ(pthread_create(&th, NULL, serve, &f), 0);

	char tmpl[] = "/tmp/kiln-bearer-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	cleanup_free char *host = xasprintf("127.0.0.1:%d", f.port);
	cleanup_free char *cfg = xasprintf("{\"auths\":{\"%s\":{\"auth\":\"Ym9iOnB3\"}}}", host);
	cleanup_free char *cfgp = path_join(tmpl, "config.json");
	ASSERT_OK(write_file_atomic(cfgp, cfg, strlen(cfg), 0600, NULL), (struct kiln_err *)NULL);
	setenv("DOCKER_CONFIG", tmpl, 1);
	unsetenv("CI_REGISTRY");

	cleanup_err struct kiln_err *err = NULL;
	char *insecure[] = {host, NULL};
	struct registry_opts o = {.insecure_registries = insecure, .user_agent = "kiln/test"};
	_cleanup_(registry_freep) struct registry *r = NULL;
	ASSERT_OK(registry_new(&o, &r, &err), err);
	cleanup_free char *refs = xasprintf("%s/ns/img:t", host);
	_cleanup_(image_ref_freep) struct image_ref *ref = NULL;
	ASSERT_OK(image_ref_parse(refs, &ref, &err), err);
	for (int i = 0; i < 2; i++) {
		cleanup_free char *b = NULL, *m = NULL;
		size_t l = 0;
		char g[DIGEST_STRING_LEN + 1];
		ASSERT_OK(registry_get_manifest(r, ref, NULL, &b, &l, &m, g, &err), err);
		ASSERT_TRUE(l == strlen(manifest) && memcmp(b, manifest, l) == 0);
	}
	shutdown(f.lfd, SHUT_RDWR);
	close(f.lfd);
	pthread_join(th, NULL);
	rm_rf(tmpl, NULL);
	struct registry_stats st;
	registry_get_stats(r, &st);
	/* one token, cached for the second pull */
	ASSERT_EQ(f.token_requests, 1);
	ASSERT_EQ(st.token_fetches, 1);
	ASSERT_TRUE(f.token_had_basic_auth);
	ASSERT_STREQ(f.token_query, "service=fake&scope=repository%3Ans%2Fimg%3Apull");
}
