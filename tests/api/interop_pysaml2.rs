//! Interop with an independent SAML IdP: PyPI `pysaml2` (with Debian's `xmlsec1`) generates its
//! own IdP metadata, parses the broker's HTTP-Redirect AuthnRequest, and signs the Response and
//! the Assertion with its own code; the broker imports that metadata and signs the user in.
//!
//! Needs `tests/interop/pysaml2`'s virtualenv (`make test-interop` creates it and runs this test;
//! `SSO_BROKER_PYSAML2_PYTHON` names its interpreter).

use std::path::PathBuf;
use std::process::Command;

use reqwest::Method;
use serde_json::{json, Value};
use sso_broker::clock::{Clock, SystemClock};
use sso_broker::domain::messages;

use crate::helpers::{location, spawn_app, start_sso, TestApp};

const IDP_ENTITY: &str = "http://127.0.0.1:9999/pysaml2/metadata";
const IDP_SSO: &str = "http://127.0.0.1:9999/pysaml2/sso";
const EMAIL: &str = "alice@pysaml2.example";

fn python() -> String {
    std::env::var("SSO_BROKER_PYSAML2_PYTHON").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/pysaml2-venv/bin/python3"
        )
        .into()
    })
}

fn run_idp(args: &[&str]) -> std::process::Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/pysaml2/idp.py");
    Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .expect("the pysaml2 virtualenv (make test-interop creates it)")
}

