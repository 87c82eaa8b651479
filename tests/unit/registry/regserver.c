/* regserver.c — a real registry on 127.0.0.1 for the registry tests. */
#include "regserver.h"

#include "util/fsutil.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int regserver_run(const char *const argv[], const char *out_path)
{
	int out = -1;
	if (out_path) {
		out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (out < 0)
			return -1;
	}
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(devnull, 0);
		dup2(out >= 0 ? out : devnull, 1);
		dup2(devnull, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (out >= 0)
		close(out);
	close(devnull);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

static bool port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int fail(struct regserver *s, char *msg)
{
	free(s->error);
	s->error = msg;
	return -1;
}

static int make_certs(struct regserver *s)
{
	char *ca_key = path_join(s->dir, "ca.key"), *ca = path_join(s->dir, "ca.pem");
	char *key = path_join(s->dir, "server.key"), *csr = path_join(s->dir, "server.csr");
	char *crt = path_join(s->dir, "server.pem"), *ext = path_join(s->dir, "ext.cnf");
	const char *extv = "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
	                   "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
	                   "extendedKeyUsage=serverAuth\n";
	int r = write_file_atomic(ext, extv, strlen(extv), 0600, NULL);
	const char *a1[] = {
	    "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",           "-keyout", ca_key,
	    "-out",    ca,    "-days", "2",       "-subj",    "/CN=kiln test CA", NULL};
	const char *a2[] = {"openssl", "req",  "-newkey", "rsa:2048", "-nodes",        "-keyout",
	                    key,       "-out", csr,       "-subj",    "/CN=127.0.0.1", NULL};
	const char *a3[] = {
	    "openssl",         "x509", "-req", "-in",   csr, "-CA",      ca,  "-CAkey", ca_key,
	    "-CAcreateserial", "-out", crt,    "-days", "2", "-extfile", ext, NULL};
	if (r == 0 && (regserver_run(a1, NULL) != 0 || regserver_run(a2, NULL) != 0 ||
	               regserver_run(a3, NULL) != 0))
		r = -1;
	free(ca_key);
	free(key);
	free(csr);
	free(crt);
	free(ext);
	if (r < 0) {
		free(ca);
		return fail(
		    s, xstrdup("openssl CLI failed to make a test CA (is openssl installed?)"));
	}
	s->ca_file = ca;
	return 0;
}

int regserver_start(struct regserver *s, const struct regserver_cfg *cfg)
{
	*s = (struct regserver){.pid = -1};
	if (access("/usr/bin/docker-registry", X_OK) < 0)
		return fail(s, xstrdup("/usr/bin/docker-registry missing: apt-get install "
		                       "docker-registry"));
	char tmpl[] = "/tmp/kiln-registry-XXXXXX";
	if (!mkdtemp(tmpl))
		return fail(s, xstrdup("mkdtemp failed"));
	s->dir = xstrdup(tmpl);
	s->port = free_port();
	if (s->port < 0)
		return fail(s, xstrdup("no free port"));
	s->host = xasprintf("127.0.0.1:%d", s->port);

	char *auth = xstrdup(""), *tls = xstrdup("");
	if (cfg && cfg->user) {
		char *hp = path_join(s->dir, "htpasswd");
		const char *argv[] = {"htpasswd", "-Bbn", cfg->user, cfg->password, NULL};
		if (regserver_run(argv, hp) != 0) {
			free(hp);
			free(auth);
			free(tls);
			return fail(s, xstrdup("htpasswd failed (apt-get install apache2-utils)"));
		}
		free(auth);
		auth = xasprintf("auth:\n  htpasswd:\n    realm: kiln-test\n    path: %s\n", hp);
		free(hp);
	}
	if (cfg && cfg->tls) {
		if (make_certs(s) < 0) {
			free(auth);
			free(tls);
			return -1;
		}
		free(tls);
		tls = xasprintf("  tls:\n    certificate: %s/server.pem\n    key: %s/server.key\n",
		                s->dir, s->dir);
	}
	char *conf =
	    xasprintf("version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n"
	              "storage:\n  filesystem:\n    rootdirectory: %s/data\n"
	              "  delete:\n    enabled: true\n"
	              "http:\n  addr: 127.0.0.1:%d\n%s%s",
	              s->dir, s->port, tls, auth);
	free(auth);
	free(tls);
	char *conf_path = path_join(s->dir, "config.yml");
	char *log_path = path_join(s->dir, "registry.log");
	int r = write_file_atomic(conf_path, conf, strlen(conf), 0600, NULL);
	free(conf);
	if (r < 0) {
		free(conf_path);
		free(log_path);
		return fail(s, xstrdup("write config.yml failed"));
	}
	int logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	free(log_path);
	pid_t pid = fork();
	if (pid == 0) {
		if (logfd >= 0) {
			dup2(logfd, 1);
			dup2(logfd, 2);
		}
		execl("/usr/bin/docker-registry", "docker-registry", "serve", conf_path,
		      (char *)NULL);
		_exit(127);
	}
	if (logfd >= 0)
		close(logfd);
	free(conf_path);
	if (pid < 0)
		return fail(s, xstrdup("fork failed"));
	s->pid = pid;
	for (int i = 0; i < 200; i++) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			s->pid = -1;
			return fail(
			    s,
			    xasprintf("docker-registry exited early; see %s/registry.log", s->dir));
		}
		if (port_open(s->port))
			return 0;
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return fail(s, xasprintf("docker-registry did not listen on %s within 10s", s->host));
}

void regserver_stop(struct regserver *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		int st;
		waitpid(s->pid, &st, 0);
		s->pid = -1;
	}
	if (s->dir && !getenv("KILN_KEEP_REGISTRY"))
		rm_rf(s->dir, NULL);
	free(s->dir);
	free(s->host);
	free(s->ca_file);
	free(s->error);
	*s = (struct regserver){.pid = -1};
}
