#!/usr/bin/env bash
# test_network.sh — kiln's network clients against hostile servers (tests/lib/hostile.py) on
# 127.0.0.1: credentials never follow a redirect to another origin (git, registry manifests,
# blobs and token realms, ADD <url>, https:// contexts) while a same-origin redirect still
# authenticates; blob downloads stop at the size the manifest declares and leave no temporary
# file, even on SIGTERM; a server that never answers or trickles fails the request in bounded
# time (KILN_HTTP_STALL_TIMEOUT); proxies are never used for loopback and honour NO_PROXY;
# --dockerfile https://... (kiln's CAs, size-bounded); --git depth refused, unknown --git keys
# warned about; two stages' registry pulls overlap (a server-side barrier, no timing).
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/registry.sh"
W=$KILN_TEST_WORK/network
mkdir -p "$W"
# the servers' pids, in a file: each test runs in a subshell (t_run), where an array would not
# reach this script's EXIT trap
PIDFILE=$W/server-pids
: >"$PIDFILE"
cleanup() {
	local p
	while read -r p; do
		kill "$p" 2>/dev/null || true
	done <"$PIDFILE"
}
trap cleanup EXIT

SECRET="s3cr3t-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
B64_TOKEN=$(printf '%s:' "$SECRET" | base64 -w0)
B64_PAIR=$(printf 'alice:%s' "$SECRET" | base64 -w0)

hostile() { # hostile <name> <mode> [args...]: starts tests/lib/hostile.py; sets PORT, LOG
	local name=$1 i
	shift
	LOG=$W/$name.log
	rm -f "$W/$name.port" "$LOG"
	touch "$LOG"
	python3 "$KILN_TOP/tests/lib/hostile.py" "$@" --port-file "$W/$name.port" --log "$LOG" \
		2>"$W/$name.err" &
	echo $! >>"$PIDFILE"
	for i in $(seq 1 100); do
		[ -s "$W/$name.port" ] && break
		sleep 0.05
	done
	[ -s "$W/$name.port" ] || { cat "$W/$name.err"; fail "hostile.py $* did not start"; }
	PORT=$(cat "$W/$name.port")
}

maybe_run() { # t_run, limited to functions matching $NET_ONLY when it is set (for debugging)
	[ -z "${NET_ONLY:-}" ] || [[ "$2" == *$NET_ONLY* ]] || return 0
	t_run "$@"
}

kdir() { KDIR=$(mktemp -d "$W/k.XXXXXX"); }

RUN_ENV=()
run_kiln() { # run_kiln <args...>: runs kiln (environment changes: RUN_ENV) in a fresh $KDIR
	# (with $KDIR_CA as its ssl/certs/ca-certificates.crt when set); output in $OUT, status in $RC
	kdir
	RC=0
	if [ -n "${KDIR_CA:-}" ]; then
		mkdir -p "$KDIR/ssl/certs"
		cat "$KDIR_CA" >"$KDIR/ssl/certs/ca-certificates.crt"
	fi
	timeout 120 env ${RUN_ENV[@]+"${RUN_ENV[@]}"} "$KILN" --kaniko-dir "$KDIR" --log-format text "$@" >"$KDIR/log" 2>&1 || RC=$?
	OUT=$(cat "$KDIR/log")
	echo "$OUT"
}

no_secret_in() { # no_secret_in <log>: the second origin saw no credential of ours
	cat "$1"
	! grep -q 'auth=Basic\|auth=Bearer' "$1" || fail "credentials reached another origin"
	# (a Dockerfile's own text is echoed as kaniko does; kiln's messages add no secret)
	! grep -q "GET [^ ]*$SECRET" "$KDIR/log" || fail "the secret is in kiln's messages"
}

# ---- git: a server that redirects to another origin (another port of 127.0.0.1) ----

git init -q -b main "$W/src"
echo hi >"$W/src/hello"
printf 'FROM scratch\nCOPY hello /hello\n' >"$W/src/Dockerfile"
git -C "$W/src" add -A
git -C "$W/src" -c user.email=t@example.com -c user.name=t commit -qm one

