#!/usr/bin/env bash
# test_cli.sh — the executor's face: usage and exit codes as kaniko's, the `executor` name,
# errors that name the Dockerfile line, refused flags, log formats; plus the Dockerfile
# features the foundations promise end to end (multi-stage COPY --from, heredocs).
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
W=$KILN_TEST_WORK/cli
mkdir -p "$W/ctx"

usage_and_exit_codes() {
	local rc=0
	"$KILN" >"$W/noargs.out" 2>"$W/noargs.err" || rc=$?
	assert_eq "$rc" 1 "exit status without arguments"
	assert_contains "$(cat "$W/noargs.err")" "Usage:" "stderr"
	assert_contains "$(cat "$W/noargs.err")" "you must provide --destination, or use --no-push" "stderr"
	ln -sf "$KILN" "$W/executor"
	"$W/executor" --help >"$W/help.out"
	assert_contains "$(cat "$W/help.out")" "executor [flags]" "help as executor"
	assert_contains "$(cat "$W/help.out")" "--destination" "help"
	"$KILN" version | grep -q "v" || fail "version"
	rc=0
	mkdir -p "$W/ocictx"
	printf 'FROM scratch\n' >"$W/ocictx/Dockerfile"
	"$KILN" --context "$W/ocictx" --kaniko-dir "$W/ocik" --no-push --cache-repo oci:/x \
		--cache >"$W/cache.out" 2>&1 || rc=$?
	assert_eq "$rc" 1 "exit status for an unimplemented flag value"
	assert_contains "$(cat "$W/cache.out")" "an OCI layout as the cache is not implemented in kiln" "error"
}

errors_name_the_line() {
	printf 'FROM %s\nRUN true\nRUNN oops\n' "$BUSYBOX_IMAGE" >"$W/ctx/Dockerfile"
	local rc=0
	kiln_build --context "$W/ctx" --no-push >"$W/bad.log" 2>&1 || rc=$?
	cat "$W/bad.log"
	assert_eq "$rc" 1 "exit status"
	assert_contains "$(cat "$W/bad.log")" "Dockerfile:3: unknown instruction: RUNN" error
	printf 'FROM %s\nCOPY missing.txt /x\n' "$BUSYBOX_IMAGE" >"$W/ctx/Dockerfile"
	rc=0
	kiln_build --context "$W/ctx" --no-push >"$W/missing.log" 2>&1 || rc=$?
	cat "$W/missing.log"
	assert_eq "$rc" 1 "exit status"
	assert_contains "$(cat "$W/missing.log")" "Dockerfile:2" error
	assert_contains "$(cat "$W/missing.log")" "missing.txt" error
	rc=0
	kiln_build --context "$W/nonexistent" --no-push >"$W/ctx.log" 2>&1 || rc=$?
	cat "$W/ctx.log"
	assert_eq "$rc" 1 "exit status"
	assert_contains "$(cat "$W/ctx.log")" "nonexistent" error
	# options are checked before the build starts: before the context is even looked at
	rc=0
	kiln_build --context "$W/nonexistent" --no-push --snapshot-mode=bogus >"$W/mode.log" 2>&1 || rc=$?
	cat "$W/mode.log"
	assert_eq "$rc" 1 "exit status"
	assert_contains "$(cat "$W/mode.log")" "bogus is not a valid snapshot mode" error
	! grep -q nonexistent "$W/mode.log" || fail "the context was resolved before the options were checked"
}

json_logs() {
	printf 'FROM %s\nENV A=1\n' "$BUSYBOX_IMAGE" >"$W/ctx/Dockerfile"
	"$KILN" --kaniko-dir "$W/k-json" --insecure-pull --context "$W/ctx" --no-push \
		--log-format json 2>"$W/json.log"
	jq -e -s 'length > 3 and all(.[]; has("level") and has("msg") and has("time"))' \
		"$W/json.log" >/dev/null || { cat "$W/json.log"; fail "not one JSON object per line"; }
}

multistage_and_heredocs() {
	cat >"$W/ctx/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE AS builder
WORKDIR /src
RUN <<EOF
set -e
echo "compiled" > /src/out.bin
chmod 750 /src/out.bin
EOF
COPY <<EOF /src/notes.txt
built by \${HOSTNAME:-kiln}
EOF

FROM $BUSYBOX_IMAGE
COPY --from=builder /src/out.bin /src/notes.txt /opt/
COPY --from=0 --chown=app:app --chmod=640 /src/out.bin /opt/owned.bin
CMD ["cat", "/opt/out.bin"]
DOCKERFILE
	kiln_build --context "$W/ctx" --destination "$KILN_TEST_REGISTRY/multi:it" >"$W/multi.log" 2>&1 ||
		{ cat "$W/multi.log"; fail "build failed"; }
	unpack_image "$KILN_TEST_REGISTRY/multi:it" "$W/multi"
	local r=$W/multi/rootfs
	assert_eq "$(cat "$r/opt/out.bin")" compiled "heredoc RUN output, copied across stages"
	assert_file_mode "$r/opt/out.bin" 750
	assert_eq "$(cat "$r/opt/notes.txt")" "built by kiln" "COPY heredoc"
	assert_owner "$r/opt/owned.bin" 1000:1000
	assert_file_mode "$r/opt/owned.bin" 640
	[ ! -e "$r/src" ] || fail "the builder stage's files leaked into the final image"
}

t_run "usage, exit codes, executor name, refused flags" usage_and_exit_codes
t_run "errors name the Dockerfile line" errors_name_the_line
t_run "--log-format json is one object per line" json_logs
t_run "multi-stage COPY --from, heredoc RUN and COPY, --chown/--chmod" multistage_and_heredocs
t_done
