#!/usr/bin/env python3
"""faultproxy.py — a loopback HTTP proxy in front of a test registry that injects faults.

Listens on 127.0.0.1 (a free port, written to --port-file), forwards every request to
--upstream host:port with the client's Host header (so the registry's Location URLs point back
at the proxy), and logs one line per request to --log:

    <METHOD> <path> -> <status>[ injected=<kind>]

Faults, tried in the order given; the first rule whose method and path regex match and whose
count is not used up applies (count -1 = every matching request):

    --rule fail    <METHOD|*> <regex> <status>[:<CODE>] <count>
                                                         answer <status> with a registry error
                                                         body (its error code <CODE> if given)
    --rule reset   <METHOD|*> <regex> -        <count>   forward, send the headers and half the
                                                         body, then reset the connection
    --rule corrupt <METHOD|*> <regex> -        <count>   forward, flip one byte in the middle
                                                         of the response body
    --rule delay   <METHOD|*> <regex> <seconds> <count>   forward after waiting that long
    --rule redirect <METHOD|*> <regex> <base-url> <count> answer 307 to <base-url><path>, as a
                                                         registry sends blob GETs to storage

A 401 from a fail rule carries `WWW-Authenticate: Basic`, so clients send credentials from
then on. Log lines end in ` auth=yes` when the request carried an Authorization header.

python3 standard library only. Stop it with SIGTERM.
"""
import argparse
import http.client
import http.server
import json
import os
import re
import time
import signal
import socket
import struct
import sys
import threading

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}


class Rule:
    def __init__(self, kind, method, regex, arg, count):
        if kind not in ("fail", "reset", "corrupt", "redirect", "delay"):
            raise SystemExit(f"faultproxy: unknown rule kind '{kind}'")
        self.kind = kind
        self.method = method
        self.regex = re.compile(regex)
        self.status = int(arg.split(":")[0]) if kind == "fail" else 0
        self.code = arg.split(":", 1)[1] if kind == "fail" and ":" in arg else None
        self.target = arg if kind == "redirect" else None
        self.delay = float(arg) if kind == "delay" else 0.0
        self.left = int(count)

    def take(self, method, path):
        if self.method != "*" and self.method != method:
            return False
        if not self.regex.search(path):
            return False
        if self.left == 0:
            return False
        if self.left > 0:
            self.left -= 1
        return True


class State:
    def __init__(self, upstream, rules, log_path):
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.rules = rules
        self.lock = threading.Lock()
        self.log = open(log_path, "a", buffering=1)

    def pick(self, method, path):
        with self.lock:
            for r in self.rules:
                if r.take(method, path):
                    return r
        return None

    def record(self, method, path, status, kind, auth=False):
        with self.lock:
            extra = f" injected={kind}" if kind else ""
            extra += " auth=yes" if auth else ""
            self.log.write(f"{method} {path} -> {status}{extra}\n")


STATE = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the request log is the record
        pass

    def read_request_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0") or "0")
        return self.rfile.read(n) if n else b""

    def hard_reset(self):
        # SO_LINGER 0: close() sends RST instead of FIN
        try:
            self.wfile.flush()
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    def handle_any(self):
        method, path = self.command, self.path
        body = self.read_request_body()
        rule = STATE.pick(method, path)
        auth = self.headers.get("Authorization") is not None
        if rule and rule.kind == "redirect":
            self.send_response(307)
            self.send_header("Location", rule.target + path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            STATE.record(method, path, 307, "redirect", auth)
            return
        if rule and rule.kind == "fail":
            code = rule.code or {429: "TOOMANYREQUESTS", 503: "UNAVAILABLE"}.get(
                rule.status, "UNKNOWN"
            )
            payload = json.dumps(
                {"errors": [{"code": code, "message": f"injected {rule.status} by faultproxy"}]}
            ).encode()
            self.send_response(rule.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if rule.status == 429:
                self.send_header("Retry-After", "1")
            if rule.status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="faultproxy"')
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(payload)
            STATE.record(method, path, rule.status, "fail", auth)
            return

        if rule and rule.kind == "delay":
            time.sleep(rule.delay)
        conn = http.client.HTTPConnection(*STATE.upstream, timeout=120)
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
        }
        if body or method in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(body))
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read() if method != "HEAD" else b""
        except OSError as e:
            STATE.record(method, path, 502, None, auth)
            msg = f"faultproxy: upstream: {e}".encode()
            self.send_response(502)
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        finally:
            conn.close()

        kind = rule.kind if rule else None
        if kind == "corrupt" and data:
            b = bytearray(data)
            b[len(b) // 2] ^= 0xFF
            data = bytes(b)
        self.send_response_only(resp.status, resp.reason)
        length = None
        for k, v in resp.getheaders():
            if k.lower() in HOP_BY_HOP:
                continue
            if k.lower() == "content-length":
                length = v
                continue
            self.send_header(k, v)
        if method == "HEAD":
            self.send_header("Content-Length", length if length is not None else "0")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        STATE.record(method, path, resp.status, kind, auth)
        if kind == "reset" and len(data) > 1:
            self.wfile.write(data[: len(data) // 2])
            self.hard_reset()
            return
        if data:
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any


def main():
    global STATE
    ap = argparse.ArgumentParser(description="fault-injecting proxy for registry tests")
    ap.add_argument("--upstream", required=True, help="host:port of the registry")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--rule", nargs=5, action="append", default=[],
                    metavar=("KIND", "METHOD", "REGEX", "ARG", "COUNT"))
    a = ap.parse_args()
    STATE = State(a.upstream, [Rule(*r) for r in a.rule], a.log)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: (srv.server_close(), os._exit(0)))
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
