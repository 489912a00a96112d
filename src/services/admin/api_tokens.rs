//! Operator API tokens (SPEC §6.3): made by the CLI, shown once, stored as SHA-256 hashes.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::crypto::tokens::{random_token, sha256_hex};
use crate::db::api_token::ApiToken;
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::AppState;

const TOKEN_PREFIX: &str = "ssob_";

/// Creates a token named `name`; returns the token text (shown once, never stored).
pub async fn create(
    state: &AppState,
    name: &str,
    meta: RequestMeta,
) -> Result<SecretString, ServiceError> {
    let name = name.trim().to_string();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(ServiceError::Conflict {
            code: "invalid_token_name",
            message: "Token names are 1 to 100 printable characters.",
        });
    }
    let token = format!("{TOKEN_PREFIX}{}", random_token(32));
    let row = ApiToken {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.clone(),
        token_hash: sha256_hex(&token),
        created_at: state.clock.now_naive(),
        last_used_at: None,
        revoked_at: None,
    };
    let now = row.created_at;
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                row.insert(conn).map_err(|e| {
                    if e.is_unique_violation() {
                        ServiceError::Conflict {
                            code: "token_name_taken",
                            message: "A token with this name exists already.",
                        }
                    } else {
                        e.into()
                    }
                })?;
                audit::record(
                    conn,
                    &meta,
                    now,
                    Audit {
                        actor: "cli".into(),
                        account_id: None,
                        action: "api_token.create",
                        outcome: Outcome::Success,
                        reason: Some(&name),
                    },
                )?;
                Ok::<_, ServiceError>(())
            })
        })
        .await?;
    Ok(SecretString::from(token))
}

/// What `api-token list` shows of a token: never the token or its hash.
#[derive(Debug, Clone)]
pub struct TokenSummary {
    pub name: String,
    pub created_at: chrono::NaiveDateTime,
    pub last_used_at: Option<chrono::NaiveDateTime>,
    pub revoked_at: Option<chrono::NaiveDateTime>,
}

/// Every token, oldest first, revoked ones included.
pub async fn list(state: &AppState) -> Result<Vec<TokenSummary>, ServiceError> {
    let rows = state.db.run(ApiToken::list).await?;
    Ok(rows
        .into_iter()
        .map(|t| TokenSummary {
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        })
        .collect())
}

/// Revokes the live token named `name`. It answers 401 from the next request on: tokens are
/// looked up in the database at every request, nothing caches them.
pub async fn revoke(state: &AppState, name: &str, meta: RequestMeta) -> Result<(), ServiceError> {
    let name = name.trim().to_string();
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                if !ApiToken::revoke_by_name(conn, &name, now)? {
                    return Err(ServiceError::NotFound {
                        code: "token_not_found",
                        message:
                            "No live API token has this name (see `sso-broker api-token list`).",
                    });
                }
                audit::record(
                    conn,
                    &meta,
                    now,
                    Audit {
                        actor: "cli".into(),
                        account_id: None,
                        action: "api_token.revoke",
                        outcome: Outcome::Success,
                        reason: Some(&name),
                    },
                )?;
                Ok(())
            })
        })
        .await
}

/// How often a token's `last_used_at` is written (the operator's list shows it to the minute).
const USE_RECORDED_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// The token's name when `presented` is a live token; records the use.
pub async fn authenticate(
    state: &AppState,
    presented: &SecretString,
) -> Result<Option<String>, ServiceError> {
    let text = presented.expose_secret();
    if !text.starts_with(TOKEN_PREFIX) || text.len() > 200 {
        return Ok(None);
    }
    let hash = sha256_hex(text);
    let now = state.clock.now_naive();
    let tokens = &state.caches.api_tokens;
    if let Some(known) = tokens.get(&hash) {
        record_use(state, &known, now).await;
        return Ok(Some(known.name.clone()));
    }
    let ticket = tokens.ticket();
    let found = state
        .db
        .run(move |conn| {
            let token = ApiToken::find_active_by_hash(conn, &hash)?;
            // A read, not a write, per call: the use is recorded at most once a minute.
            let due = |t: &ApiToken| {
                t.last_used_at
                    .is_none_or(|at| now - at >= USE_RECORDED_EVERY)
            };
            let recorded = match token.as_ref() {
                Some(t) if due(t) => {
                    ApiToken::mark_used(conn, &t.id, now)?;
                    Some(now)
                }
                Some(t) => t.last_used_at,
                None => None,
            };
            Ok::<_, ServiceError>(token.map(|t| (hash, t, recorded)))
        })
        .await?;
    Ok(found.map(|(hash, token, recorded)| {
        let known = Arc::new(KnownToken {
            id: token.id,
            name: token.name.clone(),
            recorded_at: AtomicI64::new(recorded.map_or(0, |at| at.and_utc().timestamp())),
        });
        tokens.insert(ticket, hash, known);
        token.name
    }))
}

/// A live operator token as the cache keeps it.
#[derive(Debug)]
pub struct KnownToken {
    id: String,
    name: String,
    /// When its use was last written (unix seconds).
    recorded_at: AtomicI64,
}

/// Writes the token's use when the last write is a minute old (one request wins the minute;
/// a failed write is logged and tried again next minute).
async fn record_use(state: &AppState, token: &KnownToken, now: chrono::NaiveDateTime) {
    let (now_secs, last) = (
        now.and_utc().timestamp(),
        token.recorded_at.load(Ordering::Acquire),
    );
    if now_secs - last < USE_RECORDED_EVERY.num_seconds()
        || token
            .recorded_at
            .compare_exchange(last, now_secs, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        return;
    }
    let id = token.id.clone();
    let recorded = state
        .db
        .run(move |conn| ApiToken::mark_used(conn, &id, now))
        .await;
    if let Err(e) = recorded {
        log::warn!("recording an API token's use failed: {e}");
    }
}
