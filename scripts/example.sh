#!/usr/bin/env bash
# example.sh — README command (a): installs the dependencies, builds kiln, starts a local
# registry on 127.0.0.1 (Debian's docker-registry), puts a busybox base image made from
# Debian's busybox-static into it, builds and pushes examples/hello with kiln, then prints the
# digest and the image as `skopeo inspect` sees it. The registry is stopped at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/deps.sh
if [ ! -f build/build.ninja ]; then
	meson setup build >/dev/null
fi
ninja -C build >/dev/null
KILN=$top/build/src/cli/kiln

source tests/lib/registry.sh
source tests/lib/images.sh
work=$(mktemp -d /tmp/kiln-example.XXXXXX)
trap 'registry_stop_all; rm -rf "$work"' EXIT
registry_start "$work/registry" plain
echo "registry: $REGISTRY (stopped when this script ends)"
echo "base image: $(image_busybox "$REGISTRY")"

"$KILN" --context examples/hello --dockerfile Dockerfile \
	--build-arg "REGISTRY=$REGISTRY" \
	--destination "$REGISTRY/hello:latest" \
	--insecure --insecure-pull \
	--kaniko-dir "$work/kaniko" --digest-file "$work/digest"

echo
echo "digest: $(cat "$work/digest")"
skopeo inspect --tls-verify=false "docker://$REGISTRY/hello:latest"
echo "config:"
skopeo inspect --tls-verify=false --config "docker://$REGISTRY/hello:latest" | jq .config
