#!/usr/bin/env python3
"""gitserver.py — a test git server on 127.0.0.1: the bare repositories under --root served by
`git http-backend` (CGI, smart HTTP), behind HTTP basic auth, over TLS (--cert/--key) or plain
HTTP (--plain); files under --files are served as /files/<name> (for https:// tar contexts).

    gitserver.py --root DIR [--auth user:password ...] [--cert C --key K | --plain]
                 [--files DIR] [--log FILE]

Prints the port on stdout once it listens, then serves until killed. Each --auth pair is
accepted (an empty password, "token:", is how GIT_TOKEN arrives); without --auth, no auth.
Standard library only.
"""
import argparse
import base64
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    # one request per connection: the CGI body is streamed until the process ends
    protocol_version = "HTTP/1.0"
    server_version = "kiln-test-gitserver"

    def log_message(self, fmt, *args):
        if self.server.logfile:
            with self.server.loglock:
                self.server.logfile.write("%s %s\n" % (self.address_string(), fmt % args))
                self.server.logfile.flush()

    def authorized(self):
        if not self.server.auth:
            return ""
        h = self.headers.get("Authorization", "")
        if not h.lower().startswith("basic "):
            return None
        try:
            pair = base64.b64decode(h[6:].strip()).decode("utf-8")
        except Exception:
            return None
        user, _, password = pair.partition(":")
        if (user, password) in self.server.auth:
            return user
        return None

    def deny(self):
        body = b"authentication required\n"
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="kiln-test"')
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until an empty line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def serve_file(self, rel):
        if not self.server.files:
            self.send_error(404)
            return
        name = os.path.basename(urllib.parse.unquote(rel))
        path = os.path.join(self.server.files, name)
        if not name or not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/files/"):
            self.serve_file(url.path[len("/files/"):])
            return
        user = self.authorized()
        if user is None:
            self.deny()
            return
        body = self.read_body() if self.command == "POST" else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.server.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": urllib.parse.unquote(url.path),
            "QUERY_STRING": url.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": self.client_address[0],
        }
        for h in ("Content-Encoding", "Git-Protocol"):
            v = self.headers.get(h)
            if v:
                env["HTTP_" + h.upper().replace("-", "_")] = v
        p = subprocess.Popen(["git", "http-backend"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        writer = threading.Thread(target=lambda: (p.stdin.write(body), p.stdin.close()))
        writer.start()
        status = "200 OK"
        headers = []
        while True:
            line = p.stdout.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").rstrip("\r\n").partition(":")
            if k.lower() == "status":
                status = v.strip()
            else:
                headers.append((k, v.strip()))
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason or None)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        shutil.copyfileobj(p.stdout, self.wfile)
        writer.join()
        p.wait()

    do_GET = handle_any
    do_POST = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--auth", action="append", default=[])
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--files")
    ap.add_argument("--log")
    a = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.root = os.path.abspath(a.root)
    srv.files = os.path.abspath(a.files) if a.files else None
    srv.auth = {tuple(x.split(":", 1)) if ":" in x else (x, "") for x in a.auth}
    srv.logfile = open(a.log, "a") if a.log else None
    srv.loglock = threading.Lock()
    if not a.plain:
        if not (a.cert and a.key):
            sys.exit("gitserver.py: --cert and --key, or --plain")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
