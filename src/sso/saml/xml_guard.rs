//! The first look at an untrusted SAML document, before any signature is checked: size limit,
//! base64, UTF-8, no DTD, and the shape of the raw tree (root element, top-level assertions,
//! signature algorithms). It never decides that anything is *valid*: what it reads is unsigned and
//! is used only to refuse early or to cross-check the verified subtree.
//!
//! # Security
//! A DOCTYPE is refused outright, before libxml2 sees the document: internal entities expand
//! into text that the signature does not cover differently from how we read it (billion laughs,
//! XXE, the entity tricks of CVE-2017-11427 family). The raw shape lets the ACS insist that the
//! verified assertion is the *one* top-level assertion (signature wrapping, XSW1–8).

use data_encoding::BASE64;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::{ASSERTION_NS, DSIG_NS, PROTOCOL_NS};
use crate::sso::SsoError;

/// Largest accepted `SAMLResponse` field (base64 text). Real responses with a few attributes and
/// two signatures are 8–20 KiB; Entra's with many group claims stay well below this.
pub const MAX_ENCODED_LEN: usize = 256 * 1024;
/// Deepest element nesting accepted (a Response is about eight levels deep).
const MAX_DEPTH: usize = 64;

/// What the raw, unverified document looks like.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RawShape {
    pub response_id: Option<String>,
    pub destination: Option<String>,
    pub in_response_to: Option<String>,
    /// Text of the root's `<saml:Issuer>` (optional in a Response): text and references, comments
    /// skipped (a CDATA section is not read, so such an Issuer never matches).
    pub issuer: Option<String>,
    /// `Status/StatusCode@Value` of the root (the first, top-level one).
    pub status: Option<String>,
    /// `ID`s of the `Assertion` children of the root, in order.
    pub assertion_ids: Vec<String>,
    pub encrypted_assertions: usize,
    /// Every `SignatureMethod` and `DigestMethod` algorithm anywhere in the document.
    pub algorithms: Vec<String>,
    /// Every `Transform` and `CanonicalizationMethod` algorithm anywhere in the document.
    pub transforms: Vec<String>,
    /// How many `ds:Signature` elements the document holds.
    pub signatures: usize,
}

/// Decodes the `SAMLResponse` form field: base64 (line breaks allowed) of UTF-8 XML.
pub fn decode_post_field(field: &str) -> Result<String, SsoError> {
    if field.len() > MAX_ENCODED_LEN {
        return Err(SsoError::SamlTooLarge);
    }
    let compact: Vec<u8> = field.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let bytes = BASE64
        .decode(&compact)
        .map_err(|_| SsoError::SamlMalformed("not base64"))?;
    String::from_utf8(bytes).map_err(|_| SsoError::SamlMalformed("not UTF-8"))
}

fn local_is(ns: &ResolveResult<'_>, start: &BytesStart<'_>, want_ns: &str, local: &str) -> bool {
    matches!(ns, ResolveResult::Bound(n) if n.as_ref() == want_ns.as_bytes())
        && start.local_name().as_ref() == local.as_bytes()
}

