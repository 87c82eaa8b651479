#!/usr/bin/env bash
# test_timing.sh — time made visible (issue 18): the end-of-build summary in the log, the same
# rows as JSON events with --log-format json, kaniko's BENCHMARK_FILE, and progress of big
# pulls, unpacks and pushes (plain lines off a terminal, live bars on one). No figure is
# asserted: only that each report is there, well formed and about the right things.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
W=$KILN_TEST_WORK/timing
mkdir -p "$W/ctx"
REF=$KILN_TEST_REGISTRY/timing:big

# a 6 MB incompressible file: its layer is over progress's 4 MiB threshold
head -c 6000000 /dev/urandom >"$W/ctx/big.bin"
printf 'FROM %s\nCOPY big.bin /big.bin\nRUN echo hi > /x\n' "$BUSYBOX_IMAGE" >"$W/ctx/Dockerfile"

summary_and_benchmark_file() {
	rm -f "$W/bench.json"
	BENCHMARK_FILE=$W/bench.json KILN_PROGRESS_INTERVAL=0.001 kiln_build --context "$W/ctx" \
		--destination "$REF" >"$W/b1.log" 2>&1 || { cat "$W/b1.log"; fail "build failed"; }
	local log
	log=$(cat "$W/b1.log")
	assert_contains "$log" 'msg="Build timing summary (seconds; cache; layer or blob size):"' "summary header"
	grep -Eq 'msg="  step +stage 0 +[0-9]+\.[0-9]{3} s  built +6\.0 MB  COPY big\.bin /big\.bin"' "$W/b1.log" ||
		fail "no summary row for the COPY step (6.0 MB layer, built)"
	grep -Eq 'msg="  step +stage 0 +[0-9]+\.[0-9]{3} s  built +[0-9.]+ kB  RUN echo hi > /x"' "$W/b1.log" ||
		fail "no summary row for the RUN step"
	grep -Eq "msg=\"  pull +stage 0 +[0-9]+\.[0-9]{3} s +[0-9.]+ MB  $KILN_TEST_REGISTRY/busybox[:@]" "$W/b1.log" ||
		fail "no pull row"
	grep -Eq 'msg="  unpack +stage 0 +[0-9]+\.[0-9]{3} s' "$W/b1.log" || fail "no unpack row"
	grep -Eq "msg=\"  push +[0-9]+\.[0-9]{3} s +$REF\"" "$W/b1.log" || fail "no push row"
	grep -Eq 'msg="  total [0-9]+\.[0-9]{3} s: pull [0-9.]+ s, unpack [0-9.]+ s, steps [0-9.]+ s, push [0-9.]+ s"' \
		"$W/b1.log" || fail "no total line"
	# the summary comes after the push
	local pushed_at summary_at
	pushed_at=$(grep -n "msg=\"Pushed $KILN_TEST_REGISTRY/timing@" "$W/b1.log" | cut -d: -f1)
	summary_at=$(grep -n 'Build timing summary' "$W/b1.log" | cut -d: -f1)
	[ -n "$pushed_at" ] && [ "$summary_at" -gt "$pushed_at" ] || fail "summary before the push"
	# BENCHMARK_FILE: category -> nanoseconds, every phase there, integers
	jq -e 'type == "object" and (to_entries | all(.value | type == "number" and . >= 0 and floor == .))' \
		"$W/bench.json" >/dev/null || fail "BENCHMARK_FILE is not {category: ns}: $(cat "$W/bench.json")"
	local k
	for k in "Total Build Time" "Pulling Base Layers" "Unpacking Rootfs" "Pushing Image" \
		"COPY big.bin /big.bin" "RUN echo hi > /x"; do
		jq -e --arg k "$k" 'has($k)' "$W/bench.json" >/dev/null || fail "BENCHMARK_FILE lacks '$k'"
	done
	jq -e '.["Total Build Time"] >= .["COPY big.bin /big.bin"] and .["Total Build Time"] > 0' \
		"$W/bench.json" >/dev/null || fail "total shorter than a step"
}

progress_lines_push() {
	# not a terminal: plain lines (interval made tiny so that a local push still shows some),
	# then a done line, for the 6 MB layer only (busybox's 1 MB layer is below the threshold)
	local layer
	layer=$(image_raw "$REF" | jq -r '.layers[-2].digest')
	grep -Eq "msg=\"Pushing $layer: [0-9.]+ MB of 6\.0 MB \([0-9]+%\), [0-9.]+ MB/s\"" "$W/b1.log" ||
		fail "no progress line for the push of $layer"
	grep -Eq "msg=\"Pushed $layer: 6\.0 MB in [0-9.]+ s, [0-9.]+ MB/s\"" "$W/b1.log" ||
		fail "no done line for the push of $layer"
	! grep -q 'msg="Pulling sha256' "$W/b1.log" || fail "progress for a blob under 4 MiB"
}

