#!/usr/bin/env python3
"""hostile.py — misbehaving HTTP servers on 127.0.0.1 for tests of kiln's network clients.

    hostile.py MODE --port-file F [--log L] [--cert C --key K] [options]

Writes its port to --port-file once it listens and logs one line per request to --log:

    <METHOD> <path> auth=<Authorization header value or ->  [proxy=<request target>]

Modes:
  record            answers 401 with `WWW-Authenticate: Basic` (so a client that has
                    credentials sends them), 403 when it did; logs what it received
  redirect --to URL answers every request with --status (302) to URL + the request's path and
                    query; with --ask-auth only once the request carries credentials (401
                    with `WWW-Authenticate: Basic` before); with --same-origin it redirects to
                    its own URL + /r + path instead and serves --file for /r/... to a client
                    that sends credentials
  serve --file F    serves F for every GET (no auth)
  hang              accepts, reads the request and never answers
  trickle           answers 200 with a large Content-Length, then one byte every
                    1/--rate seconds
  proxy             an HTTP proxy that records the request target (absolute URL or CONNECT)
                    and answers 502 without connecting anywhere
  registry          a one-image registry: /v2/, the manifest of any repository (a config and
                    one small layer holding /hello), the config and the layer. --ask-auth:
                    every request without Authorization gets 401 (Basic, or Bearer with
                    --realm URL; --token-here: the realm is this server's /token, which
                    answers a token to anyone). --redirect manifests,blobs: those requests get --status to
                    --to URL + path, or with --same-origin to its own /r + path.
                    --endless-layer: the layer is declared --layer-size bytes and its GET
                    never ends (--rate bytes/s, 0 = as fast as possible; --max-bytes)
                    --per-repo: each repository is an image of its own (/hello holds
                    "hostile <repository>"). --barrier N (implies --per-repo): a blob GET is
                    answered only once blob GETs of N different repositories have arrived
                    (in flight at the same time); after --barrier-timeout seconds (20) it
                    gets 404 BARRIER_TIMEOUT instead. The log gets "barrier <repo>: passed" or
                    "barrier <repo>: timeout", with the seconds waited and the time.

Standard library only. Stop it with SIGTERM.
"""
import argparse
import hashlib
import http.server
import json
import os
import socket
import ssl
import sys
import threading
import time

ARGS = None
LOCK = threading.Lock()


def log(line):
    if not ARGS.log:
        return
    with LOCK:
        with open(ARGS.log, "a") as f:
            f.write(line + "\n")


def make_layer(data=b"hostile\n"):
    """a gzip tar holding /hello (content data) and its uncompressed digest"""
    import gzip
    import io
    import tarfile
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("hello")
        ti.size = len(data)
        ti.mode = 0o644
        t.addfile(ti, io.BytesIO(data))
    tar = raw.getvalue()
    gz = gzip.compress(tar, mtime=0)
    return gz, "sha256:" + hashlib.sha256(tar).hexdigest()


LAYER, DIFF_ID = make_layer()
CONFIG = json.dumps({
    "architecture": "amd64",
    "os": "linux",
    "config": {"Env": ["PATH=/bin"]},
    "rootfs": {"type": "layers", "diff_ids": [DIFF_ID]},
    "history": [{"created_by": "hostile"}],
}).encode()
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
LAYER_DIGEST = "sha256:" + hashlib.sha256(LAYER).hexdigest()


def manifest(img=None):
    config, config_digest, layer, layer_digest = img or (CONFIG, CONFIG_DIGEST, LAYER,
                                                         LAYER_DIGEST)
    size = ARGS.layer_size if ARGS.endless_layer else len(layer)
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": size}],
    }).encode()


REPO_IMAGES = {}


def repo_image(repo):
    """(config, config digest, layer, layer digest) of --per-repo's image for repo"""
    with LOCK:
        if repo not in REPO_IMAGES:
            layer, diff_id = make_layer(("hostile %s\n" % repo).encode())
            config = json.dumps({
                "architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"]},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{"created_by": "hostile " + repo}],
            }).encode()
            REPO_IMAGES[repo] = (config, "sha256:" + hashlib.sha256(config).hexdigest(), layer,
                                 "sha256:" + hashlib.sha256(layer).hexdigest())
        return REPO_IMAGES[repo]


BARRIER = threading.Condition()
ARRIVED = set()


