# runc.sh — run an image from a registry the way a Docker-based CI runner (GitLab's docker
# executor) runs a job container: runc (crun refuses these machines' hybrid cgroups), root user,
# Docker's default capability set (no CAP_SYS_ADMIN) and seccomp refusals, own mount/PID/IPC/UTS
# namespaces but the HOST network namespace (so 127.0.0.1 reaches the test registries),
# /etc/resolv.conf and /etc/hosts bind-mounted as Docker does, /.dockerenv, image VOLUMEs as
# volumes filled from the image, no terminal.
#   runc_bundle <ref> <dir> [skopeo src opts...]   <dir>/rootfs + <dir>/config.json (Docker-like)
#   runc_privileged <dir>                          as `docker run --privileged` (a Kubernetes pod
#                                                  with privileged: true): every capability, no
#                                                  seccomp filter, no masked /proc paths
#   runc_bind <dir> <host-path> <container-path> [ro]   adds a bind mount
#   runc_env <dir> NAME=value...                   adds environment variables
#   runc_exec <dir> <args...>                      runs args as the container's process and waits
#                                                  (at most $RUNC_TIMEOUT s); stdout/stderr are the
#                                                  caller's; returns its status
# Needs: skopeo, umoci, runc, jq. Run as root.

# Docker's default capabilities (moby oci/caps/defaults.go)
RUNC_DOCKER_CAPS='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD",
"CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE",
"CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]'

# Docker's default seccomp profile, as it acts on a container without CAP_SYS_ADMIN: the
# system calls docs.docker.com/engine/security/seccomp lists as blocked (and the new mount
# API, allowed there only with CAP_SYS_ADMIN) fail with EPERM. Written as a denylist: Docker's
# allowlist is longer, but these are the calls it refuses that a builder might make.
# runc_privileged removes it, as `docker run --privileged` runs unconfined.
RUNC_DOCKER_SECCOMP='{"defaultAction": "SCMP_ACT_ALLOW",
 "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
 "syscalls": [{"action": "SCMP_ACT_ERRNO", "errnoRet": 1, "names": [
  "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module",
  "delete_module", "finit_module", "get_kernel_syms", "get_mempolicy", "init_module",
  "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
  "mbind", "mount", "move_pages", "name_to_handle_at", "nfsservctl", "open_by_handle_at",
  "perf_event_open", "pivot_root", "process_vm_readv", "process_vm_writev", "query_module",
  "quotactl", "reboot", "request_key", "set_mempolicy", "setns", "settimeofday", "stime",
  "swapon", "swapoff", "sysfs", "_sysctl", "umount", "umount2", "unshare", "uselib",
  "userfaultfd", "ustat", "vm86", "vm86old", "fsopen", "fsconfig", "fsmount", "fspick",
  "move_mount", "open_tree", "mount_setattr"]}]}'

_runc_edit() { # _runc_edit <dir> <jq args...>: edits <dir>/config.json in place
	local dir=$1
	shift
	jq "$@" "$dir/config.json" >"$dir/config.json.new" && mv "$dir/config.json.new" "$dir/config.json"
}

