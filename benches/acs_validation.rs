#![allow(clippy::expect_used)] // setup failures in a benchmark should panic loudly
//! SAML ACS validation (SPEC §5) of an Okta-sized response (Response and Assertion signed,
//! RSA-2048, ten attributes with groups), next to the xmlsec reduction it contains, measured in
//! the same run: `cargo bench --bench acs_validation`. The response is signed once, before
//! measuring, by the development IdP.

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use data_encoding::BASE64;
use samael::crypto::{Crypto, CryptoProvider, ReduceMode};
use sso_broker::sso::devidp::saml::{DevSamlIdp, ResponseSpec, Signing};
use sso_broker::sso::saml::acs::ALLOWED_ALGORITHMS;
use sso_broker::sso::saml::{claims, verify_acs_response, AcsRules, IdpSettings, SpSettings};

const IDP_ENTITY_ID: &str = "http://www.okta.com/exk1a2b3c4d5e6f7g8h9";
const REQUEST_ID: &str = "_7d1c4a9e2f3b4c5d8e6f0a1b2c3d4e5f";

fn okta_sized_spec(sp: &SpSettings, now: chrono::DateTime<Utc>) -> ResponseSpec {
    let email = "ada.lovelace@contoso.example";
    let mut spec = ResponseSpec::new(IDP_ENTITY_ID, &sp.acs_url, &sp.entity_id, email, now);
    spec.signing = Signing::Both;
    spec.in_response_to = Some(REQUEST_ID.into());
    let groups = [
        "Everyone",
        "Engineering",
        "Engineering-Platform",
        "Portal-Admins",
        "VPN-Users",
        "GitHub-Contoso",
        "AWS-Prod-ReadOnly",
        "Okta-MFA-Enrolled",
    ];
    let one = |name: &str, value: &str| (name.to_string(), vec![value.to_string()]);
    spec.attributes.extend([
        one(claims::GIVEN_NAME, "Ada"),
        one(claims::SURNAME, "Lovelace"),
        one("login", email),
        one("displayName", "Ada Lovelace"),
        one("department", "Engineering"),
        one("title", "Principal Engineer"),
        one("employeeNumber", "100042"),
        one(claims::AMR, claims::MULTIPLE_AUTHN),
        (
            "groups".to_string(),
            groups.iter().map(|g| g.to_string()).collect(),
        ),
    ]);
    spec
}

fn acs_validation(c: &mut Criterion) {
    let now = Utc
        .with_ymd_and_hms(2026, 11, 22, 10, 0, 0)
        .single()
        .expect("time");
    let idp = DevSamlIdp::generate("okta-bench").expect("RSA-2048 key");
    let sp = SpSettings::for_connection("https://broker.example", "conn-1");
    let idp_settings = IdpSettings {
        entity_id: IDP_ENTITY_ID.into(),
        sso_url: "https://contoso.okta.example/app/sso/saml".into(),
        certificates: vec![BASE64.encode(&idp.cert_der())],
        want_authn_requests_signed: false,
    };
    let xml = idp
        .response_xml(&okta_sized_spec(&sp, now))
        .expect("signed response");
    let field = BASE64.encode(xml.as_bytes());
    eprintln!(
        "response: {} bytes of XML, {} bytes as the SAMLResponse field",
        xml.len(),
        field.len()
    );
    let rules = AcsRules {
        sp: &sp,
        idp: &idp_settings,
        request_id: Some(REQUEST_ID),
        allow_idp_initiated: false,
        email_attribute: claims::EMAIL,
        now,
    };
    let verified = verify_acs_response(&field, &rules).expect("the response is accepted");
    assert_eq!(
        verified.mfa_evidence(),
        sso_broker::domain::MfaEvidence::Yes
    );

    c.bench_function("saml_verify_acs_response_okta_sized", |b| {
        b.iter(|| verify_acs_response(&field, &rules).expect("valid"))
    });

    let certs = idp_settings.certificate_ders().expect("certificate");
    c.bench_function("xmlsec_reduce_to_signed_only", |b| {
        b.iter(|| {
            Crypto::reduce_xml_to_signed_with_allowed_algorithms(
                &xml,
                &certs,
                ReduceMode::ValidateAndMarkNoAncestors,
                Some(ALLOWED_ALGORITHMS),
            )
            .expect("verifies")
        })
    });
}

criterion_group!(benches, acs_validation);
criterion_main!(benches);
