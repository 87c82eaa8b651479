#!/usr/bin/env bash
# test_runner.sh — defects that failed real CI jobs in the default mode (issue 13): concurrent
# stages and leaked write descriptors (ETXTBSY), --cleanup with the private stage tmpfs, output
# files that are devices, symlinks or bind mounts, --ignore-path in every isolation mode,
# --custom-platform validation, the bounded blob store.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
source "$KILN_TOP/tests/lib/runc.sh"
W=$KILN_TEST_WORK/runner
mkdir -p "$W"

# --- 1. concurrent stages: no "Text file busy" -------------------------------------------------
# three independent stages, each extracting its base and running a command, while the others
# extract theirs: a child forked by one stage must never hold another stage's file open for
# writing when that stage execs it
concurrent_stages_never_etxtbsy() {
	mkdir -p "$W/conc"
	cat >"$W/conc/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE AS a
RUN sleep 1 && echo a > /a
FROM $BUSYBOX_IMAGE AS b
RUN sleep 1 && echo b > /b
FROM $DEBIAN_IMAGE AS c
RUN sleep 1 && echo c > /c
FROM $BUSYBOX_IMAGE
COPY --from=a /a /a
COPY --from=b /b /b
COPY --from=c /c /c
DOCKERFILE
	# kiln runs up to min(CPUs, 4) stages at once: the three run together, as on a 4-CPU CI
	# runner, whatever this machine has (sysconf reads /sys/devices/system/cpu/online)
	echo 0-3 >"$W/conc/online"
	local i failed=0 n=${KILN_CONC_RUNS:-20}
	for i in $(seq 1 "$n"); do
		local kdir=$W/conc/k$i rc=0
		unshare -m sh -c 'mount --bind "$1" /sys/devices/system/cpu/online && shift && exec "$@"' \
			sh "$W/conc/online" "$KILN" --kaniko-dir "$kdir" --insecure-pull --log-format text \
			--context "$W/conc" --no-push >"$W/conc/$i.log" 2>&1 || rc=$?
		if [ "$rc" -ne 0 ]; then
			failed=$((failed + 1))
			echo "build $i: exit $rc: $(grep -i 'error' "$W/conc/$i.log" | tail -n 1)"
		fi
		rm -rf "$kdir"
	done
	echo "$failed of $n builds failed"
	# the default mode, where it failed: chroot with the stage roots in the private tmpfs
	assert_contains "$(cat "$W/conc/1.log")" "Stage roots in memory" "build 1's log"
	[ "$failed" -eq 0 ] || fail "$failed of $n builds of three concurrent stages failed"
}

# --- the executor images under runc ---------------------------------------------------------
# test_executor_image.sh builds them from this tree (it runs first in the suite); run alone,
# this file builds them the same way. KILN_EXECUTOR_SRC names another tree to build them from.
EXECUTOR=$KILN_TEST_REGISTRY/kiln/executor:latest
DEBUG=$KILN_TEST_REGISTRY/kiln/executor:debug
executor_images() {
	if [ -z "${KILN_EXECUTOR_SRC:-}" ] &&
		skopeo inspect --tls-verify=false --raw "docker://$EXECUTOR" >/dev/null 2>&1 &&
		skopeo inspect --tls-verify=false --raw "docker://$DEBUG" >/dev/null 2>&1; then
		return 0
	fi
	local t
	for t in executor debug; do
		kiln_build --context "${KILN_EXECUTOR_SRC:-$KILN_TOP}" --dockerfile deploy/Dockerfile \
			--target "$t" --build-arg BASE="$DEBIAN_IMAGE" \
			--destination "$KILN_TEST_REGISTRY/kiln/executor:$([ $t = executor ] && echo latest || echo debug)" \
			>"$W/image-$t.log" 2>&1 || { tail -n 20 "$W/image-$t.log"; return 1; }
	done
}
# built once, by the first test that needs them (t_run runs each test in a subshell)
images_ok() {
	if [ ! -f "$W/images.done" ] && [ ! -f "$W/images.failed" ]; then
		if executor_images >"$W/images.log" 2>&1; then
			: >"$W/images.done"
		else
			: >"$W/images.failed"
		fi
	fi
	[ -f "$W/images.done" ] || { cat "$W/images.log"; fail "building the executor images failed"; }
}

