/* ignore.h — kaniko's model for containers that cannot mount: the container's own "/" is the
 * build root. The ignore list says what kiln never extracts over, snapshots or deletes. */
#pragma once

#include "util/err.h"

#include <stdbool.h>

struct ignore_list;

/* kaniko's list (reference §4.2): $KANIKO_DIR, /etc/mtab, /tmp/apt-key-gpghome (children),
 * /var/run when ignore_var_run, each --ignore-path (per-component globs), and every mount
 * point in mountinfo (a path to /proc/self/mountinfo, or NULL for it) except "/" */
int ignore_list_new(const char *kaniko_dir, bool ignore_var_run, char *const *ignore_paths,
                    const char *mountinfo, struct ignore_list **ret, struct kiln_err **err);
/* the chroot mode's list: only the --ignore-path entries (the stage root is kiln's own, with
 * no mounts or $KANIKO_DIR in it); NULL when there are none */
struct ignore_list *ignore_list_user(char *const *ignore_paths);
struct ignore_list *ignore_list_free(struct ignore_list *l);
/* adds a path whose children are ignored but not the path itself (VOLUME) */
void ignore_list_add_children(struct ignore_list *l, const char *path);
/* the callback shape of fs/extract and fs/snapshot: path absolute inside the root */
bool ignore_list_match(const char *path, void *list);

/* removes everything under "/" (rootfd) that is neither ignored nor an ancestor of an ignored
 * path, descending into ancestors (kaniko's DeleteFilesystem) */
int inplace_wipe(int rootfd, struct ignore_list *l, struct kiln_err **err);

DEFINE_FREEP(struct ignore_list, ignore_list_free)
