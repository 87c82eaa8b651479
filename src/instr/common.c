/* common.c — what every instruction shares: the expansion environment, error prefixes and
 * committing a step's files as a layer with its history entry. */
#include "instr.h"
#include "shell/shell.h"
#include "util/log.h"
#include "util/strmap.h"
#include "util/strv.h"
#include "sandbox/root.h"
#include "util/xalloc.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdlib.h>
#include <string.h>

static const char *const proxy_args[] = {
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
    "ftp_proxy",  "NO_PROXY",   "no_proxy",    "ALL_PROXY",   "all_proxy",
};

bool instr_is_proxy_arg(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(proxy_args); i++) {
		if (streq(name, proxy_args[i]))
			return true;
	}
	return false;
}

json_t *stage_env_array(struct stage *s)
{
	json_t *c = image_config_container(s->config);
	json_t *arr = json_object_get(c, "Env");
	if (!json_is_array(arr)) {
		arr = json_array();
		json_object_set_new(c, "Env", arr);
	}
	if (!s->env_ix)
		s->env_ix = strmap_new();
	if (arr != s->env_ix_arr || json_array_size(arr) != s->env_ix_n) {
		strmap_clear(s->env_ix);
		size_t i;
		json_t *e;
		json_array_foreach(arr, i, e)
		{
			const char *v = json_string_value(e);
			if (v) /* the last entry of a name wins */
				strmap_set(s->env_ix, v, strcspn(v, "="), i);
		}
		json_decref(s->env_ix_arr);
		s->env_ix_arr = json_incref(arr);
		s->env_ix_n = json_array_size(arr);
	}
	return arr;
}

void stage_vars_release(struct stage *s)
{
	s->env_ix = strmap_free(s->env_ix);
	s->arg_ix = strmap_free(s->arg_ix);
	s->arg_over_ix = strmap_free(s->arg_over_ix);
	json_decref(s->env_ix_arr);
	s->env_ix_arr = NULL;
}

/* a --build-arg proxy variable (usable without an ARG line), or NULL */
static const char *proxy_value(const struct stage *s, const char *name, size_t nl)
{
	char key[16];
	if (nl >= sizeof(key))
		return NULL;
	memcpy(key, name, nl);
	key[nl] = '\0';
	return instr_is_proxy_arg(key) ? strv_env_get(s->cfg->build_args, key) : NULL;
}

/* an ARG's value, NULL when undeclared or declared without a value */
static const char *arg_value(const struct stage *s, const char *name, size_t nl)
{
	size_t i;
	if (!s->arg_ix || !strmap_get(s->arg_ix, name, nl, &i))
		return NULL;
	const char *eq = strchr(s->args[i], '=');
	return eq ? eq + 1 : NULL;
}

/* an ARG given a value after the last ENV of its name (that ARG wins) */
static bool arg_over_env(const struct stage *s, const char *name, size_t nl)
{
	size_t v;
	return s->arg_over_ix && strmap_get(s->arg_over_ix, name, nl, &v) && v == 1;
}

/* config Env first (unless a later ARG of the name wins), then Docker's predefined proxy ARGs given with --build-arg (never
 * written to the image), then the declared ARGs */
const char *stage_var(void *ud, const char *name, size_t nl)
{
	struct stage *s = ud;
	json_t *arr = stage_env_array(s);
	size_t i;
	if (arg_over_env(s, name, nl)) {
		const char *a = arg_value(s, name, nl);
		if (a)
			return a;
	}
	if (strmap_get(s->env_ix, name, nl, &i)) {
		const char *e = json_string_value(json_array_get(arr, i));
		if (e)
			return e[nl] == '=' ? e + nl + 1 : "";
	}
	const char *v = proxy_value(s, name, nl);
	return v ? v : arg_value(s, name, nl);
}

char **stage_expand_env(struct stage *s)
{
	json_t *arr = stage_env_array(s);
	size_t cap = json_array_size(arr) + ARRAY_SIZE(proxy_args) + s->n_args + 1, n = 0;
	char **env = xcalloc(cap, sizeof(char *));
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e)
	{
		const char *v = json_string_value(e);
		if (v && !(arg_over_env(s, v, strcspn(v, "=")) && arg_value(s, v, strcspn(v, "="))))
			env[n++] = xstrdup(v);
	}
	for (i = 0; i < ARRAY_SIZE(proxy_args); i++) {
		const char *p = proxy_args[i];
		const char *v = strv_env_get(s->cfg->build_args, p);
		if (v && !strmap_get(s->env_ix, p, strlen(p), &(size_t){0}))
			env[n++] = xasprintf("%s=%s", p, v);
	}
	for (i = 0; i < s->n_args; i++) {
		const char *a = s->args[i];
		size_t kl = strcspn(a, "=");
		if (!a[kl])
			continue; /* declared without a value: not set */
		if (arg_over_env(s, a, kl) ||
		    (!strmap_get(s->env_ix, a, kl, &(size_t){0}) && !proxy_value(s, a, kl)))
			env[n++] = xstrdup(a);
	}
	return env;
}

int stage_expand(struct stage *s, const char *word, char **ret, struct kiln_err **err)
{
	return shell_expand_word_fn(word, stage_var, s, s->cfg->escape, ret, err);
}

