//! Validation of Entra v2.0 ID and access tokens, exactly as SPEC §4 states. Shared by the
//! login callback (with a nonce) and `POST /api/v1/entra/validate` (without).
//!
//! Order matters: the unverified payload is read only to learn which tenant's keys to use, and
//! only after that tenant is known to be approved; every claim is read again from the verified
//! token.

use chrono::{DateTime, Duration, Utc};
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use subtle::ConstantTimeEq;
use url::Url;

use super::jwks::KeyCache;
use super::tenant::TenantId;
use crate::domain::MfaEvidence;
use crate::sso::SsoError;

/// Clock skew allowed on `exp`, `nbf` and `iat` (SPEC §4).
pub const SKEW: Duration = Duration::minutes(2);

/// What a token must satisfy, besides its tenant being approved.
#[derive(Debug, Clone)]
pub struct TokenRules<'a> {
    /// `{authority}` of `{authority}/{tid}/v2.0`.
    pub authority: &'a Url,
    /// Accepted `aud` values: the client id (and `api://<client id>` for API tokens).
    pub audiences: &'a [String],
    /// The login flow's nonce; `None` for API tokens, which carry none.
    pub nonce: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// A token that passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub tenant_id: TenantId,
    /// The user key within the tenant (with `tenant_id`, the identity link).
    pub oid: String,
    pub sub: String,
    /// The email, only when SPEC §4 lets us trust it (nOAuth): `xms_edov` true or a verified
    /// domain of the tenant. Otherwise `None`, whatever the token says.
    pub email: Option<String>,
    pub name: Option<String>,
    pub amr: Vec<String>,
    pub acrs: Vec<String>,
    pub claims: Value,
}

impl VerifiedToken {
    /// MFA evidence (SPEC §3.6): `yes` when a requested authentication context came back in
    /// `acrs` (the tenant's Conditional Access policy, MFA, was met) or `amr` names `mfa`; `no`
    /// when `amr` states methods without it; `unknown` when it states none.
    pub fn mfa_evidence(&self, auth_context_met: bool) -> MfaEvidence {
        if auth_context_met || self.amr.iter().any(|m| m == "mfa") {
            MfaEvidence::Yes
        } else if self.amr.is_empty() {
            MfaEvidence::Unknown
        } else {
            MfaEvidence::No
        }
    }

    /// Whether `context`, when one was asked for, came back in `acrs`.
    pub fn meets_auth_context(&self, context: Option<&str>) -> bool {
        context.is_none_or(|c| self.acrs.iter().any(|a| a == c))
    }
}

/// The approved tenant's verified domains (for the email rule), or `None` when the tenant is not
/// approved (or revoked) for the account in question.
pub type ApprovedTenantLookup<'a> = &'a (dyn Fn(&TenantId) -> Option<Vec<String>> + Sync);

/// A token split into its parts, its header checked and its claims read, before the signature
/// is: the claims serve only to choose the tenant until `verify` has checked the signature
/// over exactly the bytes they were read from. Each part is decoded and parsed once.
pub struct UnverifiedToken<'t> {
    /// `base64(header) "." base64(claims)`: the signed bytes.
    message: &'t str,
    signature: &'t str,
    kid: String,
    claims: Value,
}

/// The JOSE header fields this module reads.
#[derive(serde::Deserialize)]
struct JoseHeader {
    alg: Option<String>,
    kid: Option<String>,
}

fn decode_segment<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, SsoError> {
    let bytes = BASE64URL_NOPAD
        .decode(segment.as_bytes())
        .map_err(|_| SsoError::MalformedToken)?;
    serde_json::from_slice(&bytes).map_err(|_| SsoError::MalformedToken)
}

impl<'t> UnverifiedToken<'t> {
    /// Splits and decodes `token`, checking the header: the algorithm must be RS256 (refusing
    /// `none`, HS256 and every other: the algorithm-confusion attacks, CVE-2015-9235 and kin)
    /// and a `kid` must name the key.
    pub fn parse(token: &'t str) -> Result<Self, SsoError> {
        if token.len() > 16 * 1024 {
            return Err(SsoError::MalformedToken);
        }
        let (message, signature) = token.rsplit_once('.').ok_or(SsoError::MalformedToken)?;
        let (header, payload) = message.split_once('.').ok_or(SsoError::MalformedToken)?;
        if payload.contains('.') {
            return Err(SsoError::MalformedToken);
        }
        let header: JoseHeader = decode_segment(header)?;
        match header.alg.as_deref() {
            Some("RS256") => {}
            other => {
                return Err(SsoError::AlgorithmNotAllowed(
                    other.unwrap_or("").to_string(),
                ))
            }
        }
        let kid = header
            .kid
            .filter(|kid| !kid.is_empty())
            .ok_or(SsoError::MissingKeyId)?;
        Ok(Self {
            message,
            signature,
            kid,
            claims: decode_segment(payload)?,
        })
    }

    /// The `tid` of the unverified claims: only to choose whose keys (and which approvals)
    /// apply.
    pub fn tenant(&self) -> Result<TenantId, SsoError> {
        let tid = self
            .claims
            .get("tid")
            .and_then(Value::as_str)
            .ok_or(SsoError::MissingClaim("tid"))?;
        TenantId::parse(tid)
    }

