//! IdP metadata import and SP metadata. The IdP's entityID, its HTTP-Redirect SSO URL and its
//! signing certificates are what the ACS trusts later; the SP side is derived from the broker's
//! public URL and the connection id.
//!
//! # Security
//! samael verifies nothing when the IdP metadata holds no signing `KeyDescriptor` (it parses the
//! response unverified). Metadata without a usable signing certificate is therefore refused here,
//! at import, and the ACS refuses again if the stored list is ever empty.

use data_encoding::BASE64;
use samael::metadata::EntityDescriptor;

use super::{xml_escape, xml_guard, BINDING_POST, BINDING_REDIRECT, NAMEID_EMAIL};
use crate::sso::SsoError;

/// Largest accepted metadata document (Entra's federation metadata is about 10 KiB; aggregate
/// metadata of a federation is not what an admin pastes here).
pub const MAX_METADATA_LEN: usize = 512 * 1024;

/// What the broker keeps of an IdP (stored in the connection's settings).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdpSettings {
    pub entity_id: String,
    /// HTTP-Redirect SingleSignOnService location.
    pub sso_url: String,
    /// Signing certificates, base64 DER: the current one and, during a rollover, the next.
    pub certificates: Vec<String>,
    pub want_authn_requests_signed: bool,
}

impl IdpSettings {
    /// The certificates as DER, for xmlsec. Fails when none is stored.
    pub fn certificate_ders(&self) -> Result<Vec<samael::crypto::CertificateDer>, SsoError> {
        let ders = self
            .certificates
            .iter()
            .filter_map(|c| BASE64.decode(c.as_bytes()).ok())
            .map(samael::crypto::CertificateDer::from)
            .collect::<Vec<_>>();
        if ders.is_empty() {
            return Err(SsoError::SamlNoCertificate);
        }
        Ok(ders)
    }
}

/// Our side of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpSettings {
    pub entity_id: String,
    pub acs_url: String,
}

impl SpSettings {
    /// The SP of connection `id` under the broker's public URL: the metadata URL is the entityID.
    pub fn for_connection(public_url: &str, id: &str) -> Self {
        let base = public_url.trim_end_matches('/');
        Self {
            entity_id: format!("{base}/sso/saml/metadata/{id}"),
            acs_url: format!("{base}/sso/saml/acs/{id}"),
        }
    }
}

/// A certificate from metadata or from a PEM/base64 paste, checked to be an X.509 certificate,
/// returned as base64 DER.
pub fn normalize_certificate(text: &str) -> Result<String, SsoError> {
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = BASE64
        .decode(body.as_bytes())
        .map_err(|_| SsoError::SamlMetadata("a certificate is not base64"))?;
    openssl::x509::X509::from_der(&der)
        .map_err(|_| SsoError::SamlMetadata("a certificate is not an X.509 certificate"))?;
    Ok(BASE64.encode(&der))
}

