#!/usr/bin/env bash
# test_departures.sh — behaviours where kiln once departed from `docker build` (issue 12), each
# checked as Docker 20.10 with BuildKit does it: wildcards matching nothing, stages the target
# does not need, `<<-` heredocs, RUN's supplementary groups, the directories ADD makes for an
# archive, ARG names with expansions, ARGs inherited from a parent stage, `USER root` without
# /etc/passwd, VOLUME of a missing path.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
W=$KILN_TEST_WORK/departures
mkdir -p "$W"

# new_ctx <name>: an empty context directory $W/<name> (printed)
new_ctx() {
	rm -rf "${W:?}/$1"
	mkdir -p "$W/$1"
	echo "$W/$1"
}

# build_ok <ctx> <ref> [flags...]: builds and pushes, showing the log on failure
build_ok() {
	local ctx=$1 ref=$2
	shift 2
	kiln_build --context "$ctx" --dockerfile "$ctx/Dockerfile" \
		--destination "$KILN_TEST_REGISTRY/$ref" "$@" >"$ctx.log" 2>&1 ||
		{ cat "$ctx.log"; fail "build of $ref failed"; }
}

# case_ctx <cases|pending>/<name>: a copy of a differential case as a context (base images
# substituted, its prepare script run), printed
case_ctx() {
	local ctx
	ctx=$(new_ctx "$(basename "$1")")
	cp -r "$KILN_TOP/tests/differential/$1/." "$ctx/"
	sed -i "s#@BUSYBOX@#$BUSYBOX_IMAGE#g; s#@DEBIAN@#$DEBIAN_IMAGE#g" "$ctx/Dockerfile"
	if [ -f "$ctx/prepare" ]; then
		(cd "$ctx" && sh ./prepare) >&2
		rm "$ctx/prepare"
	fi
	echo "$ctx"
}

# no_crash <rc> <log>: a kiln exit status below 128 (no signal)
no_crash() {
	[ "$1" -lt 128 ] || { cat "$2"; fail "kiln died of a signal (exit status $1)"; }
}

