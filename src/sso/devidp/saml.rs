//! The built-in development identity provider (SPEC §6.6), SAML half: one self-signed RSA-2048
//! key and certificate, the IdP metadata that announces them, SAML 2.0 Responses signed with that
//! key (Response, Assertion, both or neither) and the decoding of HTTP-Redirect AuthnRequests.
//! Runs only for `demo` and tests on loopback. It is a real protocol peer, never a shortcut: the
//! broker validates what it signs exactly as it validates Okta's or Entra's, so nothing here may
//! ever be trusted by the broker's own checks (`sso::saml`).

use std::io::Read as _;

use chrono::{DateTime, Duration, Utc};
use data_encoding::BASE64;
use samael::crypto::{CryptoProvider as _, XmlSec};

const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const ATTRNAME_URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";

/// `NameID` format of an email address.
pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
/// The claim URI Entra and the broker's default configuration read the email from.
pub const CLAIM_EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
/// `StatusCode` of a successful sign-in.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// The authentication context a password sign-in over TLS reports.
pub const AC_PASSWORD_PROTECTED_TRANSPORT: &str =
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";

/// Largest inflated AuthnRequest accepted (a DEFLATE bomb stops here).
const MAX_AUTHN_REQUEST_BYTES: u64 = 64 * 1024;
/// Why the development SAML IdP could not do its part. The text is for the developer's log.
#[derive(Debug, thiserror::Error)]
pub enum DevSamlError {
    #[error("DS0001 cannot create the SAML signing key or certificate: {0}")]
    Key(String),
    #[error("DS0002 cannot sign the SAML response: {0}")]
    Sign(String),
    #[error("DS0003 unreadable SAML AuthnRequest: {0}")]
    Request(String),
}

/// One development SAML IdP: an RSA-2048 key and its self-signed certificate.
pub struct DevSamlIdp {
    /// PKCS#1 DER, the form `XmlSec::sign_xml` loads.
    key_der: Vec<u8>,
    key_pem: String,
    cert_der: Vec<u8>,
    cert_pem: String,
}

impl std::fmt::Debug for DevSamlIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevSamlIdp").finish_non_exhaustive()
    }
}

/// Which elements of a Response carry an enveloped signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Response,
    Assertion,
    Both,
    None,
}

/// Signature and digest algorithm of every signature in a Response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// `rsa-sha256` with a `sha256` digest.
    Sha256,
    /// `rsa-sha1` with a `sha1` digest, only so tests can prove SHA-1 is refused.
    Sha1,
}

impl DigestAlgorithm {
    fn signature_uri(self) -> &'static str {
        match self {
            Self::Sha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            Self::Sha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        }
    }

    fn digest_uri(self) -> &'static str {
        match self {
            Self::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
            Self::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
        }
    }
}

/// Everything a Response says. Tests change single fields to forge the variants an SP must refuse.
#[derive(Debug, Clone)]
pub struct ResponseSpec {
    /// `Response@ID`; `_` and hex, must be an NCName when the Response is signed.
    pub response_id: String,
    /// `Assertion@ID`; `_` and hex, must be an NCName when the Assertion is signed.
    pub assertion_id: String,
    /// IdP entityID, the `<saml:Issuer>` of the Response and of the Assertion.
    pub issuer: String,
    /// `Response@Destination`.
    pub destination: String,
    /// `SubjectConfirmationData@Recipient`.
    pub recipient: String,
    /// `Conditions/AudienceRestriction/Audience`.
    pub audience: String,
    /// `Response@InResponseTo` and `SubjectConfirmationData@InResponseTo`; `None` is IdP-initiated.
    pub in_response_to: Option<String>,
    /// `Subject/NameID` text.
    pub name_id: String,
    /// `NameID@Format`, e.g. [`NAMEID_EMAIL`].
    pub name_id_format: String,
    /// The `AttributeStatement` (name, values); the element is left out when empty.
    pub attributes: Vec<(String, Vec<String>)>,
    /// `IssueInstant` of Response and Assertion, and `AuthnInstant`.
    pub issue_instant: DateTime<Utc>,
    /// `Conditions@NotBefore`.
    pub not_before: DateTime<Utc>,
    /// `Conditions@NotOnOrAfter` and `SubjectConfirmationData@NotOnOrAfter`.
    pub not_on_or_after: DateTime<Utc>,
    /// `AuthnStatement@SessionNotOnOrAfter`.
    pub session_not_on_or_after: Option<DateTime<Utc>>,
    /// `AuthnContextClassRef`, e.g. [`AC_PASSWORD_PROTECTED_TRANSPORT`].
    pub authn_context_class: String,
    /// `StatusCode@Value`, normally [`STATUS_SUCCESS`]. The Assertion is included whatever the
    /// status, so a test proves the SP reads the status and not only the assertion.
    pub status: String,
    /// Which elements are signed.
    pub signing: Signing,
    /// The algorithms of every signature.
    pub digest: DigestAlgorithm,
}

