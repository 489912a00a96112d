//! `POST /oauth2/token`, the `authorization_code` grant (SPEC §7.2): a code is redeemed once,
//! by its client, with its `redirect_uri` and PKCE verifier; a second use revokes everything
//! issued from it. Each redemption starts a refresh family (`refresh.rs` continues it).

use chrono::NaiveDateTime;
use openidconnect::{PkceCodeChallenge, PkceCodeVerifier};
use serde::Serialize;

use crate::crypto::tokens::{random_token, sha256_hex};
use crate::db::account::Account;
use crate::db::oidc_authorization_code::OidcAuthorizationCode;
use crate::db::oidc_refresh_family::OidcRefreshFamily;
use crate::db::oidc_refresh_token::OidcRefreshToken;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::UserStatus;
use crate::oidc_provider::claims::{SignInFacts, TokenSubject};
use crate::oidc_provider::token_error::OAuthError;
use crate::services::provider::clients::AuthenticatedClient;
use crate::services::provider::minting::{self, MintRequest};
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::trust;
use crate::services::ServiceError;
use crate::AppState;

const REFRESH_TOKEN_BYTES: usize = 32;

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub id_token: String,
    pub refresh_token: String,
    pub scope: String,
}

/// A grant's result: tokens, a refusal for the client, or our own failure.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Refused(#[from] OAuthError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<crate::db::DbError> for TokenError {
    fn from(e: crate::db::DbError) -> Self {
        Self::Service(e.into())
    }
}

/// What a family was granted for, ready to mint from.
pub(crate) struct Granted {
    pub family: OidcRefreshFamily,
    pub subject: TokenSubject,
    pub facts: SignInFacts,
    pub refresh_token: String,
    pub nonce: Option<String>,
}

/// The `authorization_code` grant.
pub async fn exchange_code(
    state: &AppState,
    client: &AuthenticatedClient,
    code: String,
    redirect_uri: Option<String>,
    verifier: Option<String>,
    meta: RequestMeta,
) -> Result<TokenResponse, TokenError> {
    let now = state.clock.now_naive();
    let client_id = client.client_id.as_str().to_string();
    let offline_lifetime = state.settings.oidc_offline_lifetime;
    let granted = state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let outcome = redeem(conn, &client_id, &code, redirect_uri, verifier, now)?;
                let outcome = match outcome {
                    Redemption::Valid(row) => grant(conn, row, now, offline_lifetime)?,
                    Redemption::Reused(row) => {
                        let n = OidcRefreshFamily::revoke_for_code(
                            conn,
                            &row.code_hash,
                            now,
                            "code_reuse",
                        )?;
                        let text = format!("client_id={} families_revoked={n}", row.client_id);
                        record(
                            conn,
                            &meta,
                            now,
                            &row.account_id,
                            "oidc.code.reuse",
                            Outcome::Failure,
                            &text,
                        )?;
                        Err(OAuthError::invalid_grant("the code was already used"))
                    }
                    Redemption::Refused(e) => Err(e),
                };
                if let Ok(granted) = &outcome {
                    let text = format!(
                        "client_id={} grant=authorization_code",
                        granted.family.client_id
                    );
                    let account = granted.family.account_id.clone();
                    record(
                        conn,
                        &meta,
                        now,
                        &account,
                        "oidc.token.issue",
                        Outcome::Success,
                        &text,
                    )?;
                }
                Ok::<_, ServiceError>(outcome)
            })
        })
        .await??;
    respond(state, granted).await
}

enum Redemption {
    Valid(OidcAuthorizationCode),
    Reused(OidcAuthorizationCode),
    Refused(OAuthError),
}

/// Checks and spends the code.
fn redeem(
    conn: &mut DbConnection,
    client_id: &str,
    code: &str,
    redirect_uri: Option<String>,
    verifier: Option<String>,
    now: NaiveDateTime,
) -> Result<Redemption, ServiceError> {
    let refuse = |text: &str| Ok(Redemption::Refused(OAuthError::invalid_grant(text)));
    let Some(row) = OidcAuthorizationCode::find(conn, &sha256_hex(code))? else {
        return refuse("the code is not valid");
    };
    if row.client_id != client_id {
        return refuse("the code was issued to another client");
    }
    if row.used_at.is_some() {
        return Ok(Redemption::Reused(row));
    }
    if row.expires_at <= now {
        return refuse("the code has expired");
    }
    if redirect_uri.as_deref() != Some(row.redirect_uri.as_str()) {
        return refuse("redirect_uri does not match the authorization request");
    }
    if !pkce_matches(row.code_challenge.as_deref(), verifier) {
        return refuse("the PKCE code_verifier does not match the code_challenge");
    }
    if !OidcAuthorizationCode::mark_used(conn, &row.code_hash, now)? {
        return Ok(Redemption::Reused(row));
    }
    Ok(Redemption::Valid(row))
}

