/* container.c — kaniko's "am I inside a container" heuristic (reference §7.3), used before kiln
 * builds in place over the root of the container it runs in. */
#include "sandbox.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const runtimes[] = {
    "docker", "rkt",    "systemd-nspawn", "lxc",    "lxc-libvirt", "openvz",
    "kube",   "garden", "podman",         "gvisor", "firejail",    "wsl",
};

static bool names_a_runtime(const char *text)
{
	for (size_t i = 0; i < ARRAY_SIZE(runtimes); i++) {
		if (strstr(text, runtimes[i]))
			return true;
	}
	return false;
}

static char *read_small(const char *root, const char *path)
{
	cleanup_free char *p = xasprintf("%s%s", root, path);
	char *data = NULL;
	size_t len = 0;
	if (read_file_at(AT_FDCWD, p, LIMIT_SMALL_FILE, &data, &len, NULL) < 0)
		return NULL;
	/* /proc/1/cmdline separates words with NULs */
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\0')
			data[i] = ' ';
	}
	return data;
}

static bool exists(const char *root, const char *path)
{
	cleanup_free char *p = xasprintf("%s%s", root, path);
	struct stat st;
	return stat(p, &st) == 0;
}

bool sandbox_in_container(const char *root)
{
	if (!root)
		root = "";
	cleanup_free char *cgroup = read_small(root, "/proc/self/cgroup");
	if (cgroup && names_a_runtime(cgroup))
		return true;
	if (exists(root, "/proc/vz") && !exists(root, "/proc/bc"))
		return true;
	if (exists(root, "/__runsc_containers__"))
		return true;
	cleanup_free char *cmdline = read_small(root, "/proc/1/cmdline");
	if (cmdline && names_a_runtime(cmdline))
		return true;
	cleanup_free char *sig = read_small(root, "/proc/version_signature");
	if (sig && startswith(sig, "Microsoft"))
		return true;
	const char *env = getenv("container");
	if (env && *env && names_a_runtime(env))
		return true;
	cleanup_free char *sd = read_small(root, "/run/systemd/container");
	if (sd && names_a_runtime(sd))
		return true;
	if (exists(root, "/run/.containerenv") || exists(root, "/.dockerenv") ||
	    exists(root, "/var/run/secrets/kubernetes.io/serviceaccount"))
		return true;
	cleanup_free char *mounts = read_small(root, "/proc/mounts");
	for (char *line = mounts; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *sp = strchr(line, ' ');
		if (sp && startswith(sp + 1, "/ overlay"))
			return true;
		line = nl ? nl + 1 : NULL;
	}
	return false;
}
