/* main.c — the executor: parse kaniko's command line, build, write outputs, push. The only
 * place that prints errors and chooses the exit status (a failed RUN's own status, else 1). */
#include "driver/build.h"
#include "cli/options.h"
#include "cli/optparse.h"
#include "cli/warmer.h"
#include "dockerfile/dockerfile.h"
#include "kiln-config.h"
#include "output/output.h"
#include "net/download.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/timing.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int debug_parse(const char *file)
{
	cleanup_err struct kiln_err *err = NULL;
	cleanup_free char *text = NULL;
	size_t len = 0;
	if (read_file_at(AT_FDCWD, file, LIMIT_DOCKERFILE, &text, &len, &err) < 0) {
		fprintf(stderr, "%s\n", kiln_err_msg(err));
		return 1;
	}
	struct dockerfile *df = NULL;
	if (dockerfile_parse(file, text, len, &df, &err) < 0) {
		fprintf(stderr, "%s\n", kiln_err_msg(err));
		return 1;
	}
	cleanup_buf struct kiln_buf out = KILN_BUF_INIT;
	dockerfile_dump(df, &out);
	fwrite(out.ptr, 1, out.len, stdout);
	dockerfile_free(df);
	return 0;
}

/* After the build and its pushes, nothing of this build needs the blob store any more: it is
 * brought under --blob-store-size (emptied after a successful --cleanup build), unless
 * another kiln process is using it (util/blobstore.h). A failure here fails nothing. */
static void trim_blob_store(const struct build_opts *o, struct blobstore *bs, bool ok)
{
	uint64_t limit = UINT64_MAX;
	if (cli_parse_store_size(o->blob_store_size, &limit) < 0)
		return; /* validated before the build */
	if (o->cleanup && ok)
		limit = 0;
	if (limit == UINT64_MAX)
		return;
	struct blobstore_trim_stats st;
	cleanup_err struct kiln_err *e = NULL;
	if (blobstore_trim(bs, limit, &st, &e) < 0) {
		log_warn("Blob store not trimmed: %s", kiln_err_msg(e));
		return;
	}
	if (st.skipped)
		log_debug("Blob store not trimmed: another kiln is using %s", blobstore_dir(bs));
	else if (st.removed)
		log_info("Blob store: removed %" PRIu64 " least recently used blobs (%" PRIu64
		         " MiB), %" PRIu64 " MiB kept in %s",
		         st.removed, st.freed >> 20, st.kept >> 20, blobstore_dir(bs));
}

/* kaniko: an http(s) --dockerfile is downloaded (plain GET, kiln's CAs) to
 * $KANIKO_DIR/Dockerfile, which the build then reads */
static int fetch_dockerfile(struct build_opts *o, struct kiln_err **err)
{
	const char *url = o->dockerfile;
	if (!url || (!startswith(url, "https://") && !startswith(url, "http://")))
		return 0;
	cleanup_free char *path = path_join(o->kaniko_dir, "Dockerfile");
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return kiln_err_errno(err, "create '%s'", path);
	cleanup_free char *ua = xasprintf("kiln/%s", KILN_VERSION);
	struct download_info info;
	if (download_url_max(url, fd, LIMIT_DOCKERFILE, ua, (const char *const *)o->ca_files, &info,
	                     err) < 0) {
		unlink(path);
		return kiln_err_wrap(err, "--dockerfile");
	}
	free(o->dockerfile);
	o->dockerfile = TAKE_PTR(path);
	return 0;
}

