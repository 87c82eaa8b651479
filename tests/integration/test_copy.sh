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

t_run "COPY: .dockerignore, --exclude, --parents, globs, directories, WORKDIR" copy_semantics
t_run "an ignored source is an error; <Dockerfile>.dockerignore wins" ignored_source_is_an_error
t_run "ADD unpacks local tar, tar.gz, tar.xz, tar.bz2, tar.zst; copies other files" add_archives
t_done
