//! Back-Channel Logout 1.0 (SPEC §7.2): when a broker session ends, every client with a
//! `backchannel_logout_uri` holding tokens from it receives a `logout_token` — verified here
//! against the JWKS by a tiny receiver on 127.0.0.1 — delivered in the background, retried
//! after a failure, and triggered by `/oauth2/logout`, `POST /logout`, an admin's revocation
//! and expiry noticed by the purge job.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{csrf_from, spawn_app, TestApp};
use crate::oidc_flow::{refresh, verify};
use crate::oidc_logout::{logout_path, register_for_logout, tokens_for};

/// A relying party's back-channel logout endpoint: records every request, answers 500 to the
/// first `failures` and 200 to the rest.
struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn spawn_receiver(failures: usize) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/backchannel-logout",
        listener.local_addr().unwrap().port()
    );
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let request = read_request(&mut stream).await;
            let status = {
                let mut seen = seen.lock().unwrap();
                seen.push(request);
                if seen.len() <= failures {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                }
            };
            let answer =
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    Receiver { url, requests }
}

/// One HTTP/1.1 request, head and body (by `content-length`).
async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if raw.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&raw).to_string()
}

impl Receiver {
    /// Waits (real time: the worker runs beside the test) until `n` requests arrived.
    async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..200 {
            let seen = self.requests.lock().unwrap().clone();
            if seen.len() >= n {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("only {} deliveries", self.requests.lock().unwrap().len());
    }
}

/// The `logout_token` of a delivery, after checking it is a form post.
fn logout_token_of(request: &str) -> String {
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("POST /backchannel-logout HTTP/1.1"),
        "{head}"
    );
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: application/x-www-form-urlencoded"));
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(fields.len(), 1, "{fields:?}");
    assert_eq!(fields[0].0, "logout_token");
    fields[0].1.clone()
}

async fn id_claims(app: &TestApp, tokens: &Value, client_id: &str) -> Value {
    verify(app, tokens["id_token"].as_str().unwrap(), client_id)
        .await
        .0
}

/// The outcomes of the `oidc.backchannel_logout` audit events, sorted, once there are `n`
/// (the worker records an attempt just after the receiver answered it).
async fn backchannel_audit(app: &TestApp, n: usize) -> Vec<String> {
    for _ in 0..100 {
        let mut outcomes: Vec<String> = app
            .audit("acme")
            .await
            .iter()
            .filter(|e| e["action"] == "oidc.backchannel_logout")
            .map(|e| e["outcome"].as_str().unwrap().to_string())
            .collect();
        if outcomes.len() >= n {
            outcomes.sort();
            return outcomes;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} back-channel audit events");
}

#[tokio::test]
async fn rp_initiated_logout_sends_a_logout_token_with_exactly_the_spec_claims() {
    let app = spawn_app().await;
    app.with_user().await;
    let receiver = spawn_receiver(0).await;
    let client = register_for_logout(&app, Some(&receiver.url)).await;
    let silent = register_for_logout(&app, None).await;
    let tokens = tokens_for(&app, &client, "openid").await;
    tokens_for(&app, &silent, "openid").await;
    let id = id_claims(&app, &tokens, &client.id).await;
    let res = app
        .get(&logout_path(&[(
            "id_token_hint",
            tokens["id_token"].as_str().unwrap(),
        )]))
        .await;
    assert_eq!(res.status(), 303);
    let requests = receiver.wait_for(1).await;
    let token = logout_token_of(&requests[0]);
    let (claims, typ) = verify(&app, &token, &client.id).await;
    assert_eq!(typ, "logout+jwt");
    let names: BTreeSet<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        ["aud", "events", "exp", "iat", "iss", "jti", "sid", "sub"]
            .into_iter()
            .collect()
    );
    assert_eq!(
        claims["events"],
        json!({"http://schemas.openid.net/event/backchannel-logout": {}})
    );
    assert_eq!(claims["sid"], id["sid"]);
    assert_eq!(claims["sub"], id["sub"]);
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    // Only the client with a back-channel URI was called, once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.requests.lock().unwrap().len(), 1);
    assert_eq!(backchannel_audit(&app, 1).await, ["success"]);
}

