#!/usr/bin/env python3
"""Bounded load measurement of a release broker on loopback (issue 13's table).

Starts `sso-broker demo` itself on SQLite in a temporary directory, drives each hot path with 64
keep-alive connections for a few seconds, and prints every figure per *broker* CPU-second (the
broker's utime+stime from /proc, so the load generator on the same machine does not count),
next to a reference measured in the same run:

  GET /healthz                      HTTP reference (itself)
  GET /api/v1/me (session cookie)   vs /healthz
  POST /api/v1/entra/validate       vs one raw RS256 verify (OpenSSL through `cryptography`)
      fresh tokens / re-presented
  POST /login (password)            vs Argon2id OWASP m=19456,t=2,p=1 verifies of one thread, with
                                    the broker's own argon2 crate (scripts/argon2-bound)
  POST /sso/saml/acs/{id}           vs python3-saml validating the same responses
  POST /oauth2/token (code, refresh) vs half the RS256 signing rate (each grant signs an ID token
                                    and an access token); refresh rotates per connection

Entra tokens: the demo's development Entra IdP keeps its client secret to itself, so tokens
cannot be minted from outside through it. This script therefore runs its own Entra-shaped IdP
on loopback (discovery, JWKS, client credentials, Graph /v1.0/organization) with its own RSA
key, points the demo at it with SSO_BROKER_ENTRA_* (the demo then skips its own), approves the
tenant through the operator API, and mints real RS256 ID tokens.

SAML: the demo's development SAML IdP is imported into `okta-demo` through the operator API;
each ACS post needs its own SP-initiated flow (InResponseTo, flow cookie, replay store), so the
flows are started and the IdP's responses collected *before* the measured window.

Loopback only; never part of `make test` or CI. Run it with `make bench-load`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ProcessPoolExecutor

from loadbench import DEMO_PASSWORD, TENANT
from loadbench.broker import cold_start, free_port, memory_kib, start_demo
from loadbench.entra_idp import EntraIdp, mint_id_tokens
from loadbench import op_tokens
from loadbench.storm import storm
from loadbench.http_load import Jar, build_request, cycle, load, once_each, per_connection, request
from loadbench.references import argon2_reference, rs256_reference, saml_reference
from loadbench.sign_in import collect_entra_flow, collect_saml_flow, csrf_of, password_login


def fmt_rate(x: float) -> str:
    return "—" if x != x else f"{x:,.0f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default="target/release/sso-broker")
    ap.add_argument("--argon2-bound", default="target/argon2-bound/release/argon2-bound",
                    help="the Argon2id reference binary (scripts/argon2-bound)")
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each row (default 6)")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--fresh-tokens", type=int, default=8000,
                    help="distinct tokens minted before the fresh-token row (it stops when they run out)")
    ap.add_argument("--saml-responses", type=int, default=1200,
                    help="SAML responses collected before the ACS row (it stops when they run out)")
    ap.add_argument("--codes", type=int, default=1500,
                    help="authorization codes collected before the code-exchange row")
    ap.add_argument("--entra-flows", type=int, default=1500,
                    help="Entra sign-in flows collected before the callback row")
    ap.add_argument("--sessions", type=int, default=10000,
                    help="live sessions made after the rows (Entra sign-ins of the 64 users), each "
                    "then read once through /api/v1/me, before the broker's RSS is taken (0 skips)")
    ap.add_argument("--storm", type=int, default=1000,
                    help="clients arriving at once for the sign-in storm, half password logins and "
                    "half SAML ACS posts, each retrying after a 503 (0 skips it)")
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--reference-seconds", type=float, default=2.0,
                    help="CPU seconds spent on each in-process reference")
    ap.add_argument("--rows", default="all",
                    help="comma-separated row groups to run: me, validate, login, acs, entra, op, peer "
                    "(the oidc-provider refresh figure); /healthz always runs (default all)")
    ap.add_argument("--perf-dir", help="record each row with `perf record -g` into this directory "
                    "(perf report -i DIR/ROW.data); the sampling costs the broker a little CPU")
    ap.add_argument("--perf-dwarf", action="store_true",
                    help="with --perf-dir: unwind with DWARF (exact callers in a release build "
                    "without frame pointers; larger files)")
    args = ap.parse_args()
    groups = {"me", "validate", "login", "acs", "entra", "op", "peer"}
    wanted = groups if args.rows == "all" else set(args.rows.split(","))
    if wanted - groups:
        ap.error(f"unknown rows: {', '.join(sorted(wanted - groups))}")

    for path, how in ((args.binary, "cargo build --release --bin sso-broker"),
                      (args.argon2_bound, "make bench-load builds it")):
        if not os.path.exists(path):
            print(f"error: {path} not found ({how})", file=sys.stderr)
            return 1
    binary = os.path.abspath(args.binary)
    work = tempfile.mkdtemp(prefix="sso-broker-load-")
    secret = secrets.token_urlsafe(24)
    idp = EntraIdp(free_port(), secret)
    broker = None
    notes = []
    try:
        print(f"minting {args.fresh_tokens} RS256 ID tokens …", file=sys.stderr)
        per = max(1, args.fresh_tokens // 2)
        with ProcessPoolExecutor(2) as pool:
            parts = list(pool.map(mint_id_tokens, [(idp.pem, idp.authority, i * per, per) for i in range(2)]))
        fresh_tokens = [t for part in parts for t in part]

        print("cold start …", file=sys.stderr)
        cold, serve_idle = cold_start(binary, work, args.cold_runs)

        print("starting sso-broker demo …", file=sys.stderr)
        broker = start_demo(binary, work, idp, secret)
        port = broker.port
        time.sleep(1.0)
        started = memory_kib(broker.pid)
        banner = open(broker.log).read()
        api_token = re.search(r"(ssob_\S+)", banner).group(1)
        saml_base = re.search(r"development Okta-style IdP at (http://\S+)\)", banner).group(1)
        saml_port = urllib.parse.urlsplit(saml_base).port
        auth = {"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"}

        # Entra: approve our tenant for entra-demo (consent proof against our IdP).
        status, _, body = request(port, "POST", "/api/v1/accounts/entra-demo/entra/tenants",
                                  json.dumps({"tenant_id": TENANT}), auth)
        if status != 201:
            raise RuntimeError(f"approving the tenant: {status} {body[:300]!r}")
        # ... its Entra connection, and SSO on with JIT (the tenant's verified domain is
        # load.example).
        status, _, body = request(port, "POST", "/api/v1/accounts/entra-demo/connections",
                                  json.dumps({"kind": "entra"}), auth)
        if status != 201:
            raise RuntimeError(f"connecting entra-demo to Entra: {status} {body[:300]!r}")
        status, _, body = request(port, "PUT", "/api/v1/accounts/entra-demo/sso", json.dumps({
            "enabled": True, "enforced": False, "allow_admin_password_login": True,
            "require_idp_mfa": False,
            "jit": {"enabled": True, "default_role": "user", "accounts": []}}), auth)
        if status != 200:
            raise RuntimeError(f"turning SSO on for entra-demo: {status} {body[:300]!r}")
        # SAML: import the development IdP's metadata into okta-demo.
        _, _, metadata = request(saml_port, "GET", "/saml/metadata")
        status, _, body = request(port, "POST", "/api/v1/accounts/okta-demo/connections",
                                  json.dumps({"kind": "saml", "idp_metadata_xml": metadata.decode()}), auth)
        if status != 201:
            raise RuntimeError(f"importing the SAML IdP: {status} {body[:300]!r}")
        connection = json.loads(body)
        acs_url = connection["acs_url"]
        acs_path = urllib.parse.urlsplit(acs_url).path

        session = password_login(port, "demo-user")
        # One user per connection: the per-user throttle also counts attempts in flight.
        login_users = [f"load-user-{i}" for i in range(args.connections)]
        for username in login_users:
            status, _, body = request(port, "POST", "/api/v1/accounts/demo/users", json.dumps({
                "email": f"{username}@demo.example.com", "username": username, "role": "user",
                "password": DEMO_PASSWORD}), auth)
            if status != 201:
                raise RuntimeError(f"creating {username}: {status} {body[:300]!r}")
        csrf_jar = Jar()
        login_csrf = csrf_of(port, "/login", csrf_jar)
        sso_jar = Jar()
        sso_csrf = csrf_of(port, "/login/sso", sso_jar)

        # A warm-up of each path (key fetch, SQLite pages, first allocations).
        request(port, "POST", "/api/v1/entra/validate", json.dumps({"token": fresh_tokens[-1]}), auth)
        print(f"collecting {args.saml_responses} SAML responses …", file=sys.stderr)
        collect_start = time.perf_counter()
        flows = []
        deadline = time.monotonic() + 60
        while len(flows) < args.saml_responses and time.monotonic() < deadline:
            flows.append(collect_saml_flow(port, saml_port, sso_jar, sso_csrf))
        print(f"  {len(flows)} in {time.perf_counter() - collect_start:.1f} s", file=sys.stderr)
        if len(flows) < args.saml_responses:
            notes.append(f"only {len(flows)} SAML responses collected in 60 s")
        # Entra: flows for the callback row, over as many returning users as connections (their
        # first sign-in, which creates them by JIT, happens here).
        entra_flows = []
        if "entra" in wanted:
            print(f"collecting {args.entra_flows} Entra sign-in flows …", file=sys.stderr)
            emails = [f"user{i}@load.example" for i in range(args.connections)]
            for i, email in enumerate(emails):
                f = collect_entra_flow(port, idp, sso_jar, sso_csrf, email, i)
                status, headers, body = request(port, "GET", f.callback_path, None, {"Cookie": f.cookies})
                if status != 303:
                    alert = re.search(rb'role="alert">([^<]*)<', body)
                    raise RuntimeError(f"Entra callback for {email}: {status} "
                                       f"{alert.group(1) if alert else body[:300]!r}")
            entra_flows = [collect_entra_flow(port, idp, sso_jar, sso_csrf, emails[i % len(emails)],
                                              i % len(emails))
                           for i in range(args.entra_flows)]
        # The storm: its own users (the per-user throttle counts attempts in flight) and its own
        # SAML flows (each response is accepted once).
        storm_users = [f"storm-user-{i}" for i in range(args.storm // 2)]
        if storm_users:
            print(f"creating {len(storm_users)} users and collecting {args.storm - len(storm_users)} "
                  "SAML responses for the storm …", file=sys.stderr)
        for username in storm_users:
            status, _, body = request(port, "POST", "/api/v1/accounts/demo/users", json.dumps({
                "email": f"{username}@demo.example.com", "username": username, "role": "user",
                "password": DEMO_PASSWORD}), auth)
            if status != 201:
                raise RuntimeError(f"creating {username}: {status} {body[:300]!r}")
        storm_flows = [collect_saml_flow(port, saml_port, sso_jar, sso_csrf)
                       for _ in range(args.storm - len(storm_users))]
        # The OpenID Provider: a client, codes for the exchange row, a refresh family per
        # connection for the rotation row.
        print(f"collecting {args.codes} authorization codes …", file=sys.stderr)
        op_client = op_tokens.register_client(port, auth)
        op_codes = op_tokens.codes(port, op_client[0], session.header(), args.codes)
        op_families = op_tokens.refresh_families(port, *op_client, "demo-user", args.connections)
        time.sleep(1.0)
        idle = memory_kib(broker.pid)

        api = {"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"}
        healthz = build_request("GET", "/healthz", {})
        me = build_request("GET", "/api/v1/me", {"Cookie": session.header()})
        fresh = [build_request("POST", "/api/v1/entra/validate", api,
                               json.dumps({"token": t}).encode()) for t in fresh_tokens[:-1]]
        represented = [build_request("POST", "/api/v1/entra/validate", api,
                                     json.dumps({"token": t}).encode())
                       for t in fresh_tokens[-args.connections:]]
        login = [build_request("POST", "/login", {
            "Cookie": csrf_jar.header(), "Content-Type": "application/x-www-form-urlencoded",
            "X-Forwarded-For": f"10.13.{i // 250}.{i % 250 + 1}"},
            urllib.parse.urlencode({"csrf_token": login_csrf, "username": username,
                                    "password": DEMO_PASSWORD}).encode())
            for i, username in enumerate(login_users)]
        callbacks = [build_request("GET", f.callback_path, {"Cookie": f.cookies}) for f in entra_flows]
        acs = []
        for f in flows:
            form = {"SAMLResponse": f.saml_response}
            if f.relay_state is not None:
                form["RelayState"] = f.relay_state
            acs.append(build_request("POST", acs_path, {
                "Cookie": f.cookies, "Content-Type": "application/x-www-form-urlencoded"},
                urllib.parse.urlencode(form).encode()))


        def row(name, nxt, expect, connections=args.connections, on_response=None, group=None,
                target=None):
            if group and group not in wanted:
                return None
            target_port, target_pid = target or (port, broker.pid)
            print(f"  {name} …", file=sys.stderr)
            perf = None
            if args.perf_dir:
                os.makedirs(args.perf_dir, exist_ok=True)
                out = os.path.join(args.perf_dir, re.sub(r"[^a-z0-9]+", "-", name) + ".data")
                graph = ["--call-graph", "dwarf,16384"] if args.perf_dwarf else ["-g"]
                perf = subprocess.Popen(["perf", "record", "-q", "-F", "499", *graph, "-p",
                                         str(target_pid), "-o", out], stderr=subprocess.DEVNULL)
                time.sleep(0.5)
            try:
                return asyncio.run(load(target_port, target_pid, nxt, expect, args.seconds,
                                        connections, on_response))
            finally:
                if perf:
                    perf.send_signal(signal.SIGINT)
                    perf.wait()

        ref_secs = args.reference_seconds
        print("rows:", file=sys.stderr)
        r_health = row("healthz", cycle([healthz]), {200})
        r_me = row("me", cycle([me]), {200}, group="me")
        ref_rs256 = rs256_reference(idp, fresh_tokens[0], ref_secs)
        r_fresh = row("validate fresh", once_each(fresh), {200}, group="validate")
        r_again = row("validate re-presented", cycle(represented), {200}, group="validate")
        # Argon2 is memory-bound and the most sensitive to what else runs on the machine: its
        # bound is taken before and after the two login rows, and the mean used.
        argon2_before = argon2_reference(args.argon2_bound, ref_secs)
        r_login = row("password login", per_connection(login), {303}, group="login")
        r_login_few = row("password login, few connections", per_connection(login), {303},
                          connections=2 * (os.cpu_count() or 1), group="login")
        argon2_after = argon2_reference(args.argon2_bound, ref_secs)
        ref_argon2 = (argon2_before + argon2_after) / 2
        notes.append(f"Argon2id bound {argon2_before:.1f} before and {argon2_after:.1f} after "
                     "the login rows (verifies per CPU-second, one thread)")
        ref_saml, saml_error = saml_reference(flows[: max(1, min(50, len(flows)))],
                                              metadata.decode(), connection["sp_entity_id"],
                                              acs_url, ref_secs)
        if saml_error:
            notes.append(f"python3-saml refused the responses: {saml_error}")
            ref_saml = float("nan")
        r_acs = row("saml acs", once_each(acs), {303}, group="acs")
        r_entra = row("entra callback", once_each(callbacks), {303}, group="entra")
        ref_sign = op_tokens.rs256_sign_reference(ref_secs)
        exchanges = [op_tokens.exchange_request(*op_client, c) for c in op_codes]
        r_code = row("op code exchange", once_each(exchanges), {200}, group="op")
        rotation = op_tokens.Rotation(*op_client, op_families)
        r_refresh = row("op refresh", rotation.next_request, {200}, on_response=rotation.on_response,
                        group="op")
        r_peer = None
        if "peer" in wanted:
            peer = op_tokens.OidcProviderPeer(free_port(), args.connections)
            try:
                time.sleep(1.0)
                r_peer = row("oidc-provider refresh", peer.rotation.next_request, {200},
                             on_response=peer.rotation.on_response, target=(peer.port, peer.pid))
            finally:
                peer.stop()
        notes.append(f"RS256 signing {ref_sign:,.0f}/CPU-s in this run; a grant signs twice, so "
                     f"the token endpoint's bound is {ref_sign / 2:,.0f} grants/CPU-s")
        after = memory_kib(broker.pid)
        time.sleep(2.0)
        settled = memory_kib(broker.pid)
        r_storm = None
        if args.storm:
            print(f"  storm of {args.storm} sign-ins …", file=sys.stderr)
            requests = []
            for i, username in enumerate(storm_users):
                requests.append((build_request("POST", "/login", {
                    "Cookie": csrf_jar.header(), "Content-Type": "application/x-www-form-urlencoded",
                    "X-Forwarded-For": f"10.14.{i // 250}.{i % 250 + 1}"},
                    urllib.parse.urlencode({"csrf_token": login_csrf, "username": username,
                                            "password": DEMO_PASSWORD}).encode()), 303))
            for f in storm_flows:
                form = {"SAMLResponse": f.saml_response}
                if f.relay_state is not None:
                    form["RelayState"] = f.relay_state
                requests.append((build_request("POST", acs_path, {
                    "Cookie": f.cookies, "Content-Type": "application/x-www-form-urlencoded"},
                    urllib.parse.urlencode(form).encode()), 303))
            random.shuffle(requests)
            r_storm = storm(port, broker.pid, requests)

        r_live, live_mem, live = None, None, 0
        if args.sessions and "entra" in wanted:
            print(f"  {args.sessions} live sessions …", file=sys.stderr)
            session_cookies = []
            for i in range(args.sessions):
                f = collect_entra_flow(port, idp, sso_jar, sso_csrf, emails[i % len(emails)],
                                       i % len(emails))
                status, _, _ = request(port, "GET", f.callback_path, None, jar=f.jar)
                if status == 303:
                    session_cookies.append(f.jar.header())
            live = len(session_cookies)
            reads = [build_request("GET", "/api/v1/me", {"Cookie": c}) for c in session_cookies]
            r_live = row("me over the live sessions", once_each(reads), {200})
            live_mem = memory_kib(broker.pid)

        rows = [
            ("GET /healthz", r_health, r_health.per_cpu_second(), "itself"),
            ("GET /api/v1/me (session)", r_me, r_health.per_cpu_second(), "/healthz"),
            ("POST /entra/validate, fresh tokens", r_fresh, ref_rs256, "RS256 verify"),
            ("POST /entra/validate, re-presented", r_again, ref_rs256, "RS256 verify"),
            ("POST /login (password)", r_login, ref_argon2, "Argon2id verify"),
            (f"POST /login, {2 * (os.cpu_count() or 1)} connections", r_login_few, ref_argon2,
             "Argon2id verify"),
            ("POST SAML ACS (2 signatures)", r_acs, ref_saml, "python3-saml"),
            ("GET Entra callback (code, 1 verify)", r_entra, ref_rs256, "RS256 verify"),
            (f"GET /api/v1/me, {live} sessions once", r_live, r_health.per_cpu_second(), "/healthz"),
            ("POST /oauth2/token, code", r_code, ref_sign / 2, "RS256 sign ÷ 2"),
            ("POST /oauth2/token, refresh", r_refresh, ref_sign / 2, "RS256 sign ÷ 2"),
            ("POST /oauth2/token, refresh", r_refresh,
             r_peer.per_cpu_second() if r_peer else float("nan"), "oidc-provider"),
            ("oidc-provider 9 refresh (1 signature)", r_peer, ref_sign, "RS256 sign"),
        ]
        rows = [(n, r, ref, ref_name) for n, r, ref, ref_name in rows if r is not None]
        print()
        print(f"sso-broker load, {os.cpu_count()} cores, {args.connections} connections, "
              f"≤{args.seconds:g} s per row, figures per broker CPU-second")
        head = f"| {'row':36} | {'broker /CPU-s':>13} | {'reference /CPU-s':>24} | {'ratio':>6} | {'p50 ms':>7} | {'p99 ms':>7} | {'done':>6} | {'broker CPU s':>12} | {'RSS after MiB':>13} | {'other answers':<13} |"
        print(head)
        print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
        for name, r, ref, ref_name in rows:
            rate = r.per_cpu_second()
            ratio = rate / ref if ref and ref == ref else float("nan")
            other = ", ".join(f"{n} × {s}" for s, n in sorted(r.statuses.items()) if s not in (200, 303))
            print(f"| {name:36} | {fmt_rate(rate):>13} | {fmt_rate(ref) + ' ' + ref_name:>24} | "
                  f"{ratio:>6.2f} | {r.pct(50):>7.2f} | {r.pct(99):>7.2f} | {r.ok:>6} | "
                  f"{r.cpu:>12.2f} | {r.rss_mib:>13.0f} | {other or '—':<13} |")
        print()
        if cold:
            med = statistics.median(cold)
            print(f"cold start (serve, migrated SQLite, exec → first 200 /healthz): median {med * 1000:.0f} ms "
                  f"of {len(cold)} (min {min(cold) * 1000:.0f}, max {max(cold) * 1000:.0f})")
        print(f"broker RSS: idle {serve_idle.get('VmRSS', 0) / 1024:.1f} MiB (serve, 1 s after start); "
              f"demo {started['VmRSS'] / 1024:.1f} MiB after start (it hashed its users' passwords), "
              f"{idle['VmRSS'] / 1024:.1f} MiB after setup (users, SAML flows), "
              f"after the rounds {after['VmRSS'] / 1024:.1f} MiB ({settled['VmRSS'] / 1024:.1f} MiB 2 s later), "
              f"peak (VmHWM) {after['VmHWM'] / 1024:.1f} MiB")
        if live_mem:
            print(f"live sessions: {live} made by Entra sign-ins after the rows, each read once through "
                  f"/api/v1/me: broker RSS {live_mem['VmRSS'] / 1024:.1f} MiB, peak (VmHWM) "
                  f"{live_mem['VmHWM'] / 1024:.1f} MiB")
        if r_storm:
            errors = r_storm.clients - r_storm.succeeded
            other = ", ".join(f"{n} × {s}" for s, n in sorted(r_storm.statuses.items(), key=str)
                              if s != 303)
            print(f"storm: {r_storm.clients} sign-ins arriving at once ({len(storm_users)} password, "
                  f"{r_storm.clients - len(storm_users)} SAML): {r_storm.succeeded} signed in, "
                  f"{errors} errors; {r_storm.retries} retries after 503; arrival → signed in "
                  f"p50 {r_storm.pct(50):.2f} s, p99 {r_storm.pct(99):.2f} s; wall {r_storm.wall:.1f} s, "
                  f"broker CPU {r_storm.cpu:.1f} s; peak RSS during the storm {r_storm.peak_rss_mib:.0f} MiB"
                  f"{'; answers: ' + other if other else ''}")
        for note in notes:
            print(f"note: {note}")
        return 0
    except Exception:
        if broker:
            tail = open(broker.log, errors="replace").read().splitlines()[-15:]
            print("the broker's last log lines:\n  " + "\n  ".join(tail), file=sys.stderr)
        raise
    finally:
        if broker:
            broker.stop()
        idp.server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
