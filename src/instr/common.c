/* common.c — what every instruction shares: the expansion environment, error prefixes and
 * committing a step's files as a layer with its history entry. */
#include "instr.h"
#include "shell/shell.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

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

char **stage_expand_env(struct stage *s)
{
	char **env = image_config_env(s->config);
	/* Docker's predefined proxy ARGs: usable without an ARG line when given with
	 * --build-arg (and never written to the image) */
	for (size_t i = 0; i < ARRAY_SIZE(proxy_args); i++) {
		const char *v = strv_env_get(s->build_args, proxy_args[i]);
		if (v && !strv_env_get(env, proxy_args[i]))
			strv_env_set(&env, proxy_args[i], v);
	}
	strv_foreach (a, s->args) {
		const char *eq = strchr(a, '=');
		if (!eq)
			continue; /* declared without a value: not set */
		cleanup_free char *k = xstrndup(a, (size_t)(eq - a));
		if (strv_contains(s->args_over_env, k))
			strv_env_set(&env, k, eq + 1);
		else if (!strv_env_get(env, k))
			strv_push(&env, xstrdup(a));
	}
	return env;
}

int stage_expand(struct stage *s, const char *word, char **ret, struct kiln_err **err)
{
	cleanup_strv char **env = stage_expand_env(s);
	return shell_expand_word(word, env, s->escape, ret, err);
}

int stage_err(struct stage *s, const struct df_instr *in, struct kiln_err **err)
{
	/* the offending instruction as written, shortened to keep the error one readable line */
	const char *text = in->original ? in->original : in->cmd;
	size_t n = strcspn(text, "\n");
	if (n > 80)
		return kiln_err_wrap(err, "%s:%d: %.77s...", s->dockerfile_path, in->start_line,
		                     text);
	return kiln_err_wrap(err, "%s:%d: %.*s", s->dockerfile_path, in->start_line, (int)n, text);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void stage_commit_empty(struct stage *s, const char *created_by)
{
	if (s->single_snapshot || s->no_layers)
		return;
	if (s->opts->force_build_metadata) {
		/* kaniko appends an (empty) layer for every step under --force-build-metadata */
		char *none[] = {NULL};
		if (stage_commit_paths(s, none, created_by, NULL) == 0)
			return;
	}
	image_config_add_history(s->config, created_by, NULL, true, s->created);
}

int stage_commit_paths(struct stage *s, char **paths, const char *created_by, struct kiln_err **err)
{
	size_t n = strv_length(paths);
	if (s->single_snapshot || s->no_layers)
		return 0; /* the files are in the root: the stage's final diff takes them */
	if (n == 0 && !s->opts->force_build_metadata) {
		log_info("No files changed in this command, skipping snapshotting.");
		image_config_add_history(s->config, created_by, NULL, true, s->created);
		return 0;
	}
	log_info("Taking snapshot of files...");
	qsort(paths, n, sizeof(char *), cmp_str);
	_cleanup_(layer_writer_freep) struct layer_writer *lw = NULL;
	int r = layer_writer_new(s->bs, s->compression, s->compression_level, &lw, err);
	if (r < 0)
		return r;
	layer_writer_set_times(lw, s->opts->reproducible, s->source_date_epoch);
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
	l->media_type = xstrdup(layer_media_type(s->format, s->compression == FS_ZSTD));
	image_config_add_history(s->config, created_by, info.diff_id, false, s->created);
	s->index_stale = true;
	return 0;
}
