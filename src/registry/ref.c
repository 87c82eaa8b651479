/* ref.c — image reference parsing (kaniko/ggcr lenient rules). */
#include "ref.h"

#include "util/sha256.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <string.h>

#define DOCKER_HUB "index.docker.io"

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* repository path: lower-case components separated by '/', each alnum runs joined by '.', '_',
 * '__' or '-'+ (distribution's grammar) */
static const char *check_repository(const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return "empty repository";
	if (n > 255)
		return "repository longer than 255 characters";
	for (const char *p = s; *p; p++)
		if (!is_alnum_lower(*p) && !strchr("._-/", *p))
			return "repository can only contain the characters "
			       "'abcdefghijklmnopqrstuvwxyz0123456789_-./'";
	const char *p = s;
	while (*p) {
		size_t clen = strcspn(p, "/");
		if (clen == 0)
			return "empty repository path component";
		if (!is_alnum_lower(p[0]) || !is_alnum_lower(p[clen - 1]))
			return "repository path components must start and end with a letter or "
			       "digit";
		for (size_t i = 0; i + 1 < clen; i++) {
			if (p[i] == '.' && !is_alnum_lower(p[i + 1]))
				return "invalid separator in repository";
			if (p[i] == '_' && p[i + 1] != '_' && !is_alnum_lower(p[i + 1]))
				return "invalid separator in repository";
			if (p[i] == '_' && p[i + 1] == '_' && i + 2 < clen && p[i + 2] == '_')
				return "invalid separator in repository";
		}
		p += clen;
		if (*p == '/') {
			p++;
			if (!*p)
				return "repository ends with '/'";
		}
	}
	return NULL;
}

static const char *check_tag(const char *t)
{
	size_t n = strlen(t);
	if (n == 0)
		return "empty tag";
	if (n > 128)
		return "tag longer than 128 characters";
	for (const char *p = t; *p; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		          (*p >= '0' && *p <= '9') || *p == '_' ||
		          (p != t && (*p == '.' || *p == '-'));
		if (!ok)
			return "tag can only contain letters, digits, '_', '.' and '-' (not first)";
	}
	return NULL;
}

static const char *check_registry(const char *h)
{
	if (!*h)
		return "empty registry";
	for (const char *p = h; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(".-:[]", *p)))
			return "invalid character in registry";
	return NULL;
}

int image_ref_parse(const char *s, struct image_ref **ret, struct kiln_err **err)
{
	_cleanup_(image_ref_freep) struct image_ref *r = xcalloc(1, sizeof(*r));
	cleanup_free char *name = NULL;
	const char *why = NULL;

	if (!s || !*s)
		return kiln_err_set(err, "invalid reference '': empty");
	const char *at = strchr(s, '@');
	if (at) {
		if (!digest_valid(at + 1))
			return kiln_err_set(
			    err,
			    "invalid reference '%s': digest must be 'sha256:' and 64 "
			    "lower-case hex digits",
			    s);
		r->digest = xstrdup(at + 1);
		name = xstrndup(s, (size_t)(at - s));
	} else {
		name = xstrdup(s);
	}

	/* a tag is a ':' after the last '/' */
	char *slash = strrchr(name, '/');
	char *colon = strrchr(slash ? slash : name, ':');
	if (colon) {
		*colon = 0;
		r->tag = xstrdup(colon + 1);
		if ((why = check_tag(r->tag)))
			return kiln_err_set(err, "invalid reference '%s': %s", s, why);
	} else if (!r->digest) {
		r->tag = xstrdup("latest");
	}

	char *first_slash = strchr(name, '/');
	const char *repo = name;
	if (first_slash) {
		size_t hlen = (size_t)(first_slash - name);
		bool is_host = memchr(name, '.', hlen) || memchr(name, ':', hlen) ||
		               (hlen == 9 && strneq(name, "localhost", 9));
		if (is_host) {
			r->registry = xstrndup(name, hlen);
			repo = first_slash + 1;
		}
	}
	if (!r->registry || streq(r->registry, "docker.io")) {
		free(r->registry);
		r->registry = xstrdup(DOCKER_HUB);
	}
	if ((why = check_registry(r->registry)))
		return kiln_err_set(err, "invalid reference '%s': %s", s, why);
	if (streq(r->registry, DOCKER_HUB) && *repo && !strchr(repo, '/'))
		r->repository = xasprintf("library/%s", repo);
	else
		r->repository = xstrdup(repo);
	if ((why = check_repository(r->repository)))
		return kiln_err_set(err, "invalid reference '%s': %s", s, why);

	*ret = TAKE_PTR(r);
	return 0;
}

char *image_ref_string(const struct image_ref *r)
{
	if (r->digest)
		return xasprintf("%s/%s@%s", r->registry, r->repository, r->digest);
	return xasprintf("%s/%s:%s", r->registry, r->repository, r->tag ? r->tag : "latest");
}

char *image_ref_name(const struct image_ref *r)
{
	return xasprintf("%s/%s", r->registry, r->repository);
}

struct image_ref *image_ref_dup(const struct image_ref *r)
{
	struct image_ref *d = xcalloc(1, sizeof(*d));
	d->registry = xstrdup(r->registry);
	d->repository = xstrdup(r->repository);
	d->tag = r->tag ? xstrdup(r->tag) : NULL;
	d->digest = r->digest ? xstrdup(r->digest) : NULL;
	return d;
}

struct image_ref *image_ref_free(struct image_ref *r)
{
	if (!r)
		return NULL;
	free(r->registry);
	free(r->repository);
	free(r->tag);
	free(r->digest);
	free(r);
	return NULL;
}
