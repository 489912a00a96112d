//! Why an identity provider's answer was refused. The codes go to the log and the audit reason;
//! a user only ever sees one of SPEC §3.2's two messages (`user_message`).

use crate::domain::messages;

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("SS0001 the token is malformed")]
    MalformedToken,
    #[error("SS0002 signing algorithm {0:?} is not allowed")]
    AlgorithmNotAllowed(String),
    #[error("SS0003 the token header has no key id")]
    MissingKeyId,
    #[error("SS0004 the key id is not in the tenant's key set")]
    UnknownKey,
    #[error("SS0005 the signature does not verify")]
    BadSignature,
    #[error("SS0006 the tenant id is not a GUID")]
    InvalidTenant,
    #[error("SS0007 personal Microsoft accounts are not accepted")]
    PersonalAccountTenant,
    #[error("SS0008 the tenant is not approved for this account")]
    TenantNotApproved,
    #[error("SS0009 the issuer does not match the tenant")]
    WrongIssuer,
    #[error("SS0010 the audience is not this application")]
    WrongAudience,
    #[error("SS0011 the token has expired")]
    Expired,
    #[error("SS0012 the token is not valid yet")]
    NotYetValid,
    #[error("SS0013 the token was issued in the future")]
    IssuedInFuture,
    #[error("SS0014 the nonce does not match the login flow")]
    WrongNonce,
    #[error("SS0015 the token version is not 2.0")]
    WrongVersion,
    #[error("SS0016 the required claim {0} is missing")]
    MissingClaim(&'static str),
    #[error("SS0018 the identity provider refused the authorization code ({0})")]
    CodeRejected(String),
    #[error("SS0017 the identity provider cannot be reached")]
    IdpUnreachable(#[source] anyhow::Error),
    #[error("SS0101 the SAML message is not well-formed: {0}")]
    SamlMalformed(&'static str),
    #[error("SS0102 the SAML message is larger than the limit")]
    SamlTooLarge,
    #[error("SS0103 the SAML message declares a DTD or entities")]
    SamlDoctype,
    #[error("SS0104 the SAML response does not hold exactly one assertion")]
    SamlAssertionCount,
    #[error("SS0105 encrypted SAML assertions are not supported")]
    SamlEncryptedAssertion,
    #[error("SS0106 the connection has no IdP signing certificate")]
    SamlNoCertificate,
    #[error("SS0107 signature algorithm {0:?} is not allowed")]
    SamlWeakAlgorithm(String),
    #[error("SS0108 no signature by the configured IdP certificate covers the assertion")]
    SamlBadSignature,
    #[error("SS0109 the response Destination is not our ACS URL")]
    SamlWrongDestination,
    #[error("SS0110 the Issuer is not the IdP's entityID")]
    SamlWrongIssuer,
    #[error("SS0111 the Audience is not our SP entityID")]
    SamlWrongAudience,
    #[error("SS0112 no bearer SubjectConfirmation for our ACS URL")]
    SamlWrongRecipient,
    #[error("SS0113 InResponseTo does not match the login flow's request")]
    SamlWrongInResponseTo,
    #[error("SS0114 IdP-initiated sign-in is not allowed for this connection")]
    SamlUnsolicited,
    #[error("SS0115 the assertion has expired")]
    SamlExpired,
    #[error("SS0116 the assertion is not valid yet")]
    SamlNotYetValid,
    #[error("SS0117 the IdP answered with status {0:?}")]
    SamlStatus(String),
    #[error("SS0118 the assertion was used before (replay)")]
    SamlReplay,
    #[error("SS0119 the assertion has no NameID")]
    SamlNoSubject,
    #[error("SS0120 the IdP metadata is not usable: {0}")]
    SamlMetadata(&'static str),
}

impl SsoError {
    /// Stable short code for audit reasons (`SS0004`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedToken => "SS0001",
            Self::AlgorithmNotAllowed(_) => "SS0002",
            Self::MissingKeyId => "SS0003",
            Self::UnknownKey => "SS0004",
            Self::BadSignature => "SS0005",
            Self::InvalidTenant => "SS0006",
            Self::PersonalAccountTenant => "SS0007",
            Self::TenantNotApproved => "SS0008",
            Self::WrongIssuer => "SS0009",
            Self::WrongAudience => "SS0010",
            Self::Expired => "SS0011",
            Self::NotYetValid => "SS0012",
            Self::IssuedInFuture => "SS0013",
            Self::WrongNonce => "SS0014",
            Self::WrongVersion => "SS0015",
            Self::MissingClaim(_) => "SS0016",
            Self::IdpUnreachable(_) => "SS0017",
            Self::CodeRejected(_) => "SS0018",
            Self::SamlMalformed(_) => "SS0101",
            Self::SamlTooLarge => "SS0102",
            Self::SamlDoctype => "SS0103",
            Self::SamlAssertionCount => "SS0104",
            Self::SamlEncryptedAssertion => "SS0105",
            Self::SamlNoCertificate => "SS0106",
            Self::SamlWeakAlgorithm(_) => "SS0107",
            Self::SamlBadSignature => "SS0108",
            Self::SamlWrongDestination => "SS0109",
            Self::SamlWrongIssuer => "SS0110",
            Self::SamlWrongAudience => "SS0111",
            Self::SamlWrongRecipient => "SS0112",
            Self::SamlWrongInResponseTo => "SS0113",
            Self::SamlUnsolicited => "SS0114",
            Self::SamlExpired => "SS0115",
            Self::SamlNotYetValid => "SS0116",
            Self::SamlStatus(_) => "SS0117",
            Self::SamlReplay => "SS0118",
            Self::SamlNoSubject => "SS0119",
            Self::SamlMetadata(_) => "SS0120",
        }
    }

    /// The only text a user sees (SPEC §3.2 steps 4 and 5).
    pub fn user_message(&self) -> &'static str {
        match self {
            Self::IdpUnreachable(_) => messages::IDP_UNREACHABLE,
            _ => messages::SSO_INCORRECT_CREDENTIALS,
        }
    }
}
