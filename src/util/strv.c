/* strv.c — NULL-terminated string arrays. */
#include "strv.h"
#include "xalloc.h"

#include <stdarg.h>
#include <string.h>

size_t strv_length(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

void strv_push(char ***v, char *s)
{
	size_t n = strv_length(*v);
	*v = xreallocarray(*v, n + 2, sizeof(char *));
	(*v)[n] = s;
	(*v)[n + 1] = NULL;
}

void strv_pushf(char ***v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	strv_push(v, xvasprintf(fmt, ap));
	va_end(ap);
}

char **strv_dup(char *const *v)
{
	size_t n = strv_length(v);
	char **r = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(v[i]);
	return r;
}

char **strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
	return NULL;
}

bool strv_contains(char *const *v, const char *s)
{
	strv_foreach (x, v) {
		if (streq(x, s))
			return true;
	}
	return false;
}

static ssize_t env_find(char *const *v, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; v && v[i]; i++) {
		if (strneq(v[i], key, kl) && v[i][kl] == '=')
			return (ssize_t)i;
	}
	return -1;
}

const char *strv_env_get(char *const *v, const char *key)
{
	ssize_t i = env_find(v, key);
	return i < 0 ? NULL : v[i] + strlen(key) + 1;
}

void strv_env_set(char ***v, const char *key, const char *value)
{
	ssize_t i = env_find(*v, key);
	char *kv = xasprintf("%s=%s", key, value);
	if (i < 0) {
		strv_push(v, kv);
	} else {
		free((*v)[i]);
		(*v)[i] = kv;
	}
}
