/* isolation.c — where a build's stages live: --isolation (a private root per stage, or the
 * container's "/" as kaniko does), --stage-storage (the roots in a tmpfs or on disk), the files
 * RUN gets, and handing "/" from one in-place stage to the next. */
#include "driver.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"
#include "sandbox/sandbox.h"
#include "util/limits.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* In place, the next stage needs "/" back: a stage that a later one reads is first unpacked
 * from its layers (all in the blob store) into its own directory, then "/" is wiped. */
int inplace_stage_done(struct builder *b, struct stage *s, bool used_later, struct kiln_err **err)
{
	fs_index_free(s->fsindex);
	s->fsindex = NULL;
	if (used_later) {
		cleanup_free char *dir = xasprintf("%s/stages/%d", b->o->kaniko_dir, s->index);
		free(s->root);
		s->root = path_join(dir, "rootfs");
		log_info("Storing source image from stage %d at path %s", s->index, s->root);
		int r = stage_unpack(b, s, NULL, false, err);
		if (r < 0)
			return r;
	}
	log_info("Deleting filesystem...");
	cleanup_close int rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return kiln_err_errno(err, "open /");
	return inplace_wipe(rootfd, b->ignore, err);
}

/* --stage-storage, chroot mode: the stage roots (and images read by COPY --from) in a tmpfs
 * of kiln's own mount namespace, or on disk. In memory, a build creates no inode on disk for
 * its roots, and nothing is left to delete: the kernel frees it all when kiln exits. "auto"
 * takes memory only when plenty is free, and only half of it. */
static int choose_stage_storage(struct builder *b, struct kiln_err **err)
{
	const char *v = b->o->stage_storage && *b->o->stage_storage ? b->o->stage_storage : "auto";
	if (streq(v, "disk"))
		return 0;
	uint64_t headroom = sandbox_memory_headroom(), size = headroom / 2;
	if (startswith(v, "tmpfs:")) {
		if (sandbox_parse_size(v + STRLEN("tmpfs:"), &size) < 0)
			return kiln_err_set(err, "--stage-storage: invalid size in '%s'", v);
	} else if (streq(v, "auto")) {
		if (headroom < (UINT64_C(4) << 30)) {
			log_debug("Stage roots on disk: %" PRIu64 " MiB of memory free",
			          headroom >> 20);
			return 0;
		}
	} else if (!streq(v, "tmpfs")) {
		return kiln_err_set(err, "--stage-storage: unknown value '%s'", v);
	}
	cleanup_free char *dir = path_join(b->o->kaniko_dir, "stages");
	cleanup_err struct kiln_err *why = NULL;
	if (sandbox_private_tmpfs(dir, size, &why) < 0) {
		if (!streq(v, "auto"))
			return kiln_err_set(err, "--stage-storage=%s: %s", v, kiln_err_msg(why));
		log_debug("Stage roots on disk: %s", kiln_err_msg(why));
		return 0;
	}
	b->stages_tmpfs = TAKE_PTR(dir);
	if (size)
		log_info("Stage roots in memory: a tmpfs of %" PRIu64
		         " MiB at %s (--stage-storage)",
		         size >> 20, b->stages_tmpfs);
	else
		log_info("Stage roots in memory: a tmpfs of half the RAM at %s (--stage-storage)",
		         b->stages_tmpfs);
	return 0;
}

/* --isolation: chroot when RUN can get its own /proc and /dev, else kaniko's in-place model
 * inside a container (or anywhere with --force), else an error naming what is missing */
int choose_isolation(struct builder *b, struct kiln_err **err)
{
	const char *iso = b->o->isolation && *b->o->isolation ? b->o->isolation : "auto";
	struct sandbox_caps caps;
	sandbox_probe(&caps);
	bool can_chroot = caps.namespaces && caps.chroot;
	if (streq(iso, "chroot")) {
		if (!can_chroot)
			return kiln_err_set(err,
			                    "--isolation=chroot: this environment does not allow "
			                    "mount and PID namespaces (CAP_SYS_ADMIN) or chroot");
		b->inplace = false;
	} else if (streq(iso, "inplace") || streq(iso, "auto")) {
		b->inplace = streq(iso, "inplace") || !can_chroot;
	} else {
		return kiln_err_set(err, "--isolation: unknown mode '%s' (auto, chroot, inplace)",
		                    iso);
	}
	if (!b->inplace) {
		log_debug("Isolation: chroot (mount and PID namespaces available)");
		/* --ignore-path means what it means in place: not extracted, not snapshotted */
		b->ignore = ignore_list_user(b->o->ignore_paths);
		return choose_stage_storage(b, err);
	}
	if (!sandbox_in_container(NULL)) {
		if (!b->o->force)
			return kiln_err_set(err,
			                    "kaniko should only be run inside of a container, run "
			                    "with the --force flag if you are sure you want to "
			                    "continue");
		log_warn("Kaniko is being run outside of a container. This can have dangerous "
		         "effects on your system");
	}
	log_info("Isolation: inplace (the build root is this container's /%s)",
	         can_chroot ? "" : "; no mount namespaces here");
	return ignore_list_new(b->o->kaniko_dir, b->o->ignore_var_run, b->o->ignore_paths, NULL,
	                       &b->ignore, err);
}

/* files injected into every RUN: a copy of the host's resolv.conf (so a RUN that writes it
 * cannot touch the host) and a hosts file as BuildKit writes it */
int prepare_run_files(struct builder *b, struct kiln_err **err)
{
	cleanup_free char *dir = path_join(b->o->kaniko_dir, "run");
	int r = mkdir_p(dir, 0755, err);
	if (r < 0)
		return r;
	cleanup_free char *resolv = NULL;
	size_t len = 0;
	if (read_file_at(AT_FDCWD, "/etc/resolv.conf", LIMIT_SMALL_FILE, &resolv, &len, NULL) < 0) {
		resolv = xstrdup("");
		len = 0;
	}
	b->resolv_conf = path_join(dir, "resolv.conf");
	r = write_file_atomic(b->resolv_conf, resolv, len, 0644, err);
	if (r < 0)
		return r;
	static const char hosts[] = "127.0.0.1\tlocalhost buildkitsandbox\n"
	                            "::1\tlocalhost ip6-localhost ip6-loopback\n";
	b->hosts = path_join(dir, "hosts");
	return write_file_atomic(b->hosts, hosts, STRLEN(hosts), 0644, err);
}
