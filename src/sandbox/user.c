/* user.c — USER resolution in the stage's own /etc/passwd and /etc/group, never the host's. */
#include "sandbox.h"
#include "root.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <string.h>

static bool parse_id(const char *s, unsigned long *ret)
{
	if (!*s)
		return false;
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > 0xfffffffeUL || *s == '-' || *s == '+')
		return false;
	*ret = v;
	return true;
}

/* reads etc/<name> inside the root; a missing file is an empty one */
static int read_db(int rootfd, const char *name, char **ret, struct kiln_err **err)
{
	cleanup_close int fd = root_open(rootfd, name, O_RDONLY);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			*ret = xstrdup("");
			return 0;
		}
		return kiln_err_errno(err, "open '/%s' in the stage root", name);
	}
	size_t len;
	return read_fd_all(fd, name, LIMIT_SMALL_FILE, ret, &len, err);
}

/* splits a colon-separated line into at most n fields; returns the count */
static size_t split_fields(char *line, char **f, size_t n)
{
	size_t i = 0;
	f[i++] = line;
	for (char *p = line; *p && i < n; p++) {
		if (*p == ':') {
			*p = '\0';
			f[i++] = p + 1;
		}
	}
	return i;
}

int sandbox_user_resolve(int rootfd, const char *spec, struct sandbox_user *ret,
                         struct kiln_err **err)
{
	struct sandbox_user u = {0};
	cleanup_free char *s = xstrdup(spec ? spec : "");
	char *group = strchr(s, ':');
	if (group)
		*group++ = '\0';
	const char *user = *s ? s : "root";

	cleanup_free char *passwd = NULL, *groupdb = NULL;
	int r = read_db(rootfd, "etc/passwd", &passwd, err);
	if (r < 0)
		return r;
	r = read_db(rootfd, "etc/group", &groupdb, err);
	if (r < 0)
		return r;

	unsigned long id = 0;
	bool numeric = parse_id(user, &id);
	bool found = false;
	char *save = NULL;
	for (char *line = strtok_r(passwd, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[7];
		unsigned long puid, pgid;
		if (split_fields(line, f, 7) < 7 || !parse_id(f[2], &puid) ||
		    !parse_id(f[3], &pgid))
			continue;
		if (numeric ? puid == id : streq(f[0], user)) {
			u.uid = (uid_t)puid;
			u.gid = (gid_t)pgid;
			u.name = xstrdup(f[0]);
			u.home = xstrdup(f[5]);
			found = true;
			break;
		}
	}
	if (!found && streq(user, "root")) {
		/* a stage without /etc/passwd (FROM scratch, distroless) still has root: uid 0, as
		 * `docker build` resolves it for WORKDIR and COPY --chown (its RUN fails; kiln's
		 * runs, docs/compat.md) */
		u.name = xstrdup("root");
		u.home = xstrdup("/root");
		found = true;
	}
	if (!found) {
		if (!numeric)
			return kiln_err_set(err,
			                    "unable to find user %s: no matching entries in "
			                    "passwd file",
			                    user);
		u.uid = (uid_t)id;
		u.gid = 0;
	}

	/* the group database is walked once: explicit group, and supplementary memberships */
	bool want_group = group && *group;
	unsigned long gid_num = 0;
	bool group_numeric = want_group && parse_id(group, &gid_num);
	bool group_found = false;
	save = NULL;
	for (char *line = strtok_r(groupdb, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[4];
		unsigned long ggid;
		if (split_fields(line, f, 4) < 4 || !parse_id(f[2], &ggid))
			continue;
		if (want_group && !group_numeric && streq(f[0], group)) {
			gid_num = ggid;
			group_found = true;
		}
		if (!want_group && u.name) {
			char *msave = NULL;
			for (char *m = strtok_r(f[3], ",", &msave); m;
			     m = strtok_r(NULL, ",", &msave)) {
				if (streq(m, u.name)) {
					u.groups =
					    xreallocarray(u.groups, u.n_groups + 1, sizeof(gid_t));
					u.groups[u.n_groups++] = (gid_t)ggid;
				}
			}
		}
	}
	/* the supplementary groups are exactly the /etc/group entries that list the user (the
	 * primary group only when listed there too), as Docker's RUN (runc's GetExecUser); an
	 * explicit group or an unknown uid gives none */
	if (want_group) {
		if (!group_numeric && !group_found && streq(group, "root")) {
			gid_num = 0; /* no /etc/group entry: root is still gid 0 */
			group_found = true;
		}
		if (!group_numeric && !group_found) {
			sandbox_user_release(&u);
			return kiln_err_set(err,
			                    "unable to find group %s: no matching entries in "
			                    "group file",
			                    group);
		}
		u.gid = (gid_t)gid_num;
	}
	*ret = u;
	return 0;
}

void sandbox_user_release(struct sandbox_user *u)
{
	free(u->groups);
	free(u->name);
	free(u->home);
	memset(u, 0, sizeof(*u));
}
