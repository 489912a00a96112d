//! `entra_key_sets`: each Entra tenant's last good signing-key set, shared by every instance
//! (an instance started during an outage validates with it), and when an unknown key id last
//! made any instance refresh it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::entra_key_sets;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = entra_key_sets)]
pub struct EntraKeySet {
    pub tenant_id: String,
    /// The JWKS document as fetched.
    pub jwks: String,
    pub fetched_at: NaiveDateTime,
    pub refreshed_at: Option<NaiveDateTime>,
}

impl EntraKeySet {
    pub fn find(conn: &mut DbConnection, tenant_id: &str) -> Result<Option<Self>, DbError> {
        Ok(entra_key_sets::table
            .find(tenant_id)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Keeps `jwks` as the tenant's last good set.
    pub fn save(
        conn: &mut DbConnection,
        tenant_id: &str,
        jwks: &str,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        let updated = diesel::update(entra_key_sets::table.find(tenant_id))
            .set((
                entra_key_sets::jwks.eq(jwks),
                entra_key_sets::fetched_at.eq(now),
            ))
            .execute(conn)?;
        if updated == 0 {
            let row = Self {
                tenant_id: tenant_id.to_string(),
                jwks: jwks.to_string(),
                fetched_at: now,
                refreshed_at: None,
            };
            if let Err(e) = diesel::insert_into(entra_key_sets::table)
                .values(&row)
                .execute(conn)
            {
                // Another instance saved it at the same moment: its copy is as good.
                let e = DbError::from(e);
                if !e.is_unique_violation() {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Claims the tenant's refresh for an unknown key id: true for exactly one caller per
    /// `interval` across every instance (one conditional update); true also for a tenant never
    /// fetched (its first fetch is not limited).
    pub fn claim_refresh(
        conn: &mut DbConnection,
        tenant_id: &str,
        now: NaiveDateTime,
        interval: chrono::Duration,
    ) -> Result<bool, DbError> {
        let claimed = diesel::update(
            entra_key_sets::table.find(tenant_id).filter(
                entra_key_sets::refreshed_at
                    .is_null()
                    .or(entra_key_sets::refreshed_at.le(now - interval)),
            ),
        )
        .set(entra_key_sets::refreshed_at.eq(now))
        .execute(conn)?;
        if claimed == 1 {
            return Ok(true);
        }
        Ok(Self::find(conn, tenant_id)?.is_none())
    }
}
