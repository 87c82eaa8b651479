# kiln.sh — helpers for integration tests that run the real kiln binary.
#   kiln_build <args...>        runs $KILN with a fresh --kaniko-dir and the test registry
#                               treated as plain HTTP; stderr+stdout go to $KILN_OUT
#   unpack_image <ref> <dir>    skopeo copy + umoci unpack: the image's tree in <dir>/rootfs
#   image_config <ref>          the image config JSON as stored (skopeo inspect --config --raw)
#   image_raw <ref>             the manifest JSON

KILN_OUT=${KILN_OUT:-/dev/stderr}

kiln_build() {
	local kdir
	kdir=$(mktemp -d "$KILN_TEST_WORK/kaniko.XXXXXX") || return 1
	"$KILN" --kaniko-dir "$kdir" --insecure --insecure-pull --log-format text "$@"
}

unpack_image() {
	local ref=$1 dir=$2
	# each step checked: errexit does not apply when the caller writes `unpack_image … || …`
	rm -rf "$dir" && mkdir -p "$dir" &&
		skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$dir/layout:img" >/dev/null &&
		umoci unpack --image "$dir/layout:img" "$dir/bundle" >/dev/null &&
		ln -s bundle/rootfs "$dir/rootfs"
}

image_config() {
	skopeo inspect --tls-verify=false --config --raw "docker://$1"
}

image_raw() {
	skopeo inspect --tls-verify=false --raw "docker://$1"
}
