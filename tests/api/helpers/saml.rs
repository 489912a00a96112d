//! SAML fixtures: the development SAML IdP (a real RSA key, so its responses carry real XML
//! signatures), connecting an account to it, and SP-initiated sign-ins with signed responses.

use reqwest::Method;
use serde_json::{json, Value};
use sso_broker::clock::Clock;
use sso_broker::sso::devidp::saml::{
    decode_redirect_authn_request, DevSamlIdp, ParsedAuthnRequest, ResponseSpec,
};

use super::{csrf_from, escaped, location, spawn_app, sso_reasons, start_sso, TestApp};

/// The entityID every development SAML IdP is imported under.
pub const SAML_IDP_ENTITY: &str = "http://www.okta.com/exk-dev-broker";
pub const SAML_IDP_SSO: &str = "https://okta-co.okta.example/app/sso/saml";
/// The account `spawn_saml_app` connects, and its user alice.
pub const SAML_ACCOUNT: &str = "okta-co";
pub const SAML_EMAIL: &str = "alice@okta-co.example";
const AMR: &str = "http://schemas.microsoft.com/claims/authnmethodsreferences";
const MULTIPLE_AUTHN: &str = "http://schemas.microsoft.com/claims/multipleauthn";

/// A broker with account `okta-co`, its user alice and its SAML connection to `idp`.
pub struct Saml {
    pub app: TestApp,
    pub idp: DevSamlIdp,
    pub connection: Value,
}

/// An app with account `okta-co`, user alice and a SAML connection to a fresh development IdP.
pub async fn spawn_saml_app(allow_idp_initiated: bool) -> Saml {
    let app = spawn_app().await;
    app.create_account(SAML_ACCOUNT).await;
    app.enable_sso(SAML_ACCOUNT).await;
    app.create_user(SAML_ACCOUNT, SAML_EMAIL, SAML_EMAIL).await;
    let idp = DevSamlIdp::generate("dev-okta").unwrap();
    let connection = connect_saml(&app, SAML_ACCOUNT, &idp, allow_idp_initiated).await;
    Saml {
        app,
        idp,
        connection,
    }
}

impl Saml {
    pub fn acs_url(&self) -> String {
        self.connection["acs_url"].as_str().unwrap().to_string()
    }

    pub fn acs_path(&self) -> String {
        acs_path(&self.connection)
    }

    /// A response from the IdP for `name_id`, answering `request_id`, valid now, with MFA
    /// evidence.
    pub fn response(&self, request_id: Option<&str>, name_id: &str) -> ResponseSpec {
        saml_response(&self.app, &self.connection, request_id, name_id, true)
    }

    /// Starts "Log in with SSO" for `email`: the AuthnRequest id and the RelayState.
    pub async fn start(&self, email: &str) -> (String, String) {
        self.start_in(&self.app.client, email).await
    }

