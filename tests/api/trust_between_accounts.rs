//! Trust between accounts (SPEC §3.8), attacked as the admin of another account would: an
//! account's IdP claims a member whose home is another account, by email (SAML and Entra),
//! then switches into the victim's home account. Refused unless the account may claim the user.

use serde_json::{json, Value};
use sso_broker::clock::Clock;
use sso_broker::db::identity_link::IdentityLink;
use sso_broker::domain::messages;
use sso_broker::sso::devidp::saml::DevSamlIdp;
use sso_broker::sso::devidp::DevIdp;

use crate::helpers::{
    add_dev_user, add_membership, at_idp, broker_path, check_tenant, connect_entra, connect_saml,
    contoso_account, csrf_from, escaped, flow_to_callback, identity_links, location, me_status,
    oid_of, post_saml_response, saml_response, saml_sign_in, spawn_app, spawn_entra_app,
    sso_reasons, start_sso, verify_domain, TestApp, CONTOSO, FABRIKAM, PASSWORD,
    SAML_IDP_ENTITY as IDP_ENTITY,
};

const JANE: &str = "jane@acme.example";

/// `acme` (jane's home, where she is admin) signs in through its own SAML IdP, enforces SSO and
/// requires IdP MFA. `acme-eu` has another admin's SAML IdP — one that even names the same
/// entityID — which accepts IdP-initiated responses. Jane is also a member of `acme-eu`.
struct TwoAccounts {
    app: TestApp,
    acme_idp: DevSamlIdp,
    acme: Value,
    attacker_idp: DevSamlIdp,
    acme_eu: Value,
}

async fn two_accounts() -> TwoAccounts {
    let app = spawn_app().await;
    app.create_account("acme").await;
    app.create_account("acme-eu").await;
    app.create_user_with_role("acme", JANE, JANE, "admin").await;
    app.enable_sso("acme").await;
    let acme_idp = DevSamlIdp::generate("acme-okta").unwrap();
    let acme = connect_saml(&app, "acme", &acme_idp, false).await;
    let mut policy = crate::helpers::sso_settings(true, true);
    policy["require_idp_mfa"] = json!(true);
    assert_eq!(app.put_sso("acme", policy).await.status(), 200);
    app.enable_sso("acme-eu").await;
    let attacker_idp = DevSamlIdp::generate("attacker").unwrap();
    let acme_eu = connect_saml(&app, "acme-eu", &attacker_idp, true).await;
    add_membership(&app, JANE, "acme-eu", "user").await;
    TwoAccounts {
        app,
        acme_idp,
        acme,
        attacker_idp,
        acme_eu,
    }
}

async fn switch(app: &TestApp, account: &str) -> reqwest::Response {
    app.submit("/", "/account/switch", &[("account", account)])
        .await
}

#[tokio::test]
async fn another_accounts_saml_idp_cannot_claim_a_member_by_email() {
    let t = two_accounts().await;
    let app = &t.app;
    // SP-initiated: refused before the IdP is even asked.
    let res = start_sso(app, "acme-eu", JANE).await;
    assert_ne!(res.status(), 303, "no redirect to the attacker's IdP");
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::EMAIL_NOT_CONFIGURED));
    // IdP-initiated: a validly signed response of acme-eu's IdP naming jane.
    let spec = saml_response(app, &t.acme_eu, None, JANE, true);
    let res = post_saml_response(app, &t.attacker_idp, &t.acme_eu, &spec, None).await;
    assert_eq!(res.status(), 401);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::EMAIL_NOT_CONFIGURED));
    assert_eq!(app.me().await.status(), 401, "no session");
    let reasons = sso_reasons(app, "acme-eu").await;
    assert_eq!(
        reasons.iter().filter(|r| *r == "foreign_user").count(),
        2,
        "both attempts audited as foreign_user: {reasons:?}"
    );
    assert!(identity_links(app, JANE).await.is_empty(), "nothing linked");
    // Jane herself still signs in through acme's own IdP.
    let res = saml_sign_in(app, "acme", &t.acme_idp, &t.acme, JANE, true).await;
    assert_eq!(res.status(), 303);
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(
        (me["username"].as_str(), me["account"].as_str()),
        (Some(JANE), Some("acme"))
    );
}