static int build(struct build_opts *o, struct kiln_err **err)
{
	int64_t t_start = timing_now_ns();
	_cleanup_(blobstore_freep) struct blobstore *bs = NULL;
	int r = mkdir_p(o->kaniko_dir, 0777, err);
	if (r < 0)
		return r;
	r = blobstore_open(o->kaniko_dir, &bs, err);
	if (r < 0)
		return r;

	/* kept in the options: git build contexts trust the same CAs */
	o->ca_files = strv_free(o->ca_files);
	cleanup_free char *own_ca = path_join(o->kaniko_dir, "ssl/certs/ca-certificates.crt");
	if (access(own_ca, R_OK) == 0)
		strv_push(&o->ca_files, xstrdup(own_ca));
	if (!streq(own_ca, "/kaniko/ssl/certs/ca-certificates.crt") &&
	    access("/kaniko/ssl/certs/ca-certificates.crt", R_OK) == 0)
		strv_push(&o->ca_files, xstrdup("/kaniko/ssl/certs/ca-certificates.crt"));
	r = fetch_dockerfile(o, err);
	if (r < 0)
		return r;
	cleanup_strv char **certs =
	    opt_kv_strv(o->registry_certificates, o->n_registry_certificates);
	cleanup_strv char **client =
	    opt_kv_strv(o->registry_client_certs, o->n_registry_client_certs);
	cleanup_free char *ua = xasprintf("kiln/%s", KILN_VERSION);
	struct registry_opts ro = {
	    .insecure = o->insecure,
	    .insecure_pull = o->insecure_pull,
	    .insecure_registries = o->insecure_registries,
	    .skip_tls_verify = o->skip_tls_verify,
	    .skip_tls_verify_pull = o->skip_tls_verify_pull,
	    .skip_tls_verify_registries = o->skip_tls_verify_registries,
	    .ca_files = (const char *const *)o->ca_files,
	    .registry_certificates = certs,
	    .registry_client_certs = client,
	    .retries = o->image_download_retry,
	    .user_agent = ua,
	    .registry_maps = o->registry_maps,
	    .skip_default_registry_fallback = o->skip_default_registry_fallback,
	};
	_cleanup_(registry_freep) struct registry *reg = NULL;
	r = registry_new(&ro, &reg, err);
	if (r < 0)
		return r;
	r = output_check_push(o, reg, err);
	if (r < 0)
		return r;
	struct build_result res = {0};
	r = build_run(o, bs, reg, &res, err);
	if (r >= 0)
		r = output_all(o, bs, reg, &res, err);
	build_result_release(&res);
	int64_t total = timing_now_ns() - t_start;
	if (r >= 0) /* a failed build ends in its one-line error, nothing after it */
		timing_summary(total);
	/* kaniko's BENCHMARK_FILE: the phase timings as JSON, "false" for none; kaniko can also
	 * write to gs://, kiln only to a file */
	const char *bf = getenv("BENCHMARK_FILE");
	if (r >= 0 && bf && *bf && !streq(bf, "false")) {
		if (startswith(bf, "gs://"))
			log_warn("BENCHMARK_FILE '%s': only local files are supported, not written",
			         bf);
		else if (timing_write_benchmark(bf, total, err) < 0)
			r = -1;
	}
	trim_blob_store(o, bs, r >= 0);
	return r;
}

int main(int argc, char **argv)
{
	struct build_opts o;
	build_opts_init(&o);
	struct cli_parsed p = {0};
	cleanup_err struct kiln_err *err = NULL;
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	/* installed as /kaniko/warmer, or `kiln warmer ...` */
	if (streq(prog, "warmer") || (argc > 1 && streq(argv[1], "warmer"))) {
		build_opts_release(&o);
		return streq(prog, "warmer") ? warmer_main(argc, argv)
		                             : warmer_main(argc - 1, argv + 1);
	}
	int pr = cli_parse(argc, argv, &o, &p, &err);
	if (pr == CLI_ERR_FATAL) {
		log_msg(LOG_FATAL, "%s", kiln_err_msg(err));
		build_opts_release(&o);
		return 1;
	}
	if (pr < 0) {
		fprintf(stderr, "Error: %s\n", kiln_err_msg(err));
		cli_usage(stderr, prog);
		build_opts_release(&o);
		return 1;
	}
	strv_foreach (n, p.notices)
		fprintf(stderr, "%s\n", n);
	int status = 0;
	switch (p.action) {
	case CLI_HELP:
		cli_help(stdout, prog);
		break;
	case CLI_VERSION:
		printf("kiln version :  v%s (kaniko executor compatible)\n", KILN_VERSION);
		break;
	case CLI_DEBUG_PARSE:
		status = debug_parse(p.debug_file);
		break;
	case CLI_BUILD: {
		int level = log_level_parse(o.verbosity ? o.verbosity : "info");
		int format = log_format_parse(o.log_format ? o.log_format : "color");
		log_setup(level < 0 ? LOG_INFO : (enum log_level)level,
		          format < 0 ? LOG_FORMAT_COLOR : (enum log_format)format, o.log_timestamp);
		/* bars only where a person watches: a terminal with the colored log */
		progress_setup(isatty(STDERR_FILENO) && log_format() == LOG_FORMAT_COLOR);
		strv_foreach (w, p.warnings)
			log_warn("%s", w);
		if (build(&o, &err) < 0) {
			fprintf(stderr, "error building image: %s\n", kiln_err_msg(err));
			status = err && err->exit_status > 0 ? err->exit_status : 1;
		}
		break;
	}
	}
	build_opts_release(&o);
	cli_parsed_release(&p);
	return status;
}
