#!/usr/bin/env bash
# run.sh — the differential suite: every tests/differential/cases/<name>/ is built with kiln and
# with a reference builder, both images are pushed to one loopback registry, read back with
# skopeo + umoci, and their file trees and configs are compared with tests/lib/treediff.py under
# an allow-list. One TAP test per case.
#
# The reference is `docker build` (DESIGN §7): Debian's dockerd 20.10 with BuildKit built in,
# started here with its own containerd on private sockets under the work directory in /var/tmp
# (tests/lib/dockerd.sh: --iptables=false --bridge=none, empty data root, stopped on exit), the
# suite's 127.0.0.1 registry as an insecure registry. Each docker case runs
# `docker image prune -af; docker builder prune -af` first, so it pulls its base from that
# registry, then `DOCKER_BUILDKIT=1 /usr/bin/docker build --network=host` and `docker push`.
# Docker builds run one at a time (a lock) so that a prune never pulls the ground from under
# another case; kiln builds, read-backs and comparisons run DIFF_JOBS at once. A Dockerfile with
# a `# syntax=` line is refused: docker would fetch a frontend from Docker Hub.
#
# buildah 1.28 (--isolation chroot --format docker) is the reference only for a case whose
# directory has a file `reference` saying `buildah`, with a `#` line saying why (a feature
# docker 20.10's built-in frontend lacks: heredocs, COPY --parents/--exclude, ${v%%p}...).
# Differences a builder is known to make and that are not kiln bugs are listed in `allowlist`
# (against docker) and `allowlist-buildah` (against buildah); each entry says why.
#
#   DIFF_FILTER=<substring>  only the cases whose name contains it
#   DIFF_KEEP=1              keep the work directory (listings, logs, unpacked trees)
#   DIFF_PENDING=1           run pending/ (features kiln does not implement yet) instead of cases/
#   DIFF_SHOW_ALLOWED=1      also print the differences the allow-list accepted
#   DIFF_JOBS=<n>            cases in flight at once (default 2; docker builds are serialized)
#   DIFF_REFERENCE=buildah   every case against buildah (to compare the references)
#   KILN                     the binary (default build/src/cli/kiln; tests/run.sh gives the
#                            ASan+UBSan build, build-asan/src/cli/kiln)
# A case directory holds a Dockerfile (@BUSYBOX@ and @DEBIAN@ stand for the base images in the
# test registry), its context files, and optionally `args`: extra build flags given to both
# builders, one argument per line (e.g. --build-arg=A=b, --target=x; "#" lines are comments);
# `prepare`: a sh script run in the copied context before the builds, for what git cannot hold
# (empty directories, setuid/sticky modes, owners, hard links, xattrs); `reference` (above).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
export KILN=${KILN:-$top/build/src/cli/kiln}
export KILN_TOP=$top
[ -x "$KILN" ] || { echo "run.sh: no kiln binary at $KILN" >&2; exit 1; }

source "$top/tests/lib/registry.sh"
source "$top/tests/lib/images.sh"
source "$top/tests/lib/assert.sh"
source "$top/tests/lib/kiln.sh"
source "$top/tests/lib/dockerd.sh"

BUILDAH_DIR=/var/tmp/kiln-buildah
BUILDAH=(buildah --storage-driver vfs --root "$BUILDAH_DIR/root" --runroot "$BUILDAH_DIR/run")
TREEDIFF=$top/tests/lib/treediff.py

CASES_DIR=$here/cases
[ -z "${DIFF_PENDING:-}" ] || CASES_DIR=$here/pending

# case_reference <name>: docker, or buildah when the case's `reference` file names it (with a
# "#" line saying why); DIFF_REFERENCE overrides every case
case_reference() {
	local f=$CASES_DIR/$1/reference ref
	if [ -n "${DIFF_REFERENCE:-}" ]; then
		echo "$DIFF_REFERENCE"
		return 0
	fi
	[ -f "$f" ] || { echo docker; return 0; }
	ref=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$f" | grep -v '^$' || true)
	case "$ref" in
	docker | buildah) ;;
	*)
		echo "run.sh: $f: want one line 'docker' or 'buildah', got '$ref'" >&2
		return 1
		;;
	esac
	if ! grep -q '^[[:space:]]*#[[:space:]]*[^[:space:]]' "$f"; then
		echo "run.sh: $f: say why on a '#' line" >&2
		return 1
	fi
	echo "$ref"
}

