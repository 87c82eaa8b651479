/* dockerignore.c — .dockerignore: Docker's reading of the file, its glob dialect ("**" plus
 * filepath.Match), last-match-wins with parent-directory matches, and the file lookup order.
 *
 * Patterns are compiled into a small token list and run as an NFA over the path's runes, so a
 * pattern full of stars costs O(path × pattern), never exponential back-tracking. */
#include "dockerignore.h"
#include "util/utf8.h"

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

enum tok_type {
	TOK_RUNE,   /* one literal rune */
	TOK_ANY,    /* '?': one rune other than '/' */
	TOK_CLASS,  /* '[...]': one rune in (or, negated, not in) the ranges */
	TOK_STAR,   /* '*': any run of runes other than '/' */
	TOK_ANYSTR, /* anything at all, '/' included */
	TOK_DSTAR,  /* "**" inside a pattern: nothing, or anything that ends in '/' */
};

struct rune_range {
	uint32_t lo, hi;
};

struct tok {
	enum tok_type type;
	uint32_t rune;
	bool negated;
	struct rune_range *ranges;
	size_t n_ranges;
};

struct pattern {
	bool exception;
	bool never; /* holds a NUL byte: no path can match */
	struct tok *toks;
	size_t n_toks;
};

struct dockerignore {
	struct pattern *pats;
	size_t n_pats;
	bool has_exceptions;
};

/* Runes that are not valid UTF-8 become these, one per byte, so such bytes still compare
 * exactly with themselves and with nothing else. */
#define RUNE_BAD_BASE 0x110000u

/* decodes one rune of s (n > 0 bytes); invalid sequences decode one byte at a time */
static uint32_t utf8_next(const char *s, size_t n, size_t *ret_len)
{
	int32_t cp = utf8_decode(s, n, ret_len);
	return cp < 0 ? RUNE_BAD_BASE + (unsigned char)s[0] : (uint32_t)cp;
}

/* Go's unicode.IsSpace, which strings.TrimSpace uses */
static bool rune_is_space(uint32_t r)
{
	return r < RUNE_BAD_BASE && unicode_isspace((int32_t)r);
}

/* strings.TrimSpace on (s, *n): returns the new start and updates *n */
static const char *trim_space(const char *s, size_t *n)
{
	size_t start = 0, end = 0, i = 0;
	bool seen = false;
	while (i < *n) {
		size_t l;
		uint32_t r = utf8_next(s + i, *n - i, &l);
		if (!rune_is_space(r)) {
			if (!seen)
				start = i;
			seen = true;
			end = i + l;
		}
		i += l;
	}
	if (!seen) {
		*n = 0;
		return s;
	}
	*n = end - start;
	return s + start;
}

static void pattern_release(struct pattern *p)
{
	for (size_t i = 0; i < p->n_toks; i++)
		free(p->toks[i].ranges);
	free(p->toks);
	p->toks = NULL;
	p->n_toks = 0;
}

static void tok_push(struct pattern *p, size_t *cap, struct tok t)
{
	XGROW(p->toks, p->n_toks + 1, *cap);
	p->toks[p->n_toks++] = t;
}

/* one class member as filepath.Match reads it: '-' and ']' must be escaped, '\\' escapes, and
 * the class must go on after it (an unterminated class is an error) */
static int class_char(const char *s, size_t n, size_t *pos, uint32_t *ret)
{
	size_t i = *pos;
	if (i >= n || s[i] == '-' || s[i] == ']')
		return -1;
	if (s[i] == '\\') {
		i++;
		if (i >= n)
			return -1;
	}
	size_t l;
	uint32_t r = utf8_next(s + i, n - i, &l);
	if (r >= RUNE_BAD_BASE)
		return -1;
	i += l;
	if (i >= n)
		return -1;
	*pos = i;
	*ret = r;
	return 0;
}

/* whether s has none of the characters that make a pattern more than a literal string */
static bool all_literal(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strchr("*?[]\\", s[i]))
			return false;
	}
	return true;
}

