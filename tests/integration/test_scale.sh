#!/usr/bin/env bash
# test_scale.sh — many builds against one registry at once, as kaniko users scale out (one build
# per Job or runner, one registry): 16 kiln builds run concurrently, each in its own runc
# container with Docker's default capabilities (no CAP_SYS_ADMIN, so kiln builds in place),
# against one docker-registry on 127.0.0.1, all with --cache on ONE shared cache repository.
# The 16 are a mix: 4 Dockerfiles built several times each (busybox and debian bases) and 2
# unique ones, with RUN and COPY steps, --reproducible. A first wave runs cold, then the same 16
# run again. Checked: every build succeeds; identical inputs give identical digests (across
# builds and waves); every blob in the registry's storage matches its digest and every manifest's
# blobs are there; the first wave's identical builds agree on the cache entries; the second wave
# hits the cache for every RUN and COPY step. The wall time and the registry's request count of
# each wave are printed as TAP comments.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
source "$KILN_TOP/tests/lib/registry.sh"
source "$KILN_TOP/tests/lib/runc.sh"
source "$KILN_TOP/tests/lib/images.sh"
W=$KILN_TEST_WORK/scale
mkdir -p "$W"
trap 'registry_stop_all' EXIT
export RUNC_TIMEOUT=${RUNC_TIMEOUT:-600}

# the builds: <name> <context> — the context's Dockerfile says what is built; identical names
# share one context (the same checkout on several runners)
BUILDS=(a1:a a2:a a3:a a4:a b1:b b2:b b3:b b4:b c1:c c2:c c3:c d1:d d2:d d3:d u1:u1 u2:u2)

# --- one registry for this test alone (its storage and its access log are examined) ---------
setup_registry() {
	registry_start "$W/registry" plain || return 1
	SREG=$REGISTRY
	SREG_DIR=$W/registry
	SREG_BUSYBOX=$(image_busybox "$SREG") || return 1
	SREG_DEBIAN=$(image_debian "$SREG") || return 1
}

# --- the executor image: kiln laid out as kaniko's /kaniko/executor -------------------------
# kiln is the binary under test ($KILN), pushed as a FROM scratch image (a COPY only, built on
# the host); its shared libraries and their loader stay on the host, in one directory every
# container mounts read-only at /kaniko/lib (the rootfs copies stay small; kiln never writes
# there). runc_bundle makes the Docker-like bundle once; each container gets a copy of it.
setup_executor() {
	local x=$W/executor
	mkdir -p "$x/ctx/etc" "$x/lib"
	cp "$KILN" "$x/ctx/executor"
	printf 'hosts: files dns\n' >"$x/ctx/etc/nsswitch.conf"
	cat >"$x/ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY executor /kaniko/executor
COPY etc/ /etc/
ENV HOME=/root USER=root PATH=/usr/local/bin:/kaniko SSL_CERT_DIR=/kaniko/ssl/certs DOCKER_CONFIG=/kaniko/.docker/
WORKDIR /workspace
ENTRYPOINT ["/kaniko/executor"]
DOCKERFILE
	local lib
	for lib in $(ldd "$KILN" | awk '/=> \// {print $3}'); do
		cp -L "$lib" "$x/lib/"
	done
	cp -L /lib64/ld-linux-x86-64.so.2 "$x/lib/"
	kiln_build --context "$x/ctx" --destination "$KILN_TEST_REGISTRY/scale/executor:it" \
		>"$x/build.log" 2>&1 || { cat "$x/build.log"; return 1; }
	runc_bundle "$KILN_TEST_REGISTRY/scale/executor:it" "$x/bundle" --src-tls-verify=false
}

