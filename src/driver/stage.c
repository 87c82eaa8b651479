/* stage.c — a stage's configuration as the driver builds it (once for the build, then per
 * stage) and the options checked before the build starts; freeing a stage's state. */
#include "driver.h"
#include "util/fsutil.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <unistd.h>

void stage_free(struct stage *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->root);
	if (s->rootfd >= 0)
		close(s->rootfd);
	if (s->config)
		json_decref(s->config);
	for (size_t i = 0; i < s->n_layers; i++)
		free(s->layers[i].media_type);
	free(s->layers);
	strv_free(s->args);
	stage_vars_release(s);
	strv_free(s->used_build_args);
	fs_index_free(s->fsindex);
	free(s);
}

/* the configuration every stage starts from: the options instructions read, and what the
 * driver prepared (context, .dockerignore, RUN's files, the isolation, the meta ARGs) */
void stage_config_setup(struct builder *b)
{
	const struct build_opts *o = b->o;
	b->cfg = (struct stage_config){
	    .bs = b->bs,
	    .reproducible = o->reproducible,
	    .force_build_metadata = o->force_build_metadata,
	    .ca_files = o->ca_files,
	    .context = b->context,
	    .dockerignore = b->dockerignore,
	    .resolv_conf = b->resolv_conf,
	    .hosts = b->hosts,
	    .escape = b->df->escape,
	    .dockerfile_path = b->dockerfile_path,
	    .platform = o->custom_platform,
	    .snapshot_mode = o->snapshot_mode && *o->snapshot_mode ? o->snapshot_mode : "full",
	    .single_snapshot = o->single_snapshot,
	    .inplace = b->inplace,
	    .ignore = b->ignore,
	    .source_date_epoch = b->source_date_epoch,
	    .build_args = b->plan->build_args,
	    .meta_args = b->plan->meta_args,
	    .meta_ix = b->plan->meta_ix,
	    .compression_level = o->compression_level,
	};
	b->scfg = xcalloc(b->n_stages ? b->n_stages : 1, sizeof(*b->scfg));
	b->created = xcalloc(b->n_stages ? b->n_stages : 1, sizeof(*b->created));
}

/* the options the build checks before it starts (the command line checked the rest) */
int check_options(const struct build_opts *o, struct kiln_err **err)
{
	const char *mode = o->snapshot_mode && *o->snapshot_mode ? o->snapshot_mode : "full";
	if (!streq(mode, "full") && !streq(mode, "redo") && !streq(mode, "time"))
		return kiln_err_set(err, "%s is not a valid snapshot mode", mode);
	return 0;
}

/* the stage's configuration (the build's, with its own creation time) and its root */
void stage_begin(struct builder *b, struct stage *s, size_t idx)
{
	struct stage_config *c = &b->scfg[idx];
	*c = b->cfg;
	b->created[idx] = image_time_now(b->o->reproducible, b->source_date_epoch);
	c->created = b->created[idx];
	s->cfg = c;
	s->stages = b->stages;
	s->n_stages = idx; /* COPY --from and FROM see only earlier stages */
	s->images = b->images;
	s->n_images = b->n_images;
	cleanup_free char *dir = xasprintf("%s/stages/%zu", b->o->kaniko_dir, idx);
	s->root = b->inplace ? xstrdup("/") : path_join(dir, "rootfs");
}
