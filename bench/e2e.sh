#!/usr/bin/env bash
# e2e.sh — end-to-end benchmark: kiln, docker build (dockerd 20.10 + BuildKit) and buildah 1.28
# build and push the workloads of ../shared/workloads (w1-w5, w7, w8) to a registry on
# 127.0.0.1, each from a fresh state, N times; prints a markdown table of medians (wall, CPU,
# peak RSS) and ratios and writes it to bench/results-<date>.md. Also the cached rebuild of w2 on
# a fresh state. kiln's RSS is its own process's (bench/selfrss.c), not its RUN commands'.
#   bash bench/e2e.sh                      (as root; needs a built tree: ninja -C build)
# Environment: N (repetitions, default 3), WORKLOADS (space-separated ids), TOOLS (subset of
# "kiln docker buildah"), CACHED (0 skips the cached-rebuild row), KILN (binary),
# CTX_DIR (prepared contexts, default /var/tmp/bench-ctx), KILN_BENCH_DIR (default
# /var/tmp/kiln-bench), OUT (result file).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-3}
WORKLOADS=${WORKLOADS:-"w1-small w2-apt w3-bigctx w4-steps w5-multistage w7-bigbase w8-manyfiles"}
TOOLS=${TOOLS:-"kiln docker buildah"}
CACHED=${CACHED:-1}
KILN=${KILN:-$top/build/src/cli/kiln}
CTX_DIR=${CTX_DIR:-/var/tmp/bench-ctx}
BENCH=${KILN_BENCH_DIR:-/var/tmp/kiln-bench}
OUT=${OUT:-$top/bench/results-$(date -u +%F).md}
# w7's base (127.0.0.1:5000/devbase:bookworm, ~450 MB), built once with kiln and kept here as an
# OCI layout: each run of the script copies it into its fresh registry (untimed)
DEVBASE=${DEVBASE:-/var/tmp/kiln-bench-devbase}
WORKLOAD_SRC=${WORKLOAD_SRC:-$top/../shared/workloads}
[ -d "$WORKLOAD_SRC" ] || WORKLOAD_SRC=/work/shared/workloads

work=$BENCH/e2e
sock= # the daemon's socket, set by docker_fresh
DOCKER=/usr/bin/docker # Debian's 20.10 client, not whatever else is first in PATH
TICK=$(getconf CLK_TCK)

if [ "$(id -u)" -ne 0 ]; then
	echo "e2e.sh: run as root (dockerd, buildah chroot isolation, kiln RUN)" >&2
	exit 1
fi
for c in "$KILN" cc "$DOCKER" /usr/sbin/dockerd /usr/bin/containerd /usr/bin/buildah /usr/bin/time \
	skopeo docker-registry; do
	command -v "$c" >/dev/null || {
		echo "e2e.sh: '$c' missing (bash scripts/deps.sh bench; ninja -C build)" >&2
		exit 1
	}
done

# shellcheck source=../tests/lib/registry.sh
. "$top/tests/lib/registry.sh"
# shellcheck source=../tests/lib/images.sh
. "$top/tests/lib/images.sh"
# shellcheck source=../tests/lib/dockerd.sh
. "$top/tests/lib/dockerd.sh"

log() { printf '[e2e %s] %s\n' "$(date +%T)" "$*" >&2; }

# kiln's own peak RSS: bench/selfrss.c
SELFRSS=$BENCH/selfrss
mkdir -p "$BENCH"
cc -O2 -o "$SELFRSS" "$top/bench/selfrss.c"