# --- 2. --cleanup in the default mode ---------------------------------------------------------
cleanup_files() {
	mkdir -p "$W/cleanup"
	cat >"$W/cleanup/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE AS build
RUN echo built > /built
FROM $BUSYBOX_IMAGE
COPY --from=build /built /built
RUN cat /built
DOCKERFILE
}

# the host, auto → chroot with the stage roots in kiln's private tmpfs
cleanup_default_mode() {
	cleanup_files
	local kdir=$W/cleanup/k rc=0
	"$KILN" --kaniko-dir "$kdir" --insecure --insecure-pull --log-format text \
		--context "$W/cleanup" --cleanup --destination "$KILN_TEST_REGISTRY/runner/cleanup:host" \
		>"$W/cleanup/host.log" 2>&1 || rc=$?
	cat "$W/cleanup/host.log"
	assert_eq "$rc" 0 "exit status with --cleanup"
	assert_contains "$(cat "$W/cleanup/host.log")" "Stage roots in memory" "kiln's log (default mode)"
	skopeo inspect --tls-verify=false --raw "docker://$KILN_TEST_REGISTRY/runner/cleanup:host" >/dev/null ||
		fail "nothing pushed"
	[ ! -e "$kdir/stages" ] || fail "\$KANIKO_DIR/stages left behind: $(ls -A "$kdir/stages")"
	# a second build in the same directory works
	"$KILN" --kaniko-dir "$kdir" --insecure --insecure-pull --log-format text \
		--context "$W/cleanup" --cleanup --no-push >"$W/cleanup/host2.log" 2>&1 ||
		{ cat "$W/cleanup/host2.log"; fail "second build with --cleanup failed"; }
}

# the executor image under runc (Docker's default capabilities: inplace), as a Kubernetes Job
cleanup_executor_image() {
	images_ok
	cleanup_files
	local b=$W/cleanup/runc
	runc_bundle "$DEBUG" "$b" --src-tls-verify=false
	runc_bind "$b" "$W/cleanup" /workspace
	runc_exec "$b" sh -c "/kaniko/executor --context=/workspace --insecure --insecure-pull \
		--cleanup --destination=$KILN_TEST_REGISTRY/runner/cleanup:runc && ls -A /kaniko/stages 2>&1; \
		echo status=\$?" >"$b.log" 2>&1 || { cat "$b.log"; fail "the job failed"; }
	cat "$b.log"
	assert_contains "$(cat "$b.log")" "Pushed $KILN_TEST_REGISTRY/runner/cleanup@sha256:" "kiln's log"
	assert_contains "$(cat "$b.log")" "No such file or directory" "/kaniko/stages after --cleanup"
}

# a Kubernetes Job whose pod is privileged (securityContext.privileged: true, as many GitLab
# Kubernetes runners are): every capability of the bounding set, no masked /proc paths, so
# --isolation=auto picks chroot with the stage roots in the private tmpfs, the mode where
# --cleanup failed with "rmdir '/kaniko/stages': Device or resource busy"
cleanup_executor_image_privileged() {
	images_ok
	cleanup_files
	local b=$W/cleanup/priv
	runc_bundle "$DEBUG" "$b" --src-tls-verify=false
	runc_privileged "$b" || fail "privileged bundle"
	runc_bind "$b" "$W/cleanup" /workspace
	runc_exec "$b" sh -c "/kaniko/executor --context=/workspace --insecure --insecure-pull \
		--cleanup --destination=$KILN_TEST_REGISTRY/runner/cleanup:priv; echo status=\$?; \
		ls -A /kaniko/stages 2>&1; echo ls=\$?" \
		>"$b.log" 2>&1 || { cat "$b.log"; fail "the job failed"; }
	cat "$b.log"
	local log
	log=$(cat "$b.log")
	assert_contains "$log" "Stage roots in memory" "kiln's log (chroot, private tmpfs)"
	assert_contains "$log" "status=0" "kiln's exit status with --cleanup"
	assert_not_contains "$log" "Device or resource busy" "kiln's log"
	assert_contains "$log" "Pushed $KILN_TEST_REGISTRY/runner/cleanup@sha256:" "kiln's log"
	skopeo inspect --tls-verify=false --raw "docker://$KILN_TEST_REGISTRY/runner/cleanup:priv" \
		>/dev/null || fail "nothing pushed"
	# the tmpfs was mounted in kiln's own mount namespace: the job sees the directory removed
	assert_contains "$log" "No such file or directory" "/kaniko/stages after --cleanup"
}

