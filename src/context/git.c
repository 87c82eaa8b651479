/* git.c — git:// build contexts on libgit2: parse the spec, list the remote's refs, fetch what
 * the spec needs (full history: libgit2 1.5 has no shallow fetch), check out the selected commit
 * with .git kept, optionally the submodules. The only file that sees libgit2; its errors are
 * translated here, and no credential reaches a message or a log line. */
#include "git.h"

#include "net/net.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/url.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <git2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYSTEM_CA_BUNDLE    "/etc/ssl/certs/ca-certificates.crt"
#define SUBMODULE_MAX_DEPTH 10 /* go-git's DefaultSubmoduleRecursionDepth */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static char *percent_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

int context_git_parse(const char *rest, bool plain_http, struct context_git_spec *ret,
                      struct kiln_err **err)
{
	/* kaniko splits the whole spec at every '#': url, ref, commit (more parts are ignored) */
	size_t ulen = strcspn(rest, "#");
	const char *p = rest + ulen;
	cleanup_free char *ref = NULL, *commit = NULL;
	if (*p == '#') {
		p++;
		size_t rlen = strcspn(p, "#");
		if (rlen)
			ref = xstrndup(p, rlen);
		p += rlen;
		if (*p == '#') {
			p++;
			size_t clen = strcspn(p, "#");
			if (clen)
				commit = xstrndup(p, clen);
		}
	}
	size_t alen = strcspn(rest, "/?#");
	if (alen > ulen)
		alen = ulen;
	/* userinfo ends at the last '@' of the authority, as Go's url.Parse reads it */
	const char *at = NULL;
	for (const char *q = rest; q < rest + alen; q++)
		if (*q == '@')
			at = q;
	const char *host = at ? at + 1 : rest;
	if (host >= rest + alen)
		return kiln_err_set(err, "git build context: no host in 'git://%.*s'",
		                    (int)(rest + alen - host), host);
	cleanup_free char *user = NULL, *password = NULL;
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		if (colon) {
			user = percent_decode(rest, (size_t)(colon - rest));
			password = percent_decode(colon + 1, (size_t)(at - colon - 1));
		} else {
			user = percent_decode(rest, (size_t)(at - rest));
		}
	}
	*ret = (struct context_git_spec){
	    .url = xasprintf("%s://%.*s", plain_http ? "http" : "https", (int)(rest + ulen - host),
	                     host),
	    .url_user = TAKE_PTR(user),
	    .url_password = TAKE_PTR(password),
	    .ref = TAKE_PTR(ref),
	    .commit = TAKE_PTR(commit),
	};
	return 0;
}

void context_git_spec_release(struct context_git_spec *s)
{
	free(s->url);
	free(s->url_user);
	if (s->url_password)
		explicit_bzero(s->url_password, strlen(s->url_password));
	free(s->url_password);
	free(s->ref);
	free(s->commit);
	*s = (struct context_git_spec){0};
}

/* Go's strconv.ParseBool */
static int parse_bool(const char *s, bool *ret)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		if (streq(s, t[i])) {
			*ret = true;
			return 0;
		}
		if (streq(s, f[i])) {
			*ret = false;
			return 0;
		}
	}
	return -1;
}

int context_git_key_check(const char *kv, char **ret_msg)
{
	static const char *const known[] = {"branch", "single-branch", "recurse-submodules",
	                                    "insecure-skip-tls"};
	size_t klen = strcspn(kv, "=");
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (klen == strlen(known[i]) && strneq(kv, known[i], klen))
			return 0;
	if (klen == STRLEN("depth") && startswith(kv, "depth")) {
		/* libgit2 fetches shallow from 1.7 on; a full clone in its place would be an
		 * accepted-but-ignored option */
		*ret_msg = xasprintf("--git depth: shallow clones need libgit2 1.7 or newer, this "
		                     "kiln is built with libgit2 %d.%d.%d; drop the key for a full "
		                     "clone",
		                     LIBGIT2_VER_MAJOR, LIBGIT2_VER_MINOR, LIBGIT2_VER_REVISION);
		return -1;
	}
	/* kaniko ignores unknown keys silently; kiln builds what kaniko builds, and says so */
	*ret_msg = xasprintf("--git %.*s: unknown key, ignored (the keys are branch, "
	                     "single-branch, recurse-submodules and insecure-skip-tls)",
	                     (int)klen, kv);
	return 1;
}