    /// Like `start`, in `browser`.
    pub async fn start_in(&self, browser: &reqwest::Client, email: &str) -> (String, String) {
        let html = self.app.get_html_from(browser, "/login/sso").await;
        let res = browser
            .post(self.app.url("/login/sso"))
            .form(&[
                ("csrf_token", csrf_from(&html).as_str()),
                ("account", SAML_ACCOUNT),
                ("email", email),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "redirect to the IdP");
        assert!(
            location(&res).starts_with(SAML_IDP_SSO),
            "to the IdP's SSO URL"
        );
        let (request, relay_state) = authn_request(&res);
        assert_eq!(request.acs_url.as_deref(), Some(self.acs_url().as_str()));
        (request.id, relay_state)
    }

    pub async fn post(&self, spec: &ResponseSpec, relay_state: Option<&str>) -> reqwest::Response {
        self.post_signed_by(&self.idp, spec, relay_state).await
    }

    pub async fn post_signed_by(
        &self,
        idp: &DevSamlIdp,
        spec: &ResponseSpec,
        relay_state: Option<&str>,
    ) -> reqwest::Response {
        post_saml_response(&self.app, idp, &self.connection, spec, relay_state).await
    }

    /// `res` is the refusal page with `message`, this browser has no session, and the account's
    /// audit log names `reason`.
    pub async fn assert_refused(&self, res: reqwest::Response, message: &str, reason: &str) {
        refused_with(res, message).await;
        assert_eq!(self.app.me().await.status(), 401, "no session");
        assert!(
            sso_reasons(&self.app, SAML_ACCOUNT)
                .await
                .contains(&reason.to_string()),
            "audit reason {reason}"
        );
    }
}

/// Connects `account` to `idp` (as entityID `SAML_IDP_ENTITY`) through the operator API; the
/// connection as the API answers it.
pub async fn connect_saml(
    app: &TestApp,
    account: &str,
    idp: &DevSamlIdp,
    idp_initiated: bool,
) -> Value {
    let res = app
        .api(
            Method::POST,
            &format!("/api/v1/accounts/{account}/connections"),
            Some(json!({
                "kind": "saml",
                "idp_metadata_xml": idp.metadata_xml(SAML_IDP_ENTITY, SAML_IDP_SSO),
                "allow_idp_initiated": idp_initiated,
            })),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// The path of `connection`'s assertion consumer service.
fn acs_path(connection: &Value) -> String {
    format!("/sso/saml/acs/{}", connection["id"].as_str().unwrap())
}

/// The AuthnRequest and RelayState of a redirect to the IdP.
fn authn_request(res: &reqwest::Response) -> (ParsedAuthnRequest, String) {
    assert_eq!(res.status(), 303, "redirect to the IdP");
    let url = url::Url::parse(&location(res)).unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    let request = decode_redirect_authn_request(&query["SAMLRequest"]).unwrap();
    (request, query["RelayState"].clone())
}

/// A response of the IdP to `connection`'s ACS for `email`, answering `request_id`, valid now,
/// with MFA evidence (`pwd` and multipleauthn) or only `pwd`.
pub fn saml_response(
    app: &TestApp,
    connection: &Value,
    request_id: Option<&str>,
    email: &str,
    mfa: bool,
) -> ResponseSpec {
    let mut spec = ResponseSpec::new(
        SAML_IDP_ENTITY,
        connection["acs_url"].as_str().unwrap(),
        connection["sp_entity_id"].as_str().unwrap(),
        email,
        app.clock.now(),
    );
    spec.in_response_to = request_id.map(str::to_string);
    let methods = if mfa {
        vec!["pwd".to_string(), MULTIPLE_AUTHN.to_string()]
    } else {
        vec!["pwd".to_string()]
    };
    spec.attributes.push((AMR.into(), methods));
    spec
}

/// Posts `spec`, signed by `idp`, to `connection`'s ACS from the test's own browser.
pub async fn post_saml_response(
    app: &TestApp,
    idp: &DevSamlIdp,
    connection: &Value,
    spec: &ResponseSpec,
    relay_state: Option<&str>,
) -> reqwest::Response {
    let xml = idp.response_xml(spec).unwrap();
    let field = data_encoding::BASE64.encode(xml.as_bytes());
    let mut form = vec![("SAMLResponse", field.as_str())];
    if let Some(rs) = relay_state {
        form.push(("RelayState", rs));
    }
    app.post_form(&acs_path(connection), &form).await
}

/// SP-initiated sign-in of `email` into `account` through its SAML connection: the ACS answer.
pub async fn saml_sign_in(
    app: &TestApp,
    account: &str,
    idp: &DevSamlIdp,
    connection: &Value,
    email: &str,
    mfa: bool,
) -> reqwest::Response {
    let res = start_sso(app, account, email).await;
    let (request, relay_state) = authn_request(&res);
    let spec = saml_response(app, connection, Some(&request.id), email, mfa);
    post_saml_response(app, idp, connection, &spec, Some(&relay_state)).await
}

/// `res` is a 401 refusal page saying `message`.
pub async fn refused_with(res: reqwest::Response, message: &str) {
    assert_eq!(res.status(), 401);
    let html = res.text().await.unwrap();
    assert!(html.contains(&escaped(message)), "page says {message:?}");
}
