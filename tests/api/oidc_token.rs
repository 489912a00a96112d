//! `POST /oauth2/token` (SPEC §7.2): code redemption (single use, PKCE, client binding),
//! tokens verified against the JWKS, refresh rotation and family revocation, and the checks
//! every refresh makes.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::spawn_app;
use crate::oidc_flow::{code_for, redeem, refresh, register, token, verify, REDIRECT_URI};

async fn json_of(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_code_is_redeemed_for_tokens_a_relying_party_verifies_with_the_jwks() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, false, &[]).await;
    let (code, verifier) = code_for(&app, &client, "ada", &[("scope", "openid email")]).await;
    let body = json_of(redeem(&app, &client, &code, &verifier).await, 200).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "openid email");
    assert!(body["refresh_token"].as_str().unwrap().len() >= 40);
    let access = body["access_token"].as_str().unwrap();
    let (id, typ) = verify(&app, body["id_token"].as_str().unwrap(), &client.id).await;
    assert_eq!(typ, "JWT");
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["azp"], client.id.as_str());
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["mfa"], "no");
    assert_eq!(id["idp"], Value::Null);
    assert_eq!(id["account"], "acme");
    assert_eq!(id["roles"], json!(["user"]));
    assert_eq!(
        id["at_hash"],
        sso_broker::oidc_provider::claims::at_hash(access)
    );
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(id["sub"], me["user"]);
    let (at, typ) = verify(&app, access, &client.id).await;
    assert_eq!(typ, "at+jwt");
    assert_eq!(at["client_id"], client.id.as_str());
    assert_eq!(at["sid"], id["sid"]);
    assert_eq!(at["scope"], "openid email");
    // The same session gives every client the same sid.
    let other = register(&app, true, &[]).await;
    let (code, verifier) = code_for(&app, &other, "ada", &[]).await;
    let body = json_of(redeem(&app, &other, &code, &verifier).await, 200).await;
    let (id2, _) = verify(&app, body["id_token"].as_str().unwrap(), &other.id).await;
    assert_eq!(id2["sid"], id["sid"]);
}

#[tokio::test]
async fn a_code_used_twice_is_refused_and_revokes_what_it_issued() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, true, &[]).await;
    let (code, verifier) = code_for(&app, &client, "ada", &[]).await;
    let first = json_of(redeem(&app, &client, &code, &verifier).await, 200).await;
    let second = json_of(redeem(&app, &client, &code, &verifier).await, 400).await;
    assert_eq!(second["error"], "invalid_grant");
    let res = refresh(&app, &client, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(json_of(res, 400).await["error"], "invalid_grant");
    let audit = app.audit("acme").await;
    assert!(audit.iter().any(|e| e["action"] == "oidc.code.reuse"));
}

#[tokio::test]
async fn a_wrong_verifier_another_clients_code_or_an_old_code_is_refused() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, true, &[]).await;
    let thief = register(&app, true, &[]).await;
    let (code, verifier) = code_for(&app, &client, "ada", &[]).await;
    let (_, other_verifier) = crate::oidc_flow::pkce();
    let res = redeem(&app, &client, &code, &other_verifier).await;
    assert_eq!(json_of(res, 400).await["error"], "invalid_grant");
    let res = redeem(&app, &thief, &code, &verifier).await;
    assert_eq!(json_of(res, 400).await["error"], "invalid_grant");
    let res = token(
        &app,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9999/other"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(json_of(res, 400).await["error"], "invalid_grant");
    // None of those spent the code; after 60 s it is gone anyway.
    app.clock.advance(chrono::Duration::seconds(61));
    let res = redeem(&app, &client, &code, &verifier).await;
    assert_eq!(json_of(res, 400).await["error"], "invalid_grant");
}

