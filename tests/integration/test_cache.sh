#!/usr/bin/env bash
# test_cache.sh — the layer cache (--cache, --cache-repo, --cache-ttl, --cache-copy-layers,
# --no-push-cache) against the real registry: each build starts from a fresh --kaniko-dir, as
# on a fresh runner, so everything a hit serves comes from the registry.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
W=$KILN_TEST_WORK/cache
mkdir -p "$W/ctx"
R=$KILN_TEST_REGISTRY

write_ctx() {
	echo "dep 1" >"$W/ctx/deps.txt"
	echo "source 1" >"$W/ctx/app.txt"
	cat >"$W/ctx/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE
ARG FLAVOUR=plain
COPY deps.txt /deps.txt
RUN echo "RUN-\$((6 * 7))-EXECUTED" && cat /proc/sys/kernel/random/uuid > /stamp && cat /deps.txt > /deps.copy
COPY app.txt /app.txt
DOCKERFILE
}

# cbuild <log> <args...>
cbuild() {
	local log=$1
	shift
	kiln_build --context "$W/ctx" --cache --cache-repo "$R/cachetest/cache" "$@" >"$log" 2>&1
}

layer_file() { # layer_file <ref> <path>: the file as the unpacked image has it
	unpack_image "$1" "$W/u"
	cat "$W/u/rootfs/$2"
}

hit_after_fresh_start() {
	write_ctx
	cbuild "$W/1.log" --destination "$R/cachetest/app:1" || { cat "$W/1.log"; fail build 1; }
	assert_contains "$(cat "$W/1.log")" "No cached layer found for cmd RUN" "first build log"
	assert_contains "$(cat "$W/1.log")" "RUN-42-EXECUTED" "first build log"
	assert_contains "$(cat "$W/1.log")" "Pushing layer $R/cachetest/cache:" "first build log"
	local s1
	s1=$(layer_file "$R/cachetest/app:1" stamp)
	# a fresh runner: new kaniko dir, same registry
	cbuild "$W/2.log" --destination "$R/cachetest/app:2" || { cat "$W/2.log"; fail build 2; }
	assert_contains "$(cat "$W/2.log")" "Using caching version of cmd: RUN" "second build log"
	assert_not_contains "$(cat "$W/2.log")" "RUN-42-EXECUTED" "second build log"
	assert_not_contains "$(cat "$W/2.log")" "Unpacking rootfs" "second build log"
	assert_eq "$(layer_file "$R/cachetest/app:2" stamp)" "$s1" "the RUN's output, served from the cache"
	assert_eq "$(cat "$W/u/rootfs/app.txt")" "source 1" "COPY after the cached RUN"
	# same layers, same diff_ids, same history text
	local c1 c2
	c1=$(image_config "$R/cachetest/app:1" | jq -c '[.rootfs.diff_ids, [.history[].created_by]]')
	c2=$(image_config "$R/cachetest/app:2" | jq -c '[.rootfs.diff_ids, [.history[].created_by]]')
	assert_eq "$c2" "$c1" "diff_ids and history"
}

inputs_change_the_key() {
	write_ctx
	cbuild "$W/3.log" --destination "$R/cachetest/app:3" || { cat "$W/3.log"; fail build; }
	# a file only a later COPY reads: the RUN still hits
	echo "source 2" >"$W/ctx/app.txt"
	cbuild "$W/4.log" --destination "$R/cachetest/app:4" || { cat "$W/4.log"; fail build; }
	assert_contains "$(cat "$W/4.log")" "Using caching version of cmd: RUN" "unrelated file changed"
	# a file the COPY before the RUN reads: a miss, and the RUN sees the new file
	echo "dep 2" >"$W/ctx/deps.txt"
	cbuild "$W/5.log" --destination "$R/cachetest/app:5" || { cat "$W/5.log"; fail build; }
	assert_contains "$(cat "$W/5.log")" "No cached layer found for cmd RUN" "COPY source changed"
	assert_eq "$(layer_file "$R/cachetest/app:5" deps.copy)" "dep 2" "RUN after a changed COPY"
	# a build arg in the RUN's scope: a miss
	cbuild "$W/6.log" --destination "$R/cachetest/app:6" --build-arg FLAVOUR=fancy ||
		{ cat "$W/6.log"; fail build; }
	assert_contains "$(cat "$W/6.log")" "No cached layer found for cmd RUN" "build arg changed"
}

hit_then_run() {
	write_ctx
	cbuild "$W/7.log" --destination "$R/cachetest/app:7" || { cat "$W/7.log"; fail build; }
	local s7
	s7=$(layer_file "$R/cachetest/app:7" stamp)
	# a new step after the cached one: the root is unpacked with the cached layer on it
	echo 'RUN cat /stamp > /stamp.seen' >>"$W/ctx/Dockerfile"
	cbuild "$W/8.log" --destination "$R/cachetest/app:8" || { cat "$W/8.log"; fail build; }
	assert_contains "$(cat "$W/8.log")" "Using caching version of cmd: RUN echo" log
	assert_eq "$(layer_file "$R/cachetest/app:8" stamp.seen)" "$s7" "a later RUN reads the cached layer"
}

