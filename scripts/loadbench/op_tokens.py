"""The OpenID Provider's token endpoint (issue 12's bar): the code exchange and the refresh
grant with rotation, against the RS256 *signing* bound measured in the same run. Every grant
signs two tokens (ID token and access token), so the bound per grant is half the signing rate.

Setup from outside, before the measured window: a confidential client through the operator
API, then for each connection a password session, an authorization (`/oauth2/authorize` with
the session cookie answers 303 with a code), and — for the refresh row — a code exchange that
starts the connection's own refresh family. Codes for the code-exchange row are collected the
same way (each is single use)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import urllib.parse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .http_load import build_request, request
from .references import per_cpu_second
from .sign_in import password_login

REDIRECT_URI = "http://127.0.0.1:9/callback"
SCOPE = "openid profile email"


def register_client(port: int, api: dict) -> tuple[str, str]:
    status, _, body = request(port, "POST", "/api/v1/oidc/clients", json.dumps({
        "name": "load", "type": "confidential", "redirect_uris": [REDIRECT_URI]}), api)
    if status != 201:
        raise RuntimeError(f"registering the OIDC client: {status} {body[:300]!r}")
    client = json.loads(body)
    return client["client_id"], client["client_secret"]


def basic(client_id: str, secret: str) -> str:
    pair = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def codes(port: int, client_id: str, session_cookie: str, n: int) -> list[str]:
    """`n` fresh authorization codes for the signed-in session."""
    out = []
    for _ in range(n):
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
            "scope": SCOPE, "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8)})
        status, headers, body = request(port, "GET", f"/oauth2/authorize?{query}",
                                        headers={"Cookie": session_cookie})
        location = headers.get("location", "")
        found = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query)).get("code")
        if status != 303 or not found:
            raise RuntimeError(f"authorize: status {status}, location {location!r}: {body[:200]!r}")
        out.append(found)
    return out


def exchange_request(client_id: str, secret: str, code: str) -> bytes:
    return build_request("POST", "/oauth2/token", {
        "Authorization": basic(client_id, secret),
        "Content-Type": "application/x-www-form-urlencoded"},
        urllib.parse.urlencode({"grant_type": "authorization_code", "code": code,
                                "redirect_uri": REDIRECT_URI}).encode())


def refresh_families(port: int, client_id: str, secret: str, username: str, n: int) -> list[str]:
    """`n` refresh tokens, each of its own family (and broker session)."""
    tokens = []
    for _ in range(n):
        session = password_login(port, username).header()
        code = codes(port, client_id, session, 1)[0]
        status, _, body = request(port, "POST", "/oauth2/token", {
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
            {"Authorization": basic(client_id, secret)})
        if status != 200:
            raise RuntimeError(f"code exchange: {status} {body[:300]!r}")
        tokens.append(json.loads(body)["refresh_token"])
    return tokens


class Rotation:
    """Connection i refreshes its own family, always with the token the last answer gave."""

    def __init__(self, client_id: str, secret: str, tokens: list[str], path: str = "/oauth2/token"):
        self.auth = basic(client_id, secret)
        self.current = list(tokens)
        self.path = path

    def next_request(self, i: int) -> bytes:
        return build_request("POST", self.path, {
            "Authorization": self.auth, "Content-Type": "application/x-www-form-urlencoded"},
            urllib.parse.urlencode({"grant_type": "refresh_token",
                                    "refresh_token": self.current[i]}).encode())

    def on_response(self, i: int, status: int, body: bytes) -> None:
        if status == 200:
            self.current[i] = json.loads(body)["refresh_token"]


def rs256_sign_reference(budget: float) -> float:
    """RSA-2048 PKCS#1 v1.5 SHA-256 signatures per CPU-second (OpenSSL through
    `cryptography`), the work of one token."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = b"x" * 600
    return per_cpu_second(lambda _: key.sign(data, padding.PKCS1v15(), hashes.SHA256()), budget)


PEER_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "interop", "oidc-provider")


class OidcProviderPeer:
    """npm oidc-provider (the interop peer's pinned version) answering the refresh grant with
    rotation on loopback (`tests/interop/oidc-provider/refresh-bench.mjs`): the peer figure of
    the refresh row, measured in the same run."""

    def __init__(self, port: int, families: int):
        if not os.path.isdir(os.path.join(PEER_DIR, "node_modules", "oidc-provider")):
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=PEER_DIR,
                           check=True)
        self.port = port
        self.proc = subprocess.Popen(["node", "refresh-bench.mjs", str(port), str(families)],
                                     cwd=PEER_DIR, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("ready "):
            self.stop()
            raise RuntimeError(f"oidc-provider did not start: {line!r}")
        ready = json.loads(line[len("ready "):])
        self.rotation = Rotation(ready["client_id"], ready["client_secret"], ready["tokens"],
                                 path="/token")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
