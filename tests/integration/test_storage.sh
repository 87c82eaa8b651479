#!/usr/bin/env bash
# test_storage.sh — chroot-mode stage storage (--stage-storage): roots in a tmpfs private to
# kiln (gone when it exits, never visible in the host's mounts), on disk when asked, a full
# tmpfs named in a warning; and RUN's sync calls suppressed by kiln's seccomp filter unless
# KILN_RUN_SYNC is set.
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
source "$KILN_TOP/tests/lib/kiln.sh"
W=$KILN_TEST_WORK/storage
mkdir -p "$W/ctx"

# build <kaniko-dir> <log> <args...>: a RUN records the root's filesystem type and seccomp mode
storage_build() {
	local kdir=$1 log=$2
	shift 2
	"$KILN" --kaniko-dir "$kdir" --insecure --insecure-pull --log-format text \
		--context "$W/ctx" "$@" >"$log" 2>&1
}

write_probe_dockerfile() {
	cat >"$W/ctx/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE
RUN stat -f -c %T / > /fstype && grep '^Seccomp:' /proc/self/status | tr -d ' \t' > /seccomp
DOCKERFILE
}

tmpfs_by_default() {
	write_probe_dockerfile
	local kdir=$W/k-auto
	rm -rf "$kdir"
	storage_build "$kdir" "$W/auto.log" --destination "$KILN_TEST_REGISTRY/storage:auto" ||
		{ cat "$W/auto.log"; fail "build failed"; }
	# the machine running the suite has far more than 4 GiB free: auto means tmpfs
	assert_contains "$(cat "$W/auto.log")" "Stage roots in memory: a tmpfs of" log
	unpack_image "$KILN_TEST_REGISTRY/storage:auto" "$W/auto"
	assert_eq "$(cat "$W/auto/rootfs/fstype")" tmpfs "RUN's root filesystem"
	assert_eq "$(cat "$W/auto/rootfs/seccomp")" "Seccomp:2" "RUN under kiln's sync filter"
	# nothing left behind: the tmpfs went with kiln's mount namespace
	assert_eq "$(find "$kdir/stages" -mindepth 1 | wc -l)" 0 "entries left in stages/"
	if grep -q " $kdir/" /proc/self/mounts; then
		fail "a mount under $kdir is visible outside kiln"
	fi
}

disk_when_asked() {
	write_probe_dockerfile
	local kdir=$W/k-disk
	rm -rf "$kdir"
	KILN_RUN_SYNC=1 storage_build "$kdir" "$W/disk.log" --stage-storage=disk \
		--destination "$KILN_TEST_REGISTRY/storage:disk" ||
		{ cat "$W/disk.log"; fail "build failed"; }
	assert_not_contains "$(cat "$W/disk.log")" "Stage roots in memory" log
	unpack_image "$KILN_TEST_REGISTRY/storage:disk" "$W/disk"
	local want
	want=$(stat -f -c %T "$kdir")
	assert_eq "$(cat "$W/disk/rootfs/fstype")" "$want" "RUN's root filesystem"
	assert_eq "$(cat "$W/disk/rootfs/seccomp")" "Seccomp:0" "KILN_RUN_SYNC=1 turns the filter off"
	[ -f "$kdir/stages/0/rootfs/fstype" ] || fail "the disk root is not under \$KANIKO_DIR/stages"
}

full_tmpfs_is_named() {
	cat >"$W/ctx/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX_IMAGE
RUN head -c 33554432 /dev/zero > /big
DOCKERFILE
	local rc=0
	storage_build "$W/k-full" "$W/full.log" --stage-storage=tmpfs:16M --no-push || rc=$?
	[ "$rc" -ne 0 ] || fail "a 32 MiB file fitted in a 16 MiB tmpfs"
	assert_contains "$(cat "$W/full.log")" "a tmpfs of 16 MiB" log
	assert_contains "$(cat "$W/full.log")" "tmpfs at $W/k-full/stages is full" warning
	assert_contains "$(cat "$W/full.log")" "--stage-storage=disk" warning
}

bad_values() {
	local rc=0
	"$KILN" --context "$W/ctx" --no-push --stage-storage=ram >"$W/bad.log" 2>&1 || rc=$?
	assert_eq "$rc" 1 "exit status"
	assert_contains "$(cat "$W/bad.log")" 'invalid argument "ram" for "--stage-storage" flag' error
	rc=0
	"$KILN" --context "$W/ctx" --no-push --stage-storage=tmpfs:lots >"$W/bad2.log" 2>&1 || rc=$?
	assert_eq "$rc" 1 "exit status"
	assert_contains "$(cat "$W/bad2.log")" '"--stage-storage" flag' error
}

t_run "auto: stage roots in a private tmpfs, nothing left after the build" tmpfs_by_default
t_run "--stage-storage=disk and KILN_RUN_SYNC=1" disk_when_asked
t_run "a full tmpfs fails the RUN and is named in a warning" full_tmpfs_is_named
t_run "invalid --stage-storage values" bad_values
t_done
