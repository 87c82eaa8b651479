/* shell.c — Dockerfile word expansion with BuildKit's shell-lexer semantics
 * (shared/conformance/buildkit/FORMAT.md §5-7): one pass over the code points, quotes and the
 * escape character processed, ${...} forms expanded recursively, optional word splitting. */
#include "shell.h"
#include "unicode.h"

#include "util/buf.h"
#include "util/limits.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CP_EOF  INT32_MIN
#define NO_STOP INT32_MIN
/* bounds the backtracking of all the ${x#p}-style matches of one word together (Go uses an
 * automaton, we use a budget): a word full of patterns cannot hang a build */
#define MATCH_BUDGET 4000000L
/* ${a:-${b:-...}} nesting: each level is a few stack frames, and no real Dockerfile nests more
 * than a handful; BuildKit has no limit (Go stacks grow to 1 GB), this keeps kiln's stack use
 * bounded (100 levels is well under 1 MiB even with sanitizers) */
#define SHELL_MAX_DEPTH 100
/* '*' in a ${x#p} ${x/p/r} pattern: the matcher recurses once per star */
#define MATCH_MAX_STARS 256

struct lex {
	const char *s;
	size_t n, pos;
	int32_t escape;
	shell_lookup_fn lookup;
	void *ud;
	unsigned depth; /* ${...} nesting */
	long budget;    /* pattern matching steps left for the word */
};

/* BuildKit's word splitter: white space ends a word only when it is "splittable" */
struct words {
	char **list;
	struct kiln_buf word;
	bool in_word;
};

static int32_t peek(const struct lex *l)
{
	size_t w;
	if (l->pos >= l->n)
		return CP_EOF;
	return sh_utf8_decode(l->s + l->pos, l->n - l->pos, &w);
}

/* consumes one code point; its bytes are *p, *len */
static int32_t next(struct lex *l, const char **p, size_t *len)
{
	size_t w;
	if (l->pos >= l->n) {
		*p = l->s + l->n, *len = 0;
		return CP_EOF;
	}
	int32_t cp = sh_utf8_decode(l->s + l->pos, l->n - l->pos, &w);
	*p = l->s + l->pos, *len = w;
	l->pos += w;
	return cp;
}

static void skip(struct lex *l)
{
	const char *p;
	size_t n;
	next(l, &p, &n);
}

static int out_add(struct kiln_buf *b, const char *p, size_t n, struct kiln_err **err)
{
	if (b->len + n > LIMIT_WORD)
		return kiln_err_limit(err, "expanded word is longer than %u bytes", LIMIT_WORD);
	kiln_buf_add(b, p, n);
	return 0;
}

static int out_adds(struct kiln_buf *b, const char *s, struct kiln_err **err)
{
	return out_add(b, s, strlen(s), err);
}

static void words_flush(struct words *w)
{
	if (w->word.len > 0)
		strv_push(&w->list, kiln_buf_detach(&w->word, NULL));
	w->in_word = false;
}

static void words_add_raw(struct words *w, const char *p, size_t n)
{
	kiln_buf_add(&w->word, p, n);
	w->in_word = true;
}

static void words_add_char(struct words *w, int32_t cp, const char *p, size_t n)
{
	if (sh_uni_isspace(cp)) {
		if (w->in_word && w->word.len > 0)
			words_flush(w);
	} else {
		words_add_raw(w, p, n);
	}
}

/* text from an unquoted $ expansion: its white space splits */
static void words_add_string(struct words *w, const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t cl;
		int32_t cp = sh_utf8_decode(s + i, n - i, &cl);
		words_add_char(w, cp, s + i, cl);
		i += cl;
	}
}

/* value of name in env, the last entry winning; false when unset */
/* shell_lookup_fn over a "KEY=VALUE" list: the last entry wins */
static const char *strv_lookup(void *ud, const char *name, size_t nl)
{
	char *const *env = ud;
	const char *found = NULL;
	for (size_t i = 0; env && env[i]; i++) {
		const char *e = env[i];
		if (strncmp(e, name, nl) != 0)
			continue;
		if (e[nl] == '=')
			found = e + nl + 1;
		else if (e[nl] == '\0')
			found = "";
	}
	return found;
}

static bool env_get(const struct lex *l, const char *name, size_t nl, const char **ret)
{
	const char *v = l->lookup(l->ud, name, nl);
	*ret = v ? v : "";
	return v != NULL;
}

static bool is_special_param(int32_t cp)
{
	return cp == '@' || cp == '*' || cp == '#' || cp == '?' || cp == '-' || cp == '$' ||
	       cp == '!' || cp == '0';
}

