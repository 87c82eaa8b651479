/* jsonform.c — a strict JSON reader for exec-form arguments: it decides "array of strings",
 * "some other valid JSON array" or "not JSON", with Go's decoding rules (invalid UTF-8 and
 * lone surrogates become U+FFFD, "\u0000" is kept). */
#include "jsonform.h"
#include "unicode.h"

#include "util/buf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <string.h>

#define JSON_MAX_DEPTH 1000

struct jr {
	const char *s;
	size_t len, pos;
};

static void jr_ws(struct jr *j)
{
	while (j->pos < j->len && strchr(" \t\r\n", j->s[j->pos]) && j->s[j->pos])
		j->pos++;
}

static bool jr_lit(struct jr *j, const char *word)
{
	size_t n = strlen(word);
	if (j->len - j->pos < n || memcmp(j->s + j->pos, word, n) != 0)
		return false;
	j->pos += n;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool jr_hex4(struct jr *j, uint32_t *ret)
{
	uint32_t v = 0;
	if (j->len - j->pos < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		int h = hexval(j->s[j->pos + i]);
		if (h < 0)
			return false;
		v = v << 4 | (uint32_t)h;
	}
	j->pos += 4;
	*ret = v;
	return true;
}

static void put_utf8(struct kiln_buf *b, uint32_t cp)
{
	char t[4];
	if (cp < 0x80) {
		kiln_buf_addch(b, (char)cp);
	} else if (cp < 0x800) {
		t[0] = (char)(0xc0 | cp >> 6), t[1] = (char)(0x80 | (cp & 0x3f));
		kiln_buf_add(b, t, 2);
	} else if (cp < 0x10000) {
		t[0] = (char)(0xe0 | cp >> 12), t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (char)(0x80 | (cp & 0x3f));
		kiln_buf_add(b, t, 3);
	} else {
		t[0] = (char)(0xf0 | cp >> 18), t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), t[3] = (char)(0x80 | (cp & 0x3f));
		kiln_buf_add(b, t, 4);
	}
}

/* at an opening quote; out may be NULL to only validate */
static bool jr_string(struct jr *j, struct kiln_buf *out)
{
	j->pos++;
	while (j->pos < j->len) {
		unsigned char c = (unsigned char)j->s[j->pos];
		if (c == '"') {
			j->pos++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			uint32_t cp;
			if (++j->pos >= j->len)
				return false;
			c = (unsigned char)j->s[j->pos++];
			switch (c) {
			case '"':
			case '\\':
			case '/':
				cp = c;
				break;
			case 'b':
				cp = '\b';
				break;
			case 'f':
				cp = '\f';
				break;
			case 'n':
				cp = '\n';
				break;
			case 'r':
				cp = '\r';
				break;
			case 't':
				cp = '\t';
				break;
			case 'u':
				if (!jr_hex4(j, &cp))
					return false;
				if (cp >= 0xd800 && cp < 0xdc00) {
					/* a high surrogate pairs only with an escaped low one */
					size_t save = j->pos;
					uint32_t lo;
					if (j->len - j->pos >= 2 && j->s[j->pos] == '\\' &&
					    j->s[j->pos + 1] == 'u') {
						j->pos += 2;
						if (!jr_hex4(j, &lo))
							return false;
						if (lo >= 0xdc00 && lo < 0xe000) {
							cp = 0x10000 + ((cp - 0xd800) << 10) +
							     (lo - 0xdc00);
							break;
						}
						j->pos = save;
					}
					cp = 0xfffd;
				} else if (cp >= 0xdc00 && cp < 0xe000) {
					cp = 0xfffd;
				}
				break;
			default:
				return false;
			}
			if (out)
				put_utf8(out, cp);
			continue;
		}
		size_t n;
		int32_t cp = df_utf8_decode(j->s + j->pos, j->len - j->pos, &n);
		if (out) {
			if (cp < 0)
				put_utf8(out, 0xfffd);
			else
				kiln_buf_add(out, j->s + j->pos, n);
		}
		j->pos += n;
	}
	return false;
}

