# shellcheck shell=bash
# assert.sh — a small TAP library for integration tests.
#   t_run <name> <function>   runs the function in a subshell with errexit, pipefail and
#                             inherit_errexit on; it passes when the function returns 0 and
#                             no command in it failed. Its output is shown only on failure.
#                             Call t_run as a plain command (top level of the script, or the
#                             body of an if/for), never as `if t_run`, `t_run || …` or `! t_run`:
#                             there bash ignores errexit and t_run reports the test `not ok`.
#   t_done                    prints the plan line; the script's exit status is the failures
#   fail <msg>, assert_eq <actual> <expected> <what>, assert_contains <haystack> <needle> <what>,
#   assert_file_mode <path> <octal>, assert_owner <path> <uid:gid>, assert_exists <path>
#
# Writing a test function: every command in it is expected to succeed; the first one that
# fails (non-zero status, or any stage of a pipeline) fails the test. Expected failures:
#   `! cmd || fail "why"`      fails the test when cmd succeeds
#   `rc=0; cmd || rc=$?`       captures the status (then assert_eq "$rc" 3 "exit status")
#   `if cmd; then …; fi`       branches on it
# A bare `! cmd` never fails the test, even when cmd succeeds (bash does not apply errexit to
# a `!` pipeline), unless it is the function's last command: always add `|| fail "…"`.
# Where bash ignores errexit — and a failing command does NOT stop the test:
#   - inside a function called as `if f`, `while f`, `f || …`, `f && …` or `! f`: errexit is
#     off for every command in f (and what f calls), so such a helper must check each step
#     itself (`cmd || return 1`, `a && b && c`) — or be called as a plain command instead;
#   - every command of an `a && b` / `a || b` list but the last (`[ -f x ] && cat x` does not
#     fail the test when x is missing; write `if`, or end the line with `|| fail …`);
#   - `local v=$(cmd)` and `export v=$(cmd)`: the status is local's; declare first, then
#     assign: `local v; v=$(cmd)`;
#   - a command in a process substitution `<(cmd)` or a background job `cmd &` (check with
#     `wait $pid`).
# A pipeline fails when any of its commands does (pipefail): `cmd | head -n1` may fail when
# head closes the pipe early (SIGPIPE) — read the whole output (`cmd | sed -n 1p`) instead.
_T_N=0
_T_FAILED=0
T_LOG_DIR=${T_LOG_DIR:-$(mktemp -d /tmp/kiln-it-log.XXXXXX)}

t_run() {
	local name=$1 fn=$2 log rc errexit=0
	_T_N=$((_T_N + 1))
	log="$T_LOG_DIR/$_T_N.log"
	# the function runs as a plain command in a subshell — not in an if/&&/|| condition, where
	# bash would ignore errexit — and its status is read afterwards; the caller's own errexit
	# is suspended meanwhile so that a failing test does not end the script
	case $- in *e*) errexit=1 ;; esac
	set +e
	(
		set -eo pipefail
		shopt -s inherit_errexit
		# t_run itself called where errexit is ignored (if t_run, t_run ||): no command of
		# the function could fail its test, so the test fails here
		set +e
		(
			set -e
			false
			exit 0
		)
		[ $? -ne 0 ] || {
			echo "t_run: called where bash ignores errexit (if/while condition, && or || list):" \
				"call t_run as a plain command"
			exit 1
		}
		# the command that fails the test is named in its log (errtrace: also inside functions)
		set -eE
		# shellcheck disable=SC2154 # _t_rc is set by the trap itself
		trap '_t_rc=$?; echo "t_run: \`$BASH_COMMAND\` exited $_t_rc (${BASH_SOURCE[0]##*/}:$LINENO)" >&2' ERR
		"$fn"
	) >"$log" 2>&1
	rc=$?
	[ "$errexit" -eq 0 ] || set -e
	if [ "$rc" -eq 0 ]; then
		echo "ok $_T_N - $name"
	else
		_T_FAILED=$((_T_FAILED + 1))
		echo "not ok $_T_N - $name"
		tail -n 40 "$log" | sed 's/^/#   /'
	fi
}

t_done() {
	echo "1..$_T_N"
	[ "$_T_FAILED" -eq 0 ]
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

assert_eq() {
	[ "$1" == "$2" ] || fail "${3:-value}: got '$1', expected '$2'"
}

assert_contains() {
	case "$1" in
	*"$2"*) ;;
	*) fail "${3:-text} does not contain '$2': $1" ;;
	esac
}

assert_not_contains() {
	case "$1" in
	*"$2"*) fail "${3:-text} contains '$2'" ;;
	*) ;;
	esac
}

assert_exists() {
	[ -e "$1" ] || [ -L "$1" ] || fail "missing: $1"
}

assert_file_mode() {
	local m
	m=$(stat -c '%a' "$1") || fail "cannot stat $1"
	[ "$m" = "$2" ] || fail "mode of $1: got $m, expected $2"
}

assert_owner() {
	local o
	o=$(stat -c '%u:%g' "$1") || fail "cannot stat $1"
	[ "$o" = "$2" ] || fail "owner of $1: got $o, expected $2"
}
