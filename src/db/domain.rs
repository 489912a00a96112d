//! `domains`: email domains claimed by accounts. Several accounts may hold a pending
//! (unverified) claim on one domain; at most one claim per domain is verified (a unique partial
//! index backs the service's check). A pending claim lapses [`PENDING_CLAIM_DAYS`] after it was
//! made.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::domains;
use super::{DbConnection, DbError};

/// Days an unverified claim lives; after that it counts nowhere and may be purged.
pub const PENDING_CLAIM_DAYS: i64 = 7;

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

    /// When a pending claim lapses; `None` for a verified one.
    pub fn expires_at(&self) -> Option<NaiveDateTime> {
        (!self.verified).then(|| self.created_at + chrono::Duration::days(PENDING_CLAIM_DAYS))
    }

    /// A pending claim past its expiry: it no longer counts anywhere.
    pub fn is_expired(&self, now: NaiveDateTime) -> bool {
        self.expires_at().is_some_and(|at| now >= at)
    }

    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        diesel::insert_into(domains::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// The verified claim of `domain`, the only one that may name an account (discovery, JIT,
    /// trust); pending claims of any account are never returned.
    pub fn find_verified(conn: &mut DbConnection, domain: &str) -> Result<Option<Self>, DbError> {
        Ok(domains::table
            .filter(domains::domain.eq(domain))
            .filter(domains::verified.eq(true))
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

    /// Marks the claim verified at `now`; false when it no longer exists.
    pub fn mark_verified(
        conn: &mut DbConnection,
        id: &str,
        now: NaiveDateTime,
    ) -> Result<bool, DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        let updated = diesel::update(domains::table.filter(domains::id.eq(id)))
            .set((
                domains::verified.eq(true),
                domains::verified_at.eq(Some(now)),
            ))
            .execute(conn)?;
        Ok(updated == 1)
    }

    /// Deletes the pending claims of `domain` held by accounts other than `account_id` (the
    /// account that just verified it); returns how many went.
    pub fn delete_pending_of_others(
        conn: &mut DbConnection,
        domain: &str,
        account_id: &str,
    ) -> Result<usize, DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        Ok(diesel::delete(
            domains::table
                .filter(domains::domain.eq(domain))
                .filter(domains::account_id.ne(account_id))
                .filter(domains::verified.eq(false)),
        )
        .execute(conn)?)
    }

    /// Purges every pending claim made at or before `cutoff` (that is, expired).
    pub fn purge_expired(conn: &mut DbConnection, cutoff: NaiveDateTime) -> Result<usize, DbError> {
        Ok(diesel::delete(
            domains::table
                .filter(domains::verified.eq(false))
                .filter(domains::created_at.le(cutoff)),
        )
        .execute(conn)?)
    }

    pub fn delete(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
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
