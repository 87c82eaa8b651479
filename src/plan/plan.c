/* plan.c — typed instructions, stages, meta ARGs, target, pruning and the stage graph: what
 * a Dockerfile asks for, worked out before anything is pulled or run (plan.h). Pure: no I/O. */
#include "plan.h"
#include "image/image.h"
#include "shell/shell.h"
#include "util/duration.h"
#include "util/strmap.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	enum instr_kind kind;
} kinds[] = {
    {"add", INSTR_ADD},
    {"arg", INSTR_ARG},
    {"cmd", INSTR_CMD},
    {"copy", INSTR_COPY},
    {"entrypoint", INSTR_ENTRYPOINT},
    {"env", INSTR_ENV},
    {"expose", INSTR_EXPOSE},
    {"from", INSTR_FROM},
    {"healthcheck", INSTR_HEALTHCHECK},
    {"label", INSTR_LABEL},
    {"maintainer", INSTR_MAINTAINER},
    {"onbuild", INSTR_ONBUILD},
    {"run", INSTR_RUN},
    {"shell", INSTR_SHELL},
    {"stopsignal", INSTR_STOPSIGNAL},
    {"user", INSTR_USER},
    {"volume", INSTR_VOLUME},
    {"workdir", INSTR_WORKDIR},
};

bool instr_kind_of(const char *cmd, enum instr_kind *ret)
{
	for (size_t i = 0; cmd && i < ARRAY_SIZE(kinds); i++) {
		if (streq(cmd, kinds[i].name)) {
			*ret = kinds[i].kind;
			return true;
		}
	}
	return false;
}

/* the first flag of that name (the one the instructions have always read) */
static const struct df_flag *flag_get(const struct df_instr *in, const char *name)
{
	for (size_t i = 0; i < in->n_flags; i++) {
		if (streq(in->flags[i].name, name))
			return &in->flags[i];
	}
	return NULL;
}

static int healthcheck_flags(const struct df_instr *in, const char *path,
                             struct plan_healthcheck *hc, struct kiln_err **err)
{
	/* only HEALTHCHECK CMD reads its flags; NONE and unknown types fail on their own */
	if (!in->args || !in->args[0] || strcasecmp(in->args[0], "CMD") != 0)
		return 0;
	static const struct {
		const char *flag;
		size_t off;
	} durations[] = {
	    {"interval", offsetof(struct plan_healthcheck, interval_ns)},
	    {"timeout", offsetof(struct plan_healthcheck, timeout_ns)},
	    {"start-period", offsetof(struct plan_healthcheck, start_period_ns)},
	    {"start-interval", offsetof(struct plan_healthcheck, start_interval_ns)},
	};
	for (size_t i = 0; i < ARRAY_SIZE(durations); i++) {
		const struct df_flag *f = flag_get(in, durations[i].flag);
		int64_t ns;
		if (!f || !f->value)
			continue;
		if (!duration_parse(f->value, &ns) || ns < 0)
			return kiln_err_set(err, "%s:%d: invalid duration for --%s: '%s'", path,
			                    in->start_line, f->name, f->value);
		*(int64_t *)((char *)hc + durations[i].off) = ns;
	}
	const struct df_flag *retries = flag_get(in, "retries");
	if (retries && retries->value) {
		char *end = NULL;
		long v = strtol(retries->value, &end, 10);
		if (end == retries->value || *end || v < 0)
			return kiln_err_set(err, "%s:%d: invalid value for --retries: '%s'", path,
			                    in->start_line, retries->value);
		hc->retries = v;
	}
	return 0;
}

