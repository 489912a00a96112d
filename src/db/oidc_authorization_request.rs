//! `oidc_authorization_requests`: validated authorization requests waiting for a sign-in
//! (SPEC §7.2), resumed at `/oauth2/authorize/continue?request=<id>`. Kept by the SHA-256 of
//! the id; the request itself is JSON (`services::provider::authorize`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::oidc_authorization_requests;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_authorization_requests)]
pub struct OidcAuthorizationRequest {
    pub id_hash: String,
    pub client_id: String,
    /// The validated request, as JSON.
    pub request: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

impl OidcAuthorizationRequest {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(oidc_authorization_requests::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// The request with this id hash, unless it expired before `now`.
    pub fn find_live(
        conn: &mut DbConnection,
        id_hash: &str,
        now: NaiveDateTime,
    ) -> Result<Option<Self>, DbError> {
        Ok(oidc_authorization_requests::table
            .find(id_hash)
            .filter(oidc_authorization_requests::expires_at.gt(now))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Deletes the request (answered: a code or an error went back to the client).
    pub fn delete(conn: &mut DbConnection, id_hash: &str) -> Result<(), DbError> {
        diesel::delete(oidc_authorization_requests::table.find(id_hash)).execute(conn)?;
        Ok(())
    }

    pub fn purge_before(conn: &mut DbConnection, cutoff: NaiveDateTime) -> Result<usize, DbError> {
        Ok(diesel::delete(
            oidc_authorization_requests::table
                .filter(oidc_authorization_requests::expires_at.lt(cutoff)),
        )
        .execute(conn)?)
    }
}
