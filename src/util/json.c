/* json.c — the one file that translates jansson errors into kiln_err. */
#include "json.h"
#include "xalloc.h"

int kjson_parse(const char *data, size_t len, const char *what, json_t **ret, struct kiln_err **err)
{
	json_error_t je;
	json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return kiln_err_set(err, "parse %s: line %d column %d: %s", what, je.line,
		                    je.column, je.text);
	*ret = j;
	return 0;
}

char *kjson_dump(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!s)
		xalloc_die();
	return s;
}

const char *kjson_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}
