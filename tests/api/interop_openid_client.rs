//! Interop with independent Relying Parties: npm `openid-client` 6 (panva, OpenID Certified)
//! signs a user in through the broker's OpenID Provider — discovery, authorization code + PKCE,
//! state and nonce, the code exchange with its ID token validation, a refresh — and npm `jose`
//! verifies the ID token and the access token (`typ: at+jwt`) against `/oauth2/jwks` on its own.
//! Userinfo, revocation, introspection and RP-initiated logout are exercised when discovery lists
//! them (the script notes each one it skips).
//!
//! The test plays the browser (the broker's login form and its CSRF token); the script is the RP.
//! Needs Node.js and `npm ci` in `tests/interop/openid-client` (`make test-interop` does both and
//! runs this test; CI runs it as its own stage).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};

use crate::helpers::{location, spawn_reachable_app, TestApp};
use crate::oidc_flow::{query_of, sign_in_at};

const REDIRECT_URI: &str = "http://127.0.0.1:9998/callback";

/// The RP script, killed when the test ends.
struct Rp {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for Rp {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

impl Rp {
    fn start(issuer: &str, client_id: &str, secret: &str) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/openid-client");
        let mut child = Command::new("node")
            .current_dir(dir)
            .args(["rp.mjs", issuer, client_id, secret, REDIRECT_URI])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node on PATH and `npm ci` done in tests/interop/openid-client");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Rp {
            child,
            stdin,
            stdout,
        }
    }

    /// The script's next line of JSON. The read blocks this worker thread only: the broker
    /// answers the script from another one (the test runs on a multi-thread runtime).
    fn read(&mut self) -> Value {
        let mut line = String::new();
        tokio::task::block_in_place(|| self.stdout.read_line(&mut line)).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON from rp.mjs: {line:?}"))
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
    }
}

/// Plays the browser: follows the authorization through the login page to the redirect back to
/// the RP; returns that URL.
async fn browse_to_callback(app: &TestApp, issuer: &str, authorization_url: &str) -> String {
    let path = authorization_url
        .strip_prefix(issuer)
        .unwrap_or_else(|| panic!("not on the broker: {authorization_url}"));
    let res = app.get(path).await;
    assert_eq!(
        res.status(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let next = sign_in_at(app, &location(&res), "ada").await;
    let res = app.get(&next).await;
    assert_eq!(res.status(), 303);
    location(&res)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js and `npm ci` in tests/interop/openid-client: run by `make test-interop`"]
async fn openid_client_and_jose_sign_a_user_in_and_verify_the_tokens() {
    let (app, issuer) = spawn_reachable_app().await;
    app.create_account("acme").await;
    let user = app.create_user("acme", "ada", "ada@acme.example").await;
    let res = app
        .api(
            reqwest::Method::POST,
            "/api/v1/oidc/clients",
            Some(json!({
                "name": "openid-client",
                "type": "confidential",
                "redirect_uris": [REDIRECT_URI],
                "post_logout_redirect_uris": ["http://127.0.0.1:9998/"],
            })),
        )
        .await;
    assert_eq!(res.status(), 201);
    let client: Value = res.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();

    let mut rp = Rp::start(&issuer, client_id, secret);
    let first = rp.read();
    let authorization_url = first["authorization_url"]
        .as_str()
        .unwrap_or_else(|| panic!("rp.mjs: {first}"));
    let callback = browse_to_callback(&app, &issuer, authorization_url).await;
    assert!(callback.starts_with(REDIRECT_URI), "{callback}");
    assert_eq!(query_of(&callback)["iss"], issuer);
    rp.send(&callback);
    let out = rp.read();
    assert_eq!(out["ok"], true, "rp.mjs: {out}");

    // openid-client validated the ID token (signature, iss, aud, nonce, at_hash…): its claims.
    let claims = &out["claims"];
    assert_eq!(claims["sub"], user["id"], "{claims}");
    assert_eq!(claims["account"], "acme");
    assert_eq!(claims["roles"], json!(["user"]));
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["mfa"], "no");
    assert!(claims["sid"].is_string());
    assert_eq!(out["token_type"], "bearer");
    // jose, on its own, against the JWKS.
    let verified = &out["jose"];
    assert_eq!(verified["id_token"]["sub"], claims["sub"]);
    assert_eq!(verified["access_header"]["typ"], "at+jwt");
    assert_eq!(verified["access_token"]["client_id"], client_id);
    assert_eq!(verified["access_token"]["sid"], claims["sid"]);
    assert_eq!(verified["access_token"]["account"], "acme");
    // The refresh rotated the refresh token and gave a new access token.
    assert_eq!(out["refreshed"]["rotated"], true, "{out}");
    assert_eq!(out["refreshed"]["access_token_changed"], true);
    check_optional_endpoints(&out, &issuer, claims);
}

/// What the script did with the endpoints discovery listed and the broker serves (it skips, and
/// lists in `skipped`, those that answer 404: built in parallel, they join this test when merged).
fn check_optional_endpoints(out: &Value, issuer: &str, claims: &Value) {
    let skipped = out["skipped"].as_array().cloned().unwrap_or_default();
    let served = |name: &str| !skipped.contains(&json!(name));
    if served("userinfo_endpoint") {
        assert_eq!(out["userinfo"]["sub"], claims["sub"], "{out}");
        assert_eq!(out["userinfo"]["email"], "ada@acme.example");
    }
    if served("introspection_endpoint") {
        assert_eq!(out["introspection"]["active"], true, "{out}");
        assert_eq!(out["introspection"]["sub"], claims["sub"]);
    }
    if served("revocation_endpoint") {
        assert_eq!(out["refresh_after_revocation"], "invalid_grant", "{out}");
    }
    if served("end_session_endpoint") {
        assert_eq!(
            out["discovery"]["end_session_endpoint"],
            format!("{issuer}/oauth2/logout")
        );
        let url = out["end_session_url"].as_str().unwrap();
        let query = query_of(url);
        assert_eq!(query["post_logout_redirect_uri"], "http://127.0.0.1:9998/");
        assert!(query.contains_key("id_token_hint"));
    }
}
