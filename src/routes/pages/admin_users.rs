//! `/admin/users`: the active account's members, and "Invite user" (email + role; admins only).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::render;
use crate::routes::errors::{see_other, PageError};
use crate::routes::extract::{require_admin, verify_csrf, CsrfToken, CurrentUser, Meta};
use crate::services::invitations::{self, MemberView};
use crate::services::profile::Profile;
use crate::services::{accounts, ServiceError};
use crate::AppState;

#[derive(Template)]
#[template(path = "admin_users.html")]
pub struct AdminUsersPage {
    pub csrf_token: String,
    pub account: String,
    pub members: Vec<MemberView>,
    pub email: String,
    pub notice: Option<String>,
    pub error: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct UsersQuery {
    invited: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct InviteForm {
    csrf_token: Option<String>,
    email: Option<String>,
    role: Option<String>,
}

async fn page(
    state: &AppState,
    profile: &Profile,
    csrf: CsrfToken,
    status: StatusCode,
    email: String,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let account_id = accounts::account_id(state, profile.account.clone()).await?;
    let members = invitations::members(state, account_id).await?;
    render(
        status,
        &AdminUsersPage {
            csrf_token: csrf.0,
            account: profile.account.clone(),
            members,
            email,
            notice,
            error,
        },
    )
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    query: web::Query<UsersQuery>,
) -> Result<HttpResponse, PageError> {
    let profile = require_admin(&state, &user).await?;
    let notice = query
        .invited
        .as_ref()
        .map(|u| format!("{u} is invited. The invitation email is on its way."));
    page(
        &state,
        &profile,
        csrf,
        StatusCode::OK,
        String::new(),
        notice,
        None,
    )
    .await
}

pub async fn invite(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, PageError> {
    let profile = require_admin(&state, &user).await?;
    verify_csrf(&req, &state, form.csrf_token.as_deref())?;
    let email: String = form
        .email
        .clone()
        .unwrap_or_default()
        .chars()
        .take(254)
        .collect();
    let role = form.role.clone().unwrap_or_default();
    let account_id = accounts::account_id(&state, profile.account.clone()).await?;
    let actor = format!("user:{}", profile.username);
    match invitations::invite(&state, account_id, &email, &role, actor, meta.0).await {
        Ok(username) => Ok(see_other(&format!(
            "/admin/users?invited={}",
            url::form_urlencoded::byte_serialize(username.as_bytes()).collect::<String>()
        ))),
        Err(e @ (ServiceError::Invalid(_) | ServiceError::Conflict { .. })) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let text = e.to_string();
            page(&state, &profile, csrf, status, email, None, Some(text)).await
        }
        Err(e) => Err(PageError(e)),
    }
}
