//! `sessions`: server-side session state, keyed by the SHA-256 of the cookie's session key so a
//! copy of the table cannot be replayed as cookies.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::sessions;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id_hash: String,
    pub user_id: Option<String>,
    /// JSON object of the session's entries.
    pub state: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    /// The broker session id (SPEC §7.3 `sid`), copied from the state; stable across renewals.
    pub sid: Option<String>,
}

impl SessionRow {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(sessions::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    pub fn find(conn: &mut DbConnection, id_hash: &str) -> Result<Option<Self>, DbError> {
        Ok(sessions::table
            .find(id_hash)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Replaces state and expiry of a live session. Returns false when the row is gone or revoked.
    pub fn update_state(
        conn: &mut DbConnection,
        id_hash: &str,
        user_id: Option<&str>,
        sid: Option<&str>,
        state: &str,
        now: NaiveDateTime,
        expires_at: NaiveDateTime,
    ) -> Result<bool, DbError> {
        let n = diesel::update(
            sessions::table
                .find(id_hash)
                .filter(sessions::revoked_at.is_null()),
        )
        .set((
            sessions::user_id.eq(user_id),
            sessions::sid.eq(sid),
            sessions::state.eq(state),
            sessions::updated_at.eq(now),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    pub fn touch(
        conn: &mut DbConnection,
        id_hash: &str,
        now: NaiveDateTime,
        expires_at: NaiveDateTime,
    ) -> Result<(), DbError> {
        diesel::update(
            sessions::table
                .find(id_hash)
                .filter(sessions::revoked_at.is_null()),
        )
        .set((
            sessions::updated_at.eq(now),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
        Ok(())
    }

    /// The sessions carrying broker session id `sid` that are neither revoked nor expired at
    /// `now` (two while a renewal replaces one key by another).
    pub fn find_live_by_sid(
        conn: &mut DbConnection,
        sid: &str,
        now: NaiveDateTime,
    ) -> Result<Vec<Self>, DbError> {
        Ok(sessions::table
            .filter(sessions::sid.eq(sid))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .select(Self::as_select())
            .load(conn)?)
    }

    pub fn delete(conn: &mut DbConnection, id_hash: &str) -> Result<(), DbError> {
        diesel::delete(sessions::table.find(id_hash)).execute(conn)?;
        Ok(())
    }

    /// Marks every live session of the user revoked; their next request sees the expiry message.
    pub fn revoke_all_for_user(
        conn: &mut DbConnection,
        user_id: &str,
        now: NaiveDateTime,
    ) -> Result<usize, DbError> {
        super::changes::mark(super::changes::Topics::SESSIONS);
        Ok(diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::revoked_at.is_null()),
        )
        .set((sessions::revoked_at.eq(now), sessions::state.eq("{}")))
        .execute(conn)?)
    }

    /// Deletes sessions that expired (or were revoked) before `cutoff`.
    pub fn purge_before(conn: &mut DbConnection, cutoff: NaiveDateTime) -> Result<usize, DbError> {
        Ok(diesel::delete(
            sessions::table.filter(
                sessions::expires_at
                    .lt(cutoff)
                    .or(sessions::revoked_at.lt(cutoff)),
            ),
        )
        .execute(conn)?)
    }
}