# ---- our own processes: started here, stopped here, by pid ----------------------------------
CTRD_PID= DOCKERD_PID=
umount_under() { # lazily unmount whatever a dead daemon left mounted below $1
	local m
	for m in $(awk -v p="$1/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
}
docker_stop() { dockerd_stop; }
cleanup() {
	docker_stop
	registry_stop_all
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# docker_fresh: a new containerd and dockerd on an empty data root (a fresh runner), both ours
# (tests/lib/dockerd.sh): dockerd never attaches to a system containerd at /run/containerd
docker_fresh() {
	dockerd_start "$work/docker" "$REGISTRY" || return 1
	sock=$DOCKER_SOCK
	[ -s "$work/docker-driver" ] ||
		"$DOCKER" -H "unix://$sock" info --format '{{.Driver}}' >"$work/docker-driver"
}

# cpu_ticks <pid>: utime+stime+cutime+cstime (the process and every child it has reaped: runc
# and the RUN processes under it)
cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13 + $14 + $15}'
}
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# ---- one measured build ------------------------------------------------------------------------
# timed <log> <command...>: runs under /usr/bin/time; sets T_WALL T_CPU (user+sys, s) T_RSS (KB,
# the largest single process among the command and its descendants) and returns its status
timed() {
	local logf=$1 rc=0
	shift
	/usr/bin/time -f '%e %U %S %M' -o "$work/time.out" "$@" >"$logf" 2>&1 || rc=$?
	read -r T_WALL u s T_RSS < <(tail -n 1 "$work/time.out")
	T_CPU=$(echo "$u + $s" | bc)
	return $rc
}

RAW=$work/raw.tsv # workload tool rep status wall cpu rss_kb note
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; }

# verify <ref>: the image is in the registry (untimed)
verify() { skopeo inspect --tls-verify=false --raw "docker://$1" >/dev/null 2>&1; }

run_kiln() { # run_kiln <w> <rep> <ref> [extra kiln flags...]
	local w=$1 rep=$2 ref=$3 logf=$work/logs/$1-kiln-$2.log kdir=$work/kiln/$1-$2
	shift 3
	rm -rf "$kdir"
	mkdir -p "$kdir"
	local st=ok own
	rm -f "$work/selfrss.out"
	if ! timed "$logf" "$SELFRSS" "$work/selfrss.out" "$KILN" --context "$work/ctx/$w" \
		--dockerfile "$work/ctx/$w/Dockerfile" --destination "$ref" --insecure --insecure-pull \
		--kaniko-dir "$kdir" --log-format text "$@"; then
		st=failed
	elif ! verify "$ref"; then
		st=not-pushed
	fi
	# the RSS column: kiln's own process (VmHWM at its exit); the largest process of the tree
	# (often a RUN's apt-get or cc1) goes in the note
	own=$(cat "$work/selfrss.out" 2>/dev/null || echo -)
	[ "$own" != - ] || st=failed
	record "$w" kiln "$rep" "$st" "$T_WALL" "$T_CPU" "$own" "tree peak ${T_RSS} KB"
	rm -rf "$kdir"
	[ "$st" = ok ] || { log "kiln $w failed: $(tail -n 3 "$logf" | tr '\n' ' ')"; return 1; }
}

run_docker() { # run_docker <w> <rep> <ref> [extra build flags...]
	local w=$1 rep=$2 ref=$3 logf=$work/logs/$1-docker-$2.log
	shift 3
	if ! docker_fresh; then
		record "$w" docker "$rep" failed - - - "dockerd did not start"
		cp "$work/docker/dockerd.log" "$logf" 2>/dev/null || true
		return 1
	fi
	local c0 k0
	c0=$(cpu_ticks "$DOCKERD_PID")
	k0=$(cpu_ticks "$CTRD_PID")
	local st=ok
	if ! DOCKER_BUILDKIT=1 timed "$logf" bash -c \
		'"$1" -H "unix://$2" build --network=host --progress=plain "${@:5}" -t "$3" "$4" &&
		 "$1" -H "unix://$2" push "$3"' \
		_ "$DOCKER" "$sock" "$ref" "$work/ctx/$w" "$@"; then
		st=failed
	elif ! verify "$ref"; then
		st=not-pushed
	fi
	# the daemon side: dockerd and containerd CPU (with reaped children) since the start of
	# the build; dockerd's peak RSS since it started (just before the build)
	local c1 k1 daemon_cpu rss ctrd_rss
	c1=$(cpu_ticks "$DOCKERD_PID")
	k1=$(cpu_ticks "$CTRD_PID")
	daemon_cpu=$(echo "scale=2; ($c1 - $c0 + $k1 - $k0) / $TICK" | bc)
	rss=$(hwm_kb "$DOCKERD_PID")
	ctrd_rss=$(hwm_kb "$CTRD_PID")
	record "$w" docker "$rep" "$st" "$T_WALL" "$(echo "$T_CPU + $daemon_cpu" | bc)" "$rss" \
		"client cpu $T_CPU s; containerd peak ${ctrd_rss} KB"
	docker_stop
	[ "$st" = ok ] || { log "docker $w failed: $(tail -n 3 "$logf" | tr '\n' ' ')"; return 1; }
}

