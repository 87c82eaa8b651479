/* remote.c — --context resolution (kaniko reference §2): which kind a spec is, fetching tar,
 * stdin, https and git contexts into <kaniko_dir>/buildcontext, unpacking them safely (fs/'s
 * layer extractor: no entry lands outside, '..' is refused), and --context-sub-path. */
#include "remote.h"
#include "context/git.h"
#include "fs/extract.h"
#include "net/download.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define UNKNOWN_PREFIX                                                                            \
	"unknown build context prefix provided, please use one of the following: gs://, dir://, " \
	"tar://, s3://, git://, https://"

/* kaniko's Azure Blob Storage hosts: <account>.blob.core.<cloud suffix> */
static bool azure_blob_host(const char *url)
{
	static const char *const suffixes[] = {
	    ".blob.core.windows.net",
	    ".blob.core.chinacloudapi.cn",
	    ".blob.core.cloudapi.de",
	    ".blob.core.usgovcloudapi.net",
	};
	const char *h = strstr(url, "://");
	if (!h)
		return false;
	h += 3;
	size_t alen = strcspn(h, "/?#");
	const char *at = memrchr(h, '@', alen);
	if (at) {
		alen -= (size_t)(at + 1 - h);
		h = at + 1;
	}
	size_t hlen = strcspn(h, ":/?#");
	if (hlen > alen)
		hlen = alen;
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		size_t sl = strlen(suffixes[i]);
		if (hlen > sl && strncasecmp(h + hlen - sl, suffixes[i], sl) == 0)
			return true;
	}
	return false;
}

enum context_kind context_kind(const char *spec, const char **ret_rest)
{
	*ret_rest = spec;
	const char *sep = strstr(spec, "://");
	if (!sep)
		return CONTEXT_DIR;
	size_t plen = (size_t)(sep - spec);
	const char *rest = sep + 3;
#define PREFIX_IS(s) (plen == STRLEN(s) && strneq(spec, s, plen))
	if (PREFIX_IS("dir")) {
		*ret_rest = rest;
		return CONTEXT_DIR;
	}
	if (PREFIX_IS("tar")) {
		*ret_rest = rest;
		return streq(rest, "stdin") ? CONTEXT_STDIN : CONTEXT_TAR;
	}
	if (PREFIX_IS("git")) {
		*ret_rest = rest;
		return CONTEXT_GIT;
	}
	if (PREFIX_IS("gs"))
		return CONTEXT_GCS;
	if (PREFIX_IS("s3"))
		return CONTEXT_S3;
	if (PREFIX_IS("https"))
		return azure_blob_host(spec) ? CONTEXT_AZURE : CONTEXT_HTTPS;
#undef PREFIX_IS
	return CONTEXT_UNKNOWN;
}

char *context_redact_url(const char *url)
{
	const char *sep = strstr(url, "://");
	const char *auth = sep ? sep + 3 : url;
	size_t alen = strcspn(auth, "/?#");
	const char *at = memrchr(auth, '@', alen);
	if (!at)
		return xstrdup(url);
	return xasprintf("%.*s%s", (int)(auth - url), url, at + 1);
}

int context_clean_sub_path(const char *sub, char **ret, struct kiln_err **err)
{
	if (!sub || !*sub) {
		*ret = xstrdup(".");
		return 0;
	}
	cleanup_free char *c = path_clean(sub);
	if (c[0] == '/') {
		/* Go's filepath.Join(context, "/x") is context/x; an absolute path cannot climb */
		*ret = xstrdup(c[1] ? c + 1 : ".");
		return 0;
	}
	if (streq(c, "..") || startswith(c, "../"))
		return kiln_err_set(err, "context sub path '%s' is outside the build context", sub);
	*ret = TAKE_PTR(c);
	return 0;
}

/* unpacks the tar (plain, gzip, zstd, xz or bzip2; kaniko takes only gzip) read from fd into
 * the directory dir */
static int untar(int fd, const char *name, const char *dir, struct kiln_err **err)
{
	cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return kiln_err_errno(err, "open '%s'", dir);
	/* entries keep the tar's owners as in kaniko, when we may set them */
	struct extract_opts xo = {.no_chown = geteuid() != 0};
	return fs_extract_layer(dfd, fd, name, &xo, err);
}

static int fetch_tar(const char *path, const char *dir, struct kiln_err **err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_errno(err, "open '%s'", path);
	const char *base = strrchr(path, '/');
	return untar(fd, base ? base + 1 : path, dir, err);
}

static int fetch_stdin(const char *dir, struct kiln_err **err)
{
	struct stat st;
	if (fstat(STDIN_FILENO, &st) < 0)
		return kiln_err_errno(err, "stdin");
	/* kaniko refuses any character device (a terminal, /dev/null) */
	if (S_ISCHR(st.st_mode))
		return kiln_err_set(
		    err, "no data found.. don't forget to add the '--interactive, -i' flag");
	log_info("To simulate EOF and exit, press 'Ctrl+D'");
	return untar(STDIN_FILENO, "stdin", dir, err);
}

/* Go's http.StatusText for what a file server answers */
static const char *status_text(long code)
{
	switch (code) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 410:
		return "Gone";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return NULL;
	}
}

