#!/usr/bin/env bash
# test_executor_image.sh — kiln builds its own executor images from deploy/Dockerfile (the
# executor and debug targets, as kaniko's gcr.io/kaniko-project/executor:latest and :debug),
# they have kaniko's layout and stay small, and the debug image runs a GitLab CI job the way
# GitLab's docker executor would: under runc with Docker's default capabilities (no
# CAP_SYS_ADMIN), the project bind-mounted at /workspace, a before_script writing
# /kaniko/.docker/config.json and appending a CA to /kaniko/ssl/certs/ca-certificates.crt,
# then GitLab's exact executor command against a TLS + htpasswd registry.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
source "$KILN_TOP/tests/lib/registry.sh"
source "$KILN_TOP/tests/lib/runc.sh"
W=$KILN_TEST_WORK/executor-image
mkdir -p "$W"
trap 'registry_stop_all' EXIT
EXECUTOR=$KILN_TEST_REGISTRY/kiln/executor:latest
DEBUG=$KILN_TEST_REGISTRY/kiln/executor:debug

# both targets build at once (each is mostly apt-get and a compile in the shared build stage)
build_target() { # build_target <target> <ref>: log in $W/<target>.log, status in $W/<target>.rc
	local rc=0
	kiln_build --context "$KILN_TOP" --dockerfile deploy/Dockerfile --target "$1" \
		--build-arg BASE="$DEBIAN_IMAGE" --destination "$2" >"$W/$1.log" 2>&1 || rc=$?
	echo "$rc" >"$W/$1.rc"
}
t0=$(date +%s)
build_target executor "$EXECUTOR" &
build_target debug "$DEBUG" &
wait
echo "# kiln building deploy/Dockerfile (executor and debug targets, concurrently): $(($(date +%s) - t0)) s"

compressed_size() { # sum of the layer sizes in the manifest
	image_raw "$1" | jq '[.layers[].size] | add'
}
built_ok() { # built_ok <target>
	[ "$(cat "$W/$1.rc")" = 0 ] || { tail -n 40 "$W/$1.log"; fail "kiln failed to build --target $1"; }
}
if [ "$(cat "$W/executor.rc")" = 0 ]; then
	size=$(compressed_size "$EXECUTOR")
	echo "# executor image: $size bytes compressed ($((size / 100000))/100 of the 10 MB target)"
fi
if [ "$(cat "$W/debug.rc")" = 0 ]; then
	echo "# debug image: $(compressed_size "$DEBUG") bytes compressed"
fi

executor_target_has_kanikos_layout() {
	built_ok executor
	unpack_image "$EXECUTOR" "$W/executor"
	local r=$W/executor/rootfs
	assert_file_mode "$r/kaniko" 777
	[ -x "$r/kaniko/executor" ] || fail "no /kaniko/executor"
	[ -x "$r/kaniko/lib/ld-linux-x86-64.so.2" ] || fail "no loader in /kaniko/lib"
	grep -q "BEGIN CERTIFICATE" "$r/kaniko/ssl/certs/ca-certificates.crt" || fail "no CA bundle"
	[ -d "$r/kaniko/.docker" ] || fail "no /kaniko/.docker"
	assert_eq "$(ls -A "$r/kaniko/.docker")" "" "/kaniko/.docker (empty, as kaniko's)"
	assert_eq "$(cat "$r/etc/nsswitch.conf")" "hosts: files dns" /etc/nsswitch.conf
	# FROM scratch: nothing but kiln, outside /kaniko only nsswitch.conf and the WORKDIR
	assert_eq "$(cd "$r" && find . -path ./kaniko -prune -print -o -print | sort | paste -sd' ')" \
		". ./etc ./etc/nsswitch.conf ./kaniko ./workspace" "files outside /kaniko"
	# the warmer is the same program under kaniko's other name
	assert_eq "$(readlink "$r/kaniko/warmer")" executor /kaniko/warmer
	local wout
	wout=$(chroot "$r" /kaniko/warmer 2>&1) && fail "the warmer without images succeeded"
	assert_contains "$wout" "You must select at least one image to cache" "/kaniko/warmer"
	local cfg
	cfg=$(image_config "$EXECUTOR")
	assert_eq "$(jq -c .config.Entrypoint <<<"$cfg")" '["/kaniko/executor"]' Entrypoint
	assert_eq "$(jq -r .config.WorkingDir <<<"$cfg")" /workspace WorkingDir
	assert_eq "$(jq -r '.config.Env | sort | join(" ")' <<<"$cfg")" \
		"DOCKER_CONFIG=/kaniko/.docker/ HOME=/root PATH=/usr/local/bin:/kaniko SSL_CERT_DIR=/kaniko/ssl/certs USER=root" \
		Env
	# the image has no /lib: the binary runs only through /kaniko/lib's loader and libraries
	[ ! -e "$r/lib" ] && [ ! -e "$r/usr" ] || fail "libraries outside /kaniko"
	assert_contains "$(chroot "$r" /kaniko/executor version)" "kaniko executor compatible" \
		"/kaniko/executor version"
}