# --- the contexts ---------------------------------------------------------------------------
setup_contexts() {
	local c=$W/ctx
	mkdir -p "$c/a" "$c/b/conf" "$c/c" "$c/d" "$c/u1" "$c/u2"
	echo "a's source" >"$c/a/a.txt"
	cat >"$c/a/Dockerfile" <<DOCKERFILE
FROM $SREG_BUSYBOX
RUN echo "group a" > /a.out && mkdir -p /opt/a && for i in \$(seq 1 40); do echo "a \$i" > /opt/a/f\$i; done
COPY a.txt /opt/a/a.txt
RUN cat /a.out /opt/a/a.txt > /opt/a/combined
DOCKERFILE
	echo "b's app" >"$c/b/app.txt"
	printf 'key=value\n' >"$c/b/conf/b.conf"
	printf '#!/bin/sh\necho b\n' >"$c/b/conf/run.sh"
	chmod 755 "$c/b/conf/run.sh"
	cat >"$c/b/Dockerfile" <<DOCKERFILE
FROM $SREG_BUSYBOX
ENV APP_HOME=/srv/b
WORKDIR \$APP_HOME
COPY app.txt ./
RUN echo "b: \$APP_HOME" > b.out && chown 2000:2000 b.out && chmod 640 b.out
COPY conf/ ./conf/
RUN ./conf/run.sh > ran && rm -f app.txt
DOCKERFILE
	head -c 300000 /dev/zero | tr '\0' 'c' >"$c/c/big.txt"
	cat >"$c/c/Dockerfile" <<DOCKERFILE
FROM $SREG_BUSYBOX
ARG LEVEL=3
ENV LEVEL=\$LEVEL
RUN mkdir -p /c && i=0; while [ \$i -lt \$LEVEL ]; do echo "level \$i" > /c/l\$i; i=\$((i + 1)); done
RUN ln -s /c/l0 /c/first && rm /bin/vi
COPY big.txt /c/big.txt
DOCKERFILE
	echo "d's data" >"$c/d/d.txt"
	cat >"$c/d/Dockerfile" <<DOCKERFILE
FROM $SREG_DEBIAN
RUN echo "debian \$(cat /etc/debian_version | cut -d. -f1)" > /etc/scale-d && ln -s /etc/scale-d /scale-link
COPY d.txt /srv/d.txt
RUN sha256sum /srv/d.txt > /srv/d.sum && rm -rf /usr/share/doc/bash
DOCKERFILE
	local k
	for k in 1 2; do
		echo "unique $k" >"$c/u$k/u.txt"
		cat >"$c/u$k/Dockerfile" <<DOCKERFILE
FROM $SREG_BUSYBOX
RUN echo "unique build $k" > /u$k.out
COPY u.txt /u.txt
DOCKERFILE
	done
}

SETUP_LOG=$W/setup.log
{ setup_registry && setup_executor && setup_contexts; } >"$SETUP_LOG" 2>&1 || SETUP_FAILED=1
setup_ok() {
	[ -z "${SETUP_FAILED:-}" ] || { cat "$SETUP_LOG"; fail "setup failed"; }
}

# steps the cache serves (RUN and COPY, --cache-copy-layers) in a context's Dockerfile
cacheable_steps() {
	grep -cE '^(RUN|COPY) ' "$W/ctx/$1/Dockerfile"
}

# the registry's log so far, in lines (its access log is a line per request, with the client's
# User-Agent, kiln/<version> for kiln)
registry_log_lines() {
	wc -l <"$SREG_DIR/registry.log"
}

