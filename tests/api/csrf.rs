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

/// The API has no forms: its answers set no CSRF cookie; the pages still do.
#[tokio::test]
async fn api_answers_set_no_csrf_cookie_and_pages_do() {
    use sso_broker::auth::csrf::COOKIE_NAME;
    let app = spawn_app().await;
    let browser = app.new_browser();
    let sets_csrf = |res: &reqwest::Response| {
        res.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with(&format!("{COOKIE_NAME}=")))
    };
    let get = |path: &str| browser.get(format!("{}{path}", app.address)).send();
    let api = get("/api/v1/me").await.unwrap();
    assert_eq!(api.status(), 401);
    assert!(!sets_csrf(&api), "an API answer sets no CSRF cookie");
    let page = get("/login").await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(sets_csrf(&page), "a page sets the CSRF cookie");
}
