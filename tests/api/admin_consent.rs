//! "Connect Microsoft Entra ID" (SPEC §3.3) in the browser: admin sign-in, consent, callback
//! checks, and the refusals that record nothing.

use sso_broker::domain::messages;
use sso_broker::sso::devidp::{DevIdp, DevUser};

use crate::helpers::{
    broker_path, dev_user, entra_tenants, location, oid_of, post_idp_form, sign_in_admin,
    spawn_entra_app, start_sso, TestApp, CONTOSO, FABRIKAM, PASSWORD,
};

/// Account `acme` with admin `boss` signed in; Contoso has not consented yet and has an IT admin.
async fn admin_signed_in(app: &TestApp, idp: &DevIdp) -> String {
    idp.update_tenant(CONTOSO, |t| {
        t.consented = false;
        t.users.push(DevUser {
            oid: "0000cccc-0000-4000-8000-00000000000c".into(),
            email: "it-admin@contoso.example".into(),
            name: "IT Admin".into(),
            email_verified: true,
            wids: vec![sso_broker::sso::entra::admin_roles::GLOBAL_ADMINISTRATOR.into()],
        });
    });
    app.create_account("acme").await;
    app.enable_sso("acme").await;
    sign_in_admin(app, "acme", "boss").await;
    "0000cccc-0000-4000-8000-00000000000c".to_string()
}

/// Clicks "Connect Microsoft Entra ID" on /admin/entra (a form POST with its csrf_token).
async fn start_consent(app: &TestApp) -> reqwest::Response {
    let page = app.get_html("/admin/entra").await;
    assert!(
        page.contains("<form method=\"post\" action=\"/admin-consent/start\">"),
        "{page}"
    );
    app.submit("/admin/entra", "/admin-consent/start", &[])
        .await
}