# wave <n>: all builds at once, each in a fresh copy of the executor bundle; per build
# $W/w<n>/<name>.{log,rc,digest}; the wall time (ms) and request count in $W/w<n>/{ms,requests}
wave() {
	local n=$1 d=$W/w$1 x=$W/executor spec name ctx b
	rm -rf "$d"
	mkdir -p "$d"
	for spec in "${BUILDS[@]}"; do
		name=${spec%%:*}
		b=$d/$name
		mkdir -p "$b/out"
		cp -a "$x/bundle/rootfs" "$x/bundle/etc" "$b/"
		sed "s#$x/bundle/#$b/#g" "$x/bundle/config.json" >"$b/config.json"
		runc_bind "$b" "$x/lib" /kaniko/lib ro
		runc_bind "$b" "$W/ctx/${spec#*:}" /workspace ro
		runc_bind "$b" "$b/out" /out
	done
	local log0 t0
	log0=$(registry_log_lines)
	t0=$(date +%s%N)
	for spec in "${BUILDS[@]}"; do
		name=${spec%%:*}
		ctx=${spec#*:}
		(
			rc=0
			runc_exec "$d/$name" /kaniko/lib/ld-linux-x86-64.so.2 --library-path /kaniko/lib \
				/kaniko/executor --context dir:///workspace --dockerfile /workspace/Dockerfile \
				--destination "$SREG/scale/$ctx:w$n-$name" --destination "$SREG/scale/$ctx:latest" \
				--cache --cache-repo "$SREG/scale/cache" --cache-copy-layers --reproducible \
				--insecure --insecure-pull --log-format text --digest-file /out/digest \
				>"$d/$name.log" 2>&1 || rc=$?
			echo "$rc" >"$d/$name.rc"
		) &
	done
	wait
	echo $((($(date +%s%N) - t0) / 1000000)) >"$d/ms"
	# kiln's requests during the wave, and how many of each method
	sed -n "$((log0 + 1)),\$p" "$SREG_DIR/registry.log" | grep '"kiln/' >"$d/access.log" || true
	wc -l <"$d/access.log" >"$d/requests"
	awk '{print substr($6, 2)}' "$d/access.log" | sort | uniq -c |
		awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}' >"$d/methods"
	for spec in "${BUILDS[@]}"; do
		name=${spec%%:*}
		if [ -f "$d/$name/out/digest" ]; then
			cp "$d/$name/out/digest" "$d/$name.digest"
		fi
		# the container's root (the build's unpacked images) is not needed any more
		rm -rf "$d/$name/rootfs"
	done
}

all_succeeded() { # all_succeeded <wave>
	local d=$W/w$1 spec name bad=0
	for spec in "${BUILDS[@]}"; do
		name=${spec%%:*}
		if [ "$(cat "$d/$name.rc" 2>/dev/null)" != 0 ]; then
			echo "--- $name failed (status $(cat "$d/$name.rc" 2>/dev/null)):"
			tail -n 30 "$d/$name.log"
			bad=$((bad + 1))
		elif [ ! -s "$d/$name.digest" ]; then
			echo "--- $name wrote no --digest-file"
			bad=$((bad + 1))
		fi
	done
	[ "$bad" = 0 ] || fail "$bad of ${#BUILDS[@]} builds failed"
	local warn
	for spec in "${BUILDS[@]}"; do
		name=${spec%%:*}
		# in-place, as kaniko, since the container has no CAP_SYS_ADMIN
		assert_contains "$(cat "$d/$name.log")" "Isolation: inplace" "$name's log"
		# nothing went wrong on the way (a failed cache push or a retried request is a
		# warning, not a failed build)
		warn=$(grep -E 'level=(warning|error|fatal)' "$d/$name.log" || true)
		[ -z "$warn" ] || fail "$name's log has warnings: $warn"
	done
}

wave1_all_succeed() {
	setup_ok
	wave 1
	all_succeeded 1
}

wave2_all_succeed() {
	setup_ok
	[ -d "$W/w1" ] || fail "the first wave did not run"
	wave 2
	all_succeeded 2
}

# identical inputs (same context) give one digest, across builds and waves; different inputs
# give different digests; the shared :latest tag holds it, each build's own tag too
identical_inputs_identical_digests() {
	local ctx spec name digests
	for ctx in a b c d u1 u2; do
		digests=$(for spec in "${BUILDS[@]}"; do
			[ "${spec#*:}" = "$ctx" ] || continue
			name=${spec%%:*}
			printf '%s\n' "$(cat "$W/w1/$name.digest")" "$(cat "$W/w2/$name.digest")"
		done | sort -u)
		[ -n "$digests" ] || fail "no digests for $ctx"
		assert_eq "$(wc -l <<<"$digests")" 1 "distinct digests of the builds of $ctx: $digests"
		echo "$ctx: $digests"
		echo "$digests" >"$W/digest-$ctx"
		assert_eq "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' \
			"docker://$SREG/scale/$ctx:latest")" "$digests" "$ctx:latest"
		for spec in "${BUILDS[@]}"; do
			[ "${spec#*:}" = "$ctx" ] || continue
			name=${spec%%:*}
			assert_eq "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' \
				"docker://$SREG/scale/$ctx:w1-$name")" "$digests" "$ctx:w1-$name"
		done
	done
	assert_eq "$(cat "$W"/digest-* | sort -u | wc -l)" 6 "distinct digests of the 6 Dockerfiles"
}

