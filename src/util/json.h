/* json.h — jansson glue: parse into kiln_err, canonical dump, typed getters. */
#pragma once

#include "err.h"

#include <jansson.h>
#include <stddef.h>

int kjson_parse(const char *data, size_t len, const char *what, json_t **ret,
                struct kiln_err **err);
/* canonical form: compact, keys sorted; heap string */
char *kjson_dump(const json_t *j);
/* object member as string, or NULL */
const char *kjson_str(const json_t *obj, const char *key);

static inline void kjson_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define cleanup_json _cleanup_(kjson_decrefp)