/* Compiles a cleaned pattern (no "!") into tokens; -1 when filepath.Match would call the pattern
 * malformed: an unterminated or empty class, an unescaped '-' or ']' where a class member is
 * due, an invalid UTF-8 class member, or a trailing '\\'; or a range that runs backwards. */
static int pattern_compile(struct pattern *p, const char *s, size_t n)
{
	size_t cap = 0;
	size_t i = 0;
	while (i < n) {
		char c = s[i];
		if (c == '*' && i + 1 < n && s[i + 1] == '*') {
			bool at_start = i == 0;
			i += 2;
			bool ate_slash = i < n && s[i] == '/';
			if (ate_slash)
				i++;
			/* Docker matches a pattern that is "**" followed by plain text as a suffix
			 * test: "**.go" excludes "a/b/x.go". Only the slash-less form differs from
			 * the directory meaning, which "**" has everywhere else. */
			if (i == n || (at_start && !ate_slash && all_literal(s + i, n - i)))
				tok_push(p, &cap, (struct tok){.type = TOK_ANYSTR});
			else
				tok_push(p, &cap, (struct tok){.type = TOK_DSTAR});
		} else if (c == '*') {
			i++;
			tok_push(p, &cap, (struct tok){.type = TOK_STAR});
		} else if (c == '?') {
			i++;
			tok_push(p, &cap, (struct tok){.type = TOK_ANY});
		} else if (c == '[') {
			struct tok t = {.type = TOK_CLASS};
			size_t rcap = 0;
			i++;
			if (i < n && s[i] == '^') {
				t.negated = true;
				i++;
			}
			for (;;) {
				if (i < n && s[i] == ']' && t.n_ranges > 0) {
					i++;
					break;
				}
				uint32_t lo, hi;
				if (class_char(s, n, &i, &lo) < 0) {
					free(t.ranges);
					return -1;
				}
				hi = lo;
				if (s[i] == '-') {
					i++;
					/* filepath.Match takes "[z-a]", but Docker's matcher then
					 * fails on it at match time: refuse it up front */
					if (class_char(s, n, &i, &hi) < 0 || hi < lo) {
						free(t.ranges);
						return -1;
					}
				}
				XGROW(t.ranges, t.n_ranges + 1, rcap);
				t.ranges[t.n_ranges++] = (struct rune_range){lo, hi};
			}
			tok_push(p, &cap, t);
		} else {
			if (c == '\\') {
				i++;
				if (i == n)
					return -1;
			}
			size_t l;
			uint32_t r = utf8_next(s + i, n - i, &l);
			i += l;
			tok_push(p, &cap, (struct tok){.type = TOK_RUNE, .rune = r});
		}
	}
	return 0;
}

static bool class_has(const struct tok *t, uint32_t r)
{
	bool in = false;
	for (size_t i = 0; i < t->n_ranges && !in; i++)
		in = t->ranges[i].lo <= r && r <= t->ranges[i].hi;
	return in != t->negated;
}

/* Runs the pattern over s. Modes: match the whole of s, or the whole of s or of any prefix that
 * ends before a '/' (a parent directory); or, with prefix set, whether the pattern can go on
 * matching after all of s (so it may match something that starts with s). */
