//! `POST /oauth2/token`, the `refresh_token` grant (SPEC §7.2): rotation (every refresh spends
//! the token and returns a new one), reuse detection (a spent token revokes its whole family,
//! other families untouched), and on every refresh the checks SPEC §3.8 asks for: the user is
//! active and still a member, the connection or tenant of the sign-in still stands, the account
//! still admits it, and — without `offline_access` — the broker session still lives.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::auth::session::{self, SessionPolicy, SignedIn};
use crate::auth::session_store::live_state_by_sid_on;
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

/// The `refresh_token` grant: with sessions in the database, one unit of database work (find
/// the family, check the broker session, rotate); with sessions in Redis, the session is asked
/// between finding the family and rotating it.
pub async fn refresh(
    state: &AppState,
    client: &AuthenticatedClient,
    token: String,
    meta: RequestMeta,
) -> Result<TokenResponse, TokenError> {
    let hash = sha256_hex(&token);
    let client_id = client.client_id.as_str().to_string();
    let sessions_in_db = state.session_store.in_database();
    let policy = state.session_policy;
    let now = state.clock.now();
    let step = {
        let (hash, meta) = (hash.clone(), meta.clone());
        state
            .db
            .run(move |conn| {
                crate::db::transaction(conn, |conn| {
                    let Some(family) = family_of(conn, &hash, &client_id)? else {
                        return Ok::<_, ServiceError>(Step::Done(Err(not_valid())));
                    };
                    let lives = if family.offline_access {
                        true
                    } else if sessions_in_db {
                        let state = live_state_by_sid_on(conn, &family.user_id, &family.sid, now)
                            .map_err(ServiceError::Internal)?;
                        lives(&policy, &family.user_id, state.as_ref(), now)
                    } else {
                        return Ok(Step::AskSessionStore(Box::new(family)));
                    };
                    let rotated = rotate(conn, &hash, family, lives, now.naive_utc(), &meta)?;
                    Ok(Step::Done(rotated.map(Box::new)))
                })
            })
            .await?
    };
    let granted = match step {
        Step::Done(granted) => *granted?,
        Step::AskSessionStore(family) => {
            let lives = session_lives(state, &family).await?;
            state
                .db
                .run(move |conn| {
                    crate::db::transaction(conn, |conn| {
                        // Read again: a refresh or revocation since the first read wins.
                        let family = OidcRefreshFamily::find(conn, &family.id)?.unwrap_or(*family);
                        rotate(conn, &hash, family, lives, now.naive_utc(), &meta)
                    })
                })
                .await??
        }
    };
    respond(state, granted).await
}

/// Where the grant stands after its first read.
enum Step {
    Done(Result<Box<Granted>, OAuthError>),
    /// The family's broker session lives in Redis: ask it, then rotate.
    AskSessionStore(Box<OidcRefreshFamily>),
}

fn not_valid() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is not valid")
}

/// The family of refresh token `hash`, if there is one and it belongs to `client_id`.
fn family_of(
    conn: &mut DbConnection,
    hash: &str,
    client_id: &str,
) -> Result<Option<OidcRefreshFamily>, ServiceError> {
    let Some(row) = OidcRefreshToken::find(conn, hash)? else {
        return Ok(None);
    };
    Ok(OidcRefreshFamily::find(conn, &row.family_id)?.filter(|f| f.client_id == client_id))
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
    Ok(lives(
        &state.session_policy,
        user_id,
        stored.as_ref(),
        state.clock.now(),
    ))
}

/// Whether a stored session state is a sign-in of `user_id` within `policy` at `now`.
fn lives(
    policy: &SessionPolicy,
    user_id: &str,
    stored: Option<&HashMap<String, String>>,
    now: DateTime<Utc>,
) -> bool {
    stored
        .and_then(session::signed_in_of)
        .is_some_and(|s| s.user_id.as_str() == user_id && policy.is_live(&s, now))
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
