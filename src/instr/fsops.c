/* fsops.c — directory creation inside a stage root. */
#include "fsops.h"
#include "sandbox/root.h"
#include "util/buf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int root_mkdir_p(int rootfd, const char *path, mode_t mode, uid_t uid, gid_t gid, char ***created,
                 int *ret_fd, struct kiln_err **err)
{
	cleanup_buf struct kiln_buf sofar = KILN_BUF_INIT;
	cleanup_close int cur = root_open(rootfd, "", O_RDONLY | O_DIRECTORY);
	if (cur < 0)
		return kiln_err_errno(err, "open stage root");
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		cleanup_free char *comp = xstrndup(p, len);
		p += len;
		if (streq(comp, ".") || streq(comp, ".."))
			return kiln_err_set(err, "refusing path '%s' with '%s'", path, comp);
		kiln_buf_addch(&sofar, '/');
		kiln_buf_adds(&sofar, comp);
		/* resolve what exists through the root (a symlinked /var/run stays inside) */
		int fd = root_open(rootfd, sofar.ptr + 1, O_RDONLY | O_DIRECTORY);
		if (fd < 0 && errno == ENOENT) {
			if (mkdirat(cur, comp, mode) < 0 && errno != EEXIST)
				return kiln_err_errno(err, "mkdir '%s'", sofar.ptr);
			fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return kiln_err_errno(err, "open '%s'", sofar.ptr);
			if (fchmod(fd, mode) < 0)
				return kiln_err_errno(err, "chmod '%s'", sofar.ptr);
			if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0) {
				int e2 = errno;
				close(fd);
				return kiln_err_errnum(err, e2, "chown '%s'", sofar.ptr);
			}
			if (created)
				strv_push(created, xstrdup(sofar.ptr));
		} else if (fd < 0) {
			return kiln_err_errno(err, "open '%s'", sofar.ptr);
		}
		close(cur);
		cur = fd;
	}
	*ret_fd = TAKE_FD(cur);
	return 0;
}
