#!/usr/bin/env bash
# selftest.sh — the self-test of tests/lib/assert.sh (run by tests/run.sh, prints TAP).
# Test scripts made of known-good and known-bad functions run in a child bash; their TAP
# output and exit status are compared with what a strict harness must print. Checked here
# without t_run, so a broken t_run cannot pass its own test.
#   ASSERT_SH=<file>   the library under test (default tests/lib/assert.sh of this tree)
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
ASSERT_SH=${ASSERT_SH:-$top/tests/lib/assert.sh}
work=$(mktemp -d /tmp/kiln-selftest.XXXXXX)
trap 'rm -rf "$work"' EXIT
n=0
failed=0

check() { # check <name> <command...>: one TAP line
	local name=$1
	shift
	n=$((n + 1))
	if "$@" >"$work/check.out" 2>&1; then
		echo "ok $n - $name"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name"
		sed 's/^/#   /' "$work/check.out"
	fi
}

# child <name> <script body>: runs the body after sourcing assert.sh in a child bash; its
# stdout goes to $work/<name>.out, its exit status to $work/<name>.rc
child() {
	local name=$1 body=$2
	mkdir -p "$work/$name.logs"
	printf 'set -uo pipefail\nsource %q\n%s\n' "$ASSERT_SH" "$body" >"$work/$name.sh"
	local rc=0
	T_LOG_DIR=$work/$name.logs bash "$work/$name.sh" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
	echo "$rc" >"$work/$name.rc"
}

# the TAP result lines and the plan of a child's output
verdicts() { grep -E '^(ok|not ok) [0-9]+ - |^1\.\.' "$work/$1.out"; }

expect_verdicts() { # expect_verdicts <child> <expected lines>
	local got
	got=$(verdicts "$1")
	if [ "$got" != "$2" ]; then
		echo "expected:"
		echo "$2"
		echo "got (whole output):"
		cat "$work/$1.out" "$work/$1.err"
		return 1
	fi
}
expect_rc() { # expect_rc <child> <status>
	local got
	got=$(cat "$work/$1.rc")
	[ "$got" = "$2" ] || {
		echo "exit status $got, expected $2"
		return 1
	}
}
expect_text() { # expect_text <child> <grep -F text>: the text is in the child's stdout
	grep -qF -- "$2" "$work/$1.out" || {
		echo "'$2' not in the output:"
		cat "$work/$1.out"
		return 1
	}
}
expect_no_text() {
	! grep -qF -- "$2" "$work/$1.out" || {
		echo "'$2' is in the output:"
		cat "$work/$1.out"
		return 1
	}
}
expect_log_clean() { # expect_log_clean <child> <test number> <text>: not in that test's log
	! grep -qF -- "$3" "$work/$1.logs/$2.log" || {
		echo "'$3' is in the log of test $2:"
		cat "$work/$1.logs/$2.log"
		return 1
	}
}

child failing '
mid() { false; echo "MID: after false"; true; }
pipe() { false | cat; true; }
subst() { local v; v=$(false; echo late); echo "SUBST: $v"; }
helper() { false; echo "HELPER: after false"; }
nested() { helper; true; }
failed_fail() { fail "the reason"; }
t_run "a function that fails mid-way" mid
t_run "a pipeline whose first command fails" pipe
t_run "a failing command in a command substitution" subst
t_run "a failing command in a helper function" nested
t_run "fail <msg>" failed_fail
unexpected_success() { ! true || fail "true succeeded"; true; }
t_run "an expected failure that succeeds" unexpected_success
t_done'
check "false; true fails its test" expect_text failing "not ok 1 - a function that fails mid-way"
check "no command runs after the failing one" expect_log_clean failing 1 "MID: after false"
check "the failing command is named in the log" expect_text failing '#   t_run: `false` exited 1'
check "a pipeline failure fails its test (pipefail)" \
	expect_text failing "not ok 2 - a pipeline whose first command fails"
check "a failing command substitution fails its test (inherit_errexit)" \
	expect_text failing "not ok 3 - a failing command in a command substitution"
check "a failure inside a helper function fails its test" \
	expect_text failing "not ok 4 - a failing command in a helper function"
check "fail's message is in the log tail" expect_text failing "#   FAIL: the reason"
check "the TAP lines and plan of failing tests" expect_verdicts failing "not ok 1 - a function that fails mid-way
not ok 2 - a pipeline whose first command fails
not ok 3 - a failing command in a command substitution
not ok 4 - a failing command in a helper function
not ok 5 - fail <msg>
not ok 6 - an expected failure that succeeds
1..6"
check "a script with failures exits non-zero" expect_rc failing 1

child passing '
good() { echo "GOOD: hidden output"; true; }
expected_failures() {
	! false || fail "! false"
	rc=0; false || rc=$?
	assert_eq "$rc" 1 "captured status"
	if false; then exit 1; fi
	false || true
	assert_contains "hello world" "lo w"
	assert_not_contains "hello" "xyz"
}
t_run "a passing function" good
t_run "expected failures written with ! || and if" expected_failures
t_done'
check "passing functions are ok and the plan is right" expect_verdicts passing "ok 1 - a passing function
ok 2 - expected failures written with ! || and if
1..2"
check "a passing test's output is not shown" expect_no_text passing "GOOD: hidden output"
check "a script whose tests all pass exits 0" expect_rc passing 0

child asserts '
eq() { assert_eq "a" "b" "the value"; }
contains() { assert_contains "abc" "x" "the text"; }
not_contains() { assert_not_contains "abc" "b" "the text"; }
exists() { assert_exists /nonexistent/kiln-selftest; }
t_run "assert_eq" eq
t_run "assert_contains" contains
t_run "assert_not_contains" not_contains
t_run "assert_exists" exists
t_done'
check "failing assertions fail their tests" expect_verdicts asserts "not ok 1 - assert_eq
not ok 2 - assert_contains
not ok 3 - assert_not_contains
not ok 4 - assert_exists
1..4"
check "assert_eq names what differs" expect_text asserts "#   FAIL: the value: got 'a', expected 'b'"

# the caller's own errexit: a failing test neither ends the script nor is lost
child errexit '
set -e
bad() { false; true; }
good() { true; }
t_run "bad under the script'"'"'s set -e" bad
t_run "good after it" good
echo "SCRIPT: still running"
t_done'
check "a failing test does not end a set -e script" expect_verdicts errexit "not ok 1 - bad under the script's set -e
ok 2 - good after it
1..2"
check "the set -e script goes on after t_run" expect_text errexit "SCRIPT: still running"
check "the set -e script exits non-zero" expect_rc errexit 1

# t_run where bash would ignore errexit inside it: refused, never a silent pass
child ignored '
bad() { false; true; }
if t_run "t_run as an if condition" bad; then :; fi
t_run "t_run in an || list" bad || :
t_done'
check "t_run in an if condition or || list reports not ok" expect_verdicts ignored "not ok 1 - t_run as an if condition
not ok 2 - t_run in an || list
1..2"
check "… and says why" expect_text ignored "called where bash ignores errexit"

echo "1..$n"
[ "$failed" -eq 0 ]