git_redirect_drops_credentials() {
	local how
	for how in token userpass url; do
		for ask in "" --ask-auth; do
			hostile "rec-$how$ask" record
			local rec=$LOG
			hostile "redir-$how$ask" redirect --to "http://127.0.0.1:$PORT" $ask
			local ctx=git://127.0.0.1:$PORT/repo.git
			case $how in
			token) GIT_PULL_METHOD=http GIT_TOKEN=$SECRET run_kiln --no-push --context "$ctx" ;;
			userpass) GIT_PULL_METHOD=http GIT_USERNAME=alice GIT_PASSWORD=$SECRET \
				run_kiln --no-push --context "$ctx" ;;
			url) GIT_PULL_METHOD=http run_kiln --no-push \
				--context "git://alice:$SECRET@127.0.0.1:$PORT/repo.git" ;;
			esac
			[ "$RC" -ne 0 ] || fail "the clone succeeded"
			grep -q '^GET /repo.git/info/refs' "$rec" || fail "the redirect was not followed"
			no_secret_in "$rec"
		done
	done
}

# ---- registry: manifests, blobs and token realms redirected ----

docker_config() { # docker_config <registry>: $W/docker/config.json with alice's credentials
	mkdir -p "$W/docker"
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$1" "$B64_PAIR" >"$W/docker/config.json"
}

pull_from() { # pull_from <registry>: a build FROM its image that needs every blob
	mkdir -p "$W/ctx"
	printf 'FROM %s/img:1\nENV A=1\n' "$1" >"$W/ctx/Dockerfile"
	DOCKER_CONFIG=$W/docker run_kiln --insecure-pull --no-push --context "$W/ctx" \
		--tar-path "$W/out.tar"
}

registry_redirects_drop_credentials() {
	local what
	for what in manifests blobs; do
		hostile "rec-reg-$what" record
		local rec=$LOG
		hostile "reg-$what" registry --ask-auth --redirect "$what" --to "http://127.0.0.1:$PORT"
		local reg=$LOG
		docker_config "127.0.0.1:$PORT"
		pull_from "127.0.0.1:$PORT"
		[ "$RC" -ne 0 ] || fail "the pull succeeded"
		grep -q "/$what/" "$rec" || fail "the $what redirect was not followed"
		grep -q "auth=Basic $B64_PAIR" "$reg" || fail "the registry never got the credentials"
		no_secret_in "$rec"
	done
}

registry_same_origin_redirects_authenticate() {
	hostile reg-same registry --ask-auth --redirect manifests,blobs --same-origin
	local reg=$LOG
	docker_config "127.0.0.1:$PORT"
	pull_from "127.0.0.1:$PORT"
	[ "$RC" -eq 0 ] || fail "the pull failed"
	cat "$reg"
	grep -q "^GET /r/v2/img/manifests/1 auth=Basic $B64_PAIR" "$reg" ||
		fail "the redirected manifest GET was not authenticated"
	grep -q "^GET /r/v2/img/blobs/sha256:.* auth=Basic $B64_PAIR" "$reg" ||
		fail "the redirected blob GET was not authenticated"
}

token_realm_redirect_drops_credentials() {
	hostile rec-realm record
	local rec=$LOG
	hostile realm redirect --to "http://127.0.0.1:$PORT"
	local realm=$LOG
	hostile reg-bearer registry --ask-auth --realm "http://127.0.0.1:$PORT/token"
	docker_config "127.0.0.1:$PORT"
	pull_from "127.0.0.1:$PORT"
	[ "$RC" -ne 0 ] || fail "the pull succeeded"
	cat "$realm"
	grep -q "auth=Basic $B64_PAIR" "$realm" || fail "the realm never got the credentials"
	grep -q '^GET /token' "$rec" || fail "the realm's redirect was not followed"
	no_secret_in "$rec"
}