int stage_err(struct stage *s, const struct df_instr *in, struct kiln_err **err)
{
	/* the offending instruction as written, shortened to keep the error one readable line */
	const char *text = in->original ? in->original : in->cmd;
	size_t n = strcspn(text, "\n");
	if (n > 80)
		return kiln_err_wrap(err, "%s:%d: %.77s...", s->cfg->dockerfile_path,
		                     in->start_line, text);
	return kiln_err_wrap(err, "%s:%d: %.*s", s->cfg->dockerfile_path, in->start_line, (int)n,
	                     text);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void stage_commit_empty(struct stage *s, const char *created_by)
{
	if (s->cfg->single_snapshot || s->no_layers)
		return;
	if (s->cfg->force_build_metadata) {
		/* kaniko appends an (empty) layer for every step under --force-build-metadata */
		char *none[] = {NULL};
		if (stage_commit_paths(s, none, created_by, NULL) == 0)
			return;
	}
	image_config_add_history(s->config, created_by, NULL, true, s->cfg->created);
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char **stage_touched_dirs(struct stage *s, const char **paths, size_t n)
{
	char **dirs = NULL;
	if (n == 0)
		return NULL;
	qsort(paths, n, sizeof(*paths), cmp_cstr);
	for (size_t i = 0; i < n; i++) {
		const char *slash = strrchr(paths[i], '/');
		if (!slash || slash == paths[i])
			continue; /* "/" itself is in no layer */
		cleanup_free char *parent = xstrndup(paths[i], (size_t)(slash - paths[i]));
		const char *key = parent;
		if (bsearch(&key, paths, n, sizeof(*paths), cmp_cstr))
			continue; /* new itself: it has its own entry */
		size_t nd = strv_length(dirs);
		if (nd > 0 && streq(dirs[nd - 1], parent))
			continue; /* paths are sorted: a parent's names are adjacent but for subtrees */
		strv_push(&dirs, TAKE_PTR(parent));
	}
	size_t nd = strv_length(dirs);
	if (nd > 1)
		qsort(dirs, nd, sizeof(*dirs), cmp_str);
	/* unique, and stamped now: the names a root-written step made did so already, the
	 * streamed ones never reached the root */
	size_t k = 0;
	for (size_t i = 0; i < nd; i++) {
		if (k > 0 && streq(dirs[k - 1], dirs[i])) {
			free(dirs[i]);
			continue;
		}
		cleanup_close int fd = root_open(s->rootfd, dirs[i] + 1,
		                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || futimens(fd, NULL) < 0) {
			free(dirs[i]); /* not a directory of the root: nothing to record */
			continue;
		}
		dirs[k++] = dirs[i];
	}
	if (dirs)
		dirs[k] = NULL;
	return dirs;
}

int stage_commit_paths(struct stage *s, char **paths, const char *created_by, struct kiln_err **err)
{
	if (s->cfg->single_snapshot || s->no_layers)
		return 0; /* the files are in the root: the stage's final diff takes them */
	/* the directories the step made names in belong to its layer, as in Docker's */
	cleanup_strv char **touched = NULL;
	size_t n0 = strv_length(paths);
	if (n0 > 0) {
		cleanup_free const char **all = xreallocarray(NULL, n0, sizeof(*all));
		for (size_t i = 0; i < n0; i++)
			all[i] = paths[i];
		touched = stage_touched_dirs(s, all, n0);
	}
	size_t nt = strv_length(touched);
	cleanup_free char **merged = xreallocarray(NULL, n0 + nt + 1, sizeof(*merged));
	for (size_t i = 0; i < n0; i++)
		merged[i] = paths[i];
	for (size_t i = 0; i < nt; i++)
		merged[n0 + i] = touched[i];
	merged[n0 + nt] = NULL;
	paths = merged;
	size_t n = n0 + nt;
	if (n == 0 && !s->cfg->force_build_metadata) {
		log_info("No files changed in this command, skipping snapshotting.");
		image_config_add_history(s->config, created_by, NULL, true, s->cfg->created);
		return 0;
	}
	log_info("Taking snapshot of files...");
	qsort(paths, n, sizeof(char *), cmp_str);
	_cleanup_(layer_writer_freep) struct layer_writer *lw = NULL;
	int r =
	    layer_writer_new(s->cfg->bs, s->cfg->compression, s->cfg->compression_level, &lw, err);
	if (r < 0)
		return r;
	layer_writer_set_times(lw, s->cfg->reproducible, s->cfg->source_date_epoch);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && streq(paths[i], paths[i - 1]))
			continue;
		r = layer_writer_add_path(lw, s->rootfd, paths[i], err);
		if (r < 0)
			return r;
	}
	return stage_finish_layer(s, lw, created_by, err);
}

int stage_finish_layer(struct stage *s, struct layer_writer *lw, const char *created_by,
                       struct kiln_err **err)
{
	struct layer_info info;
	int r = layer_writer_finish(lw, &info, err);
	if (r < 0)
		return r;
	s->layers = xreallocarray(s->layers, s->n_layers + 1, sizeof(*s->layers));
	struct image_layer *l = &s->layers[s->n_layers++];
	memset(l, 0, sizeof(*l));
	memcpy(l->digest, info.digest, sizeof(l->digest));
	memcpy(l->diff_id, info.diff_id, sizeof(l->diff_id));
	l->size = info.size;
	l->media_type = xstrdup(layer_media_type(s->format, s->cfg->compression == FS_ZSTD));
	image_config_add_history(s->config, created_by, info.diff_id, false, s->cfg->created);
	s->index_stale = true;
	return 0;
}
