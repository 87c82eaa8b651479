/* fsutil.c — file helpers shared by every module. */
#include "fsutil.h"
#include "walk.h"
#include "buf.h"
#include "xalloc.h"

#include <dirent.h>
#include <stdbool.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int copy_fd(int in, int out, bool *ret_write_failed)
{
	char buf[1 << 16];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*ret_write_failed = false;
			return -errno;
		}
		if (n == 0)
			return 0;
		int r = write_all(out, buf, (size_t)n);
		if (r < 0) {
			*ret_write_failed = true;
			return r;
		}
	}
}

int read_fd_all(int fd, const char *what, size_t max, char **ret, size_t *ret_len,
                struct kiln_err **err)
{
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT_MAX(max);
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return kiln_err_errno(err, "read '%s'", what);
		}
		if (n == 0)
			break;
		int r = kiln_buf_try_add(&b, chunk, (size_t)n, what, err);
		if (r < 0)
			return r;
	}
	*ret = kiln_buf_detach(&b, ret_len);
	return 0;
}

int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len,
                 struct kiln_err **err)
{
	cleanup_close int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_errno(err, "open '%s'", path);
	return read_fd_all(fd, path, max, ret, ret_len, err);
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      struct kiln_err **err)
{
	cleanup_free char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return kiln_err_errno(err, "create '%s'", tmp);
	int r = write_all(fd, data, len);
	if (r < 0) {
		unlink(tmp);
		return kiln_err_errnum(err, -r, "write '%s'", tmp);
	}
	if (fchmod(fd, mode) < 0 || close(TAKE_FD(fd)) < 0) {
		int e = errno;
		unlink(tmp);
		return kiln_err_errnum(err, e, "write '%s'", tmp);
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return kiln_err_errnum(err, e, "rename '%s'", path);
	}
	return 0;
}

int mkdir_p(const char *path, mode_t mode, struct kiln_err **err)
{
	cleanup_free char *p = xstrdup(path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	for (char *s = p + 1;; s++) {
		char c = *s;
		if (c == '/' || c == '\0') {
			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST)
				return kiln_err_errno(err, "mkdir '%s'", p);
			*s = c;
		}
		if (c == '\0')
			break;
	}
	struct stat st;
	if (stat(p, &st) < 0)
		return kiln_err_errno(err, "stat '%s'", p);
	if (!S_ISDIR(st.st_mode))
		return kiln_err_errnum(err, ENOTDIR, "mkdir '%s'", p);
	return 0;
}

/* the walk's visits for rm_rf_at: files as they come, directories once emptied */
static int rm_visit(struct walk_entry *e, void *ud, struct kiln_err **err)
{
	(void)ud;
	if (!e->post && S_ISDIR(e->st.st_mode))
		return WALK_DESCEND;
	if (unlinkat(e->dirfd, e->name, e->post ? AT_REMOVEDIR : 0) < 0 && errno != ENOENT)
		return kiln_err_errno(err, "remove '%s'", e->path);
	return WALK_NEXT;
}

int rm_rf_at(int dirfd, const char *name, struct kiln_err **err)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return kiln_err_errno(err, "remove '%s'", name);
	cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_errno(err, "open '%s'", name);
	/* iterative: a tree of any depth, a bounded number of descriptors */
	struct walk_opts o = {.shadow_fd = -1, .what = name};
	int r = walk_tree(fd, &o, rm_visit, NULL, err);
	if (r < 0)
		return r;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return kiln_err_errno(err, "rmdir '%s'", name);
	return 0;
}

int rm_rf(const char *path, struct kiln_err **err)
{
	return rm_rf_at(AT_FDCWD, path, err);
}

char *path_join(const char *a, const char *b)
{
	size_t al = strlen(a);
	while (al > 0 && a[al - 1] == '/')
		al--;
	while (*b == '/')
		b++;
	if (!*b)
		return al ? xstrndup(a, al) : xstrdup("/");
	return xasprintf("%.*s/%s", (int)al, a, b);
}

char *path_clean(const char *p)
{
	bool abs = *p == '/';
	size_t n = strlen(p);
	char *out = xmalloc(n + 2);
	size_t o = 0;
	if (abs)
		out[o++] = '/';
	size_t base = o; /* ".." may not climb above this point */
	const char *s = p;
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if (len == 1 && s[0] == '.') {
			/* skip */
		} else if (len == 2 && s[0] == '.' && s[1] == '.') {
			if (o > base) {
				while (o > base && out[o - 1] != '/')
					o--;
				if (o > base)
					o--;
				/* a relative path made only of ".." keeps them */
			} else if (!abs) {
				if (o > 0)
					out[o++] = '/';
				out[o++] = '.';
				out[o++] = '.';
				base = o;
			}
		} else {
			if (o > 0 && out[o - 1] != '/')
				out[o++] = '/';
			memcpy(out + o, s, len);
			o += len;
		}
		s += len;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	return out;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int dir_list_names(int fd, const char *what, char ***ret, struct kiln_err **err)
{
	int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dupfd >= 0 ? fdopendir(dupfd) : NULL;
	if (!d) {
		int e = errno;
		if (dupfd >= 0)
			close(dupfd);
		return kiln_err_errnum(err, e, "read directory '%s'", what);
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		XGROW(names, n + 2, cap);
		names[n++] = xstrdup(de->d_name);
		names[n] = NULL;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(char *), cmp_names);
	*ret = names ? names : xcalloc(1, sizeof(char *));
	return 0;
}
