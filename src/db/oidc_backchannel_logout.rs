//! `oidc_backchannel_logouts`: the Back-Channel Logout 1.0 deliveries still to make or made
//! (SPEC §7.2), one per client and ended broker session (`sid`). The worker in
//! `services::provider::backchannel` claims due rows, posts the `logout_token` and records the
//! outcome here.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::oidc_backchannel_logouts as queue;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = queue)]
pub struct OidcBackchannelLogout {
    pub id: String,
    pub client_id: String,
    /// The `sub` of the logout token.
    pub user_id: String,
    /// The ended broker session (`sid` of the logout token).
    pub sid: String,
    /// The client's `backchannel_logout_uri` when the session ended.
    pub logout_uri: String,
    /// What ended the session (`logout`, `admin_revocation`, `session_expired`, …).
    pub reason: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
    /// Set when the last allowed attempt failed.
    pub abandoned_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

impl OidcBackchannelLogout {
    /// A delivery due at once.
    pub fn new(
        client_id: &str,
        user_id: &str,
        sid: &str,
        logout_uri: &str,
        reason: &str,
        now: NaiveDateTime,
    ) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            client_id: client_id.to_string(),
            user_id: user_id.to_string(),
            sid: sid.to_string(),
            logout_uri: logout_uri.to_string(),
            reason: reason.to_string(),
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
            delivered_at: None,
            abandoned_at: None,
            last_error: None,
        }
    }

    /// Queues the delivery; false when this client was already told of this `sid` (the unique
    /// `(client_id, sid)` refused it).
    pub fn insert_once(&self, conn: &mut DbConnection) -> Result<bool, DbError> {
        match diesel::insert_into(queue::table).values(self).execute(conn) {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = DbError::from(e);
                if e.is_unique_violation() {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Deliveries due at `now`, oldest first.
    pub fn due(
        conn: &mut DbConnection,
        now: NaiveDateTime,
        limit: i64,
    ) -> Result<Vec<Self>, DbError> {
        Ok(queue::table
            .filter(queue::delivered_at.is_null())
            .filter(queue::abandoned_at.is_null())
            .filter(queue::next_attempt_at.le(now))
            .order(queue::next_attempt_at.asc())
            .limit(limit)
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Claims a due delivery for this instance until `until` (compare and set on the time it
    /// was due: of two instances, one wins).
    pub fn claim(
        conn: &mut DbConnection,
        row: &Self,
        until: NaiveDateTime,
    ) -> Result<bool, DbError> {
        let n = diesel::update(
            queue::table
                .find(&row.id)
                .filter(queue::next_attempt_at.eq(row.next_attempt_at))
                .filter(queue::delivered_at.is_null())
                .filter(queue::abandoned_at.is_null()),
        )
        .set(queue::next_attempt_at.eq(until))
        .execute(conn)?;
        Ok(n == 1)
    }

    pub fn mark_delivered(
        conn: &mut DbConnection,
        id: &str,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        diesel::update(queue::table.find(id))
            .set((
                queue::delivered_at.eq(now),
                queue::attempts.eq(queue::attempts + 1),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Counts a failed attempt: the next one at `retry_at`, or none (`None`: given up at `now`).
    pub fn mark_failed(
        conn: &mut DbConnection,
        id: &str,
        error: &str,
        now: NaiveDateTime,
        retry_at: Option<NaiveDateTime>,
    ) -> Result<(), DbError> {
        let update = diesel::update(queue::table.find(id));
        match retry_at {
            Some(at) => update
                .set((
                    queue::attempts.eq(queue::attempts + 1),
                    queue::last_error.eq(error),
                    queue::next_attempt_at.eq(at),
                ))
                .execute(conn)?,
            None => update
                .set((
                    queue::attempts.eq(queue::attempts + 1),
                    queue::last_error.eq(error),
                    queue::abandoned_at.eq(now),
                ))
                .execute(conn)?,
        };
        Ok(())
    }

    /// Every delivery, oldest first (tests and operators).
    pub fn all(conn: &mut DbConnection) -> Result<Vec<Self>, DbError> {
        Ok(queue::table
            .order(queue::created_at.asc())
            .select(Self::as_select())
            .load(conn)?)
    }
}
