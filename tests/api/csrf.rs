//! CSRF protection on forms (§6.4: every form carries `csrf_token`).

use sso_broker::domain::messages;

use crate::helpers::{csrf_from, spawn_app, PASSWORD};

#[tokio::test]
async fn login_without_csrf_token_is_refused_and_signs_nobody_in() {
    let app = spawn_app().await;
    app.with_user().await;
    app.get("/login").await;
    let res = app
        .post_form("/login", &[("username", "ada"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains(messages::FORM_EXPIRED));
    assert_eq!(app.me().await.status(), 401);
}

#[tokio::test]
async fn a_forged_csrf_token_is_refused() {
    let app = spawn_app().await;
    app.with_user().await;
    app.get("/login").await;
    let res = app
        .post_form(
            "/login",
            &[
                ("csrf_token", "Zm9yZ2Vk"),
                ("username", "ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(app.me().await.status(), 401);
}

#[tokio::test]
async fn a_token_from_another_browser_is_refused() {
    let app = spawn_app().await;
    app.with_user().await;
    let attacker = app.new_browser();
    let html = app.get_html_from(&attacker, "/login").await;
    let attackers_token = csrf_from(&html);
    app.get("/login").await;
    let res = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &attackers_token),
                ("username", "ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn every_form_page_carries_a_csrf_token() {
    let app = spawn_app().await;
    app.with_user().await;
    for page in ["/login", "/login/sso"] {
        assert!(
            app.get_html(page).await.contains("name=\"csrf_token\""),
            "{page}"
        );
    }
    app.sign_in("ada", PASSWORD).await;
    for page in ["/logout", "/account/security"] {
        assert!(
            app.get_html(page).await.contains("name=\"csrf_token\""),
            "{page}"
        );
    }
}
