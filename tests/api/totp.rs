//! TOTP enrollment and the second sign-in step (SPEC §3.1).

use chrono::Duration;
use serde_json::{json, Value};
use sso_broker::domain::messages;

use crate::helpers::{location, spawn_app, TestApp, PASSWORD};

async fn enrolled_app() -> (TestApp, sso_broker::auth::totp::TotpSecret, Vec<String>) {
    let app = spawn_app().await;
    let (secret, codes) = app.with_totp_user().await;
    app.submit("/logout", "/logout", &[]).await;
    // Leave the enrollment step behind so its code counts as used.
    app.clock.advance(Duration::seconds(90));
    (app, secret, codes)
}

#[tokio::test]
async fn security_page_shows_the_otpauth_uri_and_a_qr_code() {
    let app = spawn_app().await;
    app.with_user().await;
    app.sign_in("ada", PASSWORD).await;
    let html = app.get_html("/account/security").await;
    assert!(html.contains("otpauth://totp/sso-broker:ada?secret="));
    assert!(html.contains("<svg"));
    // Reloading keeps the same secret (an app may have scanned it already).
    let again = app.get_html("/account/security").await;
    let uri = |h: &str| {
        h[h.find("otpauth://").unwrap()..]
            .split('<')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(uri(&html), uri(&again));
}

#[tokio::test]
async fn enrollment_needs_a_valid_first_code() {
    let app = spawn_app().await;
    app.with_user().await;
    app.sign_in("ada", PASSWORD).await;
    let res = app
        .submit(
            "/account/security",
            "/account/security/totp",
            &[("code", "000000")],
        )
        .await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains(messages::INVALID_OTP));
    let html = app.get_html("/account/security").await;
    assert!(html.contains("otpauth://"), "still not enrolled");
}

#[tokio::test]
async fn password_then_code_signs_in_with_mfa() {
    let (app, secret, _) = enrolled_app().await;
    let res = app.sign_in("ada", PASSWORD).await;
    assert_eq!(location(&res), "/login/otp");
    let code = app.current_code(&secret);
    let res = app
        .submit("/login/otp", "/login/otp", &[("code", &code)])
        .await;
    assert_eq!(res.status(), 303);
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["auth_method"], "password+totp");
    assert_eq!(me["mfa"], "yes");
    assert_eq!(me["amr"], json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn the_code_step_cannot_be_skipped() {
    let (app, _, _) = enrolled_app().await;
    let res = app.sign_in("ada", PASSWORD).await;
    assert_eq!(location(&res), "/login/otp");
    assert_eq!(app.me().await.status(), 401);
    assert_eq!(location(&app.get("/account/security").await), "/login");
    assert_eq!(location(&app.get("/").await), "/login");
}

#[tokio::test]
async fn otp_page_without_a_password_step_goes_back_to_login() {
    let app = spawn_app().await;
    assert_eq!(location(&app.get("/login/otp").await), "/login");
}

#[tokio::test]
async fn a_code_is_accepted_once() {
    let (app, secret, _) = enrolled_app().await;
    let code = app.current_code(&secret);
    app.sign_in("ada", PASSWORD).await;
    assert_eq!(
        app.submit("/login/otp", "/login/otp", &[("code", &code)])
            .await
            .status(),
        303
    );
    app.submit("/logout", "/logout", &[]).await;
    app.sign_in("ada", PASSWORD).await;
    let replay = app
        .submit("/login/otp", "/login/otp", &[("code", &code)])
        .await;
    assert_eq!(replay.status(), 401);
    assert!(replay.text().await.unwrap().contains(messages::INVALID_OTP));
    assert_eq!(app.me().await.status(), 401);
    let audit = app.audit("acme").await;
    assert!(audit
        .iter()
        .any(|e| e["action"] == "login.second_factor" && e["reason"] == "replayed_code"));
    // The next time step gives a fresh code that works.
    app.clock.advance(Duration::seconds(30));
    let next = app.current_code(&secret);
    assert_eq!(
        app.submit("/login/otp", "/login/otp", &[("code", &next)])
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let (app, _, codes) = enrolled_app().await;
    app.sign_in("ada", PASSWORD).await;
    let res = app
        .submit(
            "/login/otp",
            "/login/otp",
            &[("code", &codes[0].to_uppercase())],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.me().await.json::<Value>().await.unwrap()["mfa"], "yes");
    app.submit("/logout", "/logout", &[]).await;
    app.sign_in("ada", PASSWORD).await;
    assert_eq!(
        app.submit("/login/otp", "/login/otp", &[("code", &codes[0])])
            .await
            .status(),
        401
    );
    assert_eq!(
        app.submit("/login/otp", "/login/otp", &[("code", &codes[1])])
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn the_code_step_expires_after_five_minutes() {
    let (app, secret, _) = enrolled_app().await;
    app.sign_in("ada", PASSWORD).await;
    app.clock.advance(Duration::minutes(6));
    let code = app.current_code(&secret);
    let res = app.submit("/login", "/login/otp", &[("code", &code)]).await;
    assert_eq!(location(&res), "/login?expired=1");
    assert_eq!(app.me().await.status(), 401);
    assert!(app
        .get_html("/login?expired=1")
        .await
        .contains(messages::SESSION_EXPIRED));
}

#[tokio::test]
async fn session_id_is_renewed_after_the_code_step() {
    let (app, secret, _) = enrolled_app().await;
    let res = app.sign_in("ada", PASSWORD).await;
    let pending_cookie = res
        .cookies()
        .find(|c| c.name() == "sso_broker_session")
        .unwrap()
        .value()
        .to_string();
    let code = app.current_code(&secret);
    let res = app
        .submit("/login/otp", "/login/otp", &[("code", &code)])
        .await;
    let signed_in_cookie = res
        .cookies()
        .find(|c| c.name() == "sso_broker_session")
        .unwrap()
        .value()
        .to_string();
    assert_ne!(pending_cookie, signed_in_cookie);
    // The pre-sign-in cookie (e.g. planted by an attacker) does not carry the sign-in.
    let other = reqwest::Client::new();
    let res = other
        .get(app.url("/api/v1/me"))
        .header("Cookie", format!("sso_broker_session={pending_cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
