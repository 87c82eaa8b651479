#!/usr/bin/env bash
# test_registry_auth.sh — the real kiln binary against real docker-registry instances with
# (1) token auth: tests/lib/tokenserver.py issues RS256 JWTs (x5c header, key made here with the
# openssl CLI) and logs the scopes it is asked for: pull, push and cross-repository mount scopes
# are asserted; (2) TLS client certificates (http.tls.clientcas): --registry-client-cert works,
# a missing or malformed one fails clearly.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
source "$KILN_TOP/tests/lib/registry.sh"
W=$KILN_TEST_WORK/regauth
mkdir -p "$W/ctx" "$W/docker"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_port_file() { # wait_port_file <file> <errlog>
	local i
	for i in $(seq 1 100); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	cat "$2" >&2
	return 1
}

# start_registry <dir> <yaml lines for http.tls and auth...>: starts docker-registry on a free
# port with the given extra config; sets REG
start_registry() {
	local dir=$1 extra=$2 port
	port=$(free_port)
	mkdir -p "$dir/data"
	printf 'version: 0.1\nlog: {level: warn}\nstorage:\n  filesystem: {rootdirectory: %s/data}\nhttp:\n  addr: 127.0.0.1:%s\n%s\n' \
		"$dir" "$port" "$extra" >"$dir/config.yml"
	docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
	PIDS+=($!)
	REG=127.0.0.1:$port
	local i
	for i in $(seq 1 100); do
		# any HTTP answer (401, or a TLS alert for mTLS) means it listens
		if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	cat "$dir/registry.log" >&2
	return 1
}

# ---- token auth ----
TOKEN_USER=kiln-token-user
TOKEN_PASSWORD="tok-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kiln token signer" \
	-keyout "$W/token.key" -out "$W/token.pem" >/dev/null 2>&1 || exit 1
python3 "$KILN_TOP/tests/lib/tokenserver.py" --key "$W/token.key" --cert "$W/token.pem" \
	--issuer kiln-test-issuer --service kiln-registry --port-file "$W/token.port" \
	--log "$W/token.log" --user "$TOKEN_USER" --password "$TOKEN_PASSWORD" \
	2>"$W/token.err" &
PIDS+=($!)
wait_port_file "$W/token.port" "$W/token.err" || exit 1
REALM=http://127.0.0.1:$(cat "$W/token.port")/token
start_registry "$W/treg" "auth:
  token:
    realm: $REALM
    service: kiln-registry
    issuer: kiln-test-issuer
    rootcertbundle: $W/token.pem" || exit 1
TREG=$REG
skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
	--dest-creds "$TOKEN_USER:$TOKEN_PASSWORD" \
	"docker://$BUSYBOX_IMAGE" "docker://$TREG/base/busybox:latest" >/dev/null || exit 1
TAUTH=$(printf '%s:%s' "$TOKEN_USER" "$TOKEN_PASSWORD" | base64 -w0)

token_pull_push_and_mount_scopes() {
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$TREG" "$TAUTH" >"$W/docker/config.json"
	: >"$W/token.log"
	printf 'FROM %s/base/busybox:latest\nRUN echo token > /t\n' "$TREG" >"$W/ctx/Dockerfile"
	DOCKER_CONFIG=$W/docker kiln_build --context "$W/ctx" --destination "$TREG/team/app:1" \
		-v trace >"$W/t1.log" 2>&1 || { cat "$W/t1.log" "$W/token.log"; fail "build failed"; }
	cat "$W/token.log"
	local log
	log=$(cat "$W/token.log")
	# every token request carried the credentials from config.json
	assert_not_contains "$log" "account=-" "token log"
	# pull of the base image
	grep -qx "account=$TOKEN_USER scope=repository:base/busybox:pull" "$W/token.log" ||
		fail "no pull-scoped token for the base image"
	# the push (and kaniko's push-permission check)
	grep -qx "account=$TOKEN_USER scope=repository:team/app:pull,push" "$W/token.log" ||
		fail "no push-scoped token for the destination"
	# the cross-repository mount asks for pull on the source too
	grep -qx "account=$TOKEN_USER scope=repository:team/app:pull,push scope=repository:base/busybox:pull" \
		"$W/token.log" || fail "no mount scope"
	# the image (its base layer mounted) is readable from the new repository
	skopeo inspect --tls-verify=false --creds "$TOKEN_USER:$TOKEN_PASSWORD" \
		"docker://$TREG/team/app:1" >/dev/null || fail "pushed image not readable"
	assert_not_contains "$(cat "$W/t1.log")" "$TOKEN_PASSWORD" "trace log"
	assert_not_contains "$(cat "$W/t1.log")" "$TAUTH" "trace log"
}