# --- 3. output files: bind mounts, devices, symlinks, failures after the push ----------------
outputs_files() {
	mkdir -p "$W/out"
	cat >"$W/out/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE
RUN echo out > /out
DOCKERFILE
}

# a Tekton step: the executor image (no shell), a host file bind-mounted at
# /dev/termination-log, the digest written there
tekton_termination_log() {
	images_ok
	outputs_files
	local b=$W/out/tekton
	: >"$W/out/termination-log"
	runc_bundle "$EXECUTOR" "$b" --src-tls-verify=false
	rm -f "$b/rootfs/.dockerenv"
	mkdir -p "$W/out/sa"
	: >"$W/out/sa/token"
	runc_bind "$b" "$W/out/sa" /var/run/secrets/kubernetes.io/serviceaccount ro
	runc_bind "$b" "$W/out" /workspace
	runc_bind "$b" "$W/out/termination-log" /dev/termination-log
	runc_exec "$b" /kaniko/executor --context=/workspace --insecure --insecure-pull \
		--destination="$KILN_TEST_REGISTRY/runner/tekton:1" --digest-file=/dev/termination-log \
		>"$b.log" 2>&1 || { cat "$b.log"; fail "the step failed"; }
	cat "$b.log"
	local digest
	digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' \
		"docker://$KILN_TEST_REGISTRY/runner/tekton:1")
	assert_eq "$(cat "$W/out/termination-log")" "$digest" "the host's termination-log file"
}

# --digest-file=/dev/stderr: the digest goes to stderr, /dev/stderr stays a symlink
digest_file_stderr() {
	images_ok
	outputs_files
	local b=$W/out/stderr
	runc_bundle "$DEBUG" "$b" --src-tls-verify=false
	runc_bind "$b" "$W/out" /workspace
	runc_exec "$b" sh -c "/kaniko/executor --context=/workspace --insecure --insecure-pull \
		--destination=$KILN_TEST_REGISTRY/runner/stderr:1 --digest-file=/dev/stderr \
		2>/workspace/stderr.txt; echo status=\$?; ls -l /dev/stderr" >"$b.log" 2>&1 ||
		{ cat "$b.log"; fail "the job failed"; }
	cat "$b.log"
	assert_contains "$(cat "$b.log")" "status=0" "kiln's exit status"
	assert_contains "$(cat "$b.log")" "/dev/stderr -> /proc/self/fd/2" "/dev/stderr after the build"
	local digest
	digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' \
		"docker://$KILN_TEST_REGISTRY/runner/stderr:1")
	assert_contains "$(cat "$W/out/stderr.txt")" "$digest" "kiln's stderr"
	# the log before the digest is still there: stderr was written, not truncated
	assert_contains "$(cat "$W/out/stderr.txt")" "Pushing image to" "kiln's stderr"
}

# a file kiln cannot write: the image is pushed, then the build fails naming the file
unwritable_output_files() {
	outputs_files
	mkdir -p "$W/out/ro"
	local rc=0
	"$KILN" --kaniko-dir "$W/out/k" --insecure --insecure-pull --log-format text \
		--context "$W/out" --destination "$KILN_TEST_REGISTRY/runner/unwritable:1" \
		--digest-file="$W/out/ro" --image-name-with-digest-file=/etc/hostname/names \
		--tar-path=/proc/version >"$W/out/unwritable.log" 2>&1 || rc=$?
	cat "$W/out/unwritable.log"
	[ "$rc" -ne 0 ] || fail "exit status 0 with an unwritable --digest-file"
	skopeo inspect --tls-verify=false --raw "docker://$KILN_TEST_REGISTRY/runner/unwritable:1" \
		>/dev/null || fail "the image was not pushed"
	local log
	log=$(cat "$W/out/unwritable.log")
	assert_contains "$log" "--digest-file: '$W/out/ro'" "the error"
	assert_contains "$log" "/etc/hostname/names" "the error"
	assert_contains "$log" "/proc/version" "the error"
	assert_contains "$log" "Pushed $KILN_TEST_REGISTRY/runner/unwritable@sha256:" "kiln's log"
	[ -f /etc/hostname ] || fail "/etc/hostname replaced"
}

