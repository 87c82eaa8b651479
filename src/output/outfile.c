/* outfile.c — where an output file (--digest-file, --image-name-*-with-digest-file,
 * --tar-path) goes. A regular file kiln creates or owns is replaced atomically (a temporary
 * file in the same directory, renamed over it), so that no reader ever sees half of it. But
 * in CI the target is often not kiln's to replace: Kubernetes and Tekton bind-mount a file at
 * /dev/termination-log (rename onto a mount point fails with EBUSY), /dev/stderr is a symlink
 * to /proc/self/fd/2 (a rename would replace the link with a regular file), a fifo or a
 * character device has no "atomic" at all. Those are written in place, as open(O_TRUNC) and
 * write, through symlinks. */
#include "output.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* a standard stream named by path (/dev/stdout, /dev/fd/2, /proc/self/fd/1...): its number,
 * or -1. Writing to kiln's own descriptor keeps its offset and append mode (a log that
 * stderr is redirected to is appended to, not truncated by a reopen). */
static int std_fd(const char *path)
{
	if (streq(path, "/dev/stdout"))
		return 1;
	if (streq(path, "/dev/stderr"))
		return 2;
	const char *n = NULL;
	if (startswith(path, "/dev/fd/"))
		n = path + STRLEN("/dev/fd/");
	else if (startswith(path, "/proc/self/fd/"))
		n = path + STRLEN("/proc/self/fd/");
	if (n && (streq(n, "1") || streq(n, "2")))
		return n[0] - '0';
	return -1;
}

/* whether path is a mount point of its own (a bind-mounted file): its mount id differs from
 * its directory's */
static bool is_mount_point(const char *path)
{
	struct statx a, b;
	if (statx(AT_FDCWD, path, 0, STATX_MNT_ID, &a) < 0 || !(a.stx_mask & STATX_MNT_ID))
		return false;
	cleanup_free char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return false;
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (statx(AT_FDCWD, dir, 0, STATX_MNT_ID, &b) < 0 || !(b.stx_mask & STATX_MNT_ID))
		return false;
	return a.stx_mnt_id != b.stx_mnt_id;
}

static int open_in_place(struct output_file *f, const char *target, struct kiln_err **err)
{
	f->fd = open(target, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	if (f->fd < 0)
		return kiln_err_errno(err, "open '%s'", f->path);
	f->in_place = true;
	return 0;
}

int output_file_open(const char *path, struct output_file *f, struct kiln_err **err)
{
	*f = (struct output_file){.path = xstrdup(path), .fd = -1};
	int s = std_fd(path);
	if (s >= 0) {
		f->fd = fcntl(s, F_DUPFD_CLOEXEC, 3);
		if (f->fd < 0)
			return kiln_err_errno(err, "'%s'", path);
		f->in_place = true;
		return 0;
	}
	/* through symlinks: the link stays, its target gets the content */
	cleanup_free char *target = realpath(path, NULL);
	struct stat st;
	if (target && stat(target, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return kiln_err_errnum(err, EISDIR, "'%s'", path);
		if (!S_ISREG(st.st_mode) || is_mount_point(target))
			return open_in_place(f, target, err);
	} else if (!target) {
		/* not there yet: kaniko creates the parent directories (0700) */
		cleanup_free char *dir = xstrdup(path);
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			struct stat ds;
			if (stat(dir, &ds) < 0) {
				int r = mkdir_p(dir, 0700, err);
				if (r < 0)
					return kiln_err_wrap(err, "'%s'", path);
			}
		}
		/* a dangling symlink: its target is created, the link stays */
		struct stat ls;
		if (lstat(path, &ls) == 0 && S_ISLNK(ls.st_mode)) {
			f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (f->fd < 0)
				return kiln_err_errno(err, "create '%s'", path);
			f->in_place = true;
			return 0;
		}
		target = xstrdup(path);
	}
	/* a regular file kiln may replace: atomically */
	f->final = TAKE_PTR(target);
	f->tmp = xasprintf("%s.tmp.%d", f->final, (int)getpid());
	f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (f->fd >= 0)
		return 0;
	int e = errno;
	free(f->tmp);
	f->tmp = NULL;
	/* a directory kiln may not create files in, but the file itself is writable */
	if ((e == EACCES || e == EROFS || e == EPERM) && access(f->final, W_OK) == 0)
		return open_in_place(f, f->final, err);
	return kiln_err_errnum(err, e, "create '%s'", path);
}

static int copy_in_place(struct output_file *f, struct kiln_err **err)
{
	cleanup_close int in = open(f->tmp, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return kiln_err_errno(err, "read '%s'", f->tmp);
	cleanup_close int out = open(f->final, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	if (out < 0)
		return kiln_err_errno(err, "open '%s'", f->path);
	bool wfail;
	int r = copy_fd(in, out, &wfail);
	if (r < 0)
		return wfail ? kiln_err_errnum(err, -r, "write '%s'", f->path)
		             : kiln_err_errnum(err, -r, "read '%s'", f->tmp);
	if (close(TAKE_FD(out)) < 0)
		return kiln_err_errno(err, "write '%s'", f->path);
	return 0;
}

int output_file_commit(struct output_file *f, struct kiln_err **err)
{
	int fd = f->fd;
	f->fd = -1;
	if (f->in_place) {
		if (fd >= 0 && close(fd) < 0)
			return kiln_err_errno(err, "write '%s'", f->path);
		return 0;
	}
	if (fchmod(fd, 0644) < 0 || close(fd) < 0) {
		int e = errno;
		unlink(f->tmp);
		return kiln_err_errnum(err, e, "write '%s'", f->path);
	}
	int r = 0;
	if (rename(f->tmp, f->final) < 0) {
		int e = errno;
		/* a mount point after all (one the mount id check could not see): the content
		 * goes in place */
		if (e == EBUSY || e == EXDEV)
			r = copy_in_place(f, err);
		else
			r = kiln_err_errnum(err, e, "rename '%s'", f->path);
		unlink(f->tmp);
	}
	free(f->tmp);
	f->tmp = NULL;
	return r;
}

void output_file_release(struct output_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmp)
		unlink(f->tmp);
	free(f->tmp);
	free(f->final);
	free(f->path);
	*f = (struct output_file){.fd = -1};
}