/* fills pi from in; with check, the flags kiln does not implement are errors */
static int instr_type(const struct df_instr *in, const char *path, bool check,
                      struct plan_instr *pi, struct kiln_err **err)
{
	*pi = (struct plan_instr){.in = in};
	if (!instr_kind_of(in->cmd, &pi->kind))
		return kiln_err_set(err, "%s:%d: %s is not a supported command", path,
		                    in->start_line, in->cmd);
	switch (pi->kind) {
	case INSTR_FROM:
		pi->from.image = in->args ? in->args[0] : NULL;
		if (pi->from.image && in->args[1] && !strcasecmp(in->args[1], "as"))
			pi->from.name = in->args[2];
		for (size_t f = 0; f < in->n_flags; f++) {
			if (streq(in->flags[f].name, "platform")) {
				if (!pi->from.platform)
					pi->from.platform = in->flags[f].value;
			} else if (check) {
				return kiln_err_set(err, "%s:%d: FROM --%s is not supported", path,
				                    in->start_line, in->flags[f].name);
			}
		}
		return 0;
	case INSTR_RUN:
		/* RUN --mount/--network/--security change what the command sees: never run
		 * without them */
		if (check && in->n_flags)
			return kiln_err_set(err, "%s:%d: RUN --%s is not implemented yet in kiln",
			                    path, in->start_line, in->flags[0].name);
		return 0;
	case INSTR_HEALTHCHECK:
		return check ? healthcheck_flags(in, path, &pi->healthcheck, err) : 0;
	case INSTR_COPY:
	case INSTR_ADD: {
		const struct df_flag *from = flag_get(in, "from");
		pi->copy.has_from = from != NULL;
		pi->copy.from = from ? from->value : NULL;
		if (!check)
			return 0;
		struct copy_spec *spec = xcalloc(1, sizeof(*spec));
		int r = copy_spec_parse(in, path, spec, err);
		if (r < 0) {
			copy_spec_release(spec);
			free(spec);
			return r;
		}
		pi->copy.spec = spec;
		return 0;
	}
	default:
		return 0;
	}
}

void plan_instrs_free(struct plan_instr *v)
{
	for (size_t i = 0; v && v[i].in; i++) {
		if ((v[i].kind == INSTR_COPY || v[i].kind == INSTR_ADD) && v[i].copy.spec) {
			copy_spec_release(v[i].copy.spec);
			free(v[i].copy.spec);
		}
	}
	free(v);
}

int plan_instrs_parse(const struct dockerfile *df, const char *path, struct plan_instr **ret,
                      struct kiln_err **err)
{
	struct plan_instr *v = xcalloc(df->n_instrs + 1, sizeof(*v)); /* ends with .in NULL */
	for (size_t i = 0; i < df->n_instrs; i++) {
		int r = instr_type(&df->instrs[i], path, true, &v[i], err);
		if (r < 0) {
			v[i] = (struct plan_instr){0};
			plan_instrs_free(v);
			return r;
		}
	}
	*ret = v;
	return 0;
}

/* ---- meta ARGs ---- */

const char *plan_meta_var(void *ud, const char *name, size_t nl)
{
	const struct plan *p = ud;
	size_t i;
	if (!strmap_get(p->meta_ix, name, nl, &i))
		return NULL;
	return p->meta_args[i] + nl + 1;
}

/* sets a meta ARG, replacing an earlier value in place */
static void meta_set(struct plan *p, size_t *n, size_t *cap, const char *name, const char *value)
{
	size_t nl = strlen(name), i;
	char *kv = xasprintf("%s=%s", name, value);
	if (strmap_get(p->meta_ix, name, nl, &i)) {
		free(p->meta_args[i]);
		p->meta_args[i] = kv;
		return;
	}
	XGROW(p->meta_args, *n + 2, *cap);
	strmap_set(p->meta_ix, name, nl, *n);
	p->meta_args[(*n)++] = kv;
	p->meta_args[*n] = NULL;
}

/* BuildKit's automatic platform ARGs: "linux/arm64/v8" -> TARGETOS=linux TARGETARCH=arm64
 * TARGETVARIANT=v8 (BUILD* describe the machine kiln runs on) */
