/* parser.c — Dockerfile text to instructions, following BuildKit's parser rules as written
 * down in shared/conformance/buildkit/FORMAT.md §3 and §4 (lines, directives,
 * continuations, flags, JSON form, per-instruction argument nodes, heredocs). */
#include "dockerfile.h"
#include "jsonform.h"
#include "unicode.h"

#include "util/limits.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <string.h>

struct parser {
	const char *path;
	const char *data;
	size_t len, pos;
	int line; /* physical lines read so far */
	struct dockerfile *df;
	bool directives_done;
};

/* a (pointer, length) view */
struct sv {
	const char *p;
	size_t n;
};

/* ---- small text helpers ---- */

static bool is_hspace(char c)
{
	/* the [\t\v\f\r ] set BuildKit splits keywords and arguments on */
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

static bool is_re_space(char c)
{
	/* Go regexp's \s: [\t\n\f\r ] */
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static struct sv sv_trim_left(struct sv s)
{
	while (s.n > 0) {
		size_t w;
		int32_t cp = df_utf8_decode(s.p, s.n, &w);
		if (!df_uni_isspace(cp))
			break;
		s.p += w, s.n -= w;
	}
	return s;
}

/* the length of the last code point of s (1 for an invalid byte) */
static size_t last_cp(struct sv s, int32_t *ret_cp)
{
	for (size_t k = 1; k <= 4 && k <= s.n; k++) {
		size_t w;
		int32_t cp = df_utf8_decode(s.p + s.n - k, k, &w);
		if (cp >= 0 && w == k) {
			*ret_cp = cp;
			return k;
		}
	}
	*ret_cp = -1;
	return 1;
}

static struct sv sv_trim_right(struct sv s)
{
	while (s.n > 0) {
		int32_t cp;
		size_t w = last_cp(s, &cp);
		if (!df_uni_isspace(cp))
			break;
		s.n -= w;
	}
	return s;
}

static struct sv sv_trim(struct sv s)
{
	return sv_trim_right(sv_trim_left(s));
}

static struct sv sv_trim_newline(struct sv s)
{
	while (s.n > 0 && (s.p[s.n - 1] == '\n' || s.p[s.n - 1] == '\r'))
		s.n--;
	return s;
}

static bool sv_is_comment(struct sv s)
{
	s = sv_trim_left(s);
	return s.n > 0 && s.p[0] == '#';
}

static bool sv_contains(struct sv s, const char *needle)
{
	size_t nl = strlen(needle);
	for (size_t i = 0; i + nl <= s.n; i++) {
		if (memcmp(s.p + i, needle, nl) == 0)
			return true;
	}
	return false;
}

static char *sv_dup(struct sv s)
{
	return xstrndup(s.p, s.n);
}

/* splits s at the first run of [\t\v\f\r ]+; *rest is empty when there is none */
static struct sv sv_split_hspace(struct sv s, struct sv *rest)
{
	size_t i = 0;
	while (i < s.n && !is_hspace(s.p[i]))
		i++;
	struct sv head = {s.p, i};
	while (i < s.n && is_hspace(s.p[i]))
		i++;
	*rest = (struct sv){s.p + i, s.n - i};
	return head;
}

/* ---- instruction building ---- */

static void instr_add_arg(struct df_instr *in, const char *s, size_t n)
{
	in->args = xreallocarray(in->args, in->n_args + 2, sizeof(char *));
	in->arg_lens = xreallocarray(in->arg_lens, in->n_args + 1, sizeof(size_t));
	in->args[in->n_args] = xmemdup(s, n + 1);
	in->args[in->n_args][n] = '\0';
	in->arg_lens[in->n_args] = n;
	in->args[++in->n_args] = NULL;
}

static void instr_add_sv(struct df_instr *in, struct sv s)
{
	instr_add_arg(in, s.p, s.n);
}

static void instr_release(struct df_instr *in)
{
	free(in->cmd);
	free(in->original);
	for (size_t i = 0; i < in->n_flags; i++) {
		free(in->flags[i].name);
		free(in->flags[i].value);
	}
	free(in->flags);
	strv_free(in->args);
	free(in->arg_lens);
	for (size_t i = 0; i < in->n_heredocs; i++) {
		free(in->heredocs[i].name);
		free(in->heredocs[i].content);
	}
	free(in->heredocs);
	if (in->sub) {
		instr_release(in->sub);
		free(in->sub);
	}
	memset(in, 0, sizeof(*in));
}

static void instr_releasep(struct df_instr *in)
{
	instr_release(in);
}

/* ws-split: runs of [\t\v\f\r ]+ separate the nodes */
static void args_ws_split(struct df_instr *in, struct sv args)
{
	while (args.n > 0) {
		struct sv rest;
		struct sv w = sv_split_hspace(args, &rest);
		if (w.n > 0)
			instr_add_sv(in, w);
		else
			rest = (struct sv){args.p + 1, args.n - 1};
		args = rest;
	}
}

/* try the JSON form; 1 done, 0 not JSON, -1 error */
static int args_json(struct df_instr *in, struct sv args)
{
	cleanup_strv char **list = NULL;
	cleanup_free size_t *lens = NULL;
	size_t n = 0;
	int r = df_json_strings(args.p, args.n, &list, &lens, &n);
	if (r <= 0)
		return r;
	for (size_t i = 0; i < n; i++)
		instr_add_arg(in, list[i], lens[i]);
	in->json = true;
	return 1;
}

/* words(): split at unquoted white space, keeping quotes and escape characters (§3.6) */
static void words_split(struct sv s, char escape, char ***ret)
{
	cleanup_buf struct kiln_buf w = KILN_BUF_INIT;
	enum { SPACES, WORD, QUOTE } st = SPACES;
	bool quoted = false;
	char quote = 0;
	size_t i = 0;

	while (i < s.n) {
		size_t cl;
		int32_t cp = df_utf8_decode(s.p + i, s.n - i, &cl);
		char c = s.p[i];

		if (st == SPACES) {
			if (df_uni_isspace(cp)) {
				i += cl;
				continue;
			}
			st = WORD;
		}
		if (st == WORD) {
			if (df_uni_isspace(cp)) {
				if (w.len > 0 || quoted)
					strv_push(ret, kiln_buf_detach(&w, NULL));
				quoted = false;
				st = SPACES;
				i += cl;
				continue;
			}
			if (c == '\'' || c == '"') {
				quote = c;
				quoted = true;
				st = QUOTE;
			} else if (c == escape) {
				if (i + 1 == s.n) { /* a final escape character is dropped */
					i++;
					continue;
				}
				kiln_buf_addch(&w, c);
				i++;
				cp = df_utf8_decode(s.p + i, s.n - i, &cl);
			}
			kiln_buf_add(&w, s.p + i, cl);
			i += cl;
			continue;
		}
		/* QUOTE */
		if (c == quote) {
			st = WORD;
		} else if (c == escape && quote == '"') {
			if (i + 1 == s.n) {
				i++;
				st = WORD;
				continue;
			}
			kiln_buf_addch(&w, c);
			i++;
			cp = df_utf8_decode(s.p + i, s.n - i, &cl);
		}
		kiln_buf_add(&w, s.p + i, cl);
		i += cl;
	}
	if (st != SPACES && (w.len > 0 || quoted))
		strv_push(ret, kiln_buf_detach(&w, NULL));
}

static void instr_add_flag(struct df_instr *in, const char *word)
{
	const char *eq = strchr(word + 2, '=');
	in->flags = xreallocarray(in->flags, in->n_flags + 1, sizeof(*in->flags));
	struct df_flag *f = &in->flags[in->n_flags++];
	f->name = eq ? xstrndup(word + 2, (size_t)(eq - word - 2)) : xstrdup(word + 2);
	f->value = eq ? xstrdup(eq + 1) : NULL;
}

/* takes the leading --flags off s (§3.3); returns the remaining text. Works on bytes, like
 * upstream, but treats only ASCII white space as a separator. */
static struct sv extract_flags(struct df_instr *in, struct sv s, char escape)
{
	cleanup_buf struct kiln_buf w = KILN_BUF_INIT;
	enum { SPACES, WORD, QUOTE } st = SPACES;
	bool blank_ok = false;
	char quote = 0;

	for (size_t pos = 0; pos <= s.n; pos++) {
		char c = pos < s.n ? s.p[pos] : 0;
		if (st == SPACES) {
			if (pos == s.n)
				break;
			if (isspace((unsigned char)c))
				continue;
			if (c != '-' || pos + 1 == s.n || s.p[pos + 1] != '-')
				return (struct sv){s.p + pos, s.n - pos};
			st = WORD;
		}
		if (pos == s.n) {
			if (!streq(w.ptr, "--") && (blank_ok || w.len > 0))
				instr_add_flag(in, w.ptr);
			break;
		}
		if (st == WORD) {
			if (isspace((unsigned char)c)) {
				if (streq(w.ptr, "--"))
					return (struct sv){s.p + pos, s.n - pos};
				if (blank_ok || w.len > 0)
					instr_add_flag(in, w.ptr);
				kiln_buf_reset(&w);
				blank_ok = false;
				st = SPACES;
				continue;
			}
			if (c == '\'' || c == '"') {
				quote = c;
				blank_ok = true;
				st = QUOTE;
				continue;
			}
			if (c == escape) {
				if (pos + 1 == s.n)
					continue;
				c = s.p[++pos];
			}
			kiln_buf_addch(&w, c);
			continue;
		}
		/* QUOTE */
		if (c == quote) {
			st = WORD;
			continue;
		}
		if (c == escape) {
			if (pos + 1 == s.n) {
				st = WORD;
				continue;
			}
			c = s.p[++pos];
		}
		kiln_buf_addch(&w, c);
	}
	return (struct sv){s.p + s.n, 0};
}

static const char *const known_instrs[] = {
    "add",    "arg",   "cmd",         "copy",  "entrypoint", "env",
    "expose", "from",  "healthcheck", "label", "maintainer", "onbuild",
    "run",    "shell", "stopsignal",  "user",  "volume",     "workdir",
};

static int parse_kv(struct df_instr *in, struct sv args, char escape, const char *key,
                    const char *where, struct kiln_err **err)
{
	cleanup_strv char **words = NULL;
	words_split(args, escape, &words);
	if (!words)
		return 0;
	if (!strchr(words[0], '=')) {
		/* old form: "KEY value with spaces", the value kept raw */
		struct sv rest;
		struct sv k = sv_split_hspace(args, &rest);
		if (rest.n == 0)
			return kiln_err_set(err, "%s: %s must have two arguments", where, key);
		instr_add_sv(in, k);
		instr_add_sv(in, rest);
		in->legacy_kv = true;
		return 0;
	}
	strv_foreach (w, words) {
		const char *eq = strchr(w, '=');
		if (!eq)
			return kiln_err_set(
			    err,
			    "%s: %s syntax error - can't find = in '%s'. Must be of "
			    "the form: name=value",
			    where, key, w);
		if (eq == w)
			return kiln_err_set(err, "%s: %s names can not be blank", where, key);
		instr_add_arg(in, w, (size_t)(eq - w));
		instr_add_arg(in, eq + 1, strlen(eq + 1));
	}
	return 0;
}

static int parse_line(struct parser *p, struct sv line, int lineno, struct df_instr *in,
                      struct kiln_err **err);

static int parse_args(struct parser *p, struct df_instr *in, struct sv args, int lineno,
                      const char *where, struct kiln_err **err)
{
	const char *c = in->cmd;
	char esc = p->df->escape;
	int r;

	if (streq(c, "from") || streq(c, "expose")) {
		args_ws_split(in, args);
	} else if (streq(c, "add") || streq(c, "copy") || streq(c, "volume")) {
		r = args_json(in, args);
		if (r < 0)
			goto not_strings;
		if (r == 0)
			args_ws_split(in, args);
	} else if (streq(c, "run") || streq(c, "cmd") || streq(c, "entrypoint") ||
	           streq(c, "shell")) {
		r = args_json(in, args);
		if (r < 0)
			goto not_strings;
		if (r == 0 && args.n > 0)
			instr_add_sv(in, args);
	} else if (streq(c, "maintainer") || streq(c, "user") || streq(c, "workdir") ||
	           streq(c, "stopsignal")) {
		if (args.n > 0)
			instr_add_sv(in, args);
	} else if (streq(c, "arg")) {
		cleanup_strv char **words = NULL;
		words_split(args, esc, &words);
		strv_foreach (w, words)
			instr_add_arg(in, w, strlen(w));
	} else if (streq(c, "env") || streq(c, "label")) {
		return parse_kv(in, args, esc, streq(c, "env") ? "ENV" : "LABEL", where, err);
	} else if (streq(c, "healthcheck")) {
		size_t i = 0;
		while (i < args.n && !isspace((unsigned char)args.p[i]))
			i++;
		if (i == 0)
			return 0;
		instr_add_arg(in, args.p, i);
		struct sv rest = sv_trim_left((struct sv){args.p + i, args.n - i});
		r = args_json(in, rest);
		if (r < 0)
			goto not_strings;
		if (r == 0 && rest.n > 0)
			instr_add_sv(in, rest);
	} else if (streq(c, "onbuild")) {
		if (args.n == 0)
			return 0;
		cleanup_with(instr_releasep) struct df_instr sub = {0};
		if (parse_line(p, args, lineno, &sub, err) < 0)
			return -1;
		if (streq(sub.cmd, "onbuild"))
			return kiln_err_set(
			    err, "%s: chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", where);
		if (streq(sub.cmd, "from") || streq(sub.cmd, "maintainer"))
			return kiln_err_set(err, "%s: %s isn't allowed as an ONBUILD trigger",
			                    where, sub.cmd);
		in->sub = xmemdup(&sub, sizeof(sub));
		memset(&sub, 0, sizeof(sub));
	}
	return 0;

not_strings:
	return kiln_err_set(err, "%s: %s: JSON arguments must be an array of strings", where, c);
}

/* one logical line (or ONBUILD's rest) -> keyword, flags, argument nodes */
static int parse_line(struct parser *p, struct sv line, int lineno, struct df_instr *in,
                      struct kiln_err **err)
{
	cleanup_free char *where = xasprintf("%s:%d", p->path, lineno);
	struct sv rest;
	struct sv kw = sv_split_hspace(sv_trim(line), &rest);
	bool known = false;

	in->original = sv_dup(line);
	in->cmd = sv_dup(kw);
	for (char *c = in->cmd; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	for (size_t i = 0; i < ARRAY_SIZE(known_instrs); i++)
		known = known || streq(in->cmd, known_instrs[i]);
	if (!known) {
		cleanup_free char *raw = sv_dup(kw);
		return kiln_err_set(err, "%s: unknown instruction: %s", where, raw);
	}
	struct sv args = sv_trim(extract_flags(in, rest, p->df->escape));
	return parse_args(p, in, args, lineno, where, err);
}

/* ---- heredocs (§4) ---- */

char *df_heredoc_body(const struct df_heredoc *h)
{
	const char *src = h->content ? h->content : "";
	if (!h->chomp)
		return xstrdup(src);
	size_t n = strlen(src), o = 0;
	char *out = xmalloc(n + 1);
	bool line_start = true;
	for (size_t i = 0; i < n; i++) {
		if (line_start && src[i] == '\t')
			continue;
		line_start = src[i] == '\n';
		out[o++] = src[i];
	}
	out[o] = '\0';
	return out;
}

/* A shell-word split that keeps quotes and escape characters and leaves '$' alone (what
 * BuildKit gets with raw quotes, raw escapes and unset variables kept). With keep_quotes
 * false, quotes are removed and escapes processed. Returns false on an unterminated quote. */
static bool heredoc_words(struct sv s, bool keep_quotes, bool keep_escapes, char ***ret)
{
	cleanup_buf struct kiln_buf w = KILN_BUF_INIT;
	cleanup_strv char **words = NULL;
	bool in_word = false;
	size_t i = 0;

	while (i < s.n) {
		char c = s.p[i];
		if (c == '\'' || c == '"') {
			char q = c;
			if (keep_quotes)
				kiln_buf_addch(&w, q);
			for (i++;; i++) {
				if (i >= s.n)
					return false;
				c = s.p[i];
				if (c == q)
					break;
				if (c == '\\' && q == '"') {
					if (i + 1 >= s.n)
						return false;
					char nx = s.p[i + 1];
					if (nx == '"' || nx == '$' || nx == '\\') {
						if (keep_escapes)
							kiln_buf_addch(&w, c);
						c = nx;
						i++;
					}
				}
				kiln_buf_addch(&w, c);
			}
			if (keep_quotes)
				kiln_buf_addch(&w, q);
			i++;
			in_word = true;
			continue;
		}
		if (c == '\\') {
			if (keep_escapes)
				kiln_buf_addch(&w, c);
			if (++i >= s.n)
				break;
			kiln_buf_addch(&w, s.p[i++]);
			in_word = true;
			continue;
		}
		size_t cl;
		int32_t cp = df_utf8_decode(s.p + i, s.n - i, &cl);
		if (df_uni_isspace(cp)) {
			if (in_word && w.len > 0) {
				strv_push(&words, kiln_buf_detach(&w, NULL));
				in_word = false;
			}
		} else {
			kiln_buf_add(&w, s.p + i, cl);
			in_word = true;
		}
		i += cl;
	}
	if (w.len > 0)
		strv_push(&words, kiln_buf_detach(&w, NULL));
	*ret = TAKE_PTR(words);
	return true;
}

static size_t count_quotes(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\'' || *s == '"';
	return n;
}

/* 1 and *h filled when word is a heredoc word (^(\d*)<<(-?)\s*([^<]*)$), 0 when not */
static int heredoc_parse_word(const char *word, struct df_heredoc *h, const char *where,
                              struct kiln_err **err)
{
	const char *s = word;
	long fd = -1;

	if (isdigit((unsigned char)*s)) {
		fd = 0;
		for (; isdigit((unsigned char)*s); s++)
			fd = fd < 100000 ? fd * 10 + (*s - '0') : fd;
	}
	if (!startswith(s, "<<"))
		return 0;
	s += 2;
	bool chomp = *s == '-';
	if (chomp)
		s++;
	while (is_re_space(*s))
		s++;
	if (!*s || strchr(s, '<'))
		return 0;

	cleanup_strv char **plain = NULL;
	cleanup_strv char **raw = NULL;
	struct sv rest = {s, strlen(s)};
	if (!heredoc_words(rest, false, false, &plain) || !heredoc_words(rest, true, false, &raw))
		return kiln_err_set(err, "%s: unterminated quote in heredoc name '%s'", where, s);
	if (strv_length(plain) != 1)
		return 0;
	if (strv_length(raw) != 1)
		return kiln_err_set(err,
		                    "%s: internal lexing of heredoc produced inconsistent "
		                    "results: %s",
		                    where, s);
	h->name = xstrdup(plain[0]);
	h->expand = count_quotes(plain[0]) == count_quotes(raw[0]);
	h->chomp = chomp;
	h->fd = fd > 0x7fffffff ? -1 : (int)fd;
	return 1;
}

static bool can_have_heredoc(const struct df_instr *in)
{
	if (streq(in->cmd, "onbuild") && in->sub)
		in = in->sub;
	return !in->json &&
	       (streq(in->cmd, "run") || streq(in->cmd, "copy") || streq(in->cmd, "add"));
}

/* ---- lines and directives ---- */

static bool next_line(struct parser *p, struct sv *raw)
{
	if (p->pos >= p->len)
		return false;
	const char *start = p->data + p->pos;
	const char *nl = memchr(start, '\n', p->len - p->pos);
	size_t n = nl ? (size_t)(nl - start) + 1 : p->len - p->pos;
	*raw = (struct sv){start, n};
	p->pos += n;
	p->line++;
	return true;
}

/* a line of the form "# name = value" at the top of the file (§3.2) */
static int handle_directive(struct parser *p, struct sv s, bool *ret_is_directive,
                            struct kiln_err **err)
{
	size_t i = 0;
	*ret_is_directive = false;
	if (p->directives_done)
		return 0;
	p->directives_done = true;
	if (s.n == 0 || s.p[0] != '#')
		return 0;
	for (i = 1; i < s.n && is_re_space(s.p[i]); i++)
		;
	size_t ns = i;
	if (i >= s.n || !isalpha((unsigned char)s.p[i]))
		return 0;
	while (i < s.n && isalnum((unsigned char)s.p[i]))
		i++;
	cleanup_free char *name = xstrndup(s.p + ns, i - ns);
	while (i < s.n && is_re_space(s.p[i]))
		i++;
	if (i >= s.n || s.p[i] != '=')
		return 0;
	for (i++; i < s.n && is_re_space(s.p[i]); i++)
		;
	size_t ve = s.n;
	while (ve > i && is_re_space(s.p[ve - 1]))
		ve--;
	if (ve == i || memchr(s.p + i, '\n', ve - i))
		return 0;
	for (char *c = name; *c; c++)
		*c = (char)tolower((unsigned char)*c);

	struct dockerfile *df = p->df;
	cleanup_free char *value = xstrndup(s.p + i, ve - i);
	if (streq(name, "escape")) {
		if (df->escape != 0)
			return kiln_err_set(err,
			                    "%s:%d: only one escape parser directive can be used",
			                    p->path, p->line);
		if (!streq(value, "`") && !streq(value, "\\"))
			return kiln_err_set(err,
			                    "%s:%d: invalid escape token '%s' does not match ` "
			                    "or \\",
			                    p->path, p->line, value);
		df->escape = value[0];
	} else if (streq(name, "syntax")) {
		if (df->syntax)
			return kiln_err_set(err,
			                    "%s:%d: only one syntax parser directive can be used",
			                    p->path, p->line);
		df->syntax = TAKE_PTR(value);
	} else if (streq(name, "check")) {
		if (df->check)
			return kiln_err_set(err,
			                    "%s:%d: only one check parser directive can be used",
			                    p->path, p->line);
		df->check = TAKE_PTR(value);
	} else {
		return 0;
	}
	p->directives_done = false;
	*ret_is_directive = true;
	return 0;
}

/* removes a trailing escape character (plus spaces and tabs) that continues the line;
 * returns true when the line is complete */
static bool trim_continuation(struct sv *s, char escape)
{
	size_t e = s->n;
	while (e > 0 && (s->p[e - 1] == ' ' || s->p[e - 1] == '\t'))
		e--;
	if (e == 0 || s->p[e - 1] != escape)
		return true;
	if (e >= 2 && s->p[e - 2] == escape)
		return true;
	s->n = e - 1;
	return false;
}

static int read_heredocs(struct parser *p, struct df_instr *in, struct sv line, const char *where,
                         struct kiln_err **err)
{
	cleanup_strv char **words = NULL;
	if (!heredoc_words(line, true, true, &words))
		return 0;
	strv_foreach (w, words) {
		struct df_heredoc h = {0};
		int r = heredoc_parse_word(w, &h, where, err);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		in->heredocs = xreallocarray(in->heredocs, in->n_heredocs + 1, sizeof(h));
		in->heredocs[in->n_heredocs++] = h;
	}
	for (size_t i = 0; i < in->n_heredocs; i++) {
		struct df_heredoc *h = &in->heredocs[i];
		cleanup_buf struct kiln_buf body = KILN_BUF_INIT;
		struct sv raw;
		bool done = false;
		while (next_line(p, &raw)) {
			struct sv t = sv_trim_newline(raw);
			if (h->chomp) {
				while (t.n > 0 && t.p[0] == '\t')
					t.p++, t.n--;
			}
			if (t.n == strlen(h->name) && memcmp(t.p, h->name, t.n) == 0) {
				done = true;
				break;
			}
			kiln_buf_add(&body, raw.p, raw.n);
		}
		if (!done)
			return kiln_err_set(err, "%s: unterminated heredoc '%s'", where, h->name);
		h->content = kiln_buf_detach(&body, NULL);
	}
	return 0;
}

static int parse_all(struct parser *p, struct kiln_err **err)
{
	struct dockerfile *df = p->df;
	size_t cap = 0;
	struct sv raw;

	while (next_line(p, &raw)) {
		cleanup_buf struct kiln_buf logical = KILN_BUF_INIT;
		struct sv s = sv_trim_left(sv_trim_newline(raw));
		bool is_dir, eol, empty_cont = false;
		int start = p->line;

		if (handle_directive(p, s, &is_dir, err) < 0)
			return -1;
		if (is_dir || sv_is_comment(s))
			continue;
		if (df->escape == 0)
			df->escape = '\\';
		eol = trim_continuation(&s, df->escape);
		if (eol && s.n == 0)
			continue;
		kiln_buf_add(&logical, s.p, s.n);
		while (!eol && next_line(p, &raw)) {
			struct sv c = sv_trim_newline(raw);
			if (sv_is_comment(c))
				continue;
			if (sv_trim_left(c).n == 0) {
				empty_cont = true;
				continue;
			}
			eol = trim_continuation(&c, df->escape);
			kiln_buf_add(&logical, c.p, c.n);
			if (logical.len > LIMIT_DOCKERFILE)
				return kiln_err_limit(err, "%s:%d: line too long", p->path, start);
		}
		struct sv line = {logical.ptr, logical.len};
		if (sv_trim(line).n == 0)
			continue;
		if (empty_cont)
			strv_pushf(&df->warnings, "%s:%d: empty continuation line found in: %s",
			           p->path, start, logical.ptr);

		cleanup_with(instr_releasep) struct df_instr in = {0};
		cleanup_free char *where = xasprintf("%s:%d", p->path, start);
		in.start_line = start;
		if (parse_line(p, line, start, &in, err) < 0)
			return -1;
		if (can_have_heredoc(&in) && sv_contains(line, "<<") &&
		    read_heredocs(p, &in, line, where, err) < 0)
			return -1;
		in.end_line = p->line;
		if (in.sub) {
			in.sub->start_line = in.start_line;
			in.sub->end_line = in.end_line;
		}
		XGROW(df->instrs, df->n_instrs + 1, cap);
		df->instrs[df->n_instrs++] = in;
		memset(&in, 0, sizeof(in));
	}
	if (df->escape == 0)
		df->escape = '\\';
	if (df->n_instrs == 0)
		return kiln_err_set(err, "%s:%d: file with no instructions", p->path,
		                    p->line > 0 ? p->line : 1);
	return 0;
}

int dockerfile_parse(const char *path, const char *data, size_t len, struct dockerfile **ret,
                     struct kiln_err **err)
{
	cleanup_dockerfile struct dockerfile *df = xcalloc(1, sizeof(*df));
	struct parser p = {.path = path ? path : "Dockerfile", .data = data, .len = len, .df = df};

	if (len > LIMIT_DOCKERFILE)
		return kiln_err_limit(err, "%s: file too large (%zu bytes, limit %u)", p.path, len,
		                      LIMIT_DOCKERFILE);
	/* a NUL byte would end every C string made from the line: "COPY a<NUL>b" would copy
	 * 'a'. No file name, variable or command can hold one, so it is refused outright */
	const char *nul = memchr(data, '\0', len);
	if (nul) {
		unsigned line = 1;
		for (const char *c = data; c < nul; c++)
			line += *c == '\n';
		return kiln_err_set(err, "%s:%u: the Dockerfile holds a NUL byte", p.path, line);
	}
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		p.pos = 3;
	if (parse_all(&p, err) < 0)
		return -1;
	*ret = TAKE_PTR(df);
	return 0;
}

struct dockerfile *dockerfile_free(struct dockerfile *df)
{
	if (!df)
		return NULL;
	free(df->syntax);
	free(df->check);
	for (size_t i = 0; i < df->n_instrs; i++)
		instr_release(&df->instrs[i]);
	free(df->instrs);
	strv_free(df->warnings);
	free(df);
	return NULL;
}