int context_git_opts_parse(char *const *kv, struct context_git_opts *ret, struct kiln_err **err)
{
	struct context_git_opts o = {0};
	strv_foreach (e, kv) {
		const char *eq = strchr(e, '=');
		if (!eq) {
			context_git_opts_release(&o);
			return kiln_err_set(err,
			                    "invalid git flag, must be in the key=value format");
		}
		size_t klen = (size_t)(eq - e);
		const char *v = eq + 1;
		bool *b = NULL;
		if (klen == STRLEN("branch") && startswith(e, "branch")) {
			free(o.branch);
			o.branch = *v ? xstrdup(v) : NULL;
			continue;
		}
		if (klen == STRLEN("single-branch") && startswith(e, "single-branch"))
			b = &o.single_branch;
		else if (klen == STRLEN("recurse-submodules") &&
		         startswith(e, "recurse-submodules"))
			b = &o.recurse_submodules;
		else if (klen == STRLEN("insecure-skip-tls") && startswith(e, "insecure-skip-tls"))
			b = &o.insecure_skip_tls;
		if (!b) {
			/* the command line refused depth and warned about unknown keys */
			cleanup_free char *msg = NULL;
			if (context_git_key_check(e, &msg) < 0) {
				context_git_opts_release(&o);
				return kiln_err_set(err, "%s", msg);
			}
			continue;
		}
		if (parse_bool(v, b) < 0) {
			context_git_opts_release(&o);
			return kiln_err_set(err,
			                    "strconv.ParseBool: parsing \"%s\": invalid syntax", v);
		}
	}
	*ret = o;
	return 0;
}

void context_git_opts_release(struct context_git_opts *o)
{
	free(o->branch);
	o->branch = NULL;
}

bool context_git_credentials(const struct context_git_spec *s, const char **ret_user,
                             const char **ret_password)
{
	const char *token = getenv("GIT_TOKEN");
	const char *user = getenv("GIT_USERNAME"), *password = getenv("GIT_PASSWORD");
	if (token && *token) {
		*ret_user = token;
		*ret_password = "";
		return true;
	}
	if ((user && *user) || (password && *password)) {
		*ret_user = user ? user : "";
		*ret_password = password ? password : "";
		return true;
	}
	if (s->url_user) {
		*ret_user = s->url_user;
		*ret_password = s->url_password ? s->url_password : "";
		return true;
	}
	return false;
}

/* ---- the clone ---- */

struct clone {
	const char *shown; /* the clone URL (it never carries userinfo) */
	const char *user, *password;
	bool have_creds;
	bool insecure;
	unsigned cred_calls;
	bool auth_missing, auth_failed;
	char *foreign; /* the origin a redirect led to that asked for credentials */
};

static int cred_cb(git_credential **out, const char *url, const char *username_from_url,
                   unsigned int allowed, void *payload)
{
	struct clone *c = payload;
	(void)username_from_url;
	/* credentials go only to the origin they were given for: a redirect to another scheme,
	 * host or port that asks for them gets none (Go's client, so kaniko, drops them too) */
	if (c->have_creds && !url_same_origin(url, c->shown)) {
		free(c->foreign);
		c->foreign = url_origin(url);
		git_error_set_str(GIT_ERROR_HTTP, "credentials refused to another origin");
		return GIT_EUSER;
	}
	if (!c->have_creds || !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT)) {
		c->auth_missing = true;
		git_error_set_str(GIT_ERROR_HTTP, "authentication required");
		return GIT_EUSER;
	}
	/* libgit2 asks again after every 401: the second time, the credentials were refused */
	if (++c->cred_calls > 1) {
		c->auth_failed = true;
		git_error_set_str(GIT_ERROR_HTTP, "authentication failed");
		return GIT_EUSER;
	}
	return git_credential_userpass_plaintext_new(out, c->user, c->password);
}

static int cert_cb(git_cert *cert, int valid, const char *host, void *payload)
{
	struct clone *c = payload;
	(void)cert;
	(void)host;
	if (c->insecure || valid)
		return 0;
	return GIT_PASSTHROUGH;
}

static void callbacks_init(git_remote_callbacks *cb, struct clone *c)
{
	git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
	cb->credentials = cred_cb;
	cb->certificate_check = cert_cb;
	cb->payload = c;
}