static bool jr_number(struct jr *j)
{
	size_t p = j->pos;
	const char *s = j->s;
	if (p < j->len && s[p] == '-')
		p++;
	if (p >= j->len)
		return false;
	if (s[p] == '0') {
		p++;
	} else if (s[p] >= '1' && s[p] <= '9') {
		while (p < j->len && s[p] >= '0' && s[p] <= '9')
			p++;
	} else {
		return false;
	}
	if (p < j->len && s[p] == '.') {
		p++;
		if (p >= j->len || s[p] < '0' || s[p] > '9')
			return false;
		while (p < j->len && s[p] >= '0' && s[p] <= '9')
			p++;
	}
	if (p < j->len && (s[p] == 'e' || s[p] == 'E')) {
		p++;
		if (p < j->len && (s[p] == '+' || s[p] == '-'))
			p++;
		if (p >= j->len || s[p] < '0' || s[p] > '9')
			return false;
		while (p < j->len && s[p] >= '0' && s[p] <= '9')
			p++;
	}
	j->pos = p;
	return true;
}

static bool jr_value(struct jr *j, int depth);

static bool jr_container(struct jr *j, int depth, char close)
{
	if (depth > JSON_MAX_DEPTH)
		return false;
	j->pos++;
	jr_ws(j);
	if (j->pos < j->len && j->s[j->pos] == close) {
		j->pos++;
		return true;
	}
	for (;;) {
		if (close == '}') {
			jr_ws(j);
			if (j->pos >= j->len || j->s[j->pos] != '"' || !jr_string(j, NULL))
				return false;
			jr_ws(j);
			if (j->pos >= j->len || j->s[j->pos] != ':')
				return false;
			j->pos++;
		}
		if (!jr_value(j, depth + 1))
			return false;
		jr_ws(j);
		if (j->pos >= j->len)
			return false;
		if (j->s[j->pos] == close) {
			j->pos++;
			return true;
		}
		if (j->s[j->pos] != ',')
			return false;
		j->pos++;
	}
}

static bool jr_value(struct jr *j, int depth)
{
	jr_ws(j);
	if (j->pos >= j->len)
		return false;
	switch (j->s[j->pos]) {
	case '"':
		return jr_string(j, NULL);
	case '[':
		return jr_container(j, depth, ']');
	case '{':
		return jr_container(j, depth, '}');
	case 't':
		return jr_lit(j, "true");
	case 'f':
		return jr_lit(j, "false");
	case 'n':
		return jr_lit(j, "null");
	default:
		return jr_number(j);
	}
}

int df_json_strings(const char *s, size_t len, char ***ret, size_t **ret_lens, size_t *ret_n)
{
	struct jr j = {.s = s, .len = len};
	cleanup_strv char **list = NULL;
	cleanup_free size_t *lens = NULL;
	size_t n = 0, cap = 0;
	bool all_strings = true;

	/* leading Unicode white space is skipped before the '[' test */
	while (j.pos < len) {
		size_t w;
		int32_t cp = df_utf8_decode(s + j.pos, len - j.pos, &w);
		if (!df_uni_isspace(cp))
			break;
		j.pos += w;
	}
	if (j.pos >= len || s[j.pos] != '[')
		return 0;
	j.pos++;
	list = xcalloc(1, sizeof(char *));
	jr_ws(&j);
	if (j.pos < len && s[j.pos] == ']') {
		j.pos++;
	} else {
		for (;;) {
			jr_ws(&j);
			if (j.pos < len && s[j.pos] == '"') {
				cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
				if (!jr_string(&j, &b))
					return 0;
				size_t bl = b.len;
				XGROW(lens, n + 1, cap);
				lens[n++] = bl;
				strv_push(&list, kiln_buf_detach(&b, NULL));
			} else {
				if (!jr_value(&j, 1))
					return 0;
				all_strings = false;
			}
			jr_ws(&j);
			if (j.pos >= len)
				return 0;
			if (s[j.pos] == ']') {
				j.pos++;
				break;
			}
			if (s[j.pos] != ',')
				return 0;
			j.pos++;
		}
	}
	jr_ws(&j);
	if (j.pos != len)
		return 0;
	if (!all_strings)
		return -1;
	*ret = TAKE_PTR(list);
	*ret_lens = TAKE_PTR(lens);
	*ret_n = n;
	return 1;
}
