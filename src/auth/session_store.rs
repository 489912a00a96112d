//! actix-session `SessionStore` over the database (default) or Redis (`SSO_BROKER_REDIS_URL`).
//!
//! Keys are stored as SHA-256 hashes. A session that expired or was revoked is not forgotten at
//! once: it loads as a state holding only [`EXPIRED_MARKER`], so the request can show
//! "Your session has expired" instead of a silent sign-out; the purge then deletes it.
//!
//! # Security
//! A revoked session must never come back. Every write checks "not revoked" in the same step
//! as it writes: one `UPDATE … WHERE revoked_at IS NULL` in the database, one Lua script in
//! Redis. A request that loaded the session before an admin revoked it would otherwise write
//! it back, live, when it ends (read, revoke, write).

use std::collections::HashMap;
use std::sync::Arc;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use chrono::{DateTime, Duration, Utc};
use redis::AsyncCommands;

use super::session_scripts::{REVOKE, TOUCH, WRITE};
use crate::cache::{Cached, Invalidator, Message, Topics, TTL_FLOOR};
use crate::clock::SharedClock;
use crate::crypto::tokens::{random_token, sha256_hex};
use crate::db::session::SessionRow;
use crate::db::{Db, DbError};

/// State entry present only in a session that has expired or was revoked.
pub const EXPIRED_MARKER: &str = "_expired";
/// State entry holding the signed-in identity (see `auth::session`).
pub const AUTH_ENTRY: &str = "auth";
/// State entry holding the broker session id (SPEC §7.3 `sid`; see `auth::session`).
pub const SID_ENTRY: &str = "sid";

type State = HashMap<String, String>;

/// The session store of this instance.
#[derive(Clone)]
pub struct BrokerSessionStore {
    backend: Backend,
    clock: SharedClock,
    /// Sessions as last read, when the instance caches (`crate::cache`).
    cache: Option<SessionCache>,
}

#[derive(Clone)]
struct SessionCache {
    sessions: Arc<Cached<Arc<StoredSession>>>,
    invalidator: Arc<Invalidator>,
}

/// How many sessions one instance keeps in memory at most.
const CACHED_SESSIONS: u64 = 20_000;

#[derive(Clone)]
enum Backend {
    Db(Db),
    Redis {
        conn: redis::aio::ConnectionManager,
        prefix: String,
    },
}

/// What a backend keeps for one session.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct StoredSession {
    user_id: Option<String>,
    state: State,
    expires_at: i64,
    revoked: bool,
    /// The broker session id, copied from the state (`SID_ENTRY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

/// How long a Redis record outlives its expiry, so an expired session can still be recognised.
const REDIS_GRACE_SECONDS: i64 = 3600;

impl BrokerSessionStore {
    pub fn database(db: Db, clock: SharedClock) -> Self {
        Self {
            backend: Backend::Db(db),
            clock,
            cache: None,
        }
    }

    /// Keeps sessions of the database store in memory, dropped through `invalidator` whenever
    /// one is written, deleted or revoked on any instance. Sessions in Redis are always read
    /// from Redis (a fast read already), so that they fail closed the moment Redis is away.
    pub fn cached(mut self, invalidator: &Arc<Invalidator>) -> Self {
        if matches!(self.backend, Backend::Redis { .. }) {
            return self;
        }
        let sessions = Arc::new(Cached::new(
            "sessions",
            Topics::SESSIONS,
            CACHED_SESSIONS,
            TTL_FLOOR,
            invalidator.health(),
        ));
        invalidator.register(sessions.clone());
        self.cache = Some(SessionCache {
            sessions,
            invalidator: invalidator.clone(),
        });
        self
    }

    /// True when the store answers (Redis `PING` within two seconds; the database store is
    /// the database, checked on its own).
    pub async fn ping(&self) -> bool {
        match &self.backend {
            Backend::Db(_) => true,
            Backend::Redis { conn, .. } => {
                let mut conn = conn.clone();
                let cmd = redis::cmd("PING");
                let ping = cmd.query_async::<String>(&mut conn);
                matches!(
                    tokio::time::timeout(std::time::Duration::from_secs(2), ping).await,
                    Ok(Ok(_))
                )
            }
        }
    }

    /// Session lookups answered from memory and not (`/metrics`; zero without a cache).
    pub fn cache_lookups(&self) -> (u64, u64) {
        self.cache.as_ref().map_or((0, 0), |c| c.sessions.lookups())
    }