# a symlinked digest file: the link stays, its target gets the digest; a fifo is written in place
digest_file_symlink_and_fifo() {
	outputs_files
	rm -f "$W/out/link" "$W/out/real" "$W/out/fifo"
	ln -s real "$W/out/link"
	mkfifo "$W/out/fifo"
	# a reader that gives up after 120 s (a kiln that replaces the fifo never opens it)
	timeout 120 cat "$W/out/fifo" >"$W/out/fifo.txt" &
	local reader=$!
	"$KILN" --kaniko-dir "$W/out/k2" --insecure-pull --log-format text --context "$W/out" \
		--no-push --digest-file="$W/out/link" --image-name-tag-with-digest-file="$W/out/fifo" \
		--destination "$KILN_TEST_REGISTRY/runner/link:1" >"$W/out/link.log" 2>&1 ||
		{ kill "$reader"; cat "$W/out/link.log"; fail "build failed"; }
	wait "$reader" || fail "nothing was written into the fifo"
	[ -L "$W/out/link" ] || fail "the symlink was replaced"
	assert_contains "$(cat "$W/out/real")" "sha256:" "the symlink's target"
	[ -p "$W/out/fifo" ] || fail "the fifo was replaced"
	assert_contains "$(cat "$W/out/fifo.txt")" "$KILN_TEST_REGISTRY/runner/link:1@sha256:" "read from the fifo"
}

# --tar-path and --image-name-with-digest-file onto bind-mounted files (a Kubernetes subPath
# volume, a Tekton result): written in place, the host's files get the tarball and the name
bind_mounted_outputs() {
	outputs_files
	rm -rf "$W/out/bind" "$W/out/mnt"
	mkdir -p "$W/out/bind" "$W/out/mnt"
	: >"$W/out/bind/image.tar"
	: >"$W/out/bind/names"
	: >"$W/out/mnt/image.tar"
	: >"$W/out/mnt/names"
	unshare -m sh -c 'mount --bind "$1" "$2" && mount --bind "$3" "$4" && shift 4 && exec "$@"' \
		sh "$W/out/bind/image.tar" "$W/out/mnt/image.tar" "$W/out/bind/names" "$W/out/mnt/names" \
		"$KILN" --kaniko-dir "$W/out/k3" --insecure --insecure-pull --log-format text \
		--context "$W/out" --destination "$KILN_TEST_REGISTRY/runner/bind:1" \
		--tar-path="$W/out/mnt/image.tar" --image-name-with-digest-file="$W/out/mnt/names" \
		>"$W/out/bind.log" 2>&1 || { cat "$W/out/bind.log"; fail "build failed"; }
	cat "$W/out/bind.log"
	tar -tf "$W/out/bind/image.tar" >"$W/out/bind/list" || fail "the host's file is no tarball"
	grep -qx manifest.json "$W/out/bind/list" || fail "no manifest.json in the tarball: $(cat "$W/out/bind/list")"
	assert_contains "$(cat "$W/out/bind/names")" "$KILN_TEST_REGISTRY/runner/bind@sha256:" \
		"the host's names file"
}

# --- 4. --ignore-path means the same in every mode --------------------------------------------
ignore_files() {
	mkdir -p "$W/ign"
	# the base has /opt/ignored/base: not extracted, so RUN does not see it
	cat >"$W/ign/Dockerfile.base" <<DOCKERFILE
FROM $BUSYBOX_IMAGE
RUN mkdir -p /opt/ignored && echo base > /opt/ignored/base
DOCKERFILE
	cat >"$W/ign/Dockerfile" <<DOCKERFILE
FROM $KILN_TEST_REGISTRY/runner/ignore-base:1
RUN if [ -e /opt/ignored/base ]; then echo extracted > /saw; else echo skipped > /saw; fi
RUN mkdir -p /opt/ignored/new && echo new > /opt/ignored/new/file && echo kept > /kept
DOCKERFILE
	"$KILN" --kaniko-dir "$W/ign/kb" --insecure --insecure-pull --log-format text \
		--context "$W/ign" --dockerfile Dockerfile.base \
		--destination "$KILN_TEST_REGISTRY/runner/ignore-base:1" >"$W/ign/base.log" 2>&1 ||
		{ cat "$W/ign/base.log"; return 1; }
}

