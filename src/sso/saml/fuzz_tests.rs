//! Mutation fuzzing of the ACS with proptest: a response our IdP validly signed for Alice, then
//! flipped bits, inserted markup, truncated, spliced, or replaced by random text or random
//! base64. Whatever comes in, `verify_acs_response` returns (no panic), and whatever it accepts
//! is still Alice's: a mutation may touch what no signature covers (`KeyInfo`, whitespace
//! between elements), never the identity. `PROPTEST_CASES` sets the cases per property (256).

use std::sync::LazyLock;

use data_encoding::BASE64;
use proptest::prelude::*;
use proptest::sample::{select, Index};

use super::acs_fixture::{post_field, signed, spec, Connection, ALICE};
use crate::sso::devidp::saml::Signing;

/// The original: both Response and Assertion signed, as Okta sends them.
static ORIGINAL: LazyLock<Vec<u8>> = LazyLock::new(|| signed(&spec(Signing::Both)).into_bytes());

/// Markup an attacker would try (and plain bytes a transport might break).
const FRAGMENTS: &[&str] = &[
    "<!---->",
    "<!-- x -->",
    "&amp;",
    "&#x41;",
    "&evil;",
    "<",
    ">",
    "\"",
    "'",
    "<![CDATA[mallory]]>",
    "<?pi x?>",
    "<!DOCTYPE x>",
    r#"<saml:Assertion ID="_x"/>"#,
    "<saml:NameID>mallory@evil.example</saml:NameID>",
    r#"<saml:Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"><saml:AttributeValue>mallory@evil.example</saml:AttributeValue></saml:Attribute>"#,
    r#" xmlns:saml="urn:evil""#,
    r#" ID="_dup""#,
    "mallory@evil.example",
    "\u{0}",
    "\u{feff}",
    "é",
    "\r\n",
];

/// The property: no panic (proptest fails a case that panics), and an accepted response is
/// Alice's, with her email.
fn check(field: &str) -> Result<(), TestCaseError> {
    if let Ok(v) = Connection::new().verify_field(field) {
        prop_assert_eq!(v.name_id, ALICE);
        prop_assert_eq!(v.email.as_deref(), Some(ALICE));
    }
    Ok(())
}

fn check_bytes(xml: &[u8]) -> Result<(), TestCaseError> {
    check(&BASE64.encode(xml))
}

fn config() -> ProptestConfig {
    // `default()` reads PROPTEST_CASES (256 when unset).
    ProptestConfig {
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    }
}

#[test]
fn the_unmutated_response_is_accepted_so_the_properties_are_not_vacuous() {
    let xml = String::from_utf8(ORIGINAL.clone()).expect("UTF-8");
    let v = Connection::new()
        .verify_field(&post_field(&xml))
        .expect("accepted");
    assert_eq!(v.name_id, ALICE);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn flipped_bits_never_change_whose_response_it_is(
        flips in prop::collection::vec((any::<Index>(), 0..8u8), 1..6),
    ) {
        let mut xml = ORIGINAL.clone();
        for (at, bit) in &flips {
            let i = at.index(xml.len());
            xml[i] ^= 1 << bit;
        }
        check_bytes(&xml)?;
    }

    #[test]
    fn inserted_markup_never_changes_whose_response_it_is(
        at in any::<Index>(),
        what in prop_oneof![select(FRAGMENTS).prop_map(str::to_string), "\\PC{1,24}"],
    ) {
        let mut xml = ORIGINAL.clone();
        let i = at.index(xml.len() + 1);
        xml.splice(i..i, what.bytes());
        check_bytes(&xml)?;
    }

    #[test]
    fn truncated_responses_are_refused(at in any::<Index>()) {
        let xml = &ORIGINAL[..at.index(ORIGINAL.len())];
        prop_assert!(Connection::new().verify_field(&BASE64.encode(xml)).is_err());
    }

    #[test]
    fn spliced_copies_never_change_whose_response_it_is(
        from in any::<Index>(),
        len in 1..2048usize,
        to in any::<Index>(),
        cut in any::<bool>(),
    ) {
        // A slice of the document repeated elsewhere, or moved there (wrapping, by chance).
        let mut xml = ORIGINAL.clone();
        let start = from.index(xml.len());
        let end = (start + len).min(xml.len());
        let piece: Vec<u8> = xml[start..end].to_vec();
        if cut {
            xml.drain(start..end);
        }
        let i = to.index(xml.len() + 1);
        xml.splice(i..i, piece);
        check_bytes(&xml)?;
    }

    #[test]
    fn random_text_as_the_field_is_refused(field in "\\PC{0,512}") {
        prop_assert!(Connection::new().verify_field(&field).is_err());
    }

    #[test]
    fn base64_of_random_bytes_is_refused(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        prop_assert!(Connection::new().verify_field(&BASE64.encode(&bytes)).is_err());
    }
}