# ---- ADD <url> and https:// contexts: credentials in the URL ----

mkdir -p "$W/ca" "$W/files"
make_ca "$W/ca"
echo added >"$W/files/added"
printf 'FROM scratch\nCOPY hello /hello\n' >"$W/src/Dockerfile.ctx"
tar -C "$W/src" -czf "$W/files/ctx.tar.gz" hello Dockerfile

add_url_redirect_drops_credentials() {
	hostile rec-add record
	local rec=$LOG
	hostile add-redir redirect --to "http://127.0.0.1:$PORT"
	mkdir -p "$W/addctx"
	printf 'FROM scratch\nADD http://alice:%s@127.0.0.1:%s/added /added\n' "$SECRET" "$PORT" \
		>"$W/addctx/Dockerfile"
	run_kiln --no-push --context "$W/addctx"
	[ "$RC" -ne 0 ] || fail "the ADD succeeded"
	grep -q '^GET /added' "$rec" || fail "the redirect was not followed"
	no_secret_in "$rec"
	# the same origin still gets them
	hostile add-same redirect --same-origin --file "$W/files/added"
	local same=$LOG
	printf 'FROM scratch\nADD http://alice:%s@127.0.0.1:%s/added /added\n' "$SECRET" "$PORT" \
		>"$W/addctx/Dockerfile"
	run_kiln --no-push --context "$W/addctx" --tar-path "$W/add.tar"
	[ "$RC" -eq 0 ] || fail "ADD through a same-origin redirect failed"
	cat "$same"
	grep -q "^GET /r/added auth=Basic $B64_PAIR" "$same" || fail "no credentials after the redirect"
}

https_context_redirect_drops_credentials() {
	hostile rec-ctx record --cert "$W/ca/server.pem" --key "$W/ca/server.key"
	local rec=$LOG
	hostile ctx-redir redirect --to "https://127.0.0.1:$PORT" --cert "$W/ca/server.pem" \
		--key "$W/ca/server.key"
	SSL_CERT_FILE=$W/ca/ca.pem run_kiln --no-push \
		--context "https://alice:$SECRET@127.0.0.1:$PORT/ctx.tar.gz"
	[ "$RC" -ne 0 ] || fail "the context was fetched"
	grep -q '^GET /ctx.tar.gz' "$rec" || fail "the redirect was not followed"
	no_secret_in "$rec"
	hostile ctx-same redirect --same-origin --file "$W/files/ctx.tar.gz" \
		--cert "$W/ca/server.pem" --key "$W/ca/server.key"
	local same=$LOG
	SSL_CERT_FILE=$W/ca/ca.pem run_kiln --no-push \
		--context "https://alice:$SECRET@127.0.0.1:$PORT/ctx.tar.gz"
	[ "$RC" -eq 0 ] || fail "the context behind a same-origin redirect was not fetched"
	grep -q "^GET /r/ctx.tar.gz auth=Basic $B64_PAIR" "$same" || fail "no credentials after the redirect"
	! grep -q "$SECRET" "$KDIR/log" || fail "the secret is in kiln's output"
}

# ---- blob downloads bounded by the declared size; no temporary file left ----

tmp_blobs() { find "$KDIR/blobs" -name '.tmp-*' 2>/dev/null; }

oversized_blob_stops_at_declared_size() {
	hostile endless registry --endless-layer --layer-size 1000 --max-bytes $((2 << 30))
	local reg=$LOG
	mkdir -p "$W/ctx"
	printf 'FROM 127.0.0.1:%s/img:1\nENV A=1\n' "$PORT" >"$W/ctx/Dockerfile"
	run_kiln --insecure-pull --no-push --context "$W/ctx" --tar-path "$W/out.tar"
	[ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] || fail "the pull did not fail (rc $RC)"
	assert_contains "$OUT" "is larger than the 1000 bytes its manifest declares" error
	assert_contains "$OUT" "blob sha256:" error
	[ -z "$(tmp_blobs)" ] || fail "temporary blob left: $(tmp_blobs)"
	sleep 1
	cat "$reg"
	local sent
	sent=$(sed -n 's/^layer: sent \([0-9]*\) bytes/\1/p' "$reg" | head -1)
	[ -n "$sent" ] && [ "$sent" -lt $((256 << 20)) ] || fail "kiln read ${sent:-?} bytes"
}

