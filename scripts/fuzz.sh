#!/bin/sh
# fuzz.sh — builds the libFuzzer targets of tests/fuzz with clang (ASan+UBSan) and runs them.
#
#   scripts/fuzz.sh [--merge] [target...]     targets: dockerfile shell dockerignore ignorelinks
#                                             heredoc manifest challenge ref (default all)
#
# SECONDS_PER_TARGET (default 60) bounds each run; FUZZ_OUT (default /tmp/kiln-fuzz) holds the
# binaries, the working corpora and any crash files. Each run starts from tests/fuzz/corpus/<name>/
# and writes new inputs to the working corpus only. --merge then adds to tests/fuzz/corpus/<name>/
# only those working inputs that reach new edges (-merge=1 -use_counters=0: counting hit counts
# too would keep several hundred files), so the hand-written seeds stay and the corpus stays small.
# The script exits non-zero when a target crashes; the crash input is named on stderr.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_OUT:-/tmp/kiln-fuzz}
secs=${SECONDS_PER_TARGET:-60}
cc=${CLANG:-clang}
merge=0
if [ "${1:-}" = "--merge" ]; then
	merge=1
	shift
fi
targets=${*:-dockerfile shell dockerignore ignorelinks heredoc manifest challenge ref}

util="buf.c err.c strv.c xalloc.c fsutil.c log.c utf8.c walk.c"
sources() {
	for f in $util; do printf '%s ' "$root/src/util/$f"; done
	case $1 in
	dockerfile) for f in dump.c jsonform.c parser.c unicode.c uniprint.c; do
			printf '%s ' "$root/src/dockerfile/$f"; done ;;
	heredoc) for f in dump.c jsonform.c parser.c unicode.c uniprint.c; do
			printf '%s ' "$root/src/dockerfile/$f"; done
		for f in shell.c unicode.c uninames.c; do printf '%s ' "$root/src/shell/$f"; done ;;
	shell) for f in shell.c unicode.c uninames.c; do printf '%s ' "$root/src/shell/$f"; done ;;
	dockerignore | ignorelinks) printf '%s ' "$root/src/context/dockerignore.c" ;;
	manifest) printf '%s ' "$root/src/image/image.c" "$root/src/util/json.c" \
			"$root/src/util/sha256.c" -ljansson -lcrypto ;;
	challenge) printf '%s ' "$root/src/auth/challenge.c" ;;
	ref) printf '%s ' "$root/src/registry/ref.c" "$root/src/util/sha256.c" -lcrypto ;;
	*) echo "fuzz.sh: unknown target '$1'" >&2; exit 2 ;;
	esac
}

mkdir -p "$out"
status=0
for t in $targets; do
	bin="$out/fuzz_$t"
	work="$out/corpus-$t"
	seeds="$root/tests/fuzz/corpus/$t"
	dict="$root/tests/fuzz/$t.dict"
	mkdir -p "$work" "$seeds"
	# shellcheck disable=SC2046
	"$cc" -std=gnu17 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-include "$root/src/util/poison.h" -I"$root/src" -I"$root/tests/fuzz" \
		-o "$bin" "$root/tests/fuzz/fuzz_$t.c" $(sources "$t")
	set -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/$t-"
	[ -f "$dict" ] && set -- "$@" -dict="$dict"
	echo "fuzz.sh: $t for ${secs}s" >&2
	if ! ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		"$bin" "$@" "$work" "$seeds"; then
		echo "fuzz.sh: $t crashed; see $out/$t-*" >&2
		status=1
		continue
	fi
	if [ "$merge" = 1 ]; then
		"$bin" -merge=1 -use_counters=0 -timeout=10 "$seeds" "$work" >"$out/merge-$t.log" 2>&1
		echo "fuzz.sh: $t corpus now $(find "$seeds" -type f | wc -l) files" >&2
	fi
done
exit $status
