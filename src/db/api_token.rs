//! `api_tokens`: operator API tokens, stored as SHA-256 hashes only.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::api_tokens;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

impl ApiToken {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::API_TOKENS);
        diesel::insert_into(api_tokens::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// The live token with this hash.
    pub fn find_active_by_hash(
        conn: &mut DbConnection,
        hash: &str,
    ) -> Result<Option<Self>, DbError> {
        Ok(api_tokens::table
            .filter(api_tokens::token_hash.eq(hash))
            .filter(api_tokens::revoked_at.is_null())
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    pub fn mark_used(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<(), DbError> {
        diesel::update(api_tokens::table.find(id))
            .set(api_tokens::last_used_at.eq(now))
            .execute(conn)?;
        Ok(())
    }

    /// Every token, oldest first (revoked ones included, for the record).
    pub fn list(conn: &mut DbConnection) -> Result<Vec<Self>, DbError> {
        Ok(api_tokens::table
            .order((api_tokens::created_at.asc(), api_tokens::name.asc()))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Revokes the live token named `name`; false when there is none.
    pub fn revoke_by_name(
        conn: &mut DbConnection,
        name: &str,
        now: NaiveDateTime,
    ) -> Result<bool, DbError> {
        super::changes::mark(super::changes::Topics::API_TOKENS);
        let changed = diesel::update(
            api_tokens::table
                .filter(api_tokens::name.eq(name))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set(api_tokens::revoked_at.eq(now))
        .execute(conn)?;
        Ok(changed > 0)
    }
}