sigterm_mid_download_leaves_no_temp_file() {
	local sig
	for sig in TERM INT; do
		hostile "slow-$sig" registry --endless-layer --layer-size $((1 << 40)) --rate 1000000
		mkdir -p "$W/ctx"
		printf 'FROM 127.0.0.1:%s/img:1\nENV A=1\n' "$PORT" >"$W/ctx/Dockerfile"
		kdir
		# (a background job of a script starts with SIGINT ignored: give it back)
		env --default-signal=INT "$KILN" -v debug --kaniko-dir "$KDIR" --insecure-pull \
			--no-push --context "$W/ctx" --tar-path "$W/out.tar" >"$KDIR/log" 2>&1 &
		local pid=$! i
		for i in $(seq 1 300); do
			[ -n "$(tmp_blobs)" ] && break
			sleep 0.1
		done
		[ -n "$(tmp_blobs)" ] || {
			kill -KILL "$pid"
			cat "$KDIR/log" "$LOG"
			fail "no download in progress after 30 s"
		}
		echo "# SIG$sig: the download was in progress after $i polls of 0.1 s"
		kill -"$sig" "$pid"
		local rc=0
		wait "$pid" || rc=$?
		cat "$KDIR/log"
		[ "$rc" -ne 0 ] || fail "kiln exited 0 after SIG$sig"
		[ -z "$(tmp_blobs)" ] || fail "SIG$sig left $(tmp_blobs)"
	done
}

# ---- proxies: never for loopback, NO_PROXY as Go reads it ----

with_proxy() { # with_proxy <proxy-url> [NAME=value...]: RUN_ENV with every proxy variable
	local p=$1
	shift
	RUN_ENV=(-u NO_PROXY -u no_proxy HTTP_PROXY="$p" http_proxy="$p" HTTPS_PROXY="$p"
		https_proxy="$p" "$@")
}

loopback_is_never_proxied() {
	hostile proxy-lo proxy
	local proxy=http://127.0.0.1:$PORT plog=$LOG
	hostile serve-lo serve --file "$W/files/added"
	mkdir -p "$W/proxyctx"
	printf 'FROM %s\nADD http://127.0.0.1:%s/added /added\nADD http://localhost:%s/added /added2\n' \
		"$BUSYBOX_IMAGE" "$PORT" "$PORT" >"$W/proxyctx/Dockerfile"
	with_proxy "$proxy"
	run_kiln --insecure --insecure-pull --context "$W/proxyctx" \
		--destination "$KILN_TEST_REGISTRY/network/proxied:1"
	cat "$plog"
	[ "$RC" -eq 0 ] || fail "the build failed"
	[ ! -s "$plog" ] || fail "loopback traffic went through the proxy"
	# git over loopback too
	hostile git-lo record
	with_proxy "$proxy" GIT_PULL_METHOD=http
	run_kiln --no-push --context "git://127.0.0.1:$PORT/repo.git"
	[ "$RC" -ne 0 ] || fail "the clone succeeded"
	grep -q '^GET /repo.git/info/refs' "$LOG" || fail "git did not reach the loopback server"
	[ ! -s "$plog" ] || fail "git went through the proxy"
}