run_buildah() { # run_buildah <w> <rep> <ref> [extra bud flags...]
	local w=$1 rep=$2 ref=$3 logf=$work/logs/$1-buildah-$2.log
	shift 3
	rm -rf "$work/buildah"
	mkdir -p "$work/buildah"
	local st=ok
	if ! B_ROOT=$work/buildah/root B_RUN=$work/buildah/run timed "$logf" bash -c \
		'b=(buildah --storage-driver vfs --root "$B_ROOT" --runroot "$B_RUN")
		 ref=$1 ctx=$2
		 shift 2
		 "${b[@]}" bud --isolation chroot --format docker --tls-verify=false "$@" \
			-t "$ref" -f "$ctx/Dockerfile" "$ctx" &&
		 "${b[@]}" push --tls-verify=false "$ref" "docker://$ref"' \
		_ "$ref" "$work/ctx/$w" "$@"; then
		st=failed
	elif ! verify "$ref"; then
		st=not-pushed
	fi
	record "$w" buildah "$rep" "$st" "$T_WALL" "$T_CPU" "$T_RSS" ""
	umount_under "$work/buildah"
	rm -rf "$work/buildah"
	[ "$st" = ok ] || { log "buildah $w failed: $(tail -n 3 "$logf" | tr '\n' ' ')"; return 1; }
}

# ---- setup ----------------------------------------------------------------------------------
if [ "${REPORT_ONLY:-0}" != 1 ]; then
umount_under "$work"
rm -rf "$work"
mkdir -p "$work/logs" "$work/ctx" "$work/kiln"
: >"$RAW"
registry_start "$work/registry" plain
log "registry on $REGISTRY"
image_busybox "$REGISTRY" >/dev/null
image_debian "$REGISTRY" >/dev/null
case " $WORKLOADS " in
*" w7-bigbase "*)
	# w7's base: built once (apt-get from the Debian mirror, minutes), then copied (untimed)
	if [ ! -f "$DEVBASE/index.json" ]; then
		log "building w7's base once into $DEVBASE"
		mkdir -p "$work/ctx/devbase" "$work/kiln/devbase"
		cp "$WORKLOAD_SRC/w7-bigbase/base/Dockerfile" "$work/ctx/devbase/Dockerfile"
		chmod u+w "$work/ctx/devbase/Dockerfile"
		sed -i "s#127\.0\.0\.1:5000/#$REGISTRY/#g" "$work/ctx/devbase/Dockerfile"
		"$KILN" --context "$work/ctx/devbase" --dockerfile "$work/ctx/devbase/Dockerfile" \
			--destination "$REGISTRY/devbase:bookworm" --insecure --insecure-pull \
			--kaniko-dir "$work/kiln/devbase" --log-format text >"$work/logs/devbase.log" 2>&1
		rm -rf "$work/kiln/devbase"
		skopeo copy --src-tls-verify=false "docker://$REGISTRY/devbase:bookworm" \
			"oci:$DEVBASE:bookworm" >/dev/null
	fi
	skopeo copy --dest-tls-verify=false "oci:$DEVBASE:bookworm" \
		"docker://$REGISTRY/devbase:bookworm" >/dev/null
	;;
esac
if [ ! -d "$CTX_DIR/w3-bigctx/data" ] || [ ! -d "$CTX_DIR/w8-manyfiles" ]; then
	CTX_DIR=$CTX_DIR "$WORKLOAD_SRC/prepare" >/dev/null
fi
# a copy of each context with the workloads' registry prefix pointed at ours (a real copy, not
# hard links: the builders' hard-link tables would see a link count of 2 on every file)
for w in $WORKLOADS; do
	cp -a "$CTX_DIR/$w" "$work/ctx/$w"
	sed -i "s#127\.0\.0\.1:5000/#$REGISTRY/#g" "$work/ctx/$w/Dockerfile"
