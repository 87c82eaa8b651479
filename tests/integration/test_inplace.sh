#!/usr/bin/env bash
# test_inplace.sh — kaniko's model where kiln may not mount: kiln runs as root in a throwaway
# container (its own mount and PID namespaces around a scratch root, CAP_SYS_ADMIN dropped
# from the bounding set, as under Docker's default profile), so --isolation=auto must pick
# inplace: the base image is extracted over that container's "/", RUN executes there, mounts
# and /kaniko are never touched, stages are wiped between, and --cleanup leaves it clean.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
W=$KILN_TEST_WORK/inplace
R=$W/rootfs
mkdir -p "$W/ctx"

# a scratch container root holding only kiln (its libraries under /kaniko/lib, started through
# their own loader, so extracting an image over / cannot pull them away)
make_container_root() {
	rm -rf "$R"
	mkdir -p "$R/kaniko/lib" "$R/proc" "$R/dev" "$R/workspace" "$R/tmp"
	cp "$KILN" "$R/kaniko/executor"
	ldd "$KILN" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}' | while read -r lib; do
		cp -L "$lib" "$R/kaniko/lib/"
	done
	cp -L /lib64/ld-linux-x86-64.so.2 "$R/kaniko/lib/"
	touch "$R/.dockerenv"
	echo "from the container image" >"$R/kiln-image-file"
}

# in_container <args...>: runs the executor inside the scratch root, without CAP_SYS_ADMIN
in_container() {
	unshare --mount --pid --fork --propagation private bash -c '
		set -e
		R=$1; shift
		mount --bind "$R" "$R"
		mount -t proc proc "$R/proc"
		mount -t tmpfs -o mode=755 tmpfs "$R/dev"
		for d in null zero random urandom; do
			touch "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d"
		done
		mount --bind "$CTX" "$R/workspace"
		cd "$R"
		exec setpriv --bounding-set=-sys_admin -- chroot . \
			/kaniko/lib/ld-linux-x86-64.so.2 --library-path /kaniko/lib /kaniko/executor "$@"
	' sh "$R" "$@"
}

auto_picks_inplace_and_builds() {
	make_container_root
	printf 'from the context\n' >"$W/ctx/file.txt"
	cat >"$W/ctx/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE AS build
RUN echo built-in-place > /artifact && test ! -e /kiln-image-file -o -e /kiln-image-file
RUN test -f /kaniko/executor && echo kaniko-dir-visible-to-run > /seen

FROM $BUSYBOX_IMAGE
COPY --from=build /artifact /artifact
COPY file.txt /file.txt
RUN test ! -e /seen && cat /artifact /file.txt > /combined
DOCKERFILE
	CTX=$W/ctx in_container --context /workspace --dockerfile Dockerfile \
		--destination "$KILN_TEST_REGISTRY/inplace:it" --insecure --insecure-pull \
		--log-format text >"$W/build.log" 2>&1 || { cat "$W/build.log"; fail "build failed"; }
	cat "$W/build.log"
	assert_contains "$(cat "$W/build.log")" "Isolation: inplace" log
	unpack_image "$KILN_TEST_REGISTRY/inplace:it" "$W/out"
	assert_eq "$(cat "$W/out/rootfs/combined")" "built-in-place
from the context" "result of the inplace build"
	[ ! -e "$W/out/rootfs/kaniko" ] || fail "/kaniko leaked into the image"
	[ ! -e "$W/out/rootfs/workspace/Dockerfile" ] || fail "the context mount leaked into the image"
	[ ! -e "$W/out/rootfs/seen" ] || fail "the first stage's files leaked into the second"
	# the container's own root: kiln's files are intact, and the context mount untouched
	[ -x "$R/kaniko/executor" ] || fail "/kaniko/executor was removed"
	assert_eq "$(cat "$W/ctx/file.txt")" "from the context" "context"
}

cleanup_leaves_the_container_clean() {
	CTX=$W/ctx in_container --context /workspace --dockerfile Dockerfile --no-push \
		--insecure-pull --cleanup --log-format text >"$W/cleanup.log" 2>&1 ||
		{ cat "$W/cleanup.log"; fail "build failed"; }
	[ ! -e "$R/combined" ] || fail "--cleanup left the build's files in /"
	[ ! -e "$R/bin/busybox" ] || fail "--cleanup left the base image in /"
	[ -x "$R/kaniko/executor" ] || fail "/kaniko/executor was removed"
	# and a second build in the same container works
	CTX=$W/ctx in_container --context /workspace --dockerfile Dockerfile --no-push \
		--insecure-pull --log-format text >"$W/second.log" 2>&1 ||
		{ cat "$W/second.log"; fail "second build in the same container failed"; }
}

chroot_refused_without_cap_sys_admin() {
	local rc=0
	CTX=$W/ctx in_container --context /workspace --no-push --isolation chroot \
		>"$W/chroot.log" 2>&1 || rc=$?
	cat "$W/chroot.log"
	assert_eq "$rc" 1 "exit status"
	assert_contains "$(cat "$W/chroot.log")" "CAP_SYS_ADMIN" "error"
}

t_run "without CAP_SYS_ADMIN, auto isolation builds in place (kaniko's model)" auto_picks_inplace_and_builds
t_run "--cleanup wipes / but not /kaniko or mounts; a second build works" cleanup_leaves_the_container_clean
t_run "--isolation=chroot without CAP_SYS_ADMIN fails clearly" chroot_refused_without_cap_sys_admin
t_done
