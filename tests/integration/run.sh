#!/usr/bin/env bash
# run.sh — the integration suite: one plain registry on 127.0.0.1 for the whole run, the
# busybox and debian base images pushed into it, then every tests/integration/test_*.sh (each
# prints TAP). Needs a built kiln: $KILN (default build/src/cli/kiln).
#   KILN_IT_FILTER="<substring> [<substring>...]"  only the test files whose name has one of them
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
export KILN=${KILN:-$top/build/src/cli/kiln}
export KILN_TOP=$top
[ -x "$KILN" ] || { echo "run.sh: no kiln binary at $KILN" >&2; exit 1; }

source "$top/tests/lib/registry.sh"
source "$top/tests/lib/images.sh"
work=$(mktemp -d /tmp/kiln-it.XXXXXX)
trap 'registry_stop_all; rm -rf "$work"' EXIT
export KILN_TEST_WORK=$work

registry_start "$work/registry" plain
export KILN_TEST_REGISTRY=$REGISTRY
export BUSYBOX_IMAGE DEBIAN_IMAGE
BUSYBOX_IMAGE=$(image_busybox "$REGISTRY")
DEBIAN_IMAGE=$(image_debian "$REGISTRY")

status=0
for t in "$here"/test_*.sh; do
	if [ -n "${KILN_IT_FILTER:-}" ]; then
		# one or more substrings, separated by spaces: a file runs when its name has any
		hit=
		for f in $KILN_IT_FILTER; do
			[[ "$t" == *"$f"* ]] && hit=1
		done
		[ -n "$hit" ] || continue
	fi
	echo "# $(basename "$t")"
	bash "$t" || status=1
done
exit $status
