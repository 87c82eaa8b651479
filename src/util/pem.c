/* pem.c — PEM certificate directories into one bundle. */
#include "pem.h"
#include "fsutil.h"
#include "xalloc.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

/* one certificate file: far more than any real bundle */
#define PEM_FILE_MAX (16u << 20)

/* the files already added, by (dev, ino): a CA directory names every certificate twice (its
 * own name and its OpenSSL hash link) and often holds the whole bundle too; reading each once
 * halves the work of every registry client start in such an environment */
struct seen {
	dev_t *dev;
	ino_t *ino;
	size_t n, cap;
};

static bool seen_add(struct seen *s, const struct stat *st)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->ino[i] == st->st_ino && s->dev[i] == st->st_dev)
			return false;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->dev = xreallocarray(s->dev, s->cap, sizeof(*s->dev));
		s->ino = xreallocarray(s->ino, s->cap, sizeof(*s->ino));
	}
	s->dev[s->n] = st->st_dev;
	s->ino[s->n++] = st->st_ino;
	return true;
}

static void add_pem_dir(struct kiln_buf *b, const char *dir, struct seen *seen)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		cleanup_free char *p = path_join(dir, de->d_name);
		struct stat st;
		if (stat(p, &st) < 0 || !S_ISREG(st.st_mode) || !seen_add(seen, &st))
			continue;
		cleanup_free char *data = NULL;
		size_t len = 0;
		if (read_file_at(AT_FDCWD, p, PEM_FILE_MAX, &data, &len, NULL) < 0)
			continue;
		if (!strstr(data, "-----BEGIN CERTIFICATE-----"))
			continue;
		kiln_buf_add(b, data, len);
		kiln_buf_addch(b, '\n');
	}
	closedir(d);
}

void pem_add_dirs(struct kiln_buf *b, const char *dirs)
{
	struct seen seen = {0};
	size_t n = 0;
	while (dirs[n]) {
		size_t l = strcspn(dirs + n, ":");
		cleanup_free char *d = xstrndup(dirs + n, l);
		add_pem_dir(b, d, &seen);
		n += l;
		if (dirs[n] == ':')
			n++;
	}
	free(seen.dev);
	free(seen.ino);
}
