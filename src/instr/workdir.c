/* workdir.c — WORKDIR: the working directory, created (owned by USER, as BuildKit does) when
 * it does not exist; only created directories go into the layer. */
#include "fsops.h"
#include "instr.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <unistd.h>

int instr_workdir(struct stage *s, const struct plan_instr *pi, struct kiln_err **err)
{
	const struct df_instr *in = pi->in;
	if (!in->args || !in->args[0])
		return kiln_err_set(err, "%s:%d: WORKDIR requires exactly one argument",
		                    s->cfg->dockerfile_path, in->start_line);
	cleanup_free char *raw = NULL;
	if (stage_expand(s, in->args[0], &raw, err) < 0)
		return stage_err(s, in, err);
	json_t *c = image_config_container(s->config);
	const char *cur = kjson_str(c, "WorkingDir");
	cleanup_free char *joined =
	    raw[0] == '/' ? xstrdup(raw) : path_join(cur && *cur ? cur : "/", raw);
	cleanup_free char *wd = path_clean(joined);
	/* as Docker (and kaniko): an absolute path is recorded as written, a relative one joined
	 * to the current directory and cleaned; the directory made is the cleaned path */
	json_object_set_new(c, "WorkingDir", json_string(raw[0] == '/' ? raw : wd));
	log_info("Cmd: workdir");
	log_info("Changed working directory to %s", wd);

	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	const char *user = kjson_str(c, "User");
	if (user && *user) {
		struct sandbox_user u = {0};
		if (sandbox_user_resolve(s->rootfd, user, &u, err) < 0)
			return stage_err(s, in, err);
		uid = u.uid;
		gid = u.gid;
		sandbox_user_release(&u);
	}
	cleanup_strv char **created = NULL;
	cleanup_close int fd = -1;
	if (root_mkdir_p(s->rootfd, wd, 0755, uid, gid, &created, &fd, err) < 0)
		return stage_err(s, in, err);
	if (created)
		log_info("Creating directory %s with uid %d and gid %d", wd, (int)uid, (int)gid);
	return stage_commit_paths(s, created, in->original, err);
}
