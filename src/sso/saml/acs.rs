//! ACS validation (SPEC §5): from the `SAMLResponse` field to a `VerifiedAssertion`, or the
//! first check that failed. The order is: size and DTD, raw shape (exactly one top-level
//! assertion, no encrypted one, allowed algorithms only), signature by a configured certificate
//! with xmlsec reducing the document to its verified subtree, and then every semantic check on
//! that subtree alone. The replay store is the caller's (`assertion_id` until `replay_until`).
//!
//! # Security
//! - Signature wrapping (XSW1–8, CVE-2024-45409 ruby-saml, CVE-2025-25291/25292): data is read
//!   only from the tree xmlsec verified (`ReduceMode::ValidateAndMarkNoAncestors`), and that
//!   tree's assertion must be the document's one top-level assertion (same `ID`; duplicate IDs
//!   are refused by samael before verification).
//! - Key confusion: only the connection's certificates are tried; `KeyInfo` is never used.
//! - Algorithm downgrade: SHA-1 anywhere in a signature is refused before verification, and
//!   xmlsec is given the same allow-list.
//! - Comment injection (CVE-2017-11427/11428/11429, CVE-2018-7340): NameID and attribute values
//!   are the concatenation of all their text, never the first text node.

use chrono::{DateTime, Duration, Utc};
use samael::crypto::{AllowedSignatureAlgorithm, Crypto, CryptoProvider, ReduceMode};
use samael::schema::{Assertion, Response};

use super::xml_guard::{self, RawShape};
use super::{claims, IdpSettings, SpSettings, ASSERTION_NS, BEARER, PROTOCOL_NS, STATUS_SUCCESS};
use crate::domain::{Email, MfaEvidence};
use crate::sso::SsoError;

/// Clock skew allowed on every time condition (SPEC §5: at most 3 minutes).
pub const MAX_SKEW: Duration = Duration::minutes(3);

/// RSA/ECDSA with SHA-256 or stronger.
pub const ALLOWED_ALGORITHMS: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// The transforms a SAML signature needs, and no others: enveloped signature and the four
/// canonicalizations. XPath and XSLT transforms are refused before xmlsec runs them (they cost
/// CPU in proportion to the square of the document, before any signature check fails).
pub const ALLOWED_TRANSFORMS: &[&str] = &[
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
];

/// A Response signature, an Assertion signature and two signed assertions in its `Advice`
/// (legitimate, if rare), at most: each signature costs a verification per certificate.
pub const MAX_SIGNATURES: usize = 4;

/// Whether a `SignatureMethod` or `DigestMethod` algorithm is on the allow-list.
fn allowed_algorithm_uri(uri: &str) -> bool {
    ALLOWED_ALGORITHMS
        .iter()
        .any(|a| a.signature_uri() == uri || a.digest_uri() == uri)
}

/// What the ACS checks a response against.
#[derive(Debug, Clone, Copy)]
pub struct AcsRules<'a> {
    pub sp: &'a SpSettings,
    pub idp: &'a IdpSettings,
    /// The login flow's AuthnRequest id; `None` for an unsolicited (IdP-initiated) response.
    pub request_id: Option<&'a str>,
    pub allow_idp_initiated: bool,
    /// The attribute holding the user's email (SPEC §5 default: the emailaddress claim).
    pub email_attribute: &'a str,
    pub now: DateTime<Utc>,
}

/// A response that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub assertion_id: String,
    /// The IdP entityID (the identity link's issuer).
    pub issuer: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// From the configured attribute, else the NameID when it is an email; lowercased.
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    /// `authnmethodsreferences` values, and the AuthnContextClassRef.
    pub amr: Vec<String>,
    pub attributes: Vec<(String, Vec<String>)>,
    /// Keep the assertion id in the replay store until then.
    pub replay_until: DateTime<Utc>,
    /// `AuthnStatement@SessionNotOnOrAfter`: the session must end by then.
    pub session_not_on_or_after: Option<DateTime<Utc>>,
    /// Whether the response answered one of our requests (`false`: IdP-initiated).
    pub solicited: bool,
}

