# images.sh — base images made from Debian packages (there is no Docker Hub here), written as
# OCI layouts, cached under /var/tmp/kiln-fixtures keyed by their inputs, and pushed to a test
# registry with skopeo.
#   image_busybox <registry>  -> <registry>/busybox:latest  (Docker v2s2, one layer)
#   image_debian  <registry>  -> <registry>/debian:bookworm-slim  (OCI, debootstrap minbase)

FIXTURES=${KILN_FIXTURES:-/var/tmp/kiln-fixtures}

_sha256() { sha256sum "$1" | cut -d' ' -f1; }

# oci_layout_from_rootfs <rootfs> <layout-dir> <config-json-with-DIFFID-placeholder>
oci_layout_from_rootfs() {
	local rootfs=$1 out=$2 config_tpl=$3
	mkdir -p "$out/blobs/sha256"
	tar --numeric-owner --sort=name --mtime=@0 --xattrs --xattrs-include='security.capability' \
		-C "$rootfs" -cf "$out/layer.tar" .
	local diff_id layer
	diff_id=$(_sha256 "$out/layer.tar")
	gzip -n -1 "$out/layer.tar"
	layer=$(_sha256 "$out/layer.tar.gz")
	mv "$out/layer.tar.gz" "$out/blobs/sha256/$layer"
	printf '%s' "${config_tpl//DIFFID/sha256:$diff_id}" >"$out/config.json"
	local cfg
	cfg=$(_sha256 "$out/config.json")
	mv "$out/config.json" "$out/blobs/sha256/$cfg"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
		"$cfg" "$(stat -c%s "$out/blobs/sha256/$cfg")" "$layer" \
		"$(stat -c%s "$out/blobs/sha256/$layer")" >"$out/manifest.json"
	local man
	man=$(_sha256 "$out/manifest.json")
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
		"$man" "$(stat -c%s "$out/manifest.json")" >"$out/index.json"
	mv "$out/manifest.json" "$out/blobs/sha256/$man"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
}

_busybox_rootfs() {
	local r=$1
	mkdir -p "$r"/{bin,etc,tmp,root,home/app,usr/bin,usr/sbin,sbin}
	cp /bin/busybox "$r/bin/busybox"
	local a
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n' >"$r/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\napp:x:1000:\n' >"$r/etc/group"
	chmod 1777 "$r/tmp"
	chmod 0700 "$r/root"
	chown 1000:1000 "$r/home/app"
}

# the cache key covers the inputs: the busybox binary and the functions that shape the image
_busybox_key() {
	{ sha256sum /bin/busybox; declare -f _busybox_rootfs oci_layout_from_rootfs; } | sha256sum | cut -c1-16
}

image_busybox() {
	local registry=$1 key dir
	key=$(_busybox_key)
	dir=$FIXTURES/busybox-$key
	if [ ! -f "$dir/index.json" ]; then
		mkdir -p "$FIXTURES"
		local tmp
		tmp=$(mktemp -d "$FIXTURES/.busybox.XXXXXX")
		_busybox_rootfs "$tmp/rootfs"
		oci_layout_from_rootfs "$tmp/rootfs" "$tmp/layout" \
			'{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["DIFFID"]},"history":[{"created_by":"busybox-static from Debian"}]}'
		rm -rf "$dir"
		mv "$tmp/layout" "$dir"
		rm -rf "$tmp"
	fi
	skopeo copy -q --dest-tls-verify=false --format v2s2 "oci:$dir:latest" \
		"docker://$registry/busybox:latest" >/dev/null
	echo "$registry/busybox:latest"
}

_debian_mirror() {
	local m
	m=$(grep -hoE '^(deb|URIs:)[[:space:]]+https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
		grep -v security | head -n1 | awk '{print $2}')
	echo "${m:-http://deb.debian.org/debian}"
}

_debian_rootfs() {
	local r=$1 mirror=$2
	debootstrap --variant=minbase bookworm "$r" "$mirror" >"$r.log" 2>&1 || {
		tail -20 "$r.log" >&2
		return 1
	}
	rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb
	rm -f "$r"/var/log/*.log "$r"/var/log/apt/* "$r/etc/hostname" "$r/etc/resolv.conf"
	echo "deb $mirror bookworm main" >"$r/etc/apt/sources.list"
}

_debian_key() {
	{ echo "bookworm minbase $(_debian_mirror)"; declare -f _debian_rootfs oci_layout_from_rootfs; } |
		sha256sum | cut -c1-16
}

image_debian() {
	local registry=$1 key dir
	key=$(_debian_key)
	dir=$FIXTURES/debian-$key
	if [ ! -f "$dir/index.json" ]; then
		mkdir -p "$FIXTURES"
		local tmp
		tmp=$(mktemp -d "$FIXTURES/.debian.XXXXXX")
		_debian_rootfs "$tmp/rootfs" "$(_debian_mirror)" || { rm -rf "$tmp"; return 1; }
		oci_layout_from_rootfs "$tmp/rootfs" "$tmp/layout" \
			'{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["bash"]},"rootfs":{"type":"layers","diff_ids":["DIFFID"]},"history":[{"created_by":"debootstrap --variant=minbase bookworm"}]}'
		rm -rf "$dir"
		mv "$tmp/layout" "$dir"
		rm -rf "$tmp"
	fi
	skopeo copy -q --dest-tls-verify=false "oci:$dir:latest" \
		"docker://$registry/debian:bookworm-slim" >/dev/null
	echo "$registry/debian:bookworm-slim"
}
