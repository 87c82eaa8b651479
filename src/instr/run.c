/* run.c — RUN: build argv and environment as Docker does, execute in the sandbox, and turn
 * what changed in the root into a layer. */
#include "fsops.h"
#include "instr.h"
#include "sandbox/root.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int stage_index_sync(struct stage *s, struct kiln_err **err)
{
	if (s->no_layers || (s->cfg->single_snapshot && s->fsindex))
		return 0; /* no snapshot to come, or the index stays the stage's start */
	if (!s->fsindex)
		return fs_index_build(s->rootfd, s->cfg->ignore ? ignore_list_match : NULL,
		                      s->cfg->ignore, &s->fsindex, err);
	if (!s->index_stale)
		return 0;
	/* COPY/WORKDIR changed the root and already committed their layers: absorb them */
	struct fs_changes ch = {0};
	int r = fs_index_diff(s->fsindex, s->rootfd, "redo", &ch, err);
	fs_changes_release(&ch);
	if (r < 0)
		return r;
	s->index_stale = false;
	return 0;
}

/* the shell of the stage: config Shell, else /bin/sh -c */
static char **stage_shell(struct stage *s)
{
	json_t *sh = json_object_get(image_config_container(s->config), "Shell");
	char **v = NULL;
	size_t i;
	json_t *e;
	json_array_foreach(sh, i, e)
	{
		if (json_is_string(e))
			strv_push(&v, xstrdup(json_string_value(e)));
	}
	if (!v) {
		strv_push(&v, xstrdup("/bin/sh"));
		strv_push(&v, xstrdup("-c"));
	}
	return v;
}

/* true when the command is nothing but one heredoc marker ("<<EOF", "<<-'EOF'") */
static bool only_heredoc(const char *cmd, const struct df_instr *in)
{
	if (in->n_heredocs != 1)
		return false;
	while (*cmd == ' ' || *cmd == '\t')
		cmd++;
	if (!startswith(cmd, "<<"))
		return false;
	cmd += 2;
	if (*cmd == '-')
		cmd++;
	for (; *cmd; cmd++) {
		if (*cmd == ' ' || *cmd == '\t' || *cmd == '\n')
			break;
	}
	while (*cmd == ' ' || *cmd == '\t' || *cmd == '\n')
		cmd++;
	return *cmd == '\0';
}

static char **run_argv(struct stage *s, const struct df_instr *in)
{
	if (in->json)
		return strv_dup(in->args);
	char **argv = stage_shell(s);
	const char *cmd = in->args && in->args[0] ? in->args[0] : "";
	if (in->n_heredocs == 0) {
		strv_push(&argv, xstrdup(cmd));
	} else if (only_heredoc(cmd, in)) {
		/* BuildKit runs a lone heredoc as the shell's script (tabs removed for <<-); in
		 * the other form below the shell reads "<<-" itself */
		strv_push(&argv, df_heredoc_body(&in->heredocs[0]));
	} else {
		/* the shell itself reads the heredocs: hand it the line and their bodies */
		cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
		kiln_buf_adds(&b, cmd);
		for (size_t i = 0; i < in->n_heredocs; i++) {
			const struct df_heredoc *h = &in->heredocs[i];
			kiln_buf_addch(&b, '\n');
			kiln_buf_adds(&b, h->content);
			if (b.len && b.ptr[b.len - 1] != '\n')
				kiln_buf_addch(&b, '\n');
			kiln_buf_adds(&b, h->name);
		}
		strv_push(&argv, kiln_buf_detach(&b, NULL));
	}
	return argv;
}

static char *join_args(char *const *v, size_t from)
{
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	for (size_t i = from; v[i]; i++) {
		if (i > from)
			kiln_buf_addch(&b, ' ');
		kiln_buf_adds(&b, v[i]);
	}
	return kiln_buf_detach(&b, NULL);
}

/* A VOLUME whose path does not exist yet: kaniko (and Docker's legacy builder) build a RUN
 * that writes there, BuildKit fails it. kiln makes the directory (0755, root's) before the
 * RUN, and what the RUN writes there stays in the image like anything else it writes. */
static int make_volume_dirs(struct stage *s, struct kiln_err **err)
{
	json_t *vols = json_object_get(image_config_container(s->config), "Volumes");
	const char *path;
	json_t *v;
	json_object_foreach(vols, path, v)
	{
		(void)v;
		if (path[0] != '/')
			continue; /* Docker's VOLUME paths are absolute */
		cleanup_free char *abs = path_clean(path);
		if (streq(abs, "/"))
			continue;
		int fd = root_open(s->rootfd, abs + 1, O_PATH);
		if (fd >= 0) {
			close(fd);
			continue;
		}
		cleanup_close int dfd = -1;
		int r = root_mkdir_p(s->rootfd, abs, 0755, 0, 0, NULL, &dfd, err);
		if (r < 0)
			return kiln_err_wrap(err, "create the directory of VOLUME '%s'", path);
		log_info("Creating directory %s for VOLUME", abs);
	}
	return 0;
}

