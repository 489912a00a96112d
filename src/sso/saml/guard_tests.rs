//! The raw guard's refusals found by review: transforms that make xmlsec burn CPU, XPointer
//! references, more than four signatures, non-UTF-8 declarations (a UTF-7 document hides a DOCTYPE from a
//! byte scan), processing instructions, undeclared entities; and dates near chrono's limits.

use chrono::Duration;

use super::acs_fixture::{signed, spec, Connection, ALICE, IDP};
use crate::sso::devidp::saml::Signing;
use crate::sso::SsoError;

fn response() -> String {
    signed(&spec(Signing::Both))
}

#[test]
fn the_untouched_response_is_accepted() {
    assert_eq!(
        Connection::new().verify_xml(&response()).unwrap().name_id,
        ALICE
    );
}

#[test]
fn an_xpath_transform_is_refused_before_xmlsec_runs_it() {
    let xml = response().replacen(
        r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#,
        r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>count(//*) &gt; 0</ds:XPath></ds:Transform>"#,
        1,
    );
    assert_ne!(xml, response(), "the transform was replaced");
    assert!(matches!(
        Connection::new().verify_xml(&xml),
        Err(SsoError::SamlWeakAlgorithm(t)) if t.contains("xpath")
    ));
}

#[test]
fn an_xpointer_reference_is_refused() {
    let xml = response();
    let start = xml.find(r##"URI="#"##).expect("a reference") + 5;
    let end = start + xml[start..].find('"').expect("end of URI");
    let xml = format!("{}#xpointer(/){}", &xml[..start], &xml[end..]);
    assert!(matches!(
        Connection::new().verify_xml(&xml),
        Err(SsoError::SamlMalformed(
            "a signature reference URI is not allowed"
        ))
    ));
}

#[test]
fn a_fifth_signature_is_refused() {
    let xml = response();
    let sig_start = xml.find("<ds:Signature").expect("a signature");
    let sig_end = xml.find("</ds:Signature>").expect("its end") + "</ds:Signature>".len();
    let copy = &xml[sig_start..sig_end];
    let status = xml.find("<samlp:Status>").expect("status");
    let xml = format!(
        "{}<samlp:Extensions>{copy}{copy}{copy}</samlp:Extensions>{}",
        &xml[..status],
        &xml[status..]
    );
    assert!(matches!(
        Connection::new().verify_xml(&xml),
        Err(SsoError::SamlMalformed("too many signatures"))
    ));
}

#[test]
fn a_utf7_declaration_that_hides_a_doctype_is_refused() {
    // libxml2 would decode "+ADw-!DOCTYPE…" as "<!DOCTYPE…"; a byte scan sees neither.
    let xml = format!("<?xml version=\"1.0\" encoding=\"UTF-7\"?>{}", response());
    assert!(matches!(
        Connection::new().verify_xml(&xml),
        Err(SsoError::SamlMalformed("the document is not UTF-8"))
    ));
    let declared = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>{}", response());
    assert!(Connection::new().verify_xml(&declared).is_ok());
}

#[test]
fn a_processing_instruction_is_refused() {
    let xml = format!("<?xml-stylesheet href=\"x\"?>{}", response());
    assert!(matches!(
        Connection::new().verify_xml(&xml),
        Err(SsoError::SamlMalformed("processing instruction"))
    ));
}

#[test]
fn an_undeclared_entity_reference_is_refused() {
    let xml = response().replacen(ALICE, "alice&e;@example.com", 1);
    assert!(matches!(
        Connection::new().verify_xml(&xml),
        Err(SsoError::SamlDoctype)
    ));
}

#[test]
fn dates_at_the_edge_of_the_calendar_do_not_panic() {
    for year_offset in [7_900, -2_000] {
        let mut spec = spec(Signing::Both);
        let far = spec.issue_instant + Duration::days(365 * year_offset);
        spec.not_on_or_after = far;
        spec.session_not_on_or_after = Some(far);
        let xml = IDP.response_xml(&spec).unwrap();
        // Refused (expired) or accepted (valid until then): never a panic.
        let verdict = Connection::new().verify_xml(&xml);
        if year_offset < 0 {
            assert!(matches!(verdict, Err(SsoError::SamlExpired)));
        } else {
            assert!(verdict.is_ok());
        }
    }
}

#[test]
fn the_replay_record_outlives_every_bearer_window() {
    let short = signed(&spec(Signing::Both));
    let v = Connection::new().verify_xml(&short).unwrap();
    let spec = spec(Signing::Both);
    assert_eq!(v.replay_until, spec.not_on_or_after + Duration::minutes(3));
}
