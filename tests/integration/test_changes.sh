#!/usr/bin/env bash
# test_changes.sh — a RUN that creates, modifies (content; chmod only; content with the mtime
# put back by touch -r), renames and deletes files and directories yields a layer holding
# exactly those changes and the right whiteouts: read from the pushed layer tar itself.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
W=$KILN_TEST_WORK/changes
mkdir -p "$W/ctx"
REF=$KILN_TEST_REGISTRY/changes:it

# the last layer of an image as a sorted list of "type path" lines (whiteouts included)
last_layer_entries() {
	local ref=$1 dir=$2
	rm -rf "$dir"
	skopeo copy -q --src-tls-verify=false "docker://$ref" "dir:$dir" >/dev/null
	local last
	last=$(jq -r '.layers[-1].digest' "$dir/manifest.json" | cut -d: -f2)
	tar -tvzf "$dir/$last" | awk '{ t = substr($1, 1, 1); $1=$2=$3=$4=$5=""; sub(/^ +/, ""); print t " " $0 }' | sort
}

changes_exact() {
	cat >"$W/ctx/Dockerfile" <<DF
FROM $BUSYBOX_IMAGE
RUN mkdir -p /data/keep /data/gone/deep /data/tree && \\
    echo a > /data/content && echo b > /data/modeonly && echo c > /data/sneaky && \\
    echo d > /data/old-name && echo e > /data/gone/deep/f && echo f > /data/tree/x && \\
    echo g > /data/keep/untouched && touch -d '2001-01-01' /data/sneaky
RUN echo changed > /data/content && \\
    chmod 600 /data/modeonly && \\
    cp -p /data/sneaky /tmp/ref && echo C > /data/sneaky && touch -r /tmp/ref /data/sneaky && rm /tmp/ref && \\
    mv /data/old-name /data/new-name && \\
    rm -rf /data/gone && \\
    rm -rf /data/tree && echo now-a-file > /data/tree && \\
    mkdir /data/added && echo n > /data/added/new
DF
	kiln_build --context "$W/ctx" --destination "$REF" >"$W/build.log" 2>&1 ||
		{ cat "$W/build.log"; fail "build failed"; }
	local got
	got=$(last_layer_entries "$REF" "$W/img")
	echo "$got"
	local want
	want=$(sort <<'LIST'
d data/
d data/added/
- data/added/new
- data/content
- data/.wh.gone
- data/.wh.old-name
- data/modeonly
- data/new-name
- data/sneaky
- data/tree
d tmp/
LIST
)
	assert_eq "$got" "$want" "entries of the RUN layer"
	# (tmp/ is there because the RUN wrote and removed /tmp/ref, as in Docker's layer; etc/ is
	# not, although kiln created and removed its resolv.conf and hosts mount points)
	# and the deleted directory's children got no whiteouts of their own
	assert_not_contains "$got" "deep" "layer"
	unpack_image "$REF" "$W/unpacked"
	local r=$W/unpacked/rootfs
	assert_eq "$(cat "$r/data/sneaky")" C "content changed behind a restored mtime"
	assert_file_mode "$r/data/modeonly" 600
	[ ! -e "$r/data/gone" ] || fail "deleted directory is back"
	[ ! -e "$r/data/old-name" ] || fail "renamed file is still there"
	[ -f "$r/data/tree" ] || fail "directory replaced by a file is not a file"
	assert_eq "$(cat "$r/data/keep/untouched")" g "untouched file"
}

snapshot_flags() {
	mkdir -p "$W/flags"
	echo f >"$W/flags/f"
	cat >"$W/flags/Dockerfile" <<DF
FROM $BUSYBOX_IMAGE
RUN echo a > /a
COPY f /f
ENV X=1
RUN rm /a && echo b > /b
DF
	kiln_build --context "$W/flags" --single-snapshot --destination "$KILN_TEST_REGISTRY/single:it" \
		>"$W/single.log" 2>&1 || { cat "$W/single.log"; fail "build failed"; }
	assert_eq "$(image_raw "$KILN_TEST_REGISTRY/single:it" | jq '.layers | length')" 2 \
		"--single-snapshot: base layer + one"
	assert_eq "$(last_layer_entries "$KILN_TEST_REGISTRY/single:it" "$W/single")" "- b
- f" "the one layer"
	# --reproducible: the same digest from two builds at different times
	kiln_build --context "$W/flags" --reproducible --no-push --digest-file "$W/d1" >/dev/null 2>&1 ||
		fail "reproducible build 1"
	sleep 1.1
	touch "$W/flags/f"
	kiln_build --context "$W/flags" --reproducible --no-push --digest-file "$W/d2" >/dev/null 2>&1 ||
		fail "reproducible build 2"
	assert_eq "$(cat "$W/d2")" "$(cat "$W/d1")" "--reproducible digests"
	# SOURCE_DATE_EPOCH: created times and newer mtimes become the epoch, so digests repeat
	SOURCE_DATE_EPOCH=1700000000 kiln_build --context "$W/flags" --destination \
		"$KILN_TEST_REGISTRY/sde:it" --digest-file "$W/e1" >/dev/null 2>&1 || fail "epoch build 1"
	sleep 1.1
	touch "$W/flags/f"
	SOURCE_DATE_EPOCH=1700000000 kiln_build --context "$W/flags" --no-push --digest-file "$W/e2" \
		>/dev/null 2>&1 || fail "epoch build 2"
	assert_eq "$(cat "$W/e2")" "$(cat "$W/e1")" "SOURCE_DATE_EPOCH digests"
	assert_eq "$(image_config "$KILN_TEST_REGISTRY/sde:it" | jq -r .created)" 2023-11-14T22:13:20Z created
	local rc=0
	SOURCE_DATE_EPOCH=yesterday kiln_build --context "$W/flags" --no-push >"$W/sde.log" 2>&1 || rc=$?
	assert_eq "$rc" 1 "exit status for a bad SOURCE_DATE_EPOCH"
	assert_contains "$(cat "$W/sde.log")" "SOURCE_DATE_EPOCH" error
	# --force-build-metadata: every step appends a layer (kaniko)
	kiln_build --context "$W/flags" --force-build-metadata --destination "$KILN_TEST_REGISTRY/meta:it" \
		>"$W/meta.log" 2>&1 || { cat "$W/meta.log"; fail "build failed"; }
	assert_eq "$(image_raw "$KILN_TEST_REGISTRY/meta:it" | jq '.layers | length')" 5 \
		"--force-build-metadata layers"
}

t_run "RUN layer holds exactly the changes and minimal whiteouts" changes_exact
t_run "--single-snapshot, --reproducible, SOURCE_DATE_EPOCH, --force-build-metadata" snapshot_flags
t_done