    /// How many sessions this instance holds in memory (0 without a cache).
    pub fn cached_sessions(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.sessions.entry_count())
    }

    /// Tells every instance that the session `hash` changed.
    async fn changed(&self, hash: &str) {
        if let Some(cache) = &self.cache {
            cache
                .invalidator
                .publish(Message::Key {
                    topics: Topics::SESSIONS,
                    key: hash.to_string(),
                })
                .await;
        }
    }

    pub async fn redis(
        url: &str,
        prefix: &str,
        clock: SharedClock,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let conn = redis_manager(client).await?;
        Ok(Self {
            backend: Backend::Redis {
                conn,
                prefix: prefix.to_string(),
            },
            clock,
            cache: None,
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
                let revoked: usize = REVOKE
                    .key(user_index_key(prefix, user_id))
                    .arg(session_key(prefix, ""))
                    .arg(now.timestamp())
                    .arg(REDIS_GRACE_SECONDS)
                    .invoke_async(&mut conn)
                    .await?;
                if let Some(cache) = &self.cache {
                    let all = Message::Changed(Topics::SESSIONS);
                    cache.invalidator.publish(all).await;
                }
                Ok(revoked)
            }
        }
    }

    /// The state of the live session (not revoked, not expired in the store) of `user_id`
    /// carrying broker session id `sid`, if any. Idle and absolute limits of the sign-in are
    /// the caller's to judge (`auth::session::SessionPolicy::is_live`).
    pub async fn live_state_by_sid(
        &self,
        user_id: &str,
        sid: &str,
    ) -> anyhow::Result<Option<HashMap<String, String>>> {
        let now = self.clock.now();
        match &self.backend {
            Backend::Db(db) => {
                let (user_id, sid) = (user_id.to_string(), sid.to_string());
                db.run(move |conn| live_state_by_sid_on(conn, &user_id, &sid, now))
                    .await
            }
            Backend::Redis { conn, prefix } => {
                // Through the user's index: a user has few sessions, and no extra key has to
                // be kept in step with renewals and revocations.
                let mut conn = conn.clone();
                let hashes: Vec<String> = conn.smembers(user_index_key(prefix, user_id)).await?;
                for hash in hashes {
                    let raw: Option<String> = conn.get(session_key(prefix, &hash)).await?;
                    let Some(stored) =
                        raw.and_then(|r| serde_json::from_str::<StoredSession>(&r).ok())
                    else {
                        continue;
                    };
                    if !stored.revoked
                        && stored.expires_at > now.timestamp()
                        && stored.sid.as_deref() == Some(sid)
                    {
                        return Ok(Some(stored.state));
                    }
                }
                Ok(None)
            }
        }
    }

    /// True when sessions live in the database, so that [`live_state_by_sid_on`] can read one
    /// inside a unit of database work the caller already holds.
    pub fn in_database(&self) -> bool {
        matches!(self.backend, Backend::Db(_))
    }

    fn expiry(&self, ttl: &CookieDuration) -> DateTime<Utc> {
        self.clock.now() + Duration::seconds(ttl.whole_seconds())
    }

    async fn read(&self, hash: String) -> anyhow::Result<Option<StoredSession>> {
        let Some(cache) = &self.cache else {
            return self.read_stored(hash).await;
        };
        if let Some(hit) = cache.sessions.get(&hash) {
            return Ok(Some(StoredSession::clone(&hit)));
        }
        let ticket = cache.sessions.ticket();
        let stored = self.read_stored(hash.clone()).await?;
        if let Some(stored) = &stored {
            cache
                .sessions
                .insert(ticket, hash, Arc::new(stored.clone()));
        }
        Ok(stored)
    }

    async fn read_stored(&self, hash: String) -> anyhow::Result<Option<StoredSession>> {
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
                        sid: row.sid,
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
        let written = self
            .write_stored(hash.clone(), state, expires_at, create)
            .await;
        if !create {
            self.changed(&hash).await;
        }
        written
    }

    async fn write_stored(
        &self,
        hash: String,
        state: State,
        expires_at: DateTime<Utc>,
        create: bool,
    ) -> anyhow::Result<bool> {
        let user_id = user_id_of(&state);
        let sid = sid_of(&state);
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
                                sid,
                            }
                            .insert(conn)
                            .map(|_| true)
                        } else {
                            SessionRow::update_state(
                                conn,
                                &hash,
                                user_id.as_deref(),
                                sid.as_deref(),
                                &state_json,
                                now,
                                expires_at,
                            )
                        }
                    })
                    .await?)
            }
            Backend::Redis { conn, prefix } => {
                let ttl = (expires_at - now).num_seconds().max(1) + REDIS_GRACE_SECONDS;
                let stored = StoredSession {
                    user_id: user_id.clone(),
                    state,
                    expires_at: expires_at.timestamp(),
                    revoked: false,
                    sid,
                };
                let mut invocation = WRITE.key(session_key(prefix, &hash));
                if let Some(user_id) = &user_id {
                    invocation.key(user_index_key(prefix, user_id));
                }
                let written: i64 = invocation
                    .arg(serde_json::to_string(&stored)?)
                    .arg(ttl)
                    .arg(&hash)
                    .arg(if create { "1" } else { "0" })
                    .invoke_async(&mut conn.clone())
                    .await?;
                Ok(written == 1)
            }
        }
    }
}

