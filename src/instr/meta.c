/* meta.c — the instructions that only change the image config: ENV ARG LABEL USER EXPOSE
 * VOLUME CMD ENTRYPOINT SHELL STOPSIGNAL HEALTHCHECK ONBUILD MAINTAINER. */
#include "instr.h"
#include "shell/shell.h"
#include "util/log.h"
#include "util/strmap.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(struct stage *s, const struct df_instr *in, struct kiln_err **err, const char *msg)
{
	return kiln_err_set(err, "%s:%d: %s", s->cfg->dockerfile_path, in->start_line, msg);
}

static json_t *str_array(char *const *v, size_t from)
{
	json_t *a = json_array();
	for (size_t i = from; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* exec form as written, shell form as SHELL + the line (CMD, ENTRYPOINT, HEALTHCHECK) */
static json_t *command_value(struct stage *s, const struct df_instr *in, size_t from)
{
	if (in->json)
		return str_array(in->args, from);
	json_t *a = json_array();
	json_t *sh = json_object_get(image_config_container(s->config), "Shell");
	if (json_is_array(sh) && json_array_size(sh) > 0) {
		size_t i;
		json_t *e;
		json_array_foreach(sh, i, e) json_array_append(a, e);
	} else {
		json_array_append_new(a, json_string("/bin/sh"));
		json_array_append_new(a, json_string("-c"));
	}
	json_array_append_new(a, json_string(in->args && in->args[from] ? in->args[from] : ""));
	return a;
}

static int do_env(struct stage *s, const struct df_instr *in, struct kiln_err **err)
{
	size_t n = strv_length(in->args);
	if (n % 2)
		return fail(s, in, err, "ENV needs key=value pairs");
	/* every pair is expanded with the environment from before this ENV, then set: the
	 * Env array and its index change in place, O(1) per pair */
	cleanup_strv char **kv = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i += 2) {
		int r =
		    shell_expand_word_fn(in->args[i], stage_var, s, s->cfg->escape, &kv[i], err);
		if (r >= 0)
			r = shell_expand_word_fn(in->args[i + 1], stage_var, s, s->cfg->escape,
			                         &kv[i + 1], err);
		if (r < 0)
			return stage_err(s, in, err);
		if (!*kv[i])
			return fail(s, in, err, "ENV names can not be blank");
	}
	json_t *arr = stage_env_array(s);
	for (size_t i = 0; i < n; i += 2) {
		cleanup_free char *entry = xasprintf("%s=%s", kv[i], kv[i + 1]);
		json_t *js = json_string(entry);
		if (!js)
			continue; /* not UTF-8: JSON cannot hold it */
		size_t at;
		if (strmap_get(s->env_ix, kv[i], strlen(kv[i]), &at)) {
			json_array_set_new(arr, at, js);
		} else {
			json_array_append_new(arr, js);
			strmap_set(s->env_ix, kv[i], strlen(kv[i]), json_array_size(arr) - 1);
		}
		s->env_ix_n = json_array_size(arr);
		if (s->arg_over_ix) /* this ENV is now later than any ARG of the name */
			strmap_set(s->arg_over_ix, kv[i], strlen(kv[i]), 0);
	}
	return 0;
}

/* records name=value (or a bare declaration) among the stage's ARGs, replacing an earlier one */
static void set_arg(struct stage *s, const char *name, const char *value)
{
	size_t nl = strlen(name);
	char *entry = value ? xasprintf("%s=%s", name, value) : xstrdup(name);
	if (!s->arg_ix)
		s->arg_ix = strmap_new();
	size_t i;
	if (strmap_get(s->arg_ix, name, nl, &i)) {
		/* a bare redeclaration keeps the value an earlier ARG (of this stage or of the
		 * stage it is built from) gave: `ARG A=1` then `ARG A` is still 1 */
		if (!value) {
			free(entry);
			return;
		}
		free(s->args[i]);
		s->args[i] = entry;
		return;
	}
	XGROW(s->args, s->n_args + 2, s->cap_args);
	strmap_set(s->arg_ix, name, nl, s->n_args);
	s->args[s->n_args++] = entry;
	s->args[s->n_args] = NULL;
}

void instr_args_inherit(struct stage *s, char *const *parent_args)
{
	for (size_t i = 0; parent_args && parent_args[i]; i++) {
		const char *eq = strchr(parent_args[i], '=');
		cleanup_free char *name =
		    eq ? xstrndup(parent_args[i], (size_t)(eq - parent_args[i]))
		       : xstrdup(parent_args[i]);
		set_arg(s, name, eq ? eq + 1 : NULL);
	}
}

static const char *build_arg(char *const *list, const char *name)
{
	return strv_env_get(list, name);
}

static int do_arg(struct stage *s, const struct df_instr *in, struct kiln_err **err)
{
	strv_foreach (a, in->args) {
		cleanup_free char *raw = xstrdup(a);
		char *def = strchr(raw, '=');
		if (def)
			*def++ = '\0';
		if (!*raw)
			return fail(s, in, err, "ARG names can not be blank");
		/* a stage's ARG name is a word too (`ARG ${var}=x`): Docker expands it with what
		 * is in scope, then looks the result up among the build args */
		cleanup_free char *name = NULL;
		if (stage_expand(s, raw, &name, err) < 0)
			return stage_err(s, in, err);
		if (!*name)
			return fail(s, in, err, "ARG names can not be blank");
		const char *given = build_arg(s->cfg->build_args, name);
		cleanup_free char *value = NULL;
		if (given) {
			value = xstrdup(given);
			if (!strv_contains(s->used_build_args, name))
				strv_push(&s->used_build_args, xstrdup(name));
		} else if (def) {
			if (shell_expand_word_fn(def, stage_var, s, s->cfg->escape, &value, err) <
			    0)
				return stage_err(s, in, err);
		} else {
			size_t mi;
			const char *meta =
			    s->cfg->meta_ix && strmap_get(s->cfg->meta_ix, name, strlen(name), &mi)
			        ? s->cfg->meta_args[mi] + strlen(name) + 1
			        : build_arg(s->cfg->meta_args, name);
			if (meta)
				value = xstrdup(meta);
		}
		set_arg(s, name, value);
		if (value) {
			if (!s->arg_over_ix)
				s->arg_over_ix = strmap_new();
			strmap_set(s->arg_over_ix, name, strlen(name), 1);
		}
	}
	return 0;
}

static int do_label(struct stage *s, const struct df_instr *in, struct kiln_err **err)
{
	json_t *c = image_config_container(s->config);
	json_t *labels = json_object_get(c, "Labels");
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(c, "Labels", labels);
	}
	size_t n = strv_length(in->args);
	if (n % 2)
		return fail(s, in, err, "LABEL needs key=value pairs");
	for (size_t i = 0; i < n; i += 2) {
		cleanup_free char *k = NULL, *v = NULL;
		int r = shell_expand_word_fn(in->args[i], stage_var, s, s->cfg->escape, &k, err);
		if (r >= 0)
			r = shell_expand_word_fn(in->args[i + 1], stage_var, s, s->cfg->escape, &v,
			                         err);
		if (r < 0)
			return stage_err(s, in, err);
		if (!*k)
			return fail(s, in, err, "LABEL names can not be blank");
		log_info("Applying label %s=%s", k, v);
		json_object_set_new(labels, k, json_string(v));
	}
	return 0;
}

