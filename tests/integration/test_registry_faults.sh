#!/usr/bin/env bash
# test_registry_faults.sh — the real kiln binary pulling and pushing through
# tests/lib/faultproxy.py in front of the suite's registry: 503/429/connection resets on pulls
# are retried (--image-download-retry), a failed push is redone (--push-retry), a corrupted blob
# is refused and never stored, no manifest is PUT after a failed blob upload, and chunked
# uploads (KILN_UPLOAD_CHUNK_SIZE) reach the registry as PATCH requests.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
source "$KILN_TOP/tests/lib/registry.sh"
W=$KILN_TEST_WORK/faults
mkdir -p "$W/ctx"
source "$KILN_TOP/tests/lib/faultproxy.sh"
trap 'proxy_stop' EXIT

# the digest of the busybox base's (only) layer
LAYER=$(image_raw "$BUSYBOX_IMAGE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')
[ -n "$LAYER" ] || exit 1

build_via_proxy() { # build_via_proxy <log> <kaniko-dir> <dockerfile-body> <kiln args...>
	local log=$1 kdir=$2 body=$3
	shift 3
	printf 'FROM %s/busybox:latest\n%s\n' "$PROXY" "$body" >"$W/ctx/Dockerfile"
	"$KILN" --kaniko-dir "$kdir" --insecure --insecure-pull --log-format text \
		--context "$W/ctx" "$@" >"$log" 2>&1
}

pull_survives_503_429_and_reset() {
	proxy_start pull \
		--rule fail GET '/v2/busybox/manifests/' 503 1 \
		--rule fail GET '/v2/busybox/blobs/' 429 1 \
		--rule reset GET "/v2/busybox/blobs/$LAYER" - 1
	build_via_proxy "$W/pull.log" "$W/k-pull" 'RUN echo pulled > /p' --no-push \
		--image-download-retry 3 || { cat "$W/pull.log" "$PROXY_LOG"; fail "build failed"; }
	cat "$PROXY_LOG"
	local log
	log=$(cat "$PROXY_LOG")
	assert_contains "$log" "-> 503 injected=fail" "proxy log"
	assert_contains "$log" "-> 429 injected=fail" "proxy log"
	assert_contains "$log" "GET /v2/busybox/blobs/$LAYER -> 200 injected=reset" "proxy log"
	# the reset transfer was repeated and completed
	[ "$(grep -c "GET /v2/busybox/blobs/$LAYER -> 200\$" "$PROXY_LOG")" -ge 1 ] ||
		fail "the layer was not fetched again after the reset"
	assert_exists "$W/k-pull/blobs/sha256/${LAYER#sha256:}"
}

pull_without_retries_fails_on_503() {
	proxy_start noretry --rule fail GET '/v2/busybox/manifests/' 503 1
	local rc=0
	build_via_proxy "$W/noretry.log" "$W/k-noretry" 'RUN true' --no-push || rc=$?
	cat "$W/noretry.log"
	[ "$rc" -ne 0 ] || fail "a 503 without --image-download-retry succeeded"
	assert_contains "$(cat "$W/noretry.log")" "503 Service Unavailable" "error"
}

push_retry_redoes_a_failed_push() {
	proxy_start push --rule fail PUT '/blobs/uploads/' 500 1
	# the destination names the proxy as localhost: another registry than the base's, so no
	# cross-repository mount pass absorbs the failure and the whole push is redone
	local dest=localhost:${PROXY#127.0.0.1:}/faults/pushed:1
	build_via_proxy "$W/push.log" "$W/k-push" 'RUN echo pushed > /q' \
		--destination "$dest" --push-retry 2 ||
		{ cat "$W/push.log" "$PROXY_LOG"; fail "build failed"; }
	cat "$W/push.log" "$PROXY_LOG"
	assert_contains "$(cat "$PROXY_LOG")" "-> 500 injected=fail" "proxy log"
	assert_contains "$(cat "$W/push.log")" "Retrying operation after 1s due to" "log"
	assert_contains "$(cat "$W/push.log")" "Pushed ${dest%:1}@sha256:" "log"
	grep -q '^PUT /v2/faults/pushed/manifests/1 -> 201$' "$PROXY_LOG" || fail "no manifest PUT"
	skopeo inspect --tls-verify=false "docker://$KILN_TEST_REGISTRY/faults/pushed:1" >/dev/null ||
		fail "pushed image not readable"
}

corrupted_blob_is_refused_and_not_stored() {
	proxy_start corrupt --rule corrupt GET "/v2/busybox/blobs/$LAYER" - -1
	local rc=0
	build_via_proxy "$W/corrupt.log" "$W/k-corrupt" 'RUN true' --no-push \
		--image-download-retry 2 || rc=$?
	cat "$W/corrupt.log" "$PROXY_LOG"
	[ "$rc" -ne 0 ] || fail "a corrupted layer was accepted"
	assert_contains "$(cat "$W/corrupt.log")" "digest mismatch" "error"
	assert_contains "$(cat "$W/corrupt.log")" "$LAYER" "error names the blob"
	[ ! -e "$W/k-corrupt/blobs/sha256/${LAYER#sha256:}" ] || fail "the corrupted blob was stored"
	# nothing half-written left next to the blobs either (blobs/lock is the store's eviction
	# lock, util/blobstore.c, there in every store)
	local stray
	stray=$(find "$W/k-corrupt/blobs" -type f | grep -v -E '/sha256/[0-9a-f]{64}$|/blobs/lock$' || true)
	assert_eq "$stray" "" "temporary files in the blob store"
}

no_manifest_put_after_a_failed_upload() {
	proxy_start permanent --rule fail PUT '/blobs/uploads/' 500 -1
	local rc=0
	build_via_proxy "$W/perm.log" "$W/k-perm" 'RUN echo x > /x' \
		--destination "$PROXY/faults/never:1" --push-retry 1 || rc=$?
	cat "$W/perm.log" "$PROXY_LOG"
	[ "$rc" -ne 0 ] || fail "the push succeeded although every blob upload failed"
	assert_contains "$(cat "$W/perm.log")" \
		"error pushing image: failed to push to destination $PROXY/faults/never:1" "error"
	grep -q 'injected=fail' "$PROXY_LOG" || fail "no upload was attempted"
	if grep -E '^PUT /v2/[^ ]*/manifests/' "$PROXY_LOG"; then
		fail "a manifest was PUT after a failed blob upload"
	fi
}

chunked_upload_through_kiln() {
	proxy_start chunked
	# 1 KiB chunks: the new layer (about 6 KiB) takes several PATCHes
	KILN_UPLOAD_CHUNK_SIZE=1024 build_via_proxy "$W/chunk.log" "$W/k-chunk" \
		'RUN head -c 20000 /bin/busybox > /blob' --destination "$PROXY/faults/chunked:1" ||
		{ cat "$W/chunk.log"; fail "build failed"; }
	cat "$PROXY_LOG"
	[ "$(grep -c '^PATCH /v2/faults/chunked/blobs/uploads/.* -> 202$' "$PROXY_LOG")" -ge 3 ] ||
		fail "no chunked upload"
	grep -q '^PUT /v2/faults/chunked/blobs/uploads/.*digest=sha256:.* -> 201$' "$PROXY_LOG" ||
		fail "no closing PUT ?digest="
	unpack_image "$KILN_TEST_REGISTRY/faults/chunked:1" "$W/unpacked"
	cmp <(head -c 20000 "$W/unpacked/rootfs/bin/busybox") "$W/unpacked/rootfs/blob" ||
		fail "the chunked layer does not hold the file"
}

redirect_does_not_forward_credentials() {
	# "storage": a second proxy on another port, in front of the same registry
	python3 "$KILN_TOP/tests/lib/faultproxy.py" --upstream "$KILN_TEST_REGISTRY" \
		--port-file "$W/storage.port" --log "$W/storage.log" 2>"$W/storage.err" &
	local spid=$!
	local i
	for i in $(seq 1 100); do
		[ -s "$W/storage.port" ] && break
		sleep 0.05
	done
	local storage
	storage=http://127.0.0.1:$(cat "$W/storage.port")
	# the registry asks for Basic credentials, then sends blob GETs to "storage"
	proxy_start redirect --rule fail GET '^/v2/$' 401 1 \
		--rule redirect GET '/blobs/sha256:' "$storage" -1
	mkdir -p "$W/docker"
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$PROXY" "$(printf 'user:s3cr3t-pass' | base64 -w0)" \
		>"$W/docker/config.json"
	local rc=0
	DOCKER_CONFIG=$W/docker build_via_proxy "$W/redir.log" "$W/k-redir" 'RUN true' --no-push || rc=$?
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	cat "$PROXY_LOG" "$W/storage.log"
	[ "$rc" -eq 0 ] || { cat "$W/redir.log"; fail "build through a redirecting registry failed"; }
	grep -q 'injected=redirect auth=yes' "$PROXY_LOG" || fail "credentials never reached the registry"
	grep -q '^GET /v2/busybox/blobs/sha256:.* -> 200' "$W/storage.log" ||
		fail "blobs were not fetched from storage"
	! grep -q 'auth=yes' "$W/storage.log" || fail "Authorization was forwarded to another host"
}

t_run "pull survives 503, 429 and a reset mid-body with --image-download-retry 3" pull_survives_503_429_and_reset
t_run "a 503 without retries fails with the status" pull_without_retries_fails_on_503
t_run "--push-retry redoes a push after a failed blob upload" push_retry_redoes_a_failed_push
t_run "a corrupted blob is refused with a digest mismatch and not stored" corrupted_blob_is_refused_and_not_stored
t_run "no manifest PUT after a permanent blob upload failure" no_manifest_put_after_a_failed_upload
t_run "chunked uploads (KILN_UPLOAD_CHUNK_SIZE): PATCH chunks, then PUT ?digest=" chunked_upload_through_kiln
t_run "a redirect to another host gets the blob but never the credentials" redirect_does_not_forward_credentials
t_done
