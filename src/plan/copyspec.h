/* copyspec.h — a COPY or ADD instruction parsed once: its kind, every flag validated (unknown
 * flags, --chmod's octal), the raw source words, the destination and the heredoc sources.
 * Pure: no I/O. Words stay raw (variable expansion needs the stage's environment, which
 * instr/ has); the executor of the instruction (instr/copy.c) expands them. */
#pragma once

#include "dockerfile/dockerfile.h"
#include "util/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum copy_kind {
	COPY_KIND_COPY,
	COPY_KIND_ADD,
};

/* a heredoc source ("COPY <<EOF /dest"): the file it makes and what it holds */
struct copy_heredoc {
	char *name;  /* the delimiter word, the file name under a directory destination */
	char *body;  /* the content as written, "<<-" tabs already removed */
	bool expand; /* the delimiter was unquoted: the body is expanded (after the tabs go) */
};

struct copy_spec {
	enum copy_kind kind;
	int line; /* the instruction's first line, for messages */
	/* --from was given, even bare (a bare one reads the context yet, for ADD, unpacks no
	 * archive: the flag's presence is what ADD checks) */
	bool has_from;
	char *from;  /* raw --from value; NULL when bare or absent */
	char *chown; /* raw --chown value; NULL when absent, bare or empty (then 0:0) */
	bool chmod_set;
	mode_t chmod; /* --chmod, octal, at most 07777 */
	/* --link only changes how BuildKit caches the layer: parsed, the layer is the same */
	bool link;
	bool parents;      /* COPY --parents (given at all: any value counts) */
	char **excludes;   /* raw --exclude patterns in order (bare ones dropped); NULL when none */
	bool has_checksum; /* ADD --checksum given, even bare (a URL source is then required) */
	char *checksum;    /* its raw value, verified against the download; NULL when bare */
	char **sources;    /* raw source words in order; NULL when there are none (heredocs) */
	size_t n_sources;
	char *dest; /* raw destination word */
	struct copy_heredoc *heredocs;
	size_t n_heredocs;
};

/* in is a "copy" or "add" instruction of a parsed Dockerfile; dockerfile_path only names it in
 * errors: "Dockerfile:3: copy --foo is not implemented yet in kiln", "Dockerfile:3: invalid
 * --chmod value '9' (octal expected)", "Dockerfile:3: COPY requires at least two arguments,
 * ...". Of several --from (--chown, --chmod, --checksum) the first counts. */
int copy_spec_parse(const struct df_instr *in, const char *dockerfile_path, struct copy_spec *ret,
                    struct kiln_err **err);
void copy_spec_release(struct copy_spec *spec);
/* "COPY" or "ADD", as messages name the instruction */
const char *copy_spec_name(const struct copy_spec *spec);