static bool pattern_run(const struct pattern *p, const char *s, size_t n, bool parents, bool prefix)
{
	size_t nt = p->n_toks;
	/* at[j]: j tokens matched; in[j]: inside the "anything/" part of the DSTAR at j */
	bool stack[2][2 * 64];
	bool *heap = NULL;
	bool *cur, *nxt;
	if (nt + 1 <= 64) {
		cur = stack[0];
		nxt = stack[1];
	} else {
		size_t sz;
		if (!size_mul(nt + 1, 4, &sz))
			xalloc_die();
		heap = xcalloc(sz, sizeof(bool));
		cur = heap;
		nxt = heap + 2 * (nt + 1);
	}
	size_t width = 2 * (nt + 1);
	bool *at = cur, *in = cur + nt + 1;
	memset(cur, 0, width * sizeof(bool));
	at[0] = true;

	bool result = false;
	size_t i = 0;
	for (;;) {
		/* epsilon moves go forward only, so one ascending pass closes the set */
		bool alive = false;
		for (size_t j = 0; j < nt; j++) {
			if (!at[j])
				continue;
			enum tok_type ty = p->toks[j].type;
			if (ty == TOK_STAR || ty == TOK_ANYSTR || ty == TOK_DSTAR)
				at[j + 1] = true;
			if (ty == TOK_DSTAR)
				in[j] = true;
		}
		for (size_t j = 0; j < width; j++)
			alive |= cur[j];
		if (!alive)
			break;
		if (i == n) {
			if (prefix) {
				for (size_t j = 0; j < width && !result; j++)
					result = cur[j] && j != nt;
			} else {
				result = at[nt];
			}
			break;
		}
		if (parents && s[i] == '/' && at[nt]) {
			result = true;
			break;
		}

		size_t l;
		uint32_t r = utf8_next(s + i, n - i, &l);
		i += l;
		bool *nat = nxt, *nin = nxt + nt + 1;
		memset(nxt, 0, width * sizeof(bool));
		for (size_t j = 0; j < nt; j++) {
			const struct tok *t = &p->toks[j];
			if (in[j]) {
				nin[j] = true;
				if (r == '/')
					nat[j + 1] = true;
			}
			if (!at[j])
				continue;
			switch (t->type) {
			case TOK_RUNE:
				if (r == t->rune)
					nat[j + 1] = true;
				break;
			case TOK_ANY:
				if (r != '/')
					nat[j + 1] = true;
				break;
			case TOK_CLASS:
				if (class_has(t, r))
					nat[j + 1] = true;
				break;
			case TOK_STAR:
				if (r != '/')
					nat[j] = true;
				break;
			case TOK_ANYSTR:
				nat[j] = true;
				break;
			case TOK_DSTAR:
				break;
			}
		}
		bool *tmp = cur;
		cur = nxt;
		nxt = tmp;
		at = cur;
		in = cur + nt + 1;
	}
	free(heap);
	return result;
}

struct dockerignore *dockerignore_free(struct dockerignore *di)
{
	if (!di)
		return NULL;
	for (size_t i = 0; i < di->n_pats; i++)
		pattern_release(&di->pats[i]);
	free(di->pats);
	free(di);
	return NULL;
}

/* Adds one line's pattern. Docker treats the line in two passes (reading the file, then
 * building the matcher), each trimming and cleaning; both are kept because the second can see
 * what the first exposed: "/!x" cleans to "!x" and so becomes an exception. */
static int add_line(struct dockerignore *di, size_t *cap, const char *line, size_t len,
                    const char *path, unsigned lineno, struct kiln_err **err)
{
	if (len > 0 && line[0] == '#')
		return 0;
	size_t n = len;
	const char *s = trim_space(line, &n);
	if (n == 0)
		return 0;
	cleanup_free char *shown = xstrndup(s, n);

	struct pattern pat = {0};
	if (memchr(s, '\0', n)) {
		/* Go keeps such a line, but no path ever has a NUL byte in it */
		pat.never = true;
		pat.exception = s[0] == '!';
		di->has_exceptions |= pat.exception;
		XGROW(di->pats, di->n_pats + 1, *cap);
		di->pats[di->n_pats++] = pat;
		return 0;
	}

	/* first pass: "!" split off and the rest trimmed, cleaned, made relative */
	bool invert = s[0] == '!';
	if (invert) {
		s++;
		n--;
		s = trim_space(s, &n);
	}
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	if (invert)
		kiln_buf_addch(&b, '!');
	if (n > 0) {
		cleanup_free char *raw = xstrndup(s, n);
		cleanup_free char *clean = path_clean(raw);
		const char *c = clean;
		if (c[0] == '/' && c[1] != '\0')
			c++;
		kiln_buf_adds(&b, c);
	}

	/* second pass: trimmed and cleaned again, "!" recognised again */
	n = b.len;
	s = trim_space(b.ptr, &n);
	if (n == 0)
		return 0;
	cleanup_free char *raw2 = xstrndup(s, n);
	cleanup_free char *p2 = path_clean(raw2);
	const char *body = p2;
	if (body[0] == '!') {
		if (body[1] == '\0')
			return kiln_err_set(err, "'%s':%u: illegal exclusion pattern '%s'", path,
			                    lineno, shown);
		pat.exception = true;
		body++;
	}
	if (pattern_compile(&pat, body, strlen(body)) < 0) {
		pattern_release(&pat);
		return kiln_err_set(err, "'%s':%u: bad pattern '%s'", path, lineno, shown);
	}
	di->has_exceptions |= pat.exception;
	XGROW(di->pats, di->n_pats + 1, *cap);
	di->pats[di->n_pats++] = pat;
	return 0;
}

