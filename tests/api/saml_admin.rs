//! `/admin/saml` (account admins only): importing IdP metadata, and certificate rollover — the
//! next certificate trusted beside the current one, then the old one removed.

use reqwest::Method;
use serde_json::json;
use sso_broker::sso::devidp::saml::DevSamlIdp;

use crate::helpers::{csrf_from, spawn_app, TestApp, PASSWORD};
use crate::saml_sign_in::{connect, spawn_saml_app, Saml, IDP_ENTITY, IDP_SSO};

const ACCOUNT: &str = "okta-co";

async fn create_admin(app: &TestApp) {
    let res = app
        .api(
            Method::POST,
            &format!("/api/v1/accounts/{ACCOUNT}/users"),
            Some(json!({ "email": "admin@okta-co.example", "username": "okta-admin", "role": "admin", "password": PASSWORD })),
        )
        .await;
    assert_eq!(res.status(), 201);
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
    let squat = connect(app, "squatter", &fake, true).await;
    let mut spec = sso_broker::sso::devidp::saml::ResponseSpec::new(
        IDP_ENTITY,
        squat["acs_url"].as_str().unwrap(),
        squat["sp_entity_id"].as_str().unwrap(),
        "alice@okta-co.example",
        sso_broker::clock::Clock::now(&app.clock),
    );
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