/* replaces every occurrence of secret in s with "***" */
static void redact_in(struct kiln_buf *b, const char *s, const char *secret)
{
	size_t n = secret ? strlen(secret) : 0;
	if (!n) {
		kiln_buf_adds(b, s);
		return;
	}
	const char *m;
	while ((m = strstr(s, secret))) {
		kiln_buf_add(b, s, (size_t)(m - s));
		kiln_buf_adds(b, "***");
		s = m + n;
	}
	kiln_buf_adds(b, s);
}

/* one line: "git clone '<url>': <what>: <libgit2's message>", never a credential */
static int git_fail(struct clone *c, int code, const char *what, struct kiln_err **err)
{
	if (c->foreign)
		return kiln_err_set(err,
		                    "git clone '%s': redirected to '%s', which asks for "
		                    "credentials; they are sent only to the origin of the "
		                    "repository URL",
		                    c->shown, c->foreign);
	if (c->auth_failed)
		return kiln_err_set(err,
		                    "git clone '%s': authentication failed (check GIT_TOKEN or "
		                    "GIT_USERNAME/GIT_PASSWORD)",
		                    c->shown);
	if (c->auth_missing)
		return kiln_err_set(err,
		                    "git clone '%s': authentication required (set GIT_TOKEN or "
		                    "GIT_USERNAME/GIT_PASSWORD)",
		                    c->shown);
	const git_error *e = git_error_last();
	const char *msg = e && e->message ? e->message : "unknown error";
	cleanup_buf struct kiln_buf m1 = KILN_BUF_INIT;
	cleanup_buf struct kiln_buf m2 = KILN_BUF_INIT;
	redact_in(&m1, msg, c->password);
	/* a token travels as the user name */
	redact_in(&m2, m1.ptr, c->password && *c->password ? NULL : c->user);
	/* Debian's libgit2 verifies with mbedTLS 2.28, which matches host names only */
	if ((code == GIT_ECERTIFICATE || (e && e->klass == GIT_ERROR_SSL)) &&
	    strstr(m2.ptr, "Common Name"))
		return kiln_err_set(
		    err,
		    "git clone '%s': %s: TLS: %s (the certificate does not name the "
		    "host; IP addresses are not matched, use a host name)",
		    c->shown, what, m2.ptr);
	if (code == GIT_ECERTIFICATE || (e && e->klass == GIT_ERROR_SSL))
		return kiln_err_set(
		    err,
		    "git clone '%s': %s: TLS: %s (certificate not trusted? CAs come "
		    "from the system, $KANIKO_DIR/ssl/certs/ca-certificates.crt, "
		    "SSL_CERT_FILE and SSL_CERT_DIR)",
		    c->shown, what, m2.ptr);
	return kiln_err_set(err, "git clone '%s': %s: %s", c->shown, what, m2.ptr);
}

/* libgit2 (on mbedTLS in Debian) takes one CA file: the same CAs as the registry client
 * (net/net.h's bundle: the system bundle or SSL_CERT_FILE, SSL_CERT_DIR, the extra files; an
 * unreadable one skipped) written to a temporary file that is parsed at once and removed */
static int setup_tls(const struct context_opts *o, struct kiln_err **err)
{
	cleanup_buf struct kiln_buf b = KILN_BUF_INIT;
	net_ca_bundle(SYSTEM_CA_BUNDLE, o->ca_files, NET_CA_ALWAYS | NET_CA_LENIENT, &b, NULL);
	if (!strstr(b.ptr, "-----BEGIN CERTIFICATE-----")) {
		log_debug("no CA certificates found for git over https");
		return 0;
	}
	cleanup_free char *tmpl = path_join(o->kaniko_dir, ".git-ca-bundle.XXXXXX");
	cleanup_close int fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return kiln_err_errno(err, "create '%s'", tmpl);
	int r = 0;
	if (write_all(fd, b.ptr, b.len) < 0)
		r = kiln_err_errno(err, "write '%s'", tmpl);
	else if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, tmpl, NULL) < 0) {
		const git_error *e = git_error_last();
		r = kiln_err_set(err, "load CA certificates for git: %s",
		                 e && e->message ? e->message : "unknown error");
	}
	unlink(tmpl);
	return r;
}

/* the remote's refs, as listed before the fetch */
struct remote_refs {
	char **names;
	git_oid *oids;
	size_t n;
	char *head; /* "refs/heads/main", or NULL */
};

