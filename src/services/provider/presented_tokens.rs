//! Tokens a client or resource owner presents back to the provider (userinfo, introspection,
//! revocation): which refresh family an access or refresh token belongs to, and whether that
//! family still lives. Signature checks are `oidc_provider::verification`; this adds the
//! published keys, the broker's clock and the database.

use crate::crypto::tokens::sha256_hex;
use crate::db::oidc_refresh_family::OidcRefreshFamily;
use crate::db::oidc_refresh_token::OidcRefreshToken;
use crate::oidc_provider::claims::{AccessTokenClaims, ACCESS_TOKEN_TYP};
use crate::oidc_provider::verification::{self, Expected};
use crate::services::provider::minting::family_of_jti;
use crate::services::provider::refresh::session_lives;
use crate::services::provider::signing_keys;
use crate::services::ServiceError;
use crate::AppState;

/// Whether an access token's expiry matters to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Checked,
    Ignored,
}

/// A JWT the provider signed with `typ`, verified against the published keys (expiry, when
/// checked, at the broker's clock); `None` when it is not one.
pub async fn verified<C: serde::de::DeserializeOwned>(
    state: &AppState,
    token: &str,
    typ: &str,
    expiry: Expiry,
) -> Result<Option<C>, ServiceError> {
    let keys = signing_keys::jwks(state).await?;
    let issuer = state.settings.oidc_issuer();
    let expected = Expected {
        issuer: &issuer,
        typ,
        now: (expiry == Expiry::Checked).then(|| state.clock.now().timestamp()),
    };
    match verification::verify(token, &keys, expected) {
        Ok(claims) => Ok(Some(claims)),
        Err(e) => {
            log::info!(
                "request_id={} presented token refused: {e}",
                crate::request_id::current()
            );
            Ok(None)
        }
    }
}

/// An access token we signed and the refresh family its `jti` names (which must be the
/// token's client and user); `None` when it is not ours, expired (when checked) or names no
/// family. Says nothing about whether the family lives: see `family_lives`.
pub async fn access_token(
    state: &AppState,
    token: &str,
    expiry: Expiry,
) -> Result<Option<(AccessTokenClaims, OidcRefreshFamily)>, ServiceError> {
    let Some(claims) =
        verified::<AccessTokenClaims>(state, token, ACCESS_TOKEN_TYP, expiry).await?
    else {
        return Ok(None);
    };
    let Some(family_id) = family_of_jti(&claims.jti).map(str::to_string) else {
        return Ok(None);
    };
    let family = state
        .db
        .run(move |conn| Ok::<_, ServiceError>(OidcRefreshFamily::find(conn, &family_id)?))
        .await?;
    Ok(family
        .filter(|f| f.client_id == claims.client_id && f.user_id == claims.sub)
        .map(|f| (claims, f)))
}

/// A refresh token we issued (spent or not) and its family; `None` when unknown.
pub async fn refresh_token(
    state: &AppState,
    token: &str,
) -> Result<Option<(OidcRefreshToken, OidcRefreshFamily)>, ServiceError> {
    let hash = sha256_hex(token);
    state
        .db
        .run(move |conn| {
            let Some(row) = OidcRefreshToken::find(conn, &hash)? else {
                return Ok::<_, ServiceError>(None);
            };
            let family = OidcRefreshFamily::find(conn, &row.family_id)?;
            Ok(family.map(|f| (row, f)))
        })
        .await
}

/// Whether the tokens of `family` are still good: not revoked, not past an `offline_access`
/// family's lifetime, and — without `offline_access` — its broker session still lives (not
/// logged out, revoked, idle or past its lifetime).
pub async fn family_lives(
    state: &AppState,
    family: &OidcRefreshFamily,
) -> Result<bool, ServiceError> {
    let now = state.clock.now_naive();
    if family.revoked_at.is_some() || family.expires_at.is_some_and(|t| t <= now) {
        return Ok(false);
    }
    Ok(family.offline_access || session_lives(state, family).await?)
}
