# registry.sh — start and stop Debian's docker-registry (the CNCF distribution registry) on a
# free 127.0.0.1 port, plain HTTP, TLS with a throwaway CA, or TLS + htpasswd.
#   registry_start <dir> [plain|tls|htpasswd]   exports REGISTRY (host:port), REGISTRY_PID,
#                                               REGISTRY_CA (tls), REGISTRY_USER/_PASSWORD
#   registry_stop                                stops the last one started
# Source it; the caller's EXIT trap should call registry_stop_all.

_REGISTRY_PIDS=()

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

make_ca() { # make_ca <dir>: ca.pem, server.pem, server.key for 127.0.0.1/localhost
	local d=$1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kiln test CA" \
		-keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/san.ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -extfile "$d/san.ext" -out "$d/server.pem" >/dev/null 2>&1
}

registry_start() {
	local dir=$1 mode=${2:-plain}
	mkdir -p "$dir/data"
	local port
	port=$(free_port)
	{
		echo "version: 0.1"
		echo "log: {level: warn}"
		echo "storage:"
		echo "  filesystem: {rootdirectory: $dir/data}"
		echo "  delete: {enabled: true}"
		echo "http:"
		echo "  addr: 127.0.0.1:$port"
		if [ "$mode" != plain ]; then
			make_ca "$dir"
			echo "  tls: {certificate: $dir/server.pem, key: $dir/server.key}"
		fi
		if [ "$mode" = htpasswd ]; then
			REGISTRY_USER=kiln-user
			REGISTRY_PASSWORD="s3cret-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
			htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASSWORD" >"$dir/htpasswd" 2>/dev/null
			echo "auth:"
			echo "  htpasswd: {realm: kiln-test, path: $dir/htpasswd}"
			export REGISTRY_USER REGISTRY_PASSWORD
		fi
	} >"$dir/config.yml"
	# docker-registry reads every REGISTRY_* variable as a configuration override: ours must
	# not reach it
	env $(env | sed -n 's/^\(REGISTRY_[A-Za-z0-9_]*\)=.*/-u \1/p') \
		docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
	REGISTRY_PID=$!
	_REGISTRY_PIDS+=("$REGISTRY_PID")
	REGISTRY=127.0.0.1:$port
	local scheme=http curl_opts=()
	if [ "$mode" != plain ]; then
		scheme=https
		curl_opts=(--cacert "$dir/ca.pem")
		REGISTRY_CA=$dir/ca.pem
		export REGISTRY_CA
	fi
	local i
	for i in $(seq 1 100); do
		if curl -s -o /dev/null "${curl_opts[@]}" "$scheme://$REGISTRY/v2/"; then
			export REGISTRY REGISTRY_PID
			return 0
		fi
		if ! kill -0 "$REGISTRY_PID" 2>/dev/null; then
			break
		fi
		sleep 0.2
	done
	echo "registry_start: docker-registry did not come up on $REGISTRY:" >&2
	cat "$dir/registry.log" >&2
	return 1
}

registry_stop() {
	if [ -n "${REGISTRY_PID:-}" ]; then
		kill "$REGISTRY_PID" 2>/dev/null || true
		wait "$REGISTRY_PID" 2>/dev/null || true
	fi
}

registry_stop_all() {
	local p
	for p in "${_REGISTRY_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${_REGISTRY_PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
}