progress_lines_pull_unpack() {
	# a fresh kaniko dir pulls the 6 MB layer again and unpacks it
	local layer
	layer=$(image_raw "$REF" | jq -r '.layers[-2].digest')
	mkdir -p "$W/ctx2"
	printf 'FROM %s\nRUN test -s /big.bin\n' "$REF" >"$W/ctx2/Dockerfile"
	KILN_PROGRESS_INTERVAL=0.001 kiln_build --context "$W/ctx2" --no-push >"$W/b2.log" 2>&1 ||
		{ cat "$W/b2.log"; fail "build failed"; }
	grep -Eq "msg=\"Pulled $layer: 6\.0 MB in [0-9.]+ s, [0-9.]+ MB/s\"" "$W/b2.log" ||
		fail "no done line for the pull"
	grep -Eq "msg=\"Unpacked $layer: 6\.0 MB in [0-9.]+ s, [0-9.]+ MB/s\"" "$W/b2.log" ||
		fail "no done line for the unpack"
	grep -Eq "msg=\"(Pulling|Unpacking) $layer: [0-9.]+ MB of 6\.0 MB \([0-9]+%\)" "$W/b2.log" ||
		fail "no periodic line for the pull or unpack"
	# the default interval is seconds: a quick local build prints no periodic line
	kiln_build --context "$W/ctx2" --no-push >"$W/b3.log" 2>&1 || { cat "$W/b3.log"; fail "build failed"; }
	grep -q "msg=\"Pulled $layer" "$W/b3.log" || fail "no done line with the default interval"
	! grep -q "MB of 6.0 MB" "$W/b3.log" || fail "periodic lines faster than the default interval"
	KILN_PROGRESS=0 kiln_build --context "$W/ctx2" --no-push >"$W/b4.log" 2>&1 ||
		{ cat "$W/b4.log"; fail "build failed"; }
	! grep -q "Pulled sha256" "$W/b4.log" || fail "KILN_PROGRESS=0 still reports"
}

json_events() {
	rm -f "$W/none.json"
	BENCHMARK_FILE=false kiln_build --context "$W/ctx" --destination "$REF-json" --log-format json \
		>"$W/j.log" 2>&1 || { cat "$W/j.log"; fail "build failed"; }
	jq -e . "$W/j.log" >/dev/null || fail "a log line is not JSON"
	local step
	step=$(jq -c 'select(.event == "step" and .step == "COPY big.bin /big.bin")' "$W/j.log")
	[ -n "$step" ] || fail "no step event for COPY"
	jq -e '.msg == "timing: step" and .stage == 0 and .cached == false and .layer_size > 5900000
		and (.duration_ns | type == "number") and .duration_ns > 0 and .level == "info"' \
		<<<"$step" >/dev/null || fail "step event: $step"
	local e
	for e in pull unpack push total; do
		jq -se --arg e "$e" 'map(select(.event == $e and .duration_ns >= 0)) | length == 1' \
			"$W/j.log" >/dev/null || fail "not one $e event"
	done
	jq -se 'map(select(.event == "total"))[0] | .step_ns > 0 and .push_ns > 0' "$W/j.log" \
		>/dev/null || fail "total event without the phase sums"
	# BENCHMARK_FILE=false writes nothing (kaniko's switch)
	[ ! -e false ] || fail "BENCHMARK_FILE=false wrote a file named false"
}

terminal_bars() {
	command -v script >/dev/null || fail "script (util-linux) is missing"
	# stderr is a pseudo-terminal: the colored log with a live bar per big blob
	# a layer of its own, so that the push uploads it (no blob to mount from an earlier test)
	local kdir
	kdir=$(mktemp -d "$KILN_TEST_WORK/kaniko.XXXXXX")
	mkdir -p "$W/ctx-tty"
	head -c 6000000 /dev/urandom >"$W/ctx-tty/big.bin"
	cp "$W/ctx/Dockerfile" "$W/ctx-tty/"
	script -qec "$(printf '%q ' "$KILN" --kaniko-dir "$kdir" --insecure --insecure-pull \
		--context "$W/ctx-tty" --destination "$REF-tty")" /dev/null >"$W/tty.log" 2>&1 ||
		{ cat "$W/tty.log"; fail "build under a pty failed"; }
	local layer
	layer=$(image_raw "$REF-tty" | jq -r '.layers[-2].digest')
	# a bar: erase-line escape, the verb, the digest cut to 19 characters, [=====>   ]
	grep -aEq $'\e\\[2KPushing +'"${layer:0:19}"' \[[= >]{30}\] [0-9.]+ MB / 6\.0 MB' "$W/tty.log" ||
		{ cat -v "$W/tty.log" | tail -20; fail "no live bar for the push"; }
	grep -aq $'\e\\[1A\e\\[J' "$W/tty.log" || fail "bars never redrawn in place"
	grep -aq "Pushed $layer: 6.0 MB in" "$W/tty.log" || fail "no done line on the terminal"
	grep -aq 'Build timing summary' "$W/tty.log" || fail "no summary on the terminal"
	# plain lines are for logs, not terminals
	! grep -aq 'MB of 6.0 MB' "$W/tty.log" || fail "plain progress lines on a terminal"
}

