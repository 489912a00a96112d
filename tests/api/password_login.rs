//! Password sign-in (SPEC §3.1).

use reqwest::Method;
use serde_json::{json, Value};
use sso_broker::domain::messages;

use crate::helpers::{location, spawn_app, PASSWORD};

#[tokio::test]
async fn login_page_has_the_stable_field_names() {
    let app = spawn_app().await;
    let html = app.get_html("/login").await;
    for field in [
        "name=\"username\"",
        "name=\"password\"",
        "name=\"csrf_token\"",
    ] {
        assert!(html.contains(field), "{field}");
    }
}

#[tokio::test]
async fn correct_password_signs_in_and_me_shows_the_identity() {
    let app = spawn_app().await;
    app.with_user().await;
    let res = app.sign_in("ada", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/");
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["username"], "ada");
    assert_eq!(me["email"], "ada@acme.example.com");
    assert_eq!(me["account"], "acme");
    assert_eq!(me["role"], "user");
    assert_eq!(me["auth_method"], "password");
    assert_eq!(me["idp"], Value::Null);
    assert_eq!(me["amr"], json!(["pwd"]));
    assert_eq!(me["mfa"], "no");
    let home = app.get_html("/").await;
    assert!(home.contains("Welcome, ada"));
}

#[tokio::test]
async fn usernames_are_case_insensitive() {
    let app = spawn_app().await;
    app.with_user().await;
    assert_eq!(app.sign_in("ADA", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    app.with_user().await;
    let wrong = app.sign_in("ada", "not the password").await;
    assert_eq!(wrong.status(), 401);
    let wrong = wrong.text().await.unwrap();
    let unknown = app.sign_in("nobody", "not the password").await;
    assert_eq!(unknown.status(), 401);
    let unknown = unknown.text().await.unwrap();
    assert!(wrong.contains(messages::INVALID_CREDENTIALS));
    assert!(unknown.contains(messages::INVALID_CREDENTIALS));
    assert_eq!(app.me().await.status(), 401);
    let audit = app.audit("acme").await;
    assert!(audit.iter().any(|e| e["action"] == "login.password"
        && e["outcome"] == "failure"
        && e["reason"] == "wrong_password"));
}

#[tokio::test]
async fn an_email_signs_in_only_when_it_names_exactly_one_user() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    app.create_user("acme", "solo", "solo@acme.example.com")
        .await;
    app.create_user("acme", "twin-a", "twins@acme.example.com")
        .await;
    app.create_user("acme", "twin-b", "twins@acme.example.com")
        .await;
    let ambiguous = app.sign_in("twins@acme.example.com", PASSWORD).await;
    assert_eq!(ambiguous.status(), 401);
    assert!(ambiguous
        .text()
        .await
        .unwrap()
        .contains(messages::INVALID_CREDENTIALS));
    let unique = app.sign_in("Solo@Acme.example.com", PASSWORD).await;
    assert_eq!(unique.status(), 303);
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["username"], "solo");
}

#[tokio::test]
async fn repeated_failures_are_throttled_even_for_the_right_password() {
    let app = spawn_app().await;
    app.with_user().await;
    for _ in 0..5 {
        assert_eq!(app.sign_in("ada", "wrong password").await.status(), 401);
    }
    let res = app.sign_in("ada", PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains(messages::THROTTLED));
    assert_eq!(app.me().await.status(), 401);
    // The window passes: the right password works again.
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn a_user_without_a_password_cannot_sign_in() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let body = json!({ "email": "inv@acme.example.com", "role": "user" });
    let res = app
        .api(Method::POST, "/api/v1/accounts/acme/users", Some(body))
        .await;
    assert_eq!(res.status(), 201);
    let res = app.sign_in("inv@acme.example.com", "").await;
    assert_eq!(res.status(), 422);
    let res = app.sign_in("inv@acme.example.com", "anything at all").await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn return_url_is_honoured_only_when_relative() {
    let app = spawn_app().await;
    app.with_user().await;
    let res = app
        .submit(
            "/login",
            "/login",
            &[
                ("username", "ada"),
                ("password", PASSWORD),
                ("return_to", "//evil.example/x"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/");
    let browser = app.new_browser();
    let res = app
        .sign_in_from(
            &browser,
            "ada",
            PASSWORD,
            &[("return_to", "/account/security")],
        )
        .await;
    assert_eq!(location(&res), "/account/security");
}

#[tokio::test]
async fn a_signed_in_browser_goes_on_to_its_page_but_an_authorization_asks_for_the_form() {
    let app = spawn_app().await;
    app.with_user().await;
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 303);
    let res = app.get("/login?return_to=%2Faccount%2Fsecurity").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account/security");
    // The OpenID Provider sends a signed-in browser here when it needs a new sign-in.
    let res = app
        .get("/login?username=ada&return_to=%2Foauth2%2Fauthorize%2Fcontinue%3Frequest%3Dr-1")
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("value=\"ada\""),
        "the login_hint prefills the username"
    );
    assert!(html.contains("/oauth2/authorize/continue?request=r-1"));
}
