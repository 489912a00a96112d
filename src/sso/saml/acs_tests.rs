//! The ACS (SPEC §5) against our own SP settings and responses our development IdP signs with a
//! real key: what is accepted and what is read from it, and, for every rule, a response that
//! breaks only that rule and the exact reason it is refused. Signature wrapping is `xsw_tests`.

use chrono::Duration;

use super::acs_fixture::{
    idp_settings, post_field, signatures_verify, signed, spec, Connection, ALICE, ATTACKER, IDP,
    IDP_ENTITY_ID, IDP_SSO_URL, NEXT_IDP_KEY,
};
use super::xml_guard::MAX_ENCODED_LEN;
use super::{claims, parse_idp_metadata, IdpSettings, NAMEID_EMAIL};
use crate::domain::MfaEvidence;
use crate::sso::devidp::saml::{DigestAlgorithm, ResponseSpec, Signing};
use crate::sso::SsoError;

const SIGNED: [Signing; 3] = [Signing::Response, Signing::Assertion, Signing::Both];

fn verify(spec: &ResponseSpec) -> Result<super::VerifiedAssertion, SsoError> {
    Connection::new().verify_field(&post_field(&signed(spec)))
}

fn with_amr(values: &[&str]) -> ResponseSpec {
    let mut spec = spec(Signing::Both);
    let values = values.iter().map(|v| v.to_string()).collect();
    spec.attributes.push((claims::AMR.into(), values));
    spec
}

#[test]
fn response_signed_assertion_signed_and_both_signed_are_accepted_with_their_claims() {
    for signing in SIGNED {
        let spec = spec(signing);
        let v = verify(&spec).unwrap_or_else(|e| panic!("{signing:?}: {e}"));
        assert_eq!(v.name_id, ALICE, "{signing:?}");
        assert_eq!(v.name_id_format.as_deref(), Some(NAMEID_EMAIL));
        assert_eq!(v.email.as_deref(), Some(ALICE));
        assert_eq!(v.given_name.as_deref(), Some("Alice"));
        assert_eq!(v.surname.as_deref(), Some("Liddell"));
        assert_eq!(v.assertion_id, spec.assertion_id);
        assert_eq!(v.issuer, IDP_ENTITY_ID);
        assert!(v.solicited);
        // Keep the id until the last moment a copy could still be accepted.
        assert_eq!(v.replay_until, spec.not_on_or_after + Duration::minutes(3));
    }
}

#[test]
fn mfa_evidence_is_yes_for_multipleauthn_or_mfa() {
    for amr in [claims::MULTIPLE_AUTHN, "mfa"] {
        let v = verify(&with_amr(&["pwd", amr])).expect("accepted");
        assert_eq!(v.mfa_evidence(), MfaEvidence::Yes, "{amr}");
        assert!(v.amr.iter().any(|a| a == amr));
    }
}

#[test]
fn mfa_evidence_is_no_when_the_idp_states_only_a_password() {
    let v = verify(&with_amr(&["pwd"])).expect("accepted");
    assert_eq!(v.mfa_evidence(), MfaEvidence::No);
}

#[test]
fn mfa_evidence_is_unknown_when_the_idp_states_no_method() {
    let v = verify(&spec(Signing::Both)).expect("accepted");
    assert_eq!(v.mfa_evidence(), MfaEvidence::Unknown);
    // The AuthnContextClassRef is reported in `amr`, but is not MFA evidence.
    assert!(v
        .amr
        .iter()
        .any(|a| a.ends_with(":PasswordProtectedTransport")));
}

/// An account the attacker owns at the IdP, whose text up to a comment would be Alice's.
const CLAIMED: &str = "alice@example.com.evil.example";