ttl_and_no_push_cache() {
	write_ctx
	echo "ttl" >"$W/ctx/deps.txt"
	cbuild "$W/9.log" --destination "$R/cachetest/app:9" --no-push-cache ||
		{ cat "$W/9.log"; fail build; }
	assert_not_contains "$(cat "$W/9.log")" "to cache now" "--no-push-cache log"
	cbuild "$W/10.log" --destination "$R/cachetest/app:10" || { cat "$W/10.log"; fail build; }
	assert_contains "$(cat "$W/10.log")" "No cached layer found for cmd RUN" "after --no-push-cache"
	cbuild "$W/11.log" --destination "$R/cachetest/app:11" --cache-ttl 1ns ||
		{ cat "$W/11.log"; fail build; }
	assert_contains "$(cat "$W/11.log")" "Cache entry expired: $R/cachetest/cache:" log
	assert_contains "$(cat "$W/11.log")" "RUN-42-EXECUTED" log
}

copy_layers_and_default_repo() {
	write_ctx
	kiln_build --context "$W/ctx" --cache --cache-copy-layers \
		--destination "$R/cachetest/defrepo:1" >"$W/12.log" 2>&1 || { cat "$W/12.log"; fail build; }
	assert_contains "$(cat "$W/12.log")" "Pushing layer $R/cachetest/defrepo/cache:" \
		"kaniko's default cache repository"
	kiln_build --context "$W/ctx" --cache --cache-copy-layers \
		--destination "$R/cachetest/defrepo:2" >"$W/13.log" 2>&1 || { cat "$W/13.log"; fail build; }
	assert_contains "$(cat "$W/13.log")" "Using caching version of cmd: COPY deps.txt" log
	assert_contains "$(cat "$W/13.log")" "Using caching version of cmd: COPY app.txt" log
	assert_eq "$(layer_file "$R/cachetest/defrepo:2" app.txt)" "source 1" "cached COPY"
	local rc=0
	kiln_build --context "$W/ctx" --cache --no-push >"$W/14.log" 2>&1 || rc=$?
	assert_eq "$rc" 1 "exit status"
	assert_contains "$(cat "$W/14.log")" "specify cache repo with --cache-repo" error
}

warmer_cache_dir() {
	write_ctx
	rm -rf "$W/warm"
	"$KILN" warmer --image "$BUSYBOX_IMAGE" --cache-dir "$W/warm" --insecure-pull \
		>"$W/warm.log" 2>&1 || { cat "$W/warm.log"; fail warmer; }
	local entry
	entry=$(cd "$W/warm" && ls | grep -v '\.json$' | head -1)
	kiln_build --context "$W/ctx" --cache --cache-dir "$W/warm" --cache-repo "$R/cachetest/cache" \
		--destination "$R/cachetest/warm:1" >"$W/15.log" 2>&1 || { cat "$W/15.log"; fail build; }
	assert_contains "$(cat "$W/15.log")" "Found $entry in local cache" log
	assert_eq "$(layer_file "$R/cachetest/warm:1" app.txt)" "source 1" "image built on the cached base"
	# a tampered copy is refused by digest, reported, and the registry serves the layers
	python3 - "$W/warm/$entry" <<'PY'
import io, sys, tarfile
path = sys.argv[1]
src = tarfile.open(path)
members = [(m, src.extractfile(m).read() if m.isfile() else None) for m in src.getmembers()]
src.close()
with tarfile.open(path, "w") as out:
    for m, data in members:
        if m.name.endswith(".tar.gz"):
            data = b"not the layer"
            m.size = len(data)
        out.addfile(m, io.BytesIO(data) if data is not None else None)
PY
	kiln_build --context "$W/ctx" --cache --cache-dir "$W/warm" --cache-repo "$R/cachetest/cache" \
		--destination "$R/cachetest/warm:2" >"$W/16.log" 2>&1 || { cat "$W/16.log"; fail build; }
	assert_contains "$(cat "$W/16.log")" "Error while retrieving image from cache: $entry" log
	assert_eq "$(layer_file "$R/cachetest/warm:2" app.txt)" "source 1" "image built after the fallback"
}

t_run "a fresh runner's rebuild is served from the registry cache" hit_after_fresh_start
t_run "COPY sources and build args are in the key, unrelated files are not" inputs_change_the_key
t_run "a step after a cached one runs on the cached layer" hit_then_run
t_run "--no-push-cache and --cache-ttl" ttl_and_no_push_cache
t_run "--cache-copy-layers, the default cache repo, --no-push needs --cache-repo" copy_layers_and_default_repo
t_run "--cache-dir: base images from the warmer's directory, verified" warmer_cache_dir
t_done