int dockerignore_parse(const char *path_for_msgs, const char *text, size_t len,
                       struct dockerignore **ret, struct kiln_err **err)
{
	_cleanup_(dockerignore_freep) struct dockerignore *di = xcalloc(1, sizeof(*di));
	size_t cap = 0;
	const char *path = path_for_msgs ? path_for_msgs : ".dockerignore";

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	unsigned lineno = 0;
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t l = end - i;
		/* bufio.ScanLines drops one '\r' before the '\n' */
		if (l > 0 && text[i + l - 1] == '\r')
			l--;
		lineno++;
		if (add_line(di, &cap, text + i, l, path, lineno, err) < 0)
			return -1;
		i = end + 1;
	}
	*ret = TAKE_PTR(di);
	return 0;
}

bool dockerignore_match(const struct dockerignore *di, const char *rel)
{
	if (!di)
		return false;
	size_t n = strlen(rel);
	bool excluded = false;
	for (size_t i = 0; i < di->n_pats; i++) {
		const struct pattern *p = &di->pats[i];
		/* only a pattern that would flip the answer needs to run */
		if (p->exception != excluded || p->never)
			continue;
		if (pattern_run(p, rel, n, true, false))
			excluded = !p->exception;
	}
	return excluded;
}

bool dockerignore_may_include_below(const struct dockerignore *di, const char *rel)
{
	if (!di || !di->has_exceptions)
		return false;
	/* A path below rel can only come back through an exception that matches it or one of its
	 * parents strictly below rel: one that matched rel or higher would also have been
	 * overridden, for rel, by the exclusion that excludes rel. */
	cleanup_free char *dir = xasprintf("%s/", rel);
	size_t n = strlen(dir);
	for (size_t i = 0; i < di->n_pats; i++) {
		const struct pattern *p = &di->pats[i];
		if (p->exception && !p->never && pattern_run(p, dir, n, false, true))
			return true;
	}
	return false;
}

bool dockerignore_has_exceptions(const struct dockerignore *di)
{
	return di && di->has_exceptions;
}

#define RESOLVE_MAX_LINKS 40

/* whether the filtered context holds path, which the lookup found as kind */
static bool resolve_visible(const struct dockerignore *di, const char *path, int kind)
{
	if (!di || !*path || !dockerignore_match(di, path))
		return true;
	/* an ignored directory is still there when an exception may bring back something below
	 * it; as the last component, the walk of its contents applies the rules to each entry */
	return kind == DOCKERIGNORE_ENT_DIR && dockerignore_may_include_below(di, path);
}

