/* copy.c — COPY and ADD of local files with Docker's semantics: sources relative to the
 * context (or an earlier stage's root with --from), globs, directory contents, trailing-slash
 * rules, destination relative to WORKDIR, owner 0:0 unless --chown, --chmod, source mtimes
 * kept, existing directories left as they are, heredoc sources. */
#include "fsops.h"
#include "fs/extract.h"
#include "net/download.h"
#include "instr.h"
#include "sandbox/root.h"
#include "context/dockerignore.h"
#include "shell/shell.h"
#include "util/buf.h"
#include "util/forkguard.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/walk.h"
#include "util/xattr.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/sendfile.h>
#include <sys/xattr.h>
#include <sys/stat.h>
#include <unistd.h>

struct copy_ctx {
	struct stage *s;
	const struct df_instr *in;
	int srcfd;        /* context or stage root */
	const char *what; /* "build context" or "stage 'x'" for messages */
	uid_t uid;        /* (uid_t)-1: 0 */
	gid_t gid;
	bool chmod_set;
	mode_t chmod;
	char ***written; /* absolute paths in the destination root, for the layer */
	const struct dockerignore *ignore; /* .dockerignore, for context sources only */
	bool keep_owner;                   /* COPY --from: owners as in the source */
	/* sources with more than one link already copied: later names become hard links */
	struct copied_inode {
		dev_t dev;
		ino_t ino;
		char *dest;
	} * inodes;
	size_t n_inodes, cap_inodes;
	/* no later step reads the root: regular files go straight from the source into the
	 * layer (one read of each byte, no write to the disk) */
	bool stream;
	const char *src_top; /* the top-level source being copied, relative to srcfd */
	struct streamed *streamed;
	size_t n_streamed, cap_streamed;
	const struct dockerignore *exclude; /* --exclude patterns */
};

struct streamed {
	char *dest;   /* absolute in the destination root */
	char *source; /* relative to the source root (srcfd) */
	struct stat st;
	char *link_to; /* another name of the same file in this layer, or NULL */
};

static const char *inode_seen(struct copy_ctx *c, const struct stat *st)
{
	for (size_t i = 0; i < c->n_inodes; i++) {
		if (c->inodes[i].dev == st->st_dev && c->inodes[i].ino == st->st_ino)
			return c->inodes[i].dest;
	}
	return NULL;
}

static void inode_note(struct copy_ctx *c, const struct stat *st, const char *dest)
{
	XGROW(c->inodes, c->n_inodes + 1, c->cap_inodes);
	c->inodes[c->n_inodes++] =
	    (struct copied_inode){.dev = st->st_dev, .ino = st->st_ino, .dest = xstrdup(dest)};
}

/* copies the extended attributes (user.*, security.capability, ...) but the host's SELinux
 * label, as BuildKit's copy does; a filesystem that refuses them is not an error */
static void copy_xattrs(int from, int to)
{
	cleanup_free char *names = NULL;
	ssize_t n = xattr_list(from, NULL, &names);
	for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t)strlen(names + off) + 1) {
		const char *k = names + off;
		if (streq(k, "security.selinux"))
			continue;
		cleanup_free char *val = NULL;
		ssize_t vn = xattr_get(from, NULL, k, &val);
		if (vn >= 0)
			fsetxattr(to, k, val ? val : "", (size_t)vn, 0);
	}
}

static bool has_xattrs(int dirfd, const char *name)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d/", dirfd);
	cleanup_free char *path = xasprintf("%s%s", p, name);
	char names[256];
	ssize_t n = llistxattr(path, names, sizeof(names));
	return n > 0 || (n < 0 && errno == ERANGE);
}

/* what a copy_ctx owns: the inodes already copied and the streamed entries (every return of
 * instr_copy, error paths included, goes through it: cleanup attribute) */
static void copy_ctx_release(struct copy_ctx *c)
{
	for (size_t i = 0; i < c->n_inodes; i++)
		free(c->inodes[i].dest);
	free(c->inodes);
	c->inodes = NULL;
	c->n_inodes = c->cap_inodes = 0;
	for (size_t i = 0; i < c->n_streamed; i++) {
		free(c->streamed[i].dest);
		free(c->streamed[i].source);
		free(c->streamed[i].link_to);
	}
	free(c->streamed);
	c->streamed = NULL;
	c->n_streamed = c->cap_streamed = 0;
}

/* whether a source path (relative to the context or stage root, and relative to the source
 * being copied) is left out by .dockerignore or --exclude */
static bool excluded(const struct copy_ctx *c, const char *rel, const char *in_src)
{
	if (c->ignore && rel && dockerignore_match(c->ignore, rel))
		return true;
	if (c->exclude && ((rel && dockerignore_match(c->exclude, rel)) ||
	                   (in_src && dockerignore_match(c->exclude, in_src))))
		return true;
	return false;
}

/* an excluded directory must still be walked when an exception may re-include below it */
static bool descend_anyway(const struct copy_ctx *c, const char *rel)
{
	return c->ignore && rel && dockerignore_may_include_below(c->ignore, rel);
}

