//! `GET|POST /oauth2/logout`, RP-Initiated Logout 1.0 (SPEC §7.2, §7.3): a hint we signed for
//! the current session logs out without a click and redirects with `state`; an altered or
//! foreign hint and an unregistered `post_logout_redirect_uri` never redirect; without a hint
//! the user confirms; logging out ends the online refresh families, not the offline ones.

use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::helpers::{csrf_from, location, me_status, spawn_app, TestApp};
use crate::oidc_flow::{code_for, redeem, refresh, Client, REDIRECT_URI};

pub const AFTER_LOGOUT: &str = "http://127.0.0.1:9999/signed-out";

/// Registers a public client with `AFTER_LOGOUT` as post-logout redirect URI and, when given,
/// a back-channel logout URI.
pub async fn register_for_logout(app: &TestApp, backchannel: Option<&str>) -> Client {
    let body = json!({
        "name": "Portal",
        "type": "public",
        "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": [AFTER_LOGOUT],
        "backchannel_logout_uri": backchannel,
    });
    let res = app
        .api(Method::POST, "/api/v1/oidc/clients", Some(body))
        .await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    Client {
        id: v["client_id"].as_str().unwrap().to_string(),
        secret: None,
    }
}

/// Signs `ada` in (if needed) and returns the token answer for `client` with `scope`.
pub async fn tokens_for(app: &TestApp, client: &Client, scope: &str) -> Value {
    let (code, verifier) = code_for(app, client, "ada", &[("scope", scope)]).await;
    let res = redeem(app, client, &code, &verifier).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// `/oauth2/logout?…` with `params`.
pub fn logout_path(params: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("/oauth2/logout?{query}")
}

async fn assert_refused(res: reqwest::Response, text: &str) {
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    let html = res.text().await.unwrap();
    assert!(html.contains(text), "{html}");
}

#[tokio::test]
async fn a_valid_id_token_hint_logs_out_without_a_click_and_redirects_with_state() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register_for_logout(&app, None).await;
    let tokens = tokens_for(&app, &client, "openid").await;
    // The hint has expired (ID tokens live 300 s); the session has not.
    app.clock.advance(chrono::Duration::minutes(10));
    let res = app
        .get(&logout_path(&[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
            ("state", "s 1"),
        ]))
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{AFTER_LOGOUT}?state=s+1"));
    assert_eq!(me_status(&app, &app.client).await, 401);
    let audit = app.audit("acme").await;
    assert!(audit.iter().any(|e| e["action"] == "logout"));
}

#[tokio::test]
async fn an_altered_or_foreign_id_token_hint_never_redirects() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register_for_logout(&app, None).await;
    let tokens = tokens_for(&app, &client, "openid").await;
    let hint = tokens["id_token"].as_str().unwrap();
    let mut parts: Vec<String> = hint.split('.').map(str::to_string).collect();
    let mut claims: Value = serde_json::from_slice(
        &data_encoding::BASE64URL_NOPAD
            .decode(parts[1].as_bytes())
            .unwrap(),
    )
    .unwrap();
    claims["sub"] = json!("someone-else");
    parts[1] = data_encoding::BASE64URL_NOPAD.encode(claims.to_string().as_bytes());
    let altered = parts.join(".");
    let stranger = sso_broker::oidc_provider::signing::generate_key().unwrap();
    let foreign = sso_broker::oidc_provider::signing::SigningKey::from_der(
        stranger.kid.clone(),
        stranger.private_der.expose_secret(),
    )
    .sign("JWT", &claims)
    .unwrap();
    for bad in [altered.as_str(), foreign.as_str(), "garbage"] {
        let res = app
            .get(&logout_path(&[
                ("id_token_hint", bad),
                ("post_logout_redirect_uri", AFTER_LOGOUT),
                ("state", "s-1"),
            ]))
            .await;
        assert_refused(res, "was not issued by this sign-in service").await;
    }
    assert_eq!(me_status(&app, &app.client).await, 200);
}

#[tokio::test]
async fn an_unregistered_post_logout_redirect_uri_is_an_error_page() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register_for_logout(&app, None).await;
    let tokens = tokens_for(&app, &client, "openid").await;
    let hint = tokens["id_token"].as_str().unwrap();
    let with_hint = logout_path(&[
        ("id_token_hint", hint),
        (
            "post_logout_redirect_uri",
            "http://127.0.0.1:9999/elsewhere",
        ),
    ]);
    assert_refused(app.get(&with_hint).await, "is not registered").await;
    let altered = format!("{AFTER_LOGOUT}/x");
    let with_client = logout_path(&[
        ("client_id", &client.id),
        ("post_logout_redirect_uri", &altered),
    ]);
    assert_refused(app.get(&with_client).await, "is not registered").await;
    let alone = logout_path(&[("post_logout_redirect_uri", AFTER_LOGOUT)]);
    assert_refused(
        app.get(&alone).await,
        "needs an id_token_hint or a client_id",
    )
    .await;
    let unknown = logout_path(&[
        ("client_id", "no-such-client"),
        ("post_logout_redirect_uri", AFTER_LOGOUT),
    ]);
    assert_refused(app.get(&unknown).await, "is not known").await;
    assert_eq!(me_status(&app, &app.client).await, 200);
}

#[tokio::test]
async fn without_a_hint_the_user_confirms_and_the_confirmation_logs_out() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register_for_logout(&app, None).await;
    tokens_for(&app, &client, "openid").await;
    let params = [
        ("client_id", client.id.as_str()),
        ("post_logout_redirect_uri", AFTER_LOGOUT),
        ("state", "s-2"),
    ];
    let res = app.get(&logout_path(&params)).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("<h1 id=\"title\">Sign out?</h1>"), "{html}");
    assert!(html.contains("/static/app.css"));
    assert!(html.contains("<button type=\"submit\" class=\"primary\">Sign out</button>"));
    assert_eq!(me_status(&app, &app.client).await, 200);
    // A relying party's form cannot carry the browser's CSRF token: no silent logout.
    let mut forged: Vec<(&str, &str)> = params.to_vec();
    forged.push(("confirm", "yes"));
    let res = app.post_form("/oauth2/logout", &forged).await;
    assert_ne!(res.status(), 303);
    let res = app.post_form("/oauth2/logout", &params).await;
    assert_eq!(
        res.status(),
        200,
        "an RP's POST is a request, not a confirmation"
    );
    assert_eq!(me_status(&app, &app.client).await, 200);
    let csrf = csrf_from(&html);
    let mut confirmed = forged.clone();
    confirmed.push(("csrf_token", &csrf));
    let res = app.post_form("/oauth2/logout", &confirmed).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{AFTER_LOGOUT}?state=s-2"));
    assert_eq!(me_status(&app, &app.client).await, 401);
}

#[tokio::test]
async fn logout_ends_the_sessions_online_refresh_families_but_not_offline_ones() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register_for_logout(&app, None).await;
    let online = tokens_for(&app, &client, "openid").await;
    let offline = tokens_for(&app, &client, "openid offline_access").await;
    let res = app
        .get(&logout_path(&[(
            "id_token_hint",
            online["id_token"].as_str().unwrap(),
        )]))
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?signed_out=1");
    assert_eq!(me_status(&app, &app.client).await, 401);
    let res = refresh(&app, &client, online["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let res = refresh(&app, &client, offline["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), 200);
    // The hint of an ended session still leads back to the client, without a page.
    let res = app
        .get(&logout_path(&[
            ("id_token_hint", online["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
        ]))
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), AFTER_LOGOUT);
}
