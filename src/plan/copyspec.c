/* copyspec.c — COPY and ADD parsed and validated once (copyspec.h). */
#include "copyspec.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

const char *copy_spec_name(const struct copy_spec *spec)
{
	return spec->kind == COPY_KIND_ADD ? "ADD" : "COPY";
}

/* the flags this kind takes; anything else is refused with the instruction as written */
static bool flag_known(enum copy_kind kind, const char *n)
{
	return streq(n, "from") || streq(n, "chown") || streq(n, "chmod") || streq(n, "link") ||
	       streq(n, "exclude") || (streq(n, "checksum") && kind == COPY_KIND_ADD) ||
	       (streq(n, "parents") && kind == COPY_KIND_COPY);
}

static const struct df_flag *flag_first(const struct df_instr *in, const char *name)
{
	for (size_t i = 0; i < in->n_flags; i++) {
		if (streq(in->flags[i].name, name))
			return &in->flags[i];
	}
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static int parse_flags(const struct df_instr *in, const char *path, struct copy_spec *sp,
                       struct kiln_err **err)
{
	for (size_t i = 0; i < in->n_flags; i++) {
		const struct df_flag *f = &in->flags[i];
		if (!flag_known(sp->kind, f->name))
			return kiln_err_set(err, "%s:%d: %s --%s is not implemented yet in kiln",
			                    path, in->start_line,
			                    sp->kind == COPY_KIND_ADD ? "add" : "copy", f->name);
		if (streq(f->name, "exclude") && f->value)
			strv_push(&sp->excludes, xstrdup(f->value));
	}
	const struct df_flag *from = flag_first(in, "from");
	sp->has_from = from != NULL;
	sp->from = from ? dup_or_null(from->value) : NULL;
	const struct df_flag *chown = flag_first(in, "chown");
	sp->chown = chown && chown->value && *chown->value ? xstrdup(chown->value) : NULL;
	sp->link = flag_first(in, "link") != NULL;
	sp->parents = flag_first(in, "parents") != NULL;
	const struct df_flag *checksum = flag_first(in, "checksum");
	sp->has_checksum = checksum != NULL;
	sp->checksum = checksum ? dup_or_null(checksum->value) : NULL;
	const struct df_flag *chmod = flag_first(in, "chmod");
	if (chmod && chmod->value) {
		char *end = NULL;
		unsigned long m = strtoul(chmod->value, &end, 8);
		if (!*chmod->value || *end || m > 07777)
			return kiln_err_set(err,
			                    "%s:%d: invalid --chmod value '%s' (octal expected)",
			                    path, in->start_line, chmod->value);
		sp->chmod_set = true;
		sp->chmod = (mode_t)m;
	}
	return 0;
}

int copy_spec_parse(const struct df_instr *in, const char *dockerfile_path, struct copy_spec *ret,
                    struct kiln_err **err)
{
	assert(streq(in->cmd, "copy") || streq(in->cmd, "add"));
	_cleanup_(copy_spec_release) struct copy_spec sp = {
	    .kind = streq(in->cmd, "add") ? COPY_KIND_ADD : COPY_KIND_COPY,
	    .line = in->start_line,
	};
	int r = parse_flags(in, dockerfile_path, &sp, err);
	if (r < 0)
		return r;
	size_t nw = strv_length(in->args);
	if (nw < 1 || (nw < 2 && in->n_heredocs == 0))
		return kiln_err_set(err,
		                    "%s:%d: %s requires at least two arguments, but only one "
		                    "was provided. Destination could not be determined",
		                    dockerfile_path, in->start_line, copy_spec_name(&sp));
	for (size_t i = 0; i + 1 < nw; i++)
		strv_push(&sp.sources, xstrdup(in->args[i]));
	sp.n_sources = nw - 1;
	sp.dest = xstrdup(in->args[nw - 1]);
	if (in->n_heredocs) {
		sp.heredocs = xreallocarray(NULL, in->n_heredocs, sizeof(*sp.heredocs));
		for (size_t i = 0; i < in->n_heredocs; i++) {
			const struct df_heredoc *h = &in->heredocs[i];
			/* BuildKit removes the tabs of "<<-" first, then expands */
			sp.heredocs[i] = (struct copy_heredoc){.name = xstrdup(h->name),
			                                       .body = df_heredoc_body(h),
			                                       .expand = h->expand};
			sp.n_heredocs = i + 1;
		}
	}
	*ret = sp;
	sp = (struct copy_spec){0};
	return 0;
}

void copy_spec_release(struct copy_spec *spec)
{
	free(spec->from);
	free(spec->chown);
	free(spec->checksum);
	strv_free(spec->excludes);
	strv_free(spec->sources);
	free(spec->dest);
	for (size_t i = 0; i < spec->n_heredocs; i++) {
		free(spec->heredocs[i].name);
		free(spec->heredocs[i].body);
	}
	free(spec->heredocs);
	*spec = (struct copy_spec){0};
}