#[tokio::test]
async fn confidential_clients_authenticate_with_basic_or_post_and_a_wrong_secret_is_401() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, false, &[]).await;
    let (code, verifier) = code_for(&app, &client, "ada", &[]).await;
    let wrong = crate::oidc_flow::Client {
        id: client.id.clone(),
        secret: Some("wrong".into()),
    };
    let res = redeem(&app, &wrong, &code, &verifier).await;
    assert_eq!(res.headers()["www-authenticate"], "Basic realm=\"oauth2\"");
    assert_eq!(json_of(res, 401).await["error"], "invalid_client");
    let secret = client.secret.clone().unwrap();
    let res = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
            ("client_id", client.id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    json_of(res, 200).await;
    let res = token(&app, &client, &[("grant_type", "password")]).await;
    assert_eq!(json_of(res, 400).await["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_only_its_family() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, true, &[]).await;
    let other_client = register(&app, true, &[]).await;
    let (code, verifier) = code_for(&app, &client, "ada", &[]).await;
    let a = json_of(redeem(&app, &client, &code, &verifier).await, 200).await;
    let (code, verifier) = code_for(&app, &client, "ada", &[]).await;
    let b = json_of(redeem(&app, &client, &code, &verifier).await, 200).await;
    let a1 = a["refresh_token"].as_str().unwrap();
    let res = refresh(&app, &other_client, a1).await;
    assert_eq!(json_of(res, 400).await["error"], "invalid_grant");
    let a2 = json_of(refresh(&app, &client, a1).await, 200).await;
    let a2 = a2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(a2, a1);
    // a1 again: reuse → the family ends, a2 with it.
    let res = refresh(&app, &client, a1).await;
    assert_eq!(json_of(res, 400).await["error"], "invalid_grant");
    let res = refresh(&app, &client, &a2).await;
    assert_eq!(json_of(res, 400).await["error"], "invalid_grant");
    // The other family of the same user is untouched.
    let res = refresh(&app, &client, b["refresh_token"].as_str().unwrap()).await;
    json_of(res, 200).await;
    assert!(app
        .audit("acme")
        .await
        .iter()
        .any(|e| e["action"] == "oidc.refresh.reuse"));
    let metrics = app.get_html("/metrics").await;
    assert!(metrics
        .contains("sso_broker_oidc_tokens_total{grant=\"refresh_token\",outcome=\"refused\"}"));
}

#[tokio::test]
async fn refresh_ends_with_the_session_unless_offline_access_and_with_the_user() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, true, &[]).await;
    let (code, verifier) = code_for(&app, &client, "ada", &[]).await;
    let online = json_of(redeem(&app, &client, &code, &verifier).await, 200).await;
    let (code, verifier) =
        code_for(&app, &client, "ada", &[("scope", "openid offline_access")]).await;
    let offline = json_of(redeem(&app, &client, &code, &verifier).await, 200).await;
    // Logout ends the broker session: the online family ends, the offline one lives on.
    let csrf = crate::helpers::csrf_from(&app.get_html("/logout").await);
    app.post_form("/logout", &[("csrf_token", &csrf)]).await;
    let res = refresh(&app, &client, online["refresh_token"].as_str().unwrap()).await;
    assert_eq!(json_of(res, 400).await["error"], "invalid_grant");
    let next = json_of(
        refresh(&app, &client, offline["refresh_token"].as_str().unwrap()).await,
        200,
    )
    .await;
    // Disabling the user ends it too.
    let res = app
        .api(
            Method::PATCH,
            "/api/v1/accounts/acme/users/ada",
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = refresh(&app, &client, next["refresh_token"].as_str().unwrap()).await;
    assert_eq!(json_of(res, 400).await["error"], "invalid_grant");
}

#[tokio::test]
async fn refresh_ends_when_the_user_leaves_the_account_and_offline_families_after_the_window() {
    let app = spawn_app().await;
    app.with_user().await;
    app.create_account("globex").await;
    app.api(
        Method::POST,
        "/api/v1/accounts/globex/members",
        Some(json!({"username": "ada", "role": "user"})),
    )
    .await;
    let client = register(&app, true, &[]).await;
    let (code, verifier) = code_for(
        &app,
        &client,
        "ada",
        &[("account", "globex"), ("scope", "openid offline_access")],
    )
    .await;
    let globex = json_of(redeem(&app, &client, &code, &verifier).await, 200).await;
    let (code, verifier) =
        code_for(&app, &client, "ada", &[("scope", "openid offline_access")]).await;
    let acme = json_of(redeem(&app, &client, &code, &verifier).await, 200).await;
    let res = app
        .api(Method::DELETE, "/api/v1/accounts/globex/users/ada", None)
        .await;
    assert_eq!(res.status(), 204);
    let res = refresh(&app, &client, globex["refresh_token"].as_str().unwrap()).await;
    assert_eq!(json_of(res, 400).await["error"], "invalid_grant");
    app.clock.advance(chrono::Duration::days(31));
    let res = refresh(&app, &client, acme["refresh_token"].as_str().unwrap()).await;
    assert_eq!(json_of(res, 400).await["error"], "invalid_grant");
}
