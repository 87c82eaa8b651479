#!/usr/bin/env bash
# test_registry_mirror.sh — --registry-map and --registry-mirror with the real kiln binary: the
# base image of a registry that does not exist ('unreal.invalid') or of Docker Hub (not
# reachable here) comes from the suite's registry under a prefix; a target without the image
# logs kaniko's WARN and the next one is tried; --skip-default-registry-fallback fails with
# kaniko's message; pushes never go to a mirror.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
W=$KILN_TEST_WORK/mirror
mkdir -p "$W/ctx"
R=$KILN_TEST_REGISTRY
# the busybox base where the mappings point: <R>/mirrored/busybox and <R>/hub/library/busybox
for dest in mirrored/busybox:latest hub/library/busybox:latest; do
	skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
		"docker://$BUSYBOX_IMAGE" "docker://$R/$dest" >/dev/null || exit 1
done

map_pulls_from_the_target_with_prefix() {
	printf 'FROM unreal.invalid/busybox:latest\nRUN echo mapped > /m\n' >"$W/ctx/Dockerfile"
	kiln_build --context "$W/ctx" --destination "$R/mirror/out:1" \
		--registry-map "unreal.invalid=$R/nope" --registry-map "unreal.invalid=$R/mirrored" \
		>"$W/a.log" 2>&1 || { cat "$W/a.log"; fail "build failed"; }
	cat "$W/a.log"
	local log
	log=$(cat "$W/a.log")
	assert_contains "$log" "Failed to retrieve image $R/nope/busybox:latest from remapped registry $R: " "log"
	assert_contains "$log" ". Will try with the next registry, or fallback to the original registry." "log"
	assert_contains "$log" "level=warning" "log"
	assert_contains "$log" "Retrieving image $R/mirrored/busybox:latest from mapped registry $R" "log"
	assert_contains "$log" "Pushed $R/mirror/out@sha256:" "log"
	unpack_image "$R/mirror/out:1" "$W/u1"
	assert_eq "$(cat "$W/u1/rootfs/m")" "mapped" "file from RUN"
}

base_layers_never_unpacked_come_from_the_target() {
	# no RUN: the base layer is only needed for the push, fetched then from the mapped registry
	printf 'FROM unreal.invalid/busybox:latest\nENV X=1\n' >"$W/ctx/Dockerfile"
	kiln_build --context "$W/ctx" --destination "$R/mirror/out:2" \
		--registry-map "unreal.invalid=$R/mirrored" >"$W/b.log" 2>&1 ||
		{ cat "$W/b.log"; fail "build failed"; }
	unpack_image "$R/mirror/out:2" "$W/u2"
	assert_exists "$W/u2/rootfs/bin/busybox"
}

registry_mirror_serves_docker_hub_images() {
	printf 'FROM busybox\nRUN echo hub > /h\n' >"$W/ctx/Dockerfile"
	kiln_build --context "$W/ctx" --destination "$R/mirror/out:3" --registry-mirror "$R/hub" \
		>"$W/c.log" 2>&1 || { cat "$W/c.log"; fail "build failed"; }
	assert_contains "$(cat "$W/c.log")" \
		"Retrieving image $R/hub/library/busybox:latest from mapped registry $R" "log"
	unpack_image "$R/mirror/out:3" "$W/u3"
	assert_eq "$(cat "$W/u3/rootfs/h")" "hub" "file from RUN"
}

skip_default_registry_fallback_fails() {
	printf 'FROM unreal.invalid/busybox:latest\nRUN true\n' >"$W/ctx/Dockerfile"
	local rc=0
	kiln_build --context "$W/ctx" --no-push --registry-map "unreal.invalid=$R/nope" \
		--skip-default-registry-fallback >"$W/d.log" 2>&1 || rc=$?
	cat "$W/d.log"
	[ "$rc" -ne 0 ] || fail "built without the image"
	assert_contains "$(cat "$W/d.log")" \
		"image not found on any configured mapped registries for unreal.invalid/busybox:latest" \
		"error"
	# without the flag the original registry is tried (and does not resolve)
	rc=0
	kiln_build --context "$W/ctx" --no-push --registry-map "unreal.invalid=$R/nope" \
		>"$W/e.log" 2>&1 || rc=$?
	cat "$W/e.log"
	[ "$rc" -ne 0 ] || fail "built without the image"
	assert_contains "$(cat "$W/e.log")" "unreal.invalid/v2/" "error names the original registry"
}

t_run "--registry-map: targets in order, WARN on a miss, prefix put in front" map_pulls_from_the_target_with_prefix
t_run "--registry-map: base layers fetched for the push come from the target" base_layers_never_unpacked_come_from_the_target
t_run "--registry-mirror serves Docker Hub images (library/ kept)" registry_mirror_serves_docker_hub_images
t_run "--skip-default-registry-fallback: kaniko's error; without it the original is tried" skip_default_registry_fallback_fails
t_done