#[tokio::test]
async fn a_delivery_answered_with_500_is_retried_after_a_backoff() {
    let app = spawn_app().await;
    app.with_user().await;
    let receiver = spawn_receiver(1).await;
    let client = register_for_logout(&app, Some(&receiver.url)).await;
    let tokens = tokens_for(&app, &client, "openid").await;
    app.get(&logout_path(&[(
        "id_token_hint",
        tokens["id_token"].as_str().unwrap(),
    )]))
    .await;
    receiver.wait_for(1).await;
    // Not before the backoff.
    app.state.backchannel.wake();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.requests.lock().unwrap().len(), 1);
    app.clock.advance(chrono::Duration::seconds(31));
    app.state.backchannel.wake();
    let requests = receiver.wait_for(2).await;
    let first = logout_token_of(&requests[0]);
    let second = logout_token_of(&requests[1]);
    let (a, _) = verify(&app, &first, &client.id).await;
    let (b, _) = verify(&app, &second, &client.id).await;
    assert_eq!(a["sid"], b["sid"]);
    assert_eq!(backchannel_audit(&app, 2).await, ["failure", "success"]);
}

#[tokio::test]
async fn post_logout_and_an_admins_revocation_also_deliver() {
    let app = spawn_app().await;
    app.with_user().await;
    let receiver = spawn_receiver(0).await;
    let client = register_for_logout(&app, Some(&receiver.url)).await;
    let first = tokens_for(&app, &client, "openid").await;
    let csrf = csrf_from(&app.get_html("/logout").await);
    let res = app.post_form("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), 303);
    let requests = receiver.wait_for(1).await;
    let (claims, _) = verify(&app, &logout_token_of(&requests[0]), &client.id).await;
    assert_eq!(
        claims["sid"],
        id_claims(&app, &first, &client.id).await["sid"]
    );

    let second = tokens_for(&app, &client, "openid").await;
    let res = app
        .api(
            Method::DELETE,
            "/api/v1/accounts/acme/users/ada/sessions",
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let requests = receiver.wait_for(2).await;
    let (claims, _) = verify(&app, &logout_token_of(&requests[1]), &client.id).await;
    let sid = id_claims(&app, &second, &client.id).await["sid"].clone();
    assert_eq!(claims["sid"], sid);
    assert_ne!(
        claims["sid"],
        id_claims(&app, &first, &client.id).await["sid"]
    );
    let res = refresh(&app, &client, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn an_expired_session_is_noticed_by_the_purge_job_and_delivered() {
    let app = spawn_app().await;
    app.with_user().await;
    let receiver = spawn_receiver(0).await;
    let client = register_for_logout(&app, Some(&receiver.url)).await;
    let tokens = tokens_for(&app, &client, "openid").await;
    // A live session is left alone.
    let queued = sso_broker::services::provider::backchannel::end_expired_sessions(&app.state)
        .await
        .unwrap();
    assert_eq!(queued, 0);
    // Past the idle timeout (30 min).
    app.clock.advance(chrono::Duration::minutes(31));
    let queued = sso_broker::services::provider::backchannel::end_expired_sessions(&app.state)
        .await
        .unwrap();
    assert_eq!(queued, 1);
    let requests = receiver.wait_for(1).await;
    let (claims, _) = verify(&app, &logout_token_of(&requests[0]), &client.id).await;
    assert_eq!(
        claims["sid"],
        id_claims(&app, &tokens, &client.id).await["sid"]
    );
    let res = refresh(&app, &client, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn an_expired_session_with_only_offline_tokens_is_announced_once_and_the_tokens_live_on() {
    let app = spawn_app().await;
    app.with_user().await;
    let receiver = spawn_receiver(0).await;
    let client = register_for_logout(&app, Some(&receiver.url)).await;
    let tokens = tokens_for(&app, &client, "openid offline_access").await;
    let end_expired =
        || sso_broker::services::provider::backchannel::end_expired_sessions(&app.state);
    assert_eq!(
        end_expired().await.unwrap(),
        0,
        "a live session is left alone"
    );
    app.clock.advance(chrono::Duration::minutes(31));
    assert_eq!(end_expired().await.unwrap(), 1);
    let requests = receiver.wait_for(1).await;
    let (claims, _) = verify(&app, &logout_token_of(&requests[0]), &client.id).await;
    assert_eq!(
        claims["sid"],
        id_claims(&app, &tokens, &client.id).await["sid"]
    );
    // Told once: the next runs find nothing new.
    assert_eq!(end_expired().await.unwrap(), 0);
    // The offline family outlives the session.
    let res = refresh(&app, &client, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn disabling_the_user_delivers_a_logout_token() {
    let app = spawn_app().await;
    app.with_user().await;
    let receiver = spawn_receiver(0).await;
    let client = register_for_logout(&app, Some(&receiver.url)).await;
    let tokens = tokens_for(&app, &client, "openid").await;
    let res = app
        .api(
            Method::PATCH,
            "/api/v1/accounts/acme/users/ada",
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let requests = receiver.wait_for(1).await;
    let (claims, _) = verify(&app, &logout_token_of(&requests[0]), &client.id).await;
    assert_eq!(
        claims["sid"],
        id_claims(&app, &tokens, &client.id).await["sid"]
    );
}
