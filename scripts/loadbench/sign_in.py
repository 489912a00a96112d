"""Sign-ins done from outside for the setup: a password session, and SP-initiated SAML flows
through the demo's development IdP, collected before the ACS row (each ACS post needs its own
flow cookie and InResponseTo, and the replay store refuses a response twice), and Entra sign-ins
through the load IdP, collected before the callback row the same way."""

from __future__ import annotations

import base64
import html
import re
import secrets
import urllib.parse
from dataclasses import dataclass

from . import DEMO_PASSWORD
from .http_load import Jar, request


@dataclass
class SamlFlow:
    cookies: str
    saml_response: str
    relay_state: str | None
    request_id: str | None


def csrf_of(port: int, path: str, jar: Jar) -> str:
    status, _, body = request(port, "GET", path, jar=jar)
    match = re.search(rb'name="csrf_token" value="([^"]+)"', body)
    if status != 200 or not match:
        raise RuntimeError(f"GET {path}: no CSRF token (status {status})")
    return html.unescape(match.group(1).decode())


def password_login(port: int, username: str) -> Jar:
    jar = Jar()
    token = csrf_of(port, "/login", jar)
    status, headers, _ = request(port, "POST", "/login", {
        "csrf_token": token, "username": username, "password": DEMO_PASSWORD}, jar=jar)
    if status != 303:
        raise RuntimeError(f"password login of {username}: status {status}")
    return jar


def collect_saml_flow(port: int, saml_port: int, csrf_jar: Jar, csrf: str) -> SamlFlow:
    jar = Jar(csrf_jar)
    status, headers, body = request(port, "POST", "/login/sso", {
        "csrf_token": csrf, "account": "okta-demo", "email": "grace@okta-demo.example"}, jar=jar)
    location = headers.get("location", "")
    if status != 303 or "/saml/sso" not in location:
        raise RuntimeError(f"POST /login/sso: status {status}, location {location!r}: {body[:300]!r}")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    form = {"SAMLRequest": query["SAMLRequest"], "user": "grace@okta-demo.example"}
    if "RelayState" in query:
        form["RelayState"] = query["RelayState"]
    status, _, page = request(saml_port, "POST", "/saml/sso", form)
    response = re.search(rb'name="SAMLResponse" value="([^"]+)"', page)
    relay = re.search(rb'name="RelayState" value="([^"]*)"', page)
    if status != 200 or not response:
        raise RuntimeError(f"dev SAML IdP: status {status}: {page[:300]!r}")
    saml_response = html.unescape(response.group(1).decode())
    xml = base64.b64decode(saml_response)
    in_response_to = re.search(rb'InResponseTo="([^"]+)"', xml)
    return SamlFlow(jar.header(), saml_response,
                    html.unescape(relay.group(1).decode()) if relay else None,
                    in_response_to.group(1).decode() if in_response_to else None)


@dataclass
class EntraFlow:
    """A started Entra sign-in: its flow cookie and the callback that finishes it."""
    cookies: str
    callback_path: str
    jar: Jar


def collect_entra_flow(port: int, idp, csrf_jar: Jar, csrf: str, email: str, i: int) -> EntraFlow:
    """Starts "Log in with SSO" for `email` in entra-demo, and has the load IdP answer it: the
    callback carries a code the IdP redeems for an ID token with the flow's nonce."""
    from .entra_idp import sign_in_id_token

    jar = Jar(csrf_jar)
    status, headers, body = request(port, "POST", "/login/sso", {
        "csrf_token": csrf, "account": "entra-demo", "email": email}, jar=jar)
    location = headers.get("location", "")
    if status != 303 or "/oauth2/v2.0/authorize" not in location:
        alert = re.search(rb'role="alert">([^<]*)<', body)
        raise RuntimeError(f"POST /login/sso for {email}: status {status}, location {location!r}: "
                           f"{alert.group(1) if alert else body[:300]!r}")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    code = secrets.token_urlsafe(24)
    idp.codes[code] = sign_in_id_token(idp, email, query["nonce"], i)
    callback = urllib.parse.urlencode({"code": code, "state": query["state"]})
    return EntraFlow(jar.header(), f"/sso/oidc/callback?{callback}", jar)
