/* regserver.h — starts Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1
 * for tests: plain http, or TLS with a throwaway CA made by the openssl CLI, optionally with
 * htpasswd basic auth. A missing tool is a failure, never a skip. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct regserver {
	pid_t pid;
	int port;
	char *dir;     /* temporary directory: config, storage, certs, log */
	char *host;    /* "127.0.0.1:<port>" */
	char *ca_file; /* CA certificate (TLS only) */
	char *error;   /* why start failed */
};

struct regserver_cfg {
	bool tls;
	const char *user; /* htpasswd auth when set */
	const char *password;
};

/* 0 on success; on failure s->error says why */
int regserver_start(struct regserver *s, const struct regserver_cfg *cfg);
void regserver_stop(struct regserver *s);
/* runs argv (PATH search), stdout to out_path when not NULL; exit status or -1 */
int regserver_run(const char *const argv[], const char *out_path);