/// A response for `CLAIMED` in the email attribute (and in the NameID if `name_id`), with an
/// empty comment after its `ALICE` prefix: exclusive c14n drops comments, so the signed digests
/// are unchanged (CVE-2017-11427 family).
fn comment_injected(signing: Signing, name_id: bool) -> String {
    let mut spec = spec(signing);
    if name_id {
        spec.name_id = CLAIMED.to_string();
    }
    spec.attributes[0].1 = vec![CLAIMED.to_string()];
    let xml = signed(&spec);
    let injected = format!("{ALICE}<!---->{}", &CLAIMED[ALICE.len()..]);
    let forged = xml.replace(&format!(">{CLAIMED}<"), &format!(">{injected}<"));
    assert_eq!(forged.matches("<!---->").count(), 1 + usize::from(name_id));
    forged
}

/// Refused, or read whole: never the text before the comment.
fn assert_refused_or_whole(
    result: Result<super::VerifiedAssertion, SsoError>,
    name_id: &str,
    email: &str,
) {
    match result {
        Err(SsoError::SamlBadSignature) => {}
        Ok(v) => {
            assert_eq!(v.name_id, name_id);
            assert_eq!(v.email.as_deref(), Some(email));
        }
        Err(other) => panic!("refused for an unexpected reason: {other}"),
    }
}

#[test]
fn comment_in_the_name_id_does_not_truncate_it() {
    for signing in SIGNED {
        let forged = comment_injected(signing, true);
        assert_refused_or_whole(Connection::new().verify_xml(&forged), CLAIMED, CLAIMED);
    }
}

#[test]
fn comment_in_the_email_attribute_does_not_truncate_it() {
    for signing in SIGNED {
        let forged = comment_injected(signing, false);
        assert_refused_or_whole(Connection::new().verify_xml(&forged), ALICE, CLAIMED);
    }
}

#[test]
fn unsigned_response_is_refused() {
    assert!(matches!(
        verify(&spec(Signing::None)),
        Err(SsoError::SamlBadSignature)
    ));
}

#[test]
fn response_signed_by_another_key_that_brings_its_own_certificate_is_refused() {
    for signing in SIGNED {
        let xml = ATTACKER.response_xml(&spec(signing)).expect("signed");
        // KeyInfo names the attacker's certificate; only the configured one counts.
        let attacker_cert = data_encoding::BASE64.encode(&ATTACKER.cert_der());
        assert!(xml.contains(&attacker_cert));
        assert!(
            matches!(
                Connection::new().verify_field(&post_field(&xml)),
                Err(SsoError::SamlBadSignature)
            ),
            "{signing:?}"
        );
    }
}

#[test]
fn sha1_signature_is_refused_as_a_weak_algorithm() {
    for signing in SIGNED {
        let mut spec = spec(signing);
        spec.digest = DigestAlgorithm::Sha1;
        match verify(&spec) {
            Err(SsoError::SamlWeakAlgorithm(uri)) => assert!(uri.contains("sha1"), "{uri}"),
            other => panic!("{signing:?}: {other:?}"),
        }
    }
}

/// The (signed) `<saml:Assertion>…</saml:Assertion>` of a generated response.
fn assertion_of(xml: &str) -> &str {
    let start = xml.find("<saml:Assertion ").expect("assertion");
    let end = xml.find("</saml:Assertion>").expect("end") + "</saml:Assertion>".len();
    &xml[start..end]
}

#[test]
fn two_validly_signed_top_level_assertions_are_refused() {
    let first = signed(&spec(Signing::Assertion));
    let second = signed(&spec(Signing::Assertion));
    let forged = first.replace(
        "</samlp:Response>",
        &format!("{}</samlp:Response>", assertion_of(&second)),
    );
    assert!(matches!(
        Connection::new().verify_xml(&forged),
        Err(SsoError::SamlAssertionCount)
    ));
}

#[test]
fn response_with_an_encrypted_assertion_is_refused() {
    let xml = signed(&spec(Signing::Assertion));
    let encrypted = concat!(
        r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">"#,
        "<xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData>",
        "</xenc:EncryptedData></saml:EncryptedAssertion>",
    );
    let forged = xml.replace(
        "</samlp:Response>",
        &format!("{encrypted}</samlp:Response>"),
    );
    assert!(matches!(
        Connection::new().verify_xml(&forged),
        Err(SsoError::SamlEncryptedAssertion)
    ));
}

