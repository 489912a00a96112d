//! `POST /oauth2/introspect` (RFC 7662, SPEC §7.2): what an authenticated client may learn about
//! a token it holds. Active means: an access token we signed, not expired, or a refresh token
//! not yet spent; its family not revoked and still alive (`presented_tokens::family_lives`);
//! its user active and still a member of the account.
//!
//! # Security
//! Another client's token is `{active: false}`, exactly like an unknown one, so a client learns
//! nothing about tokens it does not hold (RFC 7662 §2.2, §4: token scanning).

use serde::Serialize;

use crate::db::oidc_refresh_family::OidcRefreshFamily;
use crate::services::provider::clients::AuthenticatedClient;
use crate::services::provider::presented_tokens::{self, Expiry};
use crate::services::provider::token::subject_of;
use crate::services::ServiceError;
use crate::AppState;

/// The introspection answer: `{active: false}` or the token's details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub details: Option<TokenDetails>,
}

/// What an active token is (SPEC §7.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenDetails {
    pub sub: String,
    pub client_id: String,
    /// Absent for a refresh token that lives as long as its broker session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    pub iat: i64,
    pub scope: String,
    pub sid: String,
    pub account: String,
    pub roles: Vec<String>,
}

impl Introspection {
    fn inactive() -> Self {
        Self {
            active: false,
            details: None,
        }
    }
}

/// Introspects `token` for `client`.
pub async fn introspect(
    state: &AppState,
    client: &AuthenticatedClient,
    token: &str,
) -> Result<Introspection, ServiceError> {
    let (family, exp, iat) = match presented_tokens::refresh_token(state, token).await? {
        Some((row, family)) if row.spent_at.is_none() => {
            let exp = family.expires_at.map(|t| t.and_utc().timestamp());
            (family, exp, row.created_at.and_utc().timestamp())
        }
        Some(_) => return Ok(Introspection::inactive()),
        None => match presented_tokens::access_token(state, token, Expiry::Checked).await? {
            Some((claims, family)) => (family, Some(claims.exp), claims.iat),
            None => return Ok(Introspection::inactive()),
        },
    };
    if family.client_id != client.client_id.as_str()
        || !presented_tokens::family_lives(state, &family).await?
    {
        return Ok(Introspection::inactive());
    }
    let details = details_of(state, family, exp, iat).await?;
    Ok(Introspection {
        active: details.is_some(),
        details,
    })
}

/// The details of a live family's token, if its user is active and still a member.
async fn details_of(
    state: &AppState,
    family: OidcRefreshFamily,
    exp: Option<i64>,
    iat: i64,
) -> Result<Option<TokenDetails>, ServiceError> {
    state
        .db
        .run(move |conn| {
            let Some(subject) = subject_of(conn, &family)? else {
                return Ok(None);
            };
            Ok(Some(TokenDetails {
                sub: subject.user_id,
                client_id: family.client_id,
                exp,
                iat,
                scope: family.scope,
                sid: subject.sid,
                account: subject.account,
                roles: vec![subject.role],
            }))
        })
        .await
}
