#!/usr/bin/env bash
# test_hello.sh — the README example end to end: build examples/hello from the local busybox,
# push it, and read it back with skopeo and umoci; plus the outputs (--digest-file,
# --tar-path, --no-push) and exit-status propagation.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
W=$KILN_TEST_WORK/hello
mkdir -p "$W"
REF=$KILN_TEST_REGISTRY/hello:it

build_hello() {
	kiln_build --context "$KILN_TOP/examples/hello" --dockerfile Dockerfile \
		--build-arg "REGISTRY=$KILN_TEST_REGISTRY" --destination "$REF" \
		--digest-file "$W/digest" --tar-path "$W/hello.tar" >"$W/build.log" 2>&1 ||
		{ cat "$W/build.log"; fail "kiln build failed"; }
	cat "$W/build.log"
	local pushed
	pushed=$(skopeo inspect --tls-verify=false "docker://$REF" | jq -r .Digest)
	assert_eq "$(cat "$W/digest")" "$pushed" "digest file vs registry"
	assert_contains "$(cat "$W/build.log")" "Pushed $KILN_TEST_REGISTRY/hello@$pushed" "log"
}

config_fields() {
	local c
	c=$(image_config "$REF")
	assert_eq "$(jq -c .config.Cmd <<<"$c")" '["/app/hello.sh"]' Cmd
	assert_eq "$(jq -r .config.WorkingDir <<<"$c")" /app WorkingDir
	assert_eq "$(jq -r .config.User <<<"$c")" app User
	assert_eq "$(jq -c .config.ExposedPorts <<<"$c")" '{"8080/tcp":{}}' ExposedPorts
	assert_eq "$(jq -r '.config.Labels["org.opencontainers.image.title"]' <<<"$c")" hello Label
	assert_contains "$(jq -c .config.Env <<<"$c")" '"GREETING=hello"' Env
	assert_contains "$(jq -c .config.Env <<<"$c")" '"APP_HOME=/app"' Env
	assert_eq "$(jq -r .architecture <<<"$c")" amd64 architecture
	# one history entry per instruction; layers only for filesystem steps
	assert_eq "$(jq '[.history[] | select(.empty_layer != true)] | length' <<<"$c")" \
		"$(jq '.rootfs.diff_ids | length' <<<"$c")" "history vs diff_ids"
	# the base was Docker v2s2: so is the result (kaniko's rule)
	assert_eq "$(image_raw "$REF" | jq -r .mediaType)" \
		application/vnd.docker.distribution.manifest.v2+json mediaType
}

files_modes_owners() {
	unpack_image "$REF" "$W/unpacked"
	local r=$W/unpacked/rootfs
	assert_file_mode "$r/app/hello.sh" 755
	assert_owner "$r/app/hello.sh" 0:0
	assert_file_mode "$r/app/static/index.txt" 644
	assert_owner "$r/app/static/index.txt" 0:0
	assert_owner "$r/app/data" 1000:1000
	assert_owner "$r/app/data/greeting" 1000:1000
	assert_eq "$(cat "$r/app/data/greeting")" "hello from kiln" greeting
	assert_eq "$(chroot "$r" /app/hello.sh | sed -n 1p)" "hello from kiln" "running the image"
	# nothing kiln injected for RUN is left in the image
	[ ! -e "$r/etc/resolv.conf" ] || fail "/etc/resolv.conf leaked into the image"
	[ ! -e "$r/proc" ] || fail "/proc leaked into the image"
}

tarball_readable() {
	skopeo copy -q "docker-archive:$W/hello.tar" "oci:$W/fromtar:x" >/dev/null
	local d
	d=$(skopeo inspect "docker-archive:$W/hello.tar" | jq -r '.Layers | length')
	assert_eq "$d" 5 "layers in the tarball"
}

no_push_and_exit_status() {
	mkdir -p "$W/fail"
	printf 'FROM %s\nRUN echo about to fail && exit 42\n' "$BUSYBOX_IMAGE" >"$W/fail/Dockerfile"
	local rc=0
	kiln_build --context "$W/fail" --no-push >"$W/fail.log" 2>&1 || rc=$?
	cat "$W/fail.log"
	assert_eq "$rc" 42 "exit status of RUN exit 42"
	assert_contains "$(cat "$W/fail.log")" "Dockerfile:2" "error names the line"
	printf 'FROM %s\nRUN true\n' "$BUSYBOX_IMAGE" >"$W/fail/Dockerfile"
	kiln_build --context "$W/fail" --no-push >"$W/nopush.log" 2>&1
	assert_contains "$(cat "$W/nopush.log")" "Skipping push to container registry due to --no-push flag" log
}

zstd_follows_the_base() {
	mkdir -p "$W/zstd"
	printf 'FROM %s\nRUN echo z > /z\n' "$DEBIAN_IMAGE" >"$W/zstd/Dockerfile"
	kiln_build --context "$W/zstd" --compression zstd --destination "$KILN_TEST_REGISTRY/zstd:oci" \
		>"$W/z1.log" 2>&1 || { cat "$W/z1.log"; fail "build failed"; }
	assert_eq "$(image_raw "$KILN_TEST_REGISTRY/zstd:oci" | jq -r '.layers[-1].mediaType')" \
		application/vnd.oci.image.layer.v1.tar+zstd "new layer on an OCI base"
	# (umoci 0.4 cannot unpack zstd layers: read the blob with zstd itself)
	rm -rf "$W/zstd-dir"
	skopeo copy -q --src-tls-verify=false "docker://$KILN_TEST_REGISTRY/zstd:oci" "dir:$W/zstd-dir" >/dev/null
	local blob
	blob=$(jq -r '.layers[-1].digest' "$W/zstd-dir/manifest.json" | cut -d: -f2)
	assert_eq "$(zstd -dc "$W/zstd-dir/$blob" | tar -xO z)" z "file from the zstd layer"
	printf 'FROM %s\nRUN echo z > /z\n' "$BUSYBOX_IMAGE" >"$W/zstd/Dockerfile"
	kiln_build --context "$W/zstd" --compression zstd --destination "$KILN_TEST_REGISTRY/zstd:docker" \
		>"$W/z2.log" 2>&1 || { cat "$W/z2.log"; fail "build failed"; }
	assert_eq "$(image_raw "$KILN_TEST_REGISTRY/zstd:docker" | jq -r '.layers[-1].mediaType')" \
		application/vnd.docker.image.rootfs.diff.tar.gzip "Docker v2s2 bases keep gzip (kaniko)"
}

t_run "examples/hello builds and pushes; digest file matches" build_hello
t_run "config has CMD ENV WORKDIR USER EXPOSE LABEL" config_fields
t_run "files, modes and owners as Docker makes them" files_modes_owners
t_run "--tar-path is a docker-archive skopeo reads" tarball_readable
t_run "--no-push, and RUN exit 42 exits 42" no_push_and_exit_status
t_run "--compression=zstd on an OCI base; gzip on a Docker one" zstd_follows_the_base
t_done
