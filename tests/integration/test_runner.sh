#!/usr/bin/env bash
# test_runner.sh — defects that failed real CI jobs in the default mode (issue 13): concurrent
# stages and leaked write descriptors (ETXTBSY), --cleanup with the private stage tmpfs, output
# files that are devices, symlinks or bind mounts, --ignore-path in every isolation mode,
# --custom-platform validation, the bounded blob store.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
source "$KILN_TOP/tests/lib/runc.sh"
W=$KILN_TEST_WORK/runner
mkdir -p "$W"

# --- 1. concurrent stages: no "Text file busy" -------------------------------------------------
# three independent stages, each extracting its base and running a command, while the others
# extract theirs: a child forked by one stage must never hold another stage's file open for
# writing when that stage execs it
concurrent_stages_never_etxtbsy() {
	mkdir -p "$W/conc"
	cat >"$W/conc/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE AS a
RUN sleep 1 && echo a > /a
FROM $BUSYBOX_IMAGE AS b
RUN sleep 1 && echo b > /b
FROM $DEBIAN_IMAGE AS c
RUN sleep 1 && echo c > /c
FROM $BUSYBOX_IMAGE
COPY --from=a /a /a
COPY --from=b /b /b
COPY --from=c /c /c
DOCKERFILE
	# kiln runs up to min(CPUs, 4) stages at once: the three run together, as on a 4-CPU CI
	# runner, whatever this machine has (sysconf reads /sys/devices/system/cpu/online)
	echo 0-3 >"$W/conc/online"
	local i failed=0 n=${KILN_CONC_RUNS:-20}
	for i in $(seq 1 "$n"); do
		local kdir=$W/conc/k$i rc=0
		unshare -m sh -c 'mount --bind "$1" /sys/devices/system/cpu/online && shift && exec "$@"' \
			sh "$W/conc/online" "$KILN" --kaniko-dir "$kdir" --insecure-pull --log-format text \
			--context "$W/conc" --no-push >"$W/conc/$i.log" 2>&1 || rc=$?
		if [ "$rc" -ne 0 ]; then
			failed=$((failed + 1))
			echo "build $i: exit $rc: $(grep -i 'error' "$W/conc/$i.log" | tail -n 1)"
		fi
		rm -rf "$kdir"
	done
	echo "$failed of $n builds failed"
	[ "$failed" -eq 0 ] || fail "$failed of $n builds of three concurrent stages failed"
}

t_run "three concurrent stages, 20 builds in the default mode: no Text file busy" concurrent_stages_never_etxtbsy
t_done
