//! SPEC §4 token validation, case by case (the OpenID RP certification negatives among them).

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use url::Url;

use super::id_token::{validate_token, TokenRules, VerifiedToken};
use super::jwks::{KeyCache, REFRESH_INTERVAL};
use super::tenant::{TenantId, PERSONAL_ACCOUNT_TENANT};
use super::test_support::{FakeSource, KEY_1, KEY_2};
use crate::sso::SsoError;

const TENANT: &str = "11111111-2222-4333-8444-555555555555";
const OTHER_TENANT: &str = "99999999-8888-4777-8666-555555555555";
const CLIENT_ID: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const NONCE: &str = "n-0S6_WzA2Mj";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn authority() -> Url {
    Url::parse("https://login.microsoftonline.com").unwrap()
}

fn claims_for(tid: &str) -> Value {
    let t = now().timestamp();
    json!({
        "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"),
        "aud": CLIENT_ID, "tid": tid, "oid": "00000000-0000-4000-8000-00000000000a",
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "ver": "2.0",
        "iat": t - 60, "nbf": t - 60, "exp": t + 3600, "nonce": NONCE,
        "name": "Ada Lovelace", "email": "ada@contoso.example", "xms_edov": true,
    })
}

fn claims() -> Value {
    claims_for(TENANT)
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

struct Harness {
    source: Arc<FakeSource>,
    cache: KeyCache,
    approved: Vec<(String, Vec<String>)>,
}

impl Harness {
    fn new() -> Self {
        let source = Arc::new(FakeSource::serving(&[&KEY_1]));
        Self {
            cache: KeyCache::new(source.clone()),
            source,
            approved: vec![(TENANT.to_string(), vec!["contoso.example".to_string()])],
        }
    }

    async fn validate_at(
        &self,
        token: &str,
        nonce: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<VerifiedToken, SsoError> {
        let audiences = vec![CLIENT_ID.to_string()];
        let authority = authority();
        let rules = TokenRules {
            authority: &authority,
            audiences: &audiences,
            nonce,
            now: at,
        };
        let approved = self.approved.clone();
        let lookup = move |tid: &TenantId| {
            approved
                .iter()
                .find(|(t, _)| t == tid.as_str())
                .map(|(_, d)| d.clone())
        };
        validate_token(token, &rules, &self.cache, &lookup).await
    }

    async fn validate(&self, token: &str) -> Result<VerifiedToken, SsoError> {
        self.validate_at(token, Some(NONCE), now()).await
    }
}

#[tokio::test]
async fn a_valid_token_gives_tenant_oid_and_trusted_email() {
    let h = Harness::new();
    let verified = h.validate(&KEY_1.sign(&claims())).await.unwrap();
    assert_eq!(verified.tenant_id.as_str(), TENANT);
    assert_eq!(verified.oid, "00000000-0000-4000-8000-00000000000a");
    assert_eq!(verified.email.as_deref(), Some("ada@contoso.example"));
    assert_eq!(verified.name.as_deref(), Some("Ada Lovelace"));
    assert!(
        verified.amr.is_empty(),
        "v2.0 ID tokens usually carry no amr"
    );
}

#[tokio::test]
async fn a_wrong_issuer_is_refused() {
    let h = Harness::new();
    for iss in [
        "https://login.microsoftonline.com/{tenantid}/v2.0".to_string(),
        format!("https://login.microsoftonline.com.evil.example/{TENANT}/v2.0"),
        format!("https://login.microsoftonline.com/{TENANT}/v2.0/"),
        format!("https://sts.windows.net/{TENANT}/"),
    ] {
        let token = KEY_1.sign(&with(claims(), "iss", json!(iss)));
        assert!(
            matches!(h.validate(&token).await, Err(SsoError::WrongIssuer)),
            "{iss}"
        );
    }
}

#[tokio::test]
async fn an_issuer_of_another_tenant_than_tid_is_refused() {
    let h = Harness::new();
    let iss = format!("https://login.microsoftonline.com/{OTHER_TENANT}/v2.0");
    let token = KEY_1.sign(&with(claims(), "iss", json!(iss)));
    assert!(matches!(
        h.validate(&token).await,
        Err(SsoError::WrongIssuer)
    ));
}

#[tokio::test]
async fn the_personal_account_tenant_is_refused() {
    let h = Harness::new();
    let token = KEY_1.sign(&claims_for(PERSONAL_ACCOUNT_TENANT));
    assert!(matches!(
        h.validate(&token).await,
        Err(SsoError::PersonalAccountTenant)
    ));
}

#[tokio::test]
async fn an_unapproved_tenant_is_refused_before_any_key_fetch() {
    let h = Harness::new();
    let token = KEY_1.sign(&claims_for(OTHER_TENANT));
    assert!(matches!(
        h.validate(&token).await,
        Err(SsoError::TenantNotApproved)
    ));
    assert_eq!(h.source.fetch_count(), 0);
}

#[tokio::test]
async fn a_signature_by_another_key_is_refused() {
    let h = Harness::new();
    let forged = KEY_2.sign_as(&claims(), &KEY_1.kid);
    assert!(matches!(
        h.validate(&forged).await,
        Err(SsoError::BadSignature)
    ));
    // Flip one character in the middle of the signature (the last one carries only 2 bits).
    let token = KEY_1.sign(&claims());
    let at = token.rfind('.').unwrap() + 40;
    let flipped = if &token[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &token[..at], &token[at + 1..]);
    assert!(matches!(
        h.validate(&tampered).await,
        Err(SsoError::BadSignature)
    ));
}

#[tokio::test]
async fn alg_none_is_refused() {
    let h = Harness::new();
    let header = BASE64URL_NOPAD.encode(br#"{"alg":"none","kid":"key-1","typ":"JWT"}"#);
    let payload = BASE64URL_NOPAD.encode(claims().to_string().as_bytes());
    let token = format!("{header}.{payload}.");
    assert!(
        matches!(h.validate(&token).await, Err(SsoError::AlgorithmNotAllowed(alg)) if alg == "none")
    );
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let h = Harness::new();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(KEY_1.kid.clone());
    let token = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(&KEY_1.public_pem),
    )
    .unwrap();
    assert!(
        matches!(h.validate(&token).await, Err(SsoError::AlgorithmNotAllowed(alg)) if alg == "HS256")
    );
}

#[tokio::test]
async fn a_token_without_kid_is_refused() {
    let h = Harness::new();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = None;
    let pem = openssl::rsa::Rsa::generate(2048)
        .unwrap()
        .private_key_to_pem()
        .unwrap();
    let token = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_rsa_pem(&pem).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        h.validate(&token).await,
        Err(SsoError::MissingKeyId)
    ));
}

