#!/usr/bin/env bash
# test_auth.sh — pulling and pushing through a registry with TLS (a CA the test makes) and
# htpasswd basic auth, with credentials from $DOCKER_CONFIG/config.json; the CA given with
# --registry-certificate or appended to $KANIKO_DIR/ssl/certs/ca-certificates.crt as GitLab
# documents; no credential in any log line at trace verbosity.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
source "$KILN_TOP/tests/lib/registry.sh"
source "$KILN_TOP/tests/lib/images.sh"
W=$KILN_TEST_WORK/auth
mkdir -p "$W/ctx" "$W/docker"
trap 'registry_stop_all' EXIT
registry_start "$W/registry" htpasswd || exit 1
SECURE=$REGISTRY
# the busybox base, copied into the secured registry
mkdir -p "$W/certs"
cp "$REGISTRY_CA" "$W/certs/ca.crt"
skopeo copy -q --src-tls-verify=false --dest-cert-dir "$W/certs" \
	--dest-creds "$REGISTRY_USER:$REGISTRY_PASSWORD" \
	"docker://$BUSYBOX_IMAGE" "docker://$SECURE/busybox:latest" >/dev/null || exit 1
printf 'FROM %s/busybox:latest\nRUN echo built > /built\n' "$SECURE" >"$W/ctx/Dockerfile"
AUTH=$(printf '%s:%s' "$REGISTRY_USER" "$REGISTRY_PASSWORD" | base64 -w0)

secure_build() { # secure_build <log> <extra args...>
	local log=$1
	shift
	"$KILN" --context "$W/ctx" --destination "$SECURE/built:it" --log-format text "$@" \
		>"$log" 2>&1
}

config_json_and_registry_certificate() {
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$SECURE" "$AUTH" >"$W/docker/config.json"
	DOCKER_CONFIG=$W/docker secure_build "$W/a.log" --kaniko-dir "$W/k1" -v trace \
		--registry-certificate "$SECURE=$REGISTRY_CA" ||
		{ cat "$W/a.log"; fail "build failed"; }
	skopeo inspect --cert-dir "$W/certs" --creds "$REGISTRY_USER:$REGISTRY_PASSWORD" \
		"docker://$SECURE/built:it" >/dev/null || fail "pushed image not readable"
	local logtext
	logtext=$(cat "$W/a.log")
	assert_not_contains "$logtext" "$REGISTRY_PASSWORD" "trace log"
	assert_not_contains "$logtext" "$AUTH" "trace log"
}

gitlab_style_username_password_and_kaniko_ca_file() {
	# GitLab's kaniko example writes username/password and appends the CA to the bundle
	printf '{"auths":{"https://%s":{"username":"%s","password":"%s"}}}' "$SECURE" \
		"$REGISTRY_USER" "$REGISTRY_PASSWORD" >"$W/docker/config.json"
	mkdir -p "$W/k2/ssl/certs"
	cat "$REGISTRY_CA" >>"$W/k2/ssl/certs/ca-certificates.crt"
	DOCKER_CONFIG=$W/docker secure_build "$W/b.log" --kaniko-dir "$W/k2" ||
		{ cat "$W/b.log"; fail "build failed"; }
	assert_contains "$(cat "$W/b.log")" "Pushed $SECURE/built@sha256:" log
}

untrusted_ca_and_bad_credentials_fail_clearly() {
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$SECURE" "$AUTH" >"$W/docker/config.json"
	local rc=0
	DOCKER_CONFIG=$W/docker secure_build "$W/c.log" --kaniko-dir "$W/k3" || rc=$?
	cat "$W/c.log"
	[ "$rc" -ne 0 ] || fail "a registry with an unknown CA was trusted"
	assert_contains "$(cat "$W/c.log")" "not trusted" "error"
	assert_contains "$(cat "$W/c.log")" "$SECURE" "error names the registry"
	[ "$(grep -c . "$W/c.log")" -lt 40 ] || fail "error output is not short"
	# --skip-tls-verify-pull relaxes pulls only (kaniko declares it and never reads it)
	DOCKER_CONFIG=$W/docker "$KILN" --context "$W/ctx" --no-push --kaniko-dir "$W/k5" \
		--skip-tls-verify-pull --log-format text >"$W/e.log" 2>&1 ||
		{ cat "$W/e.log"; fail "--skip-tls-verify-pull did not let the pull through"; }
	rc=0
	DOCKER_CONFIG=$W/docker secure_build "$W/f.log" --kaniko-dir "$W/k6" --skip-tls-verify-pull || rc=$?
	[ "$rc" -ne 0 ] || fail "--skip-tls-verify-pull also relaxed the push"
	assert_contains "$(cat "$W/f.log")" "not trusted" "push error"
	printf '{"auths":{"%s":{"username":"%s","password":"wrong-pass-word"}}}' "$SECURE" \
		"$REGISTRY_USER" >"$W/docker/config.json"
	rc=0
	DOCKER_CONFIG=$W/docker secure_build "$W/d.log" --kaniko-dir "$W/k4" \
		--registry-certificate "$SECURE=$REGISTRY_CA" || rc=$?
	cat "$W/d.log"
	[ "$rc" -ne 0 ] || fail "wrong password accepted"
	assert_contains "$(cat "$W/d.log")" "401" "error"
	assert_not_contains "$(cat "$W/d.log")" "wrong-pass-word" "error output"
}

t_run "config.json auth + --registry-certificate; no secret in trace logs" config_json_and_registry_certificate
t_run "GitLab's config.json and CA appended to ssl/certs/ca-certificates.crt" gitlab_style_username_password_and_kaniko_ca_file
t_run "unknown CA and wrong password fail with a clear message" untrusted_ca_and_bad_credentials_fail_clearly
t_done