static void platform_args(struct plan *p, size_t *n, size_t *cap, const char *prefix,
                          const char *platform)
{
	cleanup_free char *os = xstrdup(platform);
	char *arch = strchr(os, '/');
	char *variant = NULL;
	if (arch) {
		*arch++ = '\0';
		variant = strchr(arch, '/');
		if (variant)
			*variant++ = '\0';
	}
	/* BuildKit formats the normalised platform, where arm64's default variant is implied */
	if (arch && variant && streq(arch, "arm64") && streq(variant, "v8"))
		variant = NULL;
	cleanup_free char *formatted = variant ? xasprintf("%s/%s/%s", os, arch, variant)
	                               : arch  ? xasprintf("%s/%s", os, arch)
	                                       : xstrdup(os);
	const char *values[] = {formatted, os, arch ? arch : "", variant ? variant : ""};
	const char *names[] = {"PLATFORM", "OS", "ARCH", "VARIANT"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		cleanup_free char *k = xasprintf("%s%s", prefix, names[i]);
		meta_set(p, n, cap, k, values[i]);
	}
}

/* the platform ARGs, then the ARGs before the first FROM: a --build-arg wins unless it is
 * empty and the ARG has a default; a default may use the meta ARGs before it */
static int meta_args_resolve(struct plan *p, const struct plan_opts *o, size_t *ret_first,
                             struct kiln_err **err)
{
	const struct dockerfile *df = p->df;
	size_t n = 0, cap = 0, i = 0;
	p->meta_ix = strmap_new();
	p->meta_args = xcalloc(1, sizeof(char *));
	platform_args(p, &n, &cap, "TARGET", o->platform ? o->platform : image_host_platform());
	platform_args(p, &n, &cap, "BUILD",
	              o->build_platform ? o->build_platform : image_host_platform());
	for (; i < df->n_instrs && p->instrs[i].kind != INSTR_FROM; i++) {
		const struct df_instr *in = &df->instrs[i];
		if (p->instrs[i].kind != INSTR_ARG)
			return kiln_err_set(err,
			                    "%s:%d: %s instruction before the first FROM: only "
			                    "ARG may come before FROM",
			                    p->path, in->start_line, in->cmd);
		strv_foreach (a, in->args) {
			cleanup_free char *name = xstrdup(a);
			char *def = strchr(name, '=');
			if (def)
				*def++ = '\0';
			const char *given = strv_env_get(p->build_args, name);
			cleanup_free char *value = NULL;
			if (given && (*given || !def)) {
				value = xstrdup(given);
				if (!strv_contains(p->used_build_args, name))
					strv_push(&p->used_build_args, xstrdup(name));
			} else if (def) {
				if (shell_expand_word_fn(def, plan_meta_var, p, df->escape, &value,
				                         err) < 0)
					return kiln_err_wrap(err, "%s:%d", p->path, in->start_line);
			}
			if (value)
				meta_set(p, &n, &cap, name, value);
		}
	}
	if (i == df->n_instrs)
		return kiln_err_set(err, "%s: no FROM instruction: the Dockerfile has no stages",
		                    p->path);
	*ret_first = i;
	return 0;
}

char **plan_build_args(char *const *given, char *(*lookup)(const char *name))
{
	char **v = xcalloc(1, sizeof(char *));
	strv_foreach (a, given) {
		const char *eq = strchr(a, '=');
		if (eq) {
			cleanup_free char *k = xstrndup(a, (size_t)(eq - a));
			strv_env_set(&v, k, eq + 1);
		} else {
			const char *env = lookup ? lookup(a) : NULL;
			strv_env_set(&v, a, env ? env : "");
		}
	}
	return v;
}

/* ---- stages, target ---- */

static void split_stages(struct plan *p, size_t first)
{
	size_t cap = 0;
	for (size_t i = first; i < p->df->n_instrs; i++) {
		const struct plan_instr *pi = &p->instrs[i];
		if (pi->kind == INSTR_FROM) {
			XGROW(p->stages, p->n_stages + 1, cap);
			p->stages[p->n_stages++] = (struct plan_stage){
			    .from = pi, .instrs = pi + 1, .name = pi->from.name};
		} else {
			p->stages[p->n_stages - 1].n_instrs++;
		}
	}
}

