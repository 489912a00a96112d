//! The OpenID Provider's signing keys (SPEC §7.4): created at first use (and at `serve`), stored
//! in the database with the private key sealed by the installation key so every instance signs
//! with the same key, replaced every `SSO_BROKER_OIDC_KEY_ROTATION_DAYS` or on
//! `sso-broker oidc rotate-keys`, and published in the JWKS until the tokens they signed expire.
//!
//! Each instance keeps the signing key in memory and looks at the database again after
//! `SIGNER_RELOAD_SECONDS` (of the broker's clock): that is when it notices a rotation made
//! elsewhere, or rotates itself when the key is due.
//!
//! # Concurrency
//! Keys have a unique `generation`; the highest signs. Adding a key is "insert generation
//! current + 1" in a transaction that holds the rotation lock and looks again first, so when
//! two instances start (or find the key due) together, the second finds the first's key and
//! signs with it. Should two inserts ever meet anyway, the unique generation refuses the second
//! and that instance, too, takes the winner's key. No two keys ever sign side by side.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::db::oidc_signing_key::OidcSigningKey;
use crate::db::DbConnection;
use crate::oidc_provider::signing::{
    self, publication_after_retirement, GeneratedKey, SigningKey, SIGNER_RELOAD_SECONDS,
};
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::AppState;

/// The signing key an instance holds in memory, and when it read it.
#[derive(Default)]
pub struct SigningKeyCache {
    slot: tokio::sync::Mutex<Option<(Arc<SigningKey>, DateTime<Utc>)>>,
}

impl SigningKeyCache {
    /// Forgets the key: the next signature reads the database (after a rotation here).
    pub async fn forget(&self) {
        *self.slot.lock().await = None;
    }
}

/// What `rotate-keys` and the tests learn about a key: never its private part.
#[derive(Debug, Clone, Serialize)]
pub struct KeySummary {
    pub kid: String,
    pub generation: i64,
    pub created_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
    pub published_until: Option<NaiveDateTime>,
}

impl From<&OidcSigningKey> for KeySummary {
    fn from(k: &OidcSigningKey) -> Self {
        Self {
            kid: k.kid.clone(),
            generation: k.generation,
            created_at: k.created_at,
            retired_at: k.retired_at,
            published_until: k.published_until,
        }
    }
}

fn internal(e: impl Into<anyhow::Error>) -> ServiceError {
    ServiceError::Internal(e.into())
}

/// Why a key is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// None exists yet (first start).
    First,
    /// The signing key reached `SSO_BROKER_OIDC_KEY_ROTATION_DAYS`.
    Scheduled,
    /// The operator asked (`sso-broker oidc rotate-keys`).
    Requested,
}

/// True when `key` is older than the rotation period at `now`.
fn is_due(state: &AppState, key: &OidcSigningKey, now: NaiveDateTime) -> bool {
    now - key.created_at >= state.settings.oidc_key_rotation
}

/// The key that signs now, creating the first one or rotating a due one; race-safe across
/// instances (see the module notes). Called at `serve` and whenever an instance reloads.
pub async fn ensure_current(state: &AppState) -> Result<KeySummary, ServiceError> {
    let now = state.clock.now_naive();
    let current = state.db.run(OidcSigningKey::current).await?;
    let reason = match &current {
        Some(key) if !is_due(state, key, now) => return Ok(KeySummary::from(key)),
        Some(_) => Reason::Scheduled,
        None => Reason::First,
    };
    let expected = current.map(|k| k.generation);
    add_key(state, reason, expected, "system", RequestMeta::cli()).await
}

/// `sso-broker oidc rotate-keys`: a new key signs from now on; the previous one stays in the
/// JWKS until every token it signed has expired. Every instance switches within
/// `SIGNER_RELOAD_SECONDS`.
pub async fn rotate(
    state: &AppState,
    actor: &str,
    meta: RequestMeta,
) -> Result<KeySummary, ServiceError> {
    let expected = state
        .db
        .run(OidcSigningKey::current)
        .await?
        .map(|k| k.generation);
    let key = add_key(state, Reason::Requested, expected, actor, meta).await?;
    state.oidc_signing_keys.forget().await;
    Ok(key)
}

