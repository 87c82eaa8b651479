# dockerd.sh — a private Docker daemon for reference builds (DESIGN §7): Debian's dockerd 20.10
# (BuildKit built in) with its own containerd, both on sockets under a directory the caller
# owns, on an empty data root, with no iptables, no bridge and no masquerading. Nothing is
# shared with a system daemon (/run/containerd, /var/lib/docker, /var/run/docker.sock).
#   dockerd_start <dir> [insecure-registry...]   starts containerd + dockerd with every state
#                           directory under <dir> (wiped first); sets DOCKER_SOCK, DOCKERD_PID,
#                           CTRD_PID and DOCKER_CMD=(/usr/bin/docker -H unix://$DOCKER_SOCK)
#   dockerd_stop            stops both (by pid) and lazily unmounts what they left under <dir>
# The client is /usr/bin/docker, Debian's 20.10 one (it builds with BuildKit without buildx),
# not whatever other docker is first in PATH. Source this file; the caller's EXIT trap should
# call dockerd_stop.

DOCKER_BIN=/usr/bin/docker
DOCKERD_PID=
CTRD_PID=
_DOCKERD_DIR=

_dockerd_umount_under() { # lazily unmount whatever a daemon left mounted below $1
	local m
	for m in $(awk -v p="$1/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
}

dockerd_stop() {
	local p
	for p in $DOCKERD_PID $CTRD_PID; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	DOCKERD_PID= CTRD_PID=
	[ -z "$_DOCKERD_DIR" ] || _dockerd_umount_under "$_DOCKERD_DIR"
}

dockerd_start() {
	local dir=$1 reg
	shift
	local c
	for c in "$DOCKER_BIN" /usr/sbin/dockerd /usr/bin/containerd; do
		[ -x "$c" ] || {
			echo "dockerd_start: $c is missing (apt-get install docker.io)" >&2
			return 1
		}
	done
	dockerd_stop
	_DOCKERD_DIR=$dir
	_dockerd_umount_under "$dir"
	rm -rf "$dir"
	mkdir -p "$dir/ctrd"
	cat >"$dir/ctrd/config.toml" <<-EOF
		version = 2
		root = "$dir/ctrd/root"
		state = "$dir/ctrd/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$dir/ctrd/c.sock"
		[ttrpc]
		  address = "$dir/ctrd/c.sock.ttrpc"
	EOF
	/usr/bin/containerd --config "$dir/ctrd/config.toml" >"$dir/containerd.log" 2>&1 &
	CTRD_PID=$!
	local i
	for i in $(seq 1 100); do
		[ -S "$dir/ctrd/c.sock" ] && break
		kill -0 "$CTRD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -S "$dir/ctrd/c.sock" ]; then
		echo "dockerd_start: containerd did not start:" >&2
		tail -n 20 "$dir/containerd.log" >&2
		return 1
	fi
	DOCKER_SOCK=$dir/d.sock
	local insecure=()
	for reg in "$@"; do
		insecure+=(--insecure-registry "$reg")
	done
	# an empty config file: no /etc/docker/daemon.json of the host reaches this daemon
	echo '{}' >"$dir/daemon.json"
	/usr/sbin/dockerd --config-file "$dir/daemon.json" --containerd "$dir/ctrd/c.sock" \
		--data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
		--host "unix://$DOCKER_SOCK" --iptables=false --ip6tables=false --bridge=none \
		--ip-masq=false "${insecure[@]}" --log-level warn >"$dir/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	DOCKER_CMD=("$DOCKER_BIN" -H "unix://$DOCKER_SOCK")
	for i in $(seq 1 300); do
		if "${DOCKER_CMD[@]}" version >/dev/null 2>&1; then
			export DOCKER_SOCK
			return 0
		fi
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "dockerd_start: dockerd did not start:" >&2
	tail -n 20 "$dir/dockerd.log" >&2
	return 1
}
