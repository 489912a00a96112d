//! SP-initiated sign-in: an `AuthnRequest` sent with the HTTP-Redirect binding (raw DEFLATE,
//! base64, `SAMLRequest` query parameter) and the flow's `RelayState`. Its `ID` is what the
//! assertion's `InResponseTo` must name.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use data_encoding::BASE64;
use flate2::write::DeflateEncoder;
use flate2::Compression;

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

/// The redirect to the IdP for a new request `request_id` (an NCName: `_` + hex) with
/// `relay_state`. A `login_hint` is not part of SAML; the IdP asks for the user itself.
pub fn authn_request_redirect(
    sp: &SpSettings,
    idp: &IdpSettings,
    request_id: &str,
    relay_state: &str,
    now: DateTime<Utc>,
) -> Result<AuthnRedirect, SsoError> {
    let xml = authn_request_xml(sp, idp, request_id, now);
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(xml.as_bytes())
        .map_err(|_| SsoError::SamlMalformed("cannot deflate the AuthnRequest"))?;
    let deflated = encoder
        .finish()
        .map_err(|_| SsoError::SamlMalformed("cannot deflate the AuthnRequest"))?;
    let mut url = url::Url::parse(&idp.sso_url)
        .map_err(|_| SsoError::SamlMetadata("the SSO URL is not a URL"))?;
    url.query_pairs_mut()
        .append_pair("SAMLRequest", &BASE64.encode(&deflated))
        .append_pair("RelayState", relay_state);
    Ok(AuthnRedirect {
        url: url.to_string(),
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
        let r = authn_request_redirect(&sp, &idp, "_abc", "rs1", now).unwrap();
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
