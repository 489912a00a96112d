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
    /// Whether the operator offers SSO to this account (SPEC §3.5); `None` follows the
    /// installation default (`services::accounts::sso_available` applies it).
    pub sso_available: Option<bool>,
}

impl Account {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(accounts::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// Locks the rows of `ids` until the transaction ends, so that checks spanning an account's
    /// members (its last active admin) run one at a time. PostgreSQL takes row locks in id order
    /// (no deadlock between two such checks); SQLite's `BEGIN IMMEDIATE` already serialises
    /// writing transactions (`db::transaction`).
    pub fn lock_for_update(conn: &mut DbConnection, ids: &[String]) -> Result<(), DbError> {
        if let DbConnection::Postgres(pg) = conn {
            let mut ids = ids.to_vec();
            ids.sort();
            accounts::table
                .filter(accounts::id.eq_any(&ids))
                .order(accounts::id.asc())
                .select(accounts::id)
                .for_update()
                .load::<String>(pg)?;
        }
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

    /// Sets the display name and the operator's SSO offer (`None`: the installation default).
    pub fn update_profile(
        conn: &mut DbConnection,
        id: &str,
        display_name: &str,
        sso_available: Option<bool>,
    ) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        diesel::update(accounts::table.find(id))
            .set((
                accounts::display_name.eq(display_name),
                accounts::sso_available.eq(sso_available),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Self>, DbError> {
        Ok(accounts::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Names of accounts other than `names`, alphabetically, at most `limit`.
    pub fn names_other_than(
        conn: &mut DbConnection,
        names: &[&str],
        limit: i64,
    ) -> Result<Vec<String>, DbError> {
        Ok(accounts::table
            .filter(accounts::name.ne_all(names))
            .order(accounts::name.asc())
            .limit(limit)
            .select(accounts::name)
            .load(conn)?)
    }

    /// The direct sub-accounts of `parent_id`.
    pub fn children(conn: &mut DbConnection, parent_id: &str) -> Result<Vec<Self>, DbError> {
        Ok(accounts::table
            .filter(accounts::parent_id.eq(parent_id))
            .order(accounts::name.asc())
            .select(Self::as_select())
            .load(conn)?)
    }

    /// The account and every account below it, depth first (a cycle cannot loop forever).
    pub fn with_descendants(conn: &mut DbConnection, root: Self) -> Result<Vec<Self>, DbError> {
        let mut out = vec![root];
        let mut next = 0;
        while next < out.len() && out.len() < 1000 {
            let id = out[next].id.clone();
            for child in Self::children(conn, &id)? {
                if !out.iter().any(|a| a.id == child.id) {
                    out.push(child);
                }
            }
            next += 1;
        }
        Ok(out)
    }
}