/* a run of digits; or one special parameter character; or letters, digits and '_' */
static void process_name(struct lex *l, struct kiln_buf *name)
{
	const char *p;
	size_t n;
	int32_t cp = peek(l);

	if (cp != CP_EOF && sh_uni_isdigit(cp)) {
		while ((cp = peek(l)) != CP_EOF && sh_uni_isdigit(cp)) {
			next(l, &p, &n);
			kiln_buf_add(name, p, n);
		}
		return;
	}
	if (cp != CP_EOF && is_special_param(cp)) {
		next(l, &p, &n);
		kiln_buf_add(name, p, n);
		return;
	}
	while ((cp = peek(l)) != CP_EOF &&
	       (sh_uni_isletter(cp) || sh_uni_isdigit(cp) || cp == '_')) {
		next(l, &p, &n);
		kiln_buf_add(name, p, n);
	}
}

static int process_stop_on(struct lex *l, int32_t stop, bool raw_escapes, struct kiln_buf *out,
                           struct words *w, struct kiln_err **err);

static int process_single_quote(struct lex *l, struct kiln_buf *out, struct kiln_err **err)
{
	const char *p;
	size_t n;
	skip(l);
	for (;;) {
		int32_t cp = next(l, &p, &n);
		if (cp == CP_EOF)
			return kiln_err_set(err, "unexpected end of statement while looking for "
			                         "matching single-quote");
		if (cp == '\'')
			return 0;
		if (out_add(out, p, n, err) < 0)
			return -1;
	}
}

static int process_dollar(struct lex *l, struct kiln_buf *out, struct kiln_err **err);

static int process_double_quote(struct lex *l, struct kiln_buf *out, struct kiln_err **err)
{
	const char *p;
	size_t n;
	skip(l);
	for (;;) {
		int32_t cp = peek(l);
		if (cp == CP_EOF)
			return kiln_err_set(err, "unexpected end of statement while looking for "
			                         "matching double-quote");
		if (cp == '"') {
			skip(l);
			return 0;
		}
		if (cp == '$') {
			if (process_dollar(l, out, err) < 0)
				return -1;
			continue;
		}
		next(l, &p, &n);
		if (cp == l->escape) {
			int32_t nx = peek(l);
			if (nx == CP_EOF)
				continue; /* reported as the missing quote above */
			/* only these can be escaped inside "...": otherwise both characters stay */
			if (nx == '"' || nx == '$' || nx == l->escape)
				next(l, &p, &n);
		}
		if (out_add(out, p, n, err) < 0)
			return -1;
	}
}

/* ---- patterns of ${x#p} ${x%p} ${x/p/r}: '*', '?' and '\' escapes, as BuildKit ---- */

enum { TOK_LIT, TOK_ANY, TOK_STAR };
struct tok {
	int kind;
	int32_t cp;
};

struct cps {
	int32_t *cp;
	size_t *off; /* byte offset of each code point, plus one past the end */
	size_t n;
};

static void cps_init(struct cps *c, const char *s, size_t len)
{
	c->cp = xcalloc(len + 1, sizeof(int32_t));
	c->off = xcalloc(len + 1, sizeof(size_t));
	c->n = 0;
	for (size_t i = 0; i < len;) {
		size_t w;
		c->off[c->n] = i;
		c->cp[c->n++] = sh_utf8_decode(s + i, len - i, &w);
		i += w;
	}
	c->off[c->n] = len;
}

static void cps_release(struct cps *c)
{
	free(c->cp);
	free(c->off);
}

static int compile_pattern(const char *pat, struct tok **ret, size_t *ret_n, struct kiln_err **err)
{
	cleanup_free struct tok *t = NULL;
	size_t n = 0, cap = 0, len = strlen(pat), stars = 0;

	for (size_t i = 0; i < len;) {
		size_t w;
		int32_t cp = sh_utf8_decode(pat + i, len - i, &w);
		struct tok tk = {TOK_LIT, cp};
		i += w;
		if (cp == '*') {
			tk.kind = TOK_STAR;
		} else if (cp == '?') {
			tk.kind = TOK_ANY;
		} else if (cp == '\\') {
			/* "\}" and "\/" only protected the ${} syntax; the '\' is not in the pattern */
			if (i < len && (pat[i] == '}' || pat[i] == '/'))
				continue;
			int32_t nx = i < len ? sh_utf8_decode(pat + i, len - i, &w) : CP_EOF;
			if (nx != '*' && nx != '?' && nx != '\\')
				return kiln_err_set(err,
				                    "invalid pattern '%s' in substitution: invalid "
				                    "escape",
				                    pat);
			tk.cp = nx;
			i += w;
		}
		if (tk.kind == TOK_STAR && ++stars > MATCH_MAX_STARS)
			return kiln_err_set(err, "pattern in substitution has more than %d '*'",
			                    MATCH_MAX_STARS);
		XGROW(t, n + 1, cap);
		t[n++] = tk;
	}
	*ret = TAKE_PTR(t);
	*ret_n = n;
	return 0;
}