glob_matching_nothing() {
	local ctx rc
	ctx=$(new_ctx glob)
	echo one >"$ctx/one.txt"
	mkdir "$ctx/sub"
	echo two >"$ctx/sub/two.txt"
	# alone
	printf 'FROM %s\nCOPY *.lock /d/\n' "$BUSYBOX_IMAGE" >"$ctx/Dockerfile"
	rc=0
	kiln_build --context "$ctx" --dockerfile "$ctx/Dockerfile" \
		--destination "$KILN_TEST_REGISTRY/glob-alone:it" \
		>"$W/glob1.log" 2>&1 || rc=$?
	no_crash "$rc" "$W/glob1.log"
	assert_eq "$rc" 0 "COPY of a wildcard matching nothing (BuildKit builds it)"
	assert_contains "$(cat "$W/glob1.log")" "Dockerfile:2: COPY: no source file matches '*.lock'" \
		"warning"
	unpack_image "$KILN_TEST_REGISTRY/glob-alone:it" "$W/u-glob1"
	[ ! -e "$W/u-glob1/rootfs/d" ] || fail "an empty match made the destination /d"
	# beside other sources, ADD, and COPY --from a stage
	cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE AS src
RUN mkdir /data && echo data > /data/d.bin
FROM $BUSYBOX_IMAGE
COPY one.txt *.lock /a/
COPY *.lock sub/*.txt /b/
ADD *.tar.gz nothing?.zip /c/
COPY --from=src /data/*.lock /data/*.bin /e/
COPY --from=src /data/*.none /f/
DOCKERFILE
	rc=0
	kiln_build --context "$ctx" --dockerfile "$ctx/Dockerfile" \
		--destination "$KILN_TEST_REGISTRY/glob-beside:it" \
		>"$W/glob2.log" 2>&1 || rc=$?
	no_crash "$rc" "$W/glob2.log"
	assert_eq "$rc" 0 "wildcards matching nothing beside other sources"
	unpack_image "$KILN_TEST_REGISTRY/glob-beside:it" "$W/u-glob2"
	assert_eq "$(cd "$W/u-glob2/rootfs" && ls a b e)" "a:
one.txt

b:
two.txt

e:
d.bin" "what the matching sources copied"
	[ ! -e "$W/u-glob2/rootfs/c" ] && [ ! -e "$W/u-glob2/rootfs/f" ] ||
		fail "ADD/COPY --from with no match made a destination"
	# a name without a wildcard must exist: a clear one-line error, no crash
	printf 'FROM %s\nCOPY one.txt missing.lock /d/\n' "$BUSYBOX_IMAGE" >"$ctx/Dockerfile"
	rc=0
	kiln_build --context "$ctx" --dockerfile "$ctx/Dockerfile" --no-push >"$W/glob3.log" 2>&1 || rc=$?
	no_crash "$rc" "$W/glob3.log"
	assert_eq "$rc" 1 "exit status for a missing source"
	assert_contains "$(cat "$W/glob3.log")" "Dockerfile:2: COPY failed: file not found" error
	assert_contains "$(cat "$W/glob3.log")" "missing.lock" "error names the source"
}

unused_stages_skipped_by_default() {
	local ctx rc
	ctx=$(new_ctx stages)
	cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE AS broken
RUN echo "nobody uses this stage" && exit 7
FROM $BUSYBOX_IMAGE AS used
RUN echo used > /used
FROM $BUSYBOX_IMAGE
COPY --from=used /used /from-used
DOCKERFILE
	build_ok "$ctx" stages-default:it
	assert_contains "$(cat "$ctx.log")" "Skipping stage 0" log
	assert_not_contains "$(cat "$ctx.log")" "nobody uses this stage" "log (stage 0 ran)"
	unpack_image "$KILN_TEST_REGISTRY/stages-default:it" "$W/u-stages"
	assert_eq "$(cat "$W/u-stages/rootfs/from-used")" used "file from the used stage"
	# kaniko's behaviour on request
	rc=0
	kiln_build --context "$ctx" --dockerfile "$ctx/Dockerfile" --skip-unused-stages=false \
		--no-push >"$W/stages2.log" 2>&1 || rc=$?
	[ "$rc" = 7 ] ||
		{ cat "$W/stages2.log"; fail "--skip-unused-stages=false: exit status $rc, expected 7"; }
	assert_contains "$(cat "$W/stages2.log")" "nobody uses this stage" log
}

heredoc_chomp() {
	local ctx
	ctx=$(new_ctx heredoc)
	cp "$KILN_TOP/tests/differential/pending/heredoc-chomp/Dockerfile" "$ctx/Dockerfile"
	sed -i "s#@BUSYBOX@#$BUSYBOX_IMAGE#" "$ctx/Dockerfile"
	build_ok "$ctx" heredoc:it
	unpack_image "$KILN_TEST_REGISTRY/heredoc:it" "$W/u-heredoc"
	local r=$W/u-heredoc/rootfs tab=$'\t'
	# a RUN that is only a heredoc: the script's tabs go, so the quoted newline has none
	assert_eq "$(cat "$r/run-alone")" "first
second" "RUN <<-EOF alone"
	assert_eq "$(cat "$r/run-line")" "a
b" "RUN cat <<-EOF (the shell strips)"
	assert_eq "$(cat "$r/copied")" "one
two
  spaces stay
in${tab}ner" "COPY <<-EOF: leading tabs only"
	assert_eq "$(cat "$r/dir/EOF")" "v=value" "COPY <<-EOF expands after stripping"
	assert_eq "$(cat "$r/dir/RAW")" '$V' "COPY <<-\"RAW\" is not expanded"
	assert_eq "$(cat "$r/kept")" "${tab}tabs kept" "COPY <<EOF keeps tabs"
}

supplementary_groups() {
	local ctx r tab=$'\t'
	ctx=$(case_ctx cases/user-groups)
	build_ok "$ctx" groups:it
	unpack_image "$KILN_TEST_REGISTRY/groups:it" "$W/u-groups"
	r=$W/u-groups/rootfs/out
	# USER name: the groups /etc/group lists it in; its primary group (1500) only when listed
	assert_eq "$(cat "$r/ann")" "Groups:${tab}2100 2101 " "USER ann: kernel groups"
	assert_eq "$(cat "$r/ann-id")" "1500 2100 2101" "USER ann: id -G"
	assert_eq "$(cat "$r/ben")" "Groups:${tab}60 2100 2102 " "USER ben (listed in its primary group)"
	# USER name:group: none
	assert_eq "$(cat "$r/ann-docs")" "Groups:${tab} " "USER ann:docs"
	assert_eq "$(cat "$r/ann-docs-id")" "2101" "USER ann:docs: id -G"
	# numeric uid: the groups of the passwd entry with that uid; uid:gid none; unknown none
	assert_eq "$(cat "$r/uid-1501")" "Groups:${tab}60 2100 2102 " "USER 1501"
	assert_eq "$(cat "$r/uid-gid")" "Groups:${tab} " "USER 1501:2102"
	assert_eq "$(cat "$r/uid-unknown")" "Groups:${tab} " "USER 4321 (no passwd entry)"
	assert_eq "$(cat "$r/uid-unknown-id")" "0" "USER 4321: id -G"
	assert_eq "$(cat "$r/root")" "Groups:${tab} " "USER root (in no group list)"
	assert_owner "$r/ann" 1500:1500
	assert_owner "$r/uid-gid" 1501:2102
}

add_archive_dest_dirs() {
	local ctx r
	ctx=$(case_ctx cases/add-archive-dest-dirs)
	build_ok "$ctx" add-dirs:it
	unpack_image "$KILN_TEST_REGISTRY/add-dirs:it" "$W/u-add-dirs"
	r=$W/u-add-dirs/rootfs
	# made for the destination: root's (or --chown's), 0755 — never the "./" entry's 1000 / 0700
	assert_owner "$r/new" 0:0
	assert_owner "$r/new/deep" 0:0
	assert_file_mode "$r/new/deep" 755
	assert_owner "$r/chowned" 7:8
	assert_owner "$r/chowned/dir" 7:8
	assert_file_mode "$r/chowned/dir" 755
	assert_owner "$r/gz" 0:0
	# an existing destination keeps its owner and mode, / included
	assert_owner "$r/existing" 5:5
	assert_file_mode "$r/existing" 750
	assert_owner "$r/." 0:0
	assert_file_mode "$r/." 755
	# the entries below the archive's root keep the archive's owners
	assert_owner "$r/new/deep/sub" 1000:1000
	assert_owner "$r/chowned/dir/sub/f" 1000:1000
	assert_owner "$r/gz/sub" 1234:1234
	assert_eq "$(cat "$r/existing/sub/f")" x "unpacked file"
}

arg_name_expansion() {
	local ctx
	ctx=$(case_ctx cases/arg-name-expansion)
	build_ok "$ctx" arg-name:it --build-arg FOOFOO=from-cli
	unpack_image "$KILN_TEST_REGISTRY/arg-name:it" "$W/u-arg-name"
	assert_eq "$(cat "$W/u-arg-name/rootfs/args")" \
		"FOO=value FOO_B=x-FOO FOOFOO=from-cli FALLBACK=fb" "ARGs named with expansions"
	assert_contains "$(image_config "$KILN_TEST_REGISTRY/arg-name:it" | jq -c .config.Env)" \
		'"FROM_ARG=value"' Env
	assert_not_contains "$(cat "$ctx.log")" "[FOOFOO] were not consumed" "unused build-arg warning"
}

arg_inherited_from_parent_stage() {
	local ctx r
	ctx=$(case_ctx cases/arg-inherit-stage)
	build_ok "$ctx" arg-inherit:it --build-arg FROM_CLI=cli
	unpack_image "$KILN_TEST_REGISTRY/arg-inherit:it" "$W/u-arg-inherit"
	r=$W/u-arg-inherit/rootfs
	assert_eq "$(cat "$r/child-before")" "NAME=parent OTHER=other FROM_CLI=cli" \
		"parent's ARGs before any ARG line"
	assert_eq "$(cat "$r/child")" "NAME=parent FROM_CLI=cli" "a bare ARG keeps the value"
	assert_eq "$(cat "$r/dev-name")" "NAME=parent-dev" "a default using the parent's value"
	assert_eq "$(cat "$r/grand")" "OTHER=other NAME=parent SAME=1" \
		"two generations; ARG SAME=1 then ARG SAME"
}

user_root_without_passwd() {
	local ctx r
	ctx=$(case_ctx cases/user-root-no-passwd)
	# and RUN as root by name (docker build's RUN fails here; kiln's, like kaniko's, runs)
	sed -i '$d' "$ctx/Dockerfile"
	cat >>"$ctx/Dockerfile" <<'DOCKERFILE'
USER root
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox id -u > /second/ids && /bin/busybox id -g >> /second/ids && echo $HOME >> /second/ids && /bin/busybox touch made-by-run"]
USER 0
DOCKERFILE
	build_ok "$ctx" root-np:it
	unpack_image "$KILN_TEST_REGISTRY/root-np:it" "$W/u-root-np"
	r=$W/u-root-np/rootfs
	[ ! -e "$r/etc/passwd" ] || fail "the stage has an /etc/passwd"
	assert_owner "$r/work/dir" 0:0
	assert_owner "$r/work/by-name" 0:0
	assert_owner "$r/work/by-names" 0:0
	assert_owner "$r/work/dir/relative" 0:0
	assert_eq "$(cat "$r/second/ids")" "0
0
/root" "RUN as USER root"
	assert_owner "$r/second/made-by-run" 0:0
}

volume_missing_path() {
	local ctx r
	ctx=$(case_ctx pending/volume-missing-path)
	build_ok "$ctx" volume:it
	assert_contains "$(cat "$ctx.log")" "Creating directory /data for VOLUME" log
	unpack_image "$KILN_TEST_REGISTRY/volume:it" "$W/u-volume"
	r=$W/u-volume/rootfs
	assert_eq "$(cat "$r/data/f" "$r/json/g")" "x
y" "what RUN wrote under the volumes"
	assert_exists "$r/deep/er/vol/sub"
	local d
	for d in data deep deep/er deep/er/vol json later; do
		assert_owner "$r/$d" 0:0
		assert_file_mode "$r/$d" 755
	done
	assert_eq "$(image_config "$KILN_TEST_REGISTRY/volume:it" | jq -c '.config.Volumes | keys')" \
		'["/data","/deep/er/vol","/json","/later"]' Volumes
}

t_run "COPY/ADD: a wildcard matching nothing copies what matches, no crash" glob_matching_nothing
t_run "stages the target does not need are skipped by default; =false builds them" \
	unused_stages_skipped_by_default
t_run "<<- heredocs: leading tabs removed for RUN and COPY (BuildKit)" heredoc_chomp
t_run "RUN's supplementary groups: /etc/group memberships only (USER name, uid, u:g)" \
	supplementary_groups
t_run "ADD of a local archive: destination dirs root's or --chown's, not the archive's" \
	add_archive_dest_dirs
t_run "ARG names written with expansions are expanded" arg_name_expansion
t_run "a stage FROM an earlier stage inherits its ARG values" arg_inherited_from_parent_stage
t_run "USER root without /etc/passwd is uid 0 (WORKDIR, COPY --chown, RUN)" \
	user_root_without_passwd
t_run "VOLUME of a missing path: the directory is made, RUN's writes there kept" \
	volume_missing_path
t_done