done
printf '%s\n' "$(date -u '+%F %T UTC')" "$(cut -d' ' -f1-3 /proc/loadavg)" >"$work/meta"
echo "$N" >"$work/n"

# ---- the runs: for each workload, each repetition runs the three builders back to back, so
# that the load other work puts on the machine hits them alike ------------------------------
for w in $WORKLOADS; do
	for rep in $(seq 1 "$N"); do
		for t in $TOOLS; do
			log "$w $t run $rep/$N"
			# a repository per run: no blob of an earlier run is already there to skip
			"run_$t" "$w" "$rep" "$REGISTRY/$w-$t-r$rep:bench" || true
		done
	done
done

# ---- cached rebuild of w2 on a fresh state, the layer cache in the registry ------------------
if [ "$CACHED" = 1 ]; then
	w=w2-apt
	[ -d "$work/ctx/$w" ] || {
		cp -a "$CTX_DIR/$w" "$work/ctx/$w"
		sed -i "s#127\.0\.0\.1:5000/#$REGISTRY/#g" "$work/ctx/$w/Dockerfile"
	}
	for t in $TOOLS; do
		case $t in
		kiln)
			# seed (untimed): a build that pushes its cache entries; each timed rebuild then
			# starts from an empty kaniko dir, as a fresh runner does
			log "$w kiln cache seed"
			run_kiln "$w" seed "$REGISTRY/$w-kiln-cache-seed:bench" \
				--cache --cache-repo "$REGISTRY/$w-kiln-cache" || continue
			for rep in $(seq 1 "$N"); do
				log "$w kiln cached rebuild $rep/$N"
				run_kiln "$w" "cached-$rep" "$REGISTRY/$w-kiln-cached-r$rep:bench" \
					--cache --cache-repo "$REGISTRY/$w-kiln-cache" || true
			done
			;;
		docker)
			# seed (untimed): a build with the inline cache, pushed
			log "$w docker cache seed"
			run_docker "$w" seed "$REGISTRY/$w-docker-cache:seed" \
				--build-arg BUILDKIT_INLINE_CACHE=1 || continue
			for rep in $(seq 1 "$N"); do
				log "$w docker cached rebuild $rep/$N"
				run_docker "$w" "cached-$rep" "$REGISTRY/$w-docker-cached-r$rep:bench" \
					--cache-from "$REGISTRY/$w-docker-cache:seed" || true
			done
			;;
		buildah)
			log "$w buildah cache seed"
			run_buildah "$w" seed "$REGISTRY/$w-buildah-cache:seed" \
				--layers --cache-to "$REGISTRY/$w-buildah-cache" || continue
			for rep in $(seq 1 "$N"); do
				log "$w buildah cached rebuild $rep/$N"
				run_buildah "$w" "cached-$rep" "$REGISTRY/$w-buildah-cached-r$rep:bench" \
					--layers --cache-from "$REGISTRY/$w-buildah-cache" || true
			done
			;;
		esac
	done
fi
cut -d' ' -f1-3 /proc/loadavg >>"$work/meta"
fi # REPORT_ONLY
N=$(cat "$work/n" 2>/dev/null || echo "$N")
{ read -r started; read -r load0; read -r load1 || load1="(interrupted)"; } <"$work/meta"
# cache hits per cached run, from the logs: BuildKit prints "#n CACHED" for a step it did not
# run, buildah "--> Using cache <id>"
hits() { # hits <tool> <pattern>
	local f out=
	for f in "$work/logs/w2-apt-$1-cached-"*.log; do
		[ -f "$f" ] && out+="$(grep -c "$2" "$f" || true) "
	done
	echo "${out:-none}"
}
docker_hits=$(hits docker ' CACHED$')
buildah_hits=$(hits buildah 'Using cache')
kiln_hits=$(hits kiln 'Using caching version of cmd')

