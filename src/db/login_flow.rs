//! `login_flows`: the short-lived server-side state of one SSO attempt (SPEC §2), keyed by the
//! SHA-256 of its `state`, single use, shared by every instance.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::login_flows;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_flows)]
pub struct LoginFlow {
    pub id: String,
    pub kind: String,
    pub account_id: Option<String>,
    /// JSON with the flow's secrets (nonce, PKCE verifier) and context (tenant, email, return URL).
    pub payload: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

impl LoginFlow {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(login_flows::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// Deletes flows that expired before `cutoff`.
    pub fn purge_before(conn: &mut DbConnection, cutoff: NaiveDateTime) -> Result<usize, DbError> {
        Ok(
            diesel::delete(login_flows::table.filter(login_flows::expires_at.lt(cutoff)))
                .execute(conn)?,
        )
    }

    /// Takes the flow for use: only a live, unused flow is returned, and only once (the
    /// conditional update makes two concurrent callbacks with one state succeed at most once).
    pub fn consume(
        conn: &mut DbConnection,
        id: &str,
        now: NaiveDateTime,
    ) -> Result<Option<Self>, DbError> {
        let taken = diesel::update(
            login_flows::table
                .find(id)
                .filter(login_flows::used_at.is_null())
                .filter(login_flows::expires_at.gt(now)),
        )
        .set(login_flows::used_at.eq(now))
        .execute(conn)?;
        if taken != 1 {
            return Ok(None);
        }
        Ok(login_flows::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }
}
