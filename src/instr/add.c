/* add.c — what ADD does beyond COPY: URL sources (downloaded with Docker's naming, mode and
 * mtime rules, --checksum verified) and local tar archives (unpacked at the destination; the
 * layer is then a diff of the root). Git sources are refused for now. */
#include "copy.h"
#include "fsops.h"
#include "fs/extract.h"
#include "net/download.h"
#include "util/forkguard.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ADD <url>: Docker's rules: the URL's file name under a directory destination, mode 0600
 * (or --chmod), owner 0:0 (or --chown), mtime from Last-Modified; --checksum verified before
 * the file counts */
static int add_url(struct copy_ctx *c, const char *url, const char *dest, bool dest_dir,
                   struct kiln_err **err)
{
	struct stage *s = c->s;
	cleanup_free char *path = xstrndup(url, strcspn(url, "?#"));
	const char *after_host = strchr(strstr(path, "://") + 3, '/');
	const char *base = after_host ? strrchr(after_host, '/') + 1 : "";
	if (dest_dir && !*base)
		return kiln_err_set(err,
		                    "ADD '%s': cannot determine a file name from the URL; give "
		                    "a destination file name",
		                    url);
	cleanup_free char *abs = dest_dir ? path_join(dest, base) : xstrdup(dest);
	cleanup_close int pfd = -1;
	cleanup_guarded_close int fd = -1;
	cleanup_free char *name = NULL;
	int r = create_dest_file(c, abs, 0600, &pfd, &name, &fd, err);
	if (r < 0)
		return r;
	log_info("Adding remote URL %s to %s", path, abs);
	struct download_info info;
	r = download_url(url, fd, "kiln", (const char *const *)s->cfg->ca_files, &info, err);
	if (r >= 0 && c->spec->checksum) {
		cleanup_free char *want = NULL;
		r = stage_expand(s, c->spec->checksum, &want, err);
		if (r >= 0 && !streq(want, info.digest))
			r = kiln_err_set(err, "ADD '%s': checksum mismatch: expected %s, got %s",
			                 path, want, info.digest);
	}
	if (r < 0) {
		unlinkat(pfd, name, 0);
		return r;
	}
	struct stat st = {.st_mode = S_IFREG | 0600};
	if (info.last_modified > 0)
		st.st_mtim.tv_sec = info.last_modified;
	else
		clock_gettime(CLOCK_REALTIME, &st.st_mtim);
	st.st_atim = st.st_mtim;
	note_written(c, abs);
	return apply_meta(c, pfd, name, &st, false, abs, err);
}

int add_urls(struct copy_ctx *c, char *const *words, size_t n, const char *dest, bool dest_dir,
             size_t *ret_n_urls, struct kiln_err **err)
{
	struct stage *s = c->s;
	size_t n_urls = 0;
	for (size_t i = 0; c->spec->kind == COPY_KIND_ADD && i < n; i++) {
		if (startswith(words[i], "git@") || strstr(words[i], ".git#"))
			return kiln_err_set(
			    err,
			    "%s:%d: ADD of a git repository ('%s') is not implemented "
			    "yet in kiln",
			    s->cfg->dockerfile_path, c->in->start_line, words[i]);
		if (!copy_is_url(words[i]))
			continue;
		n_urls++;
		if (add_url(c, words[i], dest, dest_dir, err) < 0)
			return stage_err(s, c->in, err);
	}
	if (c->spec->has_checksum && n_urls == 0)
		return kiln_err_set(err, "%s:%d: ADD --checksum needs a URL source",
		                    s->cfg->dockerfile_path, c->in->start_line);
	*ret_n_urls = n_urls;
	return 0;
}

/* archives are unpacked by ADD of context files only (not with --from, even a bare one) */
static bool add_unpacks(const struct copy_ctx *c)
{
	return c->spec->kind == COPY_KIND_ADD && !c->spec->has_from;
}

int add_local_archive(struct copy_ctx *c, const char *pp, const struct stat *st, const char *src,
                      const char *dir, struct kiln_err **err)
{
	if (!add_unpacks(c) || !S_ISREG(st->st_mode))
		return 0;
	cleanup_close int probe = open(pp, O_RDONLY | O_CLOEXEC);
	if (probe < 0 || !fs_is_tar_archive(probe))
		return 0;
	/* a local tar (plain, gz, bz2, xz, zstd) is unpacked at the destination with its own
	 * owners and modes, confined to that directory */
	cleanup_close int dfd = -1;
	int r = root_mkdir_p(c->s->rootfd, dir, 0755, c->uid, c->gid, &c->written, &dfd, err);
	if (r >= 0) {
		log_info("Unpacking local tar archive %s to %s", src, dir);
		struct extract_opts eo = {.no_chown = geteuid() != 0, .keep_root_meta = true};
		r = fs_extract_layer(dfd, probe, src, &eo, err);
	}
	c->unpacked = true;
	return r < 0 ? r : 1;
}

/* ADD unpacks local archives: their content is found by diffing the root, so the index must
 * describe the root before anything is written */
int add_prepare(struct copy_ctx *c, struct kiln_err **err)
{
	if (!add_unpacks(c))
		return 0;
	return stage_index_sync(c->s, err);
}