#[tokio::test]
async fn a_member_linked_through_a_verified_domain_cannot_switch_into_an_enforcing_home() {
    let t = two_accounts().await;
    let app = &t.app;
    verify_domain(app, "acme-eu", "acme.example").await;
    let spec = saml_response(app, &t.acme_eu, None, JANE, true);
    let res = post_saml_response(app, &t.attacker_idp, &t.acme_eu, &spec, None).await;
    assert_eq!(res.status(), 303, "acme-eu owns the domain: linked");
    assert_eq!(identity_links(app, JANE).await.len(), 1);
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["account"], "acme-eu");
    // acme enforces SSO through its own IdP: acme-eu's sign-in does not carry into it.
    let res = switch(app, "acme").await;
    assert_eq!(res.status(), 403);
    let html = res.text().await.unwrap();
    assert!(html.contains(messages::OWN_SSO_REQUIRED), "{html}");
    assert!(
        html.replace("&#38;", "&")
            .contains("href=\"/login/sso?account=acme&email=jane%40acme.example\""),
        "a Log in with SSO link prefilled for acme: {html}"
    );
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["account"], "acme-eu", "still in acme-eu");
    // The link leads to acme's own sign-in, which then admits her into acme.
    let res = saml_sign_in(app, "acme", &t.acme_idp, &t.acme, JANE, true).await;
    assert_eq!(res.status(), 303);
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["account"], "acme");
    assert_eq!(
        identity_links(app, JANE).await.len(),
        2,
        "one identity per connection"
    );
}

#[tokio::test]
async fn switching_follows_what_the_target_account_admits_now() {
    let t = two_accounts().await;
    let app = &t.app;
    // Through acme's own IdP, with MFA: acme-eu (not enforcing) and back to acme are admitted.
    let res = saml_sign_in(app, "acme", &t.acme_idp, &t.acme, JANE, true).await;
    assert_eq!(res.status(), 303);
    assert_eq!(switch(app, "acme-eu").await.status(), 303);
    assert_eq!(switch(app, "acme").await.status(), 303);
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["account"], "acme");

    // A session without MFA evidence from acme's IdP, while acme-eu now requires IdP MFA.
    let mut eu = crate::helpers::sso_settings(true, false);
    eu["require_idp_mfa"] = json!(true);
    assert_eq!(app.put_sso("acme-eu", eu).await.status(), 200);
    let acme = crate::helpers::sso_settings(true, true);
    assert_eq!(app.put_sso("acme", acme).await.status(), 200);
    let res = saml_sign_in(app, "acme", &t.acme_idp, &t.acme, JANE, false).await;
    assert_eq!(res.status(), 303);
    let res = switch(app, "acme-eu").await;
    assert_eq!(res.status(), 403);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(&escaped(messages::IDP_MFA_MISSING)));

    // A password session cannot switch into an account that enforces SSO.
    let browser = app.new_browser();
    app.create_user("acme-eu", "pat", "pat@acme-eu.example")
        .await;
    add_membership(app, "pat", "acme", "user").await;
    let res = app.sign_in_from(&browser, "pat", PASSWORD, &[]).await;
    assert_eq!(res.status(), 303);
    let html = app.get_html_from(&browser, "/").await;
    let res = browser
        .post(app.url("/account/switch"))
        .form(&[
            ("csrf_token", csrf_from(&html).as_str()),
            ("account", "acme"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::OWN_SSO_REQUIRED));
}