static int add_port(struct stage *s, const struct df_instr *in, json_t *ports, const char *spec,
                    struct kiln_err **err)
{
	cleanup_free char *p = xstrdup(spec);
	char *slash = strchr(p, '/');
	if (slash)
		*slash = '\0';
	cleanup_free char *proto = xstrdup(slash ? slash + 1 : "tcp");
	for (char *c = proto; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	if (!streq(proto, "tcp") && !streq(proto, "udp") && !streq(proto, "sctp"))
		return kiln_err_set(err, "%s:%d: invalid proto: %s", s->cfg->dockerfile_path,
		                    in->start_line, proto);
	char *dash = strchr(p, '-');
	char *end = NULL;
	unsigned long lo = strtoul(p, &end, 10), hi = lo;
	if (end == p || (dash ? end != dash : *end) || lo > 65535)
		return kiln_err_set(err, "%s:%d: invalid containerPort: %s",
		                    s->cfg->dockerfile_path, in->start_line, p);
	if (dash) {
		hi = strtoul(dash + 1, &end, 10);
		if (end == dash + 1 || *end || hi > 65535 || hi < lo)
			return kiln_err_set(err, "%s:%d: invalid port range: %s",
			                    s->cfg->dockerfile_path, in->start_line, p);
	}
	for (unsigned long port = lo; port <= hi; port++) {
		cleanup_free char *key = xasprintf("%lu/%s", port, proto);
		log_info("Adding exposed port: %s", key);
		json_object_set_new(ports, key, json_object());
	}
	return 0;
}

static int do_words_into(struct stage *s, const struct df_instr *in, const char *field, bool ports,
                         struct kiln_err **err)
{
	json_t *c = image_config_container(s->config);
	json_t *obj = json_object_get(c, field);
	if (!json_is_object(obj)) {
		obj = json_object();
		json_object_set_new(c, field, obj);
	}
	strv_foreach (a, in->args) {
		cleanup_strv char **words = NULL;
		if (in->json) {
			char *w = NULL;
			if (shell_expand_word_fn(a, stage_var, s, s->cfg->escape, &w, err) < 0)
				return stage_err(s, in, err);
			strv_push(&words, w);
		} else if (shell_expand_words_fn(a, stage_var, s, s->cfg->escape, &words, err) <
		           0) {
			return stage_err(s, in, err);
		}
		strv_foreach (w, words) {
			if (!*w)
				continue;
			if (ports) {
				int r = add_port(s, in, obj, w, err);
				if (r < 0)
					return r;
			} else {
				json_object_set_new(obj, w, json_object());
				/* kaniko: in place, what lands below a VOLUME is never snapshotted */
				if (s->cfg->ignore && s->cfg->inplace) {
					log_info("Adding volume %s to ignorelist", w);
					ignore_list_add_children(s->cfg->ignore, w);
				}
			}
		}
	}
	return 0;
}

static int do_healthcheck(struct stage *s, const struct plan_instr *pi, struct kiln_err **err)
{
	const struct df_instr *in = pi->in;
	json_t *c = image_config_container(s->config);
	if (!in->args || !in->args[0])
		return fail(s, in, err, "HEALTHCHECK requires an argument");
	json_t *hc = json_object();
	if (!strcasecmp(in->args[0], "NONE")) {
		if (in->args[1])
			return fail(s, in, err, "HEALTHCHECK NONE takes no arguments");
		json_object_set_new(hc, "Test", json_pack("[s]", "NONE"));
		json_object_set_new(c, "Healthcheck", hc);
		return 0;
	}
	if (strcasecmp(in->args[0], "CMD") != 0) {
		json_decref(hc);
		return kiln_err_set(err, "%s:%d: unknown type %s in HEALTHCHECK (try CMD)",
		                    s->cfg->dockerfile_path, in->start_line, in->args[0]);
	}
	json_t *test = json_array();
	json_array_append_new(test, json_string(in->json ? "CMD" : "CMD-SHELL"));
	for (size_t i = 1; in->args[i]; i++)
		json_array_append_new(test, json_string(in->args[i]));
	json_object_set_new(hc, "Test", test);
	/* the flags, parsed and checked by the plan; 0 sets nothing */
	const struct plan_healthcheck *f = &pi->healthcheck;
	const struct {
		int64_t ns;
		const char *field;
	} durations[] = {{f->interval_ns, "Interval"},
	                 {f->timeout_ns, "Timeout"},
	                 {f->start_period_ns, "StartPeriod"},
	                 {f->start_interval_ns, "StartInterval"}};
	for (size_t i = 0; i < ARRAY_SIZE(durations); i++) {
		if (durations[i].ns)
			json_object_set_new(hc, durations[i].field, json_integer(durations[i].ns));
	}
	if (f->retries)
		json_object_set_new(hc, "Retries", json_integer(f->retries));
	json_object_set_new(c, "Healthcheck", hc);
	return 0;
}

int instr_meta(struct stage *s, const struct plan_instr *pi, struct kiln_err **err)
{
	const struct df_instr *in = pi->in;
	json_t *c = image_config_container(s->config);
	int r = 0;
	switch (pi->kind) {
	case INSTR_ENV:
		r = do_env(s, in, err);
		break;
	case INSTR_ARG:
		r = do_arg(s, in, err);
		break;
	case INSTR_LABEL:
		r = do_label(s, in, err);
		break;
	case INSTR_USER: {
		cleanup_free char *u = NULL;
		if (!in->args || !in->args[0])
			return fail(s, in, err, "USER requires exactly one argument");
		if (stage_expand(s, in->args[0], &u, err) < 0)
			return stage_err(s, in, err);
		json_object_set_new(c, "User", json_string(u));
		break;
	}
	case INSTR_EXPOSE:
		r = do_words_into(s, in, "ExposedPorts", true, err);
		break;
	case INSTR_VOLUME:
		r = do_words_into(s, in, "Volumes", false, err);
		break;
	case INSTR_CMD:
		json_object_set_new(c, "Cmd", command_value(s, in, 0));
		s->cmd_set = true;
		break;
	case INSTR_ENTRYPOINT:
		json_object_set_new(c, "Entrypoint", command_value(s, in, 0));
		/* Docker: an ENTRYPOINT drops a CMD inherited from the base image */
		if (!s->cmd_set)
			json_object_del(c, "Cmd");
		break;
	case INSTR_SHELL:
		if (!in->json || !in->args || !in->args[0])
			return fail(s, in, err, "SHELL requires the arguments to be in JSON form");
		json_object_set_new(c, "Shell", str_array(in->args, 0));
		break;
	case INSTR_STOPSIGNAL: {
		cleanup_free char *sig = NULL;
		if (!in->args || !in->args[0])
			return fail(s, in, err, "STOPSIGNAL requires exactly one argument");
		if (stage_expand(s, in->args[0], &sig, err) < 0)
			return stage_err(s, in, err);
		json_object_set_new(c, "StopSignal", json_string(sig));
		break;
	}
	case INSTR_HEALTHCHECK:
		r = do_healthcheck(s, pi, err);
		break;
	case INSTR_ONBUILD: {
		const char *text = in->original;
		while (*text && *text != ' ' && *text != '\t')
			text++;
		while (*text == ' ' || *text == '\t')
			text++;
		json_t *ob = json_object_get(c, "OnBuild");
		if (!json_is_array(ob)) {
			ob = json_array();
			json_object_set_new(c, "OnBuild", ob);
		}
		json_array_append_new(ob, json_string(text));
		break;
	}
	case INSTR_MAINTAINER:
		json_object_set_new(s->config, "author",
		                    json_string(in->args && in->args[0] ? in->args[0] : ""));
		break;
	default:
		return kiln_err_set(err, "%s:%d: %s is not a supported command",
		                    s->cfg->dockerfile_path, in->start_line, in->cmd);
	}
	if (r < 0)
		return r;
	if (pi->kind != INSTR_ARG)
		stage_commit_empty(s, in->original);
	return 0;
}
