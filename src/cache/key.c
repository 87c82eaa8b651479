/* key.c — the layer cache's composite keys (docs/cache.md): every part of a key is framed by
 * its length and chained from the previous key, so a key names the base and every step before
 * it. */
#include "cache.h"
#include "util/fsutil.h"
#include "util/strv.h"
#include "util/walk.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* every part is framed by its length, so that no two sequences of parts hash alike */
static void part(struct sha256 *h, const char *tag, const void *data, size_t len)
{
	char hdr[64];
	int n = snprintf(hdr, sizeof(hdr), "%s %zu:", tag, len);
	sha256_update(h, hdr, (size_t)n);
	sha256_update(h, data, len);
}

static void part_str(struct sha256 *h, const char *tag, const char *s)
{
	part(h, tag, s ? s : "", s ? strlen(s) : 0);
}

static void key_finish(struct sha256 *h, char key[CACHE_KEY_LEN + 1])
{
	char d[DIGEST_STRING_LEN + 1];
	sha256_final_digest(h, d);
	memcpy(key, digest_hex(d), CACHE_KEY_LEN + 1);
}

void cache_key_start(char key[CACHE_KEY_LEN + 1], const char *base, const char *platform,
                     enum image_format format, bool zstd)
{
	struct sha256 h;
	sha256_init(&h);
	part_str(&h, "kiln-cache", "v1");
	part_str(&h, "base", base);
	part_str(&h, "platform", platform);
	part_str(&h, "format", format == IMAGE_OCI ? "oci" : "docker");
	part_str(&h, "compression", zstd ? "zstd" : "gzip");
	key_finish(&h, key);
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[\\") != NULL;
}

/* names (relative), types, permission bits, contents and link targets below dirfd/name;
 * owners and mtimes are left out: COPY sets the owner itself and keeps no meaning in mtime
 * that the cache could honour */
static int hash_entry(struct sha256 *h, int dirfd, const char *name, const char *rel,
                      const struct stat *stp, struct kiln_err **err)
{
	const struct stat st = *stp;
	char mode[16];
	snprintf(mode, sizeof(mode), "%o", (unsigned)st.st_mode);
	part_str(h, "path", rel);
	part_str(h, "mode", mode);
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target));
		if (n < 0)
			return kiln_err_errno(err, "cache key: readlink '%s'", rel);
		part(h, "link", target, (size_t)n);
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return kiln_err_errno(err, "cache key: open '%s'", rel);
		struct sha256 fh;
		sha256_init(&fh);
		char buf[65536];
		for (;;) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				sha256_release(&fh);
				return kiln_err_errno(err, "cache key: read '%s'", rel);
			}
			if (n == 0)
				break;
			sha256_update(&fh, buf, (size_t)n);
		}
		char d[DIGEST_STRING_LEN + 1];
		sha256_final_digest(&fh, d);
		part_str(h, "content", d);
		return 0;
	}
	return 0;
}

struct hash_walk {
	struct sha256 *h;
	const char *rel;
};

static int hash_visit(struct walk_entry *e, void *ud, struct kiln_err **err)
{
	struct hash_walk *w = ud;
	if (e->post)
		return WALK_NEXT;
	cleanup_free char *sub = path_join(w->rel, e->path);
	int r = hash_entry(w->h, e->dirfd, e->name, sub, &e->st, err);
	return r < 0 ? r : S_ISDIR(e->st.st_mode) ? WALK_DESCEND : WALK_NEXT;
}

/* the tree at dirfd/name in path order (walk_tree: iterative, any depth) */
static int hash_tree(struct sha256 *h, int dirfd, const char *name, const char *rel,
                     struct kiln_err **err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT) {
			part_str(h, "absent", rel);
			return 0;
		}
		return kiln_err_errno(err, "cache key: stat '%s'", rel);
	}
	int r = hash_entry(h, dirfd, name, rel, &st, err);
	if (r < 0 || !S_ISDIR(st.st_mode))
		return r;
	cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_errno(err, "cache key: open '%s'", rel);
	struct hash_walk w = {.h = h, .rel = rel};
	struct walk_opts o = {.shadow_fd = -1, .what = rel};
	return walk_tree(fd, &o, hash_visit, &w, err);
}

bool cache_step_cacheable(bool run_layers, bool copy_layers, const struct plan_instr *pi)
{
	if (pi->kind == INSTR_RUN)
		return run_layers && pi->in->n_flags == 0;
	if (pi->kind == INSTR_COPY)
		return copy_layers && !pi->copy.has_from;
	return false;
}

int cache_key_step(char key[CACHE_KEY_LEN + 1], const struct plan_instr *pi,
                   const struct cache_step_input *si, struct kiln_err **err)
{
	const struct df_instr *in = pi->in;
	struct sha256 h;
	sha256_init(&h);
	part_str(&h, "prev", key);
	part_str(&h, "instr", in->original);
	for (size_t i = 0; i < in->n_heredocs; i++) {
		part_str(&h, "heredoc", in->heredocs[i].name);
		part_str(&h, "body", in->heredocs[i].content);
	}
	bool run = pi->kind == INSTR_RUN, copy = pi->kind == INSTR_COPY;
	if (run || copy) {
		/* what the step sees: Env, User, WorkingDir, Shell... and the ARGs in scope */
		cleanup_free char *cc = kjson_dump(si->container_config);
		part_str(&h, "config", cc);
		qsort(si->env, strv_length(si->env), sizeof(char *), cmp_strp);
		strv_foreach (e, si->env)
			part_str(&h, "env", e);
	}
	if (copy && !pi->copy.has_from) {
		cleanup_close int ctx = open(si->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (ctx < 0) {
			sha256_release(&h);
			return kiln_err_errno(err, "cache key: open context '%s'", si->context);
		}
		bool whole = false;
		for (size_t i = 0; i + 1 < in->n_args; i++) {
			if (startswith(in->args[i], "<<"))
				continue; /* a heredoc, hashed above */
			cleanup_free char *src = NULL;
			if (si->expand(si->ud, in->args[i], &src, err) < 0) {
				sha256_release(&h);
				return -1;
			}
			if (has_glob(src)) {
				whole =
				    true; /* whatever the pattern matches is in the whole context */
				continue;
			}
			/* cleaned inside the context, as COPY does: "../x" is "x" */
			cleanup_free char *rooted = xasprintf("/%s", src);
			cleanup_free char *clean = path_clean(rooted);
			const char *rel = clean + 1;
			if (hash_tree(&h, ctx, *rel ? rel : ".", *rel ? rel : ".", err) < 0) {
				sha256_release(&h);
				return -1;
			}
		}
		if (whole && hash_tree(&h, ctx, ".", ".", err) < 0) {
			sha256_release(&h);
			return -1;
		}
	}
	key_finish(&h, key);
	return 0;
}
