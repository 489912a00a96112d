//! SP-initiated sign-in: an `AuthnRequest` sent with the HTTP-Redirect binding (raw DEFLATE,
//! base64, `SAMLRequest` query parameter) and the flow's `RelayState`, signed with the
//! connection's SP key when the IdP wants signed requests (SAML bindings §3.4.4.1: RSA-SHA256 over
//! the exact `SAMLRequest=…&RelayState=…&SigAlg=…` query text). Its `ID` is what the assertion's
//! `InResponseTo` must name.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use data_encoding::BASE64;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;

use super::{xml_escape, IdpSettings, SpSettings, BINDING_POST, NAMEID_EMAIL, PROTOCOL_NS};
use crate::sso::SsoError;

/// Where to send the browser, and the request id to remember in the login flow.
#[derive(Debug, Clone)]
pub struct AuthnRedirect {
    pub url: String,
    pub request_id: String,
}

/// The AuthnRequest XML.
pub fn authn_request_xml(
    sp: &SpSettings,
    idp: &IdpSettings,
    request_id: &str,
    now: DateTime<Utc>,
) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="{BINDING_POST}"><saml:Issuer>{issuer}</saml:Issuer><samlp:NameIDPolicy Format="{NAMEID_EMAIL}" AllowCreate="true"/></samlp:AuthnRequest>"#,
        id = xml_escape(request_id),
        instant = now.to_rfc3339_opts(SecondsFormat::Secs, true),
        dest = xml_escape(&idp.sso_url),
        acs = xml_escape(&sp.acs_url),
        issuer = xml_escape(&sp.entity_id),
    )
}

/// The `SigAlg` of signed redirects.
pub const SIG_ALG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

fn query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The redirect to the IdP for a new request `request_id` (an NCName: `_` + hex) with
/// `relay_state`, signed with `signer` when given. A `login_hint` is not part of SAML; the IdP
/// asks for the user itself.
pub fn authn_request_redirect(
    sp: &SpSettings,
    idp: &IdpSettings,
    request_id: &str,
    relay_state: &str,
    now: DateTime<Utc>,
    signer: Option<&PKey<Private>>,
) -> Result<AuthnRedirect, SsoError> {
    let xml = authn_request_xml(sp, idp, request_id, now);
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(xml.as_bytes())
        .map_err(|_| SsoError::SamlMalformed("cannot deflate the AuthnRequest"))?;
    let deflated = encoder
        .finish()
        .map_err(|_| SsoError::SamlMalformed("cannot deflate the AuthnRequest"))?;
    let base = url::Url::parse(&idp.sso_url)
        .map_err(|_| SsoError::SamlMetadata("the SSO URL is not a URL"))?;
    // Built by hand: the signature covers these exact bytes, in this order.
    let mut query = format!(
        "SAMLRequest={}&RelayState={}",
        query_value(&BASE64.encode(&deflated)),
        query_value(relay_state)
    );
    if let Some(key) = signer {
        query.push_str(&format!("&SigAlg={}", query_value(SIG_ALG_RSA_SHA256)));
        let signature = Signer::new(MessageDigest::sha256(), key)
            .and_then(|mut s| {
                s.update(query.as_bytes())?;
                s.sign_to_vec()
            })
            .map_err(|_| SsoError::SamlMalformed("cannot sign the AuthnRequest"))?;
        query.push_str(&format!(
            "&Signature={}",
            query_value(&BASE64.encode(&signature))
        ));
    }
    let separator = if base.query().is_some() { '&' } else { '?' };
    Ok(AuthnRedirect {
        url: format!("{base}{separator}{query}"),
        request_id: request_id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_redirect_carries_a_deflated_request_and_the_relay_state() {
        let sp = SpSettings::for_connection("https://broker.example", "c1");
        let idp = IdpSettings {
            entity_id: "https://idp.example".into(),
            sso_url: "https://idp.example/sso?app=1".into(),
            certificates: vec![],
            want_authn_requests_signed: false,
        };
        let now = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let r = authn_request_redirect(&sp, &idp, "_abc", "rs1", now, None).unwrap();
        let url = url::Url::parse(&r.url).unwrap();
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["app"], "1");
        assert_eq!(pairs["RelayState"], "rs1");
        let deflated = BASE64.decode(pairs["SAMLRequest"].as_bytes()).unwrap();
        let mut xml = String::new();
        flate2::read::DeflateDecoder::new(&deflated[..])
            .read_to_string(&mut xml)
            .unwrap();
        assert!(xml.contains(r#"ID="_abc""#));
        assert!(
            xml.contains(r#"AssertionConsumerServiceURL="https://broker.example/sso/saml/acs/c1""#)
        );
        assert!(
            xml.contains("<saml:Issuer>https://broker.example/sso/saml/metadata/c1</saml:Issuer>")
        );
    }
}
