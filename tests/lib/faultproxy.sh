# faultproxy.sh — start and stop tests/lib/faultproxy.py in front of a registry, for integration
# tests. Needs $W (the test's work directory), $KILN_TOP and assert.sh's fail.
#   proxy_start <name> [--rule KIND METHOD REGEX ARG COUNT]...   exports PROXY (127.0.0.1:port)
#     and PROXY_LOG; the upstream is $PROXY_UPSTREAM (default $KILN_TEST_REGISTRY)
#   proxy_stop
PROXY_PID=
proxy_start() {
	local name=$1
	shift
	proxy_stop
	PROXY_LOG=$W/$name.proxy.log
	rm -f "$W/$name.port" "$PROXY_LOG"
	python3 "$KILN_TOP/tests/lib/faultproxy.py" --upstream "${PROXY_UPSTREAM:-$KILN_TEST_REGISTRY}" \
		--port-file "$W/$name.port" --log "$PROXY_LOG" "$@" 2>"$W/$name.proxy.err" &
	PROXY_PID=$!
	# t_run runs each test in a subshell, whose PROXY_PID the script's EXIT trap never sees:
	# the subshell stops its own proxy
	trap 'proxy_stop' EXIT
	local i
	for i in $(seq 1 100); do
		[ -s "$W/$name.port" ] && break
		sleep 0.05
	done
	[ -s "$W/$name.port" ] || { cat "$W/$name.proxy.err"; fail "faultproxy did not start"; }
	PROXY=127.0.0.1:$(cat "$W/$name.port")
	touch "$PROXY_LOG"
}

proxy_stop() {
	if [ -n "$PROXY_PID" ]; then
		kill "$PROXY_PID" 2>/dev/null || true
		wait "$PROXY_PID" 2>/dev/null || true
		PROXY_PID=
	fi
}