no_proxy_is_honoured() {
	hostile proxy-np proxy
	local proxy=http://127.0.0.1:$PORT plog=$LOG
	local host=kiln-proxy-test.invalid url
	url=http://$host:4242/added
	mkdir -p "$W/npctx"
	printf 'FROM scratch\nADD %s /added\n' "$url" >"$W/npctx/Dockerfile"
	# a name that is not loopback goes through the proxy (which answers 502)
	with_proxy "$proxy"
	run_kiln --no-push --context "$W/npctx"
	[ "$RC" -ne 0 ] || fail "the ADD succeeded"
	grep -q "proxy=$url" "$plog" || fail "the request did not go through the proxy"
	local np n
	for np in "$host" ".invalid" "*.invalid" "invalid" "$host:4242" "*" "10.0.0.0/8, $host"; do
		n=$(wc -l <"$plog")
		with_proxy "$proxy" NO_PROXY="$np"
		run_kiln --no-push --context "$W/npctx"
		[ "$RC" -ne 0 ] || fail "the ADD succeeded"
		[ "$(wc -l <"$plog")" -eq "$n" ] || fail "NO_PROXY='$np' was not honoured"
	done
	for np in "other.invalid" "proxy-test.invalid" "$host:4243" ".$host" "127.0.0.0/8"; do
		n=$(wc -l <"$plog")
		with_proxy "$proxy" no_proxy="$np"
		run_kiln --no-push --context "$W/npctx"
		[ "$(wc -l <"$plog")" -gt "$n" ] || fail "NO_PROXY='$np' bypassed the proxy"
	done
	# the registry client decides the same way
	printf 'FROM %s:4242/img:1\n' "$host" >"$W/npctx/Dockerfile"
	with_proxy "$proxy"
	run_kiln --no-push --insecure-pull --context "$W/npctx"
	[ "$RC" -ne 0 ] || fail "the pull succeeded"
	grep -q "proxy=http://$host:4242/v2/" "$plog" || fail "the registry request did not use the proxy"
	n=$(wc -l <"$plog")
	with_proxy "$proxy" no_proxy=.invalid
	run_kiln --no-push --insecure-pull --context "$W/npctx"
	[ "$(wc -l <"$plog")" -eq "$n" ] || fail "the registry client ignored NO_PROXY"
}

# ---- --dockerfile https://... with kiln's CAs; --git keys ----

dockerfile_over_https() {
	printf 'FROM %s\nRUN echo from-url >/from-url\n' "$BUSYBOX_IMAGE" >"$W/files/Dockerfile.url"
	hostile df-https serve --file "$W/files/Dockerfile.url" --cert "$W/ca/server.pem" \
		--key "$W/ca/server.key"
	local url=https://127.0.0.1:$PORT/Dockerfile.url
	mkdir -p "$W/emptyctx"
	# the test CA only where kaniko users put it: $KANIKO_DIR/ssl/certs/ca-certificates.crt
	KDIR_CA=$W/ca/ca.pem run_kiln --insecure-pull --no-push --context "$W/emptyctx" \
		--dockerfile "$url" --tar-path "$W/df.tar"
	[ "$RC" -eq 0 ] || fail "the build failed"
	assert_contains "$OUT" "RUN echo from-url" log
	grep -q '^GET /Dockerfile.url' "$LOG" || fail "the Dockerfile was not fetched"
	[ -s "$W/df.tar" ] || fail "no image tarball"
	# without the CA: a clear TLS error naming the flag
	run_kiln --insecure-pull --no-push --context "$W/emptyctx" --dockerfile "$url"
	[ "$RC" -ne 0 ] || fail "an untrusted server was accepted"
	assert_contains "$OUT" "--dockerfile: GET $url" error
	# an error status
	hostile df-401 record
	run_kiln --insecure-pull --no-push --context "$W/emptyctx" \
		--dockerfile "http://127.0.0.1:$PORT/Dockerfile"
	[ "$RC" -ne 0 ] || fail "a 401 was accepted"
	assert_contains "$OUT" "--dockerfile: GET http://127.0.0.1:$PORT/Dockerfile: invalid response status 401" error
	# a body past the Dockerfile size limit (4 MiB) stops there
	head -c $((5 << 20)) /dev/zero | tr '\0' '#' >"$W/files/Dockerfile.big"
	hostile df-big serve --file "$W/files/Dockerfile.big"
	run_kiln --insecure-pull --no-push --context "$W/emptyctx" \
		--dockerfile "http://127.0.0.1:$PORT/Dockerfile.big"
	[ "$RC" -ne 0 ] || fail "a 5 MiB Dockerfile was accepted"
	assert_contains "$OUT" "larger than 4194304 bytes" error
}