/// Runs steps 1–2: returns the IdP's admin-consent URL.
async fn to_consent_page(app: &TestApp, admin_oid: &str) -> String {
    let res = start_consent(app).await;
    assert_eq!(res.status(), 303);
    let authorize = location(&res);
    assert!(
        authorize.contains("/organizations/oauth2/v2.0/authorize?"),
        "{authorize}"
    );
    let callback = post_idp_form(&authorize, &[("oid", admin_oid)]).await;
    let res = app.get(&broker_path(&callback)).await;
    assert_eq!(
        res.status(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let consent = location(&res);
    assert!(
        consent.contains(&format!("/{CONTOSO}/v2.0/adminconsent?")),
        "{consent}"
    );
    assert!(
        consent.contains("scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"),
        "{consent}"
    );
    consent
}

#[tokio::test]
async fn an_admin_connects_the_tenant_and_its_users_can_sign_in() {
    let (app, idp) = spawn_entra_app().await;
    let admin = admin_signed_in(&app, &idp).await;
    let consent = to_consent_page(&app, &admin).await;
    let back = post_idp_form(&consent, &[("decision", "accept")]).await;
    assert!(
        back.contains("admin_consent=True") && back.contains(&format!("tenant={CONTOSO}")),
        "{back}"
    );
    let res = app.get(&broker_path(&back)).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/admin/entra?connected={CONTOSO}"));
    let listed = entra_tenants(&app, "acme").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "approved");
    assert_eq!(listed[0]["display_name"], "Contoso");
    let page = app.get_html(&location(&res)).await;
    assert!(
        page.contains("Contoso") && page.contains("is connected"),
        "{page}"
    );
    // The admin's tenant is now usable: its user can log in with SSO.
    app.create_user("acme", "ada", "ada@contoso.example").await;
    app.submit("/logout", "/logout", &[]).await;
    let res = start_sso(&app, "acme", "ada@contoso.example").await;
    assert_eq!(
        res.status(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
}

#[tokio::test]
async fn a_declined_consent_with_admin_consent_true_records_nothing() {
    let (app, idp) = spawn_entra_app().await;
    let admin = admin_signed_in(&app, &idp).await;
    let consent = to_consent_page(&app, &admin).await;
    let back = post_idp_form(&consent, &[("decision", "decline")]).await;
    assert!(
        back.contains("admin_consent=True") && back.contains("error=access_denied"),
        "{back}"
    );
    let res = app.get(&broker_path(&back)).await;
    assert_eq!(res.status(), 400);
    assert!(
        !res.text().await.unwrap().contains("AADSTS"),
        "no raw IdP text"
    );
    assert!(entra_tenants(&app, "acme").await.is_empty());
}

#[tokio::test]
async fn a_forged_tenant_parameter_records_nothing() {
    let (app, idp) = spawn_entra_app().await;
    let admin = admin_signed_in(&app, &idp).await;
    idp.update_tenant(FABRIKAM, |t| t.consented = true);
    let consent = to_consent_page(&app, &admin).await;
    let back = post_idp_form(&consent, &[("decision", "accept")]).await;
    let forged = back.replace(CONTOSO, FABRIKAM);
    let res = app.get(&broker_path(&forged)).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("different tenant"));
    assert!(
        entra_tenants(&app, "acme").await.is_empty(),
        "neither tenant recorded"
    );
    let audit = app.audit("acme").await;
    assert!(audit.iter().any(|e| e["action"] == "entra.admin_consent"
        && e["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("tenant_mismatch")));
}

#[tokio::test]
async fn a_consent_state_is_good_for_one_answer_from_the_same_admin() {
    let (app, idp) = spawn_entra_app().await;
    let admin = admin_signed_in(&app, &idp).await;
    let consent = to_consent_page(&app, &admin).await;
    let back = post_idp_form(&consent, &[("decision", "accept")]).await;
    // Another browser (no sign-in, no flow cookie) cannot use it.
    let stranger = app.new_browser();
    let res = stranger
        .get(app.url(&broker_path(&back)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::SESSION_EXPIRED));
    assert!(entra_tenants(&app, "acme").await.is_empty());
    // That attempt used the state up; the admin starts again, succeeds, and a replay of the
    // successful answer is refused.
    let consent = to_consent_page(&app, &admin).await;
    let back = post_idp_form(&consent, &[("decision", "accept")]).await;
    assert_eq!(app.get(&broker_path(&back)).await.status(), 303);
    let res = app.get(&broker_path(&back)).await;
    assert_eq!(res.status(), 400, "replayed state");
}

#[tokio::test]
async fn only_account_admins_may_connect_entra() {
    let (app, _idp) = spawn_entra_app().await;
    app.create_account("acme").await;
    app.enable_sso("acme").await;
    app.create_user("acme", "ada", "ada@acme.example.com").await;
    assert_eq!(
        location(&app.post_form("/admin-consent/start", &[]).await),
        "/login",
        "anonymous"
    );
    assert_eq!(
        location(&app.get("/admin/entra").await),
        "/login",
        "anonymous"
    );
    app.sign_in("ada", PASSWORD).await;
    assert_eq!(
        app.submit("/login/sso", "/admin-consent/start", &[])
            .await
            .status(),
        403
    );
    assert_eq!(app.get("/admin-consent/start").await.status(), 403);
    assert_eq!(app.get("/admin/entra").await.status(), 403);
}

#[tokio::test]
async fn a_tenant_member_who_is_not_a_directory_admin_cannot_connect_the_tenant() {
    let (app, idp) = spawn_entra_app().await;
    admin_signed_in(&app, &idp).await;
    // Ada is an ordinary Contoso user (no admin directory role in `wids`), even if Contoso
    // consented for another customer of the broker already.
    idp.update_tenant(CONTOSO, |t| t.consented = true);
    let ada = oid_of(&idp, CONTOSO, "ada@contoso.example");
    let res = start_consent(&app).await;
    let callback = post_idp_form(&location(&res), &[("oid", &ada)]).await;
    let res = app.get(&broker_path(&callback)).await;
    assert_eq!(res.status(), 401);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Global Administrator or Privileged Role Administrator"));
    assert!(entra_tenants(&app, "acme").await.is_empty());
    let audit = app.audit("acme").await;
    assert!(audit
        .iter()
        .any(|e| e["action"] == "entra.admin_consent" && e["reason"] == "not_tenant_admin"));
}

#[tokio::test]
async fn a_get_shows_the_button_and_a_post_without_a_valid_csrf_token_starts_nothing() {
    let (app, idp) = spawn_entra_app().await;
    admin_signed_in(&app, &idp).await;
    let res = app.get("/admin-consent/start").await;
    assert_eq!(
        res.status(),
        200,
        "a GET shows the page, it redirects nowhere"
    );
    assert!(res.cookies().all(|c| c.name() != "sso_broker_flow"));
    let page = res.text().await.unwrap();
    assert!(
        page.contains("<form method=\"post\" action=\"/admin-consent/start\">")
            && page.contains("Connect Microsoft Entra ID"),
        "{page}"
    );
    for form in [vec![], vec![("csrf_token", "forged")]] {
        let res = app.post_form("/admin-consent/start", &form).await;
        assert_eq!(res.status(), 403, "{form:?}");
        assert!(location(&res).is_empty());
        assert!(res.cookies().all(|c| c.name() != "sso_broker_flow"));
        assert!(res.text().await.unwrap().contains(messages::FORM_EXPIRED));
    }
    let audit = app.audit("acme").await;
    assert!(
        !audit.iter().any(|e| e["reason"] == "admin_consent_started"),
        "{audit:?}"
    );
    // The same admin's button works.
    assert_eq!(start_consent(&app).await.status(), 303);
    assert!(app
        .audit("acme")
        .await
        .iter()
        .any(|e| e["reason"] == "admin_consent_started"));
}

/// Adds a Contoso user holding `role` (a directory role template id); returns its oid.
fn contoso_user_with_role(idp: &DevIdp, name: &str, role: &str) -> String {
    let oid = uuid::Uuid::new_v4().to_string();
    let user = DevUser {
        wids: vec![role.into()],
        ..dev_user(&oid, &format!("{name}@contoso.example"))
    };
    idp.update_tenant(CONTOSO, |t| t.users.push(user));
    oid
}

#[tokio::test]
async fn application_administrators_cannot_connect_the_tenant() {
    use sso_broker::sso::entra::admin_roles::{
        APPLICATION_ADMINISTRATOR, CLOUD_APPLICATION_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR,
    };
    let (app, idp) = spawn_entra_app().await;
    admin_signed_in(&app, &idp).await;
    // Microsoft: these roles cannot grant consent to Microsoft Graph application permissions,
    // which the broker asks for (Organization.Read.All).
    for (name, role) in [
        ("app-admin", APPLICATION_ADMINISTRATOR),
        ("cloud-app-admin", CLOUD_APPLICATION_ADMINISTRATOR),
    ] {
        let oid = contoso_user_with_role(&idp, name, role);
        let res = start_consent(&app).await;
        let callback = post_idp_form(&location(&res), &[("oid", &oid)]).await;
        let res = app.get(&broker_path(&callback)).await;
        assert_eq!(res.status(), 401, "{name}");
        let page = res.text().await.unwrap();
        assert!(
            page.contains(
                "sign in with a Microsoft account that is a Global Administrator or Privileged Role Administrator"
            ),
            "{page}"
        );
        assert!(
            entra_tenants(&app, "acme").await.is_empty(),
            "{name}: no tenant approved"
        );
    }
    let refusals = app
        .audit("acme")
        .await
        .into_iter()
        .filter(|e| {
            e["action"] == "entra.admin_consent"
                && e["outcome"] == "failure"
                && e["reason"] == "not_tenant_admin"
        })
        .count();
    assert_eq!(refusals, 2);
    // A Privileged Role Administrator may: the flow goes on to the consent page.
    let pra = contoso_user_with_role(&idp, "pra", PRIVILEGED_ROLE_ADMINISTRATOR);
    let consent = to_consent_page(&app, &pra).await;
    let back = post_idp_form(&consent, &[("decision", "accept")]).await;
    assert_eq!(app.get(&broker_path(&back)).await.status(), 303);
    assert_eq!(entra_tenants(&app, "acme").await.len(), 1);
}
