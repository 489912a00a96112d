//! XML signature wrapping (Somorovsky et al., "On Breaking SAML: Be Whoever You Want to Be",
//! USENIX Security 2012; the XSW1–XSW8 catalogue of SAML Raider): each attack is built by text
//! surgery on a response our IdP validly signed for Alice, adding an evil element that names
//! Mallory. Every one must be refused, for a stated reason, and never yield Mallory.
//!
//! XSW1–2 move the *Response* signature's target; XSW3–8 the *Assertion* signature's. Each is
//! tried twice: the evil element with a fresh `ID`, and with the original's `ID` (so an `ID`
//! lookup could find either; samael refuses duplicate `ID`s before verifying).

use super::acs_fixture::{signatures_verify, signed, spec, Connection, ALICE, MALLORY};
use crate::sso::devidp::saml::{ResponseSpec, Signing};
use crate::sso::SsoError;

/// `[start, end)` of the first `open…close` element in `xml`.
fn span(xml: &str, open: &str, close: &str) -> (usize, usize) {
    let start = xml.find(open).expect("element");
    let end = start + xml[start..].find(close).expect("end tag") + close.len();
    (start, end)
}

fn cut(xml: &str, (start, end): (usize, usize)) -> String {
    format!("{}{}", &xml[..start], &xml[end..])
}

fn insert_at(xml: &str, at: usize, what: &str) -> String {
    format!("{}{what}{}", &xml[..at], &xml[at..])
}

/// Inserts `what` just before the last `close` in `xml` (the end of its outermost element).
fn insert_before_last(xml: &str, close: &str, what: &str) -> String {
    insert_at(xml, xml.rfind(close).expect("end tag"), what)
}

const SIGNATURE: (&str, &str) = ("<ds:Signature", "</ds:Signature>");
const ASSERTION: (&str, &str) = ("<saml:Assertion ", "</saml:Assertion>");

