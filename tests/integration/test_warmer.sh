#!/usr/bin/env bash
# test_warmer.sh — the cache warmer (kaniko's /kaniko/warmer): base images written into
# --cache-dir as <dir>/sha256:<hex> (docker-save tarball) + .json (manifest), what is there
# kept unless --force, FROM images of a Dockerfile, kaniko's messages and exit codes.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
W=$KILN_TEST_WORK/warmer
mkdir -p "$W"
ln -sf "$KILN" "$W/warmer"

warms_images() {
	local C=$W/cache1
	"$W/warmer" --image "$BUSYBOX_IMAGE" --cache-dir "$C" --insecure-pull >"$W/w1.log" 2>&1 ||
		{ cat "$W/w1.log"; fail "warmer failed"; }
	local digest
	digest=$(skopeo inspect --tls-verify=false "docker://$BUSYBOX_IMAGE" | jq -r .Digest)
	[ -f "$C/$digest" ] || fail "no $C/$digest"
	[ -f "$C/$digest.json" ] || fail "no manifest next to it"
	assert_eq "sha256:$(sha256sum <"$C/$digest.json" | cut -d' ' -f1)" "$digest" "cached manifest"
	ln -sf "$C/$digest" "$W/cached.tar"
	skopeo copy -q "docker-archive:$W/cached.tar" "oci:$W/fromcache:x" >/dev/null ||
		fail "the cached tarball is not a docker archive"
	"$KILN" warmer -i "$BUSYBOX_IMAGE" -c "$C" --insecure-pull >"$W/w2.log" 2>&1
	assert_contains "$(cat "$W/w2.log")" "Image already in cache: $BUSYBOX_IMAGE" log
	"$KILN" warmer -i "$BUSYBOX_IMAGE" -c "$C" -f --insecure-pull >"$W/w3.log" 2>&1
	assert_contains "$(cat "$W/w3.log")" "Cached $BUSYBOX_IMAGE" "log with --force"
	[ -z "$(ls -A "$C" | grep -v '^sha256:')" ] || fail "temporary files left in the cache"
}

dockerfile_images() {
	printf 'ARG BASE=%s\nFROM ${BASE} AS build\nFROM build\nFROM scratch\n' "$DEBIAN_IMAGE" >"$W/Dockerfile"
	"$W/warmer" --dockerfile "$W/Dockerfile" --build-arg "BASE=$BUSYBOX_IMAGE" -c "$W/cache2" \
		--insecure-pull >"$W/d.log" 2>&1 || { cat "$W/d.log"; fail "warmer failed"; }
	assert_eq "$(ls "$W/cache2" | grep -vc json)" 1 "one image (the stage name and scratch are not pulled)"
	assert_contains "$(cat "$W/d.log")" "Cached $BUSYBOX_IMAGE" "--build-arg substituted"
}

# the FROM images are found with the build's ARG rules (src/plan): meta ARGs only, defaults
# expanded with the ARGs before them and the platform ARGs, an empty --build-arg leaving the
# default
dockerfile_meta_args() {
	skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$BUSYBOX_IMAGE" \
		"docker://$KILN_TEST_REGISTRY/warm/busybox:linux" >/dev/null || fail "skopeo copy"
	printf 'ARG REG\nARG IMAGE=${REG}/warm/busybox:${TARGETOS}\nFROM ${IMAGE} AS a\nARG IMAGE=%s\nFROM ${IMAGE}\n' \
		"$DEBIAN_IMAGE" >"$W/Dockerfile.args"
	"$W/warmer" --dockerfile "$W/Dockerfile.args" --build-arg "REG=$KILN_TEST_REGISTRY" \
		--build-arg IMAGE= -c "$W/cache4" --insecure-pull >"$W/m.log" 2>&1 ||
		{ cat "$W/m.log"; fail "warmer failed"; }
	assert_contains "$(cat "$W/m.log")" "Cached $KILN_TEST_REGISTRY/warm/busybox:linux" "meta ARGs expanded"
	assert_eq "$(ls "$W/cache4" | grep -vc json)" 1 "one image (a stage's ARG does not change a FROM)"
}

errors() {
	local rc=0
	"$W/warmer" -c "$W/cache3" >"$W/e1.log" 2>&1 || rc=$?
	assert_eq "$rc" 1 "exit status without images"
	assert_contains "$(cat "$W/e1.log")" "You must select at least one image to cache or a dockerfilepath to parse" error
	rc=0
	"$W/warmer" -i "$KILN_TEST_REGISTRY/does-not-exist:x" -c "$W/cache3" --insecure-pull \
		>"$W/e2.out" 2>"$W/e2.err" || rc=$?
	assert_eq "$rc" 1 "exit status when every image failed"
	assert_eq "$(cat "$W/e2.out")" "Failed warming cache" stdout
}

flags() {
	# one option table machinery with the executor: pflag's syntax and messages, cobra's help
	local rc=0
	"$W/warmer" --bogus >"$W/f1.out" 2>"$W/f1.err" || rc=$?
	assert_eq "$rc" 1 "exit status of an unknown flag"
	assert_eq "$(head -n1 "$W/f1.err")" "Error: unknown flag: --bogus" "unknown flag"
	assert_contains "$(cat "$W/f1.err")" "  -c, --cache-dir string" "usage after the error"
	rc=0
	"$KILN" warmer -c >/dev/null 2>"$W/f2.err" || rc=$?
	assert_eq "$rc" 1 "exit status of a missing value"
	assert_eq "$(head -n1 "$W/f2.err")" "Error: flag needs an argument: 'c' in -c" "missing value"
	rc=0
	"$W/warmer" --cache-ttl=soon -i x >/dev/null 2>"$W/f3.err" || rc=$?
	assert_eq "$rc" 1 "exit status of an invalid duration"
	assert_eq "$(head -n1 "$W/f3.err")" \
		'Error: invalid argument "soon" for "--cache-ttl" flag: time: invalid duration "soon"' \
		"--cache-ttl is a Go duration"
	rc=0
	"$W/warmer" --registry-certificate nohost -i x >/dev/null 2>"$W/f4.err" || rc=$?
	assert_eq "$rc" 1 "exit status of a key=value flag without '='"
	assert_contains "$(head -n1 "$W/f4.err")" "expect key=value, got nohost" "key=value flag"
	local help
	help=$("$W/warmer" --help) || fail "--help failed"
	assert_contains "$help" "  -c, --cache-dir string                          Directory of the base image cache (default \"/cache\")" "--help line"
	assert_contains "$help" "      --cache-ttl duration                        Accepted for compatibility (default 336h0m0s)" "--help duration"
	# booleans take =true|false as in pflag; -f=false leaves images alone
	"$W/warmer" -i "$BUSYBOX_IMAGE" -c "$W/cache4" --insecure-pull --force=false -fi "$BUSYBOX_IMAGE" \
		>"$W/f5.log" 2>&1 || { cat "$W/f5.log"; fail "warmer with grouped short flags failed"; }
	assert_contains "$(cat "$W/f5.log")" "Cached $BUSYBOX_IMAGE" "-fi: --force and --image"
}

t_run "warmer caches images as kaniko lays them out; --force" warms_images
t_run "warmer --dockerfile: FROM images with --build-arg, stage names left out" dockerfile_images
t_run "warmer --dockerfile: the build's ARG rules (defaults, platform ARGs, empty --build-arg)" dockerfile_meta_args
t_run "warmer errors: nothing to cache, every image failing" errors
t_run "warmer flags: the executor's option machinery (pflag messages, Go durations, help)" flags
t_done
