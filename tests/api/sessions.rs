//! Sessions (SPEC §3.7): idle timeout, absolute lifetime, logout, revocation.

use chrono::Duration;
use reqwest::Method;
use serde_json::Value;
use sso_broker::domain::messages;

use crate::helpers::{location, me_status, signed_in_browser, spawn_app, PASSWORD};

#[tokio::test]
async fn an_idle_session_expires_with_the_spec_message() {
    let app = spawn_app().await;
    app.with_user().await;
    app.sign_in("ada", PASSWORD).await;
    app.clock.advance(Duration::minutes(29));
    assert_eq!(
        app.me().await.status(),
        200,
        "still within the idle timeout"
    );
    app.clock.advance(Duration::minutes(31));
    let res = app.get("/account/security").await;
    assert_eq!(location(&res), "/login?expired=1");
    assert!(app
        .get_html("/login?expired=1")
        .await
        .contains(messages::SESSION_EXPIRED));
    assert_eq!(app.me().await.status(), 401);
}

#[tokio::test]
async fn api_me_answers_401_json_with_the_expiry_message() {
    let app = spawn_app().await;
    app.with_user().await;
    app.sign_in("ada", PASSWORD).await;
    app.clock.advance(Duration::minutes(45));
    let res = app.me().await;
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "session_expired");
    assert_eq!(body["message"], messages::SESSION_EXPIRED);
}

#[tokio::test]
async fn an_active_session_still_ends_at_its_absolute_lifetime() {
    let app = spawn_app().await;
    app.with_user().await;
    app.sign_in("ada", PASSWORD).await;
    for _ in 0..35 {
        app.clock.advance(Duration::minutes(20));
        assert_eq!(app.me().await.status(), 200);
    }
    app.clock.advance(Duration::minutes(20));
    assert_eq!(app.me().await.status(), 401, "12 hours after sign-in");
}

#[tokio::test]
async fn logout_shows_a_form_and_ends_the_session() {
    let app = spawn_app().await;
    app.with_user().await;
    app.sign_in("ada", PASSWORD).await;
    let html = app.get_html("/logout").await;
    assert!(html.contains("name=\"csrf_token\""));
    let res = app.submit("/logout", "/logout", &[]).await;
    assert_eq!(location(&res), "/login?signed_out=1");
    assert_eq!(app.me().await.status(), 401);
    assert!(app
        .audit("acme")
        .await
        .iter()
        .any(|e| e["action"] == "logout"));
}

#[tokio::test]
async fn logout_without_csrf_token_is_refused() {
    let app = spawn_app().await;
    app.with_user().await;
    app.sign_in("ada", PASSWORD).await;
    let res = app.post_form("/logout", &[]).await;
    assert_eq!(res.status(), 403);
    assert_eq!(app.me().await.status(), 200, "still signed in");
}

#[tokio::test]
async fn revoking_a_users_sessions_signs_out_every_browser() {
    let app = spawn_app().await;
    app.with_user().await;
    app.sign_in("ada", PASSWORD).await;
    let second = app.new_browser();
    app.sign_in_from(&second, "ada", PASSWORD, &[]).await;
    assert_eq!(me_status(&app, &second).await, 200);

    let res = app
        .api(
            Method::DELETE,
            "/api/v1/accounts/acme/users/ada/sessions",
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["revoked"], 2);

    let body: Value = app.me().await.json().await.unwrap();
    assert_eq!(body["message"], messages::SESSION_EXPIRED);
    assert_eq!(me_status(&app, &second).await, 401);
    // Signing in again works.
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 303);
    assert_eq!(app.me().await.status(), 200);
}

#[tokio::test]
async fn session_cookie_is_http_only_and_same_site_lax() {
    let app = spawn_app().await;
    app.with_user().await;
    let res = app.sign_in("ada", PASSWORD).await;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("sso_broker_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
}

#[tokio::test]
async fn signing_in_again_over_an_expired_session_cookie_works() {
    let app = spawn_app().await;
    app.with_user().await;
    app.sign_in("ada", PASSWORD).await;
    // The login form was loaded while signed in; the session expires before it is posted.
    let csrf = crate::helpers::csrf_from(&app.get_html("/account/security").await);
    app.clock.advance(Duration::minutes(31));
    let res = app
        .post_form(
            "/login",
            &[
                ("csrf_token", csrf.as_str()),
                ("username", "ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(location(&res), "/");
    assert_eq!(app.me().await.status(), 200, "the new sign-in stuck");
}

#[tokio::test]
async fn changing_ones_password_ends_the_other_sessions_and_keeps_this_one() {
    let app = spawn_app().await;
    app.with_user().await;
    app.create_user("acme", "bob", "bob@acme.example.com").await;
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 303);
    let laptop = signed_in_browser(&app, "ada").await;
    let bob = signed_in_browser(&app, "bob").await;
    assert_eq!(me_status(&app, &laptop).await, 200);

    let new_password = "a brand new long password";
    let res = app
        .submit(
            "/account/security",
            "/account/security/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", new_password),
                ("confirm_password", new_password),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Your password was changed."));

    assert_eq!(
        me_status(&app, &laptop).await,
        401,
        "the other session ended"
    );
    assert_eq!(app.me().await.status(), 200, "this session goes on");
    assert_eq!(
        app.get("/account/security").await.status(),
        200,
        "and can still use its pages"
    );
    assert_eq!(
        me_status(&app, &bob).await,
        200,
        "other users are untouched"
    );
    assert_eq!(
        app.sign_in_from(&laptop, "ada", new_password, &[])
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn the_security_page_checks_the_user_like_every_page() {
    let app = crate::helpers::spawn_app().await;
    app.with_user().await;
    assert_eq!(
        app.sign_in("ada", crate::helpers::PASSWORD).await.status(),
        303
    );
    assert_eq!(app.get("/account/security").await.status(), 200);
    // Disabled behind the session's back (no revocation): the page still refuses.
    let now = sso_broker::clock::Clock::now_naive(&app.clock);
    app.state
        .db
        .run(move |conn| {
            let user = sso_broker::db::user::User::find_by_username(conn, "ada")?.unwrap();
            sso_broker::db::user::User::set_status(conn, &user.id, "disabled", now)
        })
        .await
        .unwrap();
    let res = app.get("/account/security").await;
    assert_eq!(res.status(), 303);
    assert_eq!(crate::helpers::location(&res), "/login?expired=1");
    let res = app
        .post_form("/account/security/password", &[("csrf_token", "x")])
        .await;
    assert_eq!(res.status(), 303, "a post is refused the same way");
}
