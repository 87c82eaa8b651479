/* auth.c — credential look-up: docker config.json, docker-credential-* helpers, GitLab CI
 * variables (kaniko reference §5.2). Secrets never reach a message or a log line. */
#include "auth.h"

#include "util/buf.h"
#include "util/forkguard.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DOCKER_HUB_KEY "https://index.docker.io/v1/"

extern char **environ;

static void free_secret(char **s)
{
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void auth_creds_release(struct auth_creds *c)
{
	free_secret(&c->username);
	free_secret(&c->password);
	free_secret(&c->identity_token);
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *auth_base64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	size_t olen = (len + 2) / 3 * 4;
	char *out = xmalloc(olen + 1), *o = out;
	size_t i = 0;
	for (; i + 2 < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		*o++ = b64_alphabet[v >> 18 & 63];
		*o++ = b64_alphabet[v >> 12 & 63];
		*o++ = b64_alphabet[v >> 6 & 63];
		*o++ = b64_alphabet[v & 63];
	}
	if (i < len) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);
		*o++ = b64_alphabet[v >> 18 & 63];
		*o++ = b64_alphabet[v >> 12 & 63];
		*o++ = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = 0;
	return out;
}

/* lenient decoder (padding optional, whitespace refused); NULL when invalid */
static char *base64_decode(const char *s, size_t *ret_len)
{
	size_t n = strlen(s);
	char *out = xmalloc(n / 4 * 3 + 4);
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=') {
			for (size_t j = i; j < n; j++)
				if (s[j] != '=')
					goto bad;
			break;
		}
		const char *pos = strchr(b64_alphabet, s[i]);
		if (!pos || !s[i])
			goto bad;
		acc = acc << 6 | (unsigned)(pos - b64_alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)(acc >> bits & 0xff);
		}
	}
	out[o] = 0;
	*ret_len = o;
	return out;
bad:
	explicit_bzero(out, n / 4 * 3 + 4);
	free(out);
	return NULL;
}

/* "https://host:5000/v1/" -> "host:5000" */
static char *key_hostname(const char *key)
{
	const char *s = key;
	if (strncasecmp(s, "https://", 8) == 0)
		s += 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		s += 7;
	return xstrndup(s, strcspn(s, "/"));
}

static bool is_docker_hub(const char *host)
{
	return streq(host, "index.docker.io") || streq(host, "docker.io") ||
	       streq(host, "registry-1.docker.io");
}

/* does the config key (host or URL) name this registry? */
static bool key_matches(const char *key, const char *registry)
{
	cleanup_free char *h = key_hostname(key);
	if (strcasecmp(h, registry) == 0)
		return true;
	return is_docker_hub(registry) && is_docker_hub(h);
}

/* the member of obj whose key names the registry: the exact key first, then normalised ones */
static json_t *find_entry(json_t *obj, const char *registry, const char **ret_key)
{
	if (!json_is_object(obj))
		return NULL;
	const char *exact = is_docker_hub(registry) ? DOCKER_HUB_KEY : registry;
	json_t *v = json_object_get(obj, exact);
	if (v) {
		*ret_key = exact;
		return v;
	}
	const char *k;
	json_object_foreach(obj, k, v)
	{
		if (key_matches(k, registry)) {
			*ret_key = k;
			return v;
		}
	}
	return NULL;
}

static char *find_in_path(const char *name)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		cleanup_free char *dir = n ? xstrndup(path, n) : xstrdup(".");
		char *full = path_join(dir, name);
		if (access(full, X_OK) == 0)
			return full;
		free(full);
		path += n;
		if (*path == ':')
			path++;
	}
	return NULL;
}

static void first_line(struct kiln_buf *out, const char *s, size_t max)
{
	size_t n = strcspn(s, "\r\n");
	kiln_buf_add(out, s, MIN(n, max));
}

/* runs `docker-credential-<helper> get` with server on stdin (docker-credential-helpers
 * protocol). Not found means anonymous. */
static int run_helper(const char *helper, const char *server, struct auth_creds *ret,
                      struct kiln_err **err)
{
	cleanup_free char *name = xasprintf("docker-credential-%s", helper);
	cleanup_free char *exe = find_in_path(name);
	if (!exe)
		return kiln_err_set(err, "credential helper '%s' not found on PATH", name);