/// Alice's response with `NotBefore` and `NotOnOrAfter` (Conditions and bearer confirmation)
/// moved so that `now` is `offset` past `NotOnOrAfter`.
fn expired_by(offset: Duration) -> ResponseSpec {
    let mut spec = spec(Signing::Both);
    spec.not_on_or_after = super::acs_fixture::now() - offset;
    spec.not_before = spec.not_on_or_after - Duration::minutes(10);
    spec.issue_instant = spec.not_before;
    spec
}

#[test]
fn expiry_allows_three_minutes_of_skew_and_not_a_second_more() {
    for accepted in [
        Duration::minutes(2),
        Duration::minutes(3) - Duration::seconds(1),
    ] {
        assert!(verify(&expired_by(accepted)).is_ok(), "{accepted}");
    }
    // NotOnOrAfter is exclusive: at exactly three minutes past it, it is over.
    for refused in [Duration::minutes(3), Duration::minutes(4)] {
        assert!(
            matches!(verify(&expired_by(refused)), Err(SsoError::SamlExpired)),
            "{refused}"
        );
    }
}

#[test]
fn not_before_allows_three_minutes_of_skew_and_not_a_second_more() {
    let at = |ahead: Duration| {
        let mut spec = spec(Signing::Both);
        spec.not_before = super::acs_fixture::now() + ahead;
        spec.not_on_or_after = spec.not_before + Duration::minutes(5);
        verify(&spec)
    };
    for accepted in [Duration::minutes(2), Duration::minutes(3)] {
        assert!(at(accepted).is_ok(), "{accepted}");
    }
    for refused in [
        Duration::minutes(3) + Duration::seconds(1),
        Duration::minutes(4),
    ] {
        assert!(
            matches!(at(refused), Err(SsoError::SamlNotYetValid)),
            "{refused}"
        );
    }
}

#[test]
fn response_for_another_audience_is_refused() {
    let mut spec = spec(Signing::Both);
    spec.audience = "https://broker.example/sso/saml/metadata/conn-2".into();
    assert!(matches!(verify(&spec), Err(SsoError::SamlWrongAudience)));
}

#[test]
fn response_for_another_recipient_is_refused() {
    let mut spec = spec(Signing::Both);
    spec.recipient = "https://broker.example/sso/saml/acs/conn-2".into();
    assert!(matches!(verify(&spec), Err(SsoError::SamlWrongRecipient)));
}

#[test]
fn response_for_another_destination_is_refused() {
    for signing in SIGNED {
        let mut spec = spec(signing);
        spec.destination = "https://broker.example/sso/saml/acs/conn-2".into();
        assert!(
            matches!(verify(&spec), Err(SsoError::SamlWrongDestination)),
            "{signing:?}"
        );
    }
}

#[test]
fn assertion_issued_more_than_three_minutes_ahead_is_refused() {
    let mut spec = spec(Signing::Both);
    spec.issue_instant = super::acs_fixture::now() + Duration::minutes(3);
    assert!(verify(&spec).is_ok());
    spec.issue_instant += Duration::seconds(1);
    assert!(matches!(verify(&spec), Err(SsoError::SamlNotYetValid)));
}

const OTHER_IDP: &str = "https://other-idp.example/saml/metadata";

/// The first `<saml:Issuer>` of a generated response is the Response's (unsigned when only the
/// assertion is signed); the second is the assertion's.
fn with_response_issuer(xml: &str, from: &str, to: &str) -> String {
    let forged = xml.replacen(
        &format!("<saml:Issuer>{from}</saml:Issuer>"),
        &format!("<saml:Issuer>{to}</saml:Issuer>"),
        1,
    );
    assert_ne!(forged, xml);
    forged
}

