/* copy.c — the COPY and ADD engine, with Docker's semantics: the instruction's flow (parsed
 * spec, expansion, destination relative to WORKDIR with the trailing-slash rules), the copy of
 * files, links and trees (owner 0:0 unless --chown or --from, --chmod, source mtimes and xattrs
 * kept, existing directories left as they are, hard links kept), heredoc files and the layer
 * (streamed straight from the source when no later step reads the root). Sources are resolved
 * in copysrc.c; ADD's URLs and archives are in add.c. */
#include "copy.h"
#include "fsops.h"
#include "context/dockerignore.h"
#include "sandbox/root.h"
#include "shell/shell.h"
#include "util/buf.h"
#include "util/forkguard.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/walk.h"
#include "util/xattr.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/sendfile.h>
#include <sys/xattr.h>
#include <sys/stat.h>
#include <unistd.h>

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
	c->written = strv_free(c->written);
	c->exclude = dockerignore_free(c->exclude);
	if (c->ctxfd >= 0)
		close(c->ctxfd);
	c->ctxfd = -1;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void note_written(struct copy_ctx *c, const char *abs)
{
	strv_push(&c->written, xstrdup(abs));
}

int apply_meta(struct copy_ctx *c, int dirfd, const char *name, const struct stat *src,
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

/* a regular file's bytes, owner, mode, times and xattrs: from is the source open for reading,
 * to the new file (ddir, dname) open for writing */
static int copy_regular(struct copy_ctx *c, int from, int to, int ddir, const char *dname,
                        const struct stat *st, const char *abs, struct kiln_err **err)
{
	int r = copy_file_data(from, to, st->st_size, abs, err);
	if (r < 0)
		return r;
	note_written(c, abs);
	r = apply_meta(c, ddir, dname, st, false, abs, err);
	if (r < 0)
		return r;
	copy_xattrs(from, to); /* after chown, which drops security.capability */
	return 0;
}

/* a regular file that goes into the layer from the source, not through the root: the entry
 * with the owner and mode it would have had, or, for another name of a file already streamed
 * (first), a hard link to it */
static void stream_entry(struct copy_ctx *c, const struct stat *st, const char *abs,
                         const char *in_src, const char *first)
{
	XGROW(c->streamed, c->n_streamed + 1, c->cap_streamed);
	struct streamed *e = &c->streamed[c->n_streamed++];
	e->dest = xstrdup(abs);
	e->st = *st;
	if (first) {
		e->source = NULL;
		e->link_to = xstrdup(first);
		return;
	}
	if (st->st_nlink > 1)
		inode_note(c, st, abs);
	e->source = *c->src_top && !streq(c->src_top, ".") ? path_join(c->src_top, in_src)
	                                                   : xstrdup(in_src);
	e->st.st_uid = c->uid != (uid_t)-1 ? c->uid : c->keep_owner ? st->st_uid : 0;
	e->st.st_gid = c->gid != (gid_t)-1 ? c->gid : c->keep_owner ? st->st_gid : 0;
	e->st.st_mode = S_IFREG | (c->chmod_set ? c->chmod : (st->st_mode & 07777));
	e->link_to = NULL;
}

/* one non-directory: sdir/sname (described by st) copied to ddir/dname, abs in the root;
 * in_src is its path below the top-level source (NULL for a top-level source itself) */
static int copy_entry(struct copy_ctx *c, int sdir, const char *sname, const struct stat *st,
                      int ddir, const char *dname, const char *abs, const char *in_src,
                      struct kiln_err **err)
{
	int r = clear_target(ddir, dname, false, abs, err);
	if (r < 0)
		return r;
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
	if (first || (S_ISREG(st->st_mode) && c->stream && in_src && !has_xattrs(sdir, sname))) {
		/* streamed (a later name of a streamed file is a hard link in the layer) */
		stream_entry(c, st, abs, in_src, first);
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
		r = copy_regular(c, from, to, ddir, dname, st, abs, err);
		if (r >= 0 && st->st_nlink > 1)
			inode_note(c, st, abs);
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
	if (copy_excluded(c, crel, csrc) &&
	    !(S_ISDIR(e->st.st_mode) && copy_descend_anyway(c, crel)))
		return WALK_NEXT;
	if (!S_ISDIR(e->st.st_mode)) {
		int r = copy_entry(c, e->dirfd, e->name, &e->st, e->shadow_dirfd, e->name, cabs,
		                   csrc, err);
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
	return root_mkdir_p(c->s->rootfd, dir, 0755, c->uid, c->gid, &c->written, ret_fd, err);
}

int create_dest_file(struct copy_ctx *c, const char *abs, mode_t mode, int *ret_dirfd,
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
	for (size_t i = 0; i < c->spec->n_heredocs; i++) {
		const struct copy_heredoc *h = &c->spec->heredocs[i];
		cleanup_free char *abs = dest_dir ? path_join(dest, h->name) : xstrdup(dest);
		cleanup_free char *content = NULL;
		int r = copy_heredoc_content(c, h, &content, err);
		if (r < 0)
			return r;
		cleanup_close int pfd = -1;
		cleanup_guarded_close int fd = -1;
		cleanup_free char *name = NULL;
		r = create_dest_file(c, abs, 0644, &pfd, &name, &fd, err);
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

static int cmp_streamed(const void *a, const void *b)
{
	return strcmp(((const struct streamed *)a)->dest, ((const struct streamed *)b)->dest);
}

/* the written names and the directories they and the streamed names were made in, sorted */
static void streamed_paths_prepare(struct copy_ctx *c)
{
	size_t n0 = strv_length(c->written);
	cleanup_free const char **all = xreallocarray(NULL, n0 + c->n_streamed, sizeof(*all));
	for (size_t i = 0; i < n0; i++)
		all[i] = c->written[i];
	for (size_t i = 0; i < c->n_streamed; i++)
		all[n0 + i] = c->streamed[i].dest;
	char **touched = stage_touched_dirs(c->s, all, n0 + c->n_streamed);
	for (size_t i = 0; touched && touched[i]; i++)
		strv_push(&c->written, touched[i]);
	free(touched); /* its strings now belong to c->written */
	size_t nw = strv_length(c->written);
	if (nw > 1)
		qsort(c->written, nw, sizeof(char *), cmp_strp);
	qsort(c->streamed, c->n_streamed, sizeof(*c->streamed), cmp_streamed);
}

/* one layer from what was written into the root (directories, links) and what was streamed,
 * merged in path order */
static int commit_streamed(struct copy_ctx *c, const char *created_by, struct kiln_err **err)
{
	struct stage *s = c->s;
	streamed_paths_prepare(c);
	char **written = c->written;
	size_t nw = strv_length(written);
	log_info("Taking snapshot of files... (%zu streamed straight into the layer: no later step "
	         "reads the root)",
	         c->n_streamed);
	_cleanup_(layer_writer_freep) struct layer_writer *lw = NULL;
	int r =
	    layer_writer_new(s->cfg->bs, s->cfg->compression, s->cfg->compression_level, &lw, err);
	if (r < 0)
		return r;
	layer_writer_set_times(lw, s->cfg->reproducible, s->cfg->source_date_epoch);
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

int copy_commit(struct copy_ctx *c, struct kiln_err **err)
{
	cleanup_free char *created_by = xasprintf("%s # buildkit", c->in->original);
	if (c->unpacked)
		return stage_commit_diff(c->s, created_by, err);
	if (c->n_streamed)
		return commit_streamed(c, created_by, err);
	return stage_commit_paths(c->s, c->written, created_by, err);
}

/* --exclude patterns (expanded) and --chown (expanded, resolved in the stage's root) */
static int copy_setup(struct copy_ctx *c, struct kiln_err **err)
{
	struct stage *s = c->s;
	if (c->spec->excludes) {
		cleanup_buf struct kiln_buf pat = KILN_BUF_INIT;
		strv_foreach (x, c->spec->excludes) {
			cleanup_free char *v = NULL;
			if (stage_expand(s, x, &v, err) < 0)
				return stage_err(s, c->in, err);
			kiln_buf_addf(&pat, "%s\n", v);
		}
		if (dockerignore_parse("--exclude", pat.ptr, pat.len, &c->exclude, err) < 0)
			return stage_err(s, c->in, err);
	}
	if (c->spec->chown) {
		cleanup_free char *spec = NULL;
		if (stage_expand(s, c->spec->chown, &spec, err) < 0)
			return stage_err(s, c->in, err);
		struct sandbox_user u = {0};
		if (sandbox_user_resolve(s->rootfd, spec, &u, err) < 0)
			return stage_err(s, c->in, err);
		c->uid = u.uid;
		c->gid = strchr(spec, ':') ? u.gid : (u.name ? u.gid : u.uid);
		sandbox_user_release(&u);
	}
	c->chmod_set = c->spec->chmod_set;
	c->chmod = c->spec->chmod;
	return 0;
}

/* the sources' words then the destination's, expanded */
static int copy_expand_words(struct copy_ctx *c, char ***ret, struct kiln_err **err)
{
	cleanup_strv char **words = NULL;
	for (size_t i = 0; i <= c->spec->n_sources; i++) {
		const char *a = i < c->spec->n_sources ? c->spec->sources[i] : c->spec->dest;
		char *w = NULL;
		if (stage_expand(c->s, a, &w, err) < 0)
			return stage_err(c->s, c->in, err);
		strv_push(&words, w);
	}
	*ret = TAKE_PTR(words);
	return 0;
}

/* the destination, absolute in the root (relative to WORKDIR), and whether it is a directory:
 * a trailing '/' or exactly "." (BuildKit), or an existing directory */
static char *copy_dest(struct copy_ctx *c, const char *dest_raw, bool *ret_dir)
{
	json_t *cfg = image_config_container(c->s->config);
	const char *wd = kjson_str(cfg, "WorkingDir");
	cleanup_free char *joined =
	    dest_raw[0] == '/' ? xstrdup(dest_raw) : path_join(wd && *wd ? wd : "/", dest_raw);
	char *dest = path_clean(joined);
	size_t dl = strlen(dest_raw);
	bool dest_dir = dl > 0 && (dest_raw[dl - 1] == '/' || streq(dest_raw, "."));
	struct stat st;
	int fd = root_open(c->s->rootfd, dest + 1, O_PATH);
	if (fd >= 0) {
		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
			dest_dir = true;
		close(fd);
	}
	*ret_dir = dest_dir;
	return dest;
}

/* a top-level directory source: its contents go into target (made as needed) */
static int copy_top_dir(struct copy_ctx *c, int sfd, const char *src, const char *res,
                        const char *target, struct kiln_err **err)
{
	cleanup_close int dfd = -1;
	int r = root_mkdir_p(c->s->rootfd, target, 0755, c->uid, c->gid, &c->written, &dfd, err);
	if (r < 0)
		return r;
	cleanup_free char *pp = xasprintf("/proc/self/fd/%d", sfd);
	cleanup_close int rd = open(pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rd < 0)
		return kiln_err_errno(err, "open '%s'", src);
	struct copy_walk w = {
	    .c = c, .abs = target, .rel = c->ignore ? (*res ? res : ".") : NULL, .in_src = ""};
	struct walk_opts o = {.shadow_fd = dfd, .what = target};
	return walk_tree(rd, &o, copy_visit, &w, err);
}

/* a top-level non-directory source (sfd, described by st) copied to abs; an archive ADD
 * unpacks goes to archive_dir */
static int copy_top_file(struct copy_ctx *c, int sfd, const struct stat *st, const char *src,
                         const char *abs, const char *archive_dir, struct kiln_err **err)
{
	cleanup_close int pfd = -1;
	cleanup_free char *name = NULL;
	int r = dest_parent(c, abs, &pfd, &name, err);
	if (r < 0)
		return r;
	cleanup_free char *pp = xasprintf("/proc/self/fd/%d", sfd);
	r = add_local_archive(c, pp, st, src, archive_dir, err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (!S_ISREG(st->st_mode)) {
		/* copy_entry reads through a directory fd and a name: use the magic link */
		cleanup_close int procfd =
		    open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		cleanup_free char *fdname = xasprintf("%d", sfd);
		return copy_entry(c, procfd, fdname, st, pfd, name, abs, NULL, err);
	}
	r = clear_target(pfd, name, false, abs, err);
	if (r < 0)
		return r;
	cleanup_close int from_fd = open(pp, O_RDONLY | O_CLOEXEC);
	cleanup_guarded_close int to =
	    forkguard_openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (from_fd < 0 || to < 0)
		return kiln_err_errno(err, "copy '%s' to '%s'", src, abs);
	return copy_regular(c, from_fd, to, pfd, name, st, abs, err);
}

/* the copy of every local source to dest */
static int copy_sources_run(struct copy_ctx *c, const struct copy_sources *srcs, const char *dest,
                            bool dest_dir, struct kiln_err **err)
{
	struct stage *s = c->s;
	bool parents = c->spec->parents;
	for (size_t i = 0; i < srcs->n; i++) {
		const char *src = srcs->paths[i];
		/* top-level sources are followed through symlinks (inside their root), as Docker */
		const char *res = srcs->resolved[i];
		cleanup_close int sfd = root_open(c->srcfd, res, O_PATH);
		struct stat st;
		if (sfd < 0 || fstat(sfd, &st) < 0)
			return kiln_err_errno(err,
			                      "%s:%d: %s failed: file not found in %s: stat %s",
			                      s->cfg->dockerfile_path, c->in->start_line,
			                      copy_spec_name(c->spec), c->what, src);
		/* --parents keeps the source's path (after a "/./" pivot) under the destination */
		const char *kept_path = src;
		if (parents) {
			size_t pl = strlen(srcs->pivots[i]);
			if (pl && strneq(src, srcs->pivots[i], pl) && src[pl] == '/')
				kept_path = src + pl + 1;
		}
		cleanup_free char *target =
		    parents && !streq(kept_path, ".") ? path_join(dest, kept_path) : xstrdup(dest);
		c->src_top = res;
		int r;
		if (S_ISDIR(st.st_mode)) {
			r = copy_top_dir(c, sfd, src, res, target, err);
		} else {
			const char *base = strrchr(src, '/');
			base = base ? base + 1 : src;
			cleanup_free char *abs = parents    ? xstrdup(target)
			                         : dest_dir ? path_join(dest, base)
			                                    : xstrdup(dest);
			r = copy_top_file(c, sfd, &st, src, abs, dest_dir ? dest : abs, err);
		}
		if (r < 0)
			return stage_err(s, c->in, err);
	}
	return 0;
}

/* the instruction's sources (after the heredoc case): URLs, then local files */
static int copy_from_sources(struct copy_ctx *c, char **words, size_t nw, const char *dest,
                             bool dest_dir, struct kiln_err **err)
{
	int r = copy_source_root(c, err);
	if (r < 0)
		return r;
	size_t n_urls = 0;
	r = add_urls(c, words, nw - 1, dest, dest_dir || nw > 2, &n_urls, err);
	if (r < 0)
		return r;
	if (n_urls == nw - 1)
		return 0;
	r = add_prepare(c, err);
	if (r < 0)
		return r;
	_cleanup_(copy_sources_release) struct copy_sources srcs = {0};
	r = copy_sources_resolve(c, words, nw - 1, &srcs, err);
	if (r < 0)
		return r;
	if (c->spec->parents)
		dest_dir = true;
	if (srcs.n + n_urls > 1 && !dest_dir)
		return kiln_err_set(err,
		                    "%s:%d: When using %s with more than one source file, the "
		                    "destination must be a directory and end with a /",
		                    c->s->cfg->dockerfile_path, c->in->start_line,
		                    copy_spec_name(c->spec));
	return copy_sources_run(c, &srcs, dest, dest_dir, err);
}

int instr_copy(struct stage *s, const struct plan_instr *pi, struct kiln_err **err)
{
	const struct df_instr *in = pi->in;
	/* the plan parsed and checked the instruction; parsed here only when it did not */
	_cleanup_(copy_spec_release) struct copy_spec own = {0};
	const struct copy_spec *sp = pi->copy.spec;
	int r = 0;
	if (!sp) {
		r = copy_spec_parse(in, s->cfg->dockerfile_path, &own, err);
		if (r < 0)
			return r;
		sp = &own;
	}
	_cleanup_(copy_ctx_release) struct copy_ctx c = {
	    .stream = s->nothing_reads_root && !s->cfg->single_snapshot && !s->cfg->inplace,
	    .s = s,
	    .in = in,
	    .spec = sp,
	    .srcfd = -1,
	    .ctxfd = -1,
	    .uid = (uid_t)-1,
	    .gid = (gid_t)-1};
	r = copy_setup(&c, err);
	if (r < 0)
		return r;
	cleanup_strv char **words = NULL; /* sources..., destination */
	r = copy_expand_words(&c, &words, err);
	if (r < 0)
		return r;
	size_t nw = strv_length(words);
	bool dest_dir = false;
	cleanup_free char *dest = copy_dest(&c, words[nw - 1], &dest_dir);
	if (sp->n_heredocs)
		r = copy_heredocs(&c, dest, dest_dir || sp->n_heredocs > 1, err);
	else
		r = copy_from_sources(&c, words, nw, dest, dest_dir, err);
	if (r < 0)
		return r;
	return copy_commit(&c, err);
}

bool instr_needs_root(const struct plan_instr *pi)
{
	return pi->kind == INSTR_RUN || pi->kind == INSTR_COPY || pi->kind == INSTR_ADD ||
	       pi->kind == INSTR_WORKDIR;
}