executor_image_is_under_10_mb() {
	built_ok executor
	local size
	size=$(compressed_size "$EXECUTOR")
	echo "executor image: $size bytes compressed"
	[ "$size" -lt 10000000 ] || fail "executor image is $size bytes compressed, over 10 MB"
}

debug_target_adds_busybox() {
	built_ok debug
	unpack_image "$DEBUG" "$W/debug"
	local r=$W/debug/rootfs
	[ -x "$r/busybox/busybox" ] || fail "no /busybox/busybox"
	assert_eq "$(readlink "$r/busybox/sh")" busybox "/busybox/sh applet link"
	assert_eq "$(readlink "$r/bin/sh")" /busybox/sh /bin/sh
	[ -x "$r/kaniko/executor" ] || fail "no /kaniko/executor"
	local cfg
	cfg=$(image_config "$DEBUG")
	assert_eq "$(jq -c .config.Volumes <<<"$cfg")" '{"/busybox":{}}' Volumes
	assert_eq "$(jq -c .config.Entrypoint <<<"$cfg")" '["/kaniko/executor"]' Entrypoint
	assert_contains "$(jq -r '.config.Env[]' <<<"$cfg")" "PATH=/usr/local/bin:/kaniko:/busybox" Env
	assert_eq "$(chroot "$r" /bin/sh -c 'echo $((6 * 7))')" 42 "/bin/sh in the debug image"
	# the debug image is the executor image plus one layer
	assert_eq "$(image_raw "$DEBUG" | jq '.layers | length')" \
		"$(($(image_raw "$EXECUTOR" | jq '.layers | length') + 1))" "layer count"
}

