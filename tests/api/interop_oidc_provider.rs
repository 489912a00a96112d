//! Interop with an independent OpenID Provider: npm `oidc-provider` (panva), configured the way
//! Entra behaves for one tenant, signs a user in through the broker end to end. Our validation,
//! discovery, PKCE and code redemption meet a peer we did not write.
//!
//! Needs Node.js and `npm ci` in `tests/interop/oidc-provider` (`make test-interop` does both and
//! runs this test; CI runs it as its own stage).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    approve_directly, broker_path, entra_env, location, spawn_app_with, start_sso, CONTOSO,
    ENTRA_CLIENT_ID,
};

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

/// Starts the peer on a free port; returns it and its origin once it answers discovery.
async fn start_peer() -> (Peer, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/oidc-provider");
    let child = Command::new("node")
        .current_dir(dir)
        .args([
            "server.mjs",
            &port.to_string(),
            CONTOSO,
            ENTRA_CLIENT_ID,
            "dev-client-secret",
            "http://127.0.0.1:8080/sso/oidc/callback",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node on PATH and `npm ci` done in tests/interop/oidc-provider");
    let peer = Peer(child);
    let origin = format!("http://127.0.0.1:{port}");
    let discovery = format!("{origin}/{CONTOSO}/v2.0/.well-known/openid-configuration");
    for _ in 0..100 {
        if reqwest::get(&discovery)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (peer, origin);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("oidc-provider did not start");
}

/// The first `<form ... action="...">` of a page and its named inputs.
fn first_form(html: &str) -> (String, HashMap<String, String>) {
    let form = &html[html.find("<form").expect("a form")..];
    let action = form
        .split("action=\"")
        .nth(1)
        .and_then(|a| a.split('"').next())
        .unwrap_or_default()
        .replace("&amp;", "&");
    let mut fields = HashMap::new();
    for input in form.split("<input").skip(1) {
        let attr = |name: &str| {
            input
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|v| v.split('"').next())
                .map(str::to_string)
        };
        if let Some(name) = attr("name") {
            fields.insert(name, attr("value").unwrap_or_default());
        }
    }
    (action, fields)
}

/// Plays the user at the peer: follows redirects, logs in as `login`, confirms consent, until the
/// peer sends the browser back to the broker. Returns that callback URL.
async fn sign_in_at_peer(origin: &str, authorize_url: &str, login: &str) -> String {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let mut response = browser.get(authorize_url).send().await.unwrap();
    for _ in 0..12 {
        if response.status().is_redirection() {
            let next = location(&response);
            if next.starts_with("http://127.0.0.1:8080/") {
                return next;
            }
            let next = if next.starts_with('/') {
                format!("{origin}{next}")
            } else {
                next
            };
            response = browser.get(next).send().await.unwrap();
            continue;
        }
        let html = response.text().await.unwrap();
        let (action, mut fields) = first_form(&html);
        if html.contains("name=\"login\"") {
            fields.insert("login".into(), login.into());
            fields.insert("password".into(), "any password".into());
        }
        let action = if action.starts_with('/') {
            format!("{origin}{action}")
        } else {
            action
        };
        response = browser.post(action).form(&fields).send().await.unwrap();
    }
    panic!("the peer never redirected back to the broker");
}

#[tokio::test]
#[ignore = "needs Node.js and `npm ci` in tests/interop/oidc-provider: run by `make test-interop`"]
async fn oidc_provider_signs_a_user_in_through_the_broker() {
    let (_peer, origin) = start_peer().await;
    let app = spawn_app_with(|env| entra_env(env, &origin)).await;
    // The peer stamps tokens with the real time; the broker must judge them by the same clock.
    app.clock.set(sso_broker::clock::Clock::now(
        &sso_broker::clock::SystemClock,
    ));
    app.create_account("acme").await;
    app.enable_sso("acme").await;
    app.create_user("acme", "ada", "ada@contoso.example").await;
    assert_eq!(
        app.api(
            Method::POST,
            "/api/v1/accounts/acme/connections",
            Some(json!({ "kind": "entra" }))
        )
        .await
        .status(),
        201
    );
    // The peer is an OpenID Provider, not Microsoft Graph: record the approval directly (the
    // consent proof has its own tests against the development IdP).
    approve_directly(&app, "acme", CONTOSO).await;

    let res = start_sso(&app, "acme", "ada@contoso.example").await;
    assert_eq!(
        res.status(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let callback = sign_in_at_peer(&origin, &location(&res), "ada").await;
    let res = app.get(&broker_path(&callback)).await;
    let reasons: Vec<Value> = app
        .audit("acme")
        .await
        .iter()
        .map(|e| e["reason"].clone())
        .collect();
    assert_eq!(res.status(), 303, "audit reasons: {reasons:?}");
    assert_eq!(location(&res), "/");
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["username"], "ada");
    assert_eq!(me["auth_method"], "sso");
    assert_eq!(me["idp"], "entra");

    // A login of someone else at the peer is refused: the email differs from the one entered.
    app.submit("/logout", "/logout", &[]).await;
    let res = start_sso(&app, "acme", "ada@contoso.example").await;
    let callback = sign_in_at_peer(&origin, &location(&res), "mallory").await;
    let html = app.get(&broker_path(&callback)).await.text().await.unwrap();
    assert!(html.contains(sso_broker::domain::messages::SSO_INCORRECT_CREDENTIALS));
}
