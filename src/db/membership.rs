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
        super::changes::mark(super::changes::Topics::DIRECTORY);
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

    /// Changes the role; false when there is no such membership.
    pub fn set_role(
        conn: &mut DbConnection,
        user_id: &str,
        account_id: &str,
        role: &str,
    ) -> Result<bool, DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        let n = diesel::update(memberships::table.find((user_id, account_id)))
            .set(memberships::role.eq(role))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Removes the membership; false when there was none.
    pub fn delete(
        conn: &mut DbConnection,
        user_id: &str,
        account_id: &str,
    ) -> Result<bool, DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        let n = diesel::delete(memberships::table.find((user_id, account_id))).execute(conn)?;
        Ok(n == 1)
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