    /// The claims, once the RS256 signature over the signed bytes checks with `key` (through
    /// jsonwebtoken's provider). Times and audience are for `check_claims`, against an
    /// explicit `now`.
    fn verify(self, key: &DecodingKey) -> Result<Value, SsoError> {
        let verified = jsonwebtoken::crypto::verify(
            self.signature,
            self.message.as_bytes(),
            key,
            Algorithm::RS256,
        )
        // An undecodable signature or a key that is not RSA: refused like any malformed token.
        .map_err(|_| SsoError::MalformedToken)?;
        if !verified {
            return Err(SsoError::BadSignature);
        }
        Ok(self.claims)
    }
}

fn string_claim<'a>(claims: &'a Value, name: &'static str) -> Result<&'a str, SsoError> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .ok_or(SsoError::MissingClaim(name))
}

fn time_claim(claims: &Value, name: &'static str) -> Result<Option<i64>, SsoError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or(SsoError::MalformedToken),
    }
}

fn string_list(claims: &Value, name: &str) -> Vec<String> {
    claims
        .get(name)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Every claim rule of SPEC §4, on claims whose signature verified.
pub fn check_claims(
    verified: Value,
    tenant: &TenantId,
    verified_domains: &[String],
    rules: &TokenRules<'_>,
) -> Result<VerifiedToken, SsoError> {
    let claims = &verified;
    if string_claim(claims, "tid")? != tenant.as_str() {
        return Err(SsoError::WrongIssuer);
    }
    // Byte-equal to the issuer built from the tenant: `{tenantid}` templates and look-alike
    // hosts are refused.
    if string_claim(claims, "iss")? != tenant.issuer(rules.authority) {
        return Err(SsoError::WrongIssuer);
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => rules.audiences.iter().any(|a| a == aud),
        Some(Value::Array(auds)) if auds.len() == 1 => auds[0]
            .as_str()
            .is_some_and(|aud| rules.audiences.iter().any(|a| a == aud)),
        _ => false,
    };
    if !audience_ok {
        return Err(SsoError::WrongAudience);
    }
    let now = rules.now.timestamp();
    let skew = SKEW.num_seconds();
    let exp = time_claim(claims, "exp")?.ok_or(SsoError::MissingClaim("exp"))?;
    if now > exp.saturating_add(skew) {
        return Err(SsoError::Expired);
    }
    if time_claim(claims, "nbf")?.is_some_and(|nbf| now.saturating_add(skew) < nbf) {
        return Err(SsoError::NotYetValid);
    }
    let iat = time_claim(claims, "iat")?.ok_or(SsoError::MissingClaim("iat"))?;
    if iat > now.saturating_add(skew) {
        return Err(SsoError::IssuedInFuture);
    }
    if let Some(expected) = rules.nonce {
        let nonce = claims
            .get("nonce")
            .and_then(Value::as_str)
            .ok_or(SsoError::WrongNonce)?;
        if !bool::from(nonce.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(SsoError::WrongNonce);
        }
    }
    if claims.get("ver").and_then(Value::as_str) != Some("2.0") {
        return Err(SsoError::WrongVersion);
    }
    let oid = string_claim(claims, "oid")?.to_string();
    let sub = string_claim(claims, "sub")?.to_string();
    let email = trusted_email(claims, verified_domains);
    let name = claims
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let amr = string_list(claims, "amr");
    let acrs = string_list(claims, "acrs");
    Ok(VerifiedToken {
        tenant_id: tenant.clone(),
        email,
        name,
        amr,
        acrs,
        oid,
        sub,
        claims: verified,
    })
}

/// The `email` claim when it may be trusted (SPEC §4).
///
/// # Security
/// nOAuth (Descope, 2023): any tenant admin can set a user's unverified `email` to someone
/// else's address. It counts only when Entra says the domain is verified for the tenant
/// (`xms_edov`), or the domain is one of the tenant's verified domains read from Graph.
pub fn trusted_email(claims: &Value, verified_domains: &[String]) -> Option<String> {
    let email = claims
        .get("email")
        .and_then(Value::as_str)?
        .trim()
        .to_lowercase();
    let (_, domain) = email.rsplit_once('@')?;
    let edov = matches!(claims.get("xms_edov"), Some(Value::Bool(true)))
        || matches!(
            claims.get("xms_edov").and_then(Value::as_str),
            Some("true") | Some("1")
        );
    let verified = verified_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(domain));
    (edov || verified).then_some(email)
}

/// Validates a token from any approved tenant (SPEC §4).
pub async fn validate_token(
    token: &str,
    rules: &TokenRules<'_>,
    keys: &KeyCache,
    approved: ApprovedTenantLookup<'_>,
) -> Result<VerifiedToken, SsoError> {
    validate_parsed(UnverifiedToken::parse(token)?, rules, keys, approved).await
}

/// `validate_token` for a token already split and decoded (whose caller needed its tenant
/// first).
pub async fn validate_parsed(
    token: UnverifiedToken<'_>,
    rules: &TokenRules<'_>,
    keys: &KeyCache,
    approved: ApprovedTenantLookup<'_>,
) -> Result<VerifiedToken, SsoError> {
    let tenant = token.tenant()?;
    let verified_domains = approved(&tenant).ok_or(SsoError::TenantNotApproved)?;
    let key = keys.key(&tenant, &token.kid, rules.now).await?;
    let claims = token.verify(&key)?;
    check_claims(claims, &tenant, &verified_domains, rules)
}