#[tokio::test]
async fn an_unknown_kid_refreshes_once_and_key_rotation_then_succeeds() {
    let h = Harness::new();
    h.validate(&KEY_1.sign(&claims())).await.unwrap();
    assert_eq!(h.source.fetch_count(), 1, "first fetch");
    h.source.serve(&[&KEY_1, &KEY_2]);
    h.validate(&KEY_2.sign(&claims())).await.unwrap();
    assert_eq!(h.source.fetch_count(), 2, "one refresh for the new kid");
    h.validate(&KEY_2.sign(&claims())).await.unwrap();
    assert_eq!(h.source.fetch_count(), 2, "cached afterwards");
}

#[tokio::test]
async fn unknown_kids_refresh_at_most_once_per_five_minutes() {
    let h = Harness::new();
    h.validate(&KEY_1.sign(&claims())).await.unwrap();
    let bogus = KEY_1.sign_as(&claims(), "no-such-kid");
    assert!(matches!(
        h.validate(&bogus).await,
        Err(SsoError::UnknownKey)
    ));
    assert_eq!(h.source.fetch_count(), 2);
    let later = now() + Duration::minutes(4);
    assert!(matches!(
        h.validate_at(&bogus, Some(NONCE), later).await,
        Err(SsoError::UnknownKey)
    ));
    assert_eq!(
        h.source.fetch_count(),
        2,
        "no second refresh within five minutes"
    );
    let after = now() + REFRESH_INTERVAL + Duration::seconds(1);
    let fresh = KEY_1.sign_as(
        &with(claims(), "exp", json!(after.timestamp() + 600)),
        "no-such-kid",
    );
    assert!(matches!(
        h.validate_at(&fresh, Some(NONCE), after).await,
        Err(SsoError::UnknownKey)
    ));
    assert_eq!(
        h.source.fetch_count(),
        3,
        "refreshed again after five minutes"
    );
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_keys() {
    let h = Harness::new();
    h.validate(&KEY_1.sign(&claims())).await.unwrap();
    h.source.go_down();
    let unknown = KEY_2.sign(&claims());
    assert!(matches!(
        h.validate(&unknown).await,
        Err(SsoError::IdpUnreachable(_))
    ));
    h.validate(&KEY_1.sign(&claims())).await.unwrap();
    h.cache.refresh_all().await;
    h.validate(&KEY_1.sign(&claims())).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_key_endpoint_on_first_use_is_an_outage() {
    let h = Harness::new();
    h.source.go_down();
    let err = h.validate(&KEY_1.sign(&claims())).await.unwrap_err();
    assert!(matches!(err, SsoError::IdpUnreachable(_)));
    assert_eq!(err.user_message(), crate::domain::messages::IDP_UNREACHABLE);
}

#[tokio::test]
async fn a_wrong_audience_is_refused() {
    let h = Harness::new();
    for aud in [
        json!("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"),
        json!([CLIENT_ID, "other"]),
        json!(null),
    ] {
        let token = KEY_1.sign(&with(claims(), "aud", aud.clone()));
        assert!(
            matches!(h.validate(&token).await, Err(SsoError::WrongAudience)),
            "{aud}"
        );
    }
}

#[tokio::test]
async fn expiry_allows_two_minutes_of_skew_and_no_more() {
    let h = Harness::new();
    let exp = now().timestamp() - 100;
    let token = KEY_1.sign(&with(claims(), "exp", json!(exp)));
    assert!(h.validate(&token).await.is_ok(), "within skew");
    let token = KEY_1.sign(&with(claims(), "exp", json!(now().timestamp() - 121)));
    assert!(matches!(h.validate(&token).await, Err(SsoError::Expired)));
}

#[tokio::test]
async fn not_before_and_issued_at_in_the_future_are_refused() {
    let h = Harness::new();
    let future = json!(now().timestamp() + 600);
    let token = KEY_1.sign(&with(claims(), "nbf", future.clone()));
    assert!(matches!(
        h.validate(&token).await,
        Err(SsoError::NotYetValid)
    ));
    let token = KEY_1.sign(&with(without(claims(), "nbf"), "iat", future));
    assert!(matches!(
        h.validate(&token).await,
        Err(SsoError::IssuedInFuture)
    ));
}

#[tokio::test]
async fn missing_sub_oid_exp_or_tid_are_refused() {
    let h = Harness::new();
    for claim in ["sub", "oid", "exp", "iat"] {
        let token = KEY_1.sign(&without(claims(), claim));
        assert!(
            matches!(h.validate(&token).await, Err(SsoError::MissingClaim(c)) if c == claim),
            "{claim}"
        );
    }
    let token = KEY_1.sign(&without(claims(), "tid"));
    assert!(matches!(
        h.validate(&token).await,
        Err(SsoError::MissingClaim("tid"))
    ));
}

#[tokio::test]
async fn the_nonce_must_be_the_flows() {
    let h = Harness::new();
    let token = KEY_1.sign(&with(claims(), "nonce", json!("another-nonce")));
    assert!(matches!(
        h.validate(&token).await,
        Err(SsoError::WrongNonce)
    ));
    let token = KEY_1.sign(&without(claims(), "nonce"));
    assert!(matches!(
        h.validate(&token).await,
        Err(SsoError::WrongNonce)
    ));
    // API tokens carry no nonce and are checked without one.
    assert!(h.validate_at(&token, None, now()).await.is_ok());
}

#[tokio::test]
async fn only_version_2_tokens_are_accepted() {
    let h = Harness::new();
    let token = KEY_1.sign(&with(claims(), "ver", json!("1.0")));
    assert!(matches!(
        h.validate(&token).await,
        Err(SsoError::WrongVersion)
    ));
}

#[tokio::test]
async fn an_unverified_email_does_not_count_noauth() {
    let h = Harness::new();
    // The attacker's tenant is approved (for its own account) and asserts the victim's email.
    let mut h = h;
    h.approved.push((
        OTHER_TENANT.to_string(),
        vec!["attacker.example".to_string()],
    ));
    let token = KEY_1.sign(&with(
        without(claims_for(OTHER_TENANT), "xms_edov"),
        "email",
        json!("ceo@contoso.example"),
    ));
    let verified = h.validate(&token).await.unwrap();
    assert_eq!(verified.email, None);
    let token = KEY_1.sign(&with(claims_for(OTHER_TENANT), "xms_edov", json!(false)));
    assert_eq!(h.validate(&token).await.unwrap().email, None);
    // A verified domain of the tenant is trusted even without xms_edov.
    let token = KEY_1.sign(&with(
        without(claims_for(OTHER_TENANT), "xms_edov"),
        "email",
        json!("Eve@Attacker.example"),
    ));
    assert_eq!(
        h.validate(&token).await.unwrap().email.as_deref(),
        Some("eve@attacker.example")
    );
}

#[tokio::test]
async fn garbage_is_malformed_not_a_panic() {
    let h = Harness::new();
    for token in ["", "a.b", "a.b.c.d", "!!!.???.***", &"x".repeat(20_000)] {
        assert!(h.validate(token).await.is_err(), "{token:.20}");
    }
}

fn token_with(amr: &[&str], acrs: &[&str]) -> super::VerifiedToken {
    super::VerifiedToken {
        tenant_id: super::TenantId::parse("c0a7e1f0-0000-4000-8000-000000000001").unwrap(),
        oid: "oid".into(),
        sub: "sub".into(),
        email: None,
        name: None,
        amr: amr.iter().map(|s| s.to_string()).collect(),
        acrs: acrs.iter().map(|s| s.to_string()).collect(),
        claims: serde_json::Value::Null,
    }
}

#[test]
fn mfa_evidence_reads_amr_and_a_met_authentication_context() {
    use crate::domain::MfaEvidence;
    assert_eq!(
        token_with(&["pwd", "mfa"], &[]).mfa_evidence(false),
        MfaEvidence::Yes
    );
    assert_eq!(
        token_with(&["pwd"], &[]).mfa_evidence(false),
        MfaEvidence::No
    );
    assert_eq!(
        token_with(&[], &[]).mfa_evidence(false),
        MfaEvidence::Unknown
    );
    // A met authentication context is the tenant's Conditional Access (MFA) policy.
    assert_eq!(
        token_with(&["pwd"], &["c1"]).mfa_evidence(true),
        MfaEvidence::Yes
    );
}

#[test]
fn a_requested_authentication_context_must_come_back_in_acrs() {
    assert!(token_with(&[], &["c1", "c2"]).meets_auth_context(Some("c2")));
    assert!(!token_with(&[], &["c1"]).meets_auth_context(Some("c2")));
    assert!(token_with(&[], &[]).meets_auth_context(None));
}
