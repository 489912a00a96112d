//! `approved_tenants`: Entra tenants approved for an account through admin consent, with what
//! Microsoft Graph said about them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::approved_tenants;
use super::{DbConnection, DbError};

pub const STATUS_APPROVED: &str = "approved";
pub const STATUS_REVOKED: &str = "revoked";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = approved_tenants)]
pub struct ApprovedTenant {
    pub id: String,
    pub account_id: String,
    pub tenant_id: String,
    pub display_name: String,
    /// JSON array of domain names.
    pub verified_domains: String,
    pub status: String,
    pub approved_at: NaiveDateTime,
    pub last_checked_at: NaiveDateTime,
}

impl ApprovedTenant {
    pub fn domains(&self) -> Vec<String> {
        serde_json::from_str(&self.verified_domains).unwrap_or_default()
    }

    pub fn is_approved(&self) -> bool {
        self.status == STATUS_APPROVED
    }

    pub fn find(
        conn: &mut DbConnection,
        account_id: &str,
        tenant_id: &str,
    ) -> Result<Option<Self>, DbError> {
        Ok(approved_tenants::table
            .filter(approved_tenants::account_id.eq(account_id))
            .filter(approved_tenants::tenant_id.eq(tenant_id))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    pub fn list_for_account(
        conn: &mut DbConnection,
        account_id: &str,
    ) -> Result<Vec<Self>, DbError> {
        Ok(approved_tenants::table
            .filter(approved_tenants::account_id.eq(account_id))
            .order(approved_tenants::display_name.asc())
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Every approved (not revoked) row of the installation, for the periodic re-check.
    pub fn list_approved(conn: &mut DbConnection) -> Result<Vec<Self>, DbError> {
        Ok(approved_tenants::table
            .filter(approved_tenants::status.eq(STATUS_APPROVED))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Every account row of a tenant (one tenant may serve several accounts).
    pub fn list_for_tenant(conn: &mut DbConnection, tenant_id: &str) -> Result<Vec<Self>, DbError> {
        Ok(approved_tenants::table
            .filter(approved_tenants::tenant_id.eq(tenant_id))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Inserts the tenant, or refreshes the stored row of the same account and tenant.
    pub fn upsert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        // Approved again after a revocation: the approval starts now, so sessions admitted under
        // the earlier one stay ended (SPEC §3.8).
        if let Some(existing) = Self::find(conn, &self.account_id, &self.tenant_id)? {
            if !existing.is_approved() && self.is_approved() {
                diesel::update(approved_tenants::table.find(&existing.id))
                    .set(approved_tenants::approved_at.eq(self.approved_at))
                    .execute(conn)?;
            }
        }
        // MultiConnection has no ON CONFLICT: update first, insert when nothing was there.
        let updated = diesel::update(
            approved_tenants::table
                .filter(approved_tenants::account_id.eq(&self.account_id))
                .filter(approved_tenants::tenant_id.eq(&self.tenant_id)),
        )
        .set((
            approved_tenants::display_name.eq(&self.display_name),
            approved_tenants::verified_domains.eq(&self.verified_domains),
            approved_tenants::status.eq(&self.status),
            approved_tenants::last_checked_at.eq(self.last_checked_at),
        ))
        .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(approved_tenants::table)
                .values(self)
                .execute(conn)?;
        }
        Ok(())
    }

    /// Refreshes what Graph said about an existing row (never inserts: a tenant removed while a
    /// check was in flight stays removed).
    pub fn update_profile(
        conn: &mut DbConnection,
        id: &str,
        display_name: &str,
        verified_domains: &str,
    ) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        diesel::update(approved_tenants::table.find(id))
            .set((
                approved_tenants::display_name.eq(display_name),
                approved_tenants::verified_domains.eq(verified_domains),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn delete(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        diesel::delete(approved_tenants::table.find(id)).execute(conn)?;
        Ok(())
    }

    pub fn set_status(
        conn: &mut DbConnection,
        id: &str,
        status: &str,
        checked_at: NaiveDateTime,
    ) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        // Approved again after a revocation: the approval starts now (see `upsert`).
        if status == STATUS_APPROVED {
            diesel::update(
                approved_tenants::table
                    .find(id)
                    .filter(approved_tenants::status.ne(STATUS_APPROVED)),
            )
            .set(approved_tenants::approved_at.eq(checked_at))
            .execute(conn)?;
        }
        diesel::update(approved_tenants::table.find(id))
            .set((
                approved_tenants::status.eq(status),
                approved_tenants::last_checked_at.eq(checked_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Whether this approval stood when a session was admitted at `authenticated_at` (Unix
    /// seconds): an approval given again after a revocation does not revive older sessions.
    pub fn admitted_session_at(&self, authenticated_at: i64) -> bool {
        self.is_approved() && self.approved_at.and_utc().timestamp() <= authenticated_at
    }
}
