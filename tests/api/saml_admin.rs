//! `/admin/saml` (account admins only): importing IdP metadata, and certificate rollover — the
//! next certificate trusted beside the current one, then the old one removed.

use sso_broker::sso::devidp::saml::DevSamlIdp;

use crate::helpers::{
    add_user, connect_saml, csrf_from, identity_links, saml_response, signed_in_browser, spawn_app,
    spawn_saml_app, Saml, TestApp, PASSWORD, SAML_ACCOUNT as ACCOUNT, SAML_EMAIL as EMAIL,
    SAML_IDP_ENTITY as IDP_ENTITY, SAML_IDP_SSO as IDP_SSO,
};

/// Creates `okta-admin`, an admin of `okta-co`.
async fn create_admin(app: &TestApp) {
    app.create_user_with_role(ACCOUNT, "okta-admin", "admin@okta-co.example", "admin")
        .await;
}

#[tokio::test]
async fn an_admin_imports_idp_metadata_on_the_admin_page() {
    let app = spawn_app().await;
    app.create_account(ACCOUNT).await;
    app.enable_sso(ACCOUNT).await;
    create_admin(&app).await;
    app.create_user(ACCOUNT, "plain-user", "plain@okta-co.example")
        .await;
    let idp = DevSamlIdp::generate("dev-okta").unwrap();

    // Not for a plain user.
    assert_eq!(app.sign_in("plain-user", PASSWORD).await.status(), 303);
    assert_eq!(app.get("/admin/saml").await.status(), 403);
    app.submit("/logout", "/logout", &[]).await;

    assert_eq!(app.sign_in("okta-admin", PASSWORD).await.status(), 303);
    let page = app.get_html("/admin/saml").await;
    assert!(
        page.contains("/sso/saml/acs/"),
        "the ACS URL is shown before import"
    );
    assert!(page.contains("<title>SAML single sign-on · sso-broker</title>"));
    let res = app
        .submit(
            "/admin/saml",
            "/admin/saml",
            &[
                ("idp_metadata_xml", &idp.metadata_xml(IDP_ENTITY, IDP_SSO)),
                ("email_attribute", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("The SAML connection is set up."));
    assert!(html.contains(IDP_ENTITY));
    // The ACS URL given to the IdP before the import is the connection's.
    let before = page.split("/sso/saml/acs/").nth(1).unwrap()[..36].to_string();
    assert!(html.contains(&format!("/sso/saml/acs/{before}")));

    let bad = app
        .submit(
            "/admin/saml",
            "/admin/saml",
            &[
                ("idp_metadata_xml", "<not-metadata/>"),
                ("email_attribute", ""),
            ],
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert!(bad
        .text()
        .await
        .unwrap()
        .contains("The IdP metadata cannot be used"));
}

/// What the admin page shows for a certificate: its SHA-256, colon-separated hex.
fn fingerprint_of(idp: &DevSamlIdp) -> String {
    openssl::sha::sha256(&idp.cert_der())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Signs alice in through a fresh flow with a response signed by `idp`: the ACS status.
async fn sign_in_signed_by(saml: &Saml, idp: &DevSamlIdp) -> u16 {
    let browser = saml.app.new_browser();
    let (request_id, relay_state) = saml.start_in(&browser, "alice@okta-co.example").await;
    let spec = saml.response(Some(&request_id), "alice@okta-co.example");
    let xml = idp.response_xml(&spec).unwrap();
    browser
        .post(saml.app.url(&saml.acs_path()))
        .form(&[
            ("SAMLResponse", data_encoding::BASE64.encode(xml.as_bytes())),
            ("RelayState", relay_state),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn remove_certificate(app: &TestApp, fingerprint: &str) -> u16 {
    let page = app.get_html("/admin/saml").await;
    app.post_form(
        "/admin/saml/certificates/remove",
        &[
            ("csrf_token", &csrf_from(&page)),
            ("fingerprint", fingerprint),
        ],
    )
    .await
    .status()
    .as_u16()
}

#[tokio::test]
async fn the_next_certificate_is_trusted_beside_the_current_one_until_the_old_is_removed() {
    let saml = spawn_saml_app(false).await;
    create_admin(&saml.app).await;
    assert_eq!(saml.app.sign_in("okta-admin", PASSWORD).await.status(), 303);
    let next = DevSamlIdp::generate("dev-okta-next").unwrap();
    assert_eq!(
        sign_in_signed_by(&saml, &next).await,
        401,
        "not trusted yet"
    );

    let res = saml
        .app
        .submit(
            "/admin/saml",
            "/admin/saml/certificates",
            &[("certificate", &next.cert_pem())],
        )
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("The certificate is trusted as well."));
    assert!(html.contains(&fingerprint_of(&saml.idp)));
    assert!(html.contains(&fingerprint_of(&next)));
    assert_eq!(sign_in_signed_by(&saml, &next).await, 303);
    assert_eq!(sign_in_signed_by(&saml, &saml.idp).await, 303);

    assert_eq!(
        remove_certificate(&saml.app, &fingerprint_of(&saml.idp)).await,
        200
    );
    assert_eq!(
        sign_in_signed_by(&saml, &saml.idp).await,
        401,
        "old key no longer trusted"
    );
    assert_eq!(sign_in_signed_by(&saml, &next).await, 303);
    assert_eq!(
        remove_certificate(&saml.app, &fingerprint_of(&next)).await,
        422,
        "the last certificate stays"
    );
    let audit = saml.app.audit(ACCOUNT).await;
    assert!(audit
        .iter()
        .any(|e| e["action"] == "connection.certificate_add"));
    assert!(audit
        .iter()
        .any(|e| e["action"] == "connection.certificate_remove"));
}

#[tokio::test]
async fn another_accounts_connection_naming_the_same_idp_cannot_squat_its_identity_links() {
    // okta-co trusts the real IdP; "squatter" imports metadata naming the same entityID with its
    // own key and signs, IdP-initiated, alice's NameID for one of its own users.
    let saml = spawn_saml_app(false).await;
    let app = &saml.app;
    app.create_account("squatter").await;
    app.enable_sso("squatter").await;
    app.create_user("squatter", "pawn@squatter.example", "pawn@squatter.example")
        .await;
    let fake = DevSamlIdp::generate("fake-okta").unwrap();
    let squat = connect_saml(app, "squatter", &fake, true).await;
    let mut spec = saml_response(app, &squat, None, "alice@okta-co.example", true);
    spec.attributes = vec![(
        sso_broker::sso::saml::claims::EMAIL.into(),
        vec!["pawn@squatter.example".into()],
    )];
    let xml = fake.response_xml(&spec).unwrap();
    let acs = format!("/sso/saml/acs/{}", squat["id"].as_str().unwrap());
    let res = app
        .new_browser()
        .post(app.url(&acs))
        .form(&[("SAMLResponse", data_encoding::BASE64.encode(xml.as_bytes()))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "the squatter's own user signs in there");

    // Alice still signs in through okta-co's real IdP, as herself.
    assert_eq!(sign_in_signed_by(&saml, &saml.idp).await, 303);
}

/// Posts `form` (with the CSRF token of `/admin/saml`) from `browser` to `path`.
async fn admin_post(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let html = app.get_html_from(browser, "/admin/saml").await;
    let csrf = csrf_from(&html);
    let mut fields = vec![("csrf_token", csrf.as_str())];
    fields.extend_from_slice(form);
    browser
        .post(app.url(path))
        .form(&fields)
        .send()
        .await
        .unwrap()
}

async fn saml_links(app: &TestApp) -> usize {
    identity_links(app, EMAIL).await.len()
}

/// SPEC §3.8 "Policy changes reach live sessions": removing the SAML connection ends the sessions
/// it admitted and its identity links, and setting it up again (same id) revives none of them.
#[tokio::test]
async fn an_admin_removes_the_saml_connection_and_its_sessions_end() {
    let saml = spawn_saml_app(false).await;
    let app = &saml.app;
    create_admin(app).await;
    let admin = signed_in_browser(app, "okta-admin").await;
    // Alice signs in with SSO in the test's own browser.
    let (request_id, relay_state) = saml.start(EMAIL).await;
    let res = saml
        .post(&saml.response(Some(&request_id), EMAIL), Some(&relay_state))
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.me().await.status(), 200);
    assert_eq!(saml_links(app).await, 1);

    let page = app.get_html_from(&admin, "/admin/saml").await;
    assert!(page.contains("Remove SAML connection"), "{page}");
    // Not without the confirmation.
    let res = admin_post(app, &admin, "/admin/saml/remove", &[]).await;
    assert_eq!(res.status(), 422);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Tick the box to confirm"));
    // Not while SSO is enforced through it: the users would be locked out.
    assert_eq!(
        app.put_sso(ACCOUNT, crate::helpers::sso_settings(true, true))
            .await
            .status(),
        200
    );
    let res = admin_post(app, &admin, "/admin/saml/remove", &[("confirm", "on")]).await;
    assert_eq!(res.status(), 409);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("turn enforcement off on the SSO page"));
    assert_eq!(app.me().await.status(), 200, "nothing changed");

    assert_eq!(
        app.put_sso(ACCOUNT, crate::helpers::sso_settings(true, false))
            .await
            .status(),
        200
    );
    app.clock.advance(chrono::Duration::minutes(1));
    let res = admin_post(app, &admin, "/admin/saml/remove", &[("confirm", "on")]).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("The SAML connection is removed."), "{html}");
    assert!(!html.contains("Remove SAML connection"));
    assert_eq!(saml_links(app).await, 0, "its identity links are gone");
    let audit = app.audit(ACCOUNT).await;
    assert!(audit
        .iter()
        .any(|e| e["action"] == "connection.remove" && e["actor"] == "user:okta-admin"));

    // Set up again before Alice's browser comes back: the connection has the same id, and still
    // did not admit her old session.
    let again = connect_saml(app, ACCOUNT, &saml.idp, false).await;
    assert_eq!(again["id"], saml.connection["id"]);
    assert_eq!(app.me().await.status(), 401, "the SSO session ended");
    let res = admin_post(app, &admin, "/admin/saml/remove", &[]).await;
    assert_eq!(res.status(), 422, "the admin's password session stays");
    // Alice signs in afresh through the new connection.
    let (request_id, relay_state) = saml.start(EMAIL).await;
    let res = saml
        .post(&saml.response(Some(&request_id), EMAIL), Some(&relay_state))
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.me().await.status(), 200);
}

#[tokio::test]
async fn only_the_accounts_admin_removes_its_saml_connection() {
    let saml = spawn_saml_app(false).await;
    let app = &saml.app;
    // Anonymous: no session, nothing removed.
    let res = app
        .post_form("/admin/saml/remove", &[("confirm", "on")])
        .await;
    assert!(
        matches!(res.status().as_u16(), 303 | 401 | 403),
        "{}",
        res.status()
    );
    for (username, role) in [("plain-user", "user"), ("viewer", "read_only")] {
        add_user(app, ACCOUNT, username, role).await;
        let browser = signed_in_browser(app, username).await;
        let html = app.get_html_from(&browser, "/logout").await;
        let res = browser
            .post(app.url("/admin/saml/remove"))
            .form(&[("csrf_token", csrf_from(&html).as_str()), ("confirm", "on")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{role}");
    }
    // Another account's admin removes their own account's connection only (there is none).
    app.create_account("other-co").await;
    app.create_user_with_role("other-co", "other-boss", "boss@other-co.example", "admin")
        .await;
    let other = signed_in_browser(app, "other-boss").await;
    let res = admin_post(app, &other, "/admin/saml/remove", &[("confirm", "on")]).await;
    assert_eq!(res.status(), 404);
    let still = app
        .state
        .db
        .run(|conn| {
            let account = sso_broker::db::account::Account::find_by_name(conn, ACCOUNT)?.unwrap();
            sso_broker::services::connections::saml::SamlConnection::for_account(conn, &account.id)
        })
        .await
        .unwrap();
    assert!(still.is_some(), "okta-co keeps its connection");
}
