/* sandbox.h — where RUN executes (DESIGN §2): the chroot isolation mode with its own mount and
 * PID namespaces, /proc, /dev, /sys, injected /etc/resolv.conf and /etc/hosts, and the user
 * resolved in the stage's own /etc/passwd and /etc/group. */
#pragma once

#include "util/err.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct sandbox_user {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary groups */
	size_t n_groups;
	char *name; /* NULL when given as a number not in passwd */
	char *home; /* from passwd, or NULL */
};

/* resolves a USER value ("name", "uid", "name:group", "uid:gid", "" = root) inside the root */
int sandbox_user_resolve(int rootfd, const char *spec, struct sandbox_user *ret,
                         struct kiln_err **err);
void sandbox_user_release(struct sandbox_user *u);

/* what the running process may do here; probed once per process by forking a test child
 * (later calls return the first answer) */
struct sandbox_caps {
	bool namespaces; /* unshare(CLONE_NEWNS|CLONE_NEWPID) and mount work */
	bool chroot;
	bool mknod;
};
void sandbox_probe(struct sandbox_caps *ret);

/* kaniko's container heuristic; root prefixes every path it reads ("" or NULL: the real one) */
bool sandbox_in_container(const char *root);

struct sandbox_run_opts {
	const char *root;  /* absolute path of the stage root */
	char *const *argv; /* argv[0] looked up on the PATH of env when it has no '/' */
	char *const *env;  /* complete environment of the command */
	const struct sandbox_user *user;
	const char *cwd; /* inside the root; created by the caller */
	const char
	    *resolv_conf;  /* host file to bind at /etc/resolv.conf, NULL = /etc/resolv.conf */
	const char *hosts; /* host file to bind at /etc/hosts, NULL = /etc/hosts */
	/* kaniko's model: root is "/" of the container kiln runs in; no namespaces, no chroot,
	 * no injected files (the container has its own /proc, /dev and /etc/resolv.conf) */
	bool inplace;
};

/* runs the command and waits; *ret_status is its exit status (128+signal when killed).
 * A failure to set up the sandbox is an error; the command's status is not. */
int sandbox_run(const struct sandbox_run_opts *o, int *ret_status, struct kiln_err **err);

/* "512M", "4G", "1GiB", plain bytes: *ret in bytes; -EINVAL otherwise */
int sandbox_parse_size(const char *s, uint64_t *ret);

/* memory this process may still fill: MemAvailable, lowered by a cgroup v2 or v1 memory limit
 * (tmpfs pages count against it); 0 when unknown */
uint64_t sandbox_memory_headroom(void);

/* gives the calling thread (and the threads and processes it creates later) its own mount
 * namespace, with every mount private, and mounts a tmpfs of at most size bytes (0: the
 * kernel's default, half of RAM) on dir (created). The tmpfs goes away with the namespace, when kiln exits. */
int sandbox_private_tmpfs(const char *dir, uint64_t size, struct kiln_err **err);

/* unmounts the tmpfs of sandbox_private_tmpfs from dir and removes dir (--cleanup) */
int sandbox_private_tmpfs_remove(const char *dir, struct kiln_err **err);

/* whether the filesystem of dir has less than 5% of its space left */
bool sandbox_tmpfs_full(const char *dir);
