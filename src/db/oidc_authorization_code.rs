//! `oidc_authorization_codes`: authorization codes (SPEC §7.2), kept as their SHA-256, single
//! use, bound to the client, `redirect_uri`, PKCE challenge and the sign-in they were issued for.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::oidc_authorization_codes;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_authorization_codes)]
pub struct OidcAuthorizationCode {
    pub code_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// The S256 `code_challenge`, when one was sent.
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    /// Space-separated granted scopes.
    pub scope: String,
    pub user_id: String,
    pub account_id: String,
    /// The broker session (SPEC §7.3 `sid`).
    pub sid: String,
    pub auth_time: NaiveDateTime,
    /// How the session was signed in (JSON of `oidc_provider::claims::SignInFacts`).
    pub sign_in: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

impl OidcAuthorizationCode {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(oidc_authorization_codes::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    pub fn find(conn: &mut DbConnection, code_hash: &str) -> Result<Option<Self>, DbError> {
        Ok(oidc_authorization_codes::table
            .find(code_hash)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Marks the code used; false when it already was (a concurrent redemption won).
    pub fn mark_used(
        conn: &mut DbConnection,
        code_hash: &str,
        now: NaiveDateTime,
    ) -> Result<bool, DbError> {
        let n = diesel::update(
            oidc_authorization_codes::table
                .find(code_hash)
                .filter(oidc_authorization_codes::used_at.is_null()),
        )
        .set(oidc_authorization_codes::used_at.eq(now))
        .execute(conn)?;
        Ok(n == 1)
    }

    pub fn purge_before(conn: &mut DbConnection, cutoff: NaiveDateTime) -> Result<usize, DbError> {
        Ok(diesel::delete(
            oidc_authorization_codes::table.filter(oidc_authorization_codes::expires_at.lt(cutoff)),
        )
        .execute(conn)?)
    }
}
