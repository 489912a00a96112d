//! `/admin/entra`: the account admin's page for Microsoft Entra ID: connect (admin consent),
//! approved tenants with status and last check, "Check now" and "Remove".

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::render;
use crate::routes::errors::{see_other, PageError};
use crate::routes::extract::{require_sso_admin, verify_csrf, CsrfToken, CurrentUser, Meta};
use crate::services::account::profile::Profile;
use crate::services::connections::entra_tenants::{self, TenantView};
use crate::services::ServiceError;
use crate::AppState;

#[derive(Template)]
#[template(path = "admin_entra.html")]
pub struct AdminEntraPage {
    pub csrf_token: String,
    pub account: String,
    pub configured: bool,
    pub tenants: Vec<TenantView>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    connected: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    csrf_token: Option<String>,
}

async fn page(
    state: &AppState,
    profile: &Profile,
    csrf: CsrfToken,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let tenants = entra_tenants::list_tenants(state, profile.account.clone()).await?;
    render(
        status,
        &AdminEntraPage {
            csrf_token: csrf.0,
            account: profile.account.clone(),
            configured: state.entra.is_some(),
            tenants,
            notice,
            error,
        },
    )
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let profile = require_sso_admin(&state, &user).await?;
    // Named only when it is one of this account's approved tenants, never text from the link.
    let connected = match query.connected.as_ref() {
        Some(tid) => crate::services::connections::entra_tenants::list_tenants(
            &state,
            profile.account.clone(),
        )
        .await?
        .into_iter()
        .find(|t| t.tenant_id == *tid && t.status == "approved"),
        None => None,
    };
    let notice = connected.map(|t| {
        format!(
            "Microsoft Entra tenant {} ({}) is connected. Its users can now log in with SSO.",
            t.display_name, t.tenant_id
        )
    });
    page(&state, &profile, csrf, StatusCode::OK, notice, None).await
}

pub async fn check(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let profile = require_sso_admin(&state, &user).await?;
    verify_csrf(&req, &state, form.csrf_token.as_deref())?;
    let actor = format!("user:{}", profile.username);
    match entra_tenants::check_tenant(&state, profile.account.clone(), &path, actor, meta.0).await {
        Ok(status) => {
            page(
                &state,
                &profile,
                csrf,
                StatusCode::OK,
                Some(format!("Checked: the tenant is {status}.")),
                None,
            )
            .await
        }
        Err(
            e @ (ServiceError::BadGateway { .. }
            | ServiceError::NotFound { .. }
            | ServiceError::Unprocessable { .. }),
        ) => {
            page(
                &state,
                &profile,
                csrf,
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY),
                None,
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => Err(PageError(e)),
    }
}

pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    meta: Meta,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let profile = require_sso_admin(&state, &user).await?;
    verify_csrf(&req, &state, form.csrf_token.as_deref())?;
    entra_tenants::remove_tenant(
        &state,
        profile.account.clone(),
        &path,
        format!("user:{}", profile.username),
        meta.0,
    )
    .await?;
    Ok(see_other("/admin/entra"))
}