runc_bundle() {
	local ref=$1 dir=$2
	shift 2
	rm -rf "$dir"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	skopeo copy -q "$@" "docker://$ref" "oci:$dir/layout:img" >/dev/null || return 1
	umoci unpack --image "$dir/layout:img" "$dir/bundle" >/dev/null || return 1
	mv "$dir/bundle/rootfs" "$dir/rootfs"
	mv "$dir/bundle/config.json" "$dir/config.json"
	rm -rf "$dir/bundle" "$dir/layout"
	# Docker's per-container files: a hosts file and resolv.conf (copies of the host's, as with
	# --network=host), and the /.dockerenv marker
	mkdir -p "$dir/etc"
	cp /etc/hosts "$dir/etc/hosts"
	cp /etc/resolv.conf "$dir/etc/resolv.conf"
	: >"$dir/rootfs/.dockerenv"
	# umoci turns VOLUMEs into empty tmpfs mounts; Docker creates a volume filled with the
	# image's content at that path (that is what keeps kaniko's /busybox usable)
	local vols v i=0
	vols=$(jq -r '.mounts[] | select(.type == "tmpfs" and .source == "none") | .destination' \
		"$dir/config.json")
	_runc_edit "$dir" '.mounts |= map(select(.type != "tmpfs" or .source != "none"))'
	for v in $vols; do
		i=$((i + 1))
		mkdir -p "$dir/volumes/$i"
		if [ -d "$dir/rootfs$v" ]; then
			cp -a "$dir/rootfs$v/." "$dir/volumes/$i/"
		fi
		runc_bind "$dir" "$dir/volumes/$i" "$v"
	done
	_runc_edit "$dir" --arg dir "$dir" --argjson nofile "$(ulimit -Hn)" --argjson caps "$RUNC_DOCKER_CAPS" \
		--argjson seccomp "$RUNC_DOCKER_SECCOMP" '
		.process.terminal = false
		| .process.user = {uid: 0, gid: 0}
		| .process.noNewPrivileges = false
		| .process.capabilities = {bounding: $caps, effective: $caps, permitted: $caps,
		                           inheritable: [], ambient: []}
		| .process.rlimits = [{type: "RLIMIT_NOFILE", hard: $nofile, soft: $nofile}]
		| .process.env |= map(select(startswith("TERM=") | not))
		| .linux.seccomp = $seccomp
		| .hostname = "runner"
		| .linux.namespaces |= map(select(.type != "network" and .type != "user"))
		| .mounts += [
			{destination: "/etc/hosts", type: "bind", source: ($dir + "/etc/hosts"),
			 options: ["rbind", "rprivate"]},
			{destination: "/etc/resolv.conf", type: "bind", source: ($dir + "/etc/resolv.conf"),
			 options: ["rbind", "rprivate"]}]'
}

runc_privileged() {
	local caps
	caps=$(capsh --print | sed -n 's/^Bounding set =//p' | tr '[:lower:]' '[:upper:]' | tr , '\n' | jq -R . | jq -sc .)
	[ "$(jq length <<<"$caps")" -gt 30 ] || { echo "runc_privileged: no capability list: $caps" >&2; return 1; }
	_runc_edit "$1" --argjson caps "$caps" '
		.process.capabilities = {bounding: $caps, effective: $caps, permitted: $caps,
		                         inheritable: [], ambient: []}
		| del(.linux.seccomp) | .linux.maskedPaths = [] | .linux.readonlyPaths = []'
}

runc_bind() {
	local dir=$1 src=$2 dst=$3 opts='["rbind","rprivate"]'
	[ "${4:-}" = ro ] && opts='["rbind","rprivate","ro"]'
	_runc_edit "$dir" --arg s "$src" --arg d "$dst" --argjson o "$opts" \
		'.mounts += [{destination: $d, type: "bind", source: $s, options: $o}]'
}

runc_env() {
	local dir=$1 kv
	shift
	for kv in "$@"; do
		_runc_edit "$dir" --arg kv "$kv" \
			'.process.env = [.process.env[] | select(startswith(($kv | split("=")[0]) + "=") | not)] + [$kv]'
	done
}

runc_exec() {
	local dir=$1 id
	shift
	# unique among containers run at once from background subshells (runc names the
	# container's cgroup after it)
	id="kiln-it-$$-$BASHPID-$RANDOM"
	# after "--args --" every argument is a string, even one that looks like a jq option
	jq '.process.args = $ARGS.positional' "$dir/config.json" --args -- "$@" \
		>"$dir/config.json.new" && mv "$dir/config.json.new" "$dir/config.json"
	# the runc state lives with the bundle, not in the host's /run/runc; a hung container is
	# killed after RUNC_TIMEOUT seconds (default 900)
	local rc=0
	timeout --kill-after=10 "${RUNC_TIMEOUT:-900}" \
		runc --root "$dir/runc-state" run --bundle "$dir" "$id" </dev/null || rc=$?
	runc --root "$dir/runc-state" delete --force "$id" >/dev/null 2>&1 || true
	return $rc
}
