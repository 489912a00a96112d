//! `invitations`: single-use invitation links (SPEC §3.5), keyed by the SHA-256 of the token.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::invitations;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct Invitation {
    pub id: String,
    pub token_hash: String,
    pub user_id: String,
    pub account_id: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

impl Invitation {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(invitations::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// A live, unused invitation by its token hash.
    pub fn find_live(
        conn: &mut DbConnection,
        token_hash: &str,
        now: NaiveDateTime,
    ) -> Result<Option<Self>, DbError> {
        Ok(invitations::table
            .filter(invitations::token_hash.eq(token_hash))
            .filter(invitations::used_at.is_null())
            .filter(invitations::expires_at.gt(now))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Marks it used; false when another request used it first.
    pub fn consume(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
        let taken = diesel::update(
            invitations::table
                .find(id)
                .filter(invitations::used_at.is_null()),
        )
        .set(invitations::used_at.eq(now))
        .execute(conn)?;
        Ok(taken == 1)
    }

    /// Marks every unused invitation of `user_id` used (the user became active by another
    /// route); returns how many were spent.
    pub fn spend_for_user(
        conn: &mut DbConnection,
        user_id: &str,
        now: NaiveDateTime,
    ) -> Result<usize, DbError> {
        Ok(diesel::update(
            invitations::table
                .filter(invitations::user_id.eq(user_id))
                .filter(invitations::used_at.is_null()),
        )
        .set(invitations::used_at.eq(now))
        .execute(conn)?)
    }
}