	int in[2] = {-1, -1}, out[2] = {-1, -1};
	if (pipe2(in, O_CLOEXEC) < 0)
		return kiln_err_errno(err, "pipe");
	if (pipe2(out, O_CLOEXEC) < 0) {
		int r = kiln_err_errno(err, "pipe");
		close(in[0]);
		close(in[1]);
		return r;
	}
	cleanup_close int in_r = in[0], in_w = in[1], out_r = out[0], out_w = out[1];
	cleanup_close int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	char *const argv[] = {name, (char *)"get", NULL};

	const int keep[] = {in_r, out_w, devnull};
	pid_t pid = forkguard_fork(keep, devnull >= 0 ? 3 : 2);
	if (pid < 0)
		return kiln_err_errno(err, "fork '%s'", name);
	if (pid == 0) {
		/* child: no allocation, no stdio */
		if (dup2(in_r, 0) < 0 || dup2(out_w, 1) < 0)
			_exit(127);
		if (devnull >= 0)
			dup2(devnull, 2);
		execve(exe, argv, environ);
		_exit(127);
	}
	/* our copy of the read end is still open, so this small write cannot raise SIGPIPE */
	(void)write_all(in_w, server, strlen(server));
	closep(&in_w);
	closep(&in_r);
	closep(&out_w);

	cleanup_buf struct kiln_buf b = KILN_BUF_INIT_MAX(LIMIT_SMALL_FILE);
	bool too_big = false;
	for (;;) {
		char chunk[4096];
		ssize_t n = read(out_r, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* keep reading to the end so that the helper never blocks on a full pipe */
		if (kiln_buf_try_add(&b, chunk, (size_t)n, name, NULL) < 0)
			too_big = true;
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return kiln_err_errno(err, "wait for '%s'", name);
	}
	if (too_big) {
		explicit_bzero(b.ptr, b.len);
		return kiln_err_set(err, "credential helper '%s': output too large", name);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (strstr(b.ptr, "credentials not found")) {
			log_debug("No credentials for %s in credential helper %s", server, name);
			return 0;
		}
		cleanup_buf struct kiln_buf msg = KILN_BUF_INIT;
		first_line(&msg, b.ptr, 200);
		if (WIFEXITED(status))
			return kiln_err_set(
			    err, "credential helper '%s' failed (exit status %d)%s%s", name,
			    WEXITSTATUS(status), msg.len ? ": " : "", msg.ptr);
		return kiln_err_set(err, "credential helper '%s' killed by signal %d", name,
		                    WTERMSIG(status));
	}

	json_error_t je;
	cleanup_json json_t *j = json_loadb(b.ptr, b.len, 0, &je);
	explicit_bzero(b.ptr, b.len);
	if (!json_is_object(j))
		return kiln_err_set(err, "credential helper '%s': malformed JSON output", name);
	const char *user = kjson_str(j, "Username"), *secret = kjson_str(j, "Secret");
	struct auth_creds c = {};
	if (user && streq(user, "<token>")) {
		if (secret && *secret)
			c.identity_token = xstrdup(secret);
	} else {
		if (user && *user)
			c.username = xstrdup(user);
		if (secret && *secret)
			c.password = xstrdup(secret);
	}
	*ret = c;
	return 0;
}

/* an "auths" entry: auth (base64 user:pass), username/password, identitytoken */
static int parse_auth_entry(json_t *e, const char *path, const char *key, struct auth_creds *ret,
                            struct kiln_err **err)
{
	if (!json_is_object(e))
		return kiln_err_set(err, "parse '%s': auths entry '%s' is not an object", path,
		                    key);
	struct auth_creds c = {};
	const char *a = kjson_str(e, "auth");
	if (a && *a) {
		size_t n = 0;
		char *dec = base64_decode(a, &n);
		if (!dec)
			return kiln_err_set(err, "parse '%s': invalid base64 in auths entry '%s'",
			                    path, key);
		char *colon = memchr(dec, ':', n);
		if (!colon) {
			explicit_bzero(dec, n);
			free(dec);
			return kiln_err_set(
			    err, "parse '%s': auths entry '%s': auth is not 'user:password'", path,
			    key);
		}
		c.username = xstrndup(dec, (size_t)(colon - dec));
		c.password = xstrdup(colon + 1);
		explicit_bzero(dec, n);
		free(dec);
	} else {
		const char *u = kjson_str(e, "username"), *p = kjson_str(e, "password");
		if (u && *u)
			c.username = xstrdup(u);
		if (p && *p)
			c.password = xstrdup(p);
	}
	const char *it = kjson_str(e, "identitytoken");
	if (it && *it)
		c.identity_token = xstrdup(it);
	*ret = c;
	return 0;
}

static bool file_exists(const char *p)
{
	struct stat st;
	return p && stat(p, &st) == 0;
}

/* which config file kaniko would read; NULL when none exists */
static char *config_path(void)
{
	const char *dc = getenv("DOCKER_CONFIG");
	char *p = NULL;
	if (dc && *dc) {
		p = path_join(dc, "config.json");
	} else {
		p = xstrdup("/kaniko/.docker/config.json");
		if (!file_exists(p)) {
			free(p);
			const char *home = getenv("HOME");
			p = home && *home ? path_join(home, ".docker/config.json") : NULL;
		}
	}
	if (file_exists(p))
		return p;
	free(p);
	/* podman-style auth files, only when no docker config exists */
	const char *raf = getenv("REGISTRY_AUTH_FILE");
	if (raf && *raf && file_exists(raf))
		return xstrdup(raf);
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg && *xdg) {
		p = path_join(xdg, "containers/auth.json");
		if (file_exists(p))
			return p;
		free(p);
	}
	return NULL;
}

