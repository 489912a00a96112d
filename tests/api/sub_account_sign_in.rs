//! Sub-accounts sign in through their nearest ancestor's connection unless they have their own
//! (SPEC §3.5: SSO is configured on the parent account), for Entra and SAML. The session is in
//! the sub-account the user asked for, and the trust rules (SPEC §3.8) count the ancestor's
//! connection as the sub-account's own.

use serde_json::Value;
use sso_broker::domain::messages;
use sso_broker::sso::devidp::saml::DevSamlIdp;

use crate::helpers::{
    add_dev_user, at_idp, broker_path, connect_saml, contoso_account, location, oid_of,
    saml_sign_in, spawn_app, spawn_entra_app, start_sso, CONTOSO,
};

#[tokio::test]
async fn a_sub_account_signs_in_through_its_parents_entra_tenant() {
    let (app, idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    app.create_sub_account("acme-eu", "acme").await;
    app.create_sub_account("acme-eu-paris", "acme-eu").await;
    app.create_user("acme-eu-paris", "eve", "eve@contoso.example")
        .await;
    add_dev_user(&idp, CONTOSO, "eve@contoso.example", "Eve", true);
    // Two levels down, no connection of its own: the nearest ancestor with one is `acme`.
    let res = start_sso(&app, "acme-eu-paris", "eve@contoso.example").await;
    assert_eq!(res.status(), 303);
    let authorize = location(&res);
    assert!(
        authorize.contains(&format!("/{CONTOSO}/oauth2/v2.0/authorize?")),
        "{authorize}"
    );
    let callback = at_idp(
        &authorize,
        Ok(&oid_of(&idp, CONTOSO, "eve@contoso.example")),
    )
    .await;
    let res = app.get(&broker_path(&callback)).await;
    assert_eq!(res.status(), 303, "signed in");
    let me = app.me_json().await;
    assert_eq!(me["username"], "eve");
    assert_eq!(
        me["account"], "acme-eu-paris",
        "the session is in the sub-account"
    );
    assert_eq!(me["auth_method"], "sso");
    // The next request keeps the session: the ancestor's connection admits the sub-account.
    assert_eq!(app.get("/").await.status(), 200);
}

#[tokio::test]
async fn a_sub_account_signs_in_through_its_parents_saml_connection() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    app.enable_sso("acme").await;
    let idp = DevSamlIdp::generate("acme-okta").unwrap();
    let connection = connect_saml(&app, "acme", &idp, false).await;
    app.create_sub_account("acme-eu", "acme").await;
    app.create_user("acme-eu", "eve", "eve@acme.example").await;
    let res = saml_sign_in(
        &app,
        "acme-eu",
        &idp,
        &connection,
        "eve@acme.example",
        false,
    )
    .await;
    assert_eq!(res.status(), 303, "signed in");
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["username"], "eve");
    assert_eq!(me["account"], "acme-eu");
    assert_eq!(app.get("/").await.status(), 200);
}

#[tokio::test]
async fn a_sub_account_with_its_own_connection_uses_it_and_not_its_parents() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    app.enable_sso("acme").await;
    let parent_idp = DevSamlIdp::generate("acme-okta").unwrap();
    let parent = connect_saml(&app, "acme", &parent_idp, false).await;
    app.create_sub_account("acme-eu", "acme").await;
    app.enable_sso("acme-eu").await;
    let own_idp = DevSamlIdp::generate("acme-eu-okta").unwrap();
    let own = connect_saml(&app, "acme-eu", &own_idp, false).await;
    app.create_user("acme-eu", "eve", "eve@acme.example").await;
    // A response of the parent's IdP to the parent's ACS does not answer this flow.
    let res = saml_sign_in(
        &app,
        "acme-eu",
        &parent_idp,
        &parent,
        "eve@acme.example",
        false,
    )
    .await;
    assert_ne!(res.status(), 303);
    assert_eq!(app.me().await.status(), 401);
    let res = saml_sign_in(&app, "acme-eu", &own_idp, &own, "eve@acme.example", false).await;
    assert_eq!(res.status(), 303);
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["account"], "acme-eu");
}

#[tokio::test]
async fn a_sub_account_of_a_parent_without_sso_is_not_configured() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let idp = DevSamlIdp::generate("acme-okta").unwrap();
    // Connected, but the parent never turned SSO on.
    connect_saml(&app, "acme", &idp, false).await;
    app.create_sub_account("acme-eu", "acme").await;
    app.create_user("acme-eu", "eve", "eve@acme.example").await;
    let res = start_sso(&app, "acme-eu", "eve@acme.example").await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains(messages::SSO_NOT_CONFIGURED), "{html}");
}
