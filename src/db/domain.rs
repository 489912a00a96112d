//! `domains`: email domains claimed by accounts (unique in the installation).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::domains;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = domains)]
pub struct Domain {
    pub id: String,
    pub account_id: String,
    pub domain: String,
    pub verified: bool,
    pub verification_token: String,
    pub verified_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

impl Domain {
    /// The DNS TXT record name the admin publishes to prove ownership.
    pub fn verification_record_name(&self) -> String {
        crate::domain::domain_verification::record_name(&self.domain)
    }

    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(domains::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    pub fn find_by_domain(conn: &mut DbConnection, domain: &str) -> Result<Option<Self>, DbError> {
        Ok(domains::table
            .filter(domains::domain.eq(domain))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// The account's claim of `domain`, if it is this account's.
    pub fn find_for_account(
        conn: &mut DbConnection,
        account_id: &str,
        domain: &str,
    ) -> Result<Option<Self>, DbError> {
        Ok(domains::table
            .filter(domains::account_id.eq(account_id))
            .filter(domains::domain.eq(domain))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// The account a *verified* domain names (discovery, JIT); `None` for an unclaimed or
    /// unverified domain.
    pub fn verified_account_for(
        conn: &mut DbConnection,
        domain: &str,
    ) -> Result<Option<String>, DbError> {
        Ok(domains::table
            .filter(domains::domain.eq(domain))
            .filter(domains::verified.eq(true))
            .select(domains::account_id)
            .first(conn)
            .optional()?)
    }

    /// Marks the claim verified at `now`; false when it no longer exists.
    pub fn mark_verified(
        conn: &mut DbConnection,
        id: &str,
        now: NaiveDateTime,
    ) -> Result<bool, DbError> {
        let updated = diesel::update(domains::table.filter(domains::id.eq(id)))
            .set((
                domains::verified.eq(true),
                domains::verified_at.eq(Some(now)),
            ))
            .execute(conn)?;
        Ok(updated == 1)
    }

    pub fn delete(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
        diesel::delete(domains::table.filter(domains::id.eq(id))).execute(conn)?;
        Ok(())
    }

    pub fn list_for_account(
        conn: &mut DbConnection,
        account_id: &str,
    ) -> Result<Vec<Self>, DbError> {
        Ok(domains::table
            .filter(domains::account_id.eq(account_id))
            .order(domains::domain.asc())
            .select(Self::as_select())
            .load(conn)?)
    }
}
