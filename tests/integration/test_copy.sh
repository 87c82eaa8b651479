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
t_done
