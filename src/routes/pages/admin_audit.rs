//! `/admin/audit`: the active account's audit log with filters (action, outcome, actor).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::render;
use crate::routes::errors::PageError;
use crate::routes::extract::{require_admin, CurrentUser};
use crate::services::admin::accounts::{self, AuditView};
use crate::AppState;

#[derive(Template)]
#[template(path = "admin_audit.html")]
pub struct AdminAuditPage {
    pub account: String,
    pub events: Vec<AuditView>,
    pub action: String,
    pub outcome: String,
    pub actor: String,
    /// The operator offers SSO to the account: the navigation links to the SSO page (SPEC §3.5).
    pub sso_available: bool,
}

#[derive(serde::Deserialize)]
pub struct AuditQuery {
    action: Option<String>,
    outcome: Option<String>,
    actor: Option<String>,
}

/// A filter value: trimmed, at most 100 characters, empty means none.
fn filter_value(value: Option<&String>) -> Option<String> {
    value
        .map(|v| v.trim().chars().take(100).collect::<String>())
        .filter(|v| !v.is_empty())
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, PageError> {
    let profile = require_admin(&state, &user).await?;
    let filter = crate::db::audit_event::AuditFilter {
        action: filter_value(query.action.as_ref()),
        outcome: filter_value(query.outcome.as_ref()),
        actor: filter_value(query.actor.as_ref()),
    };
    let events = accounts::search_audit(&state, profile.account.clone(), filter.clone()).await?;
    render(
        StatusCode::OK,
        &AdminAuditPage {
            sso_available: profile.sso_available,
            account: profile.account,
            events,
            action: filter.action.unwrap_or_default(),
            outcome: filter.outcome.unwrap_or_default(),
            actor: filter.actor.unwrap_or_default(),
        },
    )
}
