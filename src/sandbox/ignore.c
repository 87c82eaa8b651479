/* ignore.c — the ignore list and the root wipe of the inplace isolation mode. */
#include "ignore.h"
#include "util/fsutil.h"
#include "util/macro.h"
#include "util/limits.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <string.h>
#include <unistd.h>

struct ignore_list {
	char **subtrees; /* the path and everything below (patterns: per-component globs) */
	char **children; /* only what is below the path */
};

/* mountinfo escapes space, tab, newline and backslash as \\ooo */
static char *unescape_octal(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;
	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}

static void add_subtree(struct ignore_list *l, const char *path)
{
	cleanup_free char *clean = path_clean(path);
	if (streq(clean, "/") || strv_contains(l->subtrees, clean))
		return;
	strv_push(&l->subtrees, TAKE_PTR(clean));
}

void ignore_list_add_children(struct ignore_list *l, const char *path)
{
	strv_push(&l->children, path_clean(path));
}

struct ignore_list *ignore_list_user(char *const *ignore_paths)
{
	if (!ignore_paths || !*ignore_paths)
		return NULL;
	struct ignore_list *l = xcalloc(1, sizeof(*l));
	strv_foreach (p, ignore_paths)
		add_subtree(l, p);
	return l;
}

int ignore_list_new(const char *kaniko_dir, bool ignore_var_run, char *const *ignore_paths,
                    const char *mountinfo, struct ignore_list **ret, struct kiln_err **err)
{
	_cleanup_(ignore_list_freep) struct ignore_list *l = xcalloc(1, sizeof(*l));
	add_subtree(l, kaniko_dir);
	add_subtree(l, "/etc/mtab");
	ignore_list_add_children(l, "/tmp/apt-key-gpghome");
	if (ignore_var_run)
		add_subtree(l, "/var/run");
	strv_foreach (p, ignore_paths)
		add_subtree(l, p);
	cleanup_free char *text = NULL;
	size_t len = 0;
	const char *mi = mountinfo ? mountinfo : "/proc/self/mountinfo";
	int r = read_file_at(AT_FDCWD, mi, LIMIT_CONFIG, &text, &len, err);
	if (r < 0)
		return r;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* id parent major:minor root MOUNTPOINT ... */
		char *f = line;
		for (int i = 0; i < 4 && f; i++) {
			f = strchr(f, ' ');
			if (f)
				f++;
		}
		if (!f)
			continue;
		char *end = strchr(f, ' ');
		if (end)
			*end = '\0';
		cleanup_free char *mp = unescape_octal(f);
		add_subtree(l, mp);
	}
	*ret = TAKE_PTR(l);
	return 0;
}

struct ignore_list *ignore_list_free(struct ignore_list *l)
{
	if (l) {
		strv_free(l->subtrees);
		strv_free(l->children);
		free(l);
	}
	return NULL;
}

/* pattern (absolute, per-component globs) matches path or one of its ancestors */
static bool prefix_match(const char *pattern, const char *path)
{
	size_t k = 0, seen = 0;
	for (const char *c = pattern; *c; c++)
		k += *c == '/';
	const char *p = path;
	for (; *p; p++) {
		if (*p == '/' && ++seen == k + 1)
			break;
	}
	cleanup_free char *head = xstrndup(path, (size_t)(p - path));
	return fnmatch(pattern, head, FNM_PATHNAME) == 0;
}

bool ignore_list_match(const char *path, void *list)
{
	const struct ignore_list *l = list;
	strv_foreach (p, l->subtrees) {
		if (prefix_match(p, path))
			return true;
	}
	strv_foreach (c, l->children) {
		size_t n = strlen(c);
		if (strneq(path, c, n) && path[n] == '/' && path[n + 1])
			return true;
	}
	return false;
}

/* whether an ignored path lies strictly below path: then path must stay, emptied around it */
static bool is_ancestor_of_ignored(const struct ignore_list *l, const char *path)
{
	size_t n = strlen(path);
	strv_foreach (p, l->subtrees) {
		if (streq(path, "/") || (strneq(p, path, n) && p[n] == '/'))
			return true;
	}
	strv_foreach (c, l->children) {
		if (streq(path, "/") || streq(c, path) || (strneq(c, path, n) && c[n] == '/'))
			return true;
	}
	return false;
}

static int wipe_dir(int dfd, const char *path, struct ignore_list *l, struct kiln_err **err)
{
	cleanup_strv char **names = NULL;
	int r0 = dir_list_names(dfd, path, &names, err);
	if (r0 < 0)
		return r0;
	strv_foreach (name, names) {
		cleanup_free char *child = path_join(path, name);
		if (ignore_list_match(child, l))
			continue;
		int r;
		if (is_ancestor_of_ignored(l, child)) {
			cleanup_close int cfd =
			    openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0)
				continue; /* not a directory: an ignored path cannot be below it */
			r = wipe_dir(cfd, child, l, err);
		} else {
			r = rm_rf_at(dfd, name, err);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int inplace_wipe(int rootfd, struct ignore_list *l, struct kiln_err **err)
{
	return wipe_dir(rootfd, "/", l, err);
}