impl VerifiedAssertion {
    /// MFA evidence (SPEC §3.6): `yes` when `amr` names MFA, `no` when the IdP stated methods
    /// without it, `unknown` when it said nothing.
    pub fn mfa_evidence(&self) -> MfaEvidence {
        let stated: Vec<&String> = self
            .attributes
            .iter()
            .filter(|(name, _)| name == claims::AMR)
            .flat_map(|(_, values)| values)
            .collect();
        if stated
            .iter()
            .any(|v| v.as_str() == "mfa" || v.as_str() == claims::MULTIPLE_AUTHN)
        {
            MfaEvidence::Yes
        } else if stated.is_empty() {
            MfaEvidence::Unknown
        } else {
            MfaEvidence::No
        }
    }
}

/// Validates the `SAMLResponse` form field.
pub fn verify_acs_response(
    saml_response: &str,
    rules: &AcsRules<'_>,
) -> Result<VerifiedAssertion, SsoError> {
    let xml = xml_guard::decode_post_field(saml_response)?;
    verify_acs_xml(&xml, rules)
}

/// Validates a decoded response document.
pub fn verify_acs_xml(xml: &str, rules: &AcsRules<'_>) -> Result<VerifiedAssertion, SsoError> {
    let shape = xml_guard::inspect_response(xml)?;
    check_shape(&shape, rules)?;
    let certs = rules.idp.certificate_ders()?;
    let reduced = Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &certs,
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(ALLOWED_ALGORITHMS),
    )
    .map_err(|_| SsoError::SamlBadSignature)?;
    let top_level_id = shape.assertion_ids.first().map(String::as_str);
    let assertion = verified_assertion(&reduced, &shape, rules)?;
    if Some(assertion.id.as_str()) != top_level_id {
        // The signed assertion is not the one the document presents (wrapping).
        return Err(SsoError::SamlBadSignature);
    }
    check_assertion(&assertion, rules)
}

/// Checks on the raw document that may only refuse.
fn check_shape(shape: &RawShape, rules: &AcsRules<'_>) -> Result<(), SsoError> {
    if shape.encrypted_assertions > 0 {
        return Err(SsoError::SamlEncryptedAssertion);
    }
    if shape.assertion_ids.len() != 1 {
        return Err(SsoError::SamlAssertionCount);
    }
    if shape.signatures > MAX_SIGNATURES {
        return Err(SsoError::SamlMalformed("too many signatures"));
    }
    if let Some(odd) = shape
        .transforms
        .iter()
        .find(|t| !ALLOWED_TRANSFORMS.contains(&t.as_str()))
    {
        return Err(SsoError::SamlWeakAlgorithm(odd.chars().take(100).collect()));
    }
    if let Some(weak) = shape.algorithms.iter().find(|a| !allowed_algorithm_uri(a)) {
        return Err(SsoError::SamlWeakAlgorithm(
            weak.chars().take(100).collect(),
        ));
    }
    match shape.status.as_deref() {
        Some(STATUS_SUCCESS) => {}
        Some(other) => return Err(SsoError::SamlStatus(other.chars().take(100).collect())),
        None => return Err(SsoError::SamlMalformed("no Status")),
    }
    if shape.destination.as_deref() != Some(rules.sp.acs_url.as_str()) {
        return Err(SsoError::SamlWrongDestination);
    }
    // Checked again on verified data when the Response is signed; when only the assertion is,
    // this is the only look at it.
    if shape
        .issuer
        .as_deref()
        .is_some_and(|issuer| issuer.trim() != rules.idp.entity_id)
    {
        return Err(SsoError::SamlWrongIssuer);
    }
    check_in_response_to(shape.in_response_to.as_deref(), rules)
}

/// `InResponseTo` (of the Response or of the bearer confirmation) against the flow.
fn check_in_response_to(value: Option<&str>, rules: &AcsRules<'_>) -> Result<(), SsoError> {
    match (rules.request_id, value) {
        (Some(expected), Some(got)) if got == expected => Ok(()),
        (Some(_), _) => Err(SsoError::SamlWrongInResponseTo),
        // Unsolicited: allowed only when the connection allows it, and then it must not claim
        // to answer a request (that request's flow is the only place it could be checked).
        (None, None) if rules.allow_idp_initiated => Ok(()),
        (None, None) => Err(SsoError::SamlUnsolicited),
        (None, Some(_)) => Err(SsoError::SamlWrongInResponseTo),
    }
}

