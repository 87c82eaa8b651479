#!/usr/bin/env bash
# test_semantics.sh — Dockerfile semantics end to end: stage selection (--target,
# --skip-unused-stages), ARG scoping and precedence, the predefined platform and proxy ARGs,
# the unused build-arg warning, ONBUILD triggers run by a later build, the flags the plan
# refuses before anything is pulled.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
W=$KILN_TEST_WORK/semantics
mkdir -p "$W/ctx"

stages_and_target() {
	cat >"$W/ctx/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE AS broken
RUN echo "this stage is not needed" && exit 3

FROM $BUSYBOX_IMAGE AS Base
RUN echo base > /base

FROM base AS final
RUN cat /base > /final

FROM $BUSYBOX_IMAGE AS after
RUN exit 4
DOCKERFILE
	local rc=0
	kiln_build --context "$W/ctx" --target FINAL --skip-unused-stages=false --no-push \
		>"$W/t1.log" 2>&1 || rc=$?
	assert_eq "$rc" 3 "--skip-unused-stages=false builds every stage before the target (kaniko)"
	kiln_build --context "$W/ctx" --target final --skip-unused-stages \
		--destination "$KILN_TEST_REGISTRY/target:it" >"$W/t2.log" 2>&1 ||
		{ cat "$W/t2.log"; fail "--skip-unused-stages build failed"; }
	unpack_image "$KILN_TEST_REGISTRY/target:it" "$W/target"
	assert_eq "$(cat "$W/target/rootfs/final")" base "FROM <stage> (names are case-insensitive)"
	rc=0
	kiln_build --context "$W/ctx" --target nope --no-push >"$W/t3.log" 2>&1 || rc=$?
	assert_eq "$rc" 1 "unknown target"
	assert_contains "$(cat "$W/t3.log")" "nope is not a valid target build stage" error
}

args_scoping_and_precedence() {
	cat >"$W/ctx/Dockerfile" <<DOCKERFILE
ARG META=meta-default
ARG IMG=$BUSYBOX_IMAGE
FROM \${IMG}
ARG META
ARG LOCAL=local-default
ARG SHADOW=from-arg
ENV SHADOW=from-env
ARG TARGETARCH
ARG TARGETPLATFORM
RUN echo "\$META \$LOCAL \$SHADOW \$TARGETARCH \$TARGETPLATFORM \${UNDECLARED:-unset} \${HTTP_PROXY:-none}" > /args
DOCKERFILE
	kiln_build --context "$W/ctx" --build-arg LOCAL=from-cli --build-arg UNDECLARED=x \
		--build-arg HTTP_PROXY=http://127.0.0.1:9 --build-arg NEVER_USED=1 \
		--destination "$KILN_TEST_REGISTRY/args:it" >"$W/a.log" 2>&1 ||
		{ cat "$W/a.log"; fail "build failed"; }
	unpack_image "$KILN_TEST_REGISTRY/args:it" "$W/args"
	assert_eq "$(cat "$W/args/rootfs/args")" \
		"meta-default from-cli from-env amd64 linux/amd64 unset http://127.0.0.1:9" "values seen by RUN"
	local cfg
	cfg=$(image_config "$KILN_TEST_REGISTRY/args:it")
	assert_not_contains "$cfg" "127.0.0.1:9" "image config (proxy args stay out)"
	assert_not_contains "$cfg" "from-cli" "image config (ARG values stay out)"
	assert_contains "$(cat "$W/a.log")" "[NEVER_USED] were not consumed" "warning"
	assert_not_contains "$(cat "$W/a.log")" "[HTTP_PROXY] were not consumed" "warning"
}

onbuild_triggers() {
	mkdir -p "$W/ob1" "$W/ob2"
	printf 'FROM %s\nONBUILD RUN echo triggered > /onbuild\nONBUILD ENV FROM_TRIGGER=1\n' \
		"$BUSYBOX_IMAGE" >"$W/ob1/Dockerfile"
	kiln_build --context "$W/ob1" --destination "$KILN_TEST_REGISTRY/onbuild-base:it" >"$W/o1.log" 2>&1 ||
		{ cat "$W/o1.log"; fail "base build failed"; }
	assert_eq "$(image_config "$KILN_TEST_REGISTRY/onbuild-base:it" | jq -c .config.OnBuild)" \
		'["RUN echo triggered > /onbuild","ENV FROM_TRIGGER=1"]' "stored triggers"
	printf 'FROM %s\nRUN test -f /onbuild\n' "$KILN_TEST_REGISTRY/onbuild-base:it" >"$W/ob2/Dockerfile"
	kiln_build --context "$W/ob2" --destination "$KILN_TEST_REGISTRY/onbuild-child:it" >"$W/o2.log" 2>&1 ||
		{ cat "$W/o2.log"; fail "child build failed"; }
	assert_contains "$(cat "$W/o2.log")" "Executing 2 build triggers" log
	local cfg
	cfg=$(image_config "$KILN_TEST_REGISTRY/onbuild-child:it")
	assert_eq "$(jq -c .config.OnBuild <<<"$cfg")" null "triggers are not inherited"
	assert_contains "$(jq -c .config.Env <<<"$cfg")" "FROM_TRIGGER=1" Env
}

