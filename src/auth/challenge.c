/* challenge.c — WWW-Authenticate parsing (RFC 7235 challenges as registries send them). */
#include "auth.h"

#include "util/buf.h"
#include "util/xalloc.h"

#include <string.h>
#include <strings.h>

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~/:", c));
}

static void skip_ws(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

/* token or quoted-string at *p; heap string */
static int parse_value(const char **p, char **ret)
{
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	const char *s = *p;

	if (*s == '"') {
		s++;
		for (;;) {
			if (!*s)
				return -1;
			if (*s == '"')
				break;
			if (*s == '\\') {
				s++;
				if (!*s)
					return -1;
			}
			kiln_buf_addch(&b, *s++);
		}
		s++;
	} else {
		while (*s && is_tchar(*s))
			kiln_buf_addch(&b, *s++);
		/* token68-style padding after a token value */
		while (*s == '=')
			kiln_buf_addch(&b, *s++);
	}
	*p = s;
	*ret = kiln_buf_detach(&b, NULL);
	return 0;
}

int auth_challenge_parse(const char *header, struct auth_challenge *ret, struct kiln_err **err)
{
	struct auth_challenge c = {};
	const char *p = header;

	skip_ws(&p);
	const char *start = p;
	while (*p && is_tchar(*p))
		p++;
	if (p == start)
		return kiln_err_set(err, "parse WWW-Authenticate header: missing scheme");
	size_t n = (size_t)(p - start);
	if (n == 5 && strncasecmp(start, "basic", 5) == 0)
		c.scheme = xstrdup("Basic");
	else if (n == 6 && strncasecmp(start, "bearer", 6) == 0)
		c.scheme = xstrdup("Bearer");
	else
		c.scheme = xstrndup(start, n);

	for (;;) {
		skip_ws(&p);
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		const char *k = p;
		while (*p && is_tchar(*p))
			p++;
		size_t klen = (size_t)(p - k);
		skip_ws(&p);
		if (klen == 0 || *p != '=') {
			/* a second challenge ("..., Basic realm=x") or garbage: stop at the first */
			if (klen > 0)
				break;
			auth_challenge_release(&c);
			return kiln_err_set(err,
			                    "parse WWW-Authenticate header: malformed parameter");
		}
		p++;
		skip_ws(&p);
		char *v = NULL;
		if (parse_value(&p, &v) < 0) {
			auth_challenge_release(&c);
			return kiln_err_set(
			    err, "parse WWW-Authenticate header: unterminated quoted string");
		}
		char **slot = NULL;
		if (klen == 5 && strncasecmp(k, "realm", 5) == 0)
			slot = &c.realm;
		else if (klen == 7 && strncasecmp(k, "service", 7) == 0)
			slot = &c.service;
		else if (klen == 5 && strncasecmp(k, "scope", 5) == 0)
			slot = &c.scope;
		if (slot && !*slot)
			*slot = v;
		else
			free(v);
	}
	*ret = c;
	return 0;
}

void auth_challenge_release(struct auth_challenge *c)
{
	free(c->scheme);
	free(c->realm);
	free(c->service);
	free(c->scope);
	*c = (struct auth_challenge){};
}
