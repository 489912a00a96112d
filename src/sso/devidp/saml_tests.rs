//! Tests of the development SAML IdP: its responses verify with samael and xmlsec1.

use super::*;
use openssl::asn1::Asn1Time;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::X509;
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer, ReduceMode};
use std::io::Write as _;

const IDP: &str = "http://127.0.0.1:9000/saml/metadata";
const ACS: &str = "http://127.0.0.1:8080/sso/saml/acs/c1";
const SP: &str = "http://127.0.0.1:8080/sso/saml/metadata/c1";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2030-01-02T03:04:05Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn spec(signing: Signing) -> ResponseSpec {
    let mut spec = ResponseSpec::new(IDP, ACS, SP, "alice@example.com", now());
    spec.signing = signing;
    spec.in_response_to = Some("_req1".into());
    spec
}

fn reduce(xml: &str, cert_der: Vec<u8>) -> Result<String, samael::crypto::CryptoError> {
    XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &[CertificateDer::from(cert_der)],
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(&[AllowedSignatureAlgorithm::RsaSha256]),
    )
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn every_signed_variant_verifies_with_the_idp_certificate() {
    let idp = DevSamlIdp::generate("dev-saml").unwrap();
    for signing in [Signing::Response, Signing::Assertion, Signing::Both] {
        let xml = idp.response_xml(&spec(signing)).unwrap();
        let expected = if signing == Signing::Both { 2 } else { 1 };
        assert_eq!(count(&xml, "<ds:SignatureValue>"), expected, "{signing:?}");
        assert!(xml.starts_with("<samlp:Response "), "{signing:?}");
        reduce(&xml, idp.cert_der()).unwrap_or_else(|e| panic!("{signing:?}: {e:?}"));
    }
}