static void remote_refs_release(struct remote_refs *l)
{
	strv_free(l->names);
	free(l->oids);
	free(l->head);
}

static bool remote_has(const struct remote_refs *l, const char *name)
{
	return strv_contains(l->names, name);
}

static int list_remote(struct clone *c, git_proxy_options *proxy, struct remote_refs *ret,
                       struct kiln_err **err)
{
	git_remote *remote = NULL;
	int r = git_remote_create_detached(&remote, c->shown);
	if (r < 0)
		return git_fail(c, r, "remote", err);
	git_remote_callbacks cb;
	callbacks_init(&cb, c);
	r = git_remote_connect(remote, GIT_DIRECTION_FETCH, &cb, proxy, NULL);
	if (r < 0) {
		r = git_fail(c, r, "list references", err);
		git_remote_free(remote);
		return r;
	}
	const git_remote_head **heads = NULL;
	size_t n = 0;
	r = git_remote_ls(&heads, &n, remote);
	if (r < 0) {
		r = git_fail(c, r, "list references", err);
		git_remote_free(remote);
		return r;
	}
	struct remote_refs l = {.names = xcalloc(1, sizeof(char *)),
	                        .oids = xcalloc(n + 1, sizeof(git_oid))};
	for (size_t i = 0; i < n; i++) {
		strv_push(&l.names, xstrdup(heads[i]->name));
		l.oids[l.n++] = heads[i]->oid;
	}
	git_buf def = GIT_BUF_INIT;
	if (git_remote_default_branch(&def, remote) == 0)
		l.head = xstrdup(def.ptr);
	git_buf_dispose(&def);
	git_remote_disconnect(remote);
	git_remote_free(remote);
	*ret = l;
	return 0;
}

static bool is_hex(const char *s)
{
	size_t n = strlen(s);
	if (n < 4 || n > GIT_OID_HEXSZ)
		return false;
	for (size_t i = 0; i < n; i++)
		if (hexval(s[i]) < 0)
			return false;
	return true;
}

/* "refs/heads/<name>", else "refs/tags/<name>" on the remote (kaniko's --git branch lookup) */
static char *lookup_short(const struct remote_refs *l, const char *name)
{
	cleanup_free char *h = xasprintf("refs/heads/%s", name);
	if (remote_has(l, h))
		return TAKE_PTR(h);
	cleanup_free char *t = xasprintf("refs/tags/%s", name);
	if (remote_has(l, t))
		return TAKE_PTR(t);
	return NULL;
}

static int fetch(struct clone *c, git_remote *remote, char **specs, git_proxy_options *proxy,
                 struct kiln_err **err)
{
	git_fetch_options fo;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	callbacks_init(&fo.callbacks, c);
	fo.proxy_opts = *proxy;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_AUTO;
	fo.update_fetchhead = 0;
	git_strarray sa = {.strings = specs, .count = strv_length(specs)};
	c->cred_calls = 0;
	int r = git_remote_fetch(remote, &sa, &fo, "clone");
	if (r < 0)
		return git_fail(c, r, "fetch", err);
	const git_indexer_progress *st = git_remote_stats(remote);
	log_debug("git: received %u objects (%zu bytes)", st->received_objects, st->received_bytes);
	return 0;
}

/* the commit rev names, fetching it by id when it is a full hash the refs did not bring */
static int resolve_commit(struct clone *c, git_repository *repo, git_remote *remote,
                          const char *rev, git_proxy_options *proxy, git_commit **ret,
                          struct kiln_err **err)
{
	cleanup_free char *spec = xasprintf("%s^{commit}", rev);
	git_object *obj = NULL;
	int r = git_revparse_single(&obj, repo, spec);
	if (r < 0 && strlen(rev) == GIT_OID_HEXSZ && is_hex(rev)) {
		char *specs[] = {(char *)rev, NULL};
		r = fetch(c, remote, specs, proxy, err);
		if (r < 0)
			return r;
		r = git_revparse_single(&obj, repo, spec);
	}
	if (r < 0)
		return kiln_err_set(err, "git clone '%s': reference '%s' not found", c->shown, rev);
	*ret = (git_commit *)obj;
	return 0;
}

