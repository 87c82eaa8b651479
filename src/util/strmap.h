/* strmap.h — a hash map from byte strings to indexes (size_t), for the look-ups that must stay
 * O(1) however long a Dockerfile is: ENV and ARG names in a stage. */
#pragma once

#include "macro.h"

#include <stdbool.h>
#include <stddef.h>

struct strmap;

struct strmap *strmap_new(void);
struct strmap *strmap_free(struct strmap *m);
DEFINE_FREEP(struct strmap, strmap_free)
/* the value stored for key (len bytes), into *ret; false when absent */
bool strmap_get(const struct strmap *m, const char *key, size_t len, size_t *ret);
/* stores value for key (copied), replacing an earlier value */
void strmap_set(struct strmap *m, const char *key, size_t len, size_t value);
/* forgets every key */
void strmap_clear(struct strmap *m);
size_t strmap_size(const struct strmap *m);