static int lookup_config(const char *registry, struct auth_creds *ret, struct kiln_err **err)
{
	cleanup_free char *path = config_path();
	if (!path)
		return 0;
	cleanup_free char *data = NULL;
	size_t len = 0;
	cleanup_err struct kiln_err *e = NULL;
	int r = read_file_at(AT_FDCWD, path, LIMIT_SMALL_FILE, &data, &len, &e);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		if (err)
			*err = TAKE_PTR(e);
		return r;
	}
	/* jansson's own error text quotes the input near the error, which may be a secret */
	json_error_t je;
	cleanup_json json_t *j = json_loadb(data, len, 0, &je);
	explicit_bzero(data, len);
	if (!j)
		return kiln_err_set(err, "parse '%s': malformed JSON at line %d column %d", path,
		                    je.line, je.column);
	if (!json_is_object(j))
		return kiln_err_set(err, "parse '%s': not a JSON object", path);

	const char *key = NULL;
	json_t *h = find_entry(json_object_get(j, "credHelpers"), registry, &key);
	const char *helper = json_is_string(h) ? json_string_value(h) : NULL;
	if (!helper)
		helper = kjson_str(j, "credsStore");
	if (helper && *helper) {
		const char *server = key                       ? key
		                     : is_docker_hub(registry) ? DOCKER_HUB_KEY
		                                               : registry;
		r = run_helper(helper, server, ret, err);
		if (r < 0)
			return kiln_err_wrap(err, "credentials for '%s' from '%s'", registry, path);
		return 0;
	}
	json_t *e2 = find_entry(json_object_get(j, "auths"), registry, &key);
	if (!e2)
		return 0;
	return parse_auth_entry(e2, path, key, ret, err);
}

/* GitLab helper: CI_REGISTRY's host name (port not compared) equals the registry's */
static void lookup_gitlab(const char *registry, struct auth_creds *ret)
{
	const char *ci = getenv("CI_REGISTRY");
	const char *user = getenv("CI_REGISTRY_USER"), *pass = getenv("CI_REGISTRY_PASSWORD");
	if (!ci || !*ci || !user || !*user || !pass)
		return;
	cleanup_free char *h = key_hostname(ci);
	h[strcspn(h, ":")] = 0;
	cleanup_free char *rh = xstrdup(registry);
	rh[strcspn(rh, ":")] = 0;
	if (strcasecmp(h, rh) != 0)
		return;
	ret->username = xstrdup(user);
	ret->password = xstrdup(pass);
}

int auth_lookup(const char *registry, struct auth_creds *ret, struct kiln_err **err)
{
	struct auth_creds c = {};
	int r = lookup_config(registry, &c, err);
	if (r < 0)
		return r;
	if (auth_creds_anonymous(&c))
		lookup_gitlab(registry, &c);
	*ret = c;
	return 0;
}
