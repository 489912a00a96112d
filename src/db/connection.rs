//! `connections`: an account's identity-provider links (`entra` or `saml`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::connections;
use super::{DbConnection, DbError};

pub const KIND_ENTRA: &str = "entra";
pub const KIND_SAML: &str = "saml";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = connections)]
pub struct IdpConnection {
    pub id: String,
    pub account_id: String,
    pub kind: String,
    /// JSON object of kind-specific settings.
    pub settings: String,
    pub created_at: NaiveDateTime,
}

impl IdpConnection {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        diesel::insert_into(connections::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    pub fn find_kind(
        conn: &mut DbConnection,
        account_id: &str,
        kind: &str,
    ) -> Result<Option<Self>, DbError> {
        Ok(connections::table
            .filter(connections::account_id.eq(account_id))
            .filter(connections::kind.eq(kind))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Self>, DbError> {
        Ok(connections::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    pub fn set_settings(conn: &mut DbConnection, id: &str, settings: &str) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        diesel::update(connections::table.find(id))
            .set(connections::settings.eq(settings))
            .execute(conn)?;
        Ok(())
    }

    pub fn delete(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        diesel::delete(connections::table.find(id)).execute(conn)?;
        Ok(())
    }
}