impl BrokerSessionStore {
    async fn extend(&self, hash: String, expires_at: DateTime<Utc>) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Db(db) => {
                let now = self.clock.now_naive();
                db.run(move |conn| SessionRow::touch(conn, &hash, now, expires_at.naive_utc()))
                    .await
                    .map_err(|e: DbError| e.into())
            }
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let key = self::session_key(prefix, &hash);
                let Some(raw) = conn.get::<_, Option<String>>(&key).await? else {
                    return Ok(());
                };
                let Ok(mut stored) = serde_json::from_str::<StoredSession>(&raw) else {
                    return Ok(());
                };
                if stored.revoked {
                    return Ok(());
                }
                stored.expires_at = expires_at.timestamp();
                let ttl =
                    (expires_at - self.clock.now()).num_seconds().max(1) + REDIS_GRACE_SECONDS;
                let mut invocation = TOUCH.key(&key);
                if let Some(user_id) = &stored.user_id {
                    invocation.key(user_index_key(prefix, user_id));
                }
                // Compare and set: when the record changed since it was read (written by
                // another request, or revoked), that change stands and the touch is dropped.
                let _: i64 = invocation
                    .arg(raw)
                    .arg(serde_json::to_string(&stored)?)
                    .arg(ttl)
                    .arg(&hash)
                    .invoke_async(&mut conn)
                    .await?;
                Ok(())
            }
        }
    }
}

/// A Redis connection that never holds a request for long while Redis is away: each attempt
/// and each command gives up after two seconds, and reconnecting retries twice, quickly; the
/// request then gets the "temporarily unavailable" answer and the next one tries again.
pub async fn redis_manager(
    client: redis::Client,
) -> Result<redis::aio::ConnectionManager, redis::RedisError> {
    let limit = std::time::Duration::from_secs(2);
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(limit)
        .set_response_timeout(limit)
        .set_number_of_retries(2)
        .set_max_delay(500);
    redis::aio::ConnectionManager::new_with_config(client, config).await
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

/// The broker session id recorded in a state, if any.
fn sid_of(state: &State) -> Option<String> {
    serde_json::from_str::<String>(state.get(SID_ENTRY)?).ok()
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
        self.extend(hash.clone(), expires_at).await?;
        self.changed(&hash).await;
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        let hash = sha256_hex(session_key.as_ref());
        let deleted: anyhow::Result<()> = match &self.backend {
            Backend::Db(db) => {
                let hash = hash.clone();
                db.run(move |conn| SessionRow::delete(conn, &hash))
                    .await
                    .map_err(|e: DbError| e.into())
            }
            Backend::Redis { conn, prefix } => {
                let _: () = conn.clone().del(self::session_key(prefix, &hash)).await?;
                Ok(())
            }
        };
        self.changed(&hash).await;
        deleted
    }
}

/// [`BrokerSessionStore::live_state_by_sid`] of the database store, on `conn`.
pub fn live_state_by_sid_on(
    conn: &mut crate::db::DbConnection,
    user_id: &str,
    sid: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<HashMap<String, String>>> {
    let rows = SessionRow::find_live_by_sid(conn, sid, now.naive_utc())?;
    let Some(row) = rows
        .into_iter()
        .find(|r| r.user_id.as_deref() == Some(user_id))
    else {
        return Ok(None);
    };
    Ok(Some(serde_json::from_str(&row.state)?))
}

#[cfg(test)]
mod redis_tests;
