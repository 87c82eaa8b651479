/* optparse.c — the option-table machinery of cli/ (optparse.h): Go's value syntax, pflag's
 * parser and cobra's flag help over any table of struct opt. */
#include "cli/optparse.h"
#include "cli/options.h"
#include "context/git.h"
#include "sandbox/sandbox.h"

#include "util/buf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- Go-compatible value parsing ------------------------------------------------------- */

/* Go's strconv.Quote for the strings that appear in messages */
static void add_go_quoted(struct kiln_buf *b, const char *s)
{
	kiln_buf_add_quoted(b, s, false);
}

char *go_quote(const char *s)
{
	struct kiln_buf b = KILN_BUF_INIT;
	add_go_quoted(&b, s);
	return kiln_buf_detach(&b, NULL);
}

/* strconv.ParseBool */
int go_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (streq(s, yes[i])) {
			*ret = true;
			return 0;
		}
		if (streq(s, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return -1;
}

/* strconv.ParseInt(s, 0, 64), narrowed to int; *ret_msg gets strconv's reason on failure */
static int go_parse_int(const char *s, int *ret, const char **ret_msg)
{
	const char *p = s;
	bool neg = false;
	unsigned base = 10;
	uint64_t v = 0;
	bool digits = false, last_underscore = false, prefixed = false;

	*ret_msg = "invalid syntax";
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16, p += 2, prefixed = true;
	} else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
		base = 2, p += 2, prefixed = true;
	} else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
		base = 8, p += 2, prefixed = true;
	} else if (p[0] == '0' && p[1]) {
		base = 8, p++, prefixed = true, digits = true;
	}
	if (!*p && !digits)
		return -1;
	/* Go allows '_' only between digits or right after a base prefix */
	for (bool first = true; *p; p++, first = false) {
		unsigned d;
		if (*p == '_') {
			if (last_underscore || (first && !prefixed))
				return -1;
			last_underscore = true;
			continue;
		}
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (*p >= 'a' && *p <= 'z')
			d = (unsigned)(*p - 'a' + 10);
		else if (*p >= 'A' && *p <= 'Z')
			d = (unsigned)(*p - 'A' + 10);
		else
			return -1;
		if (d >= base)
			return -1;
		last_underscore = false;
		digits = true;
		if (v > (UINT64_MAX - d) / base)
			v = UINT64_MAX; /* keep scanning for syntax errors; range is checked below */
		else
			v = v * base + d;
	}
	if (!digits || last_underscore)
		return -1;
	*ret_msg = "value out of range";
	if (neg ? v > (uint64_t)INT_MAX + 1 : v > (uint64_t)INT_MAX)
		return -1;
	*ret = neg ? (int)-(int64_t)v : (int)v;
	return 0;
}

/* time.ParseDuration; on failure *ret_msg is Go's message (heap) */
static int go_parse_duration(const char *orig, int64_t *ret, char **ret_msg)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {
	    {"ns", 1},
	    {"us", 1000},
	    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
	    {"\xce\xbcs", 1000}, /* U+03BC Greek mu */
	    {"ms", 1000000},
	    {"s", 1000000000ULL},
	    {"m", 60ULL * 1000000000ULL},
	    {"h", 3600ULL * 1000000000ULL},
	};
	const uint64_t max = 1ULL << 63;
	const char *s = orig;
	uint64_t d = 0;
	bool neg = false;
	cleanup_free char *q = go_quote(orig);

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (streq(s, "0")) {
		*ret = 0;
		return 0;
	}
	if (!*s)
		goto invalid;
	while (*s) {
		uint64_t v = 0, f = 0;
		double scale = 1;
		bool pre = false, post = false, overflow_frac = false;

		if (!(*s == '.' || (*s >= '0' && *s <= '9')))
			goto invalid;
		for (; *s >= '0' && *s <= '9'; s++) {
			pre = true;
			if (v > max / 10)
				goto invalid;
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > max)
				goto invalid;
		}
		if (*s == '.') {
			s++;
			for (; *s >= '0' && *s <= '9'; s++) {
				post = true;
				if (overflow_frac)
					continue;
				if (f > (max - 1) / 10) {
					overflow_frac = true;
					continue;
				}
				f = f * 10 + (uint64_t)(*s - '0');
				scale *= 10;
			}
		}
		if (!pre && !post)
			goto invalid;
		size_t ulen = 0;
		while (s[ulen] && s[ulen] != '.' && !(s[ulen] >= '0' && s[ulen] <= '9'))
			ulen++;
		if (ulen == 0) {
			*ret_msg = xasprintf("time: missing unit in duration %s", q);
			return -1;
		}
		uint64_t unit = 0;
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			if (strlen(units[i].unit) == ulen && strneq(s, units[i].unit, ulen))
				unit = units[i].ns;
		}
		if (!unit) {
			cleanup_free char *u = xstrndup(s, ulen);
			cleanup_free char *uq = go_quote(u);
			*ret_msg = xasprintf("time: unknown unit %s in duration %s", uq, q);
			return -1;
		}
		s += ulen;
		if (v > max / unit)
			goto invalid;
		v *= unit;
		if (f > 0) {
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > max)
				goto invalid;
		}
		d += v;
		if (d > max)
			goto invalid;
	}
	if (neg) {
		*ret = d == max ? INT64_MIN : -(int64_t)d;
		return 0;
	}
	if (d > max - 1)
		goto invalid;
	*ret = (int64_t)d;
	return 0;
