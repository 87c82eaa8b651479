/* token.c — the bearer-token request (token.h) on the one transfer path (net/net.h). */
#include "token.h"

#include "util/json.h"
#include "util/limits.h"
#include "util/xalloc.h"

#include <curl/curl.h>
#include <string.h>

static void add_form(struct kiln_buf *b, const char *k, const char *v)
{
	char *enc = curl_easy_escape(NULL, v, 0);
	if (!enc)
		xalloc_die();
	kiln_buf_addf(b, "%s%s=%s", b->len ? "&" : "", k, enc);
	curl_free(enc);
}

static void xfer_wipe(struct net_xfer *x)
{
	explicit_bzero(x->resp.ptr, x->resp.len);
	net_xfer_release(x);
}

/* the realm's reply: the token (or access_token) and its lifetime */
static int parse_reply(const struct net_xfer *x, const char *registry, const char *realm,
                       const char *scope, char **ret_token, double *ret_ttl, struct kiln_err **err)
{
	json_error_t je;
	cleanup_json json_t *j = json_loadb(x->resp.ptr, x->resp.len, 0, &je);
	const char *tok = kjson_str(j, "token");
	if (!tok || !*tok)
		tok = kjson_str(j, "access_token");
	if (!tok || !*tok)
		return kiln_err_set(err,
		                    "get a token for '%s' (%s): no token in the reply from '%s'",
		                    registry, scope, realm);
	json_t *ei = json_object_get(j, "expires_in");
	*ret_ttl =
	    json_is_integer(ei) && json_integer_value(ei) > 0 ? (double)json_integer_value(ei) : 60;
	*ret_token = xstrdup(tok);
	return 0;
}

int auth_token_fetch(struct net_client *nc, const struct net_tls *tls, const char *registry,
                     const struct auth_challenge *c, const struct auth_creds *creds,
                     const char *scope, char **ret_token, double *ret_ttl, struct kiln_err **err)
{
	if (!c->realm || !*c->realm)
		return kiln_err_set(err, "registry '%s': bearer challenge without a realm",
		                    registry);
	if (!startswith(c->realm, "https://") && !startswith(c->realm, "http://"))
		return kiln_err_set(err, "registry '%s': bearer realm '%s' is not an http(s) URL",
		                    registry, c->realm);

	cleanup_buf struct kiln_buf q = KILN_BUF_INIT;
	if (c->service)
		add_form(&q, "service", c->service);
	cleanup_free char *scopes = xstrdup(scope);
	for (char *s = scopes, *sp; s && *s; s = sp) {
		sp = strchr(s, ' ');
		if (sp)
			*sp++ = 0;
		add_form(&q, "scope", s);
	}

	cleanup_buf struct kiln_buf form = KILN_BUF_INIT;
	char *url;
	const char *method = creds->identity_token ? "POST" : "GET";
	if (creds->identity_token) {
		add_form(&form, "grant_type", "refresh_token");
		add_form(&form, "client_id", "kiln");
		kiln_buf_adds(&form, "&");
		kiln_buf_add(&form, q.ptr, q.len);
		add_form(&form, "refresh_token", creds->identity_token);
		url = xstrdup(c->realm);
	} else {
		url = xasprintf("%s%c%s", c->realm, strchr(c->realm, '?') ? '&' : '?', q.ptr);
	}
	cleanup_free char *first = xstrdup(url);
	_cleanup_(xfer_wipe) struct net_xfer x = {};
	net_xfer_init(&x, nc, method, url);
	x.tls = tls;
	x.origin = first; /* the credentials go to the realm's origin only */
	x.resp_max = LIMIT_TOKEN;
	if (creds->identity_token) {
		x.body = form.ptr;
		x.body_len = form.len;
	} else {
		x.follow = true;
		x.basic_user = creds->username;
		x.basic_password = creds->username ? creds->password : NULL;
	}
	int r = net_request(&x, err);
	explicit_bzero(form.ptr, form.len);
	if (r < 0)
		return kiln_err_wrap(err, "get a token for '%s' (%s)", registry, scope);
	if (x.status != 200) {
		net_status_err_of(method, first, x.status, &x.resp, err);
		return kiln_err_wrap(err, "get a token for '%s' (%s)", registry, scope);
	}
	return parse_reply(&x, registry, c->realm, scope, ret_token, ret_ttl, err);
}