impl ResponseSpec {
    /// A Response an SP should accept at `now`: random ids, `Destination` and `Recipient` =
    /// `acs_url`, `NotBefore` one minute ago, `NotOnOrAfter` in five minutes, no
    /// `SessionNotOnOrAfter` (as Entra), both signatures with RSA-SHA256, status Success, an
    /// emailAddress NameID and the same email in the [`CLAIM_EMAIL`] attribute. No
    /// `InResponseTo`: set it to the AuthnRequest's id for an SP-initiated sign-in.
    pub fn new(
        issuer: &str,
        acs_url: &str,
        audience: &str,
        name_id: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            response_id: random_id(),
            assertion_id: random_id(),
            issuer: issuer.to_string(),
            destination: acs_url.to_string(),
            recipient: acs_url.to_string(),
            audience: audience.to_string(),
            in_response_to: None,
            name_id: name_id.to_string(),
            name_id_format: NAMEID_EMAIL.to_string(),
            attributes: vec![(CLAIM_EMAIL.to_string(), vec![name_id.to_string()])],
            issue_instant: now,
            not_before: now - Duration::minutes(1),
            not_on_or_after: now + Duration::minutes(5),
            session_not_on_or_after: None,
            authn_context_class: AC_PASSWORD_PROTECTED_TRANSPORT.to_string(),
            status: STATUS_SUCCESS.to_string(),
            signing: Signing::Both,
            digest: DigestAlgorithm::Sha256,
        }
    }
}

/// What the IdP reads from an AuthnRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthnRequest {
    /// `AuthnRequest@ID`, the Response's `InResponseTo`.
    pub id: String,
    /// `AuthnRequest@AssertionConsumerServiceURL`.
    pub acs_url: Option<String>,
    /// `<saml:Issuer>`, the SP entityID.
    pub issuer: Option<String>,
}

impl DevSamlIdp {
    /// A fresh RSA-2048 key and a self-signed SHA-256 certificate for `CN=common_name`, valid
    /// from now for ten years.
    pub fn generate(common_name: &str) -> Result<Self, DevSamlError> {
        let key = |e: openssl::error::ErrorStack| DevSamlError::Key(e.to_string());
        let (pkey, cert) = crate::crypto::self_signed::generate(common_name).map_err(key)?;
        let key_der = pkey
            .rsa()
            .and_then(|r| r.private_key_to_der())
            .map_err(key)?;
        let key_pem = pem_text(pkey.private_key_to_pem_pkcs8().map_err(key)?)?;

        Ok(Self {
            key_der,
            key_pem,
            cert_der: cert.to_der().map_err(key)?,
            cert_pem: pem_text(cert.to_pem().map_err(key)?)?,
        })
    }

    /// The certificate, DER (what an SP configures as the IdP's signing certificate).
    pub fn cert_der(&self) -> Vec<u8> {
        self.cert_der.clone()
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// The private key, PKCS#8 PEM. For tests only (e.g. to forge with another tool).
    pub fn private_key_pem(&self) -> String {
        self.key_pem.clone()
    }

    /// IdP metadata: `<md:EntityDescriptor entityID>` with an IDPSSODescriptor for SAML 2.0, one
    /// signing KeyDescriptor carrying the certificate, the emailAddress NameID format and the
    /// SingleSignOnService at `sso_url` for the HTTP-Redirect and HTTP-POST bindings.
    pub fn metadata_xml(&self, entity_id: &str, sso_url: &str) -> String {
        let location = attr(sso_url);
        format!(
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                r#"<md:EntityDescriptor xmlns:md="{md}" xmlns:ds="{ds}" entityID="{entity_id}">"#,
                r#"<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="{protocol}">"#,
                r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>"#,
                r#"<ds:X509Certificate>{cert}</ds:X509Certificate>"#,
                r#"</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
                r#"<md:NameIDFormat>{nameid}</md:NameIDFormat>"#,
                r#"<md:SingleSignOnService Binding="{redirect}" Location="{location}"/>"#,
                r#"<md:SingleSignOnService Binding="{post}" Location="{location}"/>"#,
                r#"</md:IDPSSODescriptor></md:EntityDescriptor>"#,
            ),
            md = NS_METADATA,
            ds = NS_DSIG,
            entity_id = attr(entity_id),
            protocol = NS_PROTOCOL,
            cert = BASE64.encode(&self.cert_der),
            nameid = NAMEID_EMAIL,
            redirect = BINDING_REDIRECT,
            post = BINDING_POST,
            location = location,
        )
    }