invalid:
	*ret_msg = xasprintf("time: invalid duration %s", q);
	return -1;
}

/* ---- setting values -------------------------------------------------------------------- */

static void *opt_field(const struct opt_run *run, const struct opt *o)
{
	return (char *)(o->place == P_OPTS ? run->values : run->state) + o->off;
}

bool opt_is_bool(const struct opt *o)
{
	return o->type == T_BOOL;
}

void opt_set_string(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

static void kv_set(struct opt_kv **arr, size_t *n, const char *key, const char *value)
{
	for (size_t i = 0; i < *n; i++) {
		if (streq((*arr)[i].key, key)) {
			opt_set_string(&(*arr)[i].value, value);
			return;
		}
	}
	*arr = xreallocarray(*arr, *n + 1, sizeof(**arr));
	(*arr)[*n] = (struct opt_kv){xstrdup(key), xstrdup(value)};
	(*n)++;
}

/* multiKeyMultiValueArg.Set: ';'-separated key=value pairs. An empty value adds nothing, but an
 * empty pair ("a=b;") is an error; pairs before a bad one stay, as in kaniko. */
int opt_kmv_add(char ***list, const char *value, char **ret_msg)
{
	const char *p = value;
	if (!*value)
		return 0;
	for (;;) {
		size_t len = strcspn(p, ";");
		cleanup_free char *pair = xstrndup(p, len);
		if (!strchr(pair, '=')) {
			*ret_msg =
			    xasprintf("invalid argument value. expect key=value, got %s", pair);
			return -1;
		}
		strv_push(list, TAKE_PTR(pair));
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

/* gitoptions.Set: validates one key=value; the raw text is what build_opts keeps. An unknown
 * key is kept and warned about (kaniko ignores it silently); depth is refused. */
static int git_check(const char *value, char ***warnings, char **ret_msg)
{
	const char *eq = strchr(value, '=');
	bool b;
	if (!eq) {
		*ret_msg = xstrdup("invalid git flag, must be in the key=value format");
		return -1;
	}
	cleanup_free char *msg = NULL;
	int r = context_git_key_check(value, &msg);
	if (r < 0) {
		*ret_msg = TAKE_PTR(msg);
		return -1;
	}
	if (r > 0)
		strv_push(warnings, TAKE_PTR(msg));
	size_t klen = (size_t)(eq - value);
	bool boolean_key =
	    (klen == STRLEN("single-branch") && startswith(value, "single-branch")) ||
	    (klen == STRLEN("recurse-submodules") && startswith(value, "recurse-submodules")) ||
	    (klen == STRLEN("insecure-skip-tls") && startswith(value, "insecure-skip-tls"));
	if (boolean_key && go_parse_bool(eq + 1, &b) < 0) {
		cleanup_free char *q = go_quote(eq + 1);
		*ret_msg = xasprintf("strconv.ParseBool: parsing %s: invalid syntax", q);
		return -1;
	}
	return 0;
}

/* pflag's FlagSet.Set: store value, or fail with pflag's "invalid argument" message */
static int opt_set(struct opt_run *run, const struct opt *o, const char *value,
                   struct kiln_err **err)
{
	void *field = opt_field(run, o);
	cleanup_free char *why = NULL;

	switch (o->type) {
	case T_STRING:
		/* an empty value means "unset" where kaniko's default is empty: such fields are
		 * NULL when unset, so consumers test the pointer */
		if (!*value && !o->def) {
			free(*(char **)field);
			*(char **)field = NULL;
		} else {
			opt_set_string(field, value);
		}
		break;
	case T_BOOL:
		if (go_parse_bool(value, field) < 0) {
			cleanup_free char *q = go_quote(value);
			why = xasprintf("strconv.ParseBool: parsing %s: invalid syntax", q);
		}
		break;
	case T_INT: {
		const char *msg = NULL;
		if (go_parse_int(value, field, &msg) < 0) {
			cleanup_free char *q = go_quote(value);
			why = xasprintf("strconv.ParseInt: parsing %s: %s", q, msg);
		}
		break;
	}
	case T_DURATION:
		go_parse_duration(value, field, &why);
		break;
	case T_MULTI:
		strv_push(field, xstrdup(value));
		break;
	case T_KV: {
		const char *eq = strchr(value, '=');
		if (!eq) {
			why = xasprintf("invalid argument value. expect key=value, got %s", value);
			break;
		}
		cleanup_free char *key = xstrndup(value, (size_t)(eq - value));
		kv_set(field, (size_t *)((char *)run->values + o->off_n), key, eq + 1);
		break;
	}
	case T_KMV:
		opt_kmv_add(field, value, &why);
		break;
	case T_GIT:
		if (git_check(value, run->warnings, &why) == 0)
			strv_push(field, xstrdup(value));
		break;
	case T_COMPRESSION:
		if (streq(value, "gzip") || streq(value, "zstd"))
			opt_set_string(field, value);
		else
			why = xstrdup("must be either \"gzip\" or \"zstd\"");
		break;
	case T_ISOLATION:
		if (streq(value, "auto") || streq(value, "chroot") || streq(value, "inplace"))
			opt_set_string(field, value);
		else
			why = xstrdup("must be one of \"auto\", \"chroot\" or \"inplace\"");
		break;
	case T_SIZE: {
		uint64_t size = 0;
		if (cli_parse_store_size(value, &size) == 0)
			opt_set_string(field, value);
		else
			why = xstrdup("must be a size such as 5G, 512M or 1073741824, or "
			              "\"unlimited\"");
		break;
	}
	case T_STORAGE: {
		uint64_t size = 0;
		if (streq(value, "auto") || streq(value, "disk") || streq(value, "tmpfs") ||
		    (startswith(value, "tmpfs:") &&
		     sandbox_parse_size(value + STRLEN("tmpfs:"), &size) == 0))
			opt_set_string(field, value);
		else
			why = xstrdup("must be \"auto\", \"disk\", \"tmpfs\" or \"tmpfs:<size>\" "
			              "(e.g. tmpfs:8G)");
		break;
	}
	}
	if (why) {
		cleanup_free char *q = go_quote(value);
		if (o->shorthand)
			return kiln_err_set(err, "invalid argument %s for \"-%c, --%s\" flag: %s",
			                    q, o->shorthand, o->name, why);
		return kiln_err_set(err, "invalid argument %s for \"--%s\" flag: %s", q, o->name,
		                    why);
	}
	if (o->deprecated)
		strv_pushf(run->notices, "Flag --%s has been deprecated, %s", o->name,
		           o->deprecated);
	return 0;
}

char **opt_kv_strv(const struct opt_kv *kv, size_t n)
{
	char **v = xcalloc(1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		strv_pushf(&v, "%s=%s", kv[i].key, kv[i].value);
	return v;
}

/* ---- table look-up --------------------------------------------------------------------- */

static const struct opt *find_long(const struct opt *t, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(t[i].name) == len && strneq(t[i].name, name, len))
			return &t[i];
	}
	return NULL;
}

static const struct opt *find_short(const struct opt *t, size_t n, char c)
{
	for (size_t i = 0; i < n; i++) {
		if (t[i].shorthand == c)
			return &t[i];
	}
	return NULL;
}

/* cobra's hasNoOptDefVal / shortHasNoOptDefVal: only booleans take no value */
static bool long_is_bool(const struct opt *t, size_t n, const char *name)
{
	const struct opt *o = find_long(t, n, name, strlen(name));
	return o && opt_is_bool(o);
}

/* ---- cobra: finding the subcommand ----------------------------------------------------- */

size_t opt_positional_words(const struct opt *t, size_t nt, int argc, char **argv, size_t *ret_idx)
{
	size_t n = 0;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (streq(s, "--"))
			break;
		bool takes_value =
		    (startswith(s, "--") && !strchr(s, '=') && !long_is_bool(t, nt, s + 2)) ||
		    (s[0] == '-' && !strchr(s, '=') && strlen(s) == 2 &&
		     !(find_short(t, nt, s[1]) && opt_is_bool(find_short(t, nt, s[1]))));
		if (takes_value) {
			/* cobra stops looking when the value is the last word */
			if (argc - i - 1 <= 1)
				break;
			i++;
			continue;
		}
		if (s[0] && s[0] != '-')
			ret_idx[n++] = (size_t)i;
	}
	return n;
}

/* ---- the parser ------------------------------------------------------------------------ */

static int apply(struct opt_run *run, const struct opt *o, const char *value, int argi,
                 struct kiln_err **err)
{
	size_t i = (size_t)(o - run->table);
	if (!run->first_use[i])
		run->first_use[i] = argi;
	return opt_set(run, o, value, err);
}

/* pflag's parseLongArg; returns the number of extra argv words consumed */
static int parse_long(struct opt_run *run, int argc, char **argv, int i, struct kiln_err **err)
{
	const char *s = argv[i];
	const char *name = s + 2;
	if (!*name || *name == '-' || *name == '=')
		return kiln_err_set(err, "bad flag syntax: %s", s);
	const char *eq = strchr(name, '=');
	size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
	const struct opt *o = find_long(run->table, run->n_table, name, nlen);
	if (!o)
		return kiln_err_set(err, "unknown flag: --%.*s", (int)nlen, name);
	if (eq)
		return apply(run, o, eq + 1, i, err) < 0 ? -1 : 0;
	if (opt_is_bool(o))
		return apply(run, o, "true", i, err) < 0 ? -1 : 0;
	if (i + 1 < argc)
		return apply(run, o, argv[i + 1], i, err) < 0 ? -1 : 1;
	return kiln_err_set(err, "flag needs an argument: %s", s);
}

/* pflag's parseShortArg: -f x, -fx, -f=x, grouped booleans */
static int parse_short(struct opt_run *run, int argc, char **argv, int i, struct kiln_err **err)
{
	const char *s = argv[i];
	const char *sh = s + 1;
	int used = 0;
	while (*sh) {
		const struct opt *o = find_short(run->table, run->n_table, *sh);
		if (!o)
			return kiln_err_set(err, "unknown shorthand flag: '%c' in -%s", *sh, sh);
		if (strlen(sh) > 2 && sh[1] == '=') {
			if (apply(run, o, sh + 2, i, err) < 0)
				return -1;
			break;
		} else if (opt_is_bool(o)) {
			if (apply(run, o, "true", i, err) < 0)
				return -1;
			sh++;
		} else if (sh[1]) {
			if (apply(run, o, sh + 1, i, err) < 0)
				return -1;
			break;
		} else if (i + 1 < argc) {
			if (apply(run, o, argv[i + 1], i, err) < 0)
				return -1;
			used = 1;
			break;
		} else {
			return kiln_err_set(err, "flag needs an argument: '%c' in -%s", *sh, sh);
		}
	}
	return used;
}

int opt_parse_flags(struct opt_run *run, int argc, char **argv, const bool *skip,
                    struct kiln_err **err)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		int used;
		if (skip[i])
			continue;
		if (s[0] != '-' || !s[1]) {
			run->args[run->n_args++] = argv[i];
			continue;
		}
		if (s[1] == '-' && !s[2]) {
			for (i++; i < argc; i++)
				run->args[run->n_args++] = argv[i];
			break;
		}
		used = s[1] == '-' ? parse_long(run, argc, argv, i, err)
		                   : parse_short(run, argc, argv, i, err);
		if (used < 0)
			return -1;
		i += used;
	}
	return 0;
}