git_keys_never_ignored_silently() {
	mkdir -p "$W/gitkeys"
	printf 'FROM %s\nRUN echo ok\n' "$BUSYBOX_IMAGE" >"$W/gitkeys/Dockerfile"
	# depth cannot be honoured with libgit2 < 1.7: refused before anything is fetched
	run_kiln --insecure-pull --no-push --context "$W/gitkeys" --git depth=1
	[ "$RC" -ne 0 ] || fail "--git depth=1 was accepted"
	assert_contains "$OUT" "--git depth: shallow clones need libgit2 1.7" error
	# kaniko ignores unknown keys: kiln builds too, and warns naming the key
	run_kiln --insecure-pull --no-push --context "$W/gitkeys" --git shallow=true \
		--git branch=main
	[ "$RC" -eq 0 ] || fail "an unknown --git key failed the build"
	assert_contains "$OUT" "--git shallow: unknown key, ignored" warning
}

# ---- stalls: a server that never answers, or trickles 2 bytes/s ----

stalled_downloads_fail_in_bounded_time() {
	local mode start took
	mkdir -p "$W/stallctx"
	for mode in hang trickle; do
		hostile "stall-$mode" "$mode"
		printf 'FROM scratch\nADD http://127.0.0.1:%s/file /file\n' "$PORT" >"$W/stallctx/Dockerfile"
		start=$(date +%s)
		KILN_HTTP_STALL_TIMEOUT=3 run_kiln --no-push --context "$W/stallctx"
		took=$(($(date +%s) - start))
		[ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] || fail "$mode: ADD did not fail by itself (rc $RC)"
		[ "$took" -le 20 ] || fail "$mode: took ${took}s"
		assert_contains "$OUT" "GET http://127.0.0.1:$PORT/file: Operation too slow" "$mode error"
		# an https:// context from the same server
		start=$(date +%s)
		KILN_HTTP_STALL_TIMEOUT=3 run_kiln --no-push --context "https://127.0.0.1:$PORT/ctx.tar.gz"
		took=$(($(date +%s) - start))
		[ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && [ "$took" -le 20 ] ||
			fail "$mode: https context (rc $RC, ${took}s)"
	done
}

stalled_registry_fails_in_bounded_time() {
	local start took
	hostile stall-reg hang
	start=$(date +%s)
	mkdir -p "$W/ctx"
	printf 'FROM 127.0.0.1:%s/img:1\nENV A=1\n' "$PORT" >"$W/ctx/Dockerfile"
	KILN_HTTP_STALL_TIMEOUT=3 run_kiln --insecure-pull --no-push --context "$W/ctx"
	took=$(($(date +%s) - start))
	[ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] || fail "the pull did not fail by itself (rc $RC)"
	[ "$took" -le 20 ] || fail "took ${took}s"
	assert_contains "$OUT" "Operation too slow" "error"
}

# ---- concurrent stages: their registry traffic overlaps ----

concurrent_stages_pull_at_once() {
	# each repository's blobs are answered only once blob requests of both arrived: the build
	# passes only when the two stages' pulls are in flight at the same time (a client that
	# pulls one stage after the other gets 404 BARRIER_TIMEOUT after 20 s); anonymous, then
	# with a bearer token per repository (the token cache shared by the two stages)
	if [ "$(nproc)" -lt 2 ]; then
		echo "SKIPPED: one CPU, kiln builds one stage at a time"
		return 0
	fi
	local auth reg layer
	for auth in anonymous bearer; do
		if [ "$auth" = bearer ]; then
			hostile "barrier-$auth" registry --barrier 2 --ask-auth --token-here
		else
			hostile "barrier-$auth" registry --barrier 2
		fi
		reg=$LOG
		mkdir -p "$W/ctx-two"
		printf 'FROM 127.0.0.1:%s/one:1 AS one\nFROM 127.0.0.1:%s/two:1 AS two\nFROM scratch\nCOPY --from=one /hello /one\nCOPY --from=two /hello /two\n' \
			"$PORT" "$PORT" >"$W/ctx-two/Dockerfile"
		run_kiln --insecure-pull --no-push --context "$W/ctx-two" --tar-path "$W/two.tar" \
			-v trace
		cat "$reg"
		[ "$RC" -eq 0 ] || fail "$auth: the two-stage build failed (rc $RC): its pulls did not overlap"
		grep -q '^barrier one: passed' "$reg" || fail "$auth: stage one's blobs did not wait for stage two's"
		grep -q '^barrier two: passed' "$reg" || fail "$auth: stage two's blobs did not wait for stage one's"
		! grep -q 'timeout' "$reg" || fail "$auth: a blob request timed out at the barrier"
		if [ "$auth" = bearer ]; then
			grep -q '^GET /v2/one/blobs/.* auth=Bearer hostile-token' "$reg" || fail "no bearer token on one's blobs"
			grep -q '^GET /v2/two/blobs/.* auth=Bearer hostile-token' "$reg" || fail "no bearer token on two's blobs"
		fi
		rm -rf "$W/two-x"
		mkdir -p "$W/two-x"
		tar -xf "$W/two.tar" -C "$W/two-x"
		for layer in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))[0]["Layers"]))' "$W/two-x/manifest.json"); do
			tar -xf "$W/two-x/$layer" -C "$W/two-x"
		done
		assert_eq "$(cat "$W/two-x/one")" "hostile one" "$auth: /one"
		assert_eq "$(cat "$W/two-x/two")" "hostile two" "$auth: /two"
	done
}

