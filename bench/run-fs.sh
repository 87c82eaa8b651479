#!/usr/bin/env bash
# run-fs.sh — fs engine benchmarks (bench/README.md has the figures): (a) snapshot + layer after
# a RUN-like change of 10 files in a debian bookworm minbase root, vs buildah commit of the same
# change; (b) extracting the base image's layers vs tar -xzf of the same blobs; (c) writing a
# layer of the 20,000-file w3 context vs tar -c | gzip -1; (d) peak RSS of each; and the gzip
# library comparison (bench/gzbench.c). Needs a built tree (ninja -C build).
#   bash bench/run-fs.sh [WORKDIR]     (default /var/tmp/kiln-bench; ~15 GB free is plenty)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/var/tmp/kiln-bench}
base=${KILN_BENCH_BASE:-$(ls -d /var/tmp/kiln-fixtures/debian-*/ | head -n 1)}
mkdir -p "$work"
cd "$work"

libs="$(pkg-config --libs libarchive zlib libzstd libdeflate libcrypto jansson) -lpthread"
if grep -q HAVE_ISAL "$top/build/src/fs/libkfs.a.p/"*.rsp 2>/dev/null ||
	nm "$top/build/src/fs/libkfs.a" 2>/dev/null | grep -q isal_deflate; then
	libs="$libs -lisal"
fi
cc -O2 -std=gnu17 -D_GNU_SOURCE -I"$top/src" -I"$top/build" -o fsbench "$top/bench/fsbench.c" \
	"$top/build/src/fs/libkfs.a" "$top/build/src/util/libkutil.a" $libs
cc -O2 -o gzbench "$top/bench/gzbench.c" -lz -ldeflate -lisal

# the base image: every layer blob of the OCI layout, in manifest order
manifest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"].split(":")[1])' "$base/index.json")
mapfile -t blobs < <(python3 -c 'import json,sys; [print(sys.argv[2]+"/blobs/sha256/"+l["digest"].split(":")[1]) for l in json.load(open(sys.argv[1]))["layers"]]' "$base/blobs/sha256/$manifest" "$base")
rtime() { # rtime <label> <command...>: wall seconds and peak RSS (/usr/bin/time -v)
	local label=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	/usr/bin/time -v -o "$work/time.txt" "$@" >"$work/out.txt"
	t1=$(date +%s.%N)
	printf '%-44s %7.2f s  %7d KB peak RSS\n' "$label" "$(echo "$t1 - $t0" | bc)" \
		"$(awk '/Maximum resident/ {print $6}' "$work/time.txt")"
	sed 's/^/    /' "$work/out.txt"
}
fresh() { rm -rf "$1" && mkdir -p "$1"; }

echo "# base image: $base (${#blobs[@]} layer(s), $(cat "${blobs[@]}" | wc -c) bytes compressed," \
	"$(zcat "${blobs[@]}" | wc -c) bytes of tar)"
echo "## (b) extract the base image"
sync
fresh root-kiln
rtime "kiln fs_extract_layer" ./fsbench extract root-kiln "${blobs[@]}"
fresh root-tar
rtime "tar -xzf (one after another)" bash -c 'for b in "$@"; do tar --numeric-owner --xattrs --xattrs-include="*" -xzf "$b" -C root-tar; done' _ "${blobs[@]}"

if [ -d /dev/shm ]; then
	fresh /dev/shm/kiln-bench-root
	rtime "kiln fs_extract_layer (tmpfs)" ./fsbench extract /dev/shm/kiln-bench-root "${blobs[@]}"
	fresh /dev/shm/kiln-bench-root
	rtime "tar -xzf (tmpfs)" bash -c 'for b in "${@:2}"; do tar --numeric-owner --xattrs --xattrs-include="*" -xzf "$b" -C "$1"; done' _ /dev/shm/kiln-bench-root "${blobs[@]}"
	rm -rf /dev/shm/kiln-bench-root
fi

echo "## (a) snapshot after a RUN-like change of 10 files"
fresh store
rtime "kiln index (before the RUN)+diff+layer" ./fsbench snapshot root-kiln store
if command -v buildah >/dev/null; then
	B="$work/buildah"
	rm -rf "$B" && mkdir -p "$B"
	bd=(buildah --root "$B/root" --runroot "$B/run" --storage-driver vfs)
	"${bd[@]}" from --name w "oci:$base" >/dev/null
	mnt=$("${bd[@]}" mount w)
	mkdir "$mnt/opt/bench"
	for i in 0 1 2 3 4; do echo "generated file $i" >"$mnt/opt/bench/new$i"; done
	for f in passwd group shells; do echo bench >>"$mnt/etc/$f"; done
	rm "$mnt/etc/issue" "$mnt/etc/issue.net"
	"${bd[@]}" umount w >/dev/null
	rtime "buildah commit (vfs)" "${bd[@]}" commit -q --disable-compression=false w bench:1
	"${bd[@]}" rm -a >/dev/null || true
	"${bd[@]}" rmi -a -f >/dev/null || true
	rm -rf "$B"
fi

echo "## (c) one layer of the w3 context (20,000 files + 100 MiB blob)"
ctx="$work/w3/data"
[ -f "$ctx/.generated-v1" ] || python3 /work/shared/workloads/w3-bigctx/gen-context "$work/w3"
sync
fresh store
rtime "kiln layer writer (gzip 1)" ./fsbench layer "$ctx" store
rtime "tar -c | gzip -1" bash -c 'tar -C "$1" -cf - . | gzip -1 >"$2/w3.tar.gz"' _ "$ctx" "$work"

echo "## gzip implementations"
zcat "${blobs[@]}" >debian.tar
tar -C "$ctx" -cf w3.tar .
./gzbench debian.tar
./gzbench w3.tar
rm -rf root-kiln root-tar store debian.tar w3.tar w3.tar.gz out.txt time.txt