/// RFC 7636 §4.6 with S256; a verifier without a challenge is refused too (RFC 9700 §2.1.1:
/// a PKCE downgrade).
fn pkce_matches(challenge: Option<&str>, verifier: Option<String>) -> bool {
    match (challenge, verifier) {
        (None, None) => true,
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            well_formed
                && PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier))
                    .as_str()
                    == challenge
        }
        _ => false,
    }
}

/// Starts the family of a valid code: re-reads the user and the account, stores the family
/// and its first refresh token.
fn grant(
    conn: &mut DbConnection,
    code: OidcAuthorizationCode,
    now: NaiveDateTime,
    offline_lifetime: chrono::Duration,
) -> Result<Result<Granted, OAuthError>, ServiceError> {
    let facts: SignInFacts =
        serde_json::from_str(&code.sign_in).map_err(|e| ServiceError::Internal(e.into()))?;
    let offline_access = code.scope.split(' ').any(|s| s == "offline_access");
    let family = OidcRefreshFamily {
        id: uuid::Uuid::new_v4().to_string(),
        code_hash: code.code_hash.clone(),
        client_id: code.client_id.clone(),
        user_id: code.user_id.clone(),
        account_id: code.account_id.clone(),
        sid: code.sid.clone(),
        scope: code.scope.clone(),
        offline_access,
        auth_time: code.auth_time,
        sign_in: code.sign_in.clone(),
        created_at: now,
        expires_at: offline_access.then(|| code.auth_time + offline_lifetime),
        revoked_at: None,
        revoked_reason: None,
    };
    let Some(subject) = subject_of(conn, &family)? else {
        return Ok(Err(OAuthError::invalid_grant(
            "the user can no longer sign in",
        )));
    };
    family.insert(conn)?;
    let refresh_token = new_refresh_token(conn, &family.id, now)?;
    Ok(Ok(Granted {
        family,
        subject,
        facts,
        refresh_token,
        nonce: code.nonce,
    }))
}

/// The token subject of a family, if the user is active and still a member of its account.
pub(crate) fn subject_of(
    conn: &mut DbConnection,
    family: &OidcRefreshFamily,
) -> Result<Option<TokenSubject>, ServiceError> {
    let active = User::find(conn, &family.user_id)?
        .is_some_and(|u| UserStatus::from_stored(&u.status) == UserStatus::Active);
    let role = trust::role_in(conn, &family.user_id, &family.account_id)?;
    let account = Account::find(conn, &family.account_id)?;
    let (true, Some(Some(role)), Some(account)) = (active, role, account) else {
        return Ok(None);
    };
    Ok(Some(TokenSubject {
        user_id: family.user_id.clone(),
        account: account.name,
        role: role.as_str().to_string(),
        sid: family.sid.clone(),
        auth_time: family.auth_time.and_utc().timestamp(),
    }))
}

/// Stores a new refresh token of `family_id`; returns it (the only time it exists in clear).
pub(crate) fn new_refresh_token(
    conn: &mut DbConnection,
    family_id: &str,
    now: NaiveDateTime,
) -> Result<String, ServiceError> {
    let token = random_token(REFRESH_TOKEN_BYTES);
    OidcRefreshToken {
        token_hash: sha256_hex(&token),
        family_id: family_id.to_string(),
        created_at: now,
        spent_at: None,
    }
    .insert(conn)?;
    Ok(token)
}

/// Mints the tokens of a grant and shapes the answer.
pub(crate) async fn respond(
    state: &AppState,
    granted: Granted,
) -> Result<TokenResponse, TokenError> {
    let minted = minting::mint(
        state,
        MintRequest {
            client_id: &granted.family.client_id,
            subject: &granted.subject,
            facts: &granted.facts,
            scope: &granted.family.scope,
            nonce: granted.nonce.as_deref(),
            family_id: &granted.family.id,
        },
    )
    .await?;
    Ok(TokenResponse {
        access_token: minted.access_token,
        token_type: "Bearer",
        expires_in: minted.expires_in,
        id_token: minted.id_token,
        refresh_token: granted.refresh_token,
        scope: granted.family.scope,
    })
}

pub(crate) fn record(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: NaiveDateTime,
    account_id: &str,
    action: &'static str,
    outcome: Outcome,
    text: &str,
) -> Result<(), ServiceError> {
    audit::record(
        conn,
        meta,
        now,
        Audit {
            actor: "oidc".to_string(),
            account_id: Some(account_id),
            action,
            outcome,
            reason: Some(text),
        },
    )?;
    Ok(())
}
