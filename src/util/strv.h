/* strv.h — NULL-terminated arrays of heap strings (argv, env). */
#pragma once

#include "macro.h"

#include <stdbool.h>
#include <stddef.h>

size_t strv_length(char *const *v);
/* appends s, taking ownership */
void strv_push(char ***v, char *s);
void strv_pushf(char ***v, const char *fmt, ...) _printf_(2, 3);
char **strv_dup(char *const *v);
char **strv_free(char **v);
bool strv_contains(char *const *v, const char *s);
/* for "KEY=VALUE" lists: the value of key, or NULL */
const char *strv_env_get(char *const *v, const char *key);
/* set KEY=VALUE, replacing in place when the key exists (order preserved) */
void strv_env_set(char ***v, const char *key, const char *value);

static inline void strv_freep(char ***v)
{
	strv_free(*v);
}
#define cleanup_strv _cleanup_(strv_freep)

#define strv_foreach(s, v) for (char *const *s##_p = (v), *s; s##_p && (s = *s##_p); s##_p++)