/// `acme` (home of ada) signs in through Contoso. `acme-eu` is connected by its own admin to
/// Fabrikam, a tenant they control, whose directory also holds an `ada@contoso.example` that
/// the tenant claims is verified. Ada is a member of `acme-eu`.
async fn entra_two_accounts() -> (TestApp, std::sync::Arc<DevIdp>) {
    let (app, idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    idp.update_tenant(FABRIKAM, |t| t.consented = true);
    add_dev_user(&idp, FABRIKAM, "ada@contoso.example", "Not Ada", true);
    app.create_account("acme-eu").await;
    app.enable_sso("acme-eu").await;
    connect_entra(&app, "acme-eu", FABRIKAM).await;
    add_membership(&app, "ada", "acme-eu", "user").await;
    (app, idp)
}

#[tokio::test]
async fn another_accounts_entra_tenant_cannot_claim_a_member_by_email() {
    let (app, idp) = entra_two_accounts().await;
    let res = start_sso(&app, "acme-eu", "ada@contoso.example").await;
    assert_ne!(res.status(), 303, "no redirect to the attacker's tenant");
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::EMAIL_NOT_CONFIGURED));
    assert!(sso_reasons(&app, "acme-eu")
        .await
        .contains(&"foreign_user".to_string()));

    // While acme-eu held a verified claim on contoso.example the flow could start; the claim is
    // gone by the time the token comes back, and the callback judges what holds then.
    verify_domain(&app, "acme-eu", "contoso.example").await;
    let res = start_sso(&app, "acme-eu", "ada@contoso.example").await;
    assert_eq!(res.status(), 303);
    let callback = at_idp(
        &location(&res),
        Ok(&oid_of(&idp, FABRIKAM, "ada@contoso.example")),
    )
    .await;
    app.state
        .db
        .run(|conn| {
            let claim =
                sso_broker::db::domain::Domain::find_verified(conn, "contoso.example")?.unwrap();
            sso_broker::db::domain::Domain::delete(conn, &claim.id)
        })
        .await
        .unwrap();
    let res = app.get(&broker_path(&callback)).await;
    assert_eq!(res.status(), 401);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::EMAIL_NOT_CONFIGURED));
    assert_eq!(app.me().await.status(), 401, "no session");
    let reasons = sso_reasons(&app, "acme-eu").await;
    assert_eq!(
        reasons.iter().filter(|r| *r == "foreign_user").count(),
        2,
        "{reasons:?}"
    );
    assert!(
        identity_links(&app, "ada").await.is_empty(),
        "nothing linked"
    );
}

#[tokio::test]
async fn an_entra_identity_is_linked_when_the_domain_is_verified_by_that_account() {
    let (app, idp) = entra_two_accounts().await;
    verify_domain(&app, "acme-eu", "contoso.example").await;
    let res = start_sso(&app, "acme-eu", "ada@contoso.example").await;
    assert_eq!(res.status(), 303);
    let callback = at_idp(
        &location(&res),
        Ok(&oid_of(&idp, FABRIKAM, "ada@contoso.example")),
    )
    .await;
    let res = app.get(&broker_path(&callback)).await;
    assert_eq!(res.status(), 303);
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(
        (me["username"].as_str(), me["account"].as_str()),
        (Some("ada"), Some("acme-eu"))
    );
    assert_eq!(identity_links(&app, "ada").await.len(), 1);
}

#[tokio::test]
async fn revoking_the_tenant_ends_the_sessions_it_admitted() {
    let (app, idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    let callback = flow_to_callback(
        &app,
        "ada@contoso.example",
        &oid_of(&idp, CONTOSO, "ada@contoso.example"),
    )
    .await;
    assert_eq!(app.get(&broker_path(&callback)).await.status(), 303);
    assert_eq!(app.me().await.status(), 200);
    // The customer removes the app; the re-check marks the tenant revoked.
    idp.update_tenant(CONTOSO, |t| t.consented = false);
    let res = check_tenant(&app, "acme", CONTOSO).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "revoked");
    let res = app.get("/").await;
    assert_eq!(location(&res), "/login?expired=1", "the session ended");
    assert_eq!(app.me().await.status(), 401);
}

