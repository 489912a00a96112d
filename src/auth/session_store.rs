//! actix-session `SessionStore` over the database (default) or Redis (`SSO_BROKER_REDIS_URL`).
//!
//! Keys are stored as SHA-256 hashes. A session that expired or was revoked is not forgotten at
//! once: it loads as a state holding only [`EXPIRED_MARKER`], so the request can show
//! "Your session has expired" instead of a silent sign-out; the purge then deletes it.

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use chrono::{DateTime, Duration, Utc};
use redis::AsyncCommands;

use crate::clock::SharedClock;
use crate::crypto::tokens::{random_token, sha256_hex};
use crate::db::session::SessionRow;
use crate::db::{Db, DbError};

/// State entry present only in a session that has expired or was revoked.
pub const EXPIRED_MARKER: &str = "_expired";
/// State entry holding the signed-in identity (see `auth::session`).
pub const AUTH_ENTRY: &str = "auth";

type State = HashMap<String, String>;

/// The session store of this instance.
#[derive(Clone)]
pub struct BrokerSessionStore {
    backend: Backend,
    clock: SharedClock,
}

#[derive(Clone)]
enum Backend {
    Db(Db),
    Redis {
        conn: redis::aio::ConnectionManager,
        prefix: String,
    },
}

/// What a backend keeps for one session.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StoredSession {
    user_id: Option<String>,
    state: State,
    expires_at: i64,
    revoked: bool,
}

/// How long a Redis record outlives its expiry, so an expired session can still be recognised.
const REDIS_GRACE_SECONDS: i64 = 3600;

impl BrokerSessionStore {
    pub fn database(db: Db, clock: SharedClock) -> Self {
        Self {
            backend: Backend::Db(db),
            clock,
        }
    }

    pub async fn redis(
        url: &str,
        prefix: &str,
        clock: SharedClock,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let conn = redis::aio::ConnectionManager::new(client).await?;
        Ok(Self {
            backend: Backend::Redis {
                conn,
                prefix: prefix.to_string(),
            },
            clock,
        })
    }

    /// The Redis connection and key prefix, when sessions live in Redis (other shared state,
    /// such as the SAML replay store, lives beside them then).
    pub fn redis_connection(&self) -> Option<(redis::aio::ConnectionManager, &str)> {
        match &self.backend {
            Backend::Db(_) => None,
            Backend::Redis { conn, prefix } => Some((conn.clone(), prefix.as_str())),
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Db(_) => "database",
            Backend::Redis { .. } => "redis",
        }
    }

    /// Revokes every session of `user_id`; returns how many were live.
    pub async fn revoke_user_sessions(&self, user_id: &str) -> anyhow::Result<usize> {
        let now = self.clock.now();
        match &self.backend {
            Backend::Db(db) => {
                let user_id = user_id.to_string();
                let naive = now.naive_utc();
                Ok(db
                    .run(move |conn| SessionRow::revoke_all_for_user(conn, &user_id, naive))
                    .await?)
            }
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let index = user_index_key(prefix, user_id);
                let hashes: Vec<String> = conn.smembers(&index).await?;
                let mut revoked = 0;
                for hash in hashes {
                    let key = session_key(prefix, &hash);
                    let raw: Option<String> = conn.get(&key).await?;
                    if let Some(mut stored) =
                        raw.and_then(|r| serde_json::from_str::<StoredSession>(&r).ok())
                    {
                        if !stored.revoked {
                            revoked += 1;
                        }
                        stored.revoked = true;
                        stored.state.clear();
                        let ttl =
                            (stored.expires_at - now.timestamp()).max(0) + REDIS_GRACE_SECONDS;
                        let _: () = conn
                            .set_ex(&key, serde_json::to_string(&stored)?, ttl as u64)
                            .await?;
                    }
                }
                let _: () = conn.del(&index).await?;
                Ok(revoked)
            }
        }
    }

    fn expiry(&self, ttl: &CookieDuration) -> DateTime<Utc> {
        self.clock.now() + Duration::seconds(ttl.whole_seconds())
    }

    async fn read(&self, hash: String) -> anyhow::Result<Option<StoredSession>> {
        match &self.backend {
            Backend::Db(db) => {
                let row = db.run(move |conn| SessionRow::find(conn, &hash)).await?;
                Ok(match row {
                    None => None,
                    Some(row) => Some(StoredSession {
                        user_id: row.user_id,
                        state: serde_json::from_str(&row.state)?,
                        expires_at: row.expires_at.and_utc().timestamp(),
                        revoked: row.revoked_at.is_some(),
                    }),
                })
            }
            Backend::Redis { conn, prefix } => {
                let raw: Option<String> = conn.clone().get(session_key(prefix, &hash)).await?;
                Ok(raw.map(|r| serde_json::from_str(&r)).transpose()?)
            }
        }
    }

    async fn write(
        &self,
        hash: String,
        state: State,
        expires_at: DateTime<Utc>,
        create: bool,
    ) -> anyhow::Result<bool> {
        let user_id = user_id_of(&state);
        let now = self.clock.now();
        match &self.backend {
            Backend::Db(db) => {
                let state_json = serde_json::to_string(&state)?;
                let (now, expires_at) = (now.naive_utc(), expires_at.naive_utc());
                Ok(db
                    .run(move |conn| {
                        if create {
                            SessionRow {
                                id_hash: hash,
                                user_id,
                                state: state_json,
                                created_at: now,
                                updated_at: now,
                                expires_at,
                                revoked_at: None,
                            }
                            .insert(conn)
                            .map(|_| true)
                        } else {
                            SessionRow::update_state(
                                conn,
                                &hash,
                                user_id.as_deref(),
                                &state_json,
                                now,
                                expires_at,
                            )
                        }
                    })
                    .await?)
            }
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let key = session_key(prefix, &hash);
                if !create {
                    let existing: Option<String> = conn.get(&key).await?;
                    let live = existing
                        .and_then(|r| serde_json::from_str::<StoredSession>(&r).ok())
                        .is_some_and(|s| !s.revoked);
                    if !live {
                        return Ok(false);
                    }
                }
                let ttl = (expires_at - now).num_seconds().max(1) + REDIS_GRACE_SECONDS;
                let stored = StoredSession {
                    user_id: user_id.clone(),
                    state,
                    expires_at: expires_at.timestamp(),
                    revoked: false,
                };
                let _: () = conn
                    .set_ex(&key, serde_json::to_string(&stored)?, ttl as u64)
                    .await?;
                if let Some(user_id) = user_id {
                    let index = user_index_key(prefix, &user_id);
                    let _: () = conn.sadd(&index, &hash).await?;
                    let _: () = conn.expire(&index, ttl).await?;
                }
                Ok(true)
            }
        }
    }
}

