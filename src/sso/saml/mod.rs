//! SAML 2.0 service-provider adapter (SPEC §5): IdP metadata in, SP metadata and AuthnRequests
//! out, and an ACS check that takes a `SAMLResponse` and returns a verified identity or an
//! `SsoError`. Signatures are checked by samael + xmlsec against the *configured* certificates
//! only; every semantic check (destination, recipient, audience, issuer, times, request id) is ours,
//! against an explicit `now`, because samael reads the wall clock. Nothing here knows about actix,
//! sessions or the database (the replay store is the caller's).

pub mod acs;
pub mod authn_request;
pub mod metadata;
pub mod xml_guard;

#[cfg(test)]
mod acs_fixture;
#[cfg(test)]
mod acs_tests;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod guard_tests;
#[cfg(test)]
mod vector_tests;
#[cfg(test)]
mod xsw_tests;

pub use acs::{verify_acs_response, AcsRules, VerifiedAssertion};
pub use authn_request::{authn_request_redirect, AuthnRedirect};
pub use metadata::{parse_idp_metadata, sp_metadata_xml, IdpSettings, SpSettings};

pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// The claim URIs Okta and Entra use (SPEC §5).
pub mod claims {
    pub const EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
    pub const GIVEN_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
    pub const SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
    pub const AMR: &str = "http://schemas.microsoft.com/claims/authnmethodsreferences";
    /// An `amr` value Entra sends when the user passed MFA.
    pub const MULTIPLE_AUTHN: &str = "http://schemas.microsoft.com/claims/multipleauthn";
}

/// Escapes text for an XML attribute value or element content.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}