int opt_check_implemented(struct opt_run *run, struct kiln_err **err)
{
	const struct opt *first = NULL;
	int first_at = INT_MAX;
	for (size_t i = 0; i < run->n_table; i++) {
		const struct opt *o = &run->table[i];
		if (!run->first_use[i] || (o->flags & IMPL))
			continue;
		if ((o->flags & IMPL_FALSE_ONLY) && !*(bool *)opt_field(run, o))
			continue;
		if (run->first_use[i] < first_at) {
			first = o;
			first_at = run->first_use[i];
		}
	}
	if (first)
		return kiln_err_set(err, "flag --%s is not implemented yet in kiln", first->name);
	return 0;
}

void opt_run_init(struct opt_run *run, const struct opt *table, size_t n, void *values, void *state,
                  char ***warnings, char ***notices, int argc)
{
	*run = (struct opt_run){
	    .table = table,
	    .n_table = n,
	    .values = values,
	    .state = state,
	    .warnings = warnings,
	    .notices = notices,
	    .first_use = xcalloc(n, sizeof(int)),
	    .args = xcalloc((size_t)argc + 1, sizeof(char *)),
	};
}

void opt_run_release(struct opt_run *run)
{
	free(run->first_use);
	free(run->args);
	*run = (struct opt_run){0};
}

