#!/usr/bin/env bash
# check-banned.sh — STYLE.md's banned calls: unsafe string functions, locale/time functions that
# are not thread-safe, shell-outs, exit() outside cli/, and open() without O_CLOEXEC.
# The compiler refuses the functions itself (src/util/poison.h, force-included by meson.build):
# this script checks that the poison is in force for each of them, and greps for what a compiler
# cannot see (open() without O_CLOEXEC; code in a branch the build does not compile).
# Prints file:line for each hit; exit status 1 when there is any.
set -uo pipefail
cd "$(dirname "$0")/../.."
status=0
banned='strcpy|strcat|strncpy|sprintf|vsprintf|strtok|gets|atoi|atol|gmtime|localtime|mktemp|tmpnam|system|popen'
# the poison: a file that uses the name must fail to compile, the same file without it must not
cc=${CC:-cc}
probe=$(mktemp -d /tmp/kiln-poison.XXXXXX)
trap 'rm -rf "$probe"' EXIT
compiles() { # compiles <name-or-empty> <extra cc args...>
	local name=$1
	shift
	printf '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <time.h>\nvoid *probe(void);\nvoid *probe(void) { return (void *)%s; }\n' \
		"${name:-probe}" >"$probe/p.c"
	"$cc" -std=gnu17 -D_GNU_SOURCE -Isrc -include src/util/poison.h "$@" -c "$probe/p.c" \
		-o "$probe/p.o" 2>"$probe/err"
}
if ! compiles ""; then
	echo "src/util/poison.h: a file without banned calls does not compile:"
	cat "$probe/err"
	status=1
fi
for name in ${banned//|/ } exit; do
	if compiles "$name" || ! grep -q poison "$probe/err"; then
		echo "src/util/poison.h: '$name' is not poisoned"
		status=1
	fi
done
# ... and the build force-includes it into every translation unit
if ! grep -qF "add_project_arguments('-include', meson.project_source_root() / 'src' / 'util' / 'poison.h'" meson.build; then
	echo "meson.build: src/util/poison.h is not force-included"
	status=1
fi
compiles exit -DKILN_ALLOW_EXIT || {
	echo "src/util/poison.h: exit is poisoned even with KILN_ALLOW_EXIT (cli/)"
	status=1
}
# a call is the name as a whole word followed by "(" (so strtok_r, snprintf, gmtime_r pass)
if grep -nE "(^|[^A-Za-z0-9_])($banned)[[:space:]]*\(" -r src --include='*.c' --include='*.h'; then
	status=1
fi
if grep -nE '(^|[^A-Za-z0-9_])exit[[:space:]]*\(' -r src --include='*.c' | grep -v '^src/cli/'; then
	status=1
fi
# open()/openat() calls whose statement (up to the closing ";") lacks O_CLOEXEC or O_PATH
while IFS= read -r f; do
	awk -v file="$f" '
		{ line = $0; gsub(/\/\*.*\*\//, "", line); sub(/^[[:space:]]*\*.*/, "", line); sub(/\/\/.*/, "", line) }
		line ~ /(^|[^A-Za-z0-9_])(open|openat)[[:space:]]*\(/ { stmt = ""; start = FNR; collecting = 1 }
		collecting { stmt = stmt line; if ($0 ~ /;/) { collecting = 0;
			if (stmt !~ /O_CLOEXEC/) { print file ":" start ": open without O_CLOEXEC"; bad = 1 } } }
		END { exit bad }' "$f" || status=1
done < <(find src -name '*.c')
exit $status
