//! Audit events (SPEC §2): every sign-in attempt, token use and admin change, with the request
//! id and client address. Each event is also logged (target `audit`), never with secrets.

use chrono::NaiveDateTime;

use crate::db::audit_event::AuditEvent;
use crate::db::{DbConnection, DbError};

/// Where a request came from: its id and the client address.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub ip: Option<String>,
}

impl RequestMeta {
    /// For commands run from the CLI.
    pub fn cli() -> Self {
        Self {
            request_id: crate::request_id::generate(),
            ip: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// One thing to audit.
#[derive(Debug, Clone)]
pub struct Audit<'a> {
    /// `user:<username>`, `api-token:<name>`, `cli`, or `anonymous`.
    pub actor: String,
    pub account_id: Option<&'a str>,
    /// Dotted verb, e.g. `login.password`, `account.create`.
    pub action: &'static str,
    pub outcome: Outcome,
    pub reason: Option<&'a str>,
}

/// Stores and logs the event.
pub fn record(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: NaiveDateTime,
    audit: Audit<'_>,
) -> Result<(), DbError> {
    log::info!(
        target: "audit",
        "request_id={} actor={} action={} outcome={} reason={} ip={}",
        meta.request_id,
        // Actors and reasons can carry IdP-chosen text (an entityID, an email): escaped, so a
        // line break or control character cannot forge a log line.
        audit.actor.escape_debug(),
        audit.action,
        audit.outcome.as_str(),
        audit.reason.unwrap_or("-").escape_debug(),
        meta.ip.as_deref().unwrap_or("-"),
    );
    AuditEvent {
        id: uuid::Uuid::new_v4().to_string(),
        at: now,
        request_id: Some(meta.request_id.clone()),
        actor: audit.actor,
        account_id: audit.account_id.map(str::to_string),
        action: audit.action.to_string(),
        outcome: audit.outcome.as_str().to_string(),
        reason: audit.reason.map(str::to_string),
        ip: meta.ip.clone(),
    }
    .insert(conn)
}
