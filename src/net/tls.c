/* tls.c — the CA certificates kiln trusts and the TLS options of a request: one PEM bundle made
 * from the system bundle (or SSL_CERT_FILE), SSL_CERT_DIR and kiln's extra files, shared by the
 * registry client, downloads and git (which takes the bundle as a file). */
#include "net.h"

#include "util/fsutil.h"
#include "util/log.h"
#include "util/pem.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int net_add_pem_file(struct kiln_buf *b, const char *path, struct kiln_err **err)
{
	cleanup_free char *data = NULL;
	size_t len = 0;
	if (read_file_at(AT_FDCWD, path, 16u << 20, &data, &len, err) < 0)
		return kiln_err_wrap(err, "read CA certificates");
	kiln_buf_add(b, data, len);
	kiln_buf_addch(b, '\n');
	return 0;
}

static int add_file(struct kiln_buf *b, const char *path, unsigned flags, struct kiln_err **err)
{
	if (!(flags & NET_CA_LENIENT))
		return net_add_pem_file(b, path, err);
	cleanup_err struct kiln_err *e = NULL;
	if (net_add_pem_file(b, path, &e) < 0)
		log_debug("CA file '%s' not readable; ignored", path);
	return 0;
}

int net_ca_bundle(const char *default_bundle, const char *const *ca_files, unsigned flags,
                  struct kiln_buf *b, struct kiln_err **err)
{
	const char *cert_file = getenv("SSL_CERT_FILE"), *cert_dir = getenv("SSL_CERT_DIR");
	bool extra = (flags & NET_CA_ALWAYS) || (ca_files && ca_files[0]) ||
	             (cert_file && *cert_file) || (cert_dir && *cert_dir);
	if (!extra)
		return 0;
	bool lenient = flags & NET_CA_LENIENT;
	if (cert_file && *cert_file && access(cert_file, F_OK) == 0) {
		if (add_file(b, cert_file, flags, err) < 0)
			return kiln_err_wrap(err, "SSL_CERT_FILE");
	} else if (cert_file && *cert_file && !lenient) {
		/* Go (and so kaniko) skips a missing SSL_CERT_FILE: CI environments leak theirs */
		log_debug("SSL_CERT_FILE '%s' does not exist; ignored", cert_file);
	} else if (default_bundle && access(default_bundle, R_OK) == 0 &&
	           add_file(b, default_bundle, flags, err) < 0) {
		return -1;
	}
	if (cert_dir && *cert_dir)
		pem_add_dirs(b, cert_dir);
	for (const char *const *f = ca_files; f && *f; f++) {
		if (add_file(b, *f, flags, err) < 0)
			return -1;
	}
	return 1;
}

char *net_default_ca_file(void)
{
	char *def = NULL, *ret = NULL;
	CURL *probe = curl_easy_init();
	if (probe && curl_easy_getinfo(probe, CURLINFO_CAINFO, &def) == CURLE_OK && def)
		ret = xstrdup(def);
	if (probe)
		curl_easy_cleanup(probe);
	return ret;
}

int net_tls_set_cas(struct net_tls *t, const char *const *ca_files, const char *extra_ca,
                    unsigned flags, bool *extra_failed, struct kiln_err **err)
{
	*extra_failed = false;
	/* curl takes one CA bundle: the system one (or SSL_CERT_FILE) plus everything extra */
	cleanup_free char *def = net_default_ca_file();
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	int r = net_ca_bundle(def, ca_files, flags | (extra_ca ? NET_CA_ALWAYS : 0), &b, err);
	if (r <= 0)
		return r; /* 0: nothing extra, curl's default bundle applies */
	if (extra_ca && net_add_pem_file(&b, extra_ca, err) < 0) {
		*extra_failed = true;
		return -1;
	}
	free(t->ca_blob);
	t->ca_blob_len = b.len;
	t->ca_blob = kiln_buf_detach(&b, NULL);
	return 0;
}

void net_tls_release(struct net_tls *t)
{
	free(t->ca_blob);
	free(t->client_cert);
	free(t->client_key);
	*t = (struct net_tls){};
}

void net_tls_apply(CURL *e, const struct net_tls *t)
{
	if (!t)
		return;
	if (t->skip_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (t->ca_blob) {
		struct curl_blob blob = {
		    .data = t->ca_blob, .len = t->ca_blob_len, .flags = CURL_BLOB_NOCOPY};
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (t->client_cert) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, t->client_cert);
		curl_easy_setopt(e, CURLOPT_SSLKEY, t->client_key);
	}
}
