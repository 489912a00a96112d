//! `memberships`: which accounts a user reaches, with which role.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{accounts, memberships};
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = memberships)]
pub struct Membership {
    pub user_id: String,
    pub account_id: String,
    pub role: String,
    pub created_at: NaiveDateTime,
}

impl Membership {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(memberships::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    pub fn find(
        conn: &mut DbConnection,
        user_id: &str,
        account_id: &str,
    ) -> Result<Option<Self>, DbError> {
        Ok(memberships::table
            .find((user_id, account_id))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// The user's memberships with the account names, ordered by name.
    pub fn list_for_user(
        conn: &mut DbConnection,
        user_id: &str,
    ) -> Result<Vec<(Self, String)>, DbError> {
        Ok(memberships::table
            .inner_join(accounts::table)
            .filter(memberships::user_id.eq(user_id))
            .order(accounts::name.asc())
            .select((Self::as_select(), accounts::name))
            .load(conn)?)
    }
}