static int fetch_https(const char *url, const struct context_opts *o, const char *dir,
                       struct kiln_err **err)
{
	/* the download never lands in the context: an unlinked file next to it */
	cleanup_free char *tmpl = path_join(o->kaniko_dir, ".context-download.XXXXXX");
	cleanup_close int fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return kiln_err_errno(err, "create '%s'", tmpl);
	unlink(tmpl);
	log_info("Retrieving https tar file");
	struct download_info info;
	cleanup_err struct kiln_err *derr = NULL;
	if (download_url(url, fd, o->user_agent, o->ca_files, &info, &derr) < 0) {
		int code = kiln_err_http_status(derr);
		if (code) {
			const char *t = status_text(code);
			return kiln_err_set(err, "HTTPSTar bad status from server: %d%s%s", code,
			                    t ? " " : "", t ? t : "");
		}
		*err = TAKE_PTR(derr);
		return -1;
	}
	log_info("Retrieved https tar file");
	if (lseek(fd, 0, SEEK_SET) < 0)
		return kiln_err_errno(err, "rewind '%s'", tmpl);
	int r = untar(fd, "context.tar.gz", dir, err);
	if (r < 0)
		return r;
	log_info("Extracted https tar file");
	return 0;
}

static int resolve_local(const char *path, const char *shown, char **ret, struct kiln_err **err)
{
	char buf[PATH_MAX];
	if (!realpath(path, buf))
		return kiln_err_errno(err, "build context '%s'", shown);
	struct stat st;
	if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
		return kiln_err_set(err, "build context '%s' is not a directory", shown);
	*ret = xstrdup(buf);
	return 0;
}

static int fetch_remote(enum context_kind k, const char *spec, const char *rest,
                        const struct context_opts *o, char **ret, struct kiln_err **err)
{
	cleanup_free char *dir = path_join(o->kaniko_dir, "buildcontext");
	/* a stale context from an earlier run must not mix into this one */
	int r = rm_rf(dir, err);
	if (r >= 0)
		r = mkdir_p(dir, 0755, err);
	if (r < 0)
		return r;
	switch (k) {
	case CONTEXT_TAR:
		r = fetch_tar(rest, dir, err);
		break;
	case CONTEXT_STDIN:
		r = fetch_stdin(dir, err);
		break;
	case CONTEXT_HTTPS:
		r = fetch_https(spec, o, dir, err);
		break;
	case CONTEXT_GIT:
		r = context_git_clone(rest, o, dir, err);
		break;
	default:
		assert(false);
		r = kiln_err_set(err, "unexpected context kind");
	}
	if (r < 0) {
		/* the error is what matters; a half-written context is not left behind */
		rm_rf(dir, NULL);
		return r;
	}
	return resolve_local(dir, dir, ret, err);
}

static int apply_sub_path(const char *base, const char *sub, const char *raw, char **ret,
                          struct kiln_err **err)
{
	cleanup_free char *joined = path_join(base, sub);
	char buf[PATH_MAX];
	if (!realpath(joined, buf))
		return kiln_err_errno(err, "context sub path '%s'", raw);
	size_t bl = strlen(base);
	/* a symlink inside the context may point anywhere: the result must stay inside */
	if (!streq(base, "/") && (!strneq(buf, base, bl) || (buf[bl] != '/' && buf[bl] != '\0')))
		return kiln_err_set(err, "context sub path '%s' is outside the build context", raw);
	struct stat st;
	if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
		return kiln_err_set(err, "context sub path '%s' is not a directory", raw);
	*ret = xstrdup(buf);
	return 0;
}

int context_resolve(const char *spec, const struct context_opts *o, char **ret_dir,
                    struct kiln_err **err)
{
	const char *rest = NULL;
	enum context_kind k = context_kind(spec, &rest);
	cleanup_free char *shown = context_redact_url(spec);
	cleanup_free char *sub = NULL;
	int r = context_clean_sub_path(o->sub_path, &sub, err);
	if (r < 0)
		return r;
	cleanup_free char *base = NULL;
	switch (k) {
	case CONTEXT_DIR:
		r = resolve_local(rest, spec, &base, err);
		break;
	case CONTEXT_TAR:
	case CONTEXT_STDIN:
	case CONTEXT_HTTPS:
	case CONTEXT_GIT:
		r = fetch_remote(k, spec, rest, o, &base, err);
		/* git's messages already name the repository */
		if (r < 0 && k != CONTEXT_GIT)
			kiln_err_wrap(err, "build context '%s'", shown);
		break;
	case CONTEXT_GCS:
		return kiln_err_set(
		    err,
		    "build context '%s': gs:// (Google Cloud Storage) contexts are not "
		    "implemented in kiln",
		    shown);
	case CONTEXT_S3:
		return kiln_err_set(
		    err, "build context '%s': s3:// contexts are not implemented in kiln", shown);
	case CONTEXT_AZURE:
		return kiln_err_set(err,
		                    "build context '%s': Azure Blob Storage contexts are not "
		                    "implemented in kiln",
		                    shown);
	case CONTEXT_UNKNOWN:
		return kiln_err_set(err, UNKNOWN_PREFIX);
	}
	if (r < 0)
		return r;
	if (streq(sub, ".")) {
		*ret_dir = TAKE_PTR(base);
		return 0;
	}
	return apply_sub_path(base, sub, o->sub_path, ret_dir, err);
}
