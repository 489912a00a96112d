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

    /// Spends every unused invitation of the user (into `account_id` only, when given), so no
    /// link sent before works any more; returns how many were spent.
    pub fn spend_all_for_user(
        conn: &mut DbConnection,
        user_id: &str,
        account_id: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<usize, DbError> {
        let unused = invitations::table
            .filter(invitations::user_id.eq(user_id))
            .filter(invitations::used_at.is_null());
        let n = match account_id {
            Some(account_id) => {
                diesel::update(unused.filter(invitations::account_id.eq(account_id)))
                    .set(invitations::used_at.eq(now))
                    .execute(conn)?
            }
            None => diesel::update(unused)
                .set(invitations::used_at.eq(now))
                .execute(conn)?,
        };
        Ok(n)
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
}
