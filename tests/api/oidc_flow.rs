//! What the OpenID Provider tests share: registering a client, PKCE, walking a browser through
//! `/oauth2/authorize` and the login page, redeeming codes, verifying tokens against the JWKS.
// Each OP test module uses a part of these.
#![allow(dead_code)]

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openidconnect::{PkceCodeChallenge, PkceCodeVerifier};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{csrf_from, location, TestApp, PASSWORD};

pub const REDIRECT_URI: &str = "http://127.0.0.1:9999/cb";
pub const ISSUER: &str = "http://127.0.0.1:8080";

pub struct Client {
    pub id: String,
    pub secret: Option<String>,
}

/// Registers a client (`public` or confidential) limited to `accounts` (empty: every account).
pub async fn register(app: &TestApp, public: bool, accounts: &[&str]) -> Client {
    let body = json!({
        "name": "Portal",
        "type": if public { "public" } else { "confidential" },
        "redirect_uris": [REDIRECT_URI],
        "accounts": accounts,
    });
    let res = app
        .api(Method::POST, "/api/v1/oidc/clients", Some(body))
        .await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    Client {
        id: v["client_id"].as_str().unwrap().to_string(),
        secret: v["client_secret"].as_str().map(str::to_string),
    }
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let (challenge, verifier): (PkceCodeChallenge, PkceCodeVerifier) =
        PkceCodeChallenge::new_random_sha256();
    (
        verifier.secret().to_string(),
        challenge.as_str().to_string(),
    )
}

/// `/oauth2/authorize?…` for `client` with `challenge`, state `st-1`, nonce `n-1`, scope
/// `openid`; `extra` adds or (when the name repeats) replaces parameters.
pub fn authorize_path(client: &Client, challenge: &str, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &client.id),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        params.retain(|(name, _)| name != k);
        if !v.is_empty() {
            params.push((k, v));
        }
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("/oauth2/authorize?{query}")
}

/// The query parameters of a URL (absolute, or a path on the broker).
pub fn query_of(url: &str) -> HashMap<String, String> {
    let absolute = if url.starts_with('/') {
        format!("http://broker{url}")
    } else {
        url.to_string()
    };
    url::Url::parse(&absolute)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Signs `username` in on the login page the broker redirected to (`/login?return_to=…`) and
/// returns where the login page sends the browser next.
pub async fn sign_in_at(app: &TestApp, login_location: &str, username: &str) -> String {
    assert!(login_location.starts_with("/login?"), "{login_location}");
    let return_to = query_of(login_location)["return_to"].clone();
    // Any page gives this browser's CSRF token; /login/sso renders even when signed in.
    let csrf = csrf_from(&app.get_html("/login/sso").await);
    let res = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", username),
                ("password", PASSWORD),
                ("return_to", &return_to),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    location(&res)
}

/// Follows an authorization until the answer for the client; returns its query parameters.
/// The browser must already be signed in (or the request must fail).
pub async fn answer_of(app: &TestApp, path: &str) -> HashMap<String, String> {
    let res = app.get(path).await;
    assert_eq!(res.status(), 303, "{path}");
    let to = location(&res);
    assert!(to.starts_with(REDIRECT_URI), "not an answer: {to}");
    query_of(&to)
}

/// Signs `username` in and gets a code for `client` with `extra` parameters.
pub async fn code_for(
    app: &TestApp,
    client: &Client,
    username: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let res = app.get(&authorize_path(client, &challenge, extra)).await;
    let mut next = location(&res);
    if next.starts_with("/login?") {
        next = sign_in_at(app, &next, username).await;
        let res = app.get(&next).await;
        next = location(&res);
    }
    assert!(next.starts_with(REDIRECT_URI), "{next}");
    let answer = query_of(&next);
    (answer["code"].clone(), verifier)
}

/// `POST /oauth2/token` with `form`, authenticating as `client` (Basic for confidential).
pub async fn token(app: &TestApp, client: &Client, form: &[(&str, &str)]) -> reqwest::Response {
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    let mut req = app.client.post(app.url("/oauth2/token"));
    match &client.secret {
        Some(secret) => req = req.basic_auth(&client.id, Some(secret)),
        None => fields.push(("client_id", &client.id)),
    }
    req.form(&fields).send().await.unwrap()
}

/// Redeems `code` with `verifier`.
pub async fn redeem(
    app: &TestApp,
    client: &Client,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    token(
        app,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// Refreshes with `refresh_token`.
pub async fn refresh(app: &TestApp, client: &Client, refresh_token: &str) -> reqwest::Response {
    token(
        app,
        client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// Verifies a JWT against the broker's JWKS, as a relying party would (RS256, `iss`, `aud`,
/// `exp` at the real clock: the test clock is in 2026); returns its claims and `typ`.
pub async fn verify(app: &TestApp, token: &str, audience: &str) -> (Value, String) {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let set: jsonwebtoken::jwk::JwkSet = app.get("/oauth2/jwks").await.json().await.unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid in JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[audience]);
    // The test clock and the wall clock differ; expiry is checked by the tests that move time.
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).expect("valid signature");
    (data.claims, header.typ.unwrap_or_default())
}