struct matcher {
	const struct tok *t;
	size_t nt;
	const int32_t *v;
	size_t nv;
	bool greedy;
	long budget;
	/* bit ti * (nv + 1) + vi: no match of t[ti..] at v[vi..] (a '*' there was tried):
	 * each such state is explored once, so the work is polynomial; NULL when too large */
	uint8_t *failed;
};

#define MATCH_MEMO_BITS (1u << 24)

static void matcher_memo(struct matcher *m)
{
	size_t bits;
	if (size_mul(m->nt + 1, m->nv + 1, &bits) && bits <= MATCH_MEMO_BITS)
		m->failed = xcalloc(bits / 8 + 1, 1);
}

/* end index of the preferred match of t[ti..] at v[vi..] (backtracking order = Go's
 * leftmost-first preference), -1 when none, -2 when over budget */
static long match_at(struct matcher *m, size_t ti, size_t vi)
{
	/* literals and '?' in a loop: only a '*' recurses, so the depth is the stars' count */
	for (;; ti++, vi++) {
		if (--m->budget < 0)
			return -2;
		if (ti == m->nt)
			return (long)vi;
		const struct tok *tk = &m->t[ti];
		if (tk->kind == TOK_STAR)
			break;
		/* like Go's '.', neither '?' nor '*' matches a newline */
		if (vi >= m->nv || (tk->kind == TOK_LIT ? m->v[vi] != tk->cp : m->v[vi] == '\n'))
			return -1;
	}
	size_t bit = ti * (m->nv + 1) + vi;
	if (m->failed && (m->failed[bit / 8] & (1u << (bit % 8))))
		return -1;
	size_t max = 0;
	while (vi + max < m->nv && m->v[vi + max] != '\n')
		max++;
	for (size_t k = 0; k <= max; k++) {
		long r = match_at(m, ti + 1, vi + (m->greedy ? max - k : k));
		if (r != -1)
			return r;
	}
	if (m->failed)
		m->failed[bit / 8] |= (uint8_t)(1u << (bit % 8));
	return -1;
}

static int too_complex(const char *pat, struct kiln_err **err)
{
	return kiln_err_set(err, "pattern '%s' in substitution is too complex", pat);
}

/* ${x#p} ${x##p} ${x%p} ${x%%p} */
static int trim_affix(const char *value, const char *pat, bool suffix, bool greedy, long *budget,
                      struct kiln_buf *out, struct kiln_err **err)
{
	cleanup_free struct tok *t = NULL;
	size_t nt = 0, vlen = strlen(value);
	struct cps v;

	if (compile_pattern(pat, &t, &nt, err) < 0)
		return -1;
	cps_init(&v, value, vlen);
	if (suffix) {
		/* the shortest or longest suffix is a prefix of the reversed value */
		for (size_t i = 0; i < nt / 2; i++) {
			struct tok x = t[i];
			t[i] = t[nt - 1 - i], t[nt - 1 - i] = x;
		}
		for (size_t i = 0; i < v.n / 2; i++) {
			int32_t x = v.cp[i];
			v.cp[i] = v.cp[v.n - 1 - i], v.cp[v.n - 1 - i] = x;
		}
	}
	struct matcher m = {t, nt, v.cp, v.n, greedy, *budget, NULL};
	matcher_memo(&m);
	long end = match_at(&m, 0, 0);
	*budget = m.budget;
	free(m.failed);
	int r = 0;
	if (end == -2)
		r = too_complex(pat, err);
	else if (end < 0)
		r = out_adds(out, value, err);
	else if (suffix)
		r = out_add(out, value, v.off[v.n - (size_t)end], err);
	else
		r = out_adds(out, value + v.off[end], err);
	cps_release(&v);
	return r;
}

/* ${x/p/r} ${x//p/r}: leftmost match, greedy '*'; replace-all skips an empty match right
 * after the previous match, as Go's ReplaceAllString. r is inserted literally. */
static int replace(const char *value, const char *pat, const char *rep, bool all, long *budget,
                   struct kiln_buf *out, struct kiln_err **err)
{
	cleanup_free struct tok *t = NULL;
	size_t nt = 0, vlen = strlen(value), last = 0, pos = 0;
	long prev_end = -1;
	struct cps v;
	int r = 0;

