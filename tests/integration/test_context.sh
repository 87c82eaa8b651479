#!/usr/bin/env bash
# test_context.sh — remote build contexts (kaniko reference §2): git:// through a real git
# server (git http-backend behind basic auth, TLS with a CA the test makes, or plain HTTP),
# refs, tags, commits, --git options, GIT_TOKEN / GIT_USERNAME / GIT_PASSWORD, the CA from
# $KANIKO_DIR/ssl/certs; tar://, tar://stdin, https:// tarballs, a hostile tar, unknown
# prefixes, and --context-sub-path. Each build COPYs from the context; the file's content is
# read back from the image's last layer.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/registry.sh"
W=$KILN_TEST_WORK/context
mkdir -p "$W"
SERVER_PIDS=()
cleanup() {
	local p
	for p in "${SERVER_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT

TOKEN="tok-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PASS="pw-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# ---- the repository: main (advanced after tag v1), feature (two commits), refs/pull/1/head
mkdir -p "$W/ca" "$W/repos" "$W/files"
make_ca "$W/ca"
git init -q -b main "$W/src"
g() { git -C "$W/src" -c user.email=t@example.com -c user.name=t "$@"; }
printf 'FROM %s\nCOPY hello /hello\n' "$BUSYBOX_IMAGE" >"$W/src/Dockerfile"
mkdir -p "$W/src/sub/dir"
printf 'FROM %s\nCOPY dir/inner /inner\n' "$BUSYBOX_IMAGE" >"$W/src/sub/Dockerfile"
echo inner-file >"$W/src/sub/dir/inner"
echo main-at-v1 >"$W/src/hello"
g add -A && g commit -qm one && g tag -a v1 -m v1
echo main-now >"$W/src/hello" && g commit -qam two
g checkout -qb feature
echo feature-old >"$W/src/hello" && g commit -qam f1
FEATURE_OLD=$(g rev-parse HEAD)
echo feature-new >"$W/src/hello" && g commit -qam f2
g checkout -qb pr main
echo pull-request >"$W/src/hello" && g commit -qam pr
g checkout -q main
git clone -q --bare "$W/src" "$W/repos/repo.git"
git -C "$W/src" push -q "$W/repos/repo.git" pr:refs/pull/1/head

server_start() { # server_start <name> <args...>: sets PORT
	local name=$1 i
	shift
	python3 "$KILN_TOP/tests/lib/gitserver.py" --root "$W/repos" --files "$W/files" \
		--log "$W/$name.log" "$@" >"$W/$name.port" 2>"$W/$name.err" &
	SERVER_PIDS+=($!)
	for i in $(seq 1 50); do
		PORT=$(cat "$W/$name.port")
		[ -n "$PORT" ] && return 0
		sleep 0.1
	done
	cat "$W/$name.err" >&2
	return 1
}
server_start tls --auth "$TOKEN:" --auth "alice:$PASS" --cert "$W/ca/server.pem" \
	--key "$W/ca/server.key" || exit 1
TLS_PORT=$PORT
server_start plain --plain --auth "alice:$PASS" || exit 1
PLAIN_PORT=$PORT
# mbedTLS (Debian's libgit2) matches host names only: the certificate names localhost
REPO=localhost:$TLS_PORT/repo.git

kdir() { # a fresh --kaniko-dir whose CA bundle has the test CA appended (GitLab's recipe)
	KDIR=$(mktemp -d "$W/k.XXXXXX")
	mkdir -p "$KDIR/ssl/certs"
	cat "$W/ca/ca.pem" >>"$KDIR/ssl/certs/ca-certificates.crt"
}

ctx_build() { # ctx_build <args...>: builds in $KDIR into $KDIR/out.tar, log in $KDIR/log
	"$KILN" --kaniko-dir "$KDIR" --insecure-pull --no-push --tar-path "$KDIR/out.tar" \
		--log-format text "$@" >"$KDIR/log" 2>&1
}

build_ok() {
	ctx_build "$@" || { cat "$KDIR/log"; fail "build failed: $*"; }
}

build_fails() { # build_fails <args...>: the build must fail; its output is in $OUT
	local rc=0
	ctx_build "$@" || rc=$?
	OUT=$(cat "$KDIR/log")
	echo "$OUT"
	[ "$rc" -ne 0 ] || fail "build succeeded: $*"
}

layer_file() { # layer_file <path>: the file's content in the last layer of $KDIR/out.tar
	local layer
	layer=$(tar -xOf "$KDIR/out.tar" manifest.json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Layers"][-1])')
	tar -xOf "$KDIR/out.tar" "$layer" | tar -xzOf - "$1"
}

git_token_over_https() {
	kdir
	GIT_TOKEN=$TOKEN build_ok --context "git://$REPO" -v debug
	assert_eq "$(layer_file hello)" main-now "default branch"
	assert_exists "$KDIR/buildcontext/.git/HEAD"
	assert_eq "$(git -C "$KDIR/buildcontext" symbolic-ref HEAD)" refs/heads/main "HEAD"
	assert_not_contains "$(cat "$KDIR/log")" "$TOKEN" "log"
	assert_contains "$(cat "$KDIR/log")" "Cloning git repository 'https://$REPO'" "log"
}

git_username_password_branch_ref() {
	kdir
	GIT_USERNAME=alice GIT_PASSWORD=$PASS build_ok --context "git://$REPO#refs/heads/feature"
	assert_eq "$(layer_file hello)" feature-new "refs/heads/feature"
	assert_not_contains "$(cat "$KDIR/log")" "$PASS" "log"
}

userinfo_in_url_and_tag_ref() {
	kdir
	build_ok --context "git://alice:$PASS@$REPO#refs/tags/v1"
	assert_eq "$(layer_file hello)" main-at-v1 "tag v1"
	assert_not_contains "$(cat "$KDIR/log")" "$PASS" "log"
	assert_not_contains "$(cat "$KDIR/buildcontext/.git/config")" "$PASS" ".git/config"
}

ref_and_commit() {
	kdir
	GIT_TOKEN=$TOKEN build_ok --context "git://$REPO#refs/heads/feature#$FEATURE_OLD"
	assert_eq "$(layer_file hello)" feature-old "commit on feature"
	kdir
	GIT_TOKEN=$TOKEN build_ok --context "git://$REPO#${FEATURE_OLD:0:10}"
	assert_eq "$(layer_file hello)" feature-old "abbreviated commit as the ref"
}

pull_request_ref() {
	kdir
	GIT_TOKEN=$TOKEN build_ok --context "git://$REPO#refs/pull/1/head"
	assert_eq "$(layer_file hello)" pull-request "refs/pull/1/head"
}

git_branch_option() {
	kdir
	GIT_TOKEN=$TOKEN build_ok --context "git://$REPO" --git branch=feature \
		--git single-branch=true
	assert_eq "$(layer_file hello)" feature-new "--git branch=feature"
	assert_eq "$(git -C "$KDIR/buildcontext" symbolic-ref HEAD)" refs/heads/feature "HEAD"
	# single-branch: main was not fetched
	if git -C "$KDIR/buildcontext" rev-parse -q --verify refs/remotes/origin/main >/dev/null; then
		fail "single-branch fetched main too"
	fi
	kdir
	GIT_TOKEN=$TOKEN build_ok --context "git://$REPO" --git branch=v1
	assert_eq "$(layer_file hello)" main-at-v1 "--git branch=<tag>"
	kdir
	GIT_TOKEN=$TOKEN build_fails --context "git://$REPO" --git branch=nope
	assert_contains "$OUT" "invalid branch: nope" error
}

context_sub_path() {
	kdir
	GIT_TOKEN=$TOKEN build_ok --context "git://$REPO" --context-sub-path sub
	assert_eq "$(layer_file inner)" inner-file "sub path of a git context"
	# kiln applies it to local directories too (kaniko ignores it there)
	kdir
	build_ok --context "$W/src" --context-sub-path /sub/
	assert_eq "$(layer_file inner)" inner-file "sub path of a local directory"
	kdir
	build_fails --context "$W/src" --context-sub-path ../src/sub
	assert_contains "$OUT" "context sub path '../src/sub' is outside the build context" error
	kdir
	build_fails --context "$W/src" --context-sub-path hello
	assert_contains "$OUT" "context sub path 'hello' is not a directory" error
}

untrusted_ca_fails_clearly() {
	KDIR=$(mktemp -d "$W/k.XXXXXX") # no CA bundle
	GIT_TOKEN=$TOKEN build_fails --context "git://$REPO"
	assert_contains "$OUT" "git clone 'https://$REPO'" "error names the URL"
	assert_contains "$OUT" "not trusted" error
	[ "$(grep -c . "$KDIR/log")" -le 3 ] || fail "error output is not short"
	# insecure-skip-tls lets it through
	GIT_TOKEN=$TOKEN build_ok --context "git://$REPO" --git insecure-skip-tls=true
	assert_eq "$(layer_file hello)" main-now "insecure-skip-tls"
}

wrong_password_fails_without_leaking() {
	kdir
	GIT_USERNAME=alice GIT_PASSWORD=wrong-secret-pw build_fails --context "git://$REPO"
	assert_contains "$OUT" "authentication failed" error
	assert_contains "$OUT" "https://$REPO" error
	assert_not_contains "$OUT" wrong-secret-pw output
	kdir
	build_fails --context "git://alice:wrong-secret-pw@$REPO"
	assert_contains "$OUT" "authentication failed" error
	assert_not_contains "$OUT" wrong-secret-pw output
	kdir
	build_fails --context "git://$REPO"
	assert_contains "$OUT" "authentication required" error
}

git_pull_method_http() {
	kdir
	GIT_PULL_METHOD=http GIT_USERNAME=alice GIT_PASSWORD=$PASS \
		build_ok --context "git://127.0.0.1:$PLAIN_PORT/repo.git#refs/heads/feature"
	assert_eq "$(layer_file hello)" feature-new "over plain http"
	grep -q 'POST /repo.git/git-upload-pack' "$W/plain.log" || fail "plain server not used"
}

tar_context() {
	tar -C "$W/src" -czf "$W/ctx.tar.gz" Dockerfile hello
	kdir
	mkdir -p "$KDIR/buildcontext"
	echo stale >"$KDIR/buildcontext/stale"
	build_ok --context "tar://$W/ctx.tar.gz"
	assert_eq "$(layer_file hello)" main-now "tar://"
	[ ! -e "$KDIR/buildcontext/stale" ] || fail "stale buildcontext kept"
	assert_exists "$W/ctx.tar.gz"
	# kiln also takes zstd
	tar -C "$W/src" --zstd -cf "$W/ctx.tar.zst" Dockerfile hello
	kdir
	build_ok --context "tar://$W/ctx.tar.zst" --context-sub-path .
	assert_eq "$(layer_file hello)" main-now "tar:// zstd"
}

tar_stdin() {
	tar -C "$W/src" -czf "$W/ctx.tar.gz" Dockerfile hello
	kdir
	build_ok --context tar://stdin <"$W/ctx.tar.gz"
	assert_eq "$(layer_file hello)" main-now "tar://stdin"
	assert_contains "$(cat "$KDIR/log")" "To simulate EOF and exit, press 'Ctrl+D'" log
	kdir
	build_fails --context tar://stdin </dev/null
	assert_contains "$OUT" "no data found.. don't forget to add the '--interactive, -i' flag" \
		error
}

https_tar() {
	tar -C "$W/src" -czf "$W/files/ctx.tar.gz" Dockerfile hello
	# the test CA only in $KANIKO_DIR/ssl/certs/ca-certificates.crt (kdir), as for registries
	kdir
	"$KILN" --kaniko-dir "$KDIR" --insecure-pull --no-push \
		--tar-path "$KDIR/out.tar" --context "https://localhost:$TLS_PORT/files/ctx.tar.gz" \
		>"$KDIR/log" 2>&1 || { cat "$KDIR/log"; fail "https build failed"; }
	assert_eq "$(layer_file hello)" main-now "https://"
	local log
	log=$(cat "$KDIR/log")
	assert_contains "$log" "Retrieving https tar file" log
	assert_contains "$log" "Retrieved https tar file" log
	assert_contains "$log" "Extracted https tar file" log
	[ -z "$(find "$KDIR" -maxdepth 1 -name '.context-download*')" ] || fail "download kept"
	kdir
	local rc=0
	"$KILN" --kaniko-dir "$KDIR" --no-push \
		--context "https://localhost:$TLS_PORT/files/missing.tar.gz" >"$KDIR/log" 2>&1 || rc=$?
	cat "$KDIR/log"
	[ "$rc" -ne 0 ] || fail "a 404 was accepted"
	assert_contains "$(cat "$KDIR/log")" "HTTPSTar bad status from server: 404 Not Found" error
}

hostile_tar_refused() {
	python3 - "$W/evil.tar.gz" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w:gz") as t:
    for name, data in (("Dockerfile", b"FROM scratch\n"), ("../x", b"escaped\n")):
        i = tarfile.TarInfo(name)
        i.size = len(data)
        t.addfile(i, io.BytesIO(data))
EOF
	kdir
	build_fails --context "tar://$W/evil.tar.gz"
	assert_contains "$OUT" "'../x'" error
	[ ! -e "$KDIR/x" ] || fail "an entry landed outside the context"
	[ ! -e "$KDIR/buildcontext" ] || fail "a half-unpacked context was left"
}

unknown_and_unimplemented_prefixes() {
	kdir
	build_fails --context "foo://bar"
	assert_contains "$OUT" "unknown build context prefix provided, please use one of the following: gs://, dir://, tar://, s3://, git://, https://" error
	kdir
	build_fails --context "http://127.0.0.1:$PLAIN_PORT/files/ctx.tar.gz"
	assert_contains "$OUT" "unknown build context prefix provided" "http:// (kaniko refuses it)"
	kdir
	build_fails --context "gs://bucket/ctx.tar.gz"
	assert_contains "$OUT" "not implemented in kiln" "gs://"
	kdir
	build_fails --context "s3://bucket/ctx.tar.gz"
	assert_contains "$OUT" "s3:// contexts are not implemented in kiln" "s3://"
	kdir
	build_fails --context "https://acct.blob.core.windows.net/c/ctx.tar.gz"
	assert_contains "$OUT" "Azure Blob Storage contexts are not implemented in kiln" azure
}

t_run "git:// over https with GIT_TOKEN (default branch, .git kept, no token in logs)" git_token_over_https
t_run "GIT_USERNAME/GIT_PASSWORD and #refs/heads/<branch>" git_username_password_branch_ref
t_run "userinfo in the URL and #refs/tags/<tag>" userinfo_in_url_and_tag_ref
t_run "#<ref>#<commit> and #<commit>" ref_and_commit
t_run "#refs/pull/1/head" pull_request_ref
t_run "--git branch= (branch, tag, missing) and single-branch" git_branch_option
t_run "--context-sub-path for git and local contexts" context_sub_path
t_run "a CA that is not trusted fails in one line; insecure-skip-tls" untrusted_ca_fails_clearly
t_run "wrong or missing credentials fail without leaking the password" wrong_password_fails_without_leaking
t_run "GIT_PULL_METHOD=http" git_pull_method_http
t_run "tar:// (gzip, zstd) replaces a stale buildcontext" tar_context
t_run "tar://stdin, and a character device refused" tar_stdin
t_run "https:// tarball, and a 404" https_tar
t_run "a tar entry '../x' is refused, nothing written outside" hostile_tar_refused
t_run "unknown and unimplemented prefixes" unknown_and_unimplemented_prefixes
t_done
