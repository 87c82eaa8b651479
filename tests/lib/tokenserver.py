#!/usr/bin/env python3
"""tokenserver.py — a minimal Docker registry token server for tests (distribution's
`auth: token:` scheme), python3 standard library plus the openssl CLI for RS256 signatures.

    tokenserver.py --key key.pem --cert cert.pem --issuer ISS --service SVC \
                   --port-file F --log F [--user U --password P]

GET /token?service=SVC&scope=repository:a:pull&scope=repository:b:pull,push answers
{"token": <JWT>, "access_token": <JWT>, "expires_in": 300}. The JWT header carries the signing
certificate in `x5c` (the registry checks it against its rootcertbundle); the `access` claim
grants every scope asked for. With --user/--password, HTTP basic credentials are required
(401 otherwise). Each request is logged as one line:

    account=<user or -> scope=<scope> scope=<scope> ...

Listens on 127.0.0.1; stop it with SIGTERM.
"""
import argparse
import base64
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

ARGS = None
LOCK = threading.Lock()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def cert_der_b64(path):
    pem = open(path).read()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return "".join(body.split())


def sign(data):
    out = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", ARGS.key],
        input=data,
        stdout=subprocess.PIPE,
        check=True,
    )
    return out.stdout


def make_token(account, scopes):
    access = []
    for s in scopes:
        parts = s.split(":")
        if len(parts) < 3:
            continue
        access.append(
            {"type": parts[0], "name": ":".join(parts[1:-1]), "actions": parts[-1].split(",")}
        )
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [cert_der_b64(ARGS.cert)]}
    claims = {
        "iss": ARGS.issuer,
        "sub": account or "",
        "aud": ARGS.service,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": b64url(os.urandom(12)),
        "access": access,
    }
    signing_input = (
        b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    )
    return signing_input + "." + b64url(sign(signing_input.encode()))


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        if u.path != "/token":
            return self.reply(404, {"error": "not found"})
        q = urllib.parse.parse_qs(u.query)
        account = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            if ARGS.user and (user != ARGS.user or pw != ARGS.password):
                return self.reply(401, {"error": "bad credentials"})
            account = user
        elif ARGS.user:
            return self.reply(
                401, {"error": "credentials required"}, {"WWW-Authenticate": 'Basic realm="t"'}
            )
        if q.get("service", [""])[0] != ARGS.service:
            return self.reply(400, {"error": "wrong service"})
        scopes = q.get("scope", [])
        with LOCK, open(ARGS.log, "a") as f:
            f.write(
                "account=%s %s\n" % (account or "-", " ".join("scope=" + s for s in scopes))
            )
        tok = make_token(account, scopes)
        self.reply(200, {"token": tok, "access_token": tok, "expires_in": 300})


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    for a in ("--key", "--cert", "--issuer", "--service", "--port-file", "--log"):
        ap.add_argument(a, required=True)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ARGS = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: (srv.server_close(), os._exit(0)))
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