maybe_run "git: a redirect to another origin gets no GIT_TOKEN, GIT_USERNAME/PASSWORD or URL password" git_redirect_drops_credentials
maybe_run "registry: a manifest or blob redirect to another origin gets no credentials" registry_redirects_drop_credentials
maybe_run "registry: same-origin manifest and blob redirects still authenticate" registry_same_origin_redirects_authenticate
maybe_run "registry: a token realm redirecting to another origin gets no credentials" token_realm_redirect_drops_credentials
maybe_run "ADD <url>: a redirect to another origin gets no URL credentials, the same origin does" add_url_redirect_drops_credentials
maybe_run "https:// context: a redirect to another origin gets no URL credentials, the same origin does" https_context_redirect_drops_credentials
maybe_run "registry: a blob longer than its manifest says stops there, no temporary file left" oversized_blob_stops_at_declared_size
maybe_run "registry: SIGTERM or SIGINT mid-download leaves no temporary blob" sigterm_mid_download_leaves_no_temp_file
maybe_run "proxies: loopback (registry, ADD <url>, git) never goes through HTTP(S)_PROXY" loopback_is_never_proxied
maybe_run "proxies: NO_PROXY names, .domains, *, host:port and CIDRs as Go reads them" no_proxy_is_honoured
maybe_run "--dockerfile https://... is fetched with the CAs of \$KANIKO_DIR/ssl/certs" dockerfile_over_https
maybe_run "--git depth is refused; unknown --git keys build (as kaniko) with a warning naming them" git_keys_never_ignored_silently
maybe_run "ADD <url> and https:// contexts: a server that never answers or trickles fails in bounded time" stalled_downloads_fail_in_bounded_time
maybe_run "registry: a server that never answers fails in bounded time" stalled_registry_fails_in_bounded_time
maybe_run "registry: two stages pull two different bases at the same time, anonymous and with bearer tokens (no lock around registry I/O)" concurrent_stages_pull_at_once
t_done