fn session_key(prefix: &str, hash: &str) -> String {
    format!("{prefix}:session:{hash}")
}

fn user_index_key(prefix: &str, user_id: &str) -> String {
    format!("{prefix}:user-sessions:{user_id}")
}

/// The signed-in user id recorded in a state, if any (the index used for revocation).
fn user_id_of(state: &State) -> Option<String> {
    let auth: serde_json::Value = serde_json::from_str(state.get(AUTH_ENTRY)?).ok()?;
    auth.get("user_id")?.as_str().map(str::to_string)
}

fn expired_state() -> State {
    HashMap::from([(EXPIRED_MARKER.to_string(), "true".to_string())])
}

impl SessionStore for BrokerSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<State>, LoadError> {
        let hash = sha256_hex(session_key.as_ref());
        let stored = self.read(hash).await.map_err(LoadError::Other)?;
        let now = self.clock.now().timestamp();
        Ok(stored.map(|s| {
            if s.revoked || s.expires_at <= now {
                expired_state()
            } else {
                s.state
            }
        }))
    }

    async fn save(
        &self,
        session_state: State,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        let key = random_token(32);
        let expires_at = self.expiry(ttl);
        self.write(sha256_hex(&key), session_state, expires_at, true)
            .await
            .map_err(SaveError::Other)?;
        SessionKey::try_from(key).map_err(|e| SaveError::Other(e.into()))
    }

    async fn update(
        &self,
        session_key: SessionKey,
        session_state: State,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        // A session revoked or deleted between load and update is not brought back: the cookie
        // keeps a key that now loads as expired (or as nothing).
        let expires_at = self.expiry(ttl);
        self.write(
            sha256_hex(session_key.as_ref()),
            session_state,
            expires_at,
            false,
        )
        .await
        .map_err(UpdateError::Other)?;
        Ok(session_key)
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &CookieDuration,
    ) -> Result<(), anyhow::Error> {
        let hash = sha256_hex(session_key.as_ref());
        let expires_at = self.expiry(ttl);
        match &self.backend {
            Backend::Db(db) => {
                let now = self.clock.now_naive();
                db.run(move |conn| SessionRow::touch(conn, &hash, now, expires_at.naive_utc()))
                    .await
                    .map_err(|e: DbError| e.into())
            }
            Backend::Redis { .. } => {
                if let Some(stored) = self.read(hash.clone()).await?.filter(|s| !s.revoked) {
                    self.write(hash, stored.state, expires_at, false).await?;
                }
                Ok(())
            }
        }
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        let hash = sha256_hex(session_key.as_ref());
        match &self.backend {
            Backend::Db(db) => db
                .run(move |conn| SessionRow::delete(conn, &hash))
                .await
                .map_err(|e: DbError| e.into()),
            Backend::Redis { conn, prefix } => {
                let _: () = conn.clone().del(self::session_key(prefix, &hash)).await?;
                Ok(())
            }
        }
    }
}