int instr_run(struct stage *s, const struct plan_instr *pi, struct kiln_err **err)
{
	/* RUN's flags (--mount, --network, --security) are refused by the plan */
	const struct df_instr *in = pi->in;
	cleanup_strv char **argv = run_argv(s, in);
	if (!argv || !argv[0] || !*argv[0])
		return kiln_err_set(err, "%s:%d: RUN needs a command", s->cfg->dockerfile_path,
		                    in->start_line);
	int r = stage_index_sync(s, err);
	if (r < 0)
		return r;
	r = make_volume_dirs(s, err);
	if (r < 0)
		return stage_err(s, in, err);

	cleanup_strv char **env = stage_expand_env(s);
	json_t *c = image_config_container(s->config);
	const char *user_spec = kjson_str(c, "User");
	struct sandbox_user user = {0};
	r = sandbox_user_resolve(s->rootfd, user_spec ? user_spec : "", &user, err);
	if (r < 0)
		return stage_err(s, in, err);
	if (!strv_env_get(env, "HOME"))
		strv_env_set(&env, "HOME", user.home && *user.home ? user.home : "/");
	const char *wd = kjson_str(c, "WorkingDir");

	cleanup_free char *args = join_args(argv, 1);
	cleanup_free char *all = join_args(argv, 0);
	log_info("Cmd: %s", argv[0]);
	log_info("Args: [%s]", args);
	log_info("Running: [%s]", all);
	struct sandbox_run_opts o = {
	    .root = s->root,
	    .argv = argv,
	    .env = env,
	    .user = &user,
	    .cwd = wd && *wd ? wd : "/",
	    .resolv_conf = s->cfg->resolv_conf,
	    .hosts = s->cfg->hosts,
	    .inplace = s->cfg->inplace,
	};
	int status = 0;
	r = sandbox_run(&o, &status, err);
	sandbox_user_release(&user);
	if (r < 0)
		return stage_err(s, in, err);
	/* the instruction as written, cut to keep the error one readable line */
	size_t shown = strcspn(in->original, "\n");
	if (status != 0)
		return kiln_err_exit(
		    err, status,
		    "%s:%d: %.*s%s: failed to execute command: waiting for process "
		    "to exit: exit status %d",
		    s->cfg->dockerfile_path, in->start_line, (int)MIN(shown, 77), in->original,
		    shown > 77 ? "..." : "", status);

	cleanup_free char *created_by = xasprintf("RUN %s # buildkit", all);
	return stage_commit_diff(s, created_by, err);
}

int stage_commit_diff(struct stage *s, const char *created_by, struct kiln_err **err)
{
	if (s->cfg->single_snapshot || s->no_layers)
		return 0;
	return stage_snapshot(s, created_by, err);
}

int stage_snapshot(struct stage *s, const char *created_by, struct kiln_err **err)
{
	log_info("Taking snapshot of full filesystem...");
	struct fs_changes ch = {0};
	int r = fs_index_diff(s->fsindex, s->rootfd, s->cfg->snapshot_mode, &ch, err);
	if (r < 0)
		return r;
	s->index_stale = false;
	if (ch.n == 0 && !s->cfg->force_build_metadata) {
		fs_changes_release(&ch);
		log_info("No files were changed, appending empty layer to config. No layer added "
		         "to image.");
		image_config_add_history(s->config, created_by, NULL, true, s->cfg->created);
		return 0;
	}
	_cleanup_(layer_writer_freep) struct layer_writer *lw = NULL;
	r = layer_writer_new(s->cfg->bs, s->cfg->compression, s->cfg->compression_level, &lw, err);
	if (r >= 0)
		layer_writer_set_times(lw, s->cfg->reproducible, s->cfg->source_date_epoch);
	for (size_t i = 0; r >= 0 && i < ch.n; i++) {
		if (ch.v[i].kind == FS_DELETED)
			r = layer_writer_add_whiteout(lw, ch.v[i].path, err);
		else
			r = layer_writer_add_path(lw, s->rootfd, ch.v[i].path, err);
	}
	fs_changes_release(&ch);
	if (r < 0)
		return r;
	r = stage_finish_layer(s, lw, created_by, err);
	s->index_stale = false; /* the index already is the state after this step */
	return r;
}