/// The evil copy of `element` (holding elements with `ids`): Mallory's, with fresh `ID`s or
/// the same ones.
fn evil(element: &str, ids: &[&str], same_id: bool) -> String {
    let mut evil = element.replace(ALICE, MALLORY);
    for (n, id) in ids.iter().enumerate() {
        if !same_id {
            evil = evil.replace(&format!(r#"ID="{id}""#), &format!(r#"ID="_evil{n}""#));
        }
    }
    assert!(evil.contains(MALLORY));
    evil
}

struct Original {
    xml: String,
    spec: ResponseSpec,
}

impl Original {
    fn new(signing: Signing) -> Self {
        let spec = spec(signing);
        let xml = signed(&spec);
        // The control: the untouched response is Alice's.
        let v = Connection::new()
            .verify_xml(&xml)
            .expect("the original is accepted");
        assert_eq!(v.name_id, ALICE);
        Self { xml, spec }
    }

    /// The Response's signature, and the Response without it.
    fn response_parts(&self) -> (String, String) {
        let sig = span(&self.xml, SIGNATURE.0, SIGNATURE.1);
        (self.xml[sig.0..sig.1].to_string(), cut(&self.xml, sig))
    }

    /// The signed assertion, its signature, and the assertion without it.
    fn assertion_parts(&self) -> (String, String, String) {
        let a = span(&self.xml, ASSERTION.0, ASSERTION.1);
        let assertion = self.xml[a.0..a.1].to_string();
        let sig = span(&assertion, SIGNATURE.0, SIGNATURE.1);
        let signature = assertion[sig.0..sig.1].to_string();
        let unsigned = cut(&assertion, sig);
        (assertion, signature, unsigned)
    }

    /// The document with its assertion replaced by `with`.
    fn replace_assertion(&self, with: &str) -> String {
        let a = span(&self.xml, ASSERTION.0, ASSERTION.1);
        format!("{}{with}{}", &self.xml[..a.0], &self.xml[a.1..])
    }
}

/// The evil Response (Mallory's assertion, the original Response's signature after its
/// Issuer), with the original (without its signature) inside that signature or right after it.
fn evil_response(same_id: bool, inside_signature: bool) -> String {
    let original = Original::new(Signing::Response);
    let (signature, unsigned_original) = original.response_parts();
    let evil_unsigned = evil(
        &unsigned_original,
        &[&original.spec.response_id, &original.spec.assertion_id],
        same_id,
    );
    let moved = if inside_signature {
        insert_before_last(&signature, SIGNATURE.1, &unsigned_original)
    } else {
        format!("{signature}{unsigned_original}")
    };
    let after_issuer = evil_unsigned.find("</saml:Issuer>").expect("issuer") + 14;
    insert_at(&evil_unsigned, after_issuer, &moved)
}

fn xsw1(same_id: bool) -> String {
    evil_response(same_id, true)
}

fn xsw2(same_id: bool) -> String {
    evil_response(same_id, false)
}

fn xsw3(same_id: bool) -> String {
    let o = Original::new(Signing::Assertion);
    let (assertion, _, unsigned) = o.assertion_parts();
    let evil = evil(&unsigned, &[&o.spec.assertion_id], same_id);
    o.replace_assertion(&format!("{evil}{assertion}"))
}

fn xsw4(same_id: bool) -> String {
    let o = Original::new(Signing::Assertion);
    let (assertion, _, unsigned) = o.assertion_parts();
    let evil = evil(&unsigned, &[&o.spec.assertion_id], same_id);
    o.replace_assertion(&insert_before_last(&evil, ASSERTION.1, &assertion))
}

fn xsw5(same_id: bool) -> String {
    let o = Original::new(Signing::Assertion);
    let (assertion, _, unsigned) = o.assertion_parts();
    let evil = evil(&assertion, &[&o.spec.assertion_id], same_id);
    let doc = o.replace_assertion(&evil);
    insert_before_last(&doc, "</samlp:Response>", &unsigned)
}

fn evil_assertion_holding_the_original_in_its_signature(same_id: bool, object: bool) -> String {
    let o = Original::new(Signing::Assertion);
    let (assertion, _, unsigned) = o.assertion_parts();
    let evil = evil(&assertion, &[&o.spec.assertion_id], same_id);
    let hidden = if object {
        format!("<ds:Object>{unsigned}</ds:Object>")
    } else {
        unsigned
    };
    let sig_end = span(&evil, SIGNATURE.0, SIGNATURE.1).1 - SIGNATURE.1.len();
    o.replace_assertion(&insert_at(&evil, sig_end, &hidden))
}

fn xsw6(same_id: bool) -> String {
    evil_assertion_holding_the_original_in_its_signature(same_id, false)
}

fn xsw7(same_id: bool) -> String {
    let o = Original::new(Signing::Assertion);
    let (assertion, _, unsigned) = o.assertion_parts();
    let evil = evil(&unsigned, &[&o.spec.assertion_id], same_id);
    let doc = o.replace_assertion(&evil);
    let after_issuer = doc.find("</saml:Issuer>").expect("issuer") + 14;
    let extensions = format!("<samlp:Extensions>{assertion}</samlp:Extensions>");
    insert_at(&doc, after_issuer, &extensions)
}

fn xsw8(same_id: bool) -> String {
    evil_assertion_holding_the_original_in_its_signature(same_id, true)
}

/// Refused with `expected`, whichever `ID` the evil element carries; `live` says whether the
/// fresh-`ID` forgery's signatures still verify (the wrapping got past xmlsec, and only our
/// cross-check of the verified subtree against the document stops it).
fn assert_refused(
    name: &str,
    forge: fn(bool) -> String,
    expected: fn(&SsoError) -> bool,
    live: bool,
) {
    for same_id in [false, true] {
        let forged = forge(same_id);
        assert!(forged.contains(MALLORY), "{name}: the evil NameID is there");
        let verdict = Connection::new().verify_xml(&forged);
        match &verdict {
            Ok(v) => panic!("{name} (same ID: {same_id}) accepted as {}", v.name_id),
            Err(e) => assert!(expected(e), "{name} (same ID: {same_id}): {e}"),
        }
        if !same_id {
            assert_eq!(signatures_verify(&forged), live, "{name}: signature layer");
        }
    }
}

fn bad_signature(e: &SsoError) -> bool {
    matches!(e, SsoError::SamlBadSignature)
}

fn assertion_count(e: &SsoError) -> bool {
    matches!(e, SsoError::SamlAssertionCount)
}

#[test]
fn xsw1_evil_response_wrapping_the_signed_one_in_its_signature_is_refused() {
    assert_refused("XSW1", xsw1, bad_signature, false);
}

#[test]
fn xsw2_evil_response_with_the_signed_one_as_a_sibling_is_refused() {
    assert_refused("XSW2", xsw2, bad_signature, true);
}

#[test]
fn xsw3_evil_assertion_before_the_signed_one_is_refused() {
    assert_refused("XSW3", xsw3, assertion_count, true);
}

#[test]
fn xsw4_evil_assertion_wrapping_the_signed_one_is_refused() {
    assert_refused("XSW4", xsw4, bad_signature, true);
}

#[test]
fn xsw5_evil_assertion_carrying_the_copied_signature_is_refused() {
    assert_refused("XSW5", xsw5, assertion_count, true);
}

#[test]
fn xsw6_original_inside_the_evil_assertions_signature_is_refused() {
    assert_refused("XSW6", xsw6, bad_signature, false);
}

#[test]
fn xsw7_original_hidden_in_extensions_is_refused() {
    assert_refused("XSW7", xsw7, bad_signature, true);
}

#[test]
fn xsw8_original_hidden_in_a_signature_object_is_refused() {
    assert_refused("XSW8", xsw8, bad_signature, false);
}