/// A revoked tenant approved again later does not revive the sessions the first approval
/// admitted: they ended with the revocation even if no request came in between.
#[tokio::test]
async fn approving_a_revoked_tenant_again_does_not_revive_its_old_sessions() {
    let (app, idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    let ada = oid_of(&idp, CONTOSO, "ada@contoso.example");
    let callback = flow_to_callback(&app, "ada@contoso.example", &ada).await;
    assert_eq!(app.get(&broker_path(&callback)).await.status(), 303);
    assert_eq!(app.me().await.status(), 200);
    let check = || async {
        let res = check_tenant(&app, "acme", CONTOSO).await;
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["status"].clone()
    };
    app.clock.advance(chrono::Duration::minutes(1));
    idp.update_tenant(CONTOSO, |t| t.consented = false);
    assert_eq!(check().await, "revoked");
    // The customer consents again before Ada's browser comes back.
    app.clock.advance(chrono::Duration::minutes(1));
    idp.update_tenant(CONTOSO, |t| t.consented = true);
    assert_eq!(check().await, "approved");
    let res = app.get("/").await;
    assert_eq!(
        location(&res),
        "/login?expired=1",
        "the old session stays ended"
    );
    // A fresh sign-in under the new approval works.
    let callback = flow_to_callback(&app, "ada@contoso.example", &ada).await;
    assert_eq!(app.get(&broker_path(&callback)).await.status(), 303);
    assert_eq!(app.get("/").await.status(), 200);
}

#[tokio::test]
async fn deleting_the_saml_connection_ends_the_sessions_it_admitted() {
    let t = two_accounts().await;
    let app = &t.app;
    let res = saml_sign_in(app, "acme", &t.acme_idp, &t.acme, JANE, true).await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.me().await.status(), 200);
    // A password session of another user is not touched.
    let browser = app.new_browser();
    app.create_user("acme-eu", "pat", "pat@acme-eu.example")
        .await;
    assert_eq!(
        app.sign_in_from(&browser, "pat", PASSWORD, &[])
            .await
            .status(),
        303
    );
    let id = t.acme["id"].as_str().unwrap().to_string();
    app.state
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            diesel::delete(
                sso_broker::db::schema::connections::table
                    .filter(sso_broker::db::schema::connections::id.eq(id)),
            )
            .execute(conn)
            .map_err(sso_broker::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(app.me().await.status(), 401, "the SSO session ended");
    assert_eq!(
        me_status(app, &browser).await,
        200,
        "the password session stays"
    );
}

#[tokio::test]
async fn a_link_made_before_the_trust_rules_no_longer_admits_another_accounts_user() {
    let t = two_accounts().await;
    let app = &t.app;
    // The old hole left a link from acme-eu's IdP to jane (home acme) behind.
    let issuer = format!("saml:{}:{IDP_ENTITY}", t.acme_eu["id"].as_str().unwrap());
    let now = app.clock.now_naive();
    app.state
        .db
        .run(move |conn| {
            let user = sso_broker::db::user::User::find_by_username(conn, JANE)?.unwrap();
            IdentityLink {
                id: uuid::Uuid::new_v4().to_string(),
                user_id: user.id,
                kind: "saml".into(),
                issuer,
                subject: JANE.into(),
                created_at: now,
                last_used_at: None,
            }
            .insert(conn)
        })
        .await
        .unwrap();
    let spec = saml_response(app, &t.acme_eu, None, JANE, true);
    let res = post_saml_response(app, &t.attacker_idp, &t.acme_eu, &spec, None).await;
    assert_eq!(res.status(), 401);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::EMAIL_NOT_CONFIGURED));
    assert_eq!(app.me().await.status(), 401, "no session");
    assert!(sso_reasons(app, "acme-eu")
        .await
        .contains(&"foreign_user".to_string()));
}
