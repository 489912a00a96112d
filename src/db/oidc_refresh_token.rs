//! `oidc_refresh_tokens`: one refresh token of a family (SPEC §7.2), kept as its SHA-256.
//! Rotation spends it; a spent token presented again revokes its family.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::oidc_refresh_tokens;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_refresh_tokens)]
pub struct OidcRefreshToken {
    pub token_hash: String,
    pub family_id: String,
    pub created_at: NaiveDateTime,
    pub spent_at: Option<NaiveDateTime>,
}

impl OidcRefreshToken {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(oidc_refresh_tokens::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    pub fn find(conn: &mut DbConnection, token_hash: &str) -> Result<Option<Self>, DbError> {
        Ok(oidc_refresh_tokens::table
            .find(token_hash)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Spends the token; false when it already was spent (a concurrent refresh won).
    pub fn spend(
        conn: &mut DbConnection,
        token_hash: &str,
        now: NaiveDateTime,
    ) -> Result<bool, DbError> {
        let n = diesel::update(
            oidc_refresh_tokens::table
                .find(token_hash)
                .filter(oidc_refresh_tokens::spent_at.is_null()),
        )
        .set(oidc_refresh_tokens::spent_at.eq(now))
        .execute(conn)?;
        Ok(n == 1)
    }
}
