#!/usr/bin/env bash
# deps.sh — installs, with apt, everything kiln's build and tests need on a fresh Debian 12
# root machine. Idempotent: when every package is already present it touches nothing.
#   bash scripts/deps.sh          build, tests and benchmarks (the differential suite runs docker
#                                 build: docker.io, containerd; `bench` is accepted, as before)
set -euo pipefail

PACKAGES=(
	meson ninja-build pkg-config gcc clang clang-format
	libcurl4-openssl-dev libssl-dev libarchive-dev libjansson-dev zlib1g-dev libzstd-dev
	libdeflate-dev libgit2-dev
	docker-registry skopeo umoci busybox-static debootstrap debian-archive-keyring gpgv openssl apache2-utils runc
	jq ca-certificates curl python3 xz-utils zstd bzip2 git
	buildah
	docker.io containerd time bc
)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages (${missing[*]}); run as root to install them" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's docker-registry package starts a system service on :5000; the tests start their own
systemctl disable --now docker-registry >/dev/null 2>&1 || true
# likewise docker.io's daemon (it would own /run/docker.sock and the host's iptables): the
# benchmarks start their own dockerd and containerd on private sockets
systemctl disable --now docker.service docker.socket containerd.service >/dev/null 2>&1 || true
