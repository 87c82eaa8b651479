#!/usr/bin/env bash
# test_debian.sh — a real CI step: apt-get install on the local debian base (network to the
# Debian mirror only), pushed, and the installed program run from the unpacked image.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
W=$KILN_TEST_WORK/debian
mkdir -p "$W/ctx"
REF=$KILN_TEST_REGISTRY/debian-curl:it

apt_install_curl() {
	cat >"$W/ctx/Dockerfile" <<DF
FROM $DEBIAN_IMAGE
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
DF
	kiln_build --context "$W/ctx" --destination "$REF" >"$W/build.log" 2>&1 ||
		{ tail -40 "$W/build.log"; fail "build failed"; }
	# the output follows the OCI base
	assert_eq "$(image_raw "$REF" | jq -r .mediaType)" application/vnd.oci.image.manifest.v1+json mediaType
	unpack_image "$REF" "$W/unpacked"
	local v
	v=$(chroot "$W/unpacked/rootfs" curl --version | sed -n 1p)
	assert_contains "$v" "curl " "curl --version"
	# apt's sandbox user and its files are as apt made them
	grep -q '^_apt:' "$W/unpacked/rootfs/etc/passwd" || fail "_apt user missing"
}

t_run "FROM debian + apt-get install curl; curl runs from the image" apt_install_curl
t_done
