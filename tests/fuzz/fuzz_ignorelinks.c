/* fuzz_ignorelinks.c — libFuzzer target: dockerignore_resolve, the lookup of a COPY source in
 * a filtered context that holds symlinks, over a made-up tree. The input is the ignore file,
 * a line "--", then one line per entry: "d path" (directory), "f path" (file), "l path target"
 * (symlink), "? path" or "! path" (resolve path following, or not following, a last link).
 * Checked whatever the input: the lookup is only ever asked about clean relative paths below
 * the root, and a path that resolves is clean, exists, has no link on the way, and is not left
 * out by the ignore file. */
#include "fuzz.h"

#include "context/dockerignore.h"
#include "util/macro.h"
#include "util/xalloc.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#define MAX_ENTS 64

struct ent {
	char kind; /* 'd' 'f' 'l' */
	char *path;
	char *target;
};

struct tree {
	struct ent e[MAX_ENTS];
	size_t n;
	size_t lookups;
};

static bool clean_rel(const char *p)
{
	if (!*p)
		return true;
	if (p[0] == '/' || p[strlen(p) - 1] == '/' || strstr(p, "//"))
		return false;
	for (const char *c = p; c;) {
		size_t len = strcspn(c, "/");
		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c = c[len] ? c + len + 1 : NULL;
	}
	return true;
}

/* the kind at path: declared, or a directory because something is declared below it */
static int kind_at(const struct tree *t, const char *path, const char **ret_target)
{
	if (!*path)
		return DOCKERIGNORE_ENT_DIR;
	size_t n = strlen(path);
	for (size_t i = 0; i < t->n; i++) {
		if (streq(t->e[i].path, path)) {
			*ret_target = t->e[i].target;
			return t->e[i].kind == 'd'   ? DOCKERIGNORE_ENT_DIR
			       : t->e[i].kind == 'l' ? DOCKERIGNORE_ENT_LINK
			                             : DOCKERIGNORE_ENT_OTHER;
		}
	}
	for (size_t i = 0; i < t->n; i++) {
		if (strncmp(t->e[i].path, path, n) == 0 && t->e[i].path[n] == '/')
			return DOCKERIGNORE_ENT_DIR;
	}
	return DOCKERIGNORE_ENT_MISSING;
}

static int lookup(void *ud, const char *path, char *buf, size_t size)
{
	struct tree *t = ud;
	assert(clean_rel(path));
	assert(++t->lookups < 100000);
	const char *target = NULL;
	int k = kind_at(t, path, &target);
	if (k == DOCKERIGNORE_ENT_LINK) {
		size_t l = strlen(target);
		if (l >= size)
			return -ENAMETOOLONG;
		memcpy(buf, target, l + 1);
	}
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *sep = memmem(text, size, "\n--\n", 4);
	if (!sep)
		return 0;
	_cleanup_(dockerignore_freep) struct dockerignore *di = NULL;
	cleanup_err struct kiln_err *err = NULL;
	if (dockerignore_parse(".dockerignore", text, (size_t)(sep - text), &di, &err) < 0)
		return 0;
	cleanup_free char *rest = xstrndup(sep + 4, size - (size_t)(sep - text) - 4);
	struct tree t = {.n = 0};
	char *queries[MAX_ENTS];
	bool follow[MAX_ENTS];
	size_t nq = 0;
	for (char *line = rest, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strlen(line) < 3 || line[1] != ' ')
			continue;
		char k = line[0];
		char *arg = line + 2;
		if ((k == '?' || k == '!') && nq < MAX_ENTS) {
			follow[nq] = k == '?';
			queries[nq++] = arg;
			continue;
		}
		if ((k != 'd' && k != 'f' && k != 'l') || t.n >= MAX_ENTS)
			continue;
		char *target = NULL;
		if (k == 'l') {
			char *sp = strchr(arg, ' ');
			if (!sp)
				continue;
			*sp = '\0';
			target = sp + 1;
		}
		if (!clean_rel(arg) || !*arg)
			continue; /* the tree is made of clean names only */
		t.e[t.n++] = (struct ent){.kind = k, .path = arg, .target = target};
	}
	for (size_t q = 0; q < nq; q++) {
		cleanup_free char *res = NULL;
		t.lookups = 0;
		int r = dockerignore_resolve(di, queries[q], follow[q], lookup, &t, &res);
		if (r < 0) {
			assert(r == -ENOENT || r == -ENOTDIR || r == -ELOOP || r == -ENAMETOOLONG);
			assert(!res);
			continue;
		}
		assert(res && clean_rel(res));
		/* every directory on the way is a directory, and visible */
		for (char *slash = strchr(res, '/'); slash; slash = strchr(slash + 1, '/')) {
			*slash = '\0';
			const char *tg = NULL;
			assert(kind_at(&t, res, &tg) == DOCKERIGNORE_ENT_DIR);
			assert(!dockerignore_match(di, res) ||
			       dockerignore_may_include_below(di, res));
			*slash = '/';
		}
		const char *tg = NULL;
		int k = kind_at(&t, res, &tg);
		assert(k != DOCKERIGNORE_ENT_MISSING);
		assert(k != DOCKERIGNORE_ENT_LINK || !follow[q]);
		/* what resolves is in the filtered context */
		assert(!*res || !dockerignore_match(di, res) ||
		       (k == DOCKERIGNORE_ENT_DIR && dockerignore_may_include_below(di, res)));
	}
	return 0;
}
