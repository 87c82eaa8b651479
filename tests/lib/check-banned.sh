#!/usr/bin/env bash
# check-banned.sh — STYLE.md's banned calls: unsafe string functions, locale/time functions that
# are not thread-safe, shell-outs, exit() outside cli/, and open() without O_CLOEXEC.
# Prints file:line for each hit; exit status 1 when there is any.
set -uo pipefail
cd "$(dirname "$0")/../.."
status=0
banned='strcpy|strcat|strncpy|sprintf|vsprintf|strtok|gets|atoi|atol|gmtime|localtime|mktemp|tmpnam|system|popen'
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
