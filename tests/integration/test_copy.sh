#!/usr/bin/env bash
# test_copy.sh — COPY's source selection as Docker does it: .dockerignore (and
# <Dockerfile>.dockerignore) with ** and ! exceptions, --exclude, --parents with the /./ pivot,
# globs with [...], directory contents, destination rules.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
W=$KILN_TEST_WORK/copy
C=$W/ctx
mkdir -p "$C/src/a/b" "$C/src/logs" "$C/docs" "$C/keep"
echo a >"$C/src/a/file.txt"
echo b >"$C/src/a/b/deep.txt"
echo c >"$C/src/a/b/deep.md"
echo log >"$C/src/logs/x.log"
echo important >"$C/src/logs/important.log"
echo secret >"$C/secret.env"
echo readme >"$C/docs/README.md"
echo one >"$C/file1.txt"
echo two >"$C/file2.txt"
echo nine >"$C/file9.txt"
printf '# comment\n**/*.log\n!src/logs/important.log\n*.env\n' >"$C/.dockerignore"

copy_semantics() {
	cat >"$C/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE
COPY src/ /app/
COPY file[12].txt /globbed/
COPY --exclude=**/*.md --exclude=a/b/deep.txt src /excluded/
COPY --parents src/a/./b/deep.txt docs/README.md /parents/
COPY docs /docsdir
WORKDIR /w
COPY file9.txt relative.txt
DOCKERFILE
	kiln_build --context "$C" --destination "$KILN_TEST_REGISTRY/copy:it" >"$W/build.log" 2>&1 ||
		{ cat "$W/build.log"; fail "build failed"; }
	unpack_image "$KILN_TEST_REGISTRY/copy:it" "$W/img"
	local r=$W/img/rootfs
	(cd "$r" && find app globbed excluded parents docsdir w | sort) >"$W/tree"
	cat "$W/tree"
	assert_eq "$(cat "$W/tree")" "app
app/a
app/a/b
app/a/b/deep.md
app/a/b/deep.txt
app/a/file.txt
app/logs
app/logs/important.log
docsdir
docsdir/README.md
excluded
excluded/a
excluded/a/b
excluded/a/file.txt
excluded/logs
excluded/logs/important.log
globbed
globbed/file1.txt
globbed/file2.txt
parents
parents/b
parents/b/deep.txt
parents/docs
parents/docs/README.md
w
w/relative.txt" "copied tree"
}

ignored_source_is_an_error() {
	printf 'FROM %s\nCOPY secret.env /\n' "$BUSYBOX_IMAGE" >"$C/Dockerfile"
	local rc=0
	kiln_build --context "$C" --no-push >"$W/ign.log" 2>&1 || rc=$?
	cat "$W/ign.log"
	assert_eq "$rc" 1 "exit status"
	assert_contains "$(cat "$W/ign.log")" "excluded by .dockerignore" error
	# a Dockerfile-specific ignore file wins over the context's
	mkdir -p "$C/sub"
	printf 'FROM %s\nCOPY secret.env /\n' "$BUSYBOX_IMAGE" >"$C/sub/Special.Dockerfile"
	printf 'nothing-matches\n' >"$C/sub/Special.Dockerfile.dockerignore"
	kiln_build --context "$C" --dockerfile sub/Special.Dockerfile --no-push >"$W/ign2.log" 2>&1 ||
		{ cat "$W/ign2.log"; fail "<Dockerfile>.dockerignore was not preferred"; }
}

add_archives() {
	local A=$W/add
	mkdir -p "$A/tree/pkg/bin"
	echo tool >"$A/tree/pkg/bin/tool"
	chmod 4755 "$A/tree/pkg/bin/tool"
	ln -s bin/tool "$A/tree/pkg/link"
	tar --owner=123 --group=456 -C "$A/tree" -cf "$A/plain.tar" pkg
	gzip -c "$A/plain.tar" >"$A/a.tar.gz"
	xz -c "$A/plain.tar" >"$A/a.tar.xz"
	bzip2 -c "$A/plain.tar" >"$A/a.tar.bz2"
	zstd -q -c "$A/plain.tar" >"$A/a.tar.zst" 2>/dev/null || cp "$A/a.tar.gz" "$A/a.tar.zst"
	echo "not a tar" | gzip -c >"$A/note.gz"
	cat >"$A/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE
ADD plain.tar /plain/
ADD a.tar.gz /gz
ADD a.tar.xz a.tar.bz2 /multi/
ADD a.tar.zst /zst/
ADD note.gz /notes/
DOCKERFILE
	kiln_build --context "$A" --destination "$KILN_TEST_REGISTRY/add:it" >"$W/add.log" 2>&1 ||
		{ cat "$W/add.log"; fail "build failed"; }
	unpack_image "$KILN_TEST_REGISTRY/add:it" "$W/addimg"
	local r=$W/addimg/rootfs d
	for d in plain gz multi zst; do
		assert_eq "$(cat "$r/$d/pkg/bin/tool")" tool "$d: unpacked file"
		assert_file_mode "$r/$d/pkg/bin/tool" 4755
		assert_owner "$r/$d/pkg/bin/tool" 123:456
		assert_eq "$(readlink "$r/$d/pkg/link")" bin/tool "$d: symlink"
	done
	[ -f "$r/notes/note.gz" ] || fail "a compressed non-tar must be copied as it is"
}

add_urls() {
	local U=$W/urls
	mkdir -p "$U/srv/dir"
	echo "remote content" >"$U/srv/dir/remote.txt"
	touch -d '2020-02-02 02:02:02 UTC' "$U/srv/dir/remote.txt"
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	(cd "$U/srv" && exec python3 -m http.server --bind 127.0.0.1 "$port") >"$U/http.log" 2>&1 &
	local pid=$!
	trap 'kill $pid 2>/dev/null' RETURN
	for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
	local sum
	sum=sha256:$(sha256sum "$U/srv/dir/remote.txt" | cut -d' ' -f1)
	cat >"$U/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE
ADD http://127.0.0.1:$port/dir/remote.txt?x=1 /downloads/
ADD --checksum=$sum --chmod=644 http://127.0.0.1:$port/dir/remote.txt /named.txt
DOCKERFILE
	kiln_build --context "$U" --destination "$KILN_TEST_REGISTRY/addurl:it" >"$W/url.log" 2>&1 ||
		{ cat "$W/url.log"; fail "build failed"; }
	unpack_image "$KILN_TEST_REGISTRY/addurl:it" "$W/urlimg"
	local r=$W/urlimg/rootfs
	assert_eq "$(cat "$r/downloads/remote.txt")" "remote content" "downloaded file"
	assert_file_mode "$r/downloads/remote.txt" 600
	assert_owner "$r/downloads/remote.txt" 0:0
	assert_eq "$(stat -c %Y "$r/downloads/remote.txt")" "$(date -d '2020-02-02 02:02:02 UTC' +%s)" "mtime from Last-Modified"
	assert_file_mode "$r/named.txt" 644
	printf 'FROM %s\nADD --checksum=sha256:%064d http://127.0.0.1:%s/dir/remote.txt /bad\n' \
		"$BUSYBOX_IMAGE" 0 "$port" >"$U/Dockerfile"
	local rc=0
	kiln_build --context "$U" --no-push >"$W/url2.log" 2>&1 || rc=$?
	assert_eq "$rc" 1 "exit status with a wrong checksum"
	assert_contains "$(cat "$W/url2.log")" "checksum mismatch" error
	printf 'FROM %s\nADD http://127.0.0.1:%s/missing /x\n' "$BUSYBOX_IMAGE" "$port" >"$U/Dockerfile"
	rc=0
	kiln_build --context "$U" --no-push >"$W/url3.log" 2>&1 || rc=$?
	assert_eq "$rc" 1 "exit status for a 404"
	assert_contains "$(cat "$W/url3.log")" "404" error
}

streamed_copy_is_the_same_layer() {
	# the last filesystem step streams the context into its layer without writing the root;
	# the layer must be byte-identical to the one made through the root (--reproducible:
	# the directories kiln creates are stamped with the build time otherwise)
	mkdir -p "$C/modes"
	echo x >"$C/modes/setuid"
	chmod 4751 "$C/modes/setuid"
	ln -sf setuid "$C/modes/link"
	printf 'FROM %s\nCOPY --chown=app src/ /s/\nCOPY modes /m\nENV X=1\n' "$BUSYBOX_IMAGE" >"$C/Dockerfile"
	kiln_build --context "$C" --reproducible --destination "$KILN_TEST_REGISTRY/streamed:it" >"$W/s1.log" 2>&1 ||
		{ cat "$W/s1.log"; fail "build failed"; }
	printf 'FROM %s\nCOPY --chown=app src/ /s/\nCOPY modes /m\nRUN true\n' "$BUSYBOX_IMAGE" >"$C/Dockerfile"
	kiln_build --context "$C" --reproducible --destination "$KILN_TEST_REGISTRY/written:it" >"$W/s2.log" 2>&1 ||
		{ cat "$W/s2.log"; fail "build failed"; }
	assert_contains "$(cat "$W/s1.log")" "(1 streamed straight into the layer" log
	assert_not_contains "$(cat "$W/s2.log")" "streamed straight" log
	local a b
	a=$(image_config "$KILN_TEST_REGISTRY/streamed:it" | jq -c '.rootfs.diff_ids[1:3]')
	b=$(image_config "$KILN_TEST_REGISTRY/written:it" | jq -c '.rootfs.diff_ids[1:3]')
	echo "streamed $a"
	echo "written  $b"
	assert_eq "$a" "$b" "COPY layers streamed vs written through the root"
	unpack_image "$KILN_TEST_REGISTRY/streamed:it" "$W/streamed"
	assert_owner "$W/streamed/rootfs/s/a/file.txt" 1000:1000
	assert_file_mode "$W/streamed/rootfs/m/setuid" 4751
}

# xattrs are read at their real size: a 16 KiB value (ext4 holds at most one 4 KiB block of
# them, tmpfs any size since Linux 6.6) reaches the layer whole, whether the COPY writes through
# the root or is the last step
copy_big_xattrs() {
	local X=$W/bigx
	mkdir -p "$X"
	mount -t tmpfs -o size=32m tmpfs "$X"
	# t_run runs each test in its own subshell: this trap is the test's
	trap "umount '$X'" EXIT
	mkdir "$X/ctx"
	echo big >"$X/ctx/big"
	python3 -c 'import os, sys
os.setxattr(sys.argv[1], "user.big", b"v" * 16384)
os.setxattr(sys.argv[1], "user.small", b"s")' "$X/ctx/big"
	printf 'FROM %s\nCOPY big /through-root/big\nCOPY big /last/big\n' "$BUSYBOX_IMAGE" >"$X/ctx/Dockerfile"
	kiln_build --context "$X/ctx" --destination "$KILN_TEST_REGISTRY/bigxattr:it" >"$W/bx.log" 2>&1 ||
		{ cat "$W/bx.log"; fail "build failed"; }
	rm -rf "$W/bx"
	skopeo copy -q --src-tls-verify=false "docker://$KILN_TEST_REGISTRY/bigxattr:it" "oci:$W/bx:img" >/dev/null
	local got
	got=$(python3 - "$W/bx" <<'PY'
import json, sys, tarfile
d = sys.argv[1]
def blob(digest):
    return d + "/blobs/" + digest.replace(":", "/")
idx = json.load(open(d + "/index.json"))
man = json.load(open(blob(idx["manifests"][0]["digest"])))
for layer in man["layers"]:
    with tarfile.open(blob(layer["digest"]), "r:*") as t:
        for m in t.getmembers():
            if m.name.endswith("/big"):
                h = m.pax_headers
                print(m.name, len(h.get("SCHILY.xattr.user.big", "")),
                      h.get("SCHILY.xattr.user.small", "-"))
PY
)
	echo "$got"
	assert_eq "$got" "through-root/big 16384 s
last/big 16384 s" "xattrs of the copied files in the layers"
}

# the error paths of COPY free what the copy had gathered: the sanitized build (LeakSanitizer)
# runs a COPY that fails after it has noted hard links and streamed files
copy_error_path_frees() {
	local asan=${KILN_ASAN:-$KILN_TOP/build-asan/src/cli/kiln}
	[ -x "$asan" ] || fail "no ASan+UBSan build at $asan (tests/run.sh builds build-asan; or set KILN_ASAN)"
	local E=$W/errpath
	mkdir -p "$E/base/b" "$E/src"
	echo keep >"$E/base/b/keep"
	echo a >"$E/src/a"
	ln "$E/src/a" "$E/src/a2"
	echo b >"$E/src/b"
	local last
	for last in streamed through-root; do
		{
			printf 'FROM %s\nCOPY base/ /dest/\nCOPY src/ /dest/\n' "$BUSYBOX_IMAGE"
			# a later COPY makes the failing one write through the root
			[ "$last" = streamed ] || printf 'COPY base/ /other/\n'
		} >"$E/Dockerfile"
		local rc=0
		ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
			KILN="$asan" kiln_build --context "$E" --no-push >"$W/errpath-$last.log" 2>&1 || rc=$?
		cat "$W/errpath-$last.log"
		assert_not_contains "$(cat "$W/errpath-$last.log")" "Sanitizer" "$last: sanitizer report"
		assert_eq "$rc" 1 "$last: exit status of the failing COPY"
		assert_contains "$(cat "$W/errpath-$last.log")" "cannot copy to '/dest/b': it is a directory" "$last: error"
	done
}

# a source word whose glob matches a name --exclude drops and then a link the lookup cannot
# resolve (a loop): the error names it, and nothing is freed twice (the list of matches was
# freed with the dropped name still in it: "double free or corruption")
copy_lookup_error_after_dropped_match() {
	local asan=${KILN_ASAN:-$KILN_TOP/build-asan/src/cli/kiln}
	[ -x "$asan" ] || fail "no ASan+UBSan build at $asan (tests/run.sh builds build-asan; or set KILN_ASAN)"
	local E=$W/lookuperr
	mkdir -p "$E"
	echo a >"$E/a"
	ln -s loop "$E/loop"
	printf 'FROM %s\nCOPY --exclude=a * /x/\n' "$BUSYBOX_IMAGE" >"$E/Dockerfile"
	local k rc
	for k in "$KILN" "$asan"; do
		rc=0
		ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
			KILN="$k" kiln_build --context "$E" --no-push >"$W/lookuperr.log" 2>&1 || rc=$?
		cat "$W/lookuperr.log"
		assert_not_contains "$(cat "$W/lookuperr.log")" "Sanitizer" "sanitizer report"
		assert_not_contains "$(cat "$W/lookuperr.log")" "double free" "double free"
		assert_eq "$rc" 1 "exit status"
		assert_contains "$(cat "$W/lookuperr.log")" \
			"Dockerfile:2: COPY failed: 'loop' in build context: Too many levels of symbolic links" error
	done
}

t_run "COPY: .dockerignore, --exclude, --parents, globs, directories, WORKDIR" copy_semantics
t_run "an ignored source is an error; <Dockerfile>.dockerignore wins" ignored_source_is_an_error
copy_from_image() {
	mkdir -p "$W/fromimg"
	printf 'FROM %s\nCOPY --from=%s /etc/debian_version /etc/os-release /deb/\nCOPY --from=%s /etc/passwd /bb-passwd\nRUN test -s /deb/debian_version\n' \
		"$BUSYBOX_IMAGE" "$DEBIAN_IMAGE" "$BUSYBOX_IMAGE" >"$W/fromimg/Dockerfile"
	kiln_build --context "$W/fromimg" --destination "$KILN_TEST_REGISTRY/fromimg:it" >"$W/fi.log" 2>&1 ||
		{ cat "$W/fi.log"; fail "build failed"; }
	unpack_image "$KILN_TEST_REGISTRY/fromimg:it" "$W/fi"
	grep -q '^1[0-9]' "$W/fi/rootfs/deb/debian_version" || fail "debian_version not copied from the image"
	[ -f "$W/fi/rootfs/deb/os-release" ] || [ -L "$W/fi/rootfs/deb/os-release" ] || fail "os-release"
	grep -q '^app:' "$W/fi/rootfs/bb-passwd" || fail "passwd not copied from the image"
	printf 'FROM %s\nCOPY --from=%s/nothing-here:x /a /a\n' "$BUSYBOX_IMAGE" "$KILN_TEST_REGISTRY" >"$W/fromimg/Dockerfile"
	local rc=0
	kiln_build --context "$W/fromimg" --no-push >"$W/fi2.log" 2>&1 || rc=$?
	assert_eq "$rc" 1 "exit status for a missing image"
	assert_contains "$(cat "$W/fi2.log")" "Dockerfile:2: COPY --from='$KILN_TEST_REGISTRY/nothing-here:x'" error
}

t_run "a COPY streamed into its layer equals one written through the root" streamed_copy_is_the_same_layer
t_run "COPY --from=<image reference> pulls and copies from that image" copy_from_image
t_run "ADD <url>: name, mode, owner, Last-Modified, --checksum, 404" add_urls
t_run "ADD unpacks local tar, tar.gz, tar.xz, tar.bz2, tar.zst; copies other files" add_archives
t_run "COPY keeps a 16 KiB xattr whole (through the root and as the last step)" copy_big_xattrs
t_run "COPY's error paths free what the copy gathered (LeakSanitizer)" copy_error_path_frees
t_run "a failing link lookup after a dropped glob match frees each name once" copy_lookup_error_after_dropped_match
t_done
