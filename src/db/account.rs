//! `accounts`: customer organizations, optionally under a parent account.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::accounts;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub parent_id: Option<String>,
    pub created_at: NaiveDateTime,
}

impl Account {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(accounts::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// Looks an account up by its (lowercase) name.
    pub fn find_by_name(conn: &mut DbConnection, name: &str) -> Result<Option<Self>, DbError> {
        Ok(accounts::table
            .filter(accounts::name.eq(name))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Self>, DbError> {
        Ok(accounts::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }
}