fn idp(args: &[&str]) -> String {
    let out = run_idp(args);
    assert!(
        out.status.success(),
        "idp.py {:?}: {}",
        args.first(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Peer {
    dir: PathBuf,
}

impl Peer {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("pysaml2-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        idp(&["keys", dir.to_str().unwrap()]);
        Self { dir }
    }

    fn metadata(&self, want_signed_requests: bool) -> String {
        let dir = self.dir.to_str().unwrap();
        let mut args = vec![
            "metadata",
            "--dir",
            dir,
            "--entity-id",
            IDP_ENTITY,
            "--sso-url",
            IDP_SSO,
        ];
        if want_signed_requests {
            args.push("--want-signed-requests");
        }
        idp(&args)
    }

    /// pysaml2's answer to the AuthnRequest in `redirect`; with `sp_cert`, pysaml2 requires the
    /// redirect's signature and verifies it with that certificate.
    fn respond(&self, redirect: &str, sp_cert: Option<&str>) -> Value {
        let cert_file = self.dir.join("sp.crt");
        let mut args = vec![
            "respond",
            "--dir",
            self.dir.to_str().unwrap(),
            "--entity-id",
            IDP_ENTITY,
            "--sso-url",
            IDP_SSO,
            "--authn-request-url",
            redirect,
            "--name-id",
            EMAIL,
            "--email",
            EMAIL,
            "--given-name",
            "Alice",
            "--surname",
            "Liddell",
        ];
        if let Some(cert) = sp_cert {
            std::fs::write(&cert_file, cert).unwrap();
            args.extend(["--sp-cert", cert_file.to_str().unwrap()]);
        }
        let out = idp(&args);
        serde_json::from_str(out.trim()).unwrap()
    }

    /// Whether pysaml2 accepts the redirect's signature with `sp_cert`.
    fn accepts_signature(&self, redirect: &str, sp_cert: &str) -> bool {
        let cert_file = self.dir.join("other-sp.crt");
        std::fs::write(&cert_file, sp_cert).unwrap();
        let dir = self.dir.to_str().unwrap();
        run_idp(&[
            "respond",
            "--dir",
            dir,
            "--entity-id",
            IDP_ENTITY,
            "--sso-url",
            IDP_SSO,
            "--authn-request-url",
            redirect,
            "--name-id",
            EMAIL,
            "--email",
            EMAIL,
            "--sp-cert",
            cert_file.to_str().unwrap(),
        ])
        .status
        .success()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start_sign_in(app: &TestApp) -> String {
    let res = start_sso(app, "pysaml2", EMAIL).await;
    assert_eq!(res.status(), 303);
    location(&res)
}

fn acs_path(answer: &Value) -> String {
    let acs = url::Url::parse(answer["acs_url"].as_str().unwrap()).unwrap();
    acs.path().to_string()
}

/// An app whose account `pysaml2` is connected to `peer` through pysaml2's own metadata.
async fn connected_app(peer: &Peer, want_signed_requests: bool) -> (TestApp, Value) {
    let app = spawn_app().await;
    // pysaml2 reads the wall clock; so does the broker here.
    app.clock.set(SystemClock.now());
    app.create_account("pysaml2").await;
    app.enable_sso("pysaml2").await;
    app.create_user("pysaml2", EMAIL, EMAIL).await;
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts/pysaml2/connections",
            Some(
                json!({ "kind": "saml", "idp_metadata_xml": peer.metadata(want_signed_requests) }),
            ),
        )
        .await;
    assert_eq!(res.status(), 201, "pysaml2's own metadata imports");
    let connection = res.json().await.unwrap();
    (app, connection)
}

async fn finish_sign_in(app: &TestApp, answer: &Value) {
    let res = app
        .post_form(
            &acs_path(answer),
            &[
                ("SAMLResponse", answer["SAMLResponse"].as_str().unwrap()),
                ("RelayState", answer["RelayState"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        res.status(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["username"], EMAIL);
    assert_eq!(me["idp"], "saml");
    assert_eq!(me["mfa"], "yes");
}

#[tokio::test]
#[ignore = "needs the pysaml2 virtualenv: make test-interop"]
async fn interop_pysaml2_verifies_our_signed_authn_request() {
    let peer = Peer::new();
    let (app, connection) = connected_app(&peer, true).await;
    assert_eq!(connection["authn_requests_signed"], true);
    let sp_cert = connection["sp_signing_certificate"].as_str().unwrap();
    let redirect = start_sign_in(&app).await;
    assert!(redirect.contains("&SigAlg=") && redirect.contains("&Signature="));
    // pysaml2 refuses the signature under a certificate that is not ours...
    let (_, other) = sso_broker::crypto::self_signed::generate("not-the-sp").unwrap();
    let other = String::from_utf8(other.to_pem().unwrap()).unwrap();
    assert!(!peer.accepts_signature(&redirect, &other));
    // ...and verifies it with ours.
    let answer = peer.respond(&redirect, Some(sp_cert));
    finish_sign_in(&app, &answer).await;
}

#[tokio::test]
#[ignore = "needs the pysaml2 virtualenv: make test-interop"]
async fn interop_pysaml2_idp_signs_a_user_in() {
    let peer = Peer::new();
    let (app, _) = connected_app(&peer, false).await;
    let answer = peer.respond(&start_sign_in(&app).await, None);
    let relay_state = answer["RelayState"].as_str().unwrap().to_string();
    let field = answer["SAMLResponse"].as_str().unwrap().to_string();

    // One byte changed in the signed XML: refused.
    let xml = String::from_utf8(data_encoding::BASE64.decode(field.as_bytes()).unwrap()).unwrap();
    let forged = xml.replacen("Liddell", "Liddelx", 1);
    assert_ne!(forged, xml);
    let res = app
        .client
        .post(app.url(&acs_path(&answer)))
        .form(&[
            (
                "SAMLResponse",
                data_encoding::BASE64.encode(forged.as_bytes()),
            ),
            ("RelayState", relay_state.clone()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::SSO_INCORRECT_CREDENTIALS));

    // pysaml2's genuine response, for a fresh flow.
    let answer = peer.respond(&start_sign_in(&app).await, None);
    let res = app
        .post_form(
            &acs_path(&answer),
            &[
                ("SAMLResponse", answer["SAMLResponse"].as_str().unwrap()),
                ("RelayState", answer["RelayState"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        res.status(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["username"], EMAIL);
    assert_eq!(me["idp"], "saml");
    assert_eq!(me["mfa"], "yes");
}