static const struct df_flag *flag_get(const struct df_instr *in, const char *name)
{
	for (size_t i = 0; i < in->n_flags; i++) {
		if (streq(in->flags[i].name, name))
			return &in->flags[i];
	}
	return NULL;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* Go's filepath.Match negates a class with '^' only; fnmatch also takes '!', so a leading '!'
 * in a class is moved to its end, where both read it literally */
static char *go_glob(const char *p)
{
	size_t n = strlen(p);
	char *out = xmalloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\' && i + 1 < n) {
			out[o++] = p[i++];
			out[o++] = p[i];
			continue;
		}
		if (p[i] == '[' && i + 1 < n && p[i + 1] == '!') {
			const char *close = strchr(p + i + 2, ']');
			if (close && close > p + i + 2) {
				size_t body = (size_t)(close - (p + i + 2));
				out[o++] = '[';
				memcpy(out + o, p + i + 2, body);
				o += body;
				out[o++] = '!';
				out[o++] = ']';
				i = (size_t)(close - p);
				continue;
			}
		}
		out[o++] = p[i];
	}
	out[o] = '\0';
	return out;
}

/* expands a source pattern relative to the source root into matching relative paths */
static int glob_expand(int rootfd, const char *prefix, const char *pattern, char ***out,
                       struct kiln_err **err)
{
	while (*pattern == '/')
		pattern++;
	if (!*pattern) {
		strv_push(out, xstrdup(*prefix ? prefix : "."));
		return 0;
	}
	const char *slash = strchr(pattern, '/');
	cleanup_free char *comp =
	    slash ? xstrndup(pattern, (size_t)(slash - pattern)) : xstrdup(pattern);
	const char *rest = slash ? slash + 1 : "";
	if (!has_glob(comp)) {
		cleanup_free char *next =
		    *prefix ? xasprintf("%s/%s", prefix, comp) : xstrdup(comp);
		struct stat st;
		int fd = root_open(rootfd, next, O_PATH);
		if (fd < 0)
			return 0;
		bool ok = fstat(fd, &st) == 0 && (!*rest || S_ISDIR(st.st_mode));
		close(fd);
		return ok ? glob_expand(rootfd, next, rest, out, err) : 0;
	}
	cleanup_close int dfd = root_open(rootfd, *prefix ? prefix : "", O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return 0;
	cleanup_strv char **all = NULL;
	int r = dir_list_names(dfd, *prefix ? prefix : ".", &all, err);
	if (r < 0)
		return r;
	cleanup_free char *go_class = go_glob(comp);
	cleanup_strv char **names = NULL;
	strv_foreach (candidate, all) {
		if (fnmatch(go_class, candidate, FNM_PATHNAME) == 0)
			strv_push(&names, xstrdup(candidate));
	}
	strv_foreach (name, names) {
		cleanup_free char *next =
		    *prefix ? xasprintf("%s/%s", prefix, name) : xstrdup(name);
		r = glob_expand(rootfd, next, rest, out, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* what is at a link-free path in the source root, for dockerignore_resolve */
static int source_lookup(void *ud, const char *path, char *buf, size_t size)
{
	const struct copy_ctx *c = ud;
	cleanup_close int fd = root_open(c->srcfd, path, O_PATH | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? DOCKERIGNORE_ENT_MISSING : -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return DOCKERIGNORE_ENT_DIR;
	if (!S_ISLNK(st.st_mode))
		return DOCKERIGNORE_ENT_OTHER;
	ssize_t n = readlinkat(fd, "", buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return DOCKERIGNORE_ENT_LINK;
}

static void note_written(struct copy_ctx *c, const char *abs)
{
	strv_push(c->written, xstrdup(abs));
}

static int apply_meta(struct copy_ctx *c, int dirfd, const char *name, const struct stat *src,
                      bool is_link, const char *abs, struct kiln_err **err)
{
	/* without --chown: 0:0 for context files (the client resets them), the source's owner
	 * for COPY --from (BuildKit changes owners only when asked) */
	uid_t uid = c->uid != (uid_t)-1 ? c->uid : c->keep_owner ? src->st_uid : 0;
	gid_t gid = c->gid != (gid_t)-1 ? c->gid : c->keep_owner ? src->st_gid : 0;
	if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return kiln_err_errno(err, "chown '%s'", abs);
	if (!is_link) {
		mode_t mode = c->chmod_set ? c->chmod : (src->st_mode & 07777);
		if (fchmodat(dirfd, name, mode, 0) < 0)
			return kiln_err_errno(err, "chmod '%s'", abs);
	}
	struct timespec ts[2] = {src->st_atim, src->st_mtim};
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return kiln_err_errno(err, "set times of '%s'", abs);
	return 0;
}

/* removes a non-directory that stands where we write; a directory in the way is an error */
static int clear_target(int dirfd, const char *name, bool want_dir, const char *abs,
                        struct kiln_err **err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : kiln_err_errno(err, "stat '%s'", abs);
	if (S_ISDIR(st.st_mode)) {
		if (want_dir)
			return 1; /* keep the existing directory as it is */
		return kiln_err_set(err, "cannot copy to '%s': it is a directory", abs);
	}
	if (unlinkat(dirfd, name, 0) < 0)
		return kiln_err_errno(err, "remove '%s'", abs);
	return 0;
}

static int copy_file_data(int from, int to, off_t size, const char *abs, struct kiln_err **err)
{
	off_t left = size;
	while (left > 0) {
		ssize_t n = copy_file_range(from, NULL, to, NULL, (size_t)left, 0);
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL))
			n = sendfile(to, from, NULL, (size_t)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return kiln_err_errno(err, "copy to '%s'", abs);
		}
		if (n == 0)
			break;
		left -= n;
	}
	return 0;
}

static int copy_entry(struct copy_ctx *c, int sdir, const char *sname, const struct stat *st,
                      int ddir, const char *dname, const char *abs, const char *rel,
                      const char *in_src, struct kiln_err **err);

struct copy_walk {
	struct copy_ctx *c;
	const char *abs, *rel, *in_src; /* of the directory whose contents are copied */
};

/* one entry of a copied directory; directories are created here and walked by walk_tree (no
 * recursion: a context thousands of levels deep needs neither stack nor a descriptor each) */
static int copy_visit(struct walk_entry *e, void *ud, struct kiln_err **err)
{
	struct copy_walk *w = ud;
	struct copy_ctx *c = w->c;
	cleanup_free char *cabs = path_join(w->abs, e->path);
	if (e->post) {
		if (e->tag)
			return WALK_NEXT; /* an existing directory is left as it is */
		note_written(c, cabs);
		return apply_meta(c, e->shadow_dirfd, e->name, &e->st, false, cabs, err);
	}
	cleanup_free char *crel =
	    w->rel ? (streq(w->rel, ".") ? xstrdup(e->path) : path_join(w->rel, e->path)) : NULL;
	cleanup_free char *csrc =
	    w->in_src && *w->in_src ? path_join(w->in_src, e->path) : xstrdup(e->path);
	if (excluded(c, crel, csrc) && !(S_ISDIR(e->st.st_mode) && descend_anyway(c, crel)))
		return WALK_NEXT;
	if (!S_ISDIR(e->st.st_mode)) {
		int r = copy_entry(c, e->dirfd, e->name, &e->st, e->shadow_dirfd, e->name, cabs,
		                   crel, csrc, err);
		return r < 0 ? r : WALK_NEXT;
	}
	int r = clear_target(e->shadow_dirfd, e->name, true, cabs, err);
	if (r < 0)
		return r;
	e->tag = r == 1;
	if (!e->tag && mkdirat(e->shadow_dirfd, e->name, 0700) < 0)
		return kiln_err_errno(err, "mkdir '%s'", cabs);
	return WALK_DESCEND;
}

static int copy_dir_contents(struct copy_ctx *c, int sfd, int dfd, const char *abs, const char *rel,
                             const char *in_src, struct kiln_err **err)
{
	struct copy_walk w = {.c = c, .abs = abs, .rel = rel, .in_src = in_src};
	struct walk_opts o = {.shadow_fd = dfd, .what = abs};
	return walk_tree(sfd, &o, copy_visit, &w, err);
}

static int copy_entry(struct copy_ctx *c, int sdir, const char *sname, const struct stat *st,
                      int ddir, const char *dname, const char *abs, const char *rel,
                      const char *in_src, struct kiln_err **err)
{
	int r = clear_target(ddir, dname, S_ISDIR(st->st_mode), abs, err);
	if (r < 0)
		return r;
	bool existed_dir = r == 1;
	if (S_ISDIR(st->st_mode)) {
		if (!existed_dir) {
			if (mkdirat(ddir, dname, 0700) < 0)
				return kiln_err_errno(err, "mkdir '%s'", abs);
		}
		cleanup_close int sfd =
		    openat(sdir, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		cleanup_close int dfd =
		    openat(ddir, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0 || dfd < 0)
			return kiln_err_errno(err, "open directory '%s'", abs);
		r = copy_dir_contents(c, sfd, dfd, abs, rel, in_src, err);
		if (r < 0)
			return r;
		if (!existed_dir) {
			note_written(c, abs);
			return apply_meta(c, ddir, dname, st, false, abs, err);
		}
		return 0;
	}
	if (S_ISLNK(st->st_mode)) {
		char target[4096];
		ssize_t n = readlinkat(sdir, sname, target, sizeof(target) - 1);
		if (n < 0)
			return kiln_err_errno(err, "readlink '%s'", sname);
		target[n] = '\0';
		if (symlinkat(target, ddir, dname) < 0)
			return kiln_err_errno(err, "symlink '%s'", abs);
		note_written(c, abs);
		return apply_meta(c, ddir, dname, st, true, abs, err);
	}
	const char *first = S_ISREG(st->st_mode) && st->st_nlink > 1 ? inode_seen(c, st) : NULL;
	if (first && !c->stream) {
		/* another name of a file this COPY already wrote: a hard link, as BuildKit keeps */
		cleanup_free char *rel_first = xstrdup(first + 1);
		if (linkat(c->s->rootfd, rel_first, ddir, dname, 0) < 0)
			return kiln_err_errno(err, "link '%s' to '%s'", abs, first);
		note_written(c, abs);
		return 0;
	}
	if (S_ISREG(st->st_mode) && c->stream && in_src && !first && !has_xattrs(sdir, sname)) {
		if (st->st_nlink > 1)
			inode_note(c, st, abs);
		XGROW(c->streamed, c->n_streamed + 1, c->cap_streamed);
		struct streamed *e = &c->streamed[c->n_streamed++];
		e->dest = xstrdup(abs);
		e->source = *c->src_top && !streq(c->src_top, ".") ? path_join(c->src_top, in_src)
		                                                   : xstrdup(in_src);
		e->st = *st;
		e->st.st_uid = c->uid != (uid_t)-1 ? c->uid : c->keep_owner ? st->st_uid : 0;
		e->st.st_gid = c->gid != (gid_t)-1 ? c->gid : c->keep_owner ? st->st_gid : 0;
		e->st.st_mode = S_IFREG | (c->chmod_set ? c->chmod : (st->st_mode & 07777));
		e->link_to = NULL;
		return 0;
	}
	if (first) {
		/* streamed: the layer holds this name as a hard link to the first one */
		XGROW(c->streamed, c->n_streamed + 1, c->cap_streamed);
		struct streamed *e = &c->streamed[c->n_streamed++];
		e->dest = xstrdup(abs);
		e->source = NULL;
		e->st = *st;
		e->link_to = xstrdup(first);
		return 0;
	}
	if (S_ISREG(st->st_mode)) {
		cleanup_close int from = openat(sdir, sname, O_RDONLY | O_CLOEXEC);
		if (from < 0)
			return kiln_err_errno(err, "open '%s'", sname);
		cleanup_guarded_close int to = forkguard_openat(
		    ddir, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (to < 0)
			return kiln_err_errno(err, "create '%s'", abs);
		r = copy_file_data(from, to, st->st_size, abs, err);
		if (r < 0)
			return r;
		if (st->st_nlink > 1)
			inode_note(c, st, abs);
		note_written(c, abs);
		r = apply_meta(c, ddir, dname, st, false, abs, err);
		if (r >= 0)
			copy_xattrs(from, to); /* after chown, which drops security.capability */
		return r;
	}
	if (S_ISFIFO(st->st_mode)) {
		if (mkfifoat(ddir, dname, st->st_mode & 07777) < 0)
			return kiln_err_errno(err, "mkfifo '%s'", abs);
		note_written(c, abs);
		return apply_meta(c, ddir, dname, st, false, abs, err);
	}
	log_warn("skipping '%s': sockets and device files are not copied", abs);
	return 0;
}

/* creates abs (replacing a non-directory there) with mode; ret_dirfd/ret_name address it */
static int create_dest_file(struct copy_ctx *c, const char *abs, mode_t mode, int *ret_dirfd,
                            char **ret_name, int *ret_fd, struct kiln_err **err);

/* the parent directory of abs inside the destination root, created as needed */
static int dest_parent(struct copy_ctx *c, const char *abs, int *ret_fd, char **ret_name,
                       struct kiln_err **err)
{
	cleanup_free char *dir = xstrdup(abs);
	char *slash = strrchr(dir, '/');
	*ret_name = xstrdup(slash + 1);
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return root_mkdir_p(c->s->rootfd, dir, 0755, c->uid, c->gid, c->written, ret_fd, err);
}

static int create_dest_file(struct copy_ctx *c, const char *abs, mode_t mode, int *ret_dirfd,
                            char **ret_name, int *ret_fd, struct kiln_err **err)
{
	cleanup_close int pfd = -1;
	cleanup_free char *name = NULL;
	int r = dest_parent(c, abs, &pfd, &name, err);
	if (r < 0)
		return r;
	r = clear_target(pfd, name, false, abs, err);
	if (r < 0)
		return r;
	/* the caller closes it with forkguard_close (cleanup_guarded_close) */
	int fd =
	    forkguard_openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return kiln_err_errno(err, "create '%s'", abs);
	*ret_fd = fd;
	*ret_dirfd = TAKE_FD(pfd);
	*ret_name = TAKE_PTR(name);
	return 0;
}

static int copy_heredocs(struct copy_ctx *c, const char *dest, bool dest_dir, struct kiln_err **err)
{
	struct stage *s = c->s;
	const struct df_instr *in = c->in;
	for (size_t i = 0; i < in->n_heredocs; i++) {
		const struct df_heredoc *h = &in->heredocs[i];
		cleanup_free char *abs = dest_dir ? path_join(dest, h->name) : xstrdup(dest);
		/* BuildKit removes the tabs of "<<-" first, then expands */
		cleanup_free char *body = df_heredoc_body(h);
		cleanup_free char *content = NULL;
		if (h->expand) {
			if (stage_expand(s, body, &content, err) < 0)
				return stage_err(s, in, err);
		} else {
			content = TAKE_PTR(body);
		}
		cleanup_close int pfd = -1;
		cleanup_guarded_close int fd = -1;
		cleanup_free char *name = NULL;
		int r = create_dest_file(c, abs, 0644, &pfd, &name, &fd, err);
		if (r < 0)
			return r;
		if (write_all(fd, content, strlen(content)) < 0)
			return kiln_err_errno(err, "write '%s'", abs);
		struct stat st = {.st_mode = S_IFREG | 0644};
		clock_gettime(CLOCK_REALTIME, &st.st_mtim);
		st.st_atim = st.st_mtim;
		note_written(c, abs);
		r = apply_meta(c, pfd, name, &st, false, abs, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int resolve_from(struct copy_ctx *c, const char *from, struct kiln_err **err)
{
	struct stage *s = c->s;
	char *end = NULL;
	long idx = strtol(from, &end, 10);
	for (size_t i = 0; i < s->n_stages; i++) {
		struct stage *o = s->stages[i];
		bool match = (*end == '\0' && end != from)
		                 ? o->index == idx
		                 : (o->name && !strcasecmp(o->name, from));
		if (match) {
			if (o->rootfd < 0)
				return kiln_err_set(err, "stage '%s' has no filesystem", from);
			c->srcfd = o->rootfd;
			return 0;
		}
	}
	/* an image reference: the driver pulled and unpacked it before the build */
	for (size_t i = 0; i < s->n_images; i++) {
		struct stage *o = s->images[i];
		if (o->name && streq(o->name, from) && o->rootfd >= 0) {
			c->srcfd = o->rootfd;
			return 0;
		}
	}
	return kiln_err_set(err,
	                    "COPY --from='%s': no earlier stage has that name or index, and it "
	                    "names no image kiln could pull",
	                    from);
}

static int cmp_streamed(const void *a, const void *b)
{
	return strcmp(((const struct streamed *)a)->dest, ((const struct streamed *)b)->dest);
}

/* one layer from what was written into the root (directories, links) and what was streamed,
 * merged in path order */
static int commit_streamed(struct copy_ctx *c, char **written, const char *created_by,
                           struct kiln_err **err)
{
	struct stage *s = c->s;
	/* the directories the streamed and written names were made in go into the layer too */
	size_t n0 = strv_length(written);
	cleanup_free const char **all = xreallocarray(NULL, n0 + c->n_streamed, sizeof(*all));
	for (size_t i = 0; i < n0; i++)
		all[i] = written[i];
	for (size_t i = 0; i < c->n_streamed; i++)
		all[n0 + i] = c->streamed[i].dest;
	char **touched = stage_touched_dirs(s, all, n0 + c->n_streamed);
	for (size_t i = 0; touched && touched[i]; i++)
		strv_push(c->written, touched[i]);
	free(touched); /* its strings now belong to *c->written */
	written = *c->written;
	size_t nw = strv_length(written);
	if (nw > 1)
		qsort(written, nw, sizeof(char *), cmp_strp);
	qsort(c->streamed, c->n_streamed, sizeof(*c->streamed), cmp_streamed);
	log_info("Taking snapshot of files... (%zu streamed straight into the layer: no later step "
	         "reads the root)",
	         c->n_streamed);
	_cleanup_(layer_writer_freep) struct layer_writer *lw = NULL;
	int r = layer_writer_new(s->bs, s->compression, s->compression_level, &lw, err);
	if (r < 0)
		return r;
	layer_writer_set_times(lw, s->reproducible, s->source_date_epoch);
	size_t i = 0, j = 0;
	const char *prev = NULL;
	while (r >= 0 && (i < nw || j < c->n_streamed)) {
		bool take_root =
		    j == c->n_streamed || (i < nw && strcmp(written[i], c->streamed[j].dest) < 0);
		if (take_root) {
			if (!prev || !streq(prev, written[i]))
				r = layer_writer_add_path(lw, s->rootfd, written[i], err);
			prev = written[i++];
			continue;
		}
		struct streamed *e = &c->streamed[j++];
		if (e->link_to) {
			r = layer_writer_add_entry(lw, e->dest, &e->st, e->link_to, -1, err);
			prev = e->dest;
			continue;
		}
		cleanup_close int fd = root_open(c->srcfd, e->source, O_RDONLY);
		if (fd < 0) {
			r = kiln_err_errno(err, "open '%s'", e->source);
			break;
		}
		r = layer_writer_add_entry(lw, e->dest, &e->st, NULL, fd, err);
		prev = e->dest;
	}
	if (r < 0)
		return r;
	return stage_finish_layer(s, lw, created_by, err);
}

static bool is_url(const char *w)
{
	return startswith(w, "http://") || startswith(w, "https://");
}

/* ADD <url>: Docker's rules: the URL's file name under a directory destination, mode 0600
 * (or --chmod), owner 0:0 (or --chown), mtime from Last-Modified; --checksum verified before
 * the file counts */
static int add_url(struct copy_ctx *c, const char *url, const char *dest, bool dest_dir,
                   const struct df_flag *checksum, struct kiln_err **err)
{
	struct stage *s = c->s;
	cleanup_free char *path = xstrndup(url, strcspn(url, "?#"));
	const char *after_host = strchr(strstr(path, "://") + 3, '/');
	const char *base = after_host ? strrchr(after_host, '/') + 1 : "";
	if (dest_dir && !*base)
		return kiln_err_set(err,
		                    "ADD '%s': cannot determine a file name from the URL; give "
		                    "a destination file name",
		                    url);
	cleanup_free char *abs = dest_dir ? path_join(dest, base) : xstrdup(dest);
	cleanup_close int pfd = -1;
	cleanup_guarded_close int fd = -1;
	cleanup_free char *name = NULL;
	int r = create_dest_file(c, abs, 0600, &pfd, &name, &fd, err);
	if (r < 0)
		return r;
	log_info("Adding remote URL %s to %s", path, abs);
	struct download_info info;
	r = download_url(url, fd, "kiln", (const char *const *)s->ca_files, &info, err);
	if (r >= 0 && checksum && checksum->value) {
		cleanup_free char *want = NULL;
		r = stage_expand(s, checksum->value, &want, err);
		if (r >= 0 && !streq(want, info.digest))
			r = kiln_err_set(err, "ADD '%s': checksum mismatch: expected %s, got %s",
			                 path, want, info.digest);
	}
	if (r < 0) {
		unlinkat(pfd, name, 0);
		return r;
	}
	struct stat st = {.st_mode = S_IFREG | 0600};
	if (info.last_modified > 0)
		st.st_mtim.tv_sec = info.last_modified;
	else
		clock_gettime(CLOCK_REALTIME, &st.st_mtim);
	st.st_atim = st.st_mtim;
	note_written(c, abs);
	return apply_meta(c, pfd, name, &st, false, abs, err);
}

int instr_copy(struct stage *s, const struct df_instr *in, struct kiln_err **err)
{
	cleanup_strv char **written = NULL;
	_cleanup_(copy_ctx_release) struct copy_ctx c = {
	    .stream = s->nothing_reads_root && !s->single_snapshot && !s->inplace,
	    .s = s,
	    .in = in,
	    .srcfd = -1,
	    .uid = (uid_t)-1,
	    .gid = (gid_t)-1,
	    .written = &written};
	cleanup_close int ctxfd = -1;
	int r = 0;
	for (size_t i = 0; i < in->n_flags; i++) {
		const char *n = in->flags[i].name;
		if (!streq(n, "from") && !streq(n, "chown") && !streq(n, "chmod") &&
		    !streq(n, "link") && !streq(n, "exclude") &&
		    !(streq(n, "checksum") && in->cmd[0] == 'a') &&
		    !(streq(n, "parents") && in->cmd[0] == 'c'))
			return kiln_err_set(err, "%s:%d: %s --%s is not implemented yet in kiln",
			                    s->dockerfile_path, in->start_line, in->cmd, n);
	}
	const struct df_flag *from = flag_get(in, "from");
	/* --link only changes how BuildKit caches the layer; the layer's content is the same */
	bool parents = flag_get(in, "parents") != NULL;
	cleanup_dockerignore struct dockerignore *exclude = NULL;
	{
		cleanup_buf struct kiln_buf pat = KILN_BUF_INIT;
		for (size_t i = 0; i < in->n_flags; i++) {
			if (streq(in->flags[i].name, "exclude") && in->flags[i].value) {
				cleanup_free char *v = NULL;
				if (stage_expand(s, in->flags[i].value, &v, err) < 0)
					return stage_err(s, in, err);
				kiln_buf_addf(&pat, "%s\n", v);
			}
		}
		if (pat.len && dockerignore_parse("--exclude", pat.ptr, pat.len, &exclude, err) < 0)
			return stage_err(s, in, err);
	}
	c.exclude = exclude;
	const struct df_flag *chown = flag_get(in, "chown");
	const struct df_flag *chmod = flag_get(in, "chmod");
	if (chown && chown->value && *chown->value) {
		cleanup_free char *spec = NULL;
		if (stage_expand(s, chown->value, &spec, err) < 0)
			return stage_err(s, in, err);
		struct sandbox_user u = {0};
		if (sandbox_user_resolve(s->rootfd, spec, &u, err) < 0)
			return stage_err(s, in, err);
		c.uid = u.uid;
		c.gid = strchr(spec, ':') ? u.gid : (u.name ? u.gid : u.uid);
		sandbox_user_release(&u);
	}
	if (chmod && chmod->value) {
		char *end = NULL;
		unsigned long m = strtoul(chmod->value, &end, 8);
		if (!*chmod->value || *end || m > 07777)
			return kiln_err_set(err,
			                    "%s:%d: invalid --chmod value '%s' (octal expected)",
			                    s->dockerfile_path, in->start_line, chmod->value);
		c.chmod_set = true;
		c.chmod = (mode_t)m;
	}

	/* expanded words: sources..., destination */
	cleanup_strv char **words = NULL;
	strv_foreach (a, in->args) {
		char *w = NULL;
		if (stage_expand(s, a, &w, err) < 0)
			return stage_err(s, in, err);
		strv_push(&words, w);
	}
	size_t nw = strv_length(words);
	if (nw < 1 || (nw < 2 && in->n_heredocs == 0))
		return kiln_err_set(err,
		                    "%s:%d: %s requires at least two arguments, but only one "
		                    "was provided. Destination could not be determined",
		                    s->dockerfile_path, in->start_line,
		                    in->cmd[0] == 'a' ? "ADD" : "COPY");
	const char *dest_raw = words[nw - 1];
	json_t *cfg = image_config_container(s->config);
	const char *wd = kjson_str(cfg, "WorkingDir");
	cleanup_free char *joined =
	    dest_raw[0] == '/' ? xstrdup(dest_raw) : path_join(wd && *wd ? wd : "/", dest_raw);
	cleanup_free char *dest = path_clean(joined);
	size_t dl = strlen(dest_raw);
	/* BuildKit: a trailing '/' or exactly "." (an existing directory, below) */
	bool dest_dir = dl > 0 && (dest_raw[dl - 1] == '/' || streq(dest_raw, "."));
	{
		struct stat st;
		int fd = root_open(s->rootfd, dest + 1, O_PATH);
		if (fd >= 0) {
			if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
				dest_dir = true;
			close(fd);
		}
	}

	if (in->n_heredocs) {
		r = copy_heredocs(&c, dest, dest_dir || in->n_heredocs > 1, err);
		if (r < 0)
			return r;
		cleanup_free char *created_by = xasprintf("%s # buildkit", in->original);
		return stage_commit_paths(s, written, created_by, err);
	}

	if (from && from->value) {
		cleanup_free char *fv = NULL;
		if (stage_expand(s, from->value, &fv, err) < 0)
			return stage_err(s, in, err);
		r = resolve_from(&c, fv, err);
		if (r < 0)
			return stage_err(s, in, err);
		c.what = "stage";
		c.keep_owner = true;
	} else {
		ctxfd = open(s->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (ctxfd < 0)
			return kiln_err_errno(err, "open context '%s'", s->context);
		c.srcfd = ctxfd;
		c.what = "build context";
		c.ignore = s->dockerignore;
	}

	bool is_add = in->cmd[0] == 'a';
	const struct df_flag *checksum = flag_get(in, "checksum");
	size_t n_urls = 0;
	for (size_t i = 0; is_add && i + 1 < nw; i++) {
		if (startswith(words[i], "git@") || strstr(words[i], ".git#"))
			return kiln_err_set(
			    err,
			    "%s:%d: ADD of a git repository ('%s') is not implemented "
			    "yet in kiln",
			    s->dockerfile_path, in->start_line, words[i]);
		if (!is_url(words[i]))
			continue;
		n_urls++;
		r = add_url(&c, words[i], dest, dest_dir || nw > 2, checksum, err);
		if (r < 0)
			return stage_err(s, in, err);
	}
	if (checksum && n_urls == 0)
		return kiln_err_set(err, "%s:%d: ADD --checksum needs a URL source",
		                    s->dockerfile_path, in->start_line);
	if (n_urls == nw - 1) {
		cleanup_free char *created_by = xasprintf("%s # buildkit", in->original);
		return stage_commit_paths(s, written, created_by, err);
	}
	/* ADD unpacks local archives: their content is found by diffing the root, so the index
	 * must describe the root before anything is written */
	bool unpacked = false;
	if (is_add && !from) {
		r = stage_index_sync(s, err);
		if (r < 0)
			return r;
	}
	cleanup_strv char **sources = NULL;
	cleanup_strv char **pivots = NULL;   /* per source: the prefix --parents drops */
	cleanup_strv char **resolved = NULL; /* per source: its path with links resolved */
	for (size_t i = 0; i + 1 < nw; i++) {
		if (is_add && is_url(words[i]))
			continue;
		/* the source is cleaned inside its root, as BuildKit does: "../x" is "x" and
		 * "/a/../../b" is "b" (then not found when absent), never the whole root */
		cleanup_free char *rooted = xasprintf("/%s", words[i]);
		cleanup_free char *clean = path_clean(rooted);
		const char *pv = strstr(words[i], "/./");
		cleanup_free char *pivot_raw =
		    pv ? xstrndup(words[i], (size_t)(pv - words[i])) : NULL;
		cleanup_free char *pivot = pivot_raw ? path_clean(pivot_raw) : xstrdup("");
		if (streq(pivot, ".") || streq(pivot, "/"))
			pivot[0] = '\0';
		const char *rel = clean + 1;
		if (strlen(rel) > LIMIT_PATH) /* and glob_expand recurses once per component */
			return kiln_err_set(err, "%s:%d: %s source longer than %u bytes",
			                    s->dockerfile_path, in->start_line,
			                    is_add ? "ADD" : "COPY", LIMIT_PATH);
		size_t before = strv_length(sources);
		bool glob = has_glob(rel);
		if (glob) {
			r = glob_expand(c.srcfd, "", rel, &sources, err);
			if (r < 0)
				return stage_err(s, in, err);
		} else {
			strv_push(&sources, xstrdup(*rel ? rel : "."));
		}
		/* drop what .dockerignore or --exclude leaves out (an explicit name too). Links
		 * are resolved inside the root with the ignore rules applied to every path the
		 * lookup reaches: what .dockerignore leaves out is not there, whichever way it is
		 * reached */
		size_t kept = before;
		for (size_t k = before; sources && sources[k]; k++) {
			char *res = NULL;
			int rr = streq(sources[k], ".")
			             ? (res = xstrdup(""), 0)
			             : dockerignore_resolve(c.ignore, sources[k], true,
			                                    source_lookup, &c, &res);
			if (rr == -ENOENT || rr == -ENOTDIR ||
			    (rr >= 0 && c.exclude && dockerignore_match(c.exclude, sources[k]))) {
				free(res);
				free(sources[k]);
				continue;
			}
			if (rr < 0)
				return kiln_err_errnum(err, -rr, "%s:%d: %s failed: '%s' in %s",
				                       s->dockerfile_path, in->start_line,
				                       is_add ? "ADD" : "COPY", sources[k], c.what);
			sources[kept++] = sources[k];
			strv_push(&resolved, res);
		}
		if (sources)
			sources[kept] = NULL;
		while (strv_length(pivots) < kept)
			strv_push(&pivots, xstrdup(pivot + (pivot[0] == '/')));
		/* BuildKit allows a wildcard to match nothing (even every wildcard of the
		 * instruction: then nothing is copied and no destination is made); a name
		 * without one must exist */
		if (kept == before && glob)
			log_warn("%s:%d: %s: no source file matches '%s'", s->dockerfile_path,
			         in->start_line, in->cmd[0] == 'a' ? "ADD" : "COPY", words[i]);
		else if (kept == before)
			return kiln_err_set(err,
			                    "%s:%d: %s failed: file not found in %s or excluded by "
			                    ".dockerignore: '%s'",
			                    s->dockerfile_path, in->start_line,
			                    in->cmd[0] == 'a' ? "ADD" : "COPY", c.what, words[i]);
	}
	size_t ns = strv_length(sources);
	if (parents)
		dest_dir = true;
	if (ns + n_urls > 1 && !dest_dir)
		return kiln_err_set(err,
		                    "%s:%d: When using %s with more than one source file, the "
		                    "destination must be a directory and end with a /",
		                    s->dockerfile_path, in->start_line,
		                    in->cmd[0] == 'a' ? "ADD" : "COPY");

	for (size_t i = 0; i < ns; i++) {
		const char *src = sources[i];
		/* top-level sources are followed through symlinks (inside their root), as Docker */
		const char *res = resolved[i];
		cleanup_close int sfd = root_open(c.srcfd, res, O_PATH);
		struct stat st;
		if (sfd < 0 || fstat(sfd, &st) < 0) {
			return kiln_err_errno(err,
			                      "%s:%d: %s failed: file not found in %s: stat %s",
			                      s->dockerfile_path, in->start_line,
			                      in->cmd[0] == 'a' ? "ADD" : "COPY", c.what, src);
		}
		/* --parents keeps the source's path (after a "/./" pivot) under the destination */
		const char *kept_path = src;
		if (parents) {
			size_t pl = strlen(pivots[i]);
			if (pl && strneq(src, pivots[i], pl) && src[pl] == '/')
				kept_path = src + pl + 1;
		}
		cleanup_free char *target =
		    parents && !streq(kept_path, ".") ? path_join(dest, kept_path) : xstrdup(dest);
		cleanup_free char *pp = xasprintf("/proc/self/fd/%d", sfd);
		c.src_top = res;
		if (S_ISDIR(st.st_mode)) {
			cleanup_close int dfd = -1;
			r = root_mkdir_p(s->rootfd, target, 0755, c.uid, c.gid, c.written, &dfd,
			                 err);
			if (r < 0)
				break;
			cleanup_close int rd = open(pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (rd < 0) {
				r = kiln_err_errno(err, "open '%s'", src);
				break;
			}
			r = copy_dir_contents(&c, rd, dfd, target,
			                      c.ignore ? (*res ? res : ".") : NULL, "", err);
		} else {
			const char *base = strrchr(src, '/');
			base = base ? base + 1 : src;
			cleanup_free char *abs = parents    ? xstrdup(target)
			                         : dest_dir ? path_join(dest, base)
			                                    : xstrdup(dest);
			cleanup_close int pfd = -1;
			cleanup_free char *name = NULL;
			r = dest_parent(&c, abs, &pfd, &name, err);
			if (r < 0)
				break;
			/* copy_entry reads through a directory fd and a name: use the magic link */
			cleanup_close int procfd =
			    open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			cleanup_free char *fdname = xasprintf("%d", sfd);
			struct stat fst = st;
			cleanup_close int probe = -1;
			if (is_add && !from && S_ISREG(st.st_mode) &&
			    (probe = open(pp, O_RDONLY | O_CLOEXEC)) >= 0 &&
			    fs_is_tar_archive(probe)) {
				/* a local tar (plain, gz, bz2, xz, zstd) is unpacked at the destination
				 * with its own owners and modes, confined to that directory */
				cleanup_free char *dir = dest_dir ? xstrdup(dest) : xstrdup(abs);
				cleanup_close int dfd = -1;
				r = root_mkdir_p(s->rootfd, dir, 0755, c.uid, c.gid, c.written,
				                 &dfd, err);
				if (r >= 0) {
					log_info("Unpacking local tar archive %s to %s", src, dir);
					struct extract_opts eo = {.no_chown = geteuid() != 0,
					                          .keep_root_meta = true};
					r = fs_extract_layer(dfd, probe, src, &eo, err);
				}
				unpacked = true;
			} else if (S_ISREG(st.st_mode)) {
				r = clear_target(pfd, name, false, abs, err);
				if (r >= 0) {
					cleanup_close int from_fd = open(pp, O_RDONLY | O_CLOEXEC);
					cleanup_guarded_close int to = forkguard_openat(
					    pfd, name,
					    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
					    0600);
					if (from_fd < 0 || to < 0)
						r = kiln_err_errno(err, "copy '%s' to '%s'", src,
						                   abs);
					else
						r = copy_file_data(from_fd, to, st.st_size, abs,
						                   err);
					if (r >= 0) {
						note_written(&c, abs);
						r = apply_meta(&c, pfd, name, &fst, false, abs,
						               err);
					}
					if (r >= 0)
						copy_xattrs(from_fd, to);
				}
			} else {
				r = copy_entry(&c, procfd, fdname, &fst, pfd, name, abs, NULL, NULL,
				               err);
			}
		}
		if (r < 0)
			break;
	}
	if (r < 0)
		return stage_err(s, in, err);
	cleanup_free char *created_by = xasprintf("%s # buildkit", in->original);
	if (unpacked)
		r = stage_commit_diff(s, created_by, err);
	else if (c.n_streamed)
		r = commit_streamed(&c, written, created_by, err);
	else
		r = stage_commit_paths(s, written, created_by, err);
	return r;
}

bool instr_needs_root(const struct df_instr *in)
{
	return streq(in->cmd, "run") || streq(in->cmd, "copy") || streq(in->cmd, "add") ||
	       streq(in->cmd, "workdir");
}