# every file under the registry's blob store has the digest its path names
registry_blobs_verify() {
	local root=$SREG_DIR/data/docker/registry/v2/blobs/sha256 f want got n=0 bad=0
	[ -d "$root" ] || fail "no blob store at $root"
	while IFS= read -r f; do
		want=$(basename "$(dirname "$f")")
		got=$(sha256sum "$f" | cut -d' ' -f1)
		n=$((n + 1))
		if [ "$got" != "$want" ]; then
			echo "blob $want holds content with digest $got"
			bad=$((bad + 1))
		fi
	done < <(find "$root" -type f -name data)
	echo "$n blobs checked"
	[ "$n" -gt 20 ] || fail "only $n blobs in the registry"
	[ "$bad" = 0 ] || fail "$bad of $n blobs fail their digest"
}

reg_get() { # reg_get <path> [accept]: GET http://$SREG<path>
	curl -fsS -H "Accept: ${2:-application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json}" \
		"http://$SREG$1"
}

# every blob of every manifest of every tag in the scale/ repositories is served by its
# repository and has the manifest's size
manifests_reference_present_blobs() {
	local repo tag m d size n=0
	for repo in $(reg_get /v2/_catalog | jq -r '.repositories[] | select(startswith("scale/"))'); do
		for tag in $(reg_get "/v2/$repo/tags/list" | jq -r '.tags[]'); do
			m=$(reg_get "/v2/$repo/manifests/$tag")
			while read -r d size; do
				n=$((n + 1))
				got=$(curl -fsS -o /dev/null -w '%{http_code} %header{content-length}' -I \
					"http://$SREG/v2/$repo/blobs/$d") || fail "$repo:$tag: blob $d missing"
				assert_eq "$got" "200 $size" "$repo:$tag: HEAD of blob $d"
			done < <(jq -r '.config, .layers[] | "\(.digest) \(.size)"' <<<"$m")
		done
	done
	echo "$n manifest references checked"
	[ "$n" -gt 50 ] || fail "only $n references"
}

# the first wave's concurrent identical builds agree on the cache: one entry per distinct step
# (each key computed alike by every build of a Dockerfile), every entry written by kiln, and its
# layer the very layer the built images carry
cache_entries_consistent() {
	local tags want=0 ctx
	for ctx in a b c d u1 u2; do
		want=$((want + $(cacheable_steps "$ctx")))
	done
	tags=$(reg_get /v2/scale/cache/tags/list | jq -r '.tags[]')
	assert_eq "$(wc -l <<<"$tags")" "$want" "cache entries (one per distinct RUN and COPY step)"
	# the layers of the built images
	local layers=""
	for ctx in a b c d u1 u2; do
		layers+=$(reg_get "/v2/scale/$ctx/manifests/latest" | jq -r '.layers[].digest')
		layers+=$'\n'
	done
	local tag m cfg ld
	for tag in $tags; do
		m=$(reg_get "/v2/scale/cache/manifests/$tag")
		cfg=$(reg_get "/v2/scale/cache/blobs/$(jq -r .config.digest <<<"$m")")
		assert_eq "$(jq -r .author <<<"$cfg")" kiln "author of cache entry $tag"
		assert_eq "$(jq '.layers | length' <<<"$m")" 1 "layers of cache entry $tag"
		ld=$(jq -r '.layers[0].digest' <<<"$m")
		grep -qxF "$ld" <<<"$layers" || fail "cache entry $tag: layer $ld is in no built image"
		assert_eq "$(jq -r '.rootfs.diff_ids[0]' <<<"$cfg")" \
			"$(curl -fsS "http://$SREG/v2/scale/cache/blobs/$ld" | gzip -dc | sha256sum |
				sed 's/^/sha256:/; s/ .*//')" "diff_id of cache entry $tag"
	done
}