# ---- the table -------------------------------------------------------------------------------
# med <workload> <tool> <rep-pattern> <column>: the median of the successful runs, or "-"
med() {
	awk -F'\t' -v w="$1" -v t="$2" -v p="$3" -v c="$4" \
		'$1 == w && $2 == t && $3 ~ p && $4 == "ok" {print $c}' "$RAW" | sort -g |
		awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
			else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
cell() { # cell <w> <tool> <rep-pattern>: "wall s / cpu s / rss MB" or the failure
	local wall cpu rss fails
	wall=$(med "$1" "$2" "$3" 5)
	fails=$(awk -F'\t' -v w="$1" -v t="$2" -v p="$3" \
		'$1 == w && $2 == t && $3 ~ p && $4 != "ok" {n++} END {print n + 0}' "$RAW")
	if [ "$wall" = - ]; then
		if [ "$fails" -gt 0 ]; then echo "**failed** ($fails of $fails runs)"; else echo "not run"; fi
		return
	fi
	cpu=$(med "$1" "$2" "$3" 6)
	rss=$(med "$1" "$2" "$3" 7)
	printf '%.1f s / %.1f s / %.0f MB' "$wall" "$cpu" "$(echo "$rss / 1024" | bc -l)"
	[ "$fails" -eq 0 ] || printf ' (%s run(s) failed)' "$fails"
	echo
}
ratio() { # ratio <w> <tool-a> <tool-b> <rep-pattern>
	local a b
	a=$(med "$1" "$2" "$4" 5)
	b=$(med "$1" "$3" "$4" 5)
	if [ "$a" = - ] || [ "$b" = - ]; then echo "-"; else printf '%.2f' "$(echo "$a / $b" | bc -l)"; fi
}

{
	echo "## End-to-end: build + push, fresh state per run (\`bash bench/e2e.sh\`)"
	echo
	echo "Run $started, N=$N (median of each column), load average $load0 at the start and" \
		"$load1 at the end; $(nproc) CPUs, $(free -h | awk '/^Mem:/ {print $2}') RAM;" \
		"kiln $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')," \
		"$("$DOCKER" --version | sed 's/,.*//') (storage driver $(cat "$work/docker-driver" 2>/dev/null || echo '?')), buildah $(buildah --version | awk '{print $3}')."
	echo "Each cell: wall time / CPU time (user+sys) / peak RSS. Ratios are of the wall times" \
		"(below 1: kiln is faster). kiln's RSS is its own process's (bench/selfrss.c; the" \
		"largest process of its tree is in each run's note); buildah's the largest process of" \
		"its tree; docker's dockerd's."
	echo "kaniko is not in the table: its source (v1.20.0, vendored) is not on this machine and" \
		"there is no network to fetch it, so it cannot be built here."
	echo
	echo "| workload | kiln | docker build | buildah | kiln/docker | kiln/buildah |"
	echo "|---|---|---|---|---|---|"
	for w in $WORKLOADS; do
		echo "| $w | $(cell "$w" kiln '^[0-9]+$') | $(cell "$w" docker '^[0-9]+$') |" \
			"$(cell "$w" buildah '^[0-9]+$') | $(ratio "$w" kiln docker '^[0-9]+$') |" \
			"$(ratio "$w" kiln buildah '^[0-9]+$') |"
	done
	if [ "$CACHED" = 1 ]; then
		echo "| w2-apt cached rebuild, fresh state, cache in the registry |" \
			"$(cell w2-apt kiln '^cached-') (--cache; steps from the cache per run:" \
			"${kiln_hits}) |" \
			"$(cell w2-apt docker '^cached-') (--cache-from an inline-cache image; steps" \
			"CACHED per run: ${docker_hits}) |" \
			"$(cell w2-apt buildah '^cached-') (--layers --cache-from; steps from the cache" \
			"per run: ${buildah_hits}) | $(ratio w2-apt kiln docker '^cached-') |" \
			"$(ratio w2-apt kiln buildah '^cached-') |"
	fi
	echo
	echo "<details><summary>every run (workload, builder, run, status, wall s, CPU s," \
		"peak RSS KB, note)</summary>"
	echo
	echo '```'
	cat "$RAW"
	echo '```'
	echo
	echo "</details>"
	for f in $(awk -F'\t' '$4 != "ok" {print $1 "-" $2 "-" $3}' "$RAW" | sort -u); do
		echo
		echo "Failure \`$f\` (last lines of its log):"
		echo
		echo '```'
		tail -n 8 "$work/logs/$f.log"
		echo '```'
	done
} | tee "$OUT"
log "written to $OUT; logs in $work/logs"