/* ---- help ------------------------------------------------------------------------------ */

const char *opt_type_word(enum opt_type t)
{
	switch (t) {
	case T_STRING:
	case T_ISOLATION:
	case T_STORAGE:
	case T_SIZE:
		return "string";
	case T_BOOL:
		return "";
	case T_INT:
		return "int";
	case T_DURATION:
		return "duration";
	case T_MULTI:
		return "multi-arg type";
	case T_KV:
		return "key-value-arg type";
	case T_KMV:
		return "key-multi-value-arg type";
	case T_GIT:
		return "gitoptions";
	case T_COMPRESSION:
		return "compression";
	}
	return "";
}

static int opt_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct opt *const *)a)->name, (*(const struct opt *const *)b)->name);
}

void opt_write_flags(FILE *out, const struct opt *table, size_t nt)
{
	cleanup_free const struct opt **sorted = xcalloc(nt + 1, sizeof(*sorted));
	cleanup_free char **left = xcalloc(nt + 1, sizeof(*left));
	size_t n = 0, maxlen = 0;

	for (size_t i = 0; i < nt; i++) {
		if (!(table[i].flags & HIDDEN) && !table[i].deprecated)
			sorted[n++] = &table[i];
	}
	qsort(sorted, n, sizeof(sorted[0]), opt_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct opt *o = sorted[i];
		const char *tw = opt_type_word(o->type);
		if (o->shorthand)
			left[i] =
			    xasprintf("  -%c, --%s%s%s", o->shorthand, o->name, *tw ? " " : "", tw);
		else
			left[i] = xasprintf("      --%s%s%s", o->name, *tw ? " " : "", tw);
		maxlen = MAX(maxlen, strlen(left[i]));
	}
	for (size_t i = 0; i < n; i++) {
		const struct opt *o = sorted[i];
		fprintf(out, "%s%*s   %s", left[i], (int)(maxlen - strlen(left[i])), "", o->help);
		if (o->def) {
			bool quoted = streq(opt_type_word(o->type), "string");
			fprintf(out, quoted ? " (default \"%s\")" : " (default %s)", o->def);
		}
		fputc('\n', out);
		free(left[i]);
	}
}

void opt_kv_free(struct opt_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}