#[test]
fn response_from_another_issuer_is_refused() {
    for signing in [Signing::Response, Signing::Both] {
        let mut spec = spec(signing);
        spec.issuer = OTHER_IDP.into();
        assert!(
            matches!(verify(&spec), Err(SsoError::SamlWrongIssuer)),
            "{signing:?}"
        );
    }
}

#[test]
fn unsigned_response_envelope_from_another_issuer_is_refused() {
    // Only the assertion is signed (its Issuer is right); the Response's Issuer is not the IdP.
    let xml = signed(&spec(Signing::Assertion));
    assert!(Connection::new().verify_xml(&xml).is_ok());
    let forged = with_response_issuer(&xml, IDP_ENTITY_ID, OTHER_IDP);
    assert!(matches!(
        Connection::new().verify_xml(&forged),
        Err(SsoError::SamlWrongIssuer)
    ));
}

#[test]
fn assertion_from_another_issuer_is_refused() {
    // Signed assertion from another issuer, in an envelope that names the right one.
    let mut spec = spec(Signing::Assertion);
    spec.issuer = OTHER_IDP.into();
    let forged = with_response_issuer(&signed(&spec), OTHER_IDP, IDP_ENTITY_ID);
    assert!(matches!(
        Connection::new().verify_xml(&forged),
        Err(SsoError::SamlWrongIssuer)
    ));
}

#[test]
fn response_to_another_request_is_refused() {
    let mut spec = spec(Signing::Both);
    spec.in_response_to = Some("_someone-elses-request".into());
    assert!(matches!(
        verify(&spec),
        Err(SsoError::SamlWrongInResponseTo)
    ));
    spec.in_response_to = None;
    assert!(matches!(
        verify(&spec),
        Err(SsoError::SamlWrongInResponseTo)
    ));
}

#[test]
fn unsolicited_response_is_refused_unless_the_connection_allows_idp_initiated_sign_in() {
    let mut spec = spec(Signing::Both);
    spec.in_response_to = None;
    let field = post_field(&signed(&spec));
    let mut connection = Connection::new();
    connection.request_id = None;
    assert!(matches!(
        connection.verify_field(&field),
        Err(SsoError::SamlUnsolicited)
    ));
    connection.allow_idp_initiated = true;
    let v = connection
        .verify_field(&field)
        .expect("IdP-initiated allowed");
    assert_eq!(v.name_id, ALICE);
    assert!(!v.solicited);
}

#[test]
fn idp_initiated_response_claiming_to_answer_a_request_is_refused() {
    let mut connection = Connection::new();
    connection.request_id = None;
    connection.allow_idp_initiated = true;
    let field = post_field(&signed(&spec(Signing::Both)));
    assert!(matches!(
        connection.verify_field(&field),
        Err(SsoError::SamlWrongInResponseTo)
    ));
}

#[test]
fn response_with_a_status_other_than_success_is_refused() {
    let requester = "urn:oasis:names:tc:SAML:2.0:status:Requester";
    let mut spec = spec(Signing::Both);
    spec.status = requester.into();
    match verify(&spec) {
        Err(SsoError::SamlStatus(status)) => assert_eq!(status, requester),
        other => panic!("{other:?}"),
    }
}

#[test]
fn doctype_with_an_internal_entity_is_refused() {
    let xml = signed(&spec(Signing::Both));
    let forged = format!(
        r#"<!DOCTYPE samlp:Response [<!ENTITY who "mallory@evil.example">]>{}"#,
        xml.replacen(&format!(">{ALICE}<"), ">&who;<", 1)
    );
    assert!(matches!(
        Connection::new().verify_field(&post_field(&forged)),
        Err(SsoError::SamlDoctype)
    ));
}

#[test]
fn doctype_with_an_external_entity_is_refused() {
    let xml = signed(&spec(Signing::Both));
    let forged = format!(
        r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>{}"#,
        xml.replacen("Alice<", "&xxe;<", 1)
    );
    assert!(matches!(
        Connection::new().verify_field(&post_field(&forged)),
        Err(SsoError::SamlDoctype)
    ));
}