/// The assertion of the verified subtree: the Response's (Response signed) or the root itself
/// (only the Assertion signed). The Response-level checks repeat on verified data when signed.
fn verified_assertion(
    reduced: &str,
    shape: &RawShape,
    rules: &AcsRules<'_>,
) -> Result<Assertion, SsoError> {
    if xml_guard::root_is(reduced, PROTOCOL_NS, "Response") {
        let response = reduced
            .parse::<Response>()
            .map_err(|_| SsoError::SamlMalformed("the signed Response does not parse"))?;
        if response.id.as_str() != shape.response_id.as_deref().unwrap_or_default() {
            return Err(SsoError::SamlBadSignature);
        }
        if response.destination.as_deref() != Some(rules.sp.acs_url.as_str()) {
            return Err(SsoError::SamlWrongDestination);
        }
        if let Some(issuer) = response.issuer.as_ref() {
            if issuer.value.as_deref() != Some(rules.idp.entity_id.as_str()) {
                return Err(SsoError::SamlWrongIssuer);
            }
        }
        if response.encrypted_assertion.is_some() {
            return Err(SsoError::SamlEncryptedAssertion);
        }
        return response.assertion.ok_or(SsoError::SamlAssertionCount);
    }
    if !xml_guard::root_is(reduced, ASSERTION_NS, "Assertion") {
        return Err(SsoError::SamlMalformed(
            "the signed element is not a Response or Assertion",
        ));
    }
    reduced
        .parse::<Assertion>()
        .map_err(|_| SsoError::SamlMalformed("the signed Assertion does not parse"))
}