int dockerignore_resolve(const struct dockerignore *di, const char *rel, bool follow_last,
                         dockerignore_lookup_fn lookup, void *ud, char **ret)
{
	/* done: the resolved path so far; todo: what is still to resolve, a link's target spliced
	 * in front of it */
	cleanup_buf struct kiln_buf done = KILN_BUF_INIT;
	cleanup_buf struct kiln_buf todo = KILN_BUF_INIT;
	cleanup_buf struct kiln_buf next = KILN_BUF_INIT;
	kiln_buf_adds(&todo, rel);
	size_t pos = 0;
	int links = 0;
	char target[LIMIT_PATH + 1];

	for (;;) {
		while (todo.ptr[pos] == '/')
			pos++;
		if (!todo.ptr[pos])
			break;
		const char *c = todo.ptr + pos;
		size_t len = strcspn(c, "/");
		size_t after = pos + len;
		while (todo.ptr[after] == '/')
			after++;
		bool last = !todo.ptr[after];
		if (len == 1 && c[0] == '.') {
			pos += len;
			continue;
		}
		if (len == 2 && c[0] == '.' && c[1] == '.') {
			char *slash = strrchr(done.ptr, '/');
			kiln_buf_truncate(&done, slash ? (size_t)(slash - done.ptr) : 0);
			pos += len;
			continue;
		}
		size_t mark = done.len;
		if (done.len)
			kiln_buf_addch(&done, '/');
		kiln_buf_add(&done, c, len);
		pos += len;
		if (done.len > LIMIT_PATH)
			return -ENAMETOOLONG;
		int kind = lookup(ud, done.ptr, target, sizeof(target));
		if (kind < 0)
			return kind;
		if (kind == DOCKERIGNORE_ENT_MISSING || !resolve_visible(di, done.ptr, kind))
			return -ENOENT;
		if (kind == DOCKERIGNORE_ENT_LINK && (!last || follow_last)) {
			if (++links > RESOLVE_MAX_LINKS)
				return -ELOOP;
			target[sizeof(target) - 1] = '\0';
			if (target[0] == '/')
				mark = 0;
			kiln_buf_truncate(&done, mark);
			kiln_buf_truncate(&next, 0);
			kiln_buf_adds(&next, target);
			kiln_buf_addch(&next, '/');
			kiln_buf_adds(&next, todo.ptr + pos);
			if (next.len > 16 * LIMIT_PATH)
				return -ENAMETOOLONG;
			kiln_buf_truncate(&todo, 0);
			kiln_buf_add(&todo, next.ptr, next.len);
			pos = 0;
			continue;
		}
		if (!last && kind != DOCKERIGNORE_ENT_DIR)
			return -ENOTDIR;
	}
	*ret = kiln_buf_detach(&done, NULL);
	return 0;
}

/* whether path exists; a missing file or a non-directory on the way is "no" */
static int probe(const char *path, struct kiln_err **err)
{
	struct stat st;
	if (stat(path, &st) == 0)
		return 1;
	if (errno == ENOENT || errno == ENOTDIR)
		return 0;
	return kiln_err_errno(err, "stat '%s'", path);
}

int dockerignore_load(const char *context_dir, const char *dockerfile_path,
                      struct dockerignore **ret, struct kiln_err **err)
{
	assert(context_dir);
	cleanup_free char *beside =
	    dockerfile_path ? xasprintf("%s.dockerignore", dockerfile_path) : NULL;
	cleanup_free char *in_context = path_join(context_dir, ".dockerignore");
	const char *path = NULL;
	int r;

	if (beside) {
		r = probe(beside, err);
		if (r < 0)
			return r;
		if (r > 0)
			path = beside;
	}
	if (!path) {
		r = probe(in_context, err);
		if (r < 0)
			return r;
		if (r > 0)
			path = in_context;
	}
	if (!path) {
		*ret = NULL;
		return 0;
	}

	log_info("Using dockerignore file: %s", path);
	cleanup_free char *data = NULL;
	size_t len = 0;
	r = read_file_at(AT_FDCWD, path, LIMIT_SMALL_FILE, &data, &len, err);
	if (r < 0)
		return r;
	return dockerignore_parse(path, data, len, ret, err);
}