#[test]
fn field_larger_than_the_limit_is_refused_and_one_at_the_limit_is_read() {
    // Line breaks are allowed in the field (and count towards its size).
    let field = post_field(&signed(&spec(Signing::Both)));
    let at_limit = format!("{field}{}", "\n".repeat(MAX_ENCODED_LEN - field.len()));
    assert!(Connection::new().verify_field(&at_limit).is_ok());
    let over = format!("{at_limit}\n");
    assert!(matches!(
        Connection::new().verify_field(&over),
        Err(SsoError::SamlTooLarge)
    ));
}

#[test]
fn response_cut_short_is_refused_although_its_signatures_still_verify() {
    // libxml2 (recover mode) would close the open elements itself and verify the signatures.
    let xml = signed(&spec(Signing::Both));
    let cut = xml
        .strip_suffix("</saml:Assertion></samlp:Response>")
        .expect("generated layout");
    assert!(signatures_verify(cut));
    assert!(matches!(
        Connection::new().verify_xml(cut),
        Err(SsoError::SamlMalformed("an element is not closed"))
    ));
}

#[test]
fn field_that_is_not_base64_is_refused() {
    let xml = signed(&spec(Signing::Both));
    for field in ["SAMLResponse=%3Csamlp", xml.as_str()] {
        assert!(matches!(
            Connection::new().verify_field(field),
            Err(SsoError::SamlMalformed("not base64"))
        ));
    }
}

#[test]
fn connection_without_certificates_refuses_every_response() {
    // Metadata without a signing certificate is refused at import...
    let metadata = IDP.metadata_xml(IDP_ENTITY_ID, IDP_SSO_URL);
    let start = metadata.find("<md:KeyDescriptor").expect("key");
    let end = metadata.find("</md:KeyDescriptor>").expect("end") + "</md:KeyDescriptor>".len();
    let without_key = format!("{}{}", &metadata[..start], &metadata[end..]);
    assert!(matches!(
        parse_idp_metadata(&without_key),
        Err(SsoError::SamlMetadata("no signing certificate"))
    ));
    assert_eq!(
        parse_idp_metadata(&metadata).expect("imported"),
        idp_settings(&[&IDP])
    );
    // ...and a stored connection whose list is empty (or unreadable) verifies nothing.
    let field = post_field(&signed(&spec(Signing::Both)));
    for certificates in [vec![], vec!["not base64!".to_string()]] {
        let mut connection = Connection::new();
        connection.idp = IdpSettings {
            certificates,
            ..idp_settings(&[])
        };
        assert!(matches!(
            connection.idp.certificate_ders(),
            Err(SsoError::SamlNoCertificate)
        ));
        assert!(matches!(
            connection.verify_field(&field),
            Err(SsoError::SamlNoCertificate)
        ));
    }
}

#[test]
fn during_a_rollover_both_certificates_are_trusted_and_after_it_only_the_configured_one() {
    let old_key = post_field(&signed(&spec(Signing::Both)));
    let new_key = post_field(
        &NEXT_IDP_KEY
            .response_xml(&spec(Signing::Both))
            .expect("signed"),
    );
    for order in [[&*IDP, &*NEXT_IDP_KEY], [&*NEXT_IDP_KEY, &*IDP]] {
        let mut rollover = Connection::new();
        rollover.idp = idp_settings(&order);
        assert_eq!(rollover.verify_field(&old_key).expect("old").name_id, ALICE);
        assert_eq!(rollover.verify_field(&new_key).expect("new").name_id, ALICE);
    }
    let old_only = Connection::new();
    assert!(old_only.verify_field(&old_key).is_ok());
    assert!(matches!(
        old_only.verify_field(&new_key),
        Err(SsoError::SamlBadSignature)
    ));
}