fn check_assertion(a: &Assertion, rules: &AcsRules<'_>) -> Result<VerifiedAssertion, SsoError> {
    let now = rules.now;
    if a.version != "2.0" {
        return Err(SsoError::SamlMalformed("assertion version is not 2.0"));
    }
    if a.issuer.value.as_deref() != Some(rules.idp.entity_id.as_str()) {
        return Err(SsoError::SamlWrongIssuer);
    }
    // Times are compared with `now ± skew`, never shifted themselves: a signed date near
    // chrono's limits must not overflow.
    if a.issue_instant > now + MAX_SKEW {
        return Err(SsoError::SamlNotYetValid);
    }
    let conditions = a
        .conditions
        .as_ref()
        .ok_or(SsoError::SamlMalformed("no Conditions"))?;
    if conditions.not_before.is_some_and(|t| t > now + MAX_SKEW) {
        return Err(SsoError::SamlNotYetValid);
    }
    if conditions
        .not_on_or_after
        .is_some_and(|t| t <= now - MAX_SKEW)
    {
        return Err(SsoError::SamlExpired);
    }
    // Every AudienceRestriction must name us, and there must be at least one.
    let restrictions = conditions.audience_restrictions.as_deref().unwrap_or(&[]);
    if restrictions.is_empty()
        || !restrictions
            .iter()
            .all(|r| r.audience.iter().any(|aud| aud == &rules.sp.entity_id))
    {
        return Err(SsoError::SamlWrongAudience);
    }
    let subject = a.subject.as_ref().ok_or(SsoError::SamlNoSubject)?;
    let name_id = subject
        .name_id
        .as_ref()
        .map(|n| (n.value.trim().to_string(), n.format.clone()))
        .filter(|(v, _)| !v.is_empty() && v.len() <= 1024)
        .ok_or(SsoError::SamlNoSubject)?;
    let confirmation_until = bearer_confirmation(a, rules)?;
    let authn = a
        .authn_statements
        .as_deref()
        .and_then(|s| s.first())
        .ok_or(SsoError::SamlMalformed("no AuthnStatement"))?;
    if authn
        .session_not_on_or_after
        .is_some_and(|t| t <= now - MAX_SKEW)
    {
        return Err(SsoError::SamlExpired);
    }
    let attributes: Vec<(String, Vec<String>)> = a
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|s| s.attributes.iter())
        .filter_map(|attr| {
            let name = attr.name.clone()?;
            let values = attr
                .values
                .iter()
                .filter_map(|v| v.value.as_ref().map(|s| s.trim().to_string()))
                .collect();
            Some((name, values))
        })
        .collect();
    let single = |name: &str| -> Option<String> {
        let mut values = attributes
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v);
        match (values.next(), values.next()) {
            (Some(v), None) if !v.is_empty() => Some(v.clone()),
            _ => None,
        }
    };
    let email = single(rules.email_attribute)
        .or_else(|| Some(name_id.0.clone()))
        .and_then(|e| Email::parse(&e).ok())
        .map(|e| e.as_str().to_string());
    let mut amr: Vec<String> = attributes
        .iter()
        .filter(|(n, _)| n == claims::AMR)
        .flat_map(|(_, v)| v.iter().cloned())
        .collect();
    if let Some(class) = authn
        .authn_context
        .as_ref()
        .and_then(|c| c.value.as_ref())
        .and_then(|c| c.value.clone())
    {
        amr.push(class.trim().to_string());
    }
    // Kept until no window of the assertion is open any more: the latest of every bearer
    // confirmation and the conditions, plus the skew.
    let bearer_untils = a
        .subject
        .iter()
        .flat_map(|s| s.subject_confirmations.iter().flatten())
        .filter(|c| c.method.as_deref() == Some(BEARER))
        .filter_map(|c| c.subject_confirmation_data.as_ref()?.not_on_or_after);
    let latest = bearer_untils
        .chain([confirmation_until])
        .chain(conditions.not_on_or_after)
        .max()
        .unwrap_or(confirmation_until);
    let replay_until = latest.checked_add_signed(MAX_SKEW).unwrap_or(latest);
    Ok(VerifiedAssertion {
        assertion_id: a.id.clone(),
        issuer: rules.idp.entity_id.clone(),
        name_id: name_id.0,
        name_id_format: name_id.1,
        email,
        given_name: single(claims::GIVEN_NAME),
        surname: single(claims::SURNAME),
        amr,
        attributes,
        replay_until,
        session_not_on_or_after: authn.session_not_on_or_after,
        solicited: rules.request_id.is_some(),
    })
}

/// A bearer `SubjectConfirmation` whose data names our ACS, is in its window and answers the
/// flow's request. Returns its `NotOnOrAfter`.
fn bearer_confirmation(a: &Assertion, rules: &AcsRules<'_>) -> Result<DateTime<Utc>, SsoError> {
    let now = rules.now;
    let bearers = a
        .subject
        .as_ref()
        .and_then(|s| s.subject_confirmations.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.method.as_deref() == Some(BEARER));
    let mut first_error = None;
    for c in bearers {
        let Some(data) = c.subject_confirmation_data.as_ref() else {
            first_error.get_or_insert(SsoError::SamlWrongRecipient);
            continue;
        };
        if data.recipient.as_deref() != Some(rules.sp.acs_url.as_str()) {
            first_error.get_or_insert(SsoError::SamlWrongRecipient);
            continue;
        }
        let Some(until) = data.not_on_or_after else {
            first_error.get_or_insert(SsoError::SamlMalformed(
                "bearer confirmation without NotOnOrAfter",
            ));
            continue;
        };
        if until <= now - MAX_SKEW {
            first_error.get_or_insert(SsoError::SamlExpired);
            continue;
        }
        if data.not_before.is_some_and(|t| t > now + MAX_SKEW) {
            first_error.get_or_insert(SsoError::SamlNotYetValid);
            continue;
        }
        if let Err(e) = check_in_response_to(data.in_response_to.as_deref(), rules) {
            first_error.get_or_insert(e);
            continue;
        }
        return Ok(until);
    }
    Err(first_error.unwrap_or(SsoError::SamlWrongRecipient))
}