hits() { grep -c 'Using caching version of cmd: ' "$1" || true; }
misses() { grep -c 'No cached layer found for cmd ' "$1" || true; }

# the second wave finds every RUN and COPY step in the cache, runs none and pulls no layer
wave2_hits_every_step() {
	local spec name ctx log
	for spec in "${BUILDS[@]}"; do
		name=${spec%%:*}
		ctx=${spec#*:}
		log=$W/w2/$name.log
		assert_eq "$(hits "$log")" "$(cacheable_steps "$ctx")" "cache hits of $name in wave 2"
		assert_eq "$(misses "$log")" 0 "cache misses of $name in wave 2"
		assert_not_contains "$(cat "$log")" "Unpacking rootfs" "$name's log in wave 2"
	done
}

# in the first wave, every step of every build was looked up; the first step of each build
# missed or hit, and the sum is what was looked up (a build that started after another's push
# may hit)
wave1_looked_up_every_step() {
	local spec name ctx log n
	for spec in "${BUILDS[@]}"; do
		name=${spec%%:*}
		ctx=${spec#*:}
		log=$W/w1/$name.log
		n=$(grep -c 'Checking for cached layer ' "$log" || true)
		[ "$n" -ge 1 ] || fail "$name looked nothing up"
		assert_eq "$(($(hits "$log") + $(misses "$log")))" "$n" "look-ups of $name"
	done
}

# --- the registry's answers under concurrent pushes of the same blobs, made deterministic -----
# The distribution registry rewrites a repository's link to a blob in place whenever a client
# uploads or mounts that blob again; a request reading the link meanwhile gets a manifest PUT
# refused with 400 MANIFEST_BLOB_UNKNOWN, or a blob HEAD answered 500. Both happen in the waves
# above now and then; here tests/lib/faultproxy.py gives those answers on purpose. The
# destination names the proxy as localhost (another registry than the base's), so no
# cross-repository mount pass absorbs a failure, and there is no --push-retry.
source "$KILN_TOP/tests/lib/faultproxy.sh"
trap 'proxy_stop; registry_stop_all' EXIT

push_through_proxy() { # push_through_proxy <name> <kiln args...>: FROM busybox, COPY one file
	local name=$1
	shift
	mkdir -p "$W/$name.ctx"
	echo "$name" >"$W/$name.ctx/f.txt"
	printf 'FROM %s/busybox:latest\nCOPY f.txt /f.txt\n' "$PROXY" >"$W/$name.ctx/Dockerfile"
	kiln_build --context "$W/$name.ctx" "$@" >"$W/$name.log" 2>&1
}

manifest_blob_unknown_is_tried_again() {
	setup_ok
	PROXY_UPSTREAM=$SREG proxy_start mbu --rule fail PUT '/manifests/' 400:MANIFEST_BLOB_UNKNOWN 2
	local dest=localhost:${PROXY#127.0.0.1:}/scale-faults/mbu:1 rc=0
	push_through_proxy mbu --destination "$dest" || rc=$?
	proxy_stop
	cat "$W/mbu.log" "$PROXY_LOG"
	assert_eq "$rc" 0 "kiln's exit status"
	assert_eq "$(grep -c 'PUT /v2/scale-faults/mbu/manifests/1 -> 400 injected=fail' "$PROXY_LOG")" 2 \
		"refused manifest PUTs"
	grep -q '^PUT /v2/scale-faults/mbu/manifests/1 -> 201$' "$PROXY_LOG" || fail "no manifest PUT went through"
	assert_contains "$(cat "$W/mbu.log")" "the registry answered MANIFEST_BLOB_UNKNOWN" "log"
	skopeo inspect --tls-verify=false "docker://$SREG/scale-faults/mbu:1" >/dev/null ||
		fail "the pushed image is not readable"
	# and a registry that keeps refusing still fails the push, naming the error
	PROXY_UPSTREAM=$SREG proxy_start mbu2 --rule fail PUT '/manifests/' 400:MANIFEST_BLOB_UNKNOWN -1
	rc=0
	push_through_proxy mbu2 --destination "localhost:${PROXY#127.0.0.1:}/scale-faults/mbu:2" || rc=$?
	proxy_stop
	cat "$W/mbu2.log"
	assert_eq "$rc" 1 "kiln's exit status when every manifest PUT is refused"
	assert_contains "$(cat "$W/mbu2.log")" "MANIFEST_BLOB_UNKNOWN" "error"
	assert_eq "$(grep -c 'manifests/2 -> 400 injected=fail' "$PROXY_LOG")" 5 "manifest PUTs (1 + 4 retries)"
}

blob_head_500_does_not_fail_the_push() {
	setup_ok
	PROXY_UPSTREAM=$SREG proxy_start head500 --rule fail HEAD '/v2/scale-faults/head/blobs/' 500 -1
	local dest=localhost:${PROXY#127.0.0.1:}/scale-faults/head:1 rc=0
	push_through_proxy head500 --destination "$dest" || rc=$?
	proxy_stop
	cat "$W/head500.log" "$PROXY_LOG"
	assert_eq "$rc" 0 "kiln's exit status"
	grep -q 'HEAD /v2/scale-faults/head/blobs/sha256:[0-9a-f]* -> 500 injected=fail' "$PROXY_LOG" ||
		fail "no HEAD was answered 500"
	grep -q '^PUT /v2/scale-faults/head/manifests/1 -> 201$' "$PROXY_LOG" || fail "no manifest PUT"
	skopeo inspect --tls-verify=false "docker://$SREG/scale-faults/head:1" >/dev/null ||
		fail "the pushed image is not readable"
}

t_run "wave 1: 16 concurrent builds in runc containers (no CAP_SYS_ADMIN), one registry, one cache repo: all succeed" wave1_all_succeed
t_run "wave 1: every RUN/COPY step looked up, each a hit or a miss" wave1_looked_up_every_step
t_run "wave 1: concurrent identical builds agree on the cache entries" cache_entries_consistent
t_run "wave 2: the same 16 builds again: all succeed" wave2_all_succeed
t_run "wave 2: every RUN and COPY step is a cache hit, no rootfs unpacked" wave2_hits_every_step
t_run "identical inputs give identical digests (--reproducible), across builds and waves" identical_inputs_identical_digests
t_run "every blob in the registry's storage matches its digest" registry_blobs_verify
t_run "every manifest's blobs are in its repository with the manifest's size" manifests_reference_present_blobs
t_run "a manifest PUT refused with MANIFEST_BLOB_UNKNOWN (a concurrent push re-linking a blob) is tried again" manifest_blob_unknown_is_tried_again
t_run "a blob HEAD answered 500 (a concurrent push re-linking the blob) does not fail the push" blob_head_500_does_not_fail_the_push

total_hits() {
	local s n=0
	for s in "${BUILDS[@]}"; do n=$((n + $(hits "$W/w$1/${s%%:*}.log"))); done
	echo "$n"
}
total_steps() {
	local s n=0
	for s in "${BUILDS[@]}"; do n=$((n + $(cacheable_steps "${s#*:}"))); done
	echo "$n"
}
for n in 1 2; do
	if [ -f "$W/w$n/ms" ]; then
		ms=$(cat "$W/w$n/ms")
		echo "# wave $n: ${#BUILDS[@]} concurrent builds in $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s wall," \
			"$(cat "$W/w$n/requests") registry requests ($(cat "$W/w$n/methods"))," \
			"$(total_hits "$n")/$(total_steps) steps from the cache," \
			"$(cat "$W/w$n"/*.log | grep -c 'the registry answered MANIFEST_BLOB_UNKNOWN' || true) manifest PUTs tried again"
	fi
done
t_done