cases=()
declare -A REF=()
need_docker= need_buildah=
for c in "$CASES_DIR"/*/; do
	CASE=$(basename "$c")
	[ -n "${DIFF_FILTER:-}" ] && [[ "$CASE" != *"$DIFF_FILTER"* ]] && continue
	REF[$CASE]=$(case_reference "$CASE") || exit 1
	case "${REF[$CASE]}" in
	docker) need_docker=1 ;;
	buildah) need_buildah=1 ;;
	*)
		echo "run.sh: DIFF_REFERENCE must be docker or buildah" >&2
		exit 1
		;;
	esac
	cases+=("$CASE")
done
if [ -n "$need_buildah" ] && ! command -v buildah >/dev/null; then
	echo "run.sh: buildah is not installed (scripts/deps.sh)" >&2
	exit 1
fi

work=$(mktemp -d /var/tmp/kiln-diff.XXXXXX)
unpack_root=$work/unpack
buildah_prune() {
	"${BUILDAH[@]}" rm --all >/dev/null 2>&1 || true
	"${BUILDAH[@]}" rmi --all --force >/dev/null 2>&1 || true
}
cleanup() {
	dockerd_stop
	registry_stop_all
	[ -z "$need_buildah" ] || buildah_prune
	if [ -n "${DIFF_KEEP:-}" ]; then
		echo "# work directory kept: $work (unpacked trees: $unpack_root)"
	else
		rm -rf "$work" "$unpack_root"
	fi
}
trap cleanup EXIT

registry_start "$work/registry" plain
BUSYBOX_IMAGE=$(image_busybox "$REGISTRY")
DEBIAN_IMAGE=$(image_debian "$REGISTRY")

if [ -n "$need_docker" ]; then
	dockerd_start "$work/docker" "$REGISTRY"
	echo "# reference: $("${DOCKER_CMD[@]}" version --format 'docker {{.Server.Version}}, storage' \
		2>/dev/null) $("${DOCKER_CMD[@]}" info --format '{{.Driver}}' 2>/dev/null)"
fi
if [ -n "$need_buildah" ]; then
	# buildah reaches only the loopback registry: no search registries, no short names, plain
	# HTTP, and a policy that accepts the unsigned test images
	mkdir -p "$work/containers"
	cat >"$work/containers/registries.conf" <<-EOF
		unqualified-search-registries = []
		short-name-mode = "disabled"

		[[registry]]
		location = "$REGISTRY"
		insecure = true
	EOF
	printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$work/containers/policy.json"
	export CONTAINERS_REGISTRIES_CONF=$work/containers/registries.conf
	export REGISTRY_AUTH_FILE=$work/containers/auth.json
	printf '{"auths":{}}\n' >"$REGISTRY_AUTH_FILE"
	buildah_prune
fi

# files made during the build carry mtimes at or after this; context files are set far before
BUILD_TIME=$(date +%s)
CONTEXT_MTIME=1500000000

# the images are unpacked on tmpfs when there is one (a debian tree takes 5 s to write to disk
# here, 0.5 s to memory), else in the work directory; xattrs are compared only where the
# unpacking file system keeps user xattrs
xattr_ok() {
	touch "$1/.xattr-probe" &&
		python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.probe", b"1")' "$1/.xattr-probe" 2>/dev/null
	local rc=$?
	rm -f "$1/.xattr-probe"
	return $rc
}
if [ -z "${DIFF_UNPACK_DIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	DIFF_UNPACK_DIR=/dev/shm
fi
if [ -n "${DIFF_UNPACK_DIR:-}" ]; then
	shm=$(mktemp -d "$DIFF_UNPACK_DIR/kiln-diff.XXXXXX")
	if xattr_ok "$shm"; then
		unpack_root=$shm
	else
		rmdir "$shm"
	fi
fi
mkdir -p "$unpack_root"
if ! xattr_ok "$unpack_root"; then
	echo "# xattrs: user xattrs are not supported under $unpack_root: xattrs are NOT compared"
fi

# unpack_raw <ref> <dir>: like kiln.sh's unpack_image (skopeo copy + umoci), but with
# `umoci raw unpack`, which skips the mtree manifest: hashing it costs 10 s per debian image
unpack_raw() {
	local ref=$1 dir=$2
	rm -rf "$dir" && mkdir -p "$dir" &&
		skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$dir/layout:img" >/dev/null &&
		{ umoci raw unpack --image "$dir/layout:img" "$dir/rootfs" >"$dir.log" 2>&1 ||
			{ cat "$dir.log"; false; }; }
}

# has_syntax_directive <Dockerfile>: a `# syntax=` parser directive (any case, any spacing)
has_syntax_directive() {
	grep -qiE '^[[:space:]]*#[[:space:]]*syntax[[:space:]]*=' "$1"
}

# docker_build <case-dir> <ref> <args...>: the reference build with docker, one at a time: prune
# every image and the build cache (so the base is pulled from the test registry), build, push
docker_build() {
	local d=$1 ref=$2
	shift 2
	(
		flock 9
		"${DOCKER_CMD[@]}" image prune -af >/dev/null &&
			"${DOCKER_CMD[@]}" builder prune -af >/dev/null &&
			DOCKER_BUILDKIT=1 "${DOCKER_CMD[@]}" build --network=host --progress=plain -t "$ref" \
				-f "$d/ctx/Dockerfile" "$@" "$d/ctx" &&
			"${DOCKER_CMD[@]}" push "$ref"
	) 9>"$work/docker.lock" >>"$d/docker.log" 2>&1
}

# buildah_build <case-dir> <ref> <args...>. buildah's shared vfs storage now and then loses an
# intermediate image while another case removes its own ("identifier is not an image"): the
# reference build gets one retry, and the log says so
buildah_build() {
	local d=$1 ref=$2 attempt brc
	shift 2
	for attempt in 1 2; do
		brc=0
		"${BUILDAH[@]}" bud --signature-policy "$work/containers/policy.json" --isolation chroot \
			--format docker --layers=false --tls-verify=false -t "$ref" -f "$d/ctx/Dockerfile" \
			"$@" "$d/ctx" >>"$d/buildah.log" 2>&1 || brc=$?
		if [ "$brc" -eq 0 ]; then
			"${BUILDAH[@]}" push --signature-policy "$work/containers/policy.json" \
				--tls-verify=false "$ref" >>"$d/buildah.log" 2>&1 || brc=$?
			"${BUILDAH[@]}" rmi --force "$ref" >/dev/null 2>&1 || true
		fi
		[ "$brc" -ne 0 ] && [ "$attempt" -eq 1 ] || break
		echo "=== buildah exit $brc: retrying the reference build once" >>"$d/buildah.log"
	done
	return "$brc"
}

# diff_case <name>: builds, reads back and compares one case; prints the differences. Errors
# are checked one by one: errexit does not work inside a function called from a `||` list.
diff_case() {
	local name=$1 src=$CASES_DIR/$1 ref=${REF[$1]}
	local d=$work/cases/$name
	local allow=$here/allowlist
	[ "$ref" = docker ] || allow=$here/allowlist-$ref
	mkdir -p "$d"
	export KILN_TEST_WORK=$d
	echo "# reference: $ref"
	if [ "$ref" = docker ] && has_syntax_directive "$src/Dockerfile"; then
		echo "REFUSED: $src/Dockerfile has a '# syntax=' line: docker would fetch that frontend"
		echo "from Docker Hub. Remove it, or make buildah the case's reference (file 'reference')."
		return 1
	fi
	# the context: the case directory with the base images filled in and old, fixed mtimes
	cp -a "$src" "$d/ctx" || return 1
	rm -f "$d/ctx/args" "$d/ctx/prepare" "$d/ctx/reference"
	if [ -f "$src/prepare" ]; then
		(cd "$d/ctx" && sh -e "$src/prepare") || { echo "prepare failed"; return 1; }
	fi
	sed -i -e "s|@BUSYBOX@|$BUSYBOX_IMAGE|g" -e "s|@DEBIAN@|$DEBIAN_IMAGE|g" \
		"$d/ctx/Dockerfile" || return 1
	find "$d/ctx" -exec touch -h -d "@$CONTEXT_MTIME" {} + || return 1
	local args=()
	if [ -f "$src/args" ]; then
		local line
		while IFS= read -r line || [ -n "$line" ]; do
			case "$line" in '' | '#'*) continue ;; esac
			args+=("$line")
		done <"$src/args"
	fi
	local kref=$REGISTRY/$name-kiln:x rref=$REGISTRY/$name-$ref:x

	# the two builders run side by side; each writes only its own log and storage
	local krc=0 rrc=0 kpid
	kiln_build --context "$d/ctx" --dockerfile "$d/ctx/Dockerfile" --destination "$kref" \
		"${args[@]}" >"$d/kiln.log" 2>&1 &
	kpid=$!
	"${ref}_build" "$d" "$rref" "${args[@]}" || rrc=$?
	wait "$kpid" || krc=$?
	if [ "$krc" -ne 0 ] || [ "$rrc" -ne 0 ]; then
		echo "kiln exit $krc, $ref exit $rrc"
		[ "$krc" -eq 0 ] || { echo "--- kiln:"; tail -n 15 "$d/kiln.log"; }
		[ "$rrc" -eq 0 ] || { echo "--- $ref:"; tail -n 15 "$d/$ref.log"; }
		rm -rf "$d"/kaniko.*
		return 1
	fi
	rm -rf "$d"/kaniko.*

	local who pids=() u=$unpack_root/$name
	for who in kiln "$ref"; do
		(
			r=$REGISTRY/$name-$who:x
			unpack_raw "$r" "$u/$who" &&
				image_config "$r" >"$d/$who.config.json" &&
				python3 "$TREEDIFF" tree "$u/$who/rootfs" --build-time "$BUILD_TIME" \
					>"$d/$who.list" &&
				python3 "$TREEDIFF" config "$d/$who.config.json" >>"$d/$who.list"
		) &
		pids+=($!)
	done
	for who in "${pids[@]}"; do
		wait "$who" || { echo "reading the images back failed"; return 1; }
	done
	local rc=0
	python3 "$TREEDIFF" diff "$d/kiln.list" "$d/$ref.list" --names "kiln,$ref" \
		--case "$name" --allow "$allow" ${DIFF_SHOW_ALLOWED:+--show-allowed} >"$d/diff.txt" || rc=$?
	# t_run shows the last 40 lines of a failing test: keep the summary line among them
	head -n 35 "$d/diff.txt"
	[ "$(wc -l <"$d/diff.txt")" -le 35 ] || { echo "..."; tail -n 1 "$d/diff.txt"; }
	[ -n "${DIFF_KEEP:-}" ] || rm -rf "$u"
	return $rc
}

# DIFF_JOBS cases run at once (default 2); their verdicts are then reported in order through
# t_run, each replaying its case's saved output and exit status
run_case() {
	local name=$1 t0 rc=0
	t0=$(date +%s)
	mkdir -p "$work/results"
	diff_case "$name" >"$work/results/$name.out" 2>&1 || rc=$?
	echo "$rc $(($(date +%s) - t0))" >"$work/results/$name.rc"
}
replay_case() {
	cat "$work/results/$CASE.out"
	return "$(cut -d' ' -f1 "$work/results/$CASE.rc")"
}

jobs_max=${DIFF_JOBS:-2}
pids=()
for CASE in "${cases[@]}"; do
	# count only the case jobs: the registry and the daemons are background jobs of this shell
	while :; do
		live=()
		for p in "${pids[@]}"; do
			kill -0 "$p" 2>/dev/null && live+=("$p")
		done
		pids=("${live[@]}")
		[ "${#pids[@]}" -lt "$jobs_max" ] && break
		wait -n "${pids[@]}" || true
	done
	run_case "$CASE" &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || true
done
for CASE in "${cases[@]}"; do
	t_run "$CASE (vs ${REF[$CASE]})" replay_case
	echo "# $CASE: $(cut -d' ' -f2 "$work/results/$CASE.rc")s"
done
t_done