# the image's own layers (the base's excluded) hold /kept and /saw but nothing under
# /opt/ignored
check_ignored_image() { # check_ignored_image <ref>
	local ref=$1 base_layers d
	base_layers=$(image_raw "$KILN_TEST_REGISTRY/runner/ignore-base:1" | jq -r '.layers[].digest')
	unpack_image "$ref" "$W/ign/img"
	assert_eq "$(cat "$W/ign/img/rootfs/saw")" skipped "/opt/ignored/base seen by RUN"
	assert_eq "$(cat "$W/ign/img/rootfs/kept")" kept /kept
	for d in $(image_raw "$ref" | jq -r '.layers[].digest'); do
		grep -qx "$d" <<<"$base_layers" && continue
		skopeo copy -q --src-tls-verify=false "docker://$ref" "dir:$W/ign/dir" >/dev/null
		if tar -tzf "$W/ign/dir/${d#sha256:}" | grep -q 'opt/ignored/'; then
			fail "layer $d holds $(tar -tzf "$W/ign/dir/${d#sha256:}" | grep 'opt/ignored/' | head -n 3)"
		fi
		rm -rf "$W/ign/dir"
	done
}

ignore_path_chroot() {
	ignore_files
	"$KILN" --kaniko-dir "$W/ign/k" --insecure --insecure-pull --log-format text \
		--context "$W/ign" --ignore-path=/opt/ignored \
		--destination "$KILN_TEST_REGISTRY/runner/ignore:chroot" >"$W/ign/chroot.log" 2>&1 ||
		{ cat "$W/ign/chroot.log"; fail "build failed"; }
	assert_not_contains "$(cat "$W/ign/chroot.log")" "Isolation: inplace" "kiln's log"
	check_ignored_image "$KILN_TEST_REGISTRY/runner/ignore:chroot"
}

ignore_path_inplace() {
	images_ok
	ignore_files
	local b=$W/ign/runc
	runc_bundle "$EXECUTOR" "$b" --src-tls-verify=false
	runc_bind "$b" "$W/ign" /workspace
	runc_exec "$b" /kaniko/executor --context=/workspace --insecure --insecure-pull \
		--ignore-path=/opt/ignored --destination="$KILN_TEST_REGISTRY/runner/ignore:inplace" \
		>"$b.log" 2>&1 || { cat "$b.log"; fail "the build failed"; }
	assert_contains "$(cat "$b.log")" "Isolation: inplace" "kiln's log"
	check_ignored_image "$KILN_TEST_REGISTRY/runner/ignore:inplace"
}

# --- 5. --custom-platform ------------------------------------------------------------------
custom_platform_invalid() {
	mkdir -p "$W/plat"
	printf 'FROM %s\n' "$BUSYBOX_IMAGE" >"$W/plat/Dockerfile"
	local rc=0 v
	for v in foo linux/amd64,linux/arm64 linux//amd64; do
		rc=0
		"$KILN" --kaniko-dir "$W/plat/k" --context "$W/plat" --no-push --custom-platform "$v" \
			>"$W/plat/bad.log" 2>&1 || rc=$?
		cat "$W/plat/bad.log"
		assert_eq "$rc" 1 "exit status for --custom-platform $v"
		assert_contains "$(cat "$W/plat/bad.log")" "Invalid platform \"$v\"" "error for $v"
	done
	assert_contains "$(cat "$W/plat/bad.log")" "platform specifier component" "error"
	"$KILN" --kaniko-dir "$W/plat/k" --context "$W/plat" --no-push \
		--custom-platform linux/amd64,linux/arm64 >"$W/plat/list.log" 2>&1 || true
	assert_contains "$(cat "$W/plat/list.log")" "a list of platforms is not supported" "error"
}

# busybox here is a single-platform linux/amd64 image: the config says what was asked for
custom_platform_other_arch() {
	mkdir -p "$W/plat"
	cat >"$W/plat/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE
ARG TARGETARCH
ARG TARGETPLATFORM
RUN echo "\$TARGETPLATFORM \$TARGETARCH" > /target
DOCKERFILE
	"$KILN" --kaniko-dir "$W/plat/k2" --insecure --insecure-pull --log-format text \
		--context "$W/plat" --custom-platform linux/aarch64 \
		--destination "$KILN_TEST_REGISTRY/runner/platform:arm64" >"$W/plat/arm.log" 2>&1 ||
		{ cat "$W/plat/arm.log"; fail "build failed"; }
	cat "$W/plat/arm.log"
	# the text log format escapes the quotes: look at the words
	local warning
	warning=$(grep 'was pulled with platform' "$W/plat/arm.log") || fail "no platform warning"
	assert_contains "$warning" "linux/amd64" "the warning (base platform)"
	assert_contains "$warning" "expected" "the warning"
	assert_contains "$warning" "linux/arm64/v8" "the warning (requested platform)"
	local cfg
	cfg=$(image_config "$KILN_TEST_REGISTRY/runner/platform:arm64")
	assert_eq "$(jq -r '.os + "/" + .architecture + "/" + (.variant // "")' <<<"$cfg")" \
		linux/arm64/v8 "config platform"
	unpack_image "$KILN_TEST_REGISTRY/runner/platform:arm64" "$W/plat/img"
	assert_eq "$(cat "$W/plat/img/rootfs/target")" "linux/arm64 arm64" "TARGETPLATFORM TARGETARCH (BuildKit's form)"
}

# --- 7. a bounded blob store -------------------------------------------------------------------
blobs_mib() { # the store's size in MiB (rounded up)
	local bytes
	bytes=$(find "$1/blobs/sha256" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
	echo $(((bytes + 1048575) / 1048576))
}

blob_store_bounded() {
	mkdir -p "$W/blobs/deb" "$W/blobs/bb1" "$W/blobs/bb2"
	printf 'FROM %s\nRUN echo deb > /deb\n' "$DEBIAN_IMAGE" >"$W/blobs/deb/Dockerfile"
	printf 'FROM %s\nRUN echo one > /one\n' "$BUSYBOX_IMAGE" >"$W/blobs/bb1/Dockerfile"
	printf 'FROM %s\nRUN head -c 3000000 /dev/urandom > /two\n' "$BUSYBOX_IMAGE" >"$W/blobs/bb2/Dockerfile"
	local kdir=$W/blobs/k d n=0
	# unbounded, the store holds everything the three builds pulled and built
	for d in deb bb1 bb2; do
		"$KILN" --kaniko-dir "$kdir-unbounded" --insecure --insecure-pull --log-format text \
			--context "$W/blobs/$d" --blob-store-size=unlimited \
			--destination "$KILN_TEST_REGISTRY/runner/blobs-$d:1" >"$W/blobs/u-$d.log" 2>&1 ||
			{ cat "$W/blobs/u-$d.log"; fail "unbounded build $d failed"; }
	done
	local unbounded
	unbounded=$(blobs_mib "$kdir-unbounded")
	echo "unbounded store after three builds: $unbounded MiB"
	[ "$unbounded" -gt 12 ] || fail "the unbounded store is only $unbounded MiB: no test"
	# bounded at 8 MiB (flag, then the environment variable): under it after every build
	for d in deb bb1 bb2 deb bb1; do
		n=$((n + 1))
		local rc=0
		if [ $((n % 2)) = 0 ]; then
			KILN_BLOB_STORE_SIZE=8M "$KILN" --kaniko-dir "$kdir" --insecure --insecure-pull \
				--log-format text --context "$W/blobs/$d" \
				--destination "$KILN_TEST_REGISTRY/runner/blobs-$d:$n" >"$W/blobs/$n.log" 2>&1 || rc=$?
		else
			"$KILN" --kaniko-dir "$kdir" --insecure --insecure-pull --log-format text \
				--context "$W/blobs/$d" --blob-store-size=8M \
				--destination "$KILN_TEST_REGISTRY/runner/blobs-$d:$n" >"$W/blobs/$n.log" 2>&1 || rc=$?
		fi
		[ "$rc" = 0 ] || { cat "$W/blobs/$n.log"; fail "build $n ($d) failed"; }
		local size
		size=$(blobs_mib "$kdir")
		echo "after build $n ($d): $size MiB"
		[ "$size" -le 8 ] || fail "the store holds $size MiB after build $n, over the 8 MiB bound"
	done
	# build 4 pulled debian again (its layers had been evicted after build 1) and removed them
	assert_contains "$(cat "$W/blobs/4.log")" "Blob store: removed" "kiln's log of build 4"
	assert_contains "$(cat "$W/blobs/4.log")" "Retrieving image manifest $DEBIAN_IMAGE" "build 4"
	# the last build's base layer was used last: it is kept
	local base_layer
	base_layer=$(image_raw "$BUSYBOX_IMAGE" | jq -r '.layers[0].digest')
	[ -f "$kdir/blobs/sha256/${base_layer#sha256:}" ] || fail "the most recently used base layer was evicted"
	# --cleanup empties it
	"$KILN" --kaniko-dir "$kdir" --insecure --insecure-pull --log-format text --cleanup \
		--context "$W/blobs/bb1" --destination "$KILN_TEST_REGISTRY/runner/blobs-bb1:c" \
		>"$W/blobs/c.log" 2>&1 || { cat "$W/blobs/c.log"; fail "--cleanup build failed"; }
	assert_eq "$(find "$kdir/blobs/sha256" -type f | wc -l)" 0 "blobs left after --cleanup"
}

# two kiln processes share a store: the one that finishes first removes nothing while the
# other runs, and the other still pushes every layer
blob_store_shared() {
	mkdir -p "$W/blobs/slow" "$W/blobs/fast"
	printf 'FROM %s\nRUN sleep 6 && head -c 2000000 /dev/urandom > /slow\n' "$BUSYBOX_IMAGE" >"$W/blobs/slow/Dockerfile"
	printf 'FROM %s\nRUN echo fast > /fast\n' "$BUSYBOX_IMAGE" >"$W/blobs/fast/Dockerfile"
	local kdir=$W/blobs/shared rc=0
	"$KILN" --kaniko-dir "$kdir" --insecure --insecure-pull --log-format text \
		--context "$W/blobs/slow" --blob-store-size=0 \
		--destination "$KILN_TEST_REGISTRY/runner/blobs-slow:1" >"$W/blobs/slow.log" 2>&1 &
	local slow=$!
	sleep 2
	"$KILN" --kaniko-dir "$kdir" --insecure --insecure-pull --log-format text -v debug \
		--context "$W/blobs/fast" --blob-store-size=0 \
		--destination "$KILN_TEST_REGISTRY/runner/blobs-fast:1" >"$W/blobs/fast.log" 2>&1 ||
		{ cat "$W/blobs/fast.log"; fail "the fast build failed"; }
	kill -0 "$slow" 2>/dev/null || fail "the slow build ended before the fast one: no test"
	assert_contains "$(cat "$W/blobs/fast.log")" "another kiln is using" "the fast build's log"
	wait "$slow" || rc=$?
	[ "$rc" = 0 ] || { cat "$W/blobs/slow.log"; fail "the slow build failed"; }
	unpack_image "$KILN_TEST_REGISTRY/runner/blobs-slow:1" "$W/blobs/slow-img"
	assert_eq "$(wc -c <"$W/blobs/slow-img/rootfs/slow")" 2000000 "/slow in the pushed image"
	# the last one out trims
	assert_eq "$(find "$kdir/blobs/sha256" -type f | wc -l)" 0 "blobs left with a 0 bound"
}

# KILN_RUNNER_ONLY=<regex of function names> runs only those tests
run_t() {
	[[ -z "${KILN_RUNNER_ONLY:-}" || "$2" =~ $KILN_RUNNER_ONLY ]] || return 0
	t_run "$@"
}

run_t "three concurrent stages, 20 builds in the default mode: no Text file busy" concurrent_stages_never_etxtbsy
run_t "--cleanup in the default mode (stage roots in the private tmpfs): exit 0, pushed" cleanup_default_mode
run_t "--cleanup in the debug image under runc" cleanup_executor_image
run_t "--cleanup in the debug image under privileged runc (chroot, stage roots in tmpfs)" cleanup_executor_image_privileged
run_t "Tekton step: --digest-file=/dev/termination-log bind-mounted from the host" tekton_termination_log
run_t "--digest-file=/dev/stderr writes to stderr, /dev/stderr stays a symlink" digest_file_stderr
run_t "unwritable output files: image pushed, then an error naming each file" unwritable_output_files
run_t "--tar-path and --image-name-with-digest-file onto bind-mounted files: written in place" bind_mounted_outputs
run_t "--digest-file through a symlink, --image-name-tag-with-digest-file into a fifo" digest_file_symlink_and_fifo
run_t "--ignore-path in chroot mode: not extracted, not in a layer" ignore_path_chroot
run_t "--ignore-path in place (executor image under runc): not extracted, not in a layer" ignore_path_inplace
run_t "--custom-platform: foo, a list, an empty component: Invalid platform" custom_platform_invalid
run_t "--custom-platform linux/aarch64 over an amd64-only base: arm64 config and a warning" custom_platform_other_arch
run_t "--blob-store-size / KILN_BLOB_STORE_SIZE: store under the bound, LRU kept, --cleanup empties" blob_store_bounded
run_t "a store shared by two kiln processes: nothing removed under a running build" blob_store_shared
t_done