static int find_target(struct plan *p, const char *target, struct kiln_err **err)
{
	p->target = p->n_stages - 1;
	if (!target || !*target)
		return 0;
	for (size_t i = 0; i < p->n_stages; i++) {
		if (p->stages[i].name && !strcasecmp(p->stages[i].name, target)) {
			p->target = i;
			return 0;
		}
	}
	return kiln_err_set(err, "Error finding target stage: %s is not a valid target build stage",
	                    target);
}

/* ---- the graph ---- */

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

static char *lower(const char *s)
{
	char *low = xstrdup(s);
	for (char *c = low; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return low;
}

struct deps {
	size_t *v;
	size_t n, cap;
};

/* the stages before stage i that name (a FROM image or a COPY --from value) names: by name
 * (case-insensitive; the name map holds the last one, prev the earlier ones) or by index */
static void stages_named(const struct strmap *names, const size_t *prev, size_t i, const char *name,
                         struct deps *d)
{
	size_t nl = strlen(name), k;
	cleanup_free char *low = lower(name);
	if (strmap_get(names, low, nl, &k)) {
		for (; k != SIZE_MAX; k = prev[k]) {
			XGROW(d->v, d->n + 1, d->cap);
			d->v[d->n++] = k;
		}
	}
	if (nl && nl < 20 && strspn(name, "0123456789") == nl && (name[0] != '0' || nl == 1)) {
		size_t idx = (size_t)strtoull(name, NULL, 10);
		if (idx < i) {
			XGROW(d->v, d->n + 1, d->cap);
			d->v[d->n++] = idx;
		}
	}
}

/* what one stage reads: FROM <name|index> (expanded with the meta ARGs; what cannot be
 * expanded counts as every earlier stage) and COPY --from=<name|index> (a value with '$'
 * depends on the stage's own ARGs and counts as every earlier stage, which only costs keeping
 * a root that may not be read); offsets into d, the stages read marked base_later */
static void stage_reads(struct plan *p, const struct strmap *names, const size_t *prev, size_t i,
                        struct deps *d, bool *ret_any_base)
{
	struct plan_stage *st = &p->stages[i];
	if (st->from->from.image) {
		cleanup_free char *image = NULL;
		if (shell_expand_word_fn(st->from->from.image, plan_meta_var, p, p->df->escape,
		                         &image, NULL) < 0) {
			st->reads_any = *ret_any_base = true;
		} else {
			size_t before = d->n;
			stages_named(names, prev, i, image, d);
			for (size_t k = before; k < d->n; k++)
				p->stages[d->v[k]].base_later = true;
		}
	}
	for (size_t k = 0; k < st->n_instrs; k++) {
		const struct plan_instr *pi = &st->instrs[k];
		if ((pi->kind != INSTR_COPY && pi->kind != INSTR_ADD) || !pi->copy.from)
			continue;
		if (strchr(pi->copy.from, '$'))
			st->reads_any = true;
		else
			stages_named(names, prev, i, pi->copy.from, d);
	}
}

/* the graph of the stages up to the target (a Dockerfile's cost stays linear in its stages) */
static void stage_graph(struct plan *p)
{
	size_t n = p->n_graph;
	_cleanup_(strmap_freep) struct strmap *names = strmap_new(); /* lower-case -> last */
	cleanup_free size_t *prev = xcalloc(n ? n : 1, sizeof(size_t));
	cleanup_free size_t *start = xcalloc(n ? n : 1, sizeof(size_t));
	struct deps d = {0};
	size_t any_from = 0, any_read = 0; /* stages below these are bases / read later */
	for (size_t i = 0; i < n; i++) {
		struct plan_stage *st = &p->stages[i];
		bool any_base =
		    false; /* an unexpandable FROM: every earlier stage may be the base */
		start[i] = d.n;
		stage_reads(p, names, prev, i, &d, &any_base);
		if (any_base)
			any_from = i;
		if (st->reads_any)
			any_read = i;
		st->n_reads = d.n - start[i];
		if (st->n_reads > 1)
			qsort(d.v + start[i], st->n_reads, sizeof(size_t), cmp_size);
		for (size_t k = 0; k < st->n_reads; k++)
			p->stages[d.v[start[i] + k]].used_later = true;
		prev[i] = SIZE_MAX;
		if (st->name) {
			cleanup_free char *low = lower(st->name);
			size_t last;
			if (strmap_get(names, low, strlen(low), &last))
				prev[i] = last;
			strmap_set(names, low, strlen(low), i);
		}
	}
	p->deps = d.v;
	for (size_t i = 0; i < n; i++) {
		p->stages[i].reads = p->deps ? p->deps + start[i] : NULL;
		p->stages[i].base_later |= i < any_from;
		p->stages[i].used_later |= i < any_read;
	}
}

/* the target and every stage it reads, directly or not */
static void mark_needed(struct plan *p, bool skip_unused)
{
	size_t needed_below = 0; /* a needed stage reads every stage below this one */
	p->stages[p->target].needed = true;
	for (size_t i = p->n_graph; i-- > 0;) {
		struct plan_stage *st = &p->stages[i];
		st->needed |= i < needed_below;
		if (!st->needed)
			continue;
		if (st->reads_any && i > needed_below)
			needed_below = i;
		for (size_t k = 0; k < st->n_reads; k++)
			p->stages[st->reads[k]].needed = true;
	}
	for (size_t i = 0; i < p->n_graph; i++)
		p->stages[i].skipped = skip_unused && !p->stages[i].needed;
}

/* COPY --from=<x> where x is neither an earlier stage's name nor an index names an image, as
 * in kaniko; naming the stage itself or a later one is an error */
static int copy_from_images(struct plan *p, struct kiln_err **err)
{
	for (size_t j = 0; j < p->n_graph; j++) {
		const struct plan_stage *st = &p->stages[j];
		for (size_t k = 0; k < st->n_instrs; k++) {
			const struct plan_instr *pi = &st->instrs[k];
			const char *v = pi->copy.from;
			if ((pi->kind != INSTR_COPY && pi->kind != INSTR_ADD) || !v || !*v ||
			    strchr(v, '$'))
				continue;
			char *end = NULL;
			long idx = strtol(v, &end, 10);
			bool numeric = *end == '\0';
			bool stage = numeric;
			for (size_t i = 0; i < j && !stage; i++)
				stage = p->stages[i].name && !strcasecmp(p->stages[i].name, v);
			/* the stage itself or a later one: not an image to look up */
			for (size_t i = j; i < p->n_stages && (!stage || numeric); i++) {
				if (numeric
				        ? idx != (long)i
				        : !p->stages[i].name || strcasecmp(p->stages[i].name, v))
					continue;
				if (i == j)
					return kiln_err_set(
					    err,
					    "%s:%d: COPY --from='%s' names the stage it "
					    "is in: circular dependency detected on "
					    "stage %zu",
					    p->path, pi->in->start_line, v, i);
				return kiln_err_set(
				    err,
				    "%s:%d: COPY --from='%s' names stage %zu, which "
				    "comes later in the Dockerfile: a stage copies "
				    "only from earlier stages",
				    p->path, pi->in->start_line, v, i);
			}
			bool have = stage;
			for (size_t i = 0; i < p->n_copy_images && !have; i++)
				have = streq(p->copy_images[i].ref, v);
			if (have)
				continue;
			p->copy_images = xreallocarray(p->copy_images, p->n_copy_images + 1,
			                               sizeof(*p->copy_images));
			p->copy_images[p->n_copy_images++] =
			    (struct plan_image){.ref = v, .pi = pi};
		}
	}
	return 0;
}

/* the flags of every instruction of the stages that are built */
static int check_flags(struct plan *p, struct kiln_err **err)
{
	for (size_t j = 0; j < p->n_graph; j++) {
		const struct plan_stage *st = &p->stages[j];
		if (st->skipped)
			continue;
		size_t at = (size_t)(st->from - p->instrs);
		for (size_t k = at; k <= at + st->n_instrs; k++) {
			int r = instr_type(&p->df->instrs[k], p->path, true, &p->instrs[k], err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int plan_new(const struct dockerfile *df, const char *path, const struct plan_opts *o,
             struct plan **ret, struct kiln_err **err)
{
	_cleanup_(plan_freep) struct plan *p = xcalloc(1, sizeof(*p));
	p->df = df;
	p->path = xstrdup(path);
	p->build_args = strv_dup(o->build_args ? o->build_args : (char *[]){NULL});
	p->instrs = xcalloc(df->n_instrs + 1, sizeof(*p->instrs)); /* ends with .in NULL */
	for (size_t i = 0; i < df->n_instrs; i++) {
		int r = instr_type(&df->instrs[i], path, false, &p->instrs[i], err);
		if (r < 0)
			return r;
	}
	size_t first = 0;
	int r = meta_args_resolve(p, o, &first, err);
	if (r < 0)
		return r;
	split_stages(p, first);
	r = find_target(p, o->target, err);
	if (r < 0)
		return r;
	p->n_graph = p->target + 1;
	stage_graph(p);
	mark_needed(p, o->skip_unused_stages);
	if (!o->images_only) {
		r = copy_from_images(p, err);
		if (r < 0)
			return r;
		r = check_flags(p, err);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(p);
	return 0;
}

struct plan *plan_free(struct plan *p)
{
	if (!p)
		return NULL;
	free(p->path);
	plan_instrs_free(p->instrs);
	free(p->stages);
	strv_free(p->meta_args);
	strmap_free(p->meta_ix);
	strv_free(p->build_args);
	strv_free(p->used_build_args);
	free(p->copy_images);
	free(p->deps);
	free(p);
	return NULL;
}

/* ---- bases and FROM images ---- */

int plan_stage_base(const struct plan *p, size_t idx, char **ret_image, int *ret_parent,
                    struct kiln_err **err)
{
	const struct plan_stage *st = &p->stages[idx];
	const struct df_instr *in = st->from->in;
	if (!st->from->from.image)
		return kiln_err_set(err, "%s:%d: FROM requires an image", p->path, in->start_line);
	cleanup_free char *image = NULL;
	if (shell_expand_word_fn(st->from->from.image, plan_meta_var, (void *)p, p->df->escape,
	                         &image, err) < 0)
		return kiln_err_wrap(err, "%s:%d", p->path, in->start_line);
	if (!*image)
		return kiln_err_set(err, "%s:%d: FROM names an empty image (is an ARG unset?)",
		                    p->path, in->start_line);
	*ret_parent = -1;
	for (size_t i = 0; i < idx; i++) {
		if (p->stages[i].name && !strcasecmp(p->stages[i].name, image)) {
			*ret_parent = (int)i;
			break;
		}
	}
	*ret_image = TAKE_PTR(image);
	return 0;
}

int plan_from_images(const struct plan *p, char ***ret, struct kiln_err **err)
{
	cleanup_strv char **v = NULL;
	for (size_t i = 0; i < p->n_stages; i++) {
		cleanup_free char *image = NULL;
		int parent;
		int r = plan_stage_base(p, i, &image, &parent, err);
		if (r < 0)
			return r;
		if (parent < 0 && strcasecmp(image, "scratch") != 0 && !strv_contains(v, image))
			strv_push(&v, TAKE_PTR(image));
	}
	*ret = TAKE_PTR(v);
	return 0;
}
