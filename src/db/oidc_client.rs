//! `oidc_clients`: portal applications registered with the broker as OpenID Provider
//! (SPEC §7.1). Lists are stored as JSON text; a secret only as its SHA-256.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::oidc_clients;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_clients)]
pub struct OidcClient {
    /// The `client_id`.
    pub id: String,
    pub name: String,
    /// `confidential` or `public`.
    pub client_type: String,
    /// JSON array of exact strings.
    pub redirect_uris: String,
    /// JSON array of exact strings.
    pub post_logout_redirect_uris: String,
    pub backchannel_logout_uri: Option<String>,
    /// JSON array of account ids; empty: every account.
    pub accounts: String,
    /// Lowercase hex SHA-256 of the secret (confidential clients only).
    pub secret_hash: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The registration a `PUT` replaces (everything but the id, type, secret and creation time).
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = oidc_clients, treat_none_as_null = true)]
pub struct OidcClientMetadata {
    pub name: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub backchannel_logout_uri: Option<String>,
    pub accounts: String,
    pub updated_at: NaiveDateTime,
}

impl OidcClient {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(oidc_clients::table)
            .values(self)
            .execute(conn)?;
        super::changes::mark(super::changes::Topics::OIDC_CLIENTS);
        Ok(())
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Self>, DbError> {
        Ok(oidc_clients::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Every client, oldest first.
    pub fn list(conn: &mut DbConnection) -> Result<Vec<Self>, DbError> {
        Ok(oidc_clients::table
            .order((oidc_clients::created_at.asc(), oidc_clients::id.asc()))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Replaces the registration; false when there is no such client.
    pub fn update_metadata(
        conn: &mut DbConnection,
        id: &str,
        metadata: &OidcClientMetadata,
    ) -> Result<bool, DbError> {
        let changed = diesel::update(oidc_clients::table.find(id))
            .set(metadata)
            .execute(conn)?;
        super::changes::mark(super::changes::Topics::OIDC_CLIENTS);
        Ok(changed > 0)
    }

    /// Replaces the secret's hash; false when there is no such client.
    pub fn set_secret_hash(
        conn: &mut DbConnection,
        id: &str,
        hash: &str,
        now: NaiveDateTime,
    ) -> Result<bool, DbError> {
        let changed = diesel::update(oidc_clients::table.find(id))
            .set((
                oidc_clients::secret_hash.eq(hash),
                oidc_clients::updated_at.eq(now),
            ))
            .execute(conn)?;
        super::changes::mark(super::changes::Topics::OIDC_CLIENTS);
        Ok(changed > 0)
    }

    /// Deletes the client; false when there is no such client.
    pub fn delete(conn: &mut DbConnection, id: &str) -> Result<bool, DbError> {
        let deleted = diesel::delete(oidc_clients::table.find(id)).execute(conn)?;
        super::changes::mark(super::changes::Topics::OIDC_CLIENTS);
        Ok(deleted > 0)
    }
}
