//! `audit_events`: who did what, when, from where, with outcome and reason.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::audit_events;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: String,
    pub at: NaiveDateTime,
    pub request_id: Option<String>,
    pub actor: String,
    pub account_id: Option<String>,
    pub action: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub ip: Option<String>,
}

impl AuditEvent {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(audit_events::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// The newest `limit` events of an account, newest first.
    pub fn list_for_account(
        conn: &mut DbConnection,
        account_id: &str,
        limit: i64,
    ) -> Result<Vec<Self>, DbError> {
        Ok(audit_events::table
            .filter(audit_events::account_id.eq(account_id))
            .order((audit_events::at.desc(), audit_events::id.desc()))
            .limit(limit)
            .select(Self::as_select())
            .load(conn)?)
    }

    /// The newest `limit` events of an account matching the filters (exact action and outcome,
    /// actor containing `actor`), newest first.
    pub fn search(
        conn: &mut DbConnection,
        account_id: &str,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<Self>, DbError> {
        let mut query = audit_events::table
            .filter(audit_events::account_id.eq(account_id))
            .into_boxed();
        if let Some(action) = &filter.action {
            query = query.filter(audit_events::action.eq(action.clone()));
        }
        if let Some(outcome) = &filter.outcome {
            query = query.filter(audit_events::outcome.eq(outcome.clone()));
        }
        if let Some(actor) = &filter.actor {
            let escaped = actor
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            query = query.filter(
                audit_events::actor
                    .like(format!("%{escaped}%"))
                    .escape('\\'),
            );
        }
        Ok(query
            .order((audit_events::at.desc(), audit_events::id.desc()))
            .limit(limit)
            .select(Self::as_select())
            .load(conn)?)
    }
}

/// Filters of the audit-log page.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub actor: Option<String>,
}
