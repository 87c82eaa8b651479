# assert.sh — a small TAP library for integration tests.
#   t_run <name> <function>   runs the function in a subshell (errexit on); it passes when
#                             the function returns 0. Its output is shown only on failure.
#   t_done                    prints the plan line; the script's exit status is the failures
#   fail <msg>, assert_eq <actual> <expected> <what>, assert_contains <haystack> <needle> <what>,
#   assert_file_mode <path> <octal>, assert_owner <path> <uid:gid>, assert_exists <path>
_T_N=0
_T_FAILED=0
T_LOG_DIR=${T_LOG_DIR:-$(mktemp -d /tmp/kiln-it-log.XXXXXX)}

t_run() {
	local name=$1 fn=$2 log
	_T_N=$((_T_N + 1))
	log="$T_LOG_DIR/$_T_N.log"
	if (set -eo pipefail; "$fn") >"$log" 2>&1; then
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
