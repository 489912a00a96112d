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
        format!("_sso-broker-verification.{}", self.domain)
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
