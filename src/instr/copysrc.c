/* copysrc.c — where COPY and ADD read from: the source root (the context with its
 * .dockerignore, an earlier stage's root or an image's for --from), the source words (globs with
 * Go's rules, cleaned inside the root, links resolved with .dockerignore applied on the way,
 * --exclude, --parents pivots) and heredoc contents. */
#include "copy.h"
#include "context/dockerignore.h"
#include "sandbox/root.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

bool copy_is_url(const char *w)
{
	return startswith(w, "http://") || startswith(w, "https://");
}

bool copy_excluded(const struct copy_ctx *c, const char *rel, const char *in_src)
{
	if (c->ignore && rel && dockerignore_match(c->ignore, rel))
		return true;
	if (c->exclude && ((rel && dockerignore_match(c->exclude, rel)) ||
	                   (in_src && dockerignore_match(c->exclude, in_src))))
		return true;
	return false;
}

bool copy_descend_anyway(const struct copy_ctx *c, const char *rel)
{
	return c->ignore && rel && dockerignore_may_include_below(c->ignore, rel);
}

int copy_heredoc_content(struct copy_ctx *c, const struct copy_heredoc *h, char **ret,
                         struct kiln_err **err)
{
	if (!h->expand) {
		*ret = xstrdup(h->body);
		return 0;
	}
	if (stage_expand(c->s, h->body, ret, err) < 0)
		return stage_err(c->s, c->in, err);
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

int copy_source_root(struct copy_ctx *c, struct kiln_err **err)
{
	struct stage *s = c->s;
	if (c->spec->from) {
		cleanup_free char *fv = NULL;
		if (stage_expand(s, c->spec->from, &fv, err) < 0)
			return stage_err(s, c->in, err);
		if (resolve_from(c, fv, err) < 0)
			return stage_err(s, c->in, err);
		c->what = "stage";
		c->keep_owner = true;
		return 0;
	}
	c->ctxfd = open(s->cfg->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->ctxfd < 0)
		return kiln_err_errno(err, "open context '%s'", s->cfg->context);
	c->srcfd = c->ctxfd;
	c->what = "build context";
	c->ignore = s->cfg->dockerignore;
	return 0;
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

/* drops from srcs->paths[before..] what .dockerignore or --exclude leaves out (an explicit
 * name too) and resolves the rest. Links are resolved inside the root with the ignore rules
 * applied to every path the lookup reaches: what .dockerignore leaves out is not there,
 * whichever way it is reached. Returns how many are kept */
static int sources_filter(struct copy_ctx *c, struct copy_sources *srcs, size_t before,
                          size_t *ret_kept, struct kiln_err **err)
{
	char **sources = srcs->paths;
	size_t kept = before;
	for (size_t k = before; sources && sources[k]; k++) {
		char *res = NULL;
		int rr = streq(sources[k], ".") ? (res = xstrdup(""), 0)
		                                : dockerignore_resolve(c->ignore, sources[k], true,
		                                                       source_lookup, c, &res);
		if (rr == -ENOENT || rr == -ENOTDIR ||
		    (rr >= 0 && c->exclude && dockerignore_match(c->exclude, sources[k]))) {
			free(res);
			free(sources[k]);
			continue;
		}
		if (rr < 0) {
			/* the rest is freed with the list; what was dropped already is gone */
			int e = kiln_err_errnum(err, -rr, "%s:%d: %s failed: '%s' in %s",
			                        c->s->cfg->dockerfile_path, c->in->start_line,
			                        copy_spec_name(c->spec), sources[k], c->what);
			for (size_t m = k; sources[m]; m++)
				sources[kept++] = sources[m];
			sources[kept] = NULL;
			return e;
		}
		sources[kept++] = sources[k];
		strv_push(&srcs->resolved, res);
	}
	if (sources)
		sources[kept] = NULL;
	*ret_kept = kept;
	return 0;
}

/* the sources one word names, appended to srcs */
static int source_word(struct copy_ctx *c, const char *word, struct copy_sources *srcs,
                       struct kiln_err **err)
{
	struct stage *s = c->s;
	/* the source is cleaned inside its root, as BuildKit does: "../x" is "x" and "/a/../../b"
	 * is "b" (then not found when absent), never the whole root */
	cleanup_free char *rooted = xasprintf("/%s", word);
	cleanup_free char *clean = path_clean(rooted);
	const char *pv = strstr(word, "/./");
	cleanup_free char *pivot_raw = pv ? xstrndup(word, (size_t)(pv - word)) : NULL;
	cleanup_free char *pivot = pivot_raw ? path_clean(pivot_raw) : xstrdup("");
	if (streq(pivot, ".") || streq(pivot, "/"))
		pivot[0] = '\0';
	const char *rel = clean + 1;
	if (strlen(rel) > LIMIT_PATH) /* and glob_expand recurses once per component */
		return kiln_err_set(err, "%s:%d: %s source longer than %u bytes",
		                    s->cfg->dockerfile_path, c->in->start_line,
		                    copy_spec_name(c->spec), LIMIT_PATH);
	size_t before = strv_length(srcs->paths);
	bool glob = has_glob(rel);
	if (glob) {
		if (glob_expand(c->srcfd, "", rel, &srcs->paths, err) < 0)
			return stage_err(s, c->in, err);
	} else {
		strv_push(&srcs->paths, xstrdup(*rel ? rel : "."));
	}
	size_t kept = before;
	int r = sources_filter(c, srcs, before, &kept, err);
	if (r < 0)
		return r;
	while (strv_length(srcs->pivots) < kept)
		strv_push(&srcs->pivots, xstrdup(pivot + (pivot[0] == '/')));
	/* BuildKit allows a wildcard to match nothing (even every wildcard of the instruction:
	 * then nothing is copied and no destination is made); a name without one must exist */
	if (kept == before && glob)
		log_warn("%s:%d: %s: no source file matches '%s'", s->cfg->dockerfile_path,
		         c->in->start_line, copy_spec_name(c->spec), word);
	else if (kept == before)
		return kiln_err_set(err,
		                    "%s:%d: %s failed: file not found in %s or excluded by "
		                    ".dockerignore: '%s'",
		                    s->cfg->dockerfile_path, c->in->start_line,
		                    copy_spec_name(c->spec), c->what, word);
	return 0;
}

int copy_sources_resolve(struct copy_ctx *c, char *const *words, size_t n, struct copy_sources *ret,
                         struct kiln_err **err)
{
	_cleanup_(copy_sources_release) struct copy_sources srcs = {0};
	for (size_t i = 0; i < n; i++) {
		if (c->spec->kind == COPY_KIND_ADD && copy_is_url(words[i]))
			continue;
		int r = source_word(c, words[i], &srcs, err);
		if (r < 0)
			return r;
	}
	srcs.n = strv_length(srcs.paths);
	*ret = srcs;
	srcs = (struct copy_sources){0};
	return 0;
}

void copy_sources_release(struct copy_sources *srcs)
{
	strv_free(srcs->paths);
	strv_free(srcs->resolved);
	strv_free(srcs->pivots);
	*srcs = (struct copy_sources){0};
}
