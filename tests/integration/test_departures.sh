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
	kiln_build --context "$ctx" --destination "$KILN_TEST_REGISTRY/$ref" "$@" >"$ctx.log" 2>&1 ||
		{ cat "$ctx.log"; fail "build of $ref failed"; }
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
	kiln_build --context "$ctx" --destination "$KILN_TEST_REGISTRY/glob-alone:it" \
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
	kiln_build --context "$ctx" --destination "$KILN_TEST_REGISTRY/glob-beside:it" \
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
	kiln_build --context "$ctx" --no-push >"$W/glob3.log" 2>&1 || rc=$?
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
	kiln_build --context "$ctx" --skip-unused-stages=false --no-push >"$W/stages2.log" 2>&1 || rc=$?
	[ "$rc" = 7 ] || { cat "$W/stages2.log"; fail "--skip-unused-stages=false: exit status $rc, expected 7"; }
	assert_contains "$(cat "$W/stages2.log")" "nobody uses this stage" log
}

t_run "COPY/ADD: a wildcard matching nothing copies what matches, no crash" glob_matching_nothing
t_run "stages the target does not need are skipped by default; =false builds them" \
	unused_stages_skipped_by_default
t_done