token_wrong_password_fails_clearly() {
	local bad
	bad=$(printf '%s:%s' "$TOKEN_USER" "not-the-password" | base64 -w0)
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$TREG" "$bad" >"$W/docker/config.json"
	local rc=0
	DOCKER_CONFIG=$W/docker kiln_build --context "$W/ctx" --destination "$TREG/team/app:2" \
		>"$W/t2.log" 2>&1 || rc=$?
	cat "$W/t2.log"
	[ "$rc" -ne 0 ] || fail "a wrong password got a token"
	assert_contains "$(cat "$W/t2.log")" "get a token for '$TREG'" "error"
	assert_contains "$(cat "$W/t2.log")" "401" "error"
	assert_not_contains "$(cat "$W/t2.log")" "not-the-password" "error"
}

# ---- client certificates ----
make_ca "$W" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kiln client CA" \
	-keyout "$W/client-ca.key" -out "$W/client-ca.pem" >/dev/null 2>&1 || exit 1
openssl req -newkey rsa:2048 -nodes -subj "/CN=kiln client" \
	-keyout "$W/client.key" -out "$W/client.csr" >/dev/null 2>&1 || exit 1
printf 'extendedKeyUsage=clientAuth\n' >"$W/client.ext"
openssl x509 -req -in "$W/client.csr" -CA "$W/client-ca.pem" -CAkey "$W/client-ca.key" \
	-CAcreateserial -days 2 -extfile "$W/client.ext" -out "$W/client.pem" >/dev/null 2>&1 || exit 1
start_registry "$W/mreg" "  tls:
    certificate: $W/server.pem
    key: $W/server.key
    clientcas: [$W/client-ca.pem]" || exit 1
MREG=$REG
mkdir -p "$W/mcerts"
cp "$W/ca.pem" "$W/mcerts/ca.crt"
cp "$W/client.pem" "$W/mcerts/client.cert"
cp "$W/client.key" "$W/mcerts/client.key"
skopeo copy -q --src-tls-verify=false --dest-cert-dir "$W/mcerts" \
	"docker://$BUSYBOX_IMAGE" "docker://$MREG/busybox:latest" >/dev/null || exit 1

mtls_build() { # mtls_build <log> <extra args...>
	local log=$1
	shift
	printf 'FROM %s/busybox:latest\nRUN echo mtls > /m\n' "$MREG" >"$W/ctx/Dockerfile"
	"$KILN" --kaniko-dir "$(mktemp -d "$KILN_TEST_WORK/kaniko.XXXXXX")" --log-format text \
		--context "$W/ctx" --destination "$MREG/mtls/app:1" \
		--registry-certificate "$MREG=$W/ca.pem" "$@" >"$log" 2>&1
}

client_certificate_pull_and_push() {
	rm -f "$W/docker/config.json"
	DOCKER_CONFIG=$W/docker mtls_build "$W/m1.log" \
		--registry-client-cert "$MREG=$W/client.pem,$W/client.key" ||
		{ cat "$W/m1.log"; fail "build failed"; }
	assert_contains "$(cat "$W/m1.log")" "Pushed $MREG/mtls/app@sha256:" "log"
	skopeo inspect --cert-dir "$W/mcerts" "docker://$MREG/mtls/app:1" >/dev/null ||
		fail "pushed image not readable"
}

missing_or_malformed_client_certificate_fails() {
	rm -f "$W/docker/config.json"
	local rc=0
	DOCKER_CONFIG=$W/docker mtls_build "$W/m2.log" || rc=$?
	cat "$W/m2.log"
	[ "$rc" -ne 0 ] || fail "the registry accepted a client without a certificate"
	assert_contains "$(cat "$W/m2.log")" "https://$MREG/v2/" "error names the registry"
	rc=0
	DOCKER_CONFIG=$W/docker mtls_build "$W/m3.log" \
		--registry-client-cert "$MREG=$W/client.pem" || rc=$?
	cat "$W/m3.log"
	[ "$rc" -ne 0 ] || fail "a malformed --registry-client-cert was accepted"
	assert_contains "$(cat "$W/m3.log")" \
		"failed to load client certificate/key '$MREG=$W/client.pem', expected format:" "error"
}

t_run "token auth: pull, push and cross-repository mount scopes from the token server" token_pull_push_and_mount_scopes
t_run "token auth: a wrong password fails with 401 and no secret" token_wrong_password_fails_clearly
t_run "client certificate (http.tls.clientcas): pull and push with --registry-client-cert" client_certificate_pull_and_push
t_run "client certificate missing or malformed: clear errors" missing_or_malformed_client_certificate_fails
t_done
