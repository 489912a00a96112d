//! "Log in with SSO" through a SAML connection (SPEC §3.2, §5) against the development SAML IdP,
//! which signs with a real RSA key: SP-initiated sign-in, `/api/v1/me`, replay and RelayState
//! reuse, email mismatch, keys the connection does not trust, IdP-initiated sign-in, the session
//! cap of `SessionNotOnOrAfter`, SP metadata, and the admin page's metadata import.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};
use sso_broker::clock::Clock;
use sso_broker::domain::messages;
use sso_broker::sso::devidp::saml::DevSamlIdp;

use crate::helpers::{
    connect_saml, csrf_from, location, refused_with, spawn_app, spawn_saml_app, sso_reasons,
    SAML_ACCOUNT as ACCOUNT, SAML_EMAIL as EMAIL,
};

const MULTIPLE_AUTHN: &str = "http://schemas.microsoft.com/claims/multipleauthn";

#[tokio::test]
async fn saml_sign_in_creates_a_session_with_idp_amr_and_mfa_evidence() {
    let saml = spawn_saml_app(false).await;
    assert_eq!(saml.connection["kind"], "saml");
    let (request_id, relay_state) = saml.start(EMAIL).await;
    let res = saml
        .post(&saml.response(Some(&request_id), EMAIL), Some(&relay_state))
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/");
    let me: Value = saml.app.me().await.json().await.unwrap();
    assert_eq!(me["username"], EMAIL);
    assert_eq!(me["auth_method"], "sso");
    assert_eq!(me["idp"], "saml");
    assert_eq!(me["mfa"], "yes");
    let amr: Vec<&str> = me["amr"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(amr.contains(&MULTIPLE_AUTHN), "amr {amr:?}");
    let home = saml.app.get_html("/").await;
    assert!(
        home.contains("SSO (SAML)"),
        "the home page names the IdP kind"
    );
    assert!(sso_reasons(&saml.app, ACCOUNT)
        .await
        .iter()
        .any(|r| r.contains("\"mfa\":\"yes\"")));
}

#[tokio::test]
async fn a_replayed_saml_response_is_refused() {
    let saml = spawn_saml_app(false).await;
    let (request_id, relay_state) = saml.start(EMAIL).await;
    let spec = saml.response(Some(&request_id), EMAIL);
    assert_eq!(saml.post(&spec, Some(&relay_state)).await.status(), 303);

    // The same RelayState again: its flow is used.
    let browser = saml.app.new_browser();
    let xml = saml.idp.response_xml(&spec).unwrap();
    let field = data_encoding::BASE64.encode(xml.as_bytes());
    let res = browser
        .post(saml.app.url(&saml.acs_path()))
        .form(&[
            ("SAMLResponse", field.as_str()),
            ("RelayState", &relay_state),
        ])
        .send()
        .await
        .unwrap();
    refused_with(res, messages::SESSION_EXPIRED).await;

    // The same assertion id again where no flow stands in the way (IdP-initiated sign-in
    // allowed): the replay store refuses it.
    let open = spawn_saml_app(true).await;
    let unsolicited = open.response(None, EMAIL);
    assert_eq!(open.post(&unsolicited, None).await.status(), 303);
    let again = open.app.new_browser();
    let xml = open.idp.response_xml(&unsolicited).unwrap();
    let res = again
        .post(open.app.url(&open.acs_path()))
        .form(&[("SAMLResponse", data_encoding::BASE64.encode(xml.as_bytes()))])
        .send()
        .await
        .unwrap();
    refused_with(res, messages::SSO_INCORRECT_CREDENTIALS).await;
    assert!(sso_reasons(&open.app, ACCOUNT)
        .await
        .contains(&"SS0118".to_string()));
}

#[tokio::test]
async fn a_response_for_another_email_is_refused_and_signs_no_one_in() {
    let saml = spawn_saml_app(false).await;
    saml.app
        .create_user(ACCOUNT, "bob@okta-co.example", "bob@okta-co.example")
        .await;
    let (request_id, relay_state) = saml.start(EMAIL).await;
    let res = saml
        .post(
            &saml.response(Some(&request_id), "bob@okta-co.example"),
            Some(&relay_state),
        )
        .await;
    saml.assert_refused(res, messages::SSO_INCORRECT_CREDENTIALS, "email_mismatch")
        .await;
}

#[tokio::test]
async fn a_response_signed_by_a_key_the_connection_does_not_trust_is_refused() {
    let saml = spawn_saml_app(false).await;
    let attacker = DevSamlIdp::generate("attacker").unwrap();
    let (request_id, relay_state) = saml.start(EMAIL).await;
    let res = saml
        .post_signed_by(
            &attacker,
            &saml.response(Some(&request_id), EMAIL),
            Some(&relay_state),
        )
        .await;
    saml.assert_refused(res, messages::SSO_INCORRECT_CREDENTIALS, "SS0108")
        .await;
}

#[tokio::test]
async fn a_response_answering_another_request_is_refused() {
    let saml = spawn_saml_app(false).await;
    let (_, relay_state) = saml.start(EMAIL).await;
    let res = saml
        .post(
            &saml.response(Some("_someone-elses"), EMAIL),
            Some(&relay_state),
        )
        .await;
    saml.assert_refused(res, messages::SSO_INCORRECT_CREDENTIALS, "SS0113")
        .await;
}

#[tokio::test]
async fn an_unknown_user_gets_the_email_not_configured_message() {
    let saml = spawn_saml_app(false).await;
    let html = saml.app.get_html("/login/sso").await;
    let res = saml
        .app
        .post_form(
            "/login/sso",
            &[
                ("csrf_token", &csrf_from(&html)),
                ("account", ACCOUNT),
                ("email", "nobody@okta-co.example"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::EMAIL_NOT_CONFIGURED));
}

#[tokio::test]
async fn idp_initiated_sign_in_is_refused_unless_the_connection_allows_it() {
    let saml = spawn_saml_app(false).await;
    let res = saml.post(&saml.response(None, EMAIL), None).await;
    refused_with(res, messages::SESSION_EXPIRED).await;
    assert_eq!(saml.app.me().await.status(), 401);

    let allowed = spawn_saml_app(true).await;
    let res = allowed.post(&allowed.response(None, EMAIL), None).await;
    assert_eq!(res.status(), 303);
    let me: Value = allowed.app.me().await.json().await.unwrap();
    assert_eq!(me["idp"], "saml");
    // Even then, a response claiming to answer a request we never made is refused.
    let other = allowed.app.new_browser();
    let xml = allowed
        .idp
        .response_xml(&allowed.response(Some("_never-asked"), EMAIL))
        .unwrap();
    let res = other
        .post(allowed.app.url(&allowed.acs_path()))
        .form(&[("SAMLResponse", data_encoding::BASE64.encode(xml.as_bytes()))])
        .send()
        .await
        .unwrap();
    refused_with(res, messages::SSO_INCORRECT_CREDENTIALS).await;
}

#[tokio::test]
async fn the_session_ends_at_the_idps_session_not_on_or_after() {
    let saml = spawn_saml_app(false).await;
    let (request_id, relay_state) = saml.start(EMAIL).await;
    let mut spec = saml.response(Some(&request_id), EMAIL);
    spec.session_not_on_or_after = Some(saml.app.clock.now() + Duration::minutes(20));
    assert_eq!(saml.post(&spec, Some(&relay_state)).await.status(), 303);
    assert_eq!(saml.app.me().await.status(), 200);
    saml.app.clock.advance(Duration::minutes(15));
    assert_eq!(saml.app.me().await.status(), 200);
    saml.app.clock.advance(Duration::minutes(6));
    assert_eq!(saml.app.me().await.status(), 401);
}

#[tokio::test]
async fn an_undecodable_acs_body_is_refused_with_the_spec_message() {
    let saml = spawn_saml_app(false).await;
    let (_, relay_state) = saml.start(EMAIL).await;
    let res = saml
        .app
        .post_form(
            &saml.acs_path(),
            &[
                ("SAMLResponse", "%%% not base64"),
                ("RelayState", &relay_state),
            ],
        )
        .await;
    saml.assert_refused(res, messages::SSO_INCORRECT_CREDENTIALS, "SS0101")
        .await;
}

#[tokio::test]
async fn sp_metadata_names_our_entity_id_and_acs() {
    let saml = spawn_saml_app(false).await;
    let id = saml.connection["id"].as_str().unwrap();
    let res = saml.app.get(&format!("/sso/saml/metadata/{id}")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/samlmetadata+xml"
    );
    let xml = res.text().await.unwrap();
    assert!(xml.contains(&format!(
        "entityID=\"{}\"",
        saml.connection["sp_entity_id"].as_str().unwrap()
    )));
    assert!(xml.contains(&format!("Location=\"{}\"", saml.acs_url())));
    assert_eq!(
        saml.app
            .get("/sso/saml/metadata/00000000-0000-0000-0000-000000000000")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn metadata_without_a_signing_certificate_is_refused_at_import() {
    let app = spawn_app().await;
    app.create_account(ACCOUNT).await;
    app.enable_sso(ACCOUNT).await;
    let metadata = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#;
    let res = app
        .api(
            Method::POST,
            &format!("/api/v1/accounts/{ACCOUNT}/connections"),
            Some(json!({ "kind": "saml", "idp_metadata_xml": metadata })),
        )
        .await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_saml_settings");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("no signing certificate"));
}

#[tokio::test]
async fn a_response_signed_only_on_the_response_or_only_on_the_assertion_signs_in() {
    use sso_broker::sso::devidp::saml::Signing;
    let saml = spawn_saml_app(false).await;
    for signing in [Signing::Response, Signing::Assertion] {
        let browser = saml.app.new_browser();
        let (request_id, relay_state) = saml.start_in(&browser, EMAIL).await;
        let mut spec = saml.response(Some(&request_id), EMAIL);
        spec.signing = signing;
        let xml = saml.idp.response_xml(&spec).unwrap();
        let res = browser
            .post(saml.app.url(&saml.acs_path()))
            .form(&[
                ("SAMLResponse", data_encoding::BASE64.encode(xml.as_bytes())),
                ("RelayState", relay_state),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{signing:?}");
    }
}

#[tokio::test]
async fn a_flood_of_refused_responses_from_one_address_is_throttled() {
    let saml = spawn_saml_app(true).await;
    for _ in 0..30 {
        let res = saml
            .app
            .post_form(&saml.acs_path(), &[("SAMLResponse", "bm90IFhNTA==")])
            .await;
        assert_eq!(res.status(), 401);
    }
    // Even a valid response waits until the window has passed.
    let valid = saml.response(None, EMAIL);
    let res = saml.post(&valid, None).await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains(messages::THROTTLED));
    saml.app.clock.advance(Duration::minutes(16));
    let mut fresh = saml.response(None, EMAIL);
    fresh.not_on_or_after = saml.app.clock.now() + Duration::minutes(5);
    assert_eq!(saml.post(&fresh, None).await.status(), 303);
}

#[tokio::test]
async fn a_flow_started_in_another_browser_is_refused_at_the_acs() {
    // Login CSRF: the attacker starts a flow, signs in at the IdP as themselves, and makes the
    // victim's browser post the answer.
    let saml = spawn_saml_app(false).await;
    let attacker = saml.app.new_browser();
    let (request_id, relay_state) = saml.start_in(&attacker, EMAIL).await;
    let res = saml
        .post(&saml.response(Some(&request_id), EMAIL), Some(&relay_state))
        .await;
    saml.assert_refused(res, messages::SESSION_EXPIRED, "saml_flow_other_browser")
        .await;
}

#[tokio::test]
async fn over_https_the_flow_cookie_is_same_site_none_and_secure() {
    let app = crate::helpers::spawn_app_with(|env| {
        env.insert(
            "SSO_BROKER_PUBLIC_URL".into(),
            "https://broker.example".into(),
        );
        env.insert("SSO_BROKER_SECRET_KEY".into(), "k".repeat(48));
    })
    .await;
    app.create_account(ACCOUNT).await;
    app.enable_sso(ACCOUNT).await;
    app.create_user(ACCOUNT, EMAIL, EMAIL).await;
    let idp = DevSamlIdp::generate("dev-okta").unwrap();
    connect_saml(&app, ACCOUNT, &idp, false).await;
    let html = app.get_html("/login/sso").await;
    let res = app
        .post_form(
            "/login/sso",
            &[
                ("csrf_token", &csrf_from(&html)),
                ("account", ACCOUNT),
                ("email", EMAIL),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("sso_broker_saml_flow="))
        .expect("the SAML flow cookie")
        .to_string();
    for attribute in ["HttpOnly", "SameSite=None", "Secure", "Path=/sso/saml/acs"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
}
