//! Invitation links stay single-purpose (SPEC §3.5, §3.8): spent when the user becomes active by
//! any route, and never acting on an active or disabled user.

use sso_broker::db::user::User;

use crate::helpers::{
    add_user, connect_saml, csrf_from, invitation_link, invite_from, saml_sign_in,
    signed_in_browser, sso_settings, TestApp, PASSWORD,
};

/// An admin `alan` of `acme` invites `nina@acme.example`; returns the link.
async fn invite_nina(app: &TestApp) -> String {
    app.create_account("acme").await;
    add_user(app, "acme", "alan", "admin").await;
    let browser = signed_in_browser(app, "alan").await;
    let res = invite_from(app, &browser, "nina@acme.example", "user").await;
    assert_eq!(res.status(), 303);
    invitation_link(app, "nina@acme.example").await
}

async fn nina(app: &TestApp) -> User {
    app.state
        .db
        .run(|conn| User::find_by_username(conn, "nina@acme.example"))
        .await
        .unwrap()
        .unwrap()
}

/// Posts a new password through the link from a fresh browser.
async fn accept(app: &TestApp, link: &str, password: &str) -> reqwest::Response {
    let browser = app.new_browser();
    let page = app.get_html_from(&browser, "/login").await;
    browser
        .post(app.url(link))
        .form(&[
            ("csrf_token", csrf_from(&page).as_str()),
            ("new_password", password),
            ("confirm_password", password),
        ])
        .send()
        .await
        .unwrap()
}

const NOT_PENDING: &str = "This user is already active or has been disabled";

#[tokio::test]
async fn an_invitation_never_replaces_an_active_users_password() {
    let app = crate::helpers::spawn_app().await;
    let link = invite_nina(&app).await;
    // Nina became active by a route that did not spend the link (as SSO sign-ins did).
    let id = nina(&app).await.id;
    let hash = sso_broker::auth::password::hash_password(&PASSWORD.into()).unwrap();
    let now = app.state.clock.now_naive();
    app.state
        .db
        .run(move |conn| {
            User::set_password_hash(conn, &id, &hash, now)?;
            User::set_status(conn, &id, "active", now)
        })
        .await
        .unwrap();
    let res = app.get(&link).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains(NOT_PENDING));
    let res = accept(&app, &link, "a password of the attacker").await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains(NOT_PENDING));
    let new_password = app
        .sign_in_from(
            &app.new_browser(),
            "nina@acme.example",
            "a password of the attacker",
            &[],
        )
        .await;
    assert_eq!(new_password.status(), 401, "the password is unchanged");
    let own = app
        .sign_in_from(&app.new_browser(), "nina@acme.example", PASSWORD, &[])
        .await;
    assert_eq!(own.status(), 303);
}

#[tokio::test]
async fn an_invitation_never_reactivates_a_disabled_user() {
    let app = crate::helpers::spawn_app().await;
    let link = invite_nina(&app).await;
    let id = nina(&app).await.id;
    let now = app.state.clock.now_naive();
    app.state
        .db
        .run(move |conn| User::set_status(conn, &id, "disabled", now))
        .await
        .unwrap();
    let res = accept(&app, &link, "nina's new password").await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains(NOT_PENDING));
    let user = nina(&app).await;
    assert_eq!(user.status, "disabled");
    assert!(user.password_hash.is_none());
}

#[tokio::test]
async fn a_temporary_password_spends_the_pending_invitation() {
    let app = crate::helpers::spawn_app().await;
    let link = invite_nina(&app).await;
    assert_eq!(
        app.put_sso("acme", sso_settings(true, false))
            .await
            .status(),
        200
    );
    // Rollback: Nina gets a temporary password and is active.
    assert_eq!(
        app.put_sso("acme", sso_settings(false, false))
            .await
            .status(),
        200
    );
    assert_eq!(nina(&app).await.status, "active");
    let id = nina(&app).await.id;
    let open = app
        .state
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use sso_broker::db::schema::invitations;
            invitations::table
                .filter(invitations::user_id.eq(id))
                .filter(invitations::used_at.is_null())
                .count()
                .get_result::<i64>(conn)
                .map_err(sso_broker::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(open, 0, "the invitation is spent");
    assert_eq!(app.get(&link).await.status(), 404);
}

#[tokio::test]
async fn a_first_sso_sign_in_spends_the_pending_invitation() {
    let app = crate::helpers::spawn_app().await;
    let link = invite_nina(&app).await;
    app.enable_sso("acme").await;
    let idp = sso_broker::sso::devidp::saml::DevSamlIdp::generate("acme-okta").unwrap();
    let connection = connect_saml(&app, "acme", &idp, false).await;
    let res = saml_sign_in(&app, "acme", &idp, &connection, "nina@acme.example", true).await;
    assert_eq!(res.status(), 303, "signed in with SSO");
    assert_eq!(nina(&app).await.status, "active");
    // The link sent before no longer leads anywhere.
    assert_eq!(app.get(&link).await.status(), 404);
    let res = accept(&app, &link, "a password set through an old link").await;
    assert_eq!(res.status(), 404);
    assert!(nina(&app).await.password_hash.is_none());
}
