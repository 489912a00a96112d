//! One development IdP and one SP connection for the ACS tests (`acs_tests`, `xsw_tests`,
//! `fuzz_tests`): real RSA keys, real signatures, the clock frozen. Keys are generated once per
//! test binary; every test builds its own responses from them.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use data_encoding::BASE64;
use samael::crypto::{Crypto, CryptoProvider, ReduceMode};

use super::acs::{
    verify_acs_response, verify_acs_xml, AcsRules, VerifiedAssertion, ALLOWED_ALGORITHMS,
};
use super::{claims, IdpSettings, SpSettings};
use crate::sso::devidp::saml::{DevSamlIdp, ResponseSpec, Signing};
use crate::sso::SsoError;

pub const IDP_ENTITY_ID: &str = "https://idp.example/saml/metadata";
pub const IDP_SSO_URL: &str = "https://idp.example/saml/sso";
/// The login flow's AuthnRequest id.
pub const REQUEST_ID: &str = "_4f2a9c0e1b7d4e5fa1c3b2d4e6f80912";
pub const ALICE: &str = "alice@example.com";
/// What an attacker would like the SP to read.
pub const MALLORY: &str = "mallory@evil.example";

/// The IdP's current key (the one the connection trusts).
pub static IDP: LazyLock<DevSamlIdp> = LazyLock::new(|| generate("acs-tests-idp"));
/// The IdP's next key, announced for a certificate rollover.
pub static NEXT_IDP_KEY: LazyLock<DevSamlIdp> = LazyLock::new(|| generate("acs-tests-idp-next"));
/// A key the connection has never heard of.
pub static ATTACKER: LazyLock<DevSamlIdp> = LazyLock::new(|| generate("acs-tests-attacker"));

fn generate(cn: &str) -> DevSamlIdp {
    DevSamlIdp::generate(cn).expect("RSA key and certificate")
}

pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2030-01-02T03:04:05Z")
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

pub fn sp() -> SpSettings {
    SpSettings::for_connection("https://broker.example", "conn-1")
}

/// The IdP as an admin would have configured it, trusting `keys`' certificates.
pub fn idp_settings(keys: &[&DevSamlIdp]) -> IdpSettings {
    IdpSettings {
        entity_id: IDP_ENTITY_ID.to_string(),
        sso_url: IDP_SSO_URL.to_string(),
        certificates: keys.iter().map(|k| BASE64.encode(&k.cert_der())).collect(),
        want_authn_requests_signed: false,
    }
}

/// An SP-initiated response to `REQUEST_ID` for Alice, signed as `signing` says, with her email,
/// given name and surname as attributes.
pub fn spec(signing: Signing) -> ResponseSpec {
    let sp = sp();
    let mut spec = ResponseSpec::new(IDP_ENTITY_ID, &sp.acs_url, &sp.entity_id, ALICE, now());
    spec.signing = signing;
    spec.in_response_to = Some(REQUEST_ID.to_string());
    spec.attributes
        .push((claims::GIVEN_NAME.into(), vec!["Alice".into()]));
    spec.attributes
        .push((claims::SURNAME.into(), vec!["Liddell".into()]));
    spec
}

/// `spec` signed by the trusted IdP key.
pub fn signed(spec: &ResponseSpec) -> String {
    IDP.response_xml(spec).expect("signed response")
}

/// The `SAMLResponse` form field for `xml`.
pub fn post_field(xml: &str) -> String {
    BASE64.encode(xml.as_bytes())
}

/// One connection's ACS settings; change a field to change the rule under test.
pub struct Connection {
    pub sp: SpSettings,
    pub idp: IdpSettings,
    pub request_id: Option<String>,
    pub allow_idp_initiated: bool,
    pub now: DateTime<Utc>,
}

impl Connection {
    /// Trusts `IDP`, waits for `REQUEST_ID`, IdP-initiated sign-in off.
    pub fn new() -> Self {
        Self {
            sp: sp(),
            idp: idp_settings(&[&IDP]),
            request_id: Some(REQUEST_ID.to_string()),
            allow_idp_initiated: false,
            now: now(),
        }
    }

    fn rules(&self) -> AcsRules<'_> {
        AcsRules {
            sp: &self.sp,
            idp: &self.idp,
            request_id: self.request_id.as_deref(),
            allow_idp_initiated: self.allow_idp_initiated,
            email_attribute: claims::EMAIL,
            now: self.now,
        }
    }

    pub fn verify_xml(&self, xml: &str) -> Result<VerifiedAssertion, SsoError> {
        verify_acs_xml(xml, &self.rules())
    }

    pub fn verify_field(&self, field: &str) -> Result<VerifiedAssertion, SsoError> {
        verify_acs_response(field, &self.rules())
    }
}

/// Whether xmlsec alone (the trusted certificate, our algorithms, samael's reduction) accepts
/// every signature in `xml`: what the ACS adds on top is then all that refuses it.
pub fn signatures_verify(xml: &str) -> bool {
    let certs = idp_settings(&[&IDP])
        .certificate_ders()
        .expect("certificates");
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &certs,
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(ALLOWED_ALGORITHMS),
    )
    .is_ok()
}
