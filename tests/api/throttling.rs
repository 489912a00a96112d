//! Throttling budgets (SPEC §3.1): refused "Log in with SSO" attempts and password guesses of
//! one address are counted apart; a browser that signed in before keeps its user's door open.

use sso_broker::domain::messages;

use crate::helpers::{csrf_from, spawn_app, spawn_app_with, start_sso, TestApp, PASSWORD};

async fn sso_attempt(app: &TestApp, account: &str) -> reqwest::Response {
    start_sso(app, account, "ada@acme.example.com").await
}

#[tokio::test]
async fn sso_typos_of_an_address_do_not_lock_out_its_password_users() {
    let app = spawn_app().await;
    app.with_user().await;
    for _ in 0..30 {
        let res = sso_attempt(&app, "no-such-account").await;
        assert!(res
            .text()
            .await
            .unwrap()
            .contains(messages::SSO_NOT_CONFIGURED));
    }
    // Probing /login/sso stays throttled...
    let res = sso_attempt(&app, "no-such-account").await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains(messages::THROTTLED));
    // ...while the same address still signs in with a password.
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn password_guesses_of_an_address_do_not_lock_out_its_sso_users() {
    let app = spawn_app().await;
    app.with_user().await;
    // Thirty guesses at as many names: the address's password budget is spent.
    for i in 0..30 {
        let res = app.sign_in(&format!("guess{i}"), "wrong password").await;
        assert_eq!(res.status(), 401);
    }
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 429);
    // "Log in with SSO" answers from its own budget (here: no connection, not the throttle).
    let res = sso_attempt(&app, "acme").await;
    let html = res.text().await.unwrap();
    assert!(html.contains(messages::SSO_NOT_CONFIGURED), "{html}");
    assert!(!html.contains(messages::THROTTLED));
}

/// One password attempt from `browser`, through the trusted proxy for `client`.
async fn attempt_from(
    app: &TestApp,
    browser: &reqwest::Client,
    client: &str,
    password: &str,
) -> reqwest::Response {
    let csrf = csrf_from(&app.get_html_from(browser, "/login").await);
    browser
        .post(app.url("/login"))
        .header("X-Forwarded-For", client)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "ada"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_browser_that_signed_in_before_is_not_locked_out_by_failures_from_elsewhere() {
    let app = spawn_app_with(|env| {
        env.insert("SSO_BROKER_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
    })
    .await;
    app.with_user().await;
    // Ada's own browser signs in once and gets a device cookie.
    let res = app.sign_in("ada", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert!(res
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("sso_broker_device=")));
    app.submit("/logout", "/logout", &[]).await;
    // An attacker elsewhere guesses Ada's password until both Ada and the address are locked.
    let attacker = app.new_browser();
    let mut last = None;
    for _ in 0..50 {
        last = Some(attempt_from(&app, &attacker, "203.0.113.9", "guess").await);
    }
    let last = last.unwrap();
    assert_eq!(last.status(), 429);
    assert!(last.text().await.unwrap().contains(messages::THROTTLED));
    let res = attempt_from(&app, &attacker, "203.0.113.9", PASSWORD).await;
    assert_eq!(res.status(), 429, "the attacker stays locked out");
    // A browser without the cookie is locked out of Ada's account, wherever it is...
    let fresh = app.new_browser();
    let res = attempt_from(&app, &fresh, "198.51.100.20", PASSWORD).await;
    assert_eq!(res.status(), 429);
    // ...but Ada's own browser signs in.
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 303);
    app.submit("/logout", "/logout", &[]).await;
    // The device has a small budget of its own.
    for _ in 0..5 {
        assert_eq!(app.sign_in("ada", "wrong").await.status(), 401);
    }
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 429);
}
