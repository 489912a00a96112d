//! `POST /oauth2/token`, the `refresh_token` grant (SPEC §7.2): rotation (every refresh spends
//! the token and returns a new one), reuse detection (a spent token revokes its whole family,
//! other families untouched), and on every refresh the checks SPEC §3.8 asks for: the user is
//! active and still a member, the connection or tenant of the sign-in still stands, the account
//! still admits it, and — without `offline_access` — the broker session still lives.

use chrono::NaiveDateTime;

use crate::auth::session::{self, SignedIn};
use crate::crypto::tokens::sha256_hex;
use crate::db::oidc_refresh_family::OidcRefreshFamily;
use crate::db::oidc_refresh_token::OidcRefreshToken;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::trust::refresh_admitted;
use crate::domain::{AccountId, UserId};
use crate::oidc_provider::claims::SignInFacts;
use crate::oidc_provider::token_error::OAuthError;
use crate::services::provider::clients::AuthenticatedClient;
use crate::services::provider::token::{
    new_refresh_token, record, respond, subject_of, Granted, TokenError, TokenResponse,
};
use crate::services::support::audit::{Outcome, RequestMeta};
use crate::services::trust;
use crate::services::ServiceError;
use crate::AppState;

/// The `refresh_token` grant.
pub async fn refresh(
    state: &AppState,
    client: &AuthenticatedClient,
    token: String,
    meta: RequestMeta,
) -> Result<TokenResponse, TokenError> {
    let hash = sha256_hex(&token);
    let lookup = hash.clone();
    let family = state
        .db
        .run(move |conn| {
            let Some(row) = OidcRefreshToken::find(conn, &lookup)? else {
                return Ok::<_, ServiceError>(None);
            };
            Ok(OidcRefreshFamily::find(conn, &row.family_id)?)
        })
        .await?;
    let family = match family {
        Some(f) if f.client_id == client.client_id.as_str() => f,
        _ => return Err(OAuthError::invalid_grant("the refresh token is not valid").into()),
    };
    let session_lives = family.offline_access || session_lives(state, &family).await?;
    let now = state.clock.now_naive();
    let granted = state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                rotate(conn, &hash, family, session_lives, now, &meta)
            })
        })
        .await??;
    respond(state, granted).await
}

/// Whether the broker session of a family without `offline_access` is live (not logged out,
/// revoked, idle or past its lifetime).
pub(crate) async fn session_lives(
    state: &AppState,
    family: &OidcRefreshFamily,
) -> Result<bool, ServiceError> {
    broker_session_lives(state, &family.user_id, &family.sid).await
}

/// Whether the broker session `sid` of `user_id` is live (not logged out, revoked, idle or
/// past its lifetime).
pub(crate) async fn broker_session_lives(
    state: &AppState,
    user_id: &str,
    sid: &str,
) -> Result<bool, ServiceError> {
    let stored = state
        .session_store
        .live_state_by_sid(user_id, sid)
        .await
        .map_err(ServiceError::Internal)?;
    Ok(stored
        .as_ref()
        .and_then(session::signed_in_of)
        .is_some_and(|s| {
            s.user_id.as_str() == user_id && state.session_policy.is_live(&s, state.clock.now())
        }))
}

/// Spends the token and issues the next one, or refuses (revoking the family where the spec
/// says so). Refusals are `Ok(Err(..))` so that the revocation commits.
fn rotate(
    conn: &mut DbConnection,
    hash: &str,
    family: OidcRefreshFamily,
    session_lives: bool,
    now: NaiveDateTime,
    meta: &RequestMeta,
) -> Result<Result<Granted, OAuthError>, ServiceError> {
    // Read again inside the transaction: a concurrent refresh or revocation wins.
    let family = OidcRefreshFamily::find(conn, &family.id)?.unwrap_or(family);
    if family.revoked_at.is_some() {
        return Ok(Err(OAuthError::invalid_grant(
            "the refresh token was revoked",
        )));
    }
    let end = |conn: &mut DbConnection,
               reason: &str|
     -> Result<Result<Granted, OAuthError>, ServiceError> {
        OidcRefreshFamily::revoke(conn, &family.id, now, reason)?;
        Ok(Err(OAuthError::invalid_grant(
            "the refresh token is no longer valid",
        )))
    };
    if !OidcRefreshToken::spend(conn, hash, now)? {
        OidcRefreshFamily::revoke(conn, &family.id, now, "refresh_reuse")?;
        let text = format!("client_id={} family revoked", family.client_id);
        record(
            conn,
            meta,
            now,
            &family.account_id,
            "oidc.refresh.reuse",
            Outcome::Failure,
            &text,
        )?;
        return Ok(Err(OAuthError::invalid_grant(
            "the refresh token was already used",
        )));
    }
    if family.expires_at.is_some_and(|t| t <= now) {
        return end(conn, "expired");
    }
    if !session_lives {
        return end(conn, "session_ended");
    }
    let facts: SignInFacts =
        serde_json::from_str(&family.sign_in).map_err(|e| ServiceError::Internal(e.into()))?;
    if !still_admits(conn, &family, &facts)? {
        return end(conn, "trust_withdrawn");
    }
    let Some(subject) = subject_of(conn, &family)? else {
        return end(conn, "user_or_membership_gone");
    };
    let refresh_token = new_refresh_token(conn, &family.id, now)?;
    let text = format!("client_id={} grant=refresh_token", family.client_id);
    record(
        conn,
        meta,
        now,
        &family.account_id,
        "oidc.token.issue",
        Outcome::Success,
        &text,
    )?;
    Ok(Ok(Granted {
        family,
        subject,
        facts,
        refresh_token,
        nonce: None,
    }))
}

/// SPEC §3.8 for a refresh: the connection or tenant of the sign-in still stands, and the
/// account still admits the sign-in (`domain::trust::refresh_admitted`).
fn still_admits(
    conn: &mut DbConnection,
    family: &OidcRefreshFamily,
    facts: &SignInFacts,
) -> Result<bool, ServiceError> {
    let auth_time = family.auth_time.and_utc().timestamp();
    let signed_in = SignedIn {
        user_id: UserId::from_stored(family.user_id.clone()),
        account_id: AccountId::from_stored(family.account_id.clone()),
        auth_method: facts.auth_method,
        idp: facts.idp,
        amr: Vec::new(),
        mfa: facts.mfa,
        authenticated_at: auth_time,
        last_seen_at: auth_time,
        not_after: None,
        connection_id: facts.connection_id.clone(),
        tenant_id: facts.tenant_id.clone(),
    };
    if !trust::still_admitted(conn, &signed_in)? {
        return Ok(false);
    }
    let Some(user) = User::find(conn, &family.user_id)? else {
        return Ok(false);
    };
    let now = trust::account_admits(conn, &signed_in, &user, &family.account_id)?;
    Ok(refresh_admitted(
        now,
        !facts.is_sso(),
        family.offline_access,
    ))
}
