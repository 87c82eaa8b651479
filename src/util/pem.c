/* pem.c — PEM certificate directories into one bundle. */
#include "pem.h"
#include "fsutil.h"
#include "xalloc.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

/* one certificate file: far more than any real bundle */
#define PEM_FILE_MAX (16u << 20)

static void add_pem_dir(struct kiln_buf *b, const char *dir)
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
		if (stat(p, &st) < 0 || !S_ISREG(st.st_mode))
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
	size_t n = 0;
	while (dirs[n]) {
		size_t l = strcspn(dirs + n, ":");
		cleanup_free char *d = xstrndup(dirs + n, l);
		add_pem_dir(b, d);
		n += l;
		if (dirs[n] == ':')
			n++;
	}
}