	if (compile_pattern(pat, &t, &nt, err) < 0)
		return -1;
	cps_init(&v, value, vlen);
	struct matcher m = {t, nt, v.cp, v.n, true, *budget, NULL};
	matcher_memo(&m);
	while (pos <= v.n) {
		long end = -1;
		size_t start;
		for (start = pos; start <= v.n; start++) {
			end = match_at(&m, 0, start);
			if (end != -1)
				break;
		}
		if (end == -2) {
			r = too_complex(pat, err);
			goto out;
		}
		if (end < 0)
			break;
		if (!((size_t)end == start && (long)start == prev_end)) {
			if ((r = out_add(out, value + v.off[last], v.off[start] - v.off[last],
			                 err)) < 0 ||
			    (r = out_adds(out, rep, err)) < 0)
				goto out;
			last = (size_t)end;
		}
		prev_end = end;
		pos = (size_t)end > start ? (size_t)end : start + 1;
		if (!all)
			break;
	}
	r = out_add(out, value + v.off[last], vlen - v.off[last], err);
out:
	*budget = m.budget;
	free(m.failed);
	cps_release(&v);
	return r;
}

static int missing_brace(struct kiln_err **err)
{
	return kiln_err_set(err, "syntax error: missing '}'");
}

static int process_dollar_at(struct lex *l, struct kiln_buf *out, struct kiln_err **err);

static int process_dollar(struct lex *l, struct kiln_buf *out, struct kiln_err **err)
{
	if (l->depth >= SHELL_MAX_DEPTH)
		return kiln_err_set(err, "substitutions nested more than %d levels deep",
		                    SHELL_MAX_DEPTH);
	l->depth++;
	int r = process_dollar_at(l, out, err);
	l->depth--;
	return r;
}

static int process_dollar_at(struct lex *l, struct kiln_buf *out, struct kiln_err **err)
{
	cleanup_buf struct kiln_buf name = KILN_BUF_INIT;
	cleanup_buf struct kiln_buf word = KILN_BUF_INIT;
	cleanup_err struct kiln_err *inner = NULL;
	const char *value, *p;
	size_t n;
	bool set, null_is_unset = false;

	skip(l);
	if (peek(l) != '{') {
		process_name(l, &name);
		if (name.len == 0)
			return out_adds(out, "$", err);
		env_get(l, name.ptr, name.len, &value);
		return out_adds(out, value, err);
	}
	skip(l);
	int32_t cp = peek(l);
	if (cp == CP_EOF)
		return missing_brace(err);
	if (cp == '{' || cp == '}' || cp == ':')
		return kiln_err_set(err, "syntax error: bad substitution");
	process_name(l, &name);
	set = env_get(l, name.ptr, name.len, &value);

	int32_t op = next(l, &p, &n);
	if (op == CP_EOF)
		return missing_brace(err);
	if (op == '}')
		return out_adds(out, value, err);
	if (op == ':') {
		null_is_unset = true;
		op = next(l, &p, &n);
	}
	if (op == '/' && !null_is_unset) {
		cleanup_buf struct kiln_buf rep = KILN_BUF_INIT;
		bool all = peek(l) == '/';
		if (all)
			skip(l);
		if (process_stop_on(l, '/', true, &word, NULL, &inner) < 0) {
			if (peek(l) == CP_EOF)
				return kiln_err_set(err, "syntax error: missing '/' in ${}");
			return kiln_err_set(err, "%s", kiln_err_msg(inner));
		}
		if (process_stop_on(l, '}', true, &rep, NULL, &inner) < 0) {
			if (peek(l) == CP_EOF)
				return missing_brace(err);
			return kiln_err_set(err, "%s", kiln_err_msg(inner));
		}
		return replace(value, word.ptr, rep.ptr, all, &l->budget, out, err);
	}
	bool known = op == '-' || op == '+' || op == '?' || op == '#' || op == '%';
	if (!known && !null_is_unset)
		return kiln_err_set(err, "unsupported modifier (%.*s) in substitution", (int)n, p);
	bool raw = op == '#' || op == '%';
	if (null_is_unset && raw)
		return kiln_err_set(err, "unsupported modifier (:%c) in substitution", (char)op);
	if (process_stop_on(l, '}', raw, &word, NULL, &inner) < 0) {
		if (peek(l) == CP_EOF)
			return missing_brace(err);
		return kiln_err_set(err, "%s", kiln_err_msg(inner));
	}
	bool empty_or_unset = !set || (null_is_unset && value[0] == '\0');
	switch (op) {
	case '-':
		return out_adds(out, empty_or_unset ? word.ptr : value, err);
	case '+':
		return out_adds(out, empty_or_unset ? "" : word.ptr, err);
	case '?':
		if (!set)
			return kiln_err_set(err, "%s: %s", name.ptr,
			                    word.len ? word.ptr : "is not allowed to be unset");
		if (empty_or_unset)
			return kiln_err_set(err, "%s: %s", name.ptr,
			                    word.len ? word.ptr : "is not allowed to be empty");
		return out_adds(out, value, err);
	case '#':
	case '%': {
		/* a doubled operator (## %%) asks for the longest match */
		bool greedy = word.ptr[0] == (char)op;
		return trim_affix(value, word.ptr + greedy, op == '%', greedy, &l->budget, out,
		                  err);
	}
	default:
		if (op == CP_EOF)
			return missing_brace(err);
		return kiln_err_set(err, "unsupported modifier (:%.*s) in substitution", (int)n, p);
	}
}

