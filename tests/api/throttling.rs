//! Throttling budgets (SPEC §3.1): refused "Log in with SSO" attempts and password guesses of
//! one address are counted apart; a browser that signed in before keeps its user's door open.

use sso_broker::domain::messages;

use crate::helpers::{spawn_app, TestApp, PASSWORD};

async fn sso_attempt(app: &TestApp, account: &str) -> reqwest::Response {
    app.submit(
        "/login/sso",
        "/login/sso",
        &[("account", account), ("email", "ada@acme.example.com")],
    )
    .await
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
