//! `POST /oauth2/revoke` (RFC 7009, SPEC §7.2): an authenticated client ends a grant it holds.
//!
//! A refresh token revokes its whole family (every token descended from the same code). An
//! access token revokes its family too: access tokens are self-contained JWTs that cannot be
//! revoked one by one, and userinfo and introspection refuse every token of a revoked family,
//! so revoking the family is the only way to make the presented access token stop working
//! there; a client revoking an access token wants the grant ended anyway (logout). An access
//! token's expiry does not matter here: it still names its family, and only its own client
//! may revoke it.
//!
//! # Security
//! The answer is the same `200` for unknown tokens and for another client's token (RFC 7009
//! §2.2), so a client cannot probe for tokens; another client's token is never revoked (RFC
//! 7009 §2.1: the token must have been issued to the requesting client).

use crate::db::oidc_refresh_family::OidcRefreshFamily;
use crate::services::provider::clients::AuthenticatedClient;
use crate::services::provider::presented_tokens::{self, Expiry};
use crate::services::provider::token::record;
use crate::services::support::audit::{Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::AppState;

/// Revokes the family of `token` when it is `client`'s; answers nothing either way.
pub async fn revoke(
    state: &AppState,
    client: &AuthenticatedClient,
    token: &str,
    meta: RequestMeta,
) -> Result<(), ServiceError> {
    let (family, kind) = match presented_tokens::refresh_token(state, token).await? {
        Some((_, family)) => (family, "refresh_token"),
        None => match presented_tokens::access_token(state, token, Expiry::Ignored).await? {
            Some((_, family)) => (family, "access_token"),
            None => return Ok(()),
        },
    };
    let own = family.client_id == client.client_id.as_str();
    let now = state.clock.now_naive();
    let requester = client.client_id.as_str().to_string();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                if !own {
                    let text = format!("client_id={requester} presented another client's {kind}");
                    return record(
                        conn,
                        &meta,
                        now,
                        &family.account_id,
                        "oidc.revoke",
                        Outcome::Failure,
                        &text,
                    );
                }
                let revoked = OidcRefreshFamily::revoke(conn, &family.id, now, "revoked")?;
                let text = format!("client_id={requester} token={kind} family_revoked={revoked}");
                record(
                    conn,
                    &meta,
                    now,
                    &family.account_id,
                    "oidc.revoke",
                    Outcome::Success,
                    &text,
                )
            })
        })
        .await
}
