"""An Entra-shaped IdP on loopback with its own RSA key: discovery, JWKS, client credentials and
Graph /v1.0/organization (enough for the broker's consent proof and key fetch), real RS256 ID
tokens minted for the broker's app, and the code exchange of sign-ins whose flows were collected
beforehand (each code answers with the ID token minted for its flow's nonce)."""

import base64
import http.server
import json
import secrets
import threading
import time
import urllib.parse
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from . import CLIENT_ID, HOST, TENANT

KID = "load-key-1"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_uint(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class EntraIdp:
    def __init__(self, port: int, secret: str) -> None:
        self.authority = f"http://{HOST}:{port}"
        self.secret = secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        numbers = self.key.public_key().public_numbers()
        self.jwk = {
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
            "n": b64url_uint(numbers.n), "e": b64url_uint(numbers.e),
        }
        # Authorization codes of collected sign-in flows → their ID tokens (single use).
        self.codes: dict[str, str] = {}
        idp = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # Keep-alive, as Microsoft's endpoints: the broker's HTTP client then reuses its
            # connections instead of paying a TCP connect per code redemption.
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes: without TCP_NODELAY the body waits for the
            # client's delayed ACK (40 ms a request on a kept-alive connection).
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = self.path.split("?")[0]
                if path.endswith("/discovery/v2.0/keys"):
                    return self.answer(200, {"keys": [idp.jwk]})
                if path.endswith("/v2.0/.well-known/openid-configuration"):
                    tid = path.split("/")[1]
                    base = f"{idp.authority}/{tid}"
                    return self.answer(200, {
                        "issuer": f"{base}/v2.0",
                        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                        "token_endpoint": f"{base}/oauth2/v2.0/token",
                        "jwks_uri": f"{base}/discovery/v2.0/keys",
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["pairwise"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                    })
                if path == "/v1.0/organization":
                    return self.answer(200, {"value": [{
                        "id": TENANT, "displayName": "Load tenant",
                        "verifiedDomains": [{"name": "load.example", "isVerified": True}],
                    }]})
                return self.answer(404, {"error": "not_found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                if not self.path.endswith("/oauth2/v2.0/token"):
                    return self.answer(404, {"error": "not_found"})
                secret = form.get("client_secret", [""])[0]
                basic = self.headers.get("Authorization", "")
                if basic.startswith("Basic "):
                    pair = base64.b64decode(basic[len("Basic "):]).decode()
                    secret = urllib.parse.unquote_plus(pair.split(":", 1)[-1])
                if secret != idp.secret:
                    return self.answer(401, {"error": "invalid_client"})
                if form.get("grant_type", [""])[0] == "authorization_code":
                    # A sign-in's code: the ID token minted for it when the flow was collected.
                    id_token = idp.codes.pop(form.get("code", [""])[0], None)
                    if id_token is None:
                        return self.answer(400, {"error": "invalid_grant"})
                    return self.answer(200, {"token_type": "Bearer", "expires_in": 3600,
                                             "access_token": "opaque", "id_token": id_token})
                now = int(time.time())
                claims = {
                    "iss": f"{idp.authority}/{TENANT}/v2.0", "aud": "https://graph.microsoft.com",
                    "tid": TENANT, "appid": CLIENT_ID, "iat": now, "nbf": now,
                    "exp": now + 3600, "ver": "2.0", "roles": ["Organization.Read.All"],
                }
                token = sign_token(idp.pem, claims)
                return self.answer(200, {"token_type": "Bearer", "expires_in": 3600,
                                         "access_token": token})

        class Server(http.server.ThreadingHTTPServer):
            # The default backlog of 5 drops connections under 64 concurrent sign-ins (the
            # client retries after a second: a p99 of the server's making).
            request_queue_size = 256

        self.server = Server((HOST, port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


_KEYS: dict[bytes, rsa.RSAPrivateKey] = {}


def sign_token(pem: bytes, claims: dict) -> str:
    key = _KEYS.get(pem)
    if key is None:
        key = _KEYS[pem] = serialization.load_pem_private_key(pem, None)
    header = b64url(json.dumps({"alg": "RS256", "kid": KID, "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{b64url(signature)}"


def mint_id_tokens(args: tuple[bytes, str, int, int]) -> list[str]:
    pem, authority, start, count = args
    now = int(time.time())
    out = []
    for i in range(start, start + count):
        oid = str(uuid.UUID(int=i + 1))
        out.append(sign_token(pem, {
            "iss": f"{authority}/{TENANT}/v2.0", "aud": CLIENT_ID, "tid": TENANT,
            "oid": oid, "sub": f"sub-{oid}", "ver": "2.0", "iat": now, "nbf": now,
            "exp": now + 3600, "name": f"Load user {i}", "email": f"user{i}@load.example",
            "preferred_username": f"user{i}@load.example", "xms_edov": True,
            "uti": secrets.token_urlsafe(16),
        }))
    return out


def sign_in_id_token(idp: EntraIdp, email: str, nonce: str, i: int) -> str:
    """The ID token of sign-in `i` of `email` answering a flow's `nonce`."""
    now = int(time.time())
    oid = str(uuid.UUID(int=10**9 + i))
    return sign_token(idp.pem, {
        "iss": f"{idp.authority}/{TENANT}/v2.0", "aud": CLIENT_ID, "tid": TENANT,
        "oid": oid, "sub": f"sub-{oid}", "ver": "2.0", "iat": now, "nbf": now,
        "exp": now + 3600, "nonce": nonce, "name": email, "email": email,
        "preferred_username": email, "xms_edov": True, "uti": secrets.token_urlsafe(16),
    })
