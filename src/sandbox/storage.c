/* storage.c — where chroot-mode stage roots live: a tmpfs private to kiln's own mount namespace
 * (freed by the kernel when kiln exits, however it exits) or the disk under $KANIKO_DIR. */
#include "sandbox.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/macro.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

int sandbox_parse_size(const char *s, uint64_t *ret)
{
	if (!s || !*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	case '\0':
		break;
	default:
		return -EINVAL;
	}
	/* "64M", "64Mi", "64MiB", "64MB": all binary multiples, as tmpfs's own size= reads them */
	const char *rest = *end ? end + 1 : end;
	if (*rest && !streq(rest, "i") && !streq(rest, "iB") && !streq(rest, "B"))
		return -EINVAL;
	if (v == 0 || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*ret = (uint64_t)v << shift;
	return 0;
}

/* one number (or "max") from a cgroup or /proc file; UINT64_MAX when absent or unlimited */
static uint64_t read_u64(const char *path, const char *key)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	if (read_file_at(AT_FDCWD, path, LIMIT_SMALL_FILE, &text, &len, NULL) < 0)
		return UINT64_MAX;
	const char *p = text;
	if (key) {
		size_t kl = strlen(key);
		for (p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
			if (strncmp(p, key, kl) == 0 && p[kl] == ':')
				break;
		}
		if (!p)
			return UINT64_MAX;
		p += strlen(key) + 1;
		while (*p == ' ')
			p++;
	}
	if (strncmp(p, "max", 3) == 0)
		return UINT64_MAX;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(p, &end, 10);
	if (errno || end == p)
		return UINT64_MAX;
	if (key && strncmp(end, " kB", 3) == 0)
		v = v > UINT64_MAX / 1024 ? UINT64_MAX : v * 1024;
	return v;
}

/* this process's cgroup v2 path from /proc/self/cgroup ("0::/path"), or NULL */
static char *cgroup2_dir(void)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	if (read_file_at(AT_FDCWD, "/proc/self/cgroup", LIMIT_SMALL_FILE, &text, &len, NULL) < 0)
		return NULL;
	for (char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, "0::", 3) == 0) {
			size_t n = strcspn(l + 3, "\n");
			cleanup_free char *rel = xstrndup(l + 3, n);
			return xasprintf("/sys/fs/cgroup%s", streq(rel, "/") ? "" : rel);
		}
	}
	return NULL;
}

static uint64_t limit_left(uint64_t limit, uint64_t used)
{
	if (limit == UINT64_MAX)
		return UINT64_MAX;
	if (used == UINT64_MAX)
		used = 0;
	return limit > used ? limit - used : 0;
}

uint64_t sandbox_memory_headroom(void)
{
	uint64_t avail = read_u64("/proc/meminfo", "MemAvailable");
	/* a memory limit on kiln's cgroup counts tmpfs pages too: v2, then v1 */
	cleanup_free char *dir = cgroup2_dir();
	if (dir) {
		cleanup_free char *max = xasprintf("%s/memory.max", dir);
		cleanup_free char *cur = xasprintf("%s/memory.current", dir);
		avail = MIN(avail, limit_left(read_u64(max, NULL), read_u64(cur, NULL)));
	}
	avail =
	    MIN(avail, limit_left(read_u64("/sys/fs/cgroup/memory/memory.limit_in_bytes", NULL),
	                          read_u64("/sys/fs/cgroup/memory/memory.usage_in_bytes", NULL)));
	return avail == UINT64_MAX ? 0 : avail;
}

int sandbox_private_tmpfs(const char *dir, uint64_t size, struct kiln_err **err)
{
	/* only this thread's mount namespace changes; threads created later inherit it */
	if (unshare(CLONE_NEWNS) < 0)
		return kiln_err_errno(err, "create a mount namespace for the stage roots");
	/* nothing mounted from here on may propagate back to the host */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return kiln_err_errno(err, "make mounts private");
	int r = mkdir_p(dir, 0755, err);
	if (r < 0)
		return r;
	char opts[64];
	/* size 0 (memory unknown): the kernel's default for tmpfs, half of RAM */
	if (size)
		snprintf(opts, sizeof(opts), "mode=0755,size=%" PRIu64, size);
	else
		snprintf(opts, sizeof(opts), "mode=0755");
	/* no nosuid or nodev: the roots behave as they would on disk (setuid programs in RUN) */
	if (mount("kiln-stages", dir, "tmpfs", 0, opts) < 0)
		return kiln_err_errno(err, "mount a tmpfs on '%s'", dir);
	return 0;
}

int sandbox_private_tmpfs_remove(const char *dir, struct kiln_err **err)
{
	/* the mount is in kiln's own namespace: nothing else can be using it */
	if (umount2(dir, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return kiln_err_errno(err, "unmount the stage roots' tmpfs '%s'", dir);
	return rm_rf(dir, err);
}

bool sandbox_tmpfs_full(const char *dir)
{
	struct statvfs st;
	if (statvfs(dir, &st) < 0 || st.f_blocks == 0)
		return false;
	return st.f_bavail * 20 < st.f_blocks; /* less than 5% left */
}