    /// A `<samlp:Response>` as XML text (not base64), signed as `spec.signing` says.
    ///
    /// xmlsec (through `XmlSec::sign_xml`) signs only the first `<ds:Signature>` of a document,
    /// and an assertion signature must exist before the response digest covers it: so the
    /// Assertion is signed alone first, as its own document, then embedded in the Response,
    /// which is signed last. Exclusive canonicalisation makes the embedded copy digest the same.
    pub fn response_xml(&self, spec: &ResponseSpec) -> Result<String, DevSamlError> {
        let sign_assertion = matches!(spec.signing, Signing::Assertion | Signing::Both);
        let sign_response = matches!(spec.signing, Signing::Response | Signing::Both);
        let mut assertion = self.assertion_template(spec, sign_assertion)?;
        if sign_assertion {
            assertion = self.sign(&assertion)?;
        }
        let response = self.response_template(spec, &assertion, sign_response)?;
        if sign_response {
            self.sign(&response)
        } else {
            Ok(response)
        }
    }

    fn assertion_template(
        &self,
        spec: &ResponseSpec,
        signed: bool,
    ) -> Result<String, DevSamlError> {
        let signature = if signed {
            self.signature_template(&spec.assertion_id, spec.digest)?
        } else {
            String::new()
        };
        let in_response_to = spec
            .in_response_to
            .as_deref()
            .map(|id| format!(r#" InResponseTo="{}""#, attr(id)))
            .unwrap_or_default();
        let session_end = spec
            .session_not_on_or_after
            .map(|t| format!(r#" SessionNotOnOrAfter="{}""#, instant(t)))
            .unwrap_or_default();
        let mut attributes = String::new();
        if !spec.attributes.is_empty() {
            attributes.push_str("<saml:AttributeStatement>");
            for (name, values) in &spec.attributes {
                attributes.push_str(&format!(
                    r#"<saml:Attribute Name="{}" NameFormat="{ATTRNAME_URI}">"#,
                    attr(name)
                ));
                for value in values {
                    attributes.push_str(&format!(
                        "<saml:AttributeValue>{}</saml:AttributeValue>",
                        text(value)
                    ));
                }
                attributes.push_str("</saml:Attribute>");
            }
            attributes.push_str("</saml:AttributeStatement>");
        }
        let not_on_or_after = instant(spec.not_on_or_after);
        Ok(format!(
            concat!(
                r#"<saml:Assertion xmlns:saml="{saml}" ID="{id}" Version="2.0" IssueInstant="{issued}">"#,
                "<saml:Issuer>{issuer}</saml:Issuer>{signature}",
                "<saml:Subject>",
                r#"<saml:NameID Format="{format}">{name_id}</saml:NameID>"#,
                r#"<saml:SubjectConfirmation Method="{bearer}">"#,
                r#"<saml:SubjectConfirmationData NotOnOrAfter="{not_on_or_after}" Recipient="{recipient}"{in_response_to}/>"#,
                "</saml:SubjectConfirmation></saml:Subject>",
                r#"<saml:Conditions NotBefore="{not_before}" NotOnOrAfter="{not_on_or_after}">"#,
                "<saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction>",
                "</saml:Conditions>",
                r#"<saml:AuthnStatement AuthnInstant="{issued}" SessionIndex="{session_index}"{session_end}>"#,
                "<saml:AuthnContext><saml:AuthnContextClassRef>{class}</saml:AuthnContextClassRef></saml:AuthnContext>",
                "</saml:AuthnStatement>{attributes}</saml:Assertion>",
            ),
            saml = NS_ASSERTION,
            id = attr(&spec.assertion_id),
            issued = instant(spec.issue_instant),
            issuer = text(&spec.issuer),
            signature = signature,
            format = attr(&spec.name_id_format),
            name_id = text(&spec.name_id),
            bearer = BEARER,
            not_on_or_after = not_on_or_after,
            recipient = attr(&spec.recipient),
            in_response_to = in_response_to,
            not_before = instant(spec.not_before),
            audience = text(&spec.audience),
            session_index = attr(&spec.assertion_id),
            session_end = session_end,
            class = text(&spec.authn_context_class),
            attributes = attributes,
        ))
    }

    fn response_template(
        &self,
        spec: &ResponseSpec,
        assertion: &str,
        signed: bool,
    ) -> Result<String, DevSamlError> {
        let signature = if signed {
            self.signature_template(&spec.response_id, spec.digest)?
        } else {
            String::new()
        };
        let in_response_to = spec
            .in_response_to
            .as_deref()
            .map(|id| format!(r#" InResponseTo="{}""#, attr(id)))
            .unwrap_or_default();
        Ok(format!(
            concat!(
                r#"<samlp:Response xmlns:samlp="{samlp}" xmlns:saml="{saml}" ID="{id}" Version="2.0" "#,
                r#"IssueInstant="{issued}" Destination="{destination}"{in_response_to}>"#,
                "<saml:Issuer>{issuer}</saml:Issuer>{signature}",
                r#"<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>"#,
                "{assertion}</samlp:Response>",
            ),
            samlp = NS_PROTOCOL,
            saml = NS_ASSERTION,
            id = attr(&spec.response_id),
            issued = instant(spec.issue_instant),
            destination = attr(&spec.destination),
            in_response_to = in_response_to,
            issuer = text(&spec.issuer),
            signature = signature,
            status = attr(&spec.status),
            assertion = assertion,
        ))
    }

    /// An enveloped-signature template xmlsec fills in: exclusive c14n, `URI="#id"`, and the
    /// certificate in `KeyInfo` as real IdPs send it (the broker must ignore it).
    fn signature_template(
        &self,
        reference_id: &str,
        digest: DigestAlgorithm,
    ) -> Result<String, DevSamlError> {
        if !is_ncname(reference_id) {
            return Err(DevSamlError::Sign(format!(
                "a signed element's ID must be an NCName, not {reference_id:?}"
            )));
        }
        Ok(format!(
            concat!(
                r#"<ds:Signature xmlns:ds="{ds}"><ds:SignedInfo>"#,
                r#"<ds:CanonicalizationMethod Algorithm="{c14n}"/>"#,
                r#"<ds:SignatureMethod Algorithm="{signature}"/>"#,
                r##"<ds:Reference URI="#{id}"><ds:Transforms>"##,
                r#"<ds:Transform Algorithm="{enveloped}"/><ds:Transform Algorithm="{c14n}"/>"#,
                r#"</ds:Transforms><ds:DigestMethod Algorithm="{digest}"/>"#,
                "<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>",
                "<ds:SignatureValue></ds:SignatureValue>",
                "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate>",
                "</ds:X509Data></ds:KeyInfo></ds:Signature>",
            ),
            ds = NS_DSIG,
            c14n = EXC_C14N,
            signature = digest.signature_uri(),
            id = reference_id,
            enveloped = ENVELOPED,
            digest = digest.digest_uri(),
            cert = BASE64.encode(&self.cert_der),
        ))
    }

    /// Fills the first signature template of `xml`; returns the element without an XML
    /// declaration, so it can be embedded or sent as is.
    fn sign(&self, xml: &str) -> Result<String, DevSamlError> {
        let signed = XmlSec::sign_xml(xml, &self.key_der)
            .map_err(|e| DevSamlError::Sign(error_chain(&e)))?;
        let body = match signed.strip_prefix("<?xml") {
            Some(rest) => rest.split_once("?>").map_or(rest, |(_, body)| body),
            None => signed.as_str(),
        };
        Ok(body.trim().to_string())
    }
}

/// Decodes the `SAMLRequest` value of an HTTP-Redirect binding (after URL decoding: base64 of
/// raw DEFLATE) and reads the request's ID, AssertionConsumerServiceURL and Issuer. Strict on
/// purpose (no zlib header, no stray whitespace): the broker's requests must follow the binding.
pub fn decode_redirect_authn_request(
    saml_request: &str,
) -> Result<ParsedAuthnRequest, DevSamlError> {
    let bad = |what: &str| DevSamlError::Request(what.to_string());
    let deflated = BASE64
        .decode(saml_request.as_bytes())
        .map_err(|_| bad("SAMLRequest is not base64"))?;
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .take(MAX_AUTHN_REQUEST_BYTES + 1)
        .read_to_string(&mut xml)
        .map_err(|_| bad("SAMLRequest is not raw DEFLATE of UTF-8 text"))?;
    if xml.len() as u64 > MAX_AUTHN_REQUEST_BYTES {
        return Err(bad("AuthnRequest too large"));
    }
    if xml.contains("<!DOCTYPE") {
        return Err(bad("AuthnRequest with a DTD"));
    }
    let request = xml
        .parse::<samael::schema::AuthnRequest>()
        .map_err(|e| DevSamlError::Request(e.to_string()))?;
    Ok(ParsedAuthnRequest {
        id: request.id,
        acs_url: request.assertion_consumer_service_url,
        issuer: request.issuer.and_then(|issuer| issuer.value),
    })
}

fn random_id() -> String {
    format!("_{}", uuid::Uuid::new_v4().simple())
}

fn instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Element text: markup escaped; CR as a reference, or the parser would turn it into LF.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// Attribute value in double quotes: also quotes, and whitespace the parser would normalise.
fn attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// The ASCII subset of XML NCNames, enough for `_` + hex ids (xmlsec resolves `#id` only then).
fn is_ncname(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn pem_text(pem: Vec<u8>) -> Result<String, DevSamlError> {
    String::from_utf8(pem).map_err(|e| DevSamlError::Key(e.to_string()))
}

/// samael's `CryptoError` says only "Crypto Provider Error"; the cause is in its sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[path = "saml_tests.rs"]
mod tests;
