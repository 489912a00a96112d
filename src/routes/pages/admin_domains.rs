//! `/admin/domains`: the account admin's email domains: claim one, see the DNS TXT record that
//! proves it, "Verify" (looks the record up now) and "Remove".

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::render;
use crate::domain::domain_verification::VerificationOutcome;
use crate::domain::DomainName;
use crate::routes::errors::{see_other, PageError};
use crate::routes::extract::{require_admin, verify_csrf, CsrfToken, CurrentUser, Meta};
use crate::services::account::profile::Profile;
use crate::services::admin::domains::{self, DomainView};
use crate::services::ServiceError;
use crate::AppState;

#[derive(Template)]
#[template(path = "admin_domains.html")]
pub struct AdminDomainsPage {
    pub csrf_token: String,
    pub account: String,
    pub domains: Vec<DomainView>,
    /// What the claim field shows: empty, or what the admin just typed.
    pub typed: String,
    pub notice: Option<String>,
    pub error: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    added: Option<String>,
    removed: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct DomainForm {
    csrf_token: Option<String>,
    domain: Option<String>,
}

/// What the page says above the table.
struct Outcome {
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    typed: String,
}

impl Outcome {
    fn notice(notice: Option<String>) -> Self {
        Self {
            status: StatusCode::OK,
            notice,
            error: None,
            typed: String::new(),
        }
    }

    fn error(status: StatusCode, error: String, typed: String) -> Self {
        Self {
            status,
            notice: None,
            error: Some(error),
            typed,
        }
    }
}

async fn page(
    state: &AppState,
    profile: &Profile,
    csrf: CsrfToken,
    outcome: Outcome,
) -> Result<HttpResponse, PageError> {
    let domains = domains::list(state, profile.account.clone()).await?;
    render(
        outcome.status,
        &AdminDomainsPage {
            csrf_token: csrf.0,
            account: profile.account.clone(),
            domains,
            typed: outcome.typed,
            notice: outcome.notice,
            error: outcome.error,
        },
    )
}

/// A refusal the admin can fix (invalid, taken or unknown domain) shows on the page.
fn admin_error(e: ServiceError, typed: String) -> Result<Outcome, PageError> {
    match e {
        ServiceError::Invalid(_)
        | ServiceError::NotFound { .. }
        | ServiceError::Conflict { .. } => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            Ok(Outcome::error(status, e.to_string(), typed))
        }
        e => Err(PageError(e)),
    }
}

/// The redirect's query names a domain; only a well-formed one is echoed on the page.
fn named(domain: Option<&String>) -> Option<String> {
    domain
        .and_then(|d| DomainName::parse(d).ok())
        .map(|d| d.as_str().to_string())
}

fn actor(profile: &Profile) -> String {
    format!("user:{}", profile.username)
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let profile = require_admin(&state, &user).await?;
    let notice = if let Some(domain) = named(query.added.as_ref()) {
        Some(format!(
            "{domain} is added. Publish the TXT record shown below at your DNS provider, then choose Verify."
        ))
    } else {
        named(query.removed.as_ref()).map(|domain| format!("{domain} is removed."))
    };
    page(&state, &profile, csrf, Outcome::notice(notice)).await
}

/// `POST /admin/domains`: claims a domain (not verified yet).
pub async fn claim(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<DomainForm>,
) -> Result<HttpResponse, PageError> {
    let profile = require_admin(&state, &user).await?;
    verify_csrf(&req, &state, form.csrf_token.as_deref())?;
    let typed = form.domain.clone().unwrap_or_default();
    let claimed = domains::claim(
        &state,
        profile.account.clone(),
        &typed,
        false,
        actor(&profile),
        meta.0,
    )
    .await;
    match claimed {
        Ok(view) => Ok(see_other(&format!(
            "/admin/domains?added={}",
            encode(&view.domain)
        ))),
        Err(e) => {
            let outcome = admin_error(e, typed)?;
            page(&state, &profile, csrf, outcome).await
        }
    }
}

/// `POST /admin/domains/verify`: looks the TXT record up now and says what it found.
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<DomainForm>,
) -> Result<HttpResponse, PageError> {
    let profile = require_admin(&state, &user).await?;
    verify_csrf(&req, &state, form.csrf_token.as_deref())?;
    let domain = form.domain.clone().unwrap_or_default();
    let verified = domains::verify(
        &state,
        profile.account.clone(),
        &domain,
        actor(&profile),
        meta.0,
    )
    .await;
    let outcome = match verified {
        Ok(v) if v.outcome.is_verified() => Outcome::notice(Some(v.message())),
        Ok(v) => {
            let status = if v.outcome == VerificationOutcome::DnsUnreachable {
                StatusCode::BAD_GATEWAY
            } else {
                StatusCode::OK
            };
            Outcome::error(status, v.message(), String::new())
        }
        Err(e) => admin_error(e, String::new())?,
    };
    page(&state, &profile, csrf, outcome).await
}

/// `POST /admin/domains/remove`: gives the domain up.
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<DomainForm>,
) -> Result<HttpResponse, PageError> {
    let profile = require_admin(&state, &user).await?;
    verify_csrf(&req, &state, form.csrf_token.as_deref())?;
    let domain = form.domain.clone().unwrap_or_default();
    match domains::remove(
        &state,
        profile.account.clone(),
        &domain,
        actor(&profile),
        meta.0,
    )
    .await
    {
        Ok(()) => Ok(see_other(&format!(
            "/admin/domains?removed={}",
            encode(&domain.trim().to_ascii_lowercase())
        ))),
        Err(e) => {
            let outcome = admin_error(e, String::new())?;
            page(&state, &profile, csrf, outcome).await
        }
    }
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