def barrier(repo):
    """waits until blob requests of --barrier repositories arrived; False after the timeout"""
    t0 = time.monotonic()
    with BARRIER:
        ARRIVED.add(repo)
        BARRIER.notify_all()
        ok = BARRIER.wait_for(lambda: len(ARRIVED) >= ARGS.barrier, ARGS.barrier_timeout)
    log("barrier %s: %s after %.3fs (t=%.3f)" % (repo, "passed" if ok else "timeout",
                                                 time.monotonic() - t0, time.monotonic()))
    return ok


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kiln-test-hostile"

    def log_message(self, fmt, *args):
        pass

    def record(self):
        extra = ""
        if ARGS.mode == "proxy":
            extra = " proxy=" + self.path
        log("%s %s auth=%s%s" % (self.command, self.path,
                                 self.headers.get("Authorization", "-"), extra))

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def ask_basic(self):
        self.reply(401, b"authentication required\n",
                   [("WWW-Authenticate", 'Basic realm="hostile"'), ("Content-Type", "text/plain")])

    def handle_any(self):
        self.record()
        m = ARGS.mode
        if m == "record":
            if self.headers.get("Authorization"):
                self.reply(403, b"forbidden\n")
            else:
                self.ask_basic()
        elif m == "redirect":
            if (ARGS.ask_auth or self.path.startswith("/r/")) and \
                    not self.headers.get("Authorization"):
                self.ask_basic()
            elif ARGS.same_origin and self.path.startswith("/r/"):
                with open(ARGS.file, "rb") as f:
                    self.reply(200, f.read())
            elif ARGS.same_origin:
                scheme = "https" if ARGS.cert else "http"
                self.reply(ARGS.status, b"", [("Location", "%s://127.0.0.1:%d/r%s" % (
                    scheme, self.server.server_address[1], self.path))])
            else:
                self.reply(ARGS.status, b"", [("Location", ARGS.to.rstrip("/") + self.path)])
        elif m == "serve":
            with open(ARGS.file, "rb") as f:
                self.reply(200, f.read())
        elif m == "hang":
            time.sleep(3600)
        elif m == "trickle":
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 20))
            self.end_headers()
            self.wfile.flush()
            while True:
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(1.0 / (ARGS.rate or 2.0))
        elif m == "proxy":
            self.reply(502, b"hostile proxy does not forward\n")
        elif m == "registry":
            self.registry()
        else:
            self.reply(500)

    def registry(self):
        p = self.path.split("?")[0]
        if p.startswith("/r/"):
            p = p[2:]
        elif ARGS.same_origin or ARGS.redirect:
            kinds = ARGS.redirect.split(",") if ARGS.redirect else []
            if any(("/%s/" % k) in p for k in kinds):
                if ARGS.ask_auth and not self.headers.get("Authorization"):
                    self.ask_auth()
                    return
                scheme = "https" if ARGS.cert else "http"
                to = ARGS.to.rstrip("/") if ARGS.to else "%s://127.0.0.1:%d/r" % (
                    scheme, self.server.server_address[1])
                self.reply(ARGS.status, b"", [("Location", to + self.path)])
                return
        if p == "/token" and ARGS.token_here:
            self.reply(200, b'{"token":"hostile-token","expires_in":300}',
                       [("Content-Type", "application/json")])
            return
        if ARGS.ask_auth and p != "/v2/" and not self.headers.get("Authorization"):
            self.ask_auth()
            return
        if p == "/v2/":
            if ARGS.ask_auth and not self.headers.get("Authorization"):
                self.ask_auth()
            else:
                self.reply(200, b"{}", [("Content-Type", "application/json")])
        elif ARGS.per_repo or ARGS.barrier:
            self.per_repo(p)
        elif "/manifests/" in p:
            body = manifest()
            self.reply(200, body, [
                ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                ("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())])
        elif p.endswith("/blobs/" + CONFIG_DIGEST):
            self.reply(200, CONFIG, [("Content-Type", "application/octet-stream")])
        elif p.endswith("/blobs/" + LAYER_DIGEST) and not ARGS.endless_layer:
            self.reply(200, LAYER, [("Content-Type", "application/octet-stream")])
        elif p.endswith("/blobs/" + LAYER_DIGEST):
            # far more than declared, without a length: only the declared size can stop it
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"\0" * 65536
            sent = 0
            try:
                while sent < ARGS.max_bytes:
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    if ARGS.rate:
                        time.sleep(len(chunk) / ARGS.rate)
            except (BrokenPipeError, ConnectionResetError):
                pass
            log("layer: sent %d bytes" % sent)
            self.close_connection = True
        else:
            self.reply(404, b'{"errors":[{"code":"NOT_FOUND"}]}')

    def per_repo(self, p):
        kind = "/manifests/" if "/manifests/" in p else "/blobs/"
        if not p.startswith("/v2/") or kind not in p:
            self.reply(404, b'{"errors":[{"code":"NOT_FOUND"}]}')
            return
        repo = p[len("/v2/"):p.index(kind)]
        config, config_digest, layer, layer_digest = img = repo_image(repo)
        if kind == "/manifests/":
            body = manifest(img)
            self.reply(200, body, [
                ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                ("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())])
            return
        if ARGS.barrier and self.command == "GET" and not barrier(repo):
            self.reply(404, b'{"errors":[{"code":"BARRIER_TIMEOUT","message":"no concurrent '
                       b'blob request of another repository"}]}')
            return
        blobs = {config_digest: config, layer_digest: layer}
        digest = p[p.index(kind) + len(kind):]
        if digest in blobs:
            self.reply(200, blobs[digest], [("Content-Type", "application/octet-stream")])
        else:
            self.reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')

    def ask_auth(self):
        realm = ARGS.realm
        if ARGS.token_here:
            realm = "http://127.0.0.1:%d/token" % self.server.server_address[1]
        if realm:
            self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [(
                "WWW-Authenticate",
                'Bearer realm="%s",service="hostile"' % realm)])
        else:
            self.ask_basic()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def do_CONNECT(self):
        self.record()
        self.reply(502, b"hostile proxy does not connect\n")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["record", "redirect", "serve", "hang", "trickle", "proxy",
                                     "registry"])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--to")
    ap.add_argument("--status", type=int, default=302)
    ap.add_argument("--same-origin", action="store_true")
    ap.add_argument("--ask-auth", action="store_true")
    ap.add_argument("--file")
    ap.add_argument("--rate", type=float)
    ap.add_argument("--layer-size", type=int, default=1000)
    ap.add_argument("--endless-layer", action="store_true")
    ap.add_argument("--redirect", default="")
    ap.add_argument("--realm")
    ap.add_argument("--max-bytes", type=int, default=1 << 30)
    ap.add_argument("--per-repo", action="store_true")
    ap.add_argument("--token-here", action="store_true")
    ap.add_argument("--barrier", type=int, default=0)
    ap.add_argument("--barrier-timeout", type=float, default=20.0)
    ARGS = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    if ARGS.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.cert, ARGS.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