static int process_stop_on(struct lex *l, int32_t stop, bool raw_escapes, struct kiln_buf *out,
                           struct words *w, struct kiln_err **err)
{
	const char *p;
	size_t n;

	for (int32_t cp; (cp = peek(l)) != CP_EOF;) {
		if (stop != NO_STOP && cp == stop) {
			skip(l);
			return 0;
		}
		if (cp == '\'' || cp == '"' || cp == '$') {
			cleanup_buf struct kiln_buf tmp = KILN_BUF_INIT;
			int r = cp == '\''  ? process_single_quote(l, &tmp, err)
			        : cp == '"' ? process_double_quote(l, &tmp, err)
			                    : process_dollar(l, &tmp, err);
			if (r < 0 || out_add(out, tmp.ptr, tmp.len, err) < 0)
				return -1;
			if (w && cp == '$')
				words_add_string(w, tmp.ptr, tmp.len);
			else if (w)
				words_add_raw(w, tmp.ptr, tmp.len);
			continue;
		}
		next(l, &p, &n);
		if (cp == l->escape) {
			if (raw_escapes) {
				if (w)
					words_add_raw(w, p, n);
				if (out_add(out, p, n, err) < 0)
					return -1;
			}
			if (peek(l) == CP_EOF)
				break; /* a final escape character is dropped */
			next(l, &p, &n);
			if (w)
				words_add_raw(w, p, n);
		} else if (w) {
			words_add_char(w, cp, p, n);
		}
		if (out_add(out, p, n, err) < 0)
			return -1;
	}
	if (stop != NO_STOP) {
		char c = (char)stop;
		return kiln_err_set(err,
		                    "unexpected end of statement while looking for matching %c", c);
	}
	return 0;
}

static int expand(const char *word, shell_lookup_fn lookup, void *ud, char escape, char **ret_word,
                  char ***ret_words, struct kiln_err **err)
{
	cleanup_buf struct kiln_buf out = KILN_BUF_INIT;
	struct words w = {.word = KILN_BUF_INIT};
	struct lex l = {.s = word,
	                .n = strlen(word),
	                .escape = (unsigned char)escape,
	                .lookup = lookup,
	                .ud = ud,
	                .budget = MATCH_BUDGET};
	int r;

	if (escape != '\\' && escape != '`')
		return kiln_err_set(err, "invalid escape character '%c'", escape);
	r = process_stop_on(&l, NO_STOP, false, &out, ret_words ? &w : NULL, err);
	if (r >= 0 && ret_words) {
		words_flush(&w);
		*ret_words = w.list ? TAKE_PTR(w.list) : xcalloc(1, sizeof(char *));
	}
	strv_free(w.list);
	kiln_buf_release(&w.word);
	if (r < 0)
		return r;
	if (ret_word)
		*ret_word = kiln_buf_detach(&out, NULL);
	return 0;
}

int shell_expand_word(const char *word, char *const *env, char escape, char **ret,
                      struct kiln_err **err)
{
	return expand(word, strv_lookup, (void *)env, escape, ret, NULL, err);
}

int shell_expand_words(const char *word, char *const *env, char escape, char ***ret,
                       struct kiln_err **err)
{
	return expand(word, strv_lookup, (void *)env, escape, NULL, ret, err);
}

int shell_expand_word_fn(const char *word, shell_lookup_fn lookup, void *ud, char escape,
                         char **ret, struct kiln_err **err)
{
	return expand(word, lookup, ud, escape, ret, NULL, err);
}

int shell_expand_words_fn(const char *word, shell_lookup_fn lookup, void *ud, char escape,
                          char ***ret, struct kiln_err **err)
{
	return expand(word, lookup, ud, escape, NULL, ret, err);
}