# --- a GitLab CI job in the debug image ----------------------------------------------------
gitlab_setup() {
	registry_start "$W/secure" htpasswd || return 1
	SECURE=$REGISTRY
	mkdir -p "$W/certs"
	cp "$REGISTRY_CA" "$W/certs/ca.crt"
	local src
	for src in "$DEBIAN_IMAGE" "$BUSYBOX_IMAGE"; do
		skopeo copy -q --src-tls-verify=false --dest-cert-dir "$W/certs" \
			--dest-creds "$REGISTRY_USER:$REGISTRY_PASSWORD" \
			"docker://$src" "docker://$SECURE/${src#*/}" >/dev/null || return 1
	done
	# the project: a Dockerfile with apt-get, COPY and a second stage
	mkdir -p "$W/project"
	cat >"$W/project/Dockerfile" <<DOCKERFILE
FROM $SECURE/debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends hello \\
 && rm -rf /var/lib/apt/lists/* && hello --greeting="built by kiln in CI" > /greeting
COPY app.sh /app/app.sh

FROM $SECURE/busybox:latest
COPY --from=build /greeting /app/app.sh /app/
CMD ["/app/app.sh"]
DOCKERFILE
	printf '#!/bin/sh\necho "$(cat /app/greeting) ($(uname -s))"\n' >"$W/project/app.sh"
	chmod 755 "$W/project/app.sh"
	# a GitLab "File" CI/CD variable lands in ${CI_PROJECT_DIR}.tmp/<NAME>
	mkdir -p "$W/project.tmp"
	cp "$REGISTRY_CA" "$W/project.tmp/CUSTOM_CA"
}
gitlab_setup >"$W/gitlab-setup.log" 2>&1 || GITLAB_SETUP_FAILED=1

# the job's script: before_script and script as in GitLab's kaniko documentation (the
# config.json line in its username/password form or its older base64 "auth" form)
job_script() {
	echo 'set -e'
	# shellcheck disable=SC2016
	echo 'cat "${CUSTOM_CA}" >> /kaniko/ssl/certs/ca-certificates.crt'
	if [ "$1" = username ]; then
		cat <<'LINE'
echo "{\"auths\":{\"${CI_REGISTRY}\":{\"username\":\"${CI_REGISTRY_USER}\",\"password\":\"${CI_REGISTRY_PASSWORD}\"}}}" > /kaniko/.docker/config.json
LINE
	else
		cat <<'LINE'
echo "{\"auths\":{\"${CI_REGISTRY}\":{\"auth\":\"$(printf "%s:%s" "${CI_REGISTRY_USER}" "${CI_REGISTRY_PASSWORD}" | base64 | tr -d '\n')\"}}}" > /kaniko/.docker/config.json
LINE
	fi
	cat <<'SCRIPT'
# test only: kiln (like kaniko) also has GitLab's built-in CI_REGISTRY_* credential helper,
# which would hide a config.json that does not work
unset CI_REGISTRY_PASSWORD
/kaniko/executor --context "${CI_PROJECT_DIR}" --dockerfile "${CI_PROJECT_DIR}/Dockerfile" --destination "${CI_REGISTRY_IMAGE}:${CI_COMMIT_TAG}"
# the build replaced / (kaniko's model), but /busybox is a volume: the shell's tools remain
echo "after the build: $(ls /busybox/sh) $(cat /kaniko/.docker/config.json | wc -c)"
SCRIPT
}

gitlab_job() { # gitlab_job <username|auth> <tag>
	local form=$1 tag=$2 b=$W/job-$1
	[ -z "${GITLAB_SETUP_FAILED:-}" ] || { cat "$W/gitlab-setup.log"; fail "setup failed"; }
	built_ok debug
	runc_bundle "$DEBUG" "$b" --src-tls-verify=false
	runc_bind "$b" "$W/project" /workspace
	runc_bind "$b" "$W/project.tmp" /workspace.tmp ro
	runc_env "$b" CI=true GITLAB_CI=true CI_PROJECT_DIR=/workspace \
		CI_REGISTRY="$SECURE" CI_REGISTRY_IMAGE="$SECURE/group/project" \
		CI_REGISTRY_USER="$REGISTRY_USER" CI_REGISTRY_PASSWORD="$REGISTRY_PASSWORD" \
		CI_COMMIT_TAG="$tag" CUSTOM_CA=/workspace.tmp/CUSTOM_CA
	local script
	script=$(job_script "$form")
	echo "$script"
	# GitLab runs the debug image with entrypoint [""] and feeds the script to sh
	local t0=$SECONDS
	runc_exec "$b" sh -c "$script" >"$b.log" 2>&1 || { cat "$b.log"; fail "the job failed"; }
	echo "$((SECONDS - t0))" >"$b.secs"
	cat "$b.log"
	local log
	log=$(cat "$b.log")
	assert_contains "$log" "Isolation: inplace" "kiln's log (no CAP_SYS_ADMIN)"
	assert_contains "$log" "Pushed $SECURE/group/project@sha256:" "kiln's log"
	assert_not_contains "$log" "$REGISTRY_PASSWORD" "job log"
	assert_contains "$log" "after the build: /busybox/sh " "the job's shell after the build"
	# the pushed image, read back with skopeo + umoci, and its program run
	local out=$W/pushed-$form
	rm -rf "$out"
	mkdir -p "$out"
	skopeo copy -q --src-cert-dir "$W/certs" --src-creds "$REGISTRY_USER:$REGISTRY_PASSWORD" \
		"docker://$SECURE/group/project:$tag" "oci:$out/layout:img" >/dev/null
	umoci unpack --image "$out/layout:img" "$out/bundle" >/dev/null
	assert_eq "$(chroot "$out/bundle/rootfs" /app/app.sh)" "built by kiln in CI (Linux)" \
		"/app/app.sh from the pushed image"
	[ ! -e "$out/bundle/rootfs/usr/bin/hello" ] || fail "the build stage leaked into the image"
	[ ! -e "$out/bundle/rootfs/kaniko" ] || fail "/kaniko leaked into the image"
}
gitlab_job_username_password() { gitlab_job username v1.0.0; }
gitlab_job_auth_field() { gitlab_job auth v1.0.1; }

# --- a Kubernetes pod / Tekton step running the executor image ------------------------------
# no shell: the executor is the entrypoint, config.json comes from a secret volume mounted at
# /kaniko/.docker/, the registry's CA from a volume in /kaniko/ssl/certs/ (SSL_CERT_DIR), the
# context is a volume at /workspace, and the digest goes to a Tekton result file
pod_step() {
	[ -z "${GITLAB_SETUP_FAILED:-}" ] || { cat "$W/gitlab-setup.log"; fail "setup failed"; }
	built_ok executor
	local b=$W/pod
	mkdir -p "$W/pod-ctx" "$W/pod-secret" "$W/pod-ca" "$W/pod-results" "$W/pod-sa"
	cat >"$W/pod-ctx/Dockerfile" <<DOCKERFILE
FROM $SECURE/busybox:latest AS build
RUN echo "built in a pod" > /msg
FROM $SECURE/busybox:latest
COPY --from=build /msg /msg
COPY hello.txt /hello.txt
DOCKERFILE
	echo "from the workspace volume" >"$W/pod-ctx/hello.txt"
	# what kubectl create secret docker-registry puts in .dockerconfigjson
	jq -n --arg r "$SECURE" --arg u "$REGISTRY_USER" --arg p "$REGISTRY_PASSWORD" \
		'{auths: {($r): {username: $u, password: $p, auth: ("\($u):\($p)" | @base64)}}}' \
		>"$W/pod-secret/config.json"
	cp "$REGISTRY_CA" "$W/pod-ca/additional-ca-cert-bundle.crt"
	: >"$W/pod-sa/token"
	runc_bundle "$EXECUTOR" "$b" --src-tls-verify=false
	rm -f "$b/rootfs/.dockerenv" # not Docker: Kubernetes' service account mount says "kube"
	runc_bind "$b" "$W/pod-sa" /var/run/secrets/kubernetes.io/serviceaccount ro
	runc_bind "$b" "$W/pod-ctx" /workspace
	runc_bind "$b" "$W/pod-secret" /kaniko/.docker ro
	runc_bind "$b" "$W/pod-ca/additional-ca-cert-bundle.crt" \
		/kaniko/ssl/certs/additional-ca-cert-bundle.crt ro
	runc_bind "$b" "$W/pod-results" /tekton/results
	runc_exec "$b" /kaniko/executor --context=/workspace --dockerfile=/workspace/Dockerfile \
		--destination="$SECURE/group/pod:1" --digest-file=/tekton/results/IMAGE_DIGEST \
		>"$b.log" 2>&1 || { cat "$b.log"; fail "the pod's build failed"; }
	cat "$b.log"
	assert_contains "$(cat "$b.log")" "Isolation: inplace" "kiln's log"
	local digest
	digest=$(skopeo inspect --cert-dir "$W/certs" --creds "$REGISTRY_USER:$REGISTRY_PASSWORD" \
		--format '{{.Digest}}' "docker://$SECURE/group/pod:1")
	assert_eq "$(cat "$W/pod-results/IMAGE_DIGEST")" "$digest" "--digest-file"
	assert_eq "$(wc -c <"$W/pod-results/IMAGE_DIGEST")" 71 "--digest-file size (no newline)"
	local out=$W/pushed-pod
	mkdir -p "$out"
	skopeo copy -q --src-cert-dir "$W/certs" --src-creds "$REGISTRY_USER:$REGISTRY_PASSWORD" \
		"docker://$SECURE/group/pod:1" "oci:$out/layout:img" >/dev/null
	umoci unpack --image "$out/layout:img" "$out/bundle" >/dev/null
	assert_eq "$(chroot "$out/bundle/rootfs" cat /msg /hello.txt)" "built in a pod
from the workspace volume" "files in the pushed image"
}

t_run "deploy/Dockerfile --target executor: kaniko's layout, runs with only /kaniko" executor_target_has_kanikos_layout
t_run "executor image under 10 MB compressed" executor_image_is_under_10_mb
t_run "deploy/Dockerfile --target debug: busybox at /busybox, /bin/sh, VOLUME, PATH" debug_target_adds_busybox
t_run "GitLab job in the debug image under runc, no CAP_SYS_ADMIN: username/password" gitlab_job_username_password
t_run "GitLab job in the debug image under runc, no CAP_SYS_ADMIN: auth field" gitlab_job_auth_field
t_run "Kubernetes/Tekton step: executor image, secret config.json, CA volume, --digest-file" pod_step
for f in username auth; do
	[ -f "$W/job-$f.secs" ] && echo "# GitLab job ($f form) under runc: $(cat "$W/job-$f.secs") s"
done
t_done