static int checkout(struct clone *c, git_repository *repo, git_commit *commit,
                    const char *local_branch, struct kiln_err **err)
{
	git_checkout_options co;
	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	co.checkout_strategy = GIT_CHECKOUT_FORCE;
	int r = git_checkout_tree(repo, (const git_object *)commit, &co);
	if (r < 0)
		return git_fail(c, r, "checkout", err);
	if (local_branch) {
		git_reference *br = NULL;
		r = git_branch_create(&br, repo, local_branch, commit, 1);
		if (r < 0)
			return git_fail(c, r, "create branch", err);
		r = git_repository_set_head(repo, git_reference_name(br));
		git_reference_free(br);
	} else {
		r = git_repository_set_head_detached(repo, git_commit_id(commit));
	}
	if (r < 0)
		return git_fail(c, r, "set HEAD", err);
	return 0;
}

struct submodule_walk {
	struct clone *c;
	git_proxy_options *proxy;
	unsigned depth;
	struct kiln_err **err;
	int r;
};

static int update_submodules(git_repository *repo, struct submodule_walk *w);

static int submodule_cb(git_submodule *sm, const char *name, void *payload)
{
	struct submodule_walk *w = payload;
	git_submodule_update_options uo;
	git_submodule_update_options_init(&uo, GIT_SUBMODULE_UPDATE_OPTIONS_VERSION);
	callbacks_init(&uo.fetch_opts.callbacks, w->c);
	uo.fetch_opts.proxy_opts = *w->proxy;
	uo.checkout_opts.checkout_strategy = GIT_CHECKOUT_FORCE;
	w->c->cred_calls = 0;
	int r = git_submodule_update(sm, 1, &uo);
	if (r < 0) {
		w->r = git_fail(w->c, r, "submodule", w->err);
		kiln_err_wrap(w->err, "submodule '%s'", name);
		return -1;
	}
	log_info("Checked out submodule '%s'", name);
	git_repository *sub = NULL;
	if (w->depth + 1 < SUBMODULE_MAX_DEPTH && git_submodule_open(&sub, sm) == 0) {
		w->depth++;
		r = update_submodules(sub, w);
		w->depth--;
		git_repository_free(sub);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int update_submodules(git_repository *repo, struct submodule_walk *w)
{
	int r = git_submodule_foreach(repo, submodule_cb, w);
	if (w->r < 0)
		return w->r;
	if (r < 0)
		return git_fail(w->c, r, "submodules", w->err);
	return 0;
}

static int clone_into(const struct context_git_spec *s, const struct context_git_opts *go,
                      struct clone *c, const char *dir, struct kiln_err **err)
{
	git_proxy_options proxy;
	git_proxy_options_init(&proxy, GIT_PROXY_OPTIONS_VERSION);
	/* the registry client's decision (Go's rules: never loopback, NO_PROXY with CIDRs and
	 * domains), not libgit2's reading of the environment */
	cleanup_free char *proxy_url = url_proxy_for(c->shown);
	proxy.type = proxy_url ? GIT_PROXY_SPECIFIED : GIT_PROXY_NONE;
	proxy.url = proxy_url;

	_cleanup_(remote_refs_release) struct remote_refs refs = {0};
	int r = list_remote(c, &proxy, &refs, err);
	if (r < 0)
		return r;

	/* what to check out: --git branch picks a branch or tag; a "#ref" is fetched into a ref
	 * of its own name; "#ref#commit" checks out the commit after that fetch */
	cleanup_free char *branch_ref = NULL;
	if (go->branch) {
		branch_ref = lookup_short(&refs, go->branch);
		if (!branch_ref)
			return kiln_err_set(err, "invalid branch: %s", go->branch);
	}
	cleanup_free char *extra_ref = NULL; /* a ref fetched as "+<ref>:<ref>" */
	cleanup_free char *rev = NULL;       /* what to resolve when it is not a branch */
	if (s->ref) {
		if (startswith(s->ref, "refs/")) {
			extra_ref = xstrdup(s->ref);
		} else if (!is_hex(s->ref)) {
			/* kiln: a short branch or tag name */
			extra_ref = lookup_short(&refs, s->ref);
			if (!extra_ref)
				return kiln_err_set(err, "git clone '%s': reference '%s' not found",
				                    c->shown, s->ref);
		}
		rev = xstrdup(extra_ref ? extra_ref : s->ref);
	}
	if (s->commit) {
		free(rev);
		rev = xstrdup(s->commit);
	}
	const char *main_ref = branch_ref ? branch_ref : refs.head;
	if (!rev && !main_ref)
		return kiln_err_set(err, "git clone '%s': remote repository is empty", c->shown);

	/* the fetch refspecs: every branch, or with single-branch only the one checked out */
	cleanup_strv char **specs = xcalloc(1, sizeof(char *));
	cleanup_free char *base_spec = NULL;
	if (go->single_branch && main_ref && startswith(main_ref, "refs/heads/"))
		base_spec = xasprintf("+%s:refs/remotes/origin/%s", main_ref,
		                      main_ref + STRLEN("refs/heads/"));
	else if (go->single_branch && main_ref)
		base_spec = xasprintf("+%s:%s", main_ref, main_ref);
	else
		base_spec = xstrdup("+refs/heads/*:refs/remotes/origin/*");
	strv_push(&specs, xstrdup(base_spec));
	if (extra_ref)
		strv_pushf(&specs, "+%s:%s", extra_ref, extra_ref);

	git_repository *repo = NULL;
	r = git_repository_init(&repo, dir, 0);
	if (r < 0)
		return git_fail(c, r, "init", err);
	git_remote *remote = NULL;
	r = git_remote_create_with_fetchspec(&remote, repo, "origin", c->shown, base_spec);
	if (r < 0) {
		r = git_fail(c, r, "remote", err);
		git_repository_free(repo);
		return r;
	}
	if (extra_ref || (branch_ref && !startswith(branch_ref, "refs/heads/")))
		log_info("Fetching '%s' from '%s'", extra_ref ? extra_ref : branch_ref, c->shown);
	r = fetch(c, remote, specs, &proxy, err);
	git_commit *commit = NULL;
	const char *local_branch = NULL;
	if (r >= 0 && rev) {
		r = resolve_commit(c, repo, remote, rev, &proxy, &commit, err);
	} else if (r >= 0) {
		cleanup_free char *tracking = NULL;
		if (startswith(main_ref, "refs/heads/")) {
			local_branch = main_ref + STRLEN("refs/heads/");
			tracking = xasprintf("refs/remotes/origin/%s", local_branch);
		}
		r = resolve_commit(c, repo, remote, tracking ? tracking : main_ref, &proxy, &commit,
		                   err);
	}
	if (r >= 0)
		r = checkout(c, repo, commit, local_branch, err);
	if (r >= 0) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), git_commit_id(commit));
		log_info("Checked out commit %s%s%s", hex, local_branch ? " on branch " : "",
		         local_branch ? local_branch : "");
	}
	if (r >= 0 && go->recurse_submodules) {
		struct submodule_walk w = {.c = c, .proxy = &proxy, .err = err};
		r = update_submodules(repo, &w);
	}
	git_commit_free(commit);
	git_remote_free(remote);
	git_repository_free(repo);
	return r;
}