cached_steps() {
	# the second build on a fresh state takes the RUN from the layer cache: its row says so
	mkdir -p "$W/ctx-cache"
	printf 'FROM %s\nRUN echo cached-%s > /c\n' "$BUSYBOX_IMAGE" "$RANDOM$RANDOM" >"$W/ctx-cache/Dockerfile"
	local i
	for i in 1 2; do
		kiln_build --context "$W/ctx-cache" --cache --cache-repo "$KILN_TEST_REGISTRY/timing/cache" \
			--destination "$REF-cache$i" >"$W/c$i.log" 2>&1 || { cat "$W/c$i.log"; fail "build $i failed"; }
	done
	grep -Eq 'msg="  step +stage 0 +[0-9.]+ s  built +[0-9.]+ kB  RUN echo cached-' "$W/c1.log" ||
		fail "first build: RUN not reported as built"
	grep -Eq 'msg="  step +stage 0 +[0-9.]+ s  cached +[0-9.]+ kB  RUN echo cached-' "$W/c2.log" ||
		{ grep summary -A5 "$W/c2.log"; fail "second build: RUN not reported as cached"; }
}

streamed_pull() {
	# a base of busybox + two 6 MB layers, pulled through a proxy that holds the last layer's
	# GET for 3 s: the layer before it is unpacked while that download still waits (layers
	# unpack in order as soon as each is in the store, digest verified), so its "Unpacked"
	# line comes before the last layer's "Pulled" line; pulling everything first would print
	# every "Pulled" line before any "Unpacked" one
	mkdir -p "$W/ctx-base"
	head -c 6000000 /dev/urandom >"$W/ctx-base/a.bin"
	head -c 6000000 /dev/urandom >"$W/ctx-base/b.bin"
	printf 'FROM %s\nCOPY a.bin /a.bin\nCOPY b.bin /b.bin\n' "$BUSYBOX_IMAGE" >"$W/ctx-base/Dockerfile"
	kiln_build --context "$W/ctx-base" --destination "$KILN_TEST_REGISTRY/timing/base:two" \
		>"$W/base.log" 2>&1 || { cat "$W/base.log"; fail "base build failed"; }
	local la lb
	la=$(image_raw "$KILN_TEST_REGISTRY/timing/base:two" | jq -r '.layers[-2].digest')
	lb=$(image_raw "$KILN_TEST_REGISTRY/timing/base:two" | jq -r '.layers[-1].digest')
	python3 "$KILN_TOP/tests/lib/faultproxy.py" --upstream "$KILN_TEST_REGISTRY" \
		--port-file "$W/proxy.port" --log "$W/proxy.log" \
		--rule delay GET "/blobs/$lb" 3 1 2>"$W/proxy.err" &
	local pp=$! i
	for i in $(seq 1 100); do
		[ -s "$W/proxy.port" ] && break
		sleep 0.05
	done
	local proxy=127.0.0.1:$(cat "$W/proxy.port")
	mkdir -p "$W/ctx-stream"
	printf 'FROM %s/timing/base:two\nRUN test -s /a.bin && test -s /b.bin\n' "$proxy" \
		>"$W/ctx-stream/Dockerfile"
	local rc=0
	kiln_build --context "$W/ctx-stream" --no-push >"$W/stream.log" 2>&1 || rc=$?
	kill "$pp" 2>/dev/null || true
	wait "$pp" 2>/dev/null || true
	[ "$rc" = 0 ] || { cat "$W/stream.log" "$W/proxy.err"; fail "build through the proxy failed"; }
	local ua pb
	ua=$(grep -n "msg=\"Unpacked $la" "$W/stream.log" | cut -d: -f1)
	pb=$(grep -n "msg=\"Pulled $lb" "$W/stream.log" | cut -d: -f1)
	[ -n "$ua" ] && [ -n "$pb" ] || { cat "$W/stream.log"; fail "no Unpacked/Pulled lines"; }
	[ "$ua" -lt "$pb" ] || { cat "$W/stream.log"; fail "layer A unpacked only after layer B's pull"; }
}

t_run "summary after the push; BENCHMARK_FILE {category: ns}" summary_and_benchmark_file
t_run "progress lines for a big push, none for small blobs" progress_lines_push
t_run "progress lines for a big pull and unpack; interval; KILN_PROGRESS=0" progress_lines_pull_unpack
t_run "--log-format json: one timing event per row" json_events
t_run "a step taken from the layer cache is reported as cached" cached_steps
t_run "a base layer unpacks while a later one still downloads" streamed_pull
t_run "terminal: live bars under a pseudo-terminal" terminal_bars
t_done