/// Adds the key after generation `expected` (`None`: the first key). When another instance got
/// there first, a first or scheduled key is not added again: its key is returned instead.
async fn add_key(
    state: &AppState,
    reason: Reason,
    expected: Option<i64>,
    actor: &str,
    meta: RequestMeta,
) -> Result<KeySummary, ServiceError> {
    let generated = tokio::task::spawn_blocking(signing::generate_key)
        .await
        .map_err(internal)?
        .map_err(internal)?;
    let sealed = state
        .keys
        .secret_box
        .seal(generated.private_der.expose_secret());
    let public_jwk = serde_json::to_string(&generated.public_jwk).map_err(internal)?;
    let now = state.clock.now_naive();
    let window = publication_after_retirement(state.settings.oidc_longest_token_lifetime());
    let actor = actor.to_string();
    let GeneratedKey { kid, .. } = generated;
    state
        .db
        .run(move |conn| {
            let attempt = crate::db::transaction(conn, |conn| {
                OidcSigningKey::lock_for_rotation(conn)?;
                let current = OidcSigningKey::current(conn)?;
                let generation = current.as_ref().map(|k| k.generation);
                if reason != Reason::Requested && generation != expected {
                    // Another instance added the key meanwhile.
                    if let Some(current) = &current {
                        return Ok(KeySummary::from(current));
                    }
                }
                let row = OidcSigningKey {
                    kid: kid.clone(),
                    generation: generation.unwrap_or(0) + 1,
                    algorithm: signing::ALGORITHM.to_string(),
                    public_jwk: public_jwk.clone(),
                    private_key_sealed: sealed.clone(),
                    created_at: now,
                    retired_at: None,
                    published_until: None,
                };
                row.insert(conn)?;
                if let Some(previous) = &current {
                    OidcSigningKey::retire(conn, &previous.kid, now, now + window)?;
                }
                OidcSigningKey::purge_unpublished(conn, now)?;
                record(conn, &meta, now, &actor, reason, &row, current.as_ref())?;
                Ok::<_, ServiceError>(KeySummary::from(&row))
            });
            match attempt {
                // Lost the race on the unique generation: the winner's key signs.
                Err(ServiceError::Db(e)) if e.is_unique_violation() => {
                    let current = OidcSigningKey::current(conn)?.ok_or_else(|| {
                        internal(anyhow::anyhow!("a signing key vanished after a conflict"))
                    })?;
                    Ok(KeySummary::from(&current))
                }
                other => other,
            }
        })
        .await
}

fn record(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: NaiveDateTime,
    actor: &str,
    reason: Reason,
    key: &OidcSigningKey,
    previous: Option<&OidcSigningKey>,
) -> Result<(), ServiceError> {
    let (action, why) = match reason {
        Reason::First => ("oidc.signing_key.create", "first key"),
        Reason::Scheduled => ("oidc.signing_key.rotate", "scheduled"),
        Reason::Requested => ("oidc.signing_key.rotate", "requested"),
    };
    let text = match previous {
        Some(previous) => format!("{why}: kid={} replaces kid={}", key.kid, previous.kid),
        None => format!("{why}: kid={}", key.kid),
    };
    audit::record(
        conn,
        meta,
        now,
        Audit {
            actor: actor.to_string(),
            account_id: None,
            action,
            outcome: Outcome::Success,
            reason: Some(&text),
        },
    )?;
    Ok(())
}

/// The key this instance signs with: the cached one, or — after `SIGNER_RELOAD_SECONDS` — the
/// database's current key (created or rotated when due).
pub async fn signing_key(state: &AppState) -> Result<Arc<SigningKey>, ServiceError> {
    let now = state.clock.now();
    let mut slot = state.oidc_signing_keys.slot.lock().await;
    if let Some((key, loaded_at)) = slot.as_ref() {
        let age = now - *loaded_at;
        if age >= chrono::Duration::zero() && age < chrono::Duration::seconds(SIGNER_RELOAD_SECONDS)
        {
            return Ok(key.clone());
        }
    }
    let current = ensure_current(state).await?;
    let kid = current.kid.clone();
    let row = state
        .db
        .run(move |conn| Ok::<_, ServiceError>(OidcSigningKey::find(conn, &kid)?))
        .await?
        .ok_or_else(|| internal(anyhow::anyhow!("the current signing key vanished")))?;
    let der = state
        .keys
        .secret_box
        .open(&row.private_key_sealed)
        .map_err(internal)?;
    let key = Arc::new(SigningKey::from_der(row.kid, &der));
    *slot = Some((key.clone(), now));
    Ok(key)
}

/// Signs `claims` as a compact JWS (RS256, `kid`, header `typ`) with the current key.
pub async fn sign<C: Serialize>(
    state: &AppState,
    typ: &str,
    claims: &C,
) -> Result<String, ServiceError> {
    let key = signing_key(state).await?;
    key.sign(typ, claims).map_err(internal)
}

/// The JWKS (`GET /oauth2/jwks`): the signing key and every retired key still published.
pub async fn jwks(state: &AppState) -> Result<JwkSet, ServiceError> {
    // The first request of a fresh installation, or the first after the key fell due, makes
    // the key it will publish.
    signing_key(state).await?;
    let now = state.clock.now_naive();
    let keys = state
        .db
        .run(move |conn| Ok::<_, ServiceError>(OidcSigningKey::published(conn, now)?))
        .await?;
    signing::jwk_set(keys.iter().map(|k| k.public_jwk.as_str())).map_err(internal)
}

/// Every stored key, newest first (operators and tests; no private part).
pub async fn list(state: &AppState) -> Result<Vec<KeySummary>, ServiceError> {
    let keys = state
        .db
        .run(|conn| Ok::<_, ServiceError>(OidcSigningKey::all(conn)?))
        .await?;
    Ok(keys.iter().map(KeySummary::from).collect())
}