int context_git_clone(const char *rest, const struct context_opts *o, const char *dir,
                      struct kiln_err **err)
{
	const char *method = getenv("GIT_PULL_METHOD");
	_cleanup_(context_git_spec_release) struct context_git_spec s = {0};
	int r = context_git_parse(rest, method && streq(method, "http"), &s, err);
	if (r < 0)
		return r;
	_cleanup_(context_git_opts_release) struct context_git_opts go = {0};
	r = context_git_opts_parse(o->git_opts, &go, err);
	if (r < 0)
		return r;
	struct clone c = {.shown = s.url, .insecure = go.insecure_skip_tls};
	c.have_creds = context_git_credentials(&s, &c.user, &c.password);

	git_libgit2_init();
	/* like go-git, read no git configuration of the machine (~/.gitconfig, /etc/gitconfig) */
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_SYSTEM, "");
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, "");
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, "");
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_PROGRAMDATA, "");
	if (o->user_agent)
		git_libgit2_opts(GIT_OPT_SET_USER_AGENT, o->user_agent);
	r = setup_tls(o, err);
	if (r >= 0) {
		log_info("Cloning git repository '%s'%s%s%s", s.url, s.ref ? " at '" : "",
		         s.ref ? s.ref : "", s.ref ? "'" : "");
		r = clone_into(&s, &go, &c, dir, err);
	}
	git_libgit2_shutdown();
	free(c.foreign);
	return r;
}
