/* dockerfile.h — the Dockerfile frontend: BuildKit-compatible parse into instructions, and the
 * BuildKit parse-tree dump (shared/conformance/buildkit/FORMAT.md) used to test it. */
#pragma once

#include "util/buf.h"
#include "util/err.h"

#include <stdbool.h>
#include <stddef.h>

/* "--from=x" -> {"from","x"}; bare "--link" -> value NULL */
struct df_flag {
	char *name;
	char *value;
};

/* expand=false for quoted delimiters; chomp for <<- ; fd -1 unless "3<<EOF" */
struct df_heredoc {
	char *name;
	char *content; /* the raw body lines, line endings included, without the terminator */
	bool expand;
	bool chomp;
	int fd;
};

struct df_instr {
	char *cmd;      /* lower-case instruction name: "from", "run", "copy", ... */
	char *original; /* the logical line (keyword included, continuations joined), BuildKit's
			 * Original; used for history created_by */
	int start_line, end_line; /* 1-based; end_line includes heredoc bodies and terminators */
	struct df_flag *flags;
	size_t n_flags;
	/* NULL-terminated; the parse-tree values in BuildKit's node order: JSON/exec form -> the
	 * list; RUN/CMD/ENTRYPOINT/SHELL shell form -> one string (the rest of the line);
	 * ENV/LABEL -> key,value,key,value...; ARG -> "name" or "name=value" each;
	 * FROM/COPY/ADD/EXPOSE/VOLUME(shell form)/etc -> whitespace-split words;
	 * WORKDIR/USER/STOPSIGNAL/MAINTAINER -> one string; HEALTHCHECK -> the first word as
	 * written ("NONE", "CMD", ...) followed by the command: the JSON list, or one string */
	char **args;
	/* byte length of each args[i]; differs from strlen() only for a JSON "\u0000" */
	size_t *arg_lens;
	size_t n_args;
	bool json; /* exec (JSON) form; for HEALTHCHECK, of the command after "CMD" */
	/* ENV/LABEL written in the old "KEY value" form (one pair, the value kept raw) */
	bool legacy_kv;
	struct df_heredoc *heredocs;
	size_t n_heredocs;
	/* ONBUILD: the nested instruction (allocated), NULL for a bare ONBUILD */
	struct df_instr *sub;
};

struct dockerfile {
	char escape;  /* '\\' or '`' */
	char *syntax; /* "# syntax=" value or NULL */
	char *check;  /* "# check=" value or NULL */
	struct df_instr *instrs;
	size_t n_instrs;
	char **warnings; /* e.g. empty continuation lines, as BuildKit warns; may be NULL */
};

/* path is only used in messages: errors read "Dockerfile:7: unknown instruction: RUNN"
 * (path:line: message). Input larger than LIMIT_DOCKERFILE is refused. */
int dockerfile_parse(const char *path, const char *data, size_t len, struct dockerfile **ret,
                     struct kiln_err **err);
/* appends the BuildKit parse-tree dump (FORMAT.md §2) to out, one line per instruction, each
 * ending in LF (the conformance "result" files add nothing more) */
void dockerfile_dump(const struct dockerfile *df, struct kiln_buf *out);
/* appends s (len bytes) quoted as Go's strconv.Quote does */
void dockerfile_quote(const char *s, size_t len, struct kiln_buf *out);
/* a heredoc's body as BuildKit hands it on: for "<<-" every line's leading tabs removed
 * (allocated) */
char *df_heredoc_body(const struct df_heredoc *h);
struct dockerfile *dockerfile_free(struct dockerfile *df);
DEFINE_FREEP(struct dockerfile, dockerfile_free)
#define cleanup_dockerfile _cleanup_(dockerfile_freep)