#[test]
fn signatures_are_placed_after_the_issuer_of_the_signed_element() {
    let idp = DevSamlIdp::generate("dev-saml").unwrap();
    let spec = spec(Signing::Both);
    let xml = idp.response_xml(&spec).unwrap();
    let response_sig = format!(r##"<ds:Reference URI="#{}">"##, spec.response_id);
    let assertion_sig = format!(r##"<ds:Reference URI="#{}">"##, spec.assertion_id);
    let pos = |needle: &str| xml.find(needle).unwrap();
    let issuers: Vec<_> = xml.match_indices("<saml:Issuer>").map(|(i, _)| i).collect();
    assert_eq!(issuers.len(), 2);
    assert!(issuers[0] < pos(&response_sig) && pos(&response_sig) < pos("<samlp:Status>"));
    assert!(pos("<saml:Assertion ") < issuers[1]);
    assert!(issuers[1] < pos(&assertion_sig) && pos(&assertion_sig) < pos("<saml:Subject>"));
}

#[test]
fn both_signatures_verify_on_their_own() {
    // Each signature checked alone (samael's plain verify), so neither hides a broken one.
    let idp = DevSamlIdp::generate("dev-saml").unwrap();
    let spec = spec(Signing::Both);
    let xml = idp.response_xml(&spec).unwrap();
    let cert = CertificateDer::from(idp.cert_der());
    XmlSec::verify_signed_xml(&xml, &cert, Some("ID")).unwrap();
    let start = xml.find("<saml:Assertion ").unwrap();
    let end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    XmlSec::verify_signed_xml(&xml[start..end], &cert, Some("ID")).unwrap();
}

#[test]
fn unsigned_response_is_refused() {
    let idp = DevSamlIdp::generate("dev-saml").unwrap();
    let xml = idp.response_xml(&spec(Signing::None)).unwrap();
    assert!(!xml.contains("<ds:Signature"));
    assert!(reduce(&xml, idp.cert_der()).is_err());
}

#[test]
fn sha1_signature_is_refused_when_only_sha256_is_allowed() {
    let idp = DevSamlIdp::generate("dev-saml").unwrap();
    for signing in [Signing::Response, Signing::Assertion, Signing::Both] {
        let mut spec = spec(signing);
        spec.digest = DigestAlgorithm::Sha1;
        let xml = idp.response_xml(&spec).unwrap();
        assert!(xml.contains("http://www.w3.org/2000/09/xmldsig#rsa-sha1"));
        assert!(reduce(&xml, idp.cert_der()).is_err(), "{signing:?}");
        // The signature itself is good: only the algorithm policy refuses it.
        XmlSec::reduce_xml_to_signed(
            &xml,
            &[CertificateDer::from(idp.cert_der())],
            ReduceMode::ValidateAndMarkNoAncestors,
        )
        .unwrap_or_else(|e| panic!("{signing:?}: {e:?}"));
    }
}

#[test]
fn response_signed_by_another_idp_is_refused() {
    let trusted = DevSamlIdp::generate("trusted").unwrap();
    let attacker = DevSamlIdp::generate("attacker").unwrap();
    for signing in [Signing::Response, Signing::Assertion, Signing::Both] {
        let xml = attacker.response_xml(&spec(signing)).unwrap();
        assert!(reduce(&xml, trusted.cert_der()).is_err(), "{signing:?}");
    }
}

#[test]
fn tampered_response_is_refused() {
    let idp = DevSamlIdp::generate("dev-saml").unwrap();
    for signing in [Signing::Response, Signing::Assertion, Signing::Both] {
        let xml = idp.response_xml(&spec(signing)).unwrap();
        let forged = xml.replace("alice@example.com", "mallory@example.com");
        assert_ne!(xml, forged);
        assert!(reduce(&forged, idp.cert_der()).is_err(), "{signing:?}");
    }
}

#[test]
fn reduced_response_parses_with_the_expected_fields() {
    let idp = DevSamlIdp::generate("dev-saml").unwrap();
    let mut spec = spec(Signing::Both);
    spec.session_not_on_or_after = Some(now() + Duration::hours(8));
    spec.attributes.push((
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname".into(),
        vec!["Al & <Ice>\"".into()],
    ));
    let xml = idp.response_xml(&spec).unwrap();
    let reduced = reduce(&xml, idp.cert_der()).unwrap();
    let response = reduced.parse::<samael::schema::Response>().unwrap();
    assert_eq!(response.id, spec.response_id);
    assert_eq!(response.destination.as_deref(), Some(ACS));
    assert_eq!(response.in_response_to.as_deref(), Some("_req1"));
    assert_eq!(response.issuer.unwrap().value.as_deref(), Some(IDP));
    let status = response.status.unwrap().status_code.value;
    assert_eq!(status.as_deref(), Some(STATUS_SUCCESS));

    let assertion = response.assertion.unwrap();
    assert_eq!(assertion.id, spec.assertion_id);
    assert_eq!(assertion.issuer.value.as_deref(), Some(IDP));
    let subject = assertion.subject.unwrap();
    let name_id = subject.name_id.unwrap();
    assert_eq!(name_id.value, "alice@example.com");
    assert_eq!(name_id.format.as_deref(), Some(NAMEID_EMAIL));
    let confirmation = &subject.subject_confirmations.unwrap()[0];
    assert_eq!(confirmation.method.as_deref(), Some(BEARER));
    let data = confirmation.subject_confirmation_data.as_ref().unwrap();
    assert_eq!(data.recipient.as_deref(), Some(ACS));
    assert_eq!(data.in_response_to.as_deref(), Some("_req1"));
    assert_eq!(data.not_on_or_after, Some(spec.not_on_or_after));

    let conditions = assertion.conditions.unwrap();
    assert_eq!(conditions.not_before, Some(spec.not_before));
    assert_eq!(conditions.not_on_or_after, Some(spec.not_on_or_after));
    let audiences = &conditions.audience_restrictions.unwrap()[0].audience;
    assert_eq!(audiences, &vec![SP.to_string()]);

    let authn = &assertion.authn_statements.unwrap()[0];
    assert_eq!(authn.authn_instant, Some(now()));
    assert_eq!(authn.session_not_on_or_after, spec.session_not_on_or_after);
    let class = authn
        .authn_context
        .as_ref()
        .unwrap()
        .value
        .as_ref()
        .unwrap();
    assert_eq!(
        class.value.as_deref(),
        Some(AC_PASSWORD_PROTECTED_TRANSPORT)
    );

    let attributes = &assertion.attribute_statements.unwrap()[0].attributes;
    let value = |name: &str| {
        let attribute = attributes
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
            .unwrap();
        attribute.values[0].value.clone().unwrap()
    };
    assert_eq!(value(CLAIM_EMAIL), "alice@example.com");
    assert_eq!(
        value("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"),
        "Al & <Ice>\""
    );
}

#[test]
fn comment_inserted_after_signing_keeps_the_signature_valid() {
    // Exclusive c14n drops comments, so a test can forge the NameID-truncation attack
    // (CVE-2017-11427 family) on a signed response by plain text substitution: the
    // signature still verifies. samael's reduction then fails closed, because the verified
    // (comment-free) content no longer matches the document node for node.
    let idp = DevSamlIdp::generate("dev-saml").unwrap();
    let mut spec = spec(Signing::Both);
    spec.name_id = "alice@example.com.evil".into();
    spec.attributes[0].1 = vec![spec.name_id.clone()];
    let xml = idp.response_xml(&spec).unwrap();
    let forged = xml.replace("alice@example.com.evil", "alice@example.com<!---->.evil");
    assert_eq!(count(&forged, "<!---->"), 2);
    let cert = CertificateDer::from(idp.cert_der());
    XmlSec::verify_signed_xml(&forged, &cert, Some("ID")).unwrap();
    assert!(reduce(&forged, idp.cert_der()).is_err());
}

#[test]
fn optional_elements_are_left_out() {
    let idp = DevSamlIdp::generate("dev-saml").unwrap();
    let mut spec = ResponseSpec::new(IDP, ACS, SP, "bob@example.com", now());
    spec.attributes.clear();
    let xml = idp.response_xml(&spec).unwrap();
    assert!(!xml.contains("InResponseTo"));
    assert!(!xml.contains("SessionNotOnOrAfter"));
    assert!(!xml.contains("AttributeStatement"));
    reduce(&xml, idp.cert_der()).unwrap();
}

#[test]
fn defaults_follow_now() {
    let spec = ResponseSpec::new(IDP, ACS, SP, "bob@example.com", now());
    assert_eq!(spec.not_before, now() - Duration::minutes(1));
    assert_eq!(spec.not_on_or_after, now() + Duration::minutes(5));
    assert_eq!(
        (spec.signing, spec.digest),
        (Signing::Both, DigestAlgorithm::Sha256)
    );
    assert_eq!(spec.recipient, ACS);
    assert_eq!(spec.destination, ACS);
    assert!(is_ncname(&spec.response_id) && is_ncname(&spec.assertion_id));
    assert_ne!(spec.response_id, spec.assertion_id);
    let xml = DevSamlIdp::generate("dev-saml")
        .unwrap()
        .response_xml(&spec)
        .unwrap();
    assert!(xml.contains(r#"IssueInstant="2030-01-02T03:04:05Z""#));
    assert!(xml.contains(r#"NotBefore="2030-01-02T03:03:05Z""#));
    assert!(xml.contains(r#"NotOnOrAfter="2030-01-02T03:09:05Z""#));
}

#[test]
fn signed_element_with_an_invalid_id_is_an_error() {
    let idp = DevSamlIdp::generate("dev-saml").unwrap();
    let mut spec = spec(Signing::Assertion);
    spec.assertion_id = "1-not-an-ncname".into();
    assert!(matches!(
        idp.response_xml(&spec),
        Err(DevSamlError::Sign(_))
    ));
}

#[test]
fn metadata_announces_the_signing_certificate_and_sso_urls() {
    let idp = DevSamlIdp::generate("dev-saml").unwrap();
    let sso = "http://127.0.0.1:9000/saml/sso?a=1&b=2";
    let xml = idp.metadata_xml(IDP, sso);
    let metadata = xml.parse::<samael::metadata::EntityDescriptor>().unwrap();
    assert_eq!(metadata.entity_id.as_deref(), Some(IDP));
    let descriptor = &metadata.idp_sso_descriptors.unwrap()[0];
    assert_eq!(
        descriptor.protocol_support_enumeration.as_deref(),
        Some(NS_PROTOCOL)
    );
    assert_eq!(descriptor.key_descriptors.len(), 1);
    let key = &descriptor.key_descriptors[0];
    assert!(key.is_signing());
    let certs = &key.key_info.x509_data.as_ref().unwrap().certificates;
    assert_eq!(BASE64.decode(certs[0].as_bytes()).unwrap(), idp.cert_der());
    assert_eq!(descriptor.name_id_formats, vec![NAMEID_EMAIL.to_string()]);
    let bindings: Vec<_> = descriptor
        .single_sign_on_services
        .iter()
        .map(|s| (s.binding.as_str(), s.location.as_str()))
        .collect();
    assert_eq!(bindings, vec![(BINDING_REDIRECT, sso), (BINDING_POST, sso)]);
}

#[test]
fn cert_and_key_pem_belong_together() {
    let idp = DevSamlIdp::generate("dev-saml").unwrap();
    let cert = X509::from_pem(idp.cert_pem().as_bytes()).unwrap();
    assert_eq!(cert.to_der().unwrap(), idp.cert_der());
    let key = PKey::private_key_from_pem(idp.private_key_pem().as_bytes()).unwrap();
    assert!(cert.public_key().unwrap().public_eq(&key));
    assert_eq!(key.bits(), 2048);
    let cn = cert.subject_name().entries_by_nid(Nid::COMMONNAME).next();
    assert_eq!(cn.unwrap().data().as_slice(), b"dev-saml");
    let in_nine_years = Asn1Time::days_from_now(9 * 365).unwrap();
    assert!(cert.not_after() > in_nine_years);
    assert!(!format!("{idp:?}").contains("PRIVATE"));
}

fn deflate_base64(xml: &str) -> String {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(xml.as_bytes()).unwrap();
    BASE64.encode(&encoder.finish().unwrap())
}

#[test]
fn redirect_authn_request_round_trips() {
    let xml = concat!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" "#,
        r#"xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_abc123" Version="2.0" "#,
        r#"IssueInstant="2030-01-02T03:04:05Z" Destination="http://127.0.0.1:9000/saml/sso" "#,
        r#"AssertionConsumerServiceURL="http://127.0.0.1:8080/sso/saml/acs/c1?x=1&amp;y=2" "#,
        r#"ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">"#,
        r#"<saml:Issuer>http://127.0.0.1:8080/sso/saml/metadata/c1</saml:Issuer>"#,
        r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>"#,
        r#"</samlp:AuthnRequest>"#,
    );
    let parsed = decode_redirect_authn_request(&deflate_base64(xml)).unwrap();
    assert_eq!(
        parsed,
        ParsedAuthnRequest {
            id: "_abc123".into(),
            acs_url: Some("http://127.0.0.1:8080/sso/saml/acs/c1?x=1&y=2".into()),
            issuer: Some(SP.into()),
        }
    );
}

#[test]
fn redirect_authn_request_from_samael_is_read() {
    // What an SP built on samael puts in the redirect URL.
    let request = samael::schema::AuthnRequest {
        id: "_fromsamael".into(),
        destination: Some("http://127.0.0.1:9000/saml/sso".into()),
        assertion_consumer_service_url: Some(ACS.into()),
        issuer: Some(samael::schema::Issuer {
            value: Some(SP.into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let url = request.redirect("relay").unwrap().unwrap();
    let (_, value) = url.query_pairs().find(|(k, _)| k == "SAMLRequest").unwrap();
    let parsed = decode_redirect_authn_request(&value).unwrap();
    assert_eq!(parsed.id, "_fromsamael");
    assert_eq!(parsed.acs_url.as_deref(), Some(ACS));
    assert_eq!(parsed.issuer.as_deref(), Some(SP));
}

#[test]
fn malformed_redirect_authn_requests_are_errors() {
    let request = |xml: &str| decode_redirect_authn_request(&deflate_base64(xml));
    assert!(matches!(
        decode_redirect_authn_request("%%%"),
        Err(DevSamlError::Request(_))
    ));
    // zlib-wrapped instead of raw DEFLATE (a classic SP bug).
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(b"<samlp:AuthnRequest/>").unwrap();
    let zlib = BASE64.encode(&zlib.finish().unwrap());
    assert!(decode_redirect_authn_request(&zlib).is_err());
    assert!(request("not xml").is_err());
    assert!(request(&"x".repeat(70 * 1024)).is_err());
    assert!(request(r#"<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x/>"#).is_err());
}

#[test]
fn xml_escaping_covers_markup_and_whitespace() {
    assert_eq!(text("a&b<c>d\re"), "a&amp;b&lt;c&gt;d&#xD;e");
    assert_eq!(
        attr("\"a\"\t\n\r&<"),
        "&quot;a&quot;&#x9;&#xA;&#xD;&amp;&lt;"
    );
    assert!(is_ncname("_0af3") && is_ncname("a.b-c"));
    assert!(!is_ncname("") && !is_ncname("1abc") && !is_ncname("a:b") && !is_ncname("a b"));
}

/// Cross-check with the xmlsec1 command-line tool when it is installed.
#[test]
fn xmlsec1_tool_verifies_both_signatures() {
    let Ok(status) = std::process::Command::new("xmlsec1")
        .arg("--version")
        .output()
    else {
        eprintln!("xmlsec1 not installed; skipped");
        return;
    };
    assert!(status.status.success());
    let idp = DevSamlIdp::generate("dev-saml").unwrap();
    let dir = std::env::temp_dir().join(format!("devsaml-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("cert.pem");
    std::fs::write(&cert, idp.cert_pem()).unwrap();
    let verify = |xml: &str, node: &str| {
        let file = dir.join("response.xml");
        std::fs::write(&file, xml).unwrap();
        std::process::Command::new("xmlsec1")
            .arg("--verify")
            .arg("--pubkey-cert-pem")
            .arg(&cert)
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            ])
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            ])
            .args(["--node-xpath", node])
            .arg(&file)
            .output()
            .unwrap()
    };
    let xml = idp.response_xml(&spec(Signing::Both)).unwrap();
    let response_sig = "/*[local-name()='Response']/*[local-name()='Signature']";
    let assertion_sig = "//*[local-name()='Assertion']/*[local-name()='Signature']";
    for node in [response_sig, assertion_sig] {
        let out = verify(&xml, node);
        assert!(
            out.status.success(),
            "{node}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let forged = xml.replace("alice@example.com", "mallory@example.com");
    assert!(!verify(&forged, assertion_sig).status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}