independent_stages_run_concurrently() {
	[ "$(nproc)" -ge 2 ] || fail "this check needs 2 CPUs (kiln runs one stage per CPU)"
	cat >"$W/ctx/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE AS one
RUN sleep 1 && echo one > /one
ENV ONE_DONE=1
FROM $BUSYBOX_IMAGE AS two
RUN echo two > /two
FROM $BUSYBOX_IMAGE
COPY --from=one /one /one
COPY --from=two /two /two
DOCKERFILE
	kiln_build --context "$W/ctx" --destination "$KILN_TEST_REGISTRY/parallel:it" >"$W/p.log" 2>&1 ||
		{ cat "$W/p.log"; fail "build failed"; }
	# stage 1 does not wait for stage 0: its RUN runs before stage 0's RUN has finished
	local started_two finished_one
	started_two=$(grep -n "Running: .*echo two" "$W/p.log" | sed -n 1p | cut -d: -f1)
	finished_one=$(grep -n "ENV ONE_DONE=1" "$W/p.log" | sed -n 1p | cut -d: -f1)
	echo "stage 1 runs at log line $started_two; stage 0 passes its RUN at line $finished_one"
	[ -n "$started_two" ] && [ -n "$finished_one" ] || fail "log lines not found"
	[ "$started_two" -lt "$finished_one" ] || fail "independent stages were built one after another"
	# the final stage waited for both
	unpack_image "$KILN_TEST_REGISTRY/parallel:it" "$W/par"
	assert_eq "$(cat "$W/par/rootfs/one" "$W/par/rootfs/two")" "one
two" "files from both stages"
}

# the plan checks the flags of every instruction of the stages that will be built before
# anything is pulled (same messages as when each instruction ran); a skipped stage's are not
plan_checks_flags_first() {
	cat >"$W/ctx/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE AS unused
RUN --network=none true
FROM $BUSYBOX_IMAGE
RUN echo hi
HEALTHCHECK --interval=bad CMD true
DOCKERFILE
	local rc=0
	kiln_build --context "$W/ctx" --no-push --skip-unused-stages=false >"$W/f1.log" 2>&1 ||
		rc=$?
	assert_eq "$rc" 1 "exit status"
	assert_contains "$(cat "$W/f1.log")" \
		"Dockerfile:2: RUN --network is not implemented yet in kiln" error
	! grep -q "Retrieving image" "$W/f1.log" || fail "a base was pulled before the flag was refused"
	rc=0
	kiln_build --context "$W/ctx" --no-push >"$W/f2.log" 2>&1 || rc=$?
	assert_eq "$rc" 1 "exit status with unused stages skipped (the default)"
	assert_contains "$(cat "$W/f2.log")" "Dockerfile:5: invalid duration for --interval: 'bad'" error
	! grep -q "RUN --network" "$W/f2.log" || fail "the skipped stage's flags were checked"
	! grep -q "Retrieving image" "$W/f2.log" || fail "a base was pulled before the flag was refused"
	# COPY and ADD: the plan parses them (plan/copyspec) with the rest
	printf 'FROM %s\nRUN echo hi\nCOPY --chmod=9 a /a\n' "$BUSYBOX_IMAGE" >"$W/ctx/Dockerfile"
	rc=0
	kiln_build --context "$W/ctx" --no-push >"$W/f3.log" 2>&1 || rc=$?
	assert_eq "$rc" 1 "exit status for a bad COPY --chmod"
	assert_contains "$(cat "$W/f3.log")" "Dockerfile:3: invalid --chmod value '9' (octal expected)" error
	! grep -q "Retrieving image" "$W/f3.log" || fail "a base was pulled before COPY was refused"
}

t_run "stages: --target, --skip-unused-stages, FROM <stage>" stages_and_target
t_run "ARG scoping, ENV over ARG, platform and proxy ARGs, unused warning" args_scoping_and_precedence
t_run "independent stages build concurrently; dependants wait" independent_stages_run_concurrently
t_run "the plan refuses unsupported flags of built stages before any pull" plan_checks_flags_first
t_run "ONBUILD triggers stored, run by the next build, not inherited" onbuild_triggers
t_done
