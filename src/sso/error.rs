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