/// Reads an IdP's `EntityDescriptor`: entityID, the HTTP-Redirect SSO URL, signing certificates.
pub fn parse_idp_metadata(xml: &str) -> Result<IdpSettings, SsoError> {
    if xml.len() > MAX_METADATA_LEN {
        return Err(SsoError::SamlTooLarge);
    }
    xml_guard::check_plain_xml(xml)?;
    let descriptor: EntityDescriptor = xml
        .trim_start_matches('\u{feff}')
        .parse()
        .map_err(|_| SsoError::SamlMetadata("not a SAML EntityDescriptor"))?;
    let entity_id = descriptor
        .entity_id
        .clone()
        .filter(|e| !e.trim().is_empty() && e.len() <= 1024)
        .ok_or(SsoError::SamlMetadata("no entityID"))?;
    let idps = descriptor.idp_sso_descriptors.unwrap_or_default();
    let [idp] = idps.as_slice() else {
        return Err(SsoError::SamlMetadata(
            "not exactly one IDPSSODescriptor (is this an IdP's metadata?)",
        ));
    };
    let sso_url = idp
        .single_sign_on_services
        .iter()
        .find(|s| s.binding == BINDING_REDIRECT)
        .map(|s| s.location.trim().to_string())
        .ok_or(SsoError::SamlMetadata(
            "no SingleSignOnService for the HTTP-Redirect binding",
        ))?;
    let parsed = url::Url::parse(&sso_url)
        .map_err(|_| SsoError::SamlMetadata("the SSO URL is not a URL"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(SsoError::SamlMetadata("the SSO URL is not http(s)"));
    }
    let signing = |use_: &Option<String>| match use_.as_deref() {
        None | Some("") | Some("signing") => true,
        Some(_) => false,
    };
    let mut certificates = Vec::new();
    for key in idp.key_descriptors.iter().filter(|k| signing(&k.key_use)) {
        for cert in key
            .key_info
            .x509_data
            .iter()
            .flat_map(|d| d.certificates.iter())
        {
            let cert = normalize_certificate(cert)?;
            if !certificates.contains(&cert) {
                certificates.push(cert);
            }
        }
    }
    if certificates.is_empty() {
        return Err(SsoError::SamlMetadata("no signing certificate"));
    }
    Ok(IdpSettings {
        entity_id,
        sso_url,
        certificates,
        want_authn_requests_signed: idp.want_authn_requests_signed.unwrap_or(false),
    })
}

/// Our SP metadata for one connection: entityID, the ACS (HTTP-POST), NameID format email, the
/// certificate of the key that signs our AuthnRequests (when the connection has one; requests are
/// signed when the IdP wants them), and assertions must be signed.
pub fn sp_metadata_xml(
    sp: &SpSettings,
    signing_certificate: Option<&str>,
    requests_signed: bool,
) -> String {
    let key = signing_certificate
        .map(|cert| {
            format!(
                r#"
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
                xml_escape(cert)
            )
        })
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="{requests_signed}" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{key}
    <md:NameIDFormat>{nameid}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{post}" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        entity = xml_escape(&sp.entity_id),
        nameid = NAMEID_EMAIL,
        post = BINDING_POST,
        acs = xml_escape(&sp.acs_url),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "MIICajCCAdOgAwIBAgIBADANBgkqhkiG9w0BAQ0FADBSMQswCQYDVQQGEwJ1czETMBEGA1UECAwKQ2FsaWZvcm5pYTEVMBMGA1UECgwMT25lbG9naW4gSW5jMRcwFQYDVQQDDA5zcC5leGFtcGxlLmNvbTAeFw0xNDA3MTcxNDEyNTZaFw0xNTA3MTcxNDEyNTZaMFIxCzAJBgNVBAYTAnVzMRMwEQYDVQQIDApDYWxpZm9ybmlhMRUwEwYDVQQKDAxPbmVsb2dpbiBJbmMxFzAVBgNVBAMMDnNwLmV4YW1wbGUuY29tMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDZx+ON4IUoIWxgukTb1tOiX3bMYzYQiwWPUNMp+Fq82xoNogso2bykZG0yiJm5o8zv/sd6pGouayMgkx/2FSOdc36T0jGbCHuRSbtia0PEzNIRtmViMrt3AeoWBidRXmZsxCNLwgIV6dn2WpuE5Az0bHgpZnQxTKFek0BMKU/d8wIDAQABo1AwTjAdBgNVHQ4EFgQUGHxYqZYyX7cTxKVODVgZwSTdCnwwHwYDVR0jBBgwFoAUGHxYqZYyX7cTxKVODVgZwSTdCnwwDAYDVR0TBAUwAwEB/zANBgkqhkiG9w0BAQ0FAAOBgQByFOl+hMFICbd3DJfnp2Rgd/dqttsZG/tyhILWvErbio/DEe98mXpowhTkC04ENprOyXi7ZbUqiicF89uAGyt1oqgTUCD1VsLahqIcmrzgumNyTwLGWo17WDAa1/usDhetWAMhgzF/Cnf5ek0nK00m0YZGyc4LzgD0CROMASTWNg==";

    fn metadata(key_descriptor: &str) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/saml">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {key_descriptor}
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
        )
    }

    #[test]
    fn metadata_with_a_signing_certificate_is_imported() {
        let xml = metadata(&format!(
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{CERT}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
        ));
        let idp = parse_idp_metadata(&xml).unwrap();
        assert_eq!(idp.entity_id, "https://idp.example/saml");
        assert_eq!(idp.sso_url, "https://idp.example/sso");
        assert_eq!(idp.certificates, vec![CERT.to_string()]);
        assert_eq!(idp.certificate_ders().unwrap().len(), 1);
    }

    #[test]
    fn metadata_without_a_signing_certificate_is_refused() {
        let encryption_only = metadata(&format!(
            r#"<md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{CERT}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
        ));
        assert!(matches!(
            parse_idp_metadata(&encryption_only),
            Err(SsoError::SamlMetadata("no signing certificate"))
        ));
        assert!(matches!(
            parse_idp_metadata(&metadata("")),
            Err(SsoError::SamlMetadata("no signing certificate"))
        ));
    }

    #[test]
    fn metadata_with_a_doctype_is_refused() {
        let xml = format!(
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
            metadata("")
        );
        assert!(matches!(
            parse_idp_metadata(&xml),
            Err(SsoError::SamlDoctype)
        ));
    }

    #[test]
    fn an_empty_certificate_list_is_refused_at_validation_time() {
        let idp = IdpSettings {
            entity_id: "x".into(),
            sso_url: "https://x".into(),
            certificates: vec![],
            want_authn_requests_signed: false,
        };
        assert!(matches!(
            idp.certificate_ders(),
            Err(SsoError::SamlNoCertificate)
        ));
    }
}
