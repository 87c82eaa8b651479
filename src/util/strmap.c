/* strmap.c — open addressing with linear probing, FNV-1a, at most half full. */
#include "strmap.h"

#include "xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	char *key; /* NULL: empty */
	size_t len;
	size_t value;
	uint64_t hash;
};

struct strmap {
	struct slot *slots;
	size_t cap; /* a power of two */
	size_t n;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

struct strmap *strmap_new(void)
{
	struct strmap *m = xcalloc(1, sizeof(*m));
	m->cap = 16;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	return m;
}

void strmap_clear(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->slots[i].key);
		m->slots[i] = (struct slot){0};
	}
	m->n = 0;
}

struct strmap *strmap_free(struct strmap *m)
{
	if (m) {
		strmap_clear(m);
		free(m->slots);
		free(m);
	}
	return NULL;
}

size_t strmap_size(const struct strmap *m)
{
	return m->n;
}

static struct slot *find(const struct slot *slots, size_t cap, const char *key, size_t len,
                         uint64_t h)
{
	for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
		const struct slot *s = &slots[i];
		if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
			return (struct slot *)s;
	}
}

bool strmap_get(const struct strmap *m, const char *key, size_t len, size_t *ret)
{
	const struct slot *s = find(m->slots, m->cap, key, len, hash_bytes(key, len));
	if (!s->key)
		return false;
	*ret = s->value;
	return true;
}

void strmap_set(struct strmap *m, const char *key, size_t len, size_t value)
{
	uint64_t h = hash_bytes(key, len);
	struct slot *s = find(m->slots, m->cap, key, len, h);
	if (s->key) {
		s->value = value;
		return;
	}
	if (2 * (m->n + 1) > m->cap) {
		size_t nc = 2 * m->cap;
		struct slot *ns = xcalloc(nc, sizeof(*ns));
		for (size_t i = 0; i < m->cap; i++) {
			struct slot *o = &m->slots[i];
			if (o->key)
				*find(ns, nc, o->key, o->len, o->hash) = *o;
		}
		free(m->slots);
		m->slots = ns;
		m->cap = nc;
		s = find(m->slots, m->cap, key, len, h);
	}
	*s = (struct slot){.key = xmemdup(key, len), .len = len, .value = value, .hash = h};
	m->n++;
}
