/* walk.h — an iterative depth-first walk of a directory tree. No recursion, so any depth is
 * fine for the stack, and a bounded number of open descriptors: directories more than
 * WALK_OPEN_LEVELS above the one being read are closed, then reopened by name (and checked to
 * be the same directory) when the walk comes back to them. A context 100,000 directories deep
 * costs memory for the names on the way, never a stack overflow or EMFILE. */
#pragma once

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#define WALK_OPEN_LEVELS 16

struct walk_entry {
	int dirfd;        /* the open directory that holds the entry */
	int shadow_dirfd; /* the same directory in the shadow tree, or -1 */
	const char *name; /* the entry's name in dirfd */
	const char *path; /* relative to the top, '/'-separated: "a/b/name" */
	size_t depth;     /* 1 for the top's own entries */
	struct stat st;   /* lstat of the entry */
	bool post;        /* a directory again, after its entries */
	int tag;          /* set by a directory's visit, seen again by its post visit */
};

/* what a visit returns (or < 0 with *err set, which stops the walk) */
enum {
	WALK_NEXT = 0,    /* go on with the next entry */
	WALK_DESCEND = 1, /* (a directory) walk its entries, then visit it again with post set */
};

typedef int (*walk_fn)(struct walk_entry *e, void *ud, struct kiln_err **err);

struct walk_opts {
	/* a second tree walked in step: each directory the walk enters is opened there too, by
	 * the same name (which the visit creates when needed); -1 for none */
	int shadow_fd;
	/* the order of the names in a directory (a qsort comparator on char *); NULL: strcmp */
	int (*cmp)(const void *, const void *);
	const char *what; /* names the top in messages */
};

/* Walks the entries below topfd (not topfd itself), each directory's names in order. An entry
 * that vanishes between readdir and lstat, or a directory between its visit and its opening,
 * is passed over. */
int walk_tree(int topfd, const struct walk_opts *o, walk_fn fn, void *ud, struct kiln_err **err);