fn attr(start: &BytesStart<'_>, name: &str) -> Result<Option<String>, SsoError> {
    for a in start.attributes() {
        let a = a.map_err(|_| SsoError::SamlMalformed("bad attribute"))?;
        if a.key.as_ref() == name.as_bytes() {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|_| SsoError::SamlMalformed("bad attribute value"))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Attribute names must be XML QNames (`a`, `p:a`): what libxml2 would refuse or read
/// differently (`::foo`, `a:b:c`) is refused here, with a clear reason.
fn check_attribute_names(start: &BytesStart<'_>) -> Result<(), SsoError> {
    for a in start.attributes() {
        let a = a.map_err(|_| SsoError::SamlMalformed("bad attribute"))?;
        let key = a.key.as_ref();
        let parts: Vec<&[u8]> = key.split(|b| *b == b':').collect();
        if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
            return Err(SsoError::SamlMalformed("bad attribute name"));
        }
    }
    Ok(())
}

fn push_issuer(shape: &mut RawShape, text: &str) {
    if let Some(issuer) = shape.issuer.as_mut() {
        issuer.push_str(text);
    }
}

/// A reference names an element by `ID` (`#id`) or the whole document (`""`); XPointer
/// expressions (`#xpointer(...)`) are refused.
fn reference_uri_allowed(uri: &str) -> bool {
    uri.is_empty()
        || uri.strip_prefix('#').is_some_and(|id| {
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        })
}

/// The XML policy of everything the broker parses from outside (responses, metadata), checked
/// with quick-xml before libxml2 sees the text:
/// - no DTD, and no entity reference but the five predefined ones and character references
///   (billion laughs, XXE);
/// - UTF-8 only: libxml2 honours an `encoding` declaration that quick-xml does not, so a UTF-7
///   document would hide a DOCTYPE from this check;
/// - no processing instructions.
pub fn check_plain_xml(xml: &str) -> Result<(), SsoError> {
    reject_doctype(xml)?;
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader
            .read_event()
            .map_err(|_| SsoError::SamlMalformed("XML syntax"))?
        {
            Event::DocType(_) => return Err(SsoError::SamlDoctype),
            Event::Decl(decl) => {
                if let Some(encoding) = decl.encoding() {
                    let encoding =
                        encoding.map_err(|_| SsoError::SamlMalformed("bad XML declaration"))?;
                    if !encoding.eq_ignore_ascii_case(b"utf-8") {
                        return Err(SsoError::SamlMalformed("the document is not UTF-8"));
                    }
                }
            }
            Event::PI(_) => return Err(SsoError::SamlMalformed("processing instruction")),
            Event::GeneralRef(r) => {
                let predefined = r
                    .decode()
                    .ok()
                    .is_some_and(|n| quick_xml::escape::resolve_predefined_entity(&n).is_some());
                if !predefined && !matches!(r.resolve_char_ref(), Ok(Some(_))) {
                    return Err(SsoError::SamlDoctype);
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// Refuses DTDs and reads the raw shape of a document whose root must be a protocol `Response`.
pub fn inspect_response(xml: &str) -> Result<RawShape, SsoError> {
    check_plain_xml(xml)?;
    let mut reader = NsReader::from_str(xml);
    let mut shape = RawShape::default();
    // Path of (namespace, local name) from the root, as "R", "R/Status", ...
    let mut stack: Vec<&'static str> = Vec::new();
    let mut root_seen = false;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| SsoError::SamlMalformed("XML syntax"))?;
        match event {
            Event::DocType(_) => return Err(SsoError::SamlDoctype),
            Event::Start(ref start) | Event::Empty(ref start) => {
                let empty = matches!(event, Event::Empty(_));
                check_attribute_names(start)?;
                let depth = stack.len();
                if depth >= MAX_DEPTH {
                    return Err(SsoError::SamlMalformed("too deeply nested"));
                }
                let tag = if depth == 0 {
                    if root_seen {
                        return Err(SsoError::SamlMalformed("more than one root element"));
                    }
                    root_seen = true;
                    if !local_is(&ns, start, PROTOCOL_NS, "Response") {
                        return Err(SsoError::SamlMalformed("the root is not a samlp:Response"));
                    }
                    shape.response_id = attr(start, "ID")?;
                    shape.destination = attr(start, "Destination")?;
                    shape.in_response_to = attr(start, "InResponseTo")?;
                    "R"
                } else if depth == 1 && local_is(&ns, start, ASSERTION_NS, "Assertion") {
                    shape
                        .assertion_ids
                        .push(attr(start, "ID")?.unwrap_or_default());
                    "A"
                } else if depth == 1 && local_is(&ns, start, ASSERTION_NS, "EncryptedAssertion") {
                    shape.encrypted_assertions += 1;
                    "E"
                } else if depth == 1 && local_is(&ns, start, ASSERTION_NS, "Issuer") {
                    shape.issuer.get_or_insert_with(String::new);
                    "I"
                } else if depth == 1 && local_is(&ns, start, PROTOCOL_NS, "Status") {
                    "S"
                } else if depth == 2
                    && stack.last() == Some(&"S")
                    && local_is(&ns, start, PROTOCOL_NS, "StatusCode")
                {
                    if shape.status.is_none() {
                        shape.status = attr(start, "Value")?;
                    }
                    "-"
                } else {
                    if local_is(&ns, start, DSIG_NS, "SignatureMethod")
                        || local_is(&ns, start, DSIG_NS, "DigestMethod")
                    {
                        shape
                            .algorithms
                            .push(attr(start, "Algorithm")?.unwrap_or_default());
                    } else if local_is(&ns, start, DSIG_NS, "Transform")
                        || local_is(&ns, start, DSIG_NS, "CanonicalizationMethod")
                    {
                        shape
                            .transforms
                            .push(attr(start, "Algorithm")?.unwrap_or_default());
                    } else if local_is(&ns, start, DSIG_NS, "Signature") {
                        shape.signatures += 1;
                    } else if local_is(&ns, start, DSIG_NS, "Reference")
                        && !reference_uri_allowed(&attr(start, "URI")?.unwrap_or_default())
                    {
                        return Err(SsoError::SamlMalformed(
                            "a signature reference URI is not allowed",
                        ));
                    }
                    "-"
                };
                if !empty {
                    stack.push(tag);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(ref t) if stack.is_empty() && !t.iter().all(u8::is_ascii_whitespace) => {
                return Err(SsoError::SamlMalformed("text outside the root element"));
            }
            Event::Text(ref t) if stack.last() == Some(&"I") => {
                let text = t
                    .xml10_content()
                    .map_err(|_| SsoError::SamlMalformed("bad Issuer text"))?;
                push_issuer(&mut shape, &text);
            }
            Event::GeneralRef(ref r) if stack.last() == Some(&"I") => {
                let name = r
                    .decode()
                    .map_err(|_| SsoError::SamlMalformed("bad Issuer text"))?;
                let text = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or(SsoError::SamlMalformed("undeclared entity"))?
                        .to_string(),
                    Err(_) => return Err(SsoError::SamlMalformed("bad character reference")),
                };
                push_issuer(&mut shape, &text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !root_seen {
        return Err(SsoError::SamlMalformed("no root element"));
    }
    // quick-xml stops at the end of input without complaint, and libxml2 (in samael's recover
    // mode) closes what is open: a truncated document must not get that far.
    if !stack.is_empty() {
        return Err(SsoError::SamlMalformed("an element is not closed"));
    }
    Ok(shape)
}

/// Whether the root element of `xml` is `{ns}local`. Decides what xmlsec's verified subtree
/// is: samael's `Response` parser ignores the root's name and reads an `Assertion` as well.
pub fn root_is(xml: &str, ns: &str, local: &str) -> bool {
    let mut reader = NsReader::from_str(xml);
    loop {
        match reader.read_resolved_event() {
            Ok((resolved, Event::Start(ref start) | Event::Empty(ref start))) => {
                return local_is(&resolved, start, ns, local);
            }
            Ok((_, Event::Eof)) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

/// Refuses any document type declaration, wherever it is and however it is spelled.
pub fn reject_doctype(xml: &str) -> Result<(), SsoError> {
    let bytes = xml.as_bytes();
    let found = bytes
        .windows(9)
        .any(|w| w.eq_ignore_ascii_case(b"<!DOCTYPE"))
        || bytes
            .windows(8)
            .any(|w| w.eq_ignore_ascii_case(b"<!ENTITY"));
    if found {
        return Err(SsoError::SamlDoctype);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_doctype_with_entities_is_refused_before_parsing() {
        let xml = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>"#;
        assert!(matches!(inspect_response(xml), Err(SsoError::SamlDoctype)));
    }

    #[test]
    fn a_root_other_than_a_protocol_response_is_refused() {
        let xml = r#"<Response ID="a"/>"#;
        assert!(matches!(
            inspect_response(xml),
            Err(SsoError::SamlMalformed(_))
        ));
    }

    #[test]
    fn top_level_assertions_and_status_are_read() {
        let xml = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="r1" Destination="https://sp/acs">
            <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
            <saml:Assertion ID="a1"><saml:Advice><saml:Assertion ID="nested"/></saml:Advice></saml:Assertion>
            <saml:Assertion ID="a2"/>
        </samlp:Response>"#;
        let shape = inspect_response(xml).unwrap();
        assert_eq!(shape.assertion_ids, vec!["a1", "a2"]);
        assert_eq!(shape.destination.as_deref(), Some("https://sp/acs"));
        assert_eq!(
            shape.status.as_deref(),
            Some("urn:oasis:names:tc:SAML:2.0:status:Success")
        );
    }

    #[test]
    fn the_response_issuer_is_read_whole_and_the_assertion_issuer_is_not_taken_for_it() {
        let xml = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="r1">
            <saml:Issuer>https://idp.example/<!-- c -->saml?a=1&amp;b=&#x32;</saml:Issuer>
            <saml:Assertion ID="a1"><saml:Issuer>https://other.example</saml:Issuer></saml:Assertion>
        </samlp:Response>"#;
        let shape = inspect_response(xml).unwrap();
        assert_eq!(
            shape.issuer.as_deref(),
            Some("https://idp.example/saml?a=1&b=2")
        );
        let nested_only = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="r1">
            <saml:Assertion ID="a1"><saml:Issuer>https://other.example</saml:Issuer></saml:Assertion>
        </samlp:Response>"#;
        assert_eq!(inspect_response(nested_only).unwrap().issuer, None);
    }

    #[test]
    fn the_root_element_is_named_with_its_namespace() {
        let response =
            r#"<?xml version="1.0"?><p:Response xmlns:p="urn:oasis:names:tc:SAML:2.0:protocol"/>"#;
        assert!(root_is(response, PROTOCOL_NS, "Response"));
        assert!(!root_is(response, ASSERTION_NS, "Response"));
        let assertion = r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/></saml:Assertion>"#;
        assert!(!root_is(assertion, PROTOCOL_NS, "Response"));
        assert!(root_is(assertion, ASSERTION_NS, "Assertion"));
    }

    #[test]
    fn a_document_whose_elements_are_not_all_closed_is_refused() {
        let xml = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="r1"><samlp:Status>"#;
        assert!(matches!(
            inspect_response(xml),
            Err(SsoError::SamlMalformed("an element is not closed"))
        ));
        let closed = format!("{xml}</samlp:Status></samlp:Response>");
        assert!(inspect_response(&closed).is_ok());
    }

    #[test]
    fn an_oversized_field_is_refused_before_decoding() {
        let field = "A".repeat(MAX_ENCODED_LEN + 4);
        assert!(matches!(
            decode_post_field(&field),
            Err(SsoError::SamlTooLarge)
        ));
    }
}
